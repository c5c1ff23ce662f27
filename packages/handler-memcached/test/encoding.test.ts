/**
 * The request lines the handler writes: numbers digit by digit, keys raw or
 * base64, and each command's exact bytes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BIT_B64,
  BIT_HL,
  BIT_K,
  BIT_T_FIRST,
  BIT_U,
  OP_ARITH,
  OP_DELETE,
  OP_FLUSH,
  OP_GET,
  OP_MN,
  OP_PROBE,
  OP_STORE,
  OP_TOUCH,
  Op,
  encodeOp,
} from '../src/ops.js';
import {
  KEY_BASE64,
  KEY_INVALID,
  KEY_RAW,
  RequestBuffer,
  keyHash,
  keyMode,
  putDecimal,
  putKey,
  putSigned,
  putU64,
} from '../src/request-buffer.js';
import { k } from './helpers.js';

const written = (f: (buf: Buffer, p: number) => number): string => {
  const buf = Buffer.alloc(600, 0x23);
  const end = f(buf, 3);
  return buf.toString('latin1', 3, end);
};

describe('number writers', () => {
  it('putDecimal writes what toString does', () => {
    fc.assert(fc.property(fc.maxSafeNat(), (v) => {
        expect(written((b, p) => putDecimal(b, p, v))).toBe(String(v));
      }),
    );
    for (const v of [0, 9, 10, 99, 100, 2 ** 32, Number.MAX_SAFE_INTEGER]) expect(written((b, p) => putDecimal(b, p, v))).toBe(String(v));
  });

  it('putSigned writes negative exptimes', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 40), max: 2 ** 40 }), (v) => {
        expect(written((b, p) => putSigned(b, p, v))).toBe(String(v));
      }),
    );
  });

  it('putU64 writes every unsigned 64-bit value', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        expect(written((b, p) => putU64(b, p, v))).toBe(v.toString());
      }),
    );
    for (const v of [0n, 2n ** 53n - 1n, 2n ** 53n, 10n ** 15n, 10n ** 15n + 7n, 2n ** 64n - 1n]) {
      expect(written((b, p) => putU64(b, p, v))).toBe(v.toString());
    }
  });
});

describe('keys', () => {
  it('base64 keys are standard padded base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 186 }), (bytes) => {
        const key = Buffer.from(bytes);
        expect(written((b, p) => putKey(b, p, key, KEY_BASE64))).toBe(key.toString('base64'));
      }),
    );
  });

  it('raw keys are copied as they are', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 250 }), (bytes) => {
        const key = Buffer.from(bytes);
        expect(written((b, p) => putKey(b, p, key, KEY_RAW))).toBe(key.toString('latin1'));
      }),
    );
  });

  it('keyMode: raw unless space, CR, LF or NUL; base64 up to 186 bytes; nothing else', () => {
    expect(keyMode(k('plain'), false)).toBe(KEY_RAW);
    expect(keyMode(Buffer.from([0x09, 0x7f, 0xff, 0x01]), false)).toBe(KEY_RAW);
    for (const bad of [' ', '\r', '\n', '\0']) expect(keyMode(k(`a${bad}b`), false)).toBe(KEY_BASE64);
    expect(keyMode(k('x'.repeat(250)), false)).toBe(KEY_RAW);
    // Too long raw: base64 would be longer still.
    expect(keyMode(k('x'.repeat(251)), false)).toBe(KEY_INVALID);
    expect(keyMode(Buffer.alloc(186, 0x20), false)).toBe(KEY_BASE64);
    expect(keyMode(Buffer.alloc(187, 0x20), false)).toBe(KEY_INVALID);
    expect(keyMode(Buffer.alloc(0), false)).toBe(KEY_INVALID);
    // The client sent it base64: base64 again while it fits, else raw when it can be.
    expect(keyMode(k('abc'), true)).toBe(KEY_BASE64);
    expect(keyMode(k('y'.repeat(200)), true)).toBe(KEY_RAW);
  });

  it('keyHash is stable and spreads keys', () => {
    expect(keyHash(k('a'))).toBe(keyHash(k('a')));
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) buckets[keyHash(k(`key:${i}`)) % 4]!++;
    for (const b of buckets) expect(b).toBeGreaterThan(800);
  });
});

function line(kind: number, cmd: unknown, bits = 0, id = 7): string {
  const rb = new RequestBuffer(1024, 64);
  const op = new Op(kind, cmd);
  op.bits = bits;
  op.id = id;
  encodeOp(rb, op);
  return Buffer.concat(rb.take()).toString('latin1');
}

describe('request lines', () => {
  it('mg: t first, then value, flags, CAS, the asked extras, R, N/T in the client order, the opaque', () => {
    expect(line(OP_GET, { key: k('a') })).toBe('mg a t v f c O7\r\n');
    expect(line(OP_GET, { key: k('a b') }, BIT_B64)).toBe('mg YSBi b t v f c O7\r\n');
    expect(line(OP_GET, { key: k('a'), touch: 30 }, BIT_K | BIT_HL | BIT_U)).toBe('mg a t v f c k h l u T30 O7\r\n');
    expect(line(OP_GET, { key: k('a'), touch: -1, vivify: 30, recache: 5 })).toBe('mg a t v f c R5 N30 T-1 O7\r\n');
    expect(line(OP_GET, { key: k('a'), touch: 9, vivify: 30 }, BIT_T_FIRST)).toBe('mg a t v f c T9 N30 O7\r\n');
  });

  it('ms: length, c, then only the fields that differ from the defaults; E is never sent', () => {
    expect(line(OP_STORE, { mode: 'set', key: k('a'), value: k('xyz'), flags: 0, exptime: 0 })).toBe('ms a 3 c O7\r\nxyz\r\n');
    expect(
      line(OP_STORE, { mode: 'append', key: k('a'), value: k(''), flags: 0xffffffff, exptime: -1, compareCas: 2n ** 64n - 1n, invalidate: true, newCas: 5n }),
    ).toBe('ms a 0 c F4294967295 T-1 C18446744073709551615 I MA O7\r\n\r\n');
    for (const [mode, letter] of [['add', 'E'], ['replace', 'R'], ['prepend', 'P']] as const) {
      expect(line(OP_STORE, { mode, key: k('a'), value: k('1'), flags: 0, exptime: 0 })).toBe(`ms a 1 c M${letter} O7\r\n1\r\n`);
    }
  });

  it('ms with a large value references it after the line', () => {
    const rb = new RequestBuffer(1024, 64);
    const value = Buffer.alloc(100, 0x76);
    const op = new Op(OP_STORE, { mode: 'set', key: k('big'), value, flags: 0, exptime: 0 });
    op.id = 1;
    encodeOp(rb, op);
    const chunks = rb.take();
    expect(chunks.some((c) => c === value)).toBe(true);
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`ms big 100 c O1\r\n${'v'.repeat(100)}\r\n`);
  });

  it('md, ma, the probe, touch, flush_all and mn', () => {
    expect(line(OP_DELETE, { key: k('a') })).toBe('md a O7\r\n');
    expect(line(OP_DELETE, { key: k('a'), compareCas: 9n, invalidate: true, exptime: 30 })).toBe('md a C9 I T30 O7\r\n');
    expect(line(OP_ARITH, { key: k('n'), incr: true, delta: 1n })).toBe('ma n t c v O7\r\n');
    expect(line(OP_ARITH, { key: k('n'), incr: false, delta: 2n ** 64n - 1n, initial: 5n, exptime: 100, touch: 50, compareCas: 3n }, BIT_B64)).toBe(
      'ma bg== b N100 J5 T50 C3 MD D18446744073709551615 t c v O7\r\n',
    );
    expect(line(OP_PROBE, { key: k('n') })).toBe('mg n f u O7\r\n');
    expect(line(OP_TOUCH, { key: k('a'), exptime: 10 })).toBe('mg a T10 O7\r\n');
    expect(line(OP_FLUSH, 0)).toBe('flush_all\r\n');
    expect(line(OP_FLUSH, 15)).toBe('flush_all 15\r\n');
    expect(line(OP_MN, undefined)).toBe('mn\r\n');
  });

  it('a batch of many lines spans slabs without losing a byte', () => {
    const rb = new RequestBuffer(256, 64);
    let expected = '';
    for (let i = 0; i < 200; i++) {
      const op = new Op(OP_GET, { key: k(`key${i}`) });
      op.id = i + 1;
      encodeOp(rb, op);
      expected += `mg key${i} t v f c O${i + 1}\r\n`;
    }
    expect(Buffer.concat(rb.take()).toString('latin1')).toBe(expected);
    expect(rb.take()).toEqual([]);
  });
});
