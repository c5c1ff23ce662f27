import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ItemFacts, ProtocolError, type Request } from '../src/index.js';
import { TextParser } from '../src/text/parser.js';
import { encodeMetaRequest, encodeTextRequest } from '../src/text/request-encoder.js';
import { plain, runChunks } from './text-parser.helpers.js';

const U32 = 0xffffffff;
const base = { opcode: 0, opaque: 0 } as const;

/** Cut `buf` at the given fractions (any positions, duplicates allowed). */
function chunked(buf: Buffer, cuts: number[]): Buffer[] {
  const pos = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of pos) {
    out.push(buf.subarray(last, p));
    last = p;
  }
  out.push(buf.subarray(last));
  return out;
}

const cutsArb = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 });

/** Text keys: any byte but NUL, \n and space. */
const textKey = fc
  .uint8Array({ minLength: 1, maxLength: 250 })
  .map((a) => Buffer.from(a.map((b) => (b === 0 || b === 10 || b === 32 ? 0x41 : b))));
/** Meta keys sent as-is: also no \r. */
const metaKey = textKey.map((k) => Buffer.from(k.map((b) => (b === 13 ? 0x42 : b))));
const binaryKey = fc.uint8Array({ minLength: 1, maxLength: 187 }).map((a) => Buffer.from(a));
const value = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
  fc.constantFrom('', '\r\n', 'a\r\nb', '\r', '\n', 'END\r\n').map((s) => Buffer.from(s)),
);
const int32 = fc.integer({ min: -0x80000000, max: 0x7fffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const u32 = fc.integer({ min: 0, max: U32 });

const textRequest: fc.Arbitrary<Request> = fc.oneof(
  fc.record({ key: textKey, withCas: fc.boolean(), touch: fc.option(int32, { nil: undefined }) }).map(
    ({ key, withCas, touch }): Request =>
      // gets/gats replies show the CAS unique.
      touch === undefined
        ? { ...base, protocol: 'text', quiet: false, cmd: 'get', key, withCas, want: withCas ? ItemFacts.CAS : 0 }
        : { ...base, protocol: 'text', quiet: false, cmd: 'get', key, withCas, touch, want: withCas ? ItemFacts.CAS : 0 },
  ),
  fc
    .record({ keys: fc.array(textKey, { minLength: 2, maxLength: 6 }), withCas: fc.boolean(), touch: fc.option(int32, { nil: undefined }) })
    .map(({ keys, withCas, touch }): Request => ({ ...base, protocol: 'text', quiet: false, cmd: 'mget', keys, withCas, touch })),
  fc
    .record({
      mode: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend' as const),
      key: textKey,
      value,
      flags: u32,
      exptime: int32,
      cas: fc.option(u64, { nil: undefined }),
      quiet: fc.boolean(),
    })
    .map(
      ({ mode, key, value, flags, exptime, cas, quiet }): Request => ({
        ...base,
        protocol: 'text',
        quiet,
        cmd: 'store',
        mode: cas === undefined ? mode : 'set',
        key,
        value,
        flags,
        exptime,
        compareCas: cas,
        textCas: cas !== undefined,
        // memcached drops the old item on a failed `set`, not on `cas` or the other modes.
        unlinkOnFailure: cas === undefined && mode === 'set',
      }),
    ),
  fc
    .record({ key: textKey, quiet: fc.boolean() })
    .map(({ key, quiet }): Request => ({ ...base, protocol: 'text', quiet, cmd: 'delete', key })),
  fc
    .record({ key: textKey, quiet: fc.boolean(), incr: fc.boolean(), delta: u64 })
    .map(({ key, quiet, incr, delta }): Request => ({ ...base, protocol: 'text', quiet, cmd: incr ? 'incr' : 'decr', key, incr, delta })),
  fc
    .record({ key: textKey, quiet: fc.boolean(), exptime: int32 })
    .map(({ key, quiet, exptime }): Request => ({ ...base, protocol: 'text', quiet, cmd: 'touch', key, exptime })),
  fc
    .record({ delay: int32, quiet: fc.boolean() })
    .map(({ delay, quiet }): Request => ({ ...base, protocol: 'text', quiet, cmd: 'flush_all', delay })),
  fc
    .record({ level: u32, quiet: fc.boolean() })
    .map(({ level, quiet }): Request => ({ ...base, protocol: 'text', quiet, cmd: 'verbosity', level })),
  fc
    .constantFrom('', 'settings', 'items', 'slabs', 'sizes', 'conns')
    .map((group): Request => ({ ...base, protocol: 'text', quiet: false, cmd: 'stats', group })),
  fc.constantFrom('version', 'quit' as const).map((cmd): Request => ({ ...base, protocol: 'text', quiet: false, cmd })),
);

const opaque = fc.stringMatching(/^[A-Za-z0-9]{0,31}$/).map((s) => Buffer.from('O' + s));

/** A key for a meta request: as-is, or binary sent base64 with `b`. */
const metaKeyed = fc.oneof(
  metaKey.map((key) => ({ key, wireKey: key, b64: false })),
  binaryKey.map((key) => ({ key, wireKey: Buffer.from(key.toString('base64')), b64: true })),
);

/** Pick flag letters in a random order; `b` is added when the key is base64. */
function letters(pool: string): fc.Arbitrary<string[]> {
  return fc.shuffledSubarray(pool.split(''));
}

function metaOf(ret: string[], k: { wireKey: Buffer; b64: boolean }, op: Buffer, vivifyAsSent?: number) {
  return { ret: ret.join(''), opaqueToken: ret.includes('O') ? op : undefined, base64Key: k.b64, wireKey: k.wireKey, vivifyAsSent };
}

/** The ItemFacts an mg reply shows: `c` the CAS unique, `k` the key's form, `h`/`l` the access facts. */
function getWants(ret: string[]): number {
  let want = ret.includes('c') ? ItemFacts.CAS : 0;
  if (ret.includes('k')) want |= ItemFacts.KEY_FORM;
  if (ret.includes('h') || ret.includes('l')) want |= ItemFacts.ACCESS;
  return want;
}

/** Whether `a` comes before `b` in the flags (both present). */
function before(ret: string[], a: string, b: string): boolean {
  const i = ret.indexOf(a);
  return i >= 0 && i < ret.indexOf(b);
}

function withB(ret: string[], b64: boolean, at: number): string[] {
  if (!b64) return ret;
  const r = [...ret];
  r.splice(at % (r.length + 1), 0, 'b');
  return r;
}

const metaRequest: fc.Arbitrary<Request> = fc.oneof(
  fc
    .record({ k: metaKeyed, ret: letters('vstcfkhlOquTNRPL'), at: fc.nat(), op: opaque, t: int32, n: int32, r: int32 })
    .map(({ k, ret, at, op, t, n, r }): Request => {
      const all = withB(ret, k.b64, at);
      const touch = all.includes('T') ? t : undefined;
      return {
        ...base,
        protocol: 'meta',
        quiet: all.includes('q'),
        cmd: 'get',
        key: k.key,
        keyBinary: k.b64,
        withCas: false,
        touch,
        // The exptime an item N creates ends with: a T after N wins.
        vivify: all.includes('N') ? (touch !== undefined && before(all, 'N', 'T') ? touch : n) : undefined,
        recache: all.includes('R') ? r : undefined,
        noBump: all.includes('u'),
        tokens: true,
        want: getWants(all),
        meta: metaOf(all, k, op, all.includes('N') ? n : undefined),
      };
    }),
  fc
    .record({
      k: metaKeyed,
      ret: letters('FTCIMqOkcs'),
      at: fc.nat(),
      op: opaque,
      value,
      flags: u32,
      exptime: int32,
      cas: u64,
      mode: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend' as const),
    })
    .map(({ k, ret, at, op, value, flags, exptime, cas, mode }): Request => {
      const all = withB(ret, k.b64, at);
      return {
        ...base,
        protocol: 'meta',
        quiet: all.includes('q'),
        cmd: 'store',
        mode: all.includes('M') ? mode : 'set',
        key: k.key,
        keyBinary: k.b64,
        value,
        flags: all.includes('F') ? flags : 0,
        exptime: all.includes('T') ? exptime : 0,
        compareCas: all.includes('C') ? cas : undefined,
        invalidate: all.includes('I'),
        // memcached's ms drops the old item on a failed store in every mode.
        unlinkOnFailure: true,
        meta: metaOf(all, k, op),
      };
    }),
  fc
    .record({ k: metaKeyed, ret: letters('CITqOk'), at: fc.nat(), op: opaque, cas: u64, t: int32 })
    .map(({ k, ret, at, op, cas, t }): Request => {
      const all = withB(ret, k.b64, at);
      const invalidate = all.includes('I');
      return {
        ...base,
        protocol: 'meta',
        quiet: all.includes('q'),
        cmd: 'delete',
        key: k.key,
        keyBinary: k.b64,
        compareCas: all.includes('C') ? cas : undefined,
        invalidate,
        exptime: invalidate && all.includes('T') ? t : undefined,
        meta: metaOf(all, k, op),
      };
    }),
  fc
    .record({
      k: metaKeyed,
      ret: letters('MDNJCqOkvtc'),
      at: fc.nat(),
      op: opaque,
      incr: fc.boolean(),
      delta: u64,
      n: int32,
      j: u64,
      cas: u64,
    })
    .map(({ k, ret, at, op, incr, delta, n, j, cas }): Request => {
      const all = withB(ret, k.b64, at);
      const inc = all.includes('M') ? incr : true;
      const vivify = all.includes('N');
      return {
        ...base,
        protocol: 'meta',
        quiet: all.includes('q'),
        cmd: inc ? 'incr' : 'decr',
        key: k.key,
        keyBinary: k.b64,
        incr: inc,
        delta: all.includes('D') ? delta : 1n,
        initial: vivify ? (all.includes('J') ? j : 0n) : undefined,
        exptime: vivify ? n : undefined,
        compareCas: all.includes('C') ? cas : undefined,
        // The reply depends on whether N created the counter when quiet, or with t before N.
        want: vivify && (all.includes('q') || before(all, 't', 'N')) ? ItemFacts.CREATED : 0,
        meta: metaOf(all, k, op, vivify ? n : undefined),
      };
    }),
  metaKeyed.map(
    (k): Request => ({
      ...base,
      protocol: 'meta',
      quiet: false,
      cmd: 'me',
      key: k.key,
      keyBinary: k.b64,
      withCas: false,
      noBump: true,
      debug: true,
      want: ItemFacts.KEY_FORM | ItemFacts.ACCESS | ItemFacts.CAS,
      meta: { ret: k.b64 ? 'b' : '', opaqueToken: undefined, base64Key: k.b64, wireKey: k.wireKey },
    }),
  ),
  fc.constant<Request>({ ...base, protocol: 'meta', quiet: false, cmd: 'noop' }),
);

describe('encode → parse round trip', () => {
  it('gives back random text requests in any chunking', () => {
    fc.assert(
      fc.property(fc.array(textRequest, { minLength: 1, maxLength: 8 }), cutsArb, (reqs, cuts) => {
        const wire = Buffer.concat(reqs.map(encodeTextRequest));
        const r = runChunks(chunked(wire, cuts));
        expect(r.fatal).toBeUndefined();
        expect(r.requests).toEqual(reqs.map(plain));
        expect(r.buffered).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('gives back random meta requests in any chunking', () => {
    fc.assert(
      fc.property(fc.array(metaRequest, { minLength: 1, maxLength: 8 }), cutsArb, (reqs, cuts) => {
        const wire = Buffer.concat(reqs.map(encodeMetaRequest));
        const r = runChunks(chunked(wire, cuts));
        expect(r.fatal).toBeUndefined();
        expect(r.requests).toEqual(reqs.map(plain));
        expect(r.buffered).toBe(0);
      }),
      { numRuns: 400 },
    );
  });

  it('mixes text and meta on one connection', () => {
    fc.assert(
      fc.property(fc.array(textRequest, { maxLength: 4 }), fc.array(metaRequest, { maxLength: 4 }), (t, m) => {
        const wire = Buffer.concat([...t.map(encodeTextRequest), ...m.map(encodeMetaRequest)]);
        const r = runChunks([wire]);
        expect(r.requests).toEqual([...t, ...m].map(plain));
      }),
      { numRuns: 100 },
    );
  });
});

/** Bytes that look like requests often enough to reach every state. */
const fragment = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'get ',
      'gets ',
      'gat ',
      'set ',
      'cas ',
      'add ',
      'incr ',
      'delete ',
      'touch ',
      'flush_all',
      'verbosity ',
      'mg ',
      'ms ',
      'md ',
      'ma ',
      'me ',
      'mn',
      'stats',
    ),
  },
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      ' ',
      '  ',
      '\r\n',
      '\n',
      '\r',
      '\0',
      '\t',
      'noreply',
      ' 0',
      ' 1',
      ' 5',
      ' 64',
      ' 100',
      ' -1',
      ' 4294967297',
      ' 2147483645',
      'k',
      'key',
    ),
  },
  { weight: 3, arbitrary: fc.constantFrom(' v', ' b', ' q', ' T1', ' F5', ' C7', ' MA', ' MX', ' O12', ' D3', ' N0', ' J9', ' k', ' x') },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a).toString('latin1')) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 700 }).map((n) => 'x'.repeat(n)) },
);

describe('hostile input', () => {
  const limits = { maxItemSize: 64, maxLineLength: 256, maxMultiGetLineLength: 700, maxKeysPerGet: 20 };
  const bound = Math.max(limits.maxLineLength, limits.maxMultiGetLineLength) + 1 + limits.maxItemSize + 2 + 64;

  it('never throws anything but a fatal ProtocolError, never holds more than the limits, and ignores chunking', () => {
    fc.assert(
      fc.property(fc.array(fragment, { maxLength: 60 }), cutsArb, (frags, cuts) => {
        const input = Buffer.from(frags.join(''), 'latin1');
        const parser = new TextParser(limits);
        const out: Request[] = [];
        let fatal: ProtocolError | undefined;
        try {
          for (const c of chunked(input, cuts)) {
            parser.feed(c, out);
            expect(parser.buffered).toBeLessThanOrEqual(bound);
          }
        } catch (e) {
          expect(e).toBeInstanceOf(ProtocolError);
          expect((e as ProtocolError).fatal).toBe(true);
          fatal = e as ProtocolError;
        }
        const whole = runChunks([input], limits);
        expect(out.map(plain)).toEqual(whole.requests);
        expect(fatal === undefined ? undefined : plain(fatal)).toEqual(whole.fatal);
      }),
      { numRuns: 1500 },
    );
  });

  it('survives arbitrary bytes fed one at a time', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const parser = new TextParser(limits);
        const out: Request[] = [];
        try {
          for (let i = 0; i < bytes.length; i++) {
            parser.feed(Buffer.from(bytes.subarray(i, i + 1)), out);
            if (parser.buffered > bound) return false;
          }
        } catch (e) {
          return e instanceof ProtocolError && e.fatal;
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});
