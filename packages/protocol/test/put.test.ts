import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decimal64Length, decimalLength, putBytes, putDecimal, putDecimal64, putSigned } from '../src/put.js';

const written = (f: (buf: Buffer, p: number) => number): string => {
  const buf = Buffer.alloc(600, 0x23);
  const end = f(buf, 3);
  return buf.toString('latin1', 3, end);
};

describe('byte writers', () => {
  it('putDecimal writes what toString does, in decimalLength digits', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (v) => {
        expect(written((b, p) => putDecimal(b, p, v))).toBe(String(v));
        expect(decimalLength(v)).toBe(String(v).length);
      }),
    );
    for (const v of [0, 9, 10, 99, 100, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER])
      expect(written((b, p) => putDecimal(b, p, v))).toBe(String(v));
  });

  it('putSigned writes negative exptimes', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (v) => {
        expect(written((b, p) => putSigned(b, p, v))).toBe(String(v));
      }),
    );
  });

  it('putDecimal64 writes every unsigned 64-bit value', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        expect(written((b, p) => putDecimal64(b, p, v))).toBe(v.toString());
        expect(decimal64Length(v)).toBe(v.toString().length);
      }),
    );
    for (const v of [0n, 2n ** 53n - 1n, 2n ** 53n, 10n ** 15n + 7n, 2n ** 64n - 1n])
      expect(written((b, p) => putDecimal64(b, p, v))).toBe(v.toString());
  });

  it('putBytes copies short and long pieces', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const src = Buffer.from(bytes);
        expect(written((b, p) => putBytes(b, p, src))).toBe(src.toString('latin1'));
      }),
    );
  });
});
