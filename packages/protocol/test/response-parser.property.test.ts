/**
 * Round trip: random outcomes encoded by the text and meta encoders, parsed
 * back by the response parser (whole and in random pieces), give back what
 * was encoded.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ItemView, MetaFlags, RequestBase, StoreFailure } from '../src/model.js';
import { createMetaEncoder } from '../src/meta/encoder.js';
import { memcachedItemSize, slabClassFor } from '../src/item-size.js';
import { textEncoder } from '../src/text/encoder.js';
import { TextResponseParser, type TextReply } from '../src/text/response-parser.js';
import { ResponseWriter } from '../src/writer.js';

const NOW = 1_800_000_000;
const metaEncoder = createMetaEncoder({ now: () => NOW });
const U64 = 2n ** 64n - 1n;

/** An event: how to encode it and the replies that must come back (in plain form). */
interface Event {
  encode(w: ResponseWriter): void;
  expect: Record<string, unknown>[];
}

const s = (b: Buffer | undefined) => (b === undefined ? undefined : `<${b.toString('latin1')}>`);

function plain(r: TextReply): Record<string, unknown> {
  switch (r.kind) {
    case 'value':
      return { kind: 'value', key: s(r.key), flags: r.flags, cas: r.cas, value: s(r.value) };
    case 'meta':
      return {
        kind: 'meta',
        code: r.code,
        value: s(r.value),
        cas: r.cas,
        clientFlags: r.clientFlags,
        hit: r.hit,
        lastAccess: r.lastAccess,
        size: r.size,
        ttl: r.ttl,
        opaque: s(r.opaque),
        key: s(r.key),
        base64Key: r.base64Key,
        win: r.win,
        stale: r.stale,
        tokenSent: r.tokenSent,
      };
    case 'me':
      return { kind: 'me', key: s(r.key), exp: r.exp, la: r.la, cas: r.cas, fetched: r.fetched, cls: r.cls, size: r.size };
    case 'error':
      return { kind: 'error', error: r.error, message: r.message };
    case 'number':
      return { kind: 'number', value: r.value };
    default:
      return { ...r };
  }
}

function metaReply(code: string, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    kind: 'meta',
    code,
    value: undefined,
    cas: undefined,
    clientFlags: undefined,
    hit: undefined,
    lastAccess: undefined,
    size: undefined,
    ttl: undefined,
    opaque: undefined,
    key: undefined,
    base64Key: false,
    win: false,
    stale: false,
    tokenSent: false,
    ...fields,
  };
}

const text = (quiet = false): RequestBase => ({ protocol: 'text', quiet, opcode: 0, opaque: 0 });

const keyArb = fc.uint8Array({ minLength: 1, maxLength: 250 }).map((a) => Buffer.from(a.map((b) => 33 + (b % 94))));
const valueArb = fc
  .oneof(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ minLength: 1000, maxLength: 5000 }))
  .map((a) => Buffer.from(a));
const itemArb: fc.Arbitrary<ItemView> = fc.record({
  key: keyArb,
  value: valueArb,
  flags: fc.integer({ min: 0, max: 0xffffffff }),
  cas: fc.bigInt({ min: 0n, max: U64 }),
  exptime: fc.oneof(fc.constant(0), fc.integer({ min: NOW + 1, max: NOW + 10_000_000 })),
  lastAccess: fc.integer({ min: NOW - 100_000, max: NOW }),
  fetched: fc.boolean(),
  stale: fc.boolean(),
  win: fc.boolean(),
  tokenSent: fc.boolean(),
  keyBinary: fc.boolean(),
});

// ---------------------------------------------------------------------------
// Text events
// ---------------------------------------------------------------------------

const valueOf = (it: ItemView, withCas: boolean) => ({
  kind: 'value',
  key: s(it.key),
  flags: it.flags,
  cas: withCas ? it.cas : undefined,
  value: s(it.value),
});

const textEvent: fc.Arbitrary<Event> = fc.oneof(
  fc.tuple(itemArb, fc.boolean()).map(([it, withCas]) => ({
    encode: (w: ResponseWriter) => textEncoder.get(w, { ...text(), cmd: 'get', key: it.key, withCas }, it),
    expect: [valueOf(it, withCas), { kind: 'end' }],
  })),
  fc.constant<Event>({
    encode: (w) => textEncoder.get(w, { ...text(), cmd: 'get', key: Buffer.from('k'), withCas: false }, undefined),
    expect: [{ kind: 'end' }],
  }),
  fc.tuple(fc.array(itemArb, { maxLength: 5 }), fc.boolean()).map(([items, withCas]) => ({
    encode: (w: ResponseWriter) => {
      const req = { ...text(), cmd: 'mget' as const, keys: items.map((i) => i.key), withCas };
      for (const it of items) textEncoder.mgetItem(w, req, it);
      textEncoder.mgetEnd(w, req);
    },
    expect: [...items.map((it) => valueOf(it, withCas)), { kind: 'end' }],
  })),
  fc.constantFrom<StoreFailure | 'STORED'>('STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'TOO_LARGE', 'OUT_OF_MEMORY').map((o) => ({
    encode: (w: ResponseWriter) =>
      textEncoder.store(
        w,
        { ...text(), cmd: 'store', mode: 'set', key: Buffer.from('k'), value: Buffer.alloc(0), flags: 0, exptime: 0 },
        o === 'STORED'
          ? { key: Buffer.from('k'), value: Buffer.alloc(0), flags: 0, cas: 1n, exptime: 0, lastAccess: 0, fetched: false }
          : o,
      ),
    expect: [
      o === 'TOO_LARGE'
        ? { kind: 'error', error: 'SERVER_ERROR', message: 'object too large for cache' }
        : o === 'OUT_OF_MEMORY'
          ? { kind: 'error', error: 'SERVER_ERROR', message: 'out of memory storing object' }
          : { kind: 'status', status: o },
    ],
  })),
  fc.oneof(fc.bigInt({ min: 0n, max: U64 }), fc.constant(undefined)).map((v) => ({
    encode: (w: ResponseWriter) =>
      textEncoder.arithmetic(
        w,
        { ...text(), cmd: 'incr', key: Buffer.from('k'), incr: true, delta: 1n },
        v === undefined
          ? 'NON_NUMERIC'
          : { key: Buffer.from('k'), value: Buffer.from(v.toString()), flags: 0, cas: 1n, exptime: 0, lastAccess: 0, fetched: false },
      ),
    expect: [
      v === undefined
        ? { kind: 'error', error: 'CLIENT_ERROR', message: 'cannot increment or decrement non-numeric value' }
        : { kind: 'number', value: v },
    ],
  })),
  fc.stringMatching(/^[0-9][0-9.a-z-]{0,15}$/).map((version) => ({
    encode: (w: ResponseWriter) => textEncoder.version(w, text(), version),
    expect: [{ kind: 'version', version }],
  })),
  fc
    .array(
      fc.tuple(
        fc.stringMatching(/^[a-z_:0-9]{1,20}$/),
        fc.oneof(fc.nat(), fc.bigInt({ min: 0n, max: U64 }), fc.boolean(), fc.stringMatching(/^[!-~]{1,20}$/)),
      ),
      { maxLength: 6 },
    )
    .map((entries) => ({
      encode: (w: ResponseWriter) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: '' }, entries),
      expect: [
        ...entries.map(([name, v]) => ({ kind: 'stat', name, value: typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v) })),
        { kind: 'end' },
      ],
    })),
);

// ---------------------------------------------------------------------------
// Meta events
// ---------------------------------------------------------------------------

const opaqueArb = fc.option(fc.stringMatching(/^[!-~]{1,31}$/), { nil: undefined });

function metaFlags(letters: string[], opaque: string | undefined, key: Buffer, b: boolean): MetaFlags {
  const ret = letters.filter((l) => l !== 'O' || opaque !== undefined).join('');
  return { ret, opaqueToken: opaque === undefined ? undefined : Buffer.from('O' + opaque, 'latin1'), base64Key: b, wireKey: key };
}

const mgEvent: fc.Arbitrary<Event> = fc
  .tuple(itemArb, fc.shuffledSubarray('stcflhkOv'.split('')), opaqueArb, fc.boolean(), fc.boolean())
  .map(([it, letters, opaque, hit, quiet]) => {
    const m = metaFlags(quiet ? [...letters, 'q'] : letters, opaque, it.key, it.keyBinary === true);
    const req = { protocol: 'meta' as const, quiet, opcode: 0, opaque: 0, meta: m, cmd: 'get' as const, key: it.key, withCas: false };
    const has = (l: string) => m.ret.includes(l);
    const keyOut = it.keyBinary ? Buffer.from(it.key.toString('base64')) : it.key;
    if (!hit) {
      return {
        encode: (w: ResponseWriter) => metaEncoder.get(w, req, undefined),
        expect: quiet
          ? []
          : [
              metaReply('EN', {
                opaque: has('O') ? `<${opaque}>` : undefined,
                key: has('k') ? s(keyOut) : undefined,
                base64Key: has('k') && it.keyBinary,
              }),
            ],
      };
    }
    return {
      encode: (w: ResponseWriter) => metaEncoder.get(w, req, it),
      expect: [
        metaReply(has('v') ? 'VA' : 'HD', {
          value: has('v') ? s(it.value) : undefined,
          size: has('s') ? it.value.length : undefined,
          ttl: has('t') ? (it.exptime === 0 ? -1 : it.exptime - NOW) : undefined,
          cas: has('c') ? it.cas : undefined,
          clientFlags: has('f') ? it.flags : undefined,
          lastAccess: has('l') ? NOW - it.lastAccess! : undefined,
          hit: has('h') ? it.fetched : undefined,
          opaque: has('O') ? `<${opaque}>` : undefined,
          key: has('k') ? s(keyOut) : undefined,
          base64Key: has('k') && it.keyBinary,
          win: it.win,
          stale: it.stale,
          tokenSent: it.tokenSent,
        }),
      ],
    };
  });

const meEvent: fc.Arbitrary<Event> = itemArb.map((it) => ({
  encode: (w: ResponseWriter) =>
    metaEncoder.get(
      w,
      {
        protocol: 'meta',
        quiet: false,
        opcode: 0,
        opaque: 0,
        cmd: 'me',
        key: it.key,
        withCas: false,
        meta: metaFlags([], undefined, it.key, false),
      },
      it,
    ),
  expect: [
    {
      kind: 'me',
      key: s(it.keyBinary ? Buffer.from(it.key.toString('base64')) : it.key),
      exp: it.exptime === 0 ? -1 : NOW - it.exptime,
      la: NOW - it.lastAccess!,
      cas: it.cas,
      fetched: it.fetched,
      cls: slabClassFor(memcachedItemSize(it.key.length, it.flags, it.value.length)),
      size: memcachedItemSize(it.key.length, it.flags, it.value.length),
    },
  ],
}));

const mutationEvent: fc.Arbitrary<Event> = fc
  .tuple(
    keyArb,
    fc.constantFrom('ms', 'md', 'ma'),
    fc.constantFrom('ok', 'NS', 'EX', 'NF'),
    fc.shuffledSubarray(['k', 'O', 'c', 'v']),
    opaqueArb,
    fc.bigInt({ min: 0n, max: U64 }),
  )
  .map(([key, cmd, result, letters, opaque, n]) => {
    const m = metaFlags(letters, opaque, key, false);
    const base = { protocol: 'meta' as const, quiet: false, opcode: 0, opaque: 0, meta: m, key };
    const has = (l: string) => m.ret.includes(l);
    const digits = Buffer.from(n.toString());
    const item: ItemView = { key, value: digits, flags: 0, cas: n, exptime: 0, lastAccess: 0, fetched: false };
    const common = { opaque: has('O') ? `<${opaque}>` : undefined, key: has('k') ? s(key) : undefined };
    if (cmd === 'ms') {
      const outcome = result === 'ok' ? item : result === 'NS' ? 'NOT_STORED' : result === 'EX' ? 'EXISTS' : 'NOT_FOUND';
      return {
        encode: (w: ResponseWriter) =>
          metaEncoder.store(w, { ...base, cmd: 'store', mode: 'set', value: digits, flags: 0, exptime: 0 }, outcome),
        expect: [metaReply(result === 'ok' ? 'HD' : result, { ...common, cas: has('c') ? (result === 'ok' ? n : 0n) : undefined })],
      };
    }
    if (cmd === 'md') {
      const outcome = result === 'ok' || result === 'NS' ? 'DELETED' : result === 'EX' ? 'EXISTS' : 'NOT_FOUND';
      return {
        encode: (w: ResponseWriter) => metaEncoder.delete(w, { ...base, cmd: 'delete' }, outcome),
        expect: [metaReply(outcome === 'DELETED' ? 'HD' : result, common)],
      };
    }
    const outcome = result === 'ok' || result === 'NS' ? item : result === 'EX' ? 'EXISTS' : 'NOT_FOUND';
    const ok = typeof outcome === 'object';
    return {
      encode: (w: ResponseWriter) => metaEncoder.arithmetic(w, { ...base, cmd: 'incr', incr: true, delta: 1n }, outcome),
      expect: [
        metaReply(ok ? (has('v') ? 'VA' : 'HD') : result, {
          ...common,
          value: ok && has('v') ? s(digits) : undefined,
          cas: ok && has('c') ? n : undefined,
        }),
      ],
    };
  });

const noopEvent: fc.Arbitrary<Event> = fc.constant({
  encode: (w: ResponseWriter) => metaEncoder.noop(w, { protocol: 'meta', quiet: false, opcode: 0, opaque: 0 }),
  expect: [metaReply('MN')],
});

const eventArb = fc.oneof(textEvent, mgEvent, mgEvent, meEvent, mutationEvent, noopEvent);

describe('response parser round trip', () => {
  it('parses back exactly what the encoders wrote, whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 64, max: 70_000 }),
        fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 40 }),
        (events, slabSize, cuts) => {
          const w = new ResponseWriter({ slabSize });
          for (const e of events) e.encode(w);
          const bytes = Buffer.concat(w.take());
          const expected = events.flatMap((e) => e.expect);

          const whole: TextReply[] = [];
          new TextResponseParser().feed(bytes, whole);
          expect(whole.map(plain)).toEqual(expected);

          const pieces: TextReply[] = [];
          const p = new TextResponseParser();
          let pos = 0;
          for (let i = 0; pos < bytes.length; i++) {
            const n = cuts[i % cuts.length]!;
            p.feed(bytes.subarray(pos, pos + n), pieces);
            pos += n;
          }
          expect(p.buffered).toBe(0);
          expect(pieces.map(plain)).toEqual(expected);
        },
      ),
      { numRuns: 400 },
    );
  });
});
