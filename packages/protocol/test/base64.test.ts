import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base64Length, decodeBase64Key, putBase64 } from '../src/base64.js';

const encoded = (src: Buffer): string => {
  const buf = Buffer.alloc(base64Length(src.length) + 6, 0x23);
  const end = putBase64(buf, 3, src);
  expect(end).toBe(3 + base64Length(src.length));
  return buf.toString('latin1', 3, end);
};

const decoded = (s: string): string | undefined => {
  const buf = Buffer.from(`[${s}]`, 'latin1');
  return decodeBase64Key(buf, 1, buf.length - 1)?.toString('latin1');
};

describe('base64 keys', () => {
  it('encodes as standard padded base64, and decodes what it encoded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
        const src = Buffer.from(bytes);
        const text = encoded(src);
        expect(text).toBe(src.toString('base64'));
        expect(decoded(text)).toBe(src.toString('latin1'));
      }),
    );
  });

  it("decodes as memcached does: skips characters outside the alphabet, stops after padding, refuses a short group or three '='", () => {
    expect(decoded('YW Jj')).toBe('abc');
    expect(decoded('YQ==ZZZZ')).toBe('a');
    expect(decoded('YWJ')).toBeUndefined();
    expect(decoded('')).toBeUndefined();
    expect(decoded('Y===')).toBeUndefined();
  });
});
