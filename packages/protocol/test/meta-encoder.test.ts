import { describe, expect, it } from 'vitest';
import { BinaryStatus, ProtocolError } from '../src/errors.js';
import type { ArithmeticRequest, DeleteRequest, GetRequest, ItemView, MetaFlags, StoreRequest } from '../src/model.js';
import { createMetaEncoder } from '../src/meta/encoder.js';
import { ResponseWriter } from '../src/writer.js';

const NOW = 1_700_000_000;
const enc = createMetaEncoder({ now: () => NOW });

/** Flags as a client writes them: `['s', 'v', 'O123']`. */
function meta(flags: string[], wireKey: string, b = false): MetaFlags {
  const o = flags.find((f) => f[0] === 'O');
  return {
    ret: flags.map((f) => f[0]).join(''),
    opaqueToken: o === undefined ? undefined : Buffer.from(o, 'latin1'),
    base64Key: b || flags.includes('b'),
    wireKey: Buffer.from(wireKey, 'latin1'),
  };
}

const baseOf = (m: MetaFlags) => ({ protocol: 'meta' as const, quiet: m.ret.includes('q'), opcode: 0, opaque: 0, meta: m });

function mg(key: string, flags: string[], extra: Partial<GetRequest> = {}): GetRequest {
  const b = flags.includes('b');
  return {
    ...baseOf(meta(flags, b ? Buffer.from(key).toString('base64') : key)),
    cmd: 'get',
    key: Buffer.from(key),
    withCas: false,
    ...extra,
  };
}

function item(over: Partial<ItemView> = {}): ItemView {
  return {
    key: Buffer.from('a'),
    value: Buffer.from('abc'),
    flags: 5,
    cas: 13n,
    exptime: 0,
    lastAccess: NOW,
    fetched: false,
    ...over,
  };
}

function encode(f: (w: ResponseWriter) => void, w = new ResponseWriter()): string {
  f(w);
  return Buffer.concat(w.take()).toString('latin1');
}

describe('meta encoder: mg', () => {
  it('answers every return flag in the order the client sent it', () => {
    // The same reply memcached 1.6.18 gives for a fresh item (see the differential test for the proof).
    expect(encode((w) => enc.get(w, mg('a', ['s', 'v', 't', 'c', 'f', 'h', 'l', 'k', 'O123']), item()))).toBe(
      'VA 3 s3 t-1 c13 f5 h0 l0 ka O123\r\nabc\r\n',
    );
    expect(encode((w) => enc.get(w, mg('a', ['O123', 'h', 'l', 'k', 'f', 'c', 't', 'v', 's']), item({ fetched: true })))).toBe(
      'VA 3 O123 h1 l0 ka f5 c13 t-1 s3\r\nabc\r\n',
    );
  });

  it('answers HD with flags when no value was asked for, and flags that only steer print nothing', () => {
    expect(encode((w) => enc.get(w, mg('a', ['T30', 'c', 'u', 'R10', 'q']), item({ exptime: NOW + 30 })))).toBe('HD c13\r\n');
    expect(encode((w) => enc.get(w, mg('a', []), item()))).toBe('HD\r\n');
  });

  it('reports the TTL left, -1 for items that never expire, and seconds since the last access', () => {
    expect(encode((w) => enc.get(w, mg('a', ['t', 'l']), item({ exptime: NOW + 100, lastAccess: NOW - 7 })))).toBe('HD t100 l7\r\n');
    expect(encode((w) => enc.get(w, mg('a', ['t']), item({ exptime: 0 })))).toBe('HD t-1\r\n');
  });

  it('answers t before T with the exptime the item had before the touch', () => {
    const touched = item({ exptime: NOW + 50, previousExptime: NOW + 100 });
    expect(encode((w) => enc.get(w, mg('a', ['t', 'T50', 'v'], { touch: 50 }), touched))).toBe('VA 3 t100\r\nabc\r\n');
    expect(encode((w) => enc.get(w, mg('a', ['T50', 't', 'v'], { touch: 50 }), touched))).toBe('VA 3 t50\r\nabc\r\n');
  });

  it('on a vivified item, t follows T and N in flag order', () => {
    const created = item({ value: Buffer.alloc(0), flags: 0, exptime: NOW + 30, previousExptime: 0, created: true, win: true });
    const req = (flags: string[]) => mg('a', flags, { touch: 0, vivify: 30 });
    expect(encode((w) => enc.get(w, req(['t', 'N30']), created))).toBe('HD t-1 W\r\n');
    expect(encode((w) => enc.get(w, req(['N30', 't']), created))).toBe('HD t30 W\r\n');
    // T0 then t then N30: t sees T0's "never".
    expect(encode((w) => enc.get(w, req(['T0', 't', 'N30']), created))).toBe('HD t-1 W\r\n');
  });

  it('appends Z, X and W after the client flags, in that order', () => {
    expect(encode((w) => enc.get(w, mg('a', ['c', 'v']), item({ stale: true, win: true })))).toBe('VA 3 c13 X W\r\nabc\r\n');
    expect(encode((w) => enc.get(w, mg('a', ['c', 'v']), item({ stale: true, tokenSent: true })))).toBe('VA 3 c13 Z X\r\nabc\r\n');
    expect(encode((w) => enc.get(w, mg('a', []), item({ tokenSent: true })))).toBe('HD Z\r\n');
  });

  it('prints k in base64 with b only for items stored with a binary key', () => {
    // Fetched with b, stored as text: memcached prints the key raw.
    expect(encode((w) => enc.get(w, mg('a', ['b', 'k', 'v']), item({ keyBinary: false })))).toBe('VA 3 ka\r\nabc\r\n');
    // Stored binary, fetched without b.
    expect(encode((w) => enc.get(w, mg('m', ['k', 'v']), item({ key: Buffer.from('m'), keyBinary: true })))).toBe(
      'VA 3 kbQ== b\r\nabc\r\n',
    );
    // Unknown: follow the request.
    expect(encode((w) => enc.get(w, mg('m', ['k', 'b']), item({ key: Buffer.from('m') })))).toBe('HD kbQ== b\r\n');
  });

  it('encodes binary keys in standard padded base64 for every length remainder', () => {
    for (const raw of ['\u0000', '\u00ff\u0001', 'abc', 'abcd', '\u00fa\u00fb\u00fc\u00fd\u00fe']) {
      const key = Buffer.from(raw, 'latin1');
      const req: GetRequest = { ...mg('x', ['k', 'b']), key };
      const out = encode((w) => enc.get(w, req, item({ key, keyBinary: true })));
      expect(out).toBe(`HD k${key.toString('base64')} b\r\n`);
    }
  });

  it('answers a miss with EN plus O and k (key as sent), and q hides the miss only', () => {
    expect(encode((w) => enc.get(w, mg('zz', ['v', 'k', 'Oab']), undefined))).toBe('EN kzz Oab\r\n');
    expect(encode((w) => enc.get(w, mg('zz', ['b', 'k', 'O9']), undefined))).toBe('EN keno= b O9\r\n');
    expect(encode((w) => enc.get(w, mg('zz', ['v', 'k', 'q']), undefined))).toBe('');
    expect(encode((w) => enc.get(w, mg('a', ['q']), item()))).toBe('HD\r\n');
  });

  it('references a large value instead of copying it', () => {
    const big = Buffer.alloc(5000, 0x62);
    const w = new ResponseWriter();
    enc.get(w, mg('a', ['v']), item({ value: big }));
    const chunks = w.take();
    expect(chunks.some((c) => c === big)).toBe(true);
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`VA 5000\r\n${'b'.repeat(5000)}\r\n`);
  });

  it('writes replies correctly across slab boundaries', () => {
    const w = new ResponseWriter({ slabSize: 48, referenceThreshold: 16 });
    const parts: string[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 40; i++) {
      const value = Buffer.from('v'.repeat(i));
      parts.push(encode((x) => enc.get(x, mg('key', ['v', 'c', 'k', 'Oxyz']), item({ key: Buffer.from('key'), value, cas: BigInt(i) }))));
      enc.get(w, mg('key', ['v', 'c', 'k', 'Oxyz']), item({ key: Buffer.from('key'), value, cas: BigInt(i) }));
      expected.push(`VA ${i} c${i} kkey Oxyz\r\n${'v'.repeat(i)}\r\n`);
    }
    expect(parts).toEqual(expected);
    expect(Buffer.concat(w.take()).toString('latin1')).toBe(expected.join(''));
  });
});

describe('meta encoder: me', () => {
  const me = (key: string, b = false): GetRequest => ({
    ...baseOf(meta(b ? ['b'] : [], b ? Buffer.from(key).toString('base64') : key)),
    quiet: false,
    cmd: 'me',
    key: Buffer.from(key),
    withCas: false,
    noBump: true,
  });

  it('prints exp as memcached does (current time minus exptime: the TTL negated), la, cas, fetch, cls and size', () => {
    expect(
      encode((w) => enc.get(w, me('e'), item({ key: Buffer.from('e'), value: Buffer.from('x'), flags: 0, cas: 12n, exptime: NOW + 100 }))),
    ).toBe('ME e exp=-100 la=0 cas=12 fetch=no cls=1 size=61\r\n');
    expect(encode((w) => enc.get(w, me('a'), item({ lastAccess: NOW - 1, cas: 11n, fetched: true })))).toBe(
      'ME a exp=-1 la=1 cas=11 fetch=yes cls=1 size=67\r\n',
    );
  });

  it('prints a binary key in base64 without the b marker, and EN on a miss', () => {
    expect(
      encode((w) => enc.get(w, me('m'), item({ key: Buffer.from('m'), value: Buffer.from('hi'), flags: 0, keyBinary: true }))),
    ).toMatch(/^ME bQ== exp=-1 /);
    expect(encode((w) => enc.get(w, me('zz'), undefined))).toBe('EN\r\n');
  });
});

describe('meta encoder: ms, md, ma, mn', () => {
  function ms(flags: string[], key = 'm'): StoreRequest {
    return {
      ...baseOf(meta(flags, key)),
      cmd: 'store',
      mode: 'set',
      key: Buffer.from(key),
      value: Buffer.from('hi'),
      flags: 0,
      exptime: 0,
    };
  }
  const stored = item({ key: Buffer.from('m'), cas: 19n });

  it('answers a store with HD and the O, k, c flags in request order; q hides HD', () => {
    expect(encode((w) => enc.store(w, ms(['c', 'k', 'O9', 'f', 's', 't', 'v', 'T0', 'F3']), stored))).toBe('HD c19 km O9\r\n');
    expect(encode((w) => enc.store(w, ms(['O9', 'c', 'k']), stored))).toBe('HD O9 c19 km\r\n');
    expect(encode((w) => enc.store(w, ms(['q', 'k']), stored))).toBe('');
  });

  it('answers NS / EX / NF with CAS 0 even under q', () => {
    expect(encode((w) => enc.store(w, ms(['q', 'ME', 'k', 'O1', 'c']), 'NOT_STORED'))).toBe('NS km O1 c0\r\n');
    expect(encode((w) => enc.store(w, ms(['C1', 'k', 'O1', 'c']), 'EXISTS'))).toBe('EX km O1 c0\r\n');
    expect(encode((w) => enc.store(w, ms(['C1', 'k', 'O1', 'c']), 'NOT_FOUND'))).toBe('NF km O1 c0\r\n');
  });

  it('answers a too large or unstorable item with SERVER_ERROR even under q', () => {
    expect(encode((w) => enc.store(w, ms(['q']), 'TOO_LARGE'))).toBe('SERVER_ERROR object too large for cache\r\n');
    expect(encode((w) => enc.store(w, ms(['q']), 'OUT_OF_MEMORY'))).toBe('SERVER_ERROR out of memory storing object\r\n');
  });

  it('prints a base64 key with b for a store that used b', () => {
    const req: StoreRequest = {
      ...baseOf(meta(['b', 'k', 'c', 'O1'], 'bQ==')),
      cmd: 'store',
      mode: 'set',
      key: Buffer.from('m'),
      value: Buffer.from('hi'),
      flags: 0,
      exptime: 0,
    };
    expect(encode((w) => enc.store(w, req, item({ key: Buffer.from('m'), cas: 20n })))).toBe('HD kbQ== b c20 O1\r\n');
  });

  it('answers md with HD / NF / EX; q hides HD only', () => {
    const md = (flags: string[]): DeleteRequest => ({ ...baseOf(meta(flags, 'r')), cmd: 'delete', key: Buffer.from('r') });
    expect(encode((w) => enc.delete(w, md(['k', 'O5']), 'DELETED'))).toBe('HD kr O5\r\n');
    expect(encode((w) => enc.delete(w, md(['q']), 'DELETED'))).toBe('');
    expect(encode((w) => enc.delete(w, md(['k', 'O5', 'q']), 'NOT_FOUND'))).toBe('NF kr O5\r\n');
    expect(encode((w) => enc.delete(w, md(['C1', 'k', 'c', 'O1', 't', 's', 'f']), 'EXISTS'))).toBe('EX kr O1\r\n');
  });

  describe('ma', () => {
    const ma = (flags: string[], extra: Partial<ArithmeticRequest> = {}): ArithmeticRequest => ({
      ...baseOf(meta(flags, 'cnt')),
      cmd: 'incr',
      key: Buffer.from('cnt'),
      incr: true,
      delta: 1n,
      ...extra,
    });
    const counter = (value: string, over: Partial<ItemView> = {}) =>
      item({ key: Buffer.from('cnt'), value: Buffer.from(value), flags: 0, cas: 24n, ...over });

    it('answers VA with the new value, or HD; only c, t, O and k print', () => {
      expect(encode((w) => enc.arithmetic(w, ma(['N0', 'J5', 'v', 'c', 't', 'k', 'O1', 's', 'f', 'h', 'l']), counter('5')))).toBe(
        'VA 1 c24 t-1 kcnt O1\r\n5\r\n',
      );
      expect(encode((w) => enc.arithmetic(w, ma(['t']), counter('10', { exptime: NOW + 100 })))).toBe('HD t100\r\n');
    });

    it('q hides the answer for an existing counter but not for one N just created', () => {
      expect(encode((w) => enc.arithmetic(w, ma(['q', 'v']), counter('6')))).toBe('');
      expect(encode((w) => enc.arithmetic(w, ma(['N0', 'q']), counter('0', { created: true, previousExptime: 0 })))).toBe('HD\r\n');
    });

    it('answers t before T with the old exptime', () => {
      const c = counter('9', { exptime: NOW + 200, previousExptime: NOW + 100 });
      expect(encode((w) => enc.arithmetic(w, ma(['t', 'T200', 'v'], { touch: 200 }), c))).toBe('VA 1 t100\r\n9\r\n');
      expect(encode((w) => enc.arithmetic(w, ma(['T200', 't', 'v'], { touch: 200 }), c))).toBe('VA 1 t200\r\n9\r\n');
    });

    it('answers NF / EX with O and k, and non-numeric values with CLIENT_ERROR even under q', () => {
      expect(encode((w) => enc.arithmetic(w, ma(['k', 'O1', 'c', 't', 'v', 'q']), 'NOT_FOUND'))).toBe('NF kcnt O1\r\n');
      expect(encode((w) => enc.arithmetic(w, ma(['C1', 'v', 'k', 'O2', 'q']), 'EXISTS'))).toBe('EX kcnt O2\r\n');
      expect(encode((w) => enc.arithmetic(w, ma(['v', 'q']), 'NON_NUMERIC'))).toBe(
        'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
      );
    });
  });

  it('answers mn with MN', () => {
    expect(encode((w) => enc.noop(w, { protocol: 'meta', quiet: false, opcode: 0, opaque: 0 }))).toBe('MN\r\n');
  });
});

describe('meta encoder: errors', () => {
  it('always sends protocol errors and handler failures, q or not', () => {
    const err = new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad command line format', BinaryStatus.EINVAL);
    const req = { protocol: 'meta' as const, quiet: true, opcode: 0, opaque: 0, cmd: 'error' as const, error: err };
    expect(encode((w) => enc.protocolError(w, req, err))).toBe('CLIENT_ERROR bad command line format\r\n');
    expect(encode((w) => enc.serverError(w, req, 'backend\ndown', BinaryStatus.EINTERNAL))).toBe('SERVER_ERROR backend down\r\n');
  });

  it('answers text-only commands arriving on a meta request like the text protocol', () => {
    const base = { protocol: 'meta' as const, quiet: false, opcode: 0, opaque: 0 };
    expect(encode((w) => enc.version(w, base, '1.6.18'))).toBe('VERSION 1.6.18\r\n');
    expect(encode((w) => enc.stats(w, { ...base, cmd: 'stats', group: 'x' }, undefined))).toBe('ERROR\r\n');
  });
});
