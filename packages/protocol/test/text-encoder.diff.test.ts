/**
 * Differential test: the text encoder against a real memcached.
 *
 * Random sequences of text commands (retrievals, the six stores, delete,
 * incr/decr, touch, flush_all, version, verbosity, stats, with and without
 * noreply) run against memcached. Before each command the state of its keys
 * is read without side effects (`mg <key> v f c u`); from that state the
 * test predicts the outcome a handler would return (memcached's semantics,
 * written out independently here), encodes it with the text encoder and
 * compares the bytes with what memcached answered.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { memcachedVersion, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { textEncoder } from '../src/text/encoder.js';
import { ResponseWriter } from '../src/writer.js';
import type { ArithmeticOutcome, ItemView, RequestBase, StoreMode, StoreOutcome } from '../src/model.js';
import { ReplySession, diffReplies } from './text-reply-session.js';

let mc: MemcachedProcess;
let s: ReplySession;
let version: string;

beforeAll(async () => {
  mc = await startMemcached();
  s = await ReplySession.open(mc.port);
  version = memcachedVersion();
});

afterAll(async () => {
  s?.close();
  await mc?.stop();
});

const U64 = 2n ** 64n;

function encode(f: (w: ResponseWriter) => void): Buffer {
  const w = new ResponseWriter();
  f(w);
  return Buffer.concat(w.take());
}

const text = (quiet = false): RequestBase => ({ protocol: 'text', quiet, opcode: 0, opaque: 0 });

interface Stored {
  value: Buffer;
  flags: number;
  cas: bigint;
}

/** The item's value, flags and CAS without bumping it or marking it fetched. */
async function peek(key: string): Promise<Stored | undefined> {
  const x = await s.send(`mg ${key} v f c u\r\n`);
  const r = x.replies[0];
  if (r?.kind !== 'meta') throw new Error(`peek: ${x.raw.toString('latin1')}`);
  if (r.code === 'EN') return undefined;
  return { value: Buffer.from(r.value!), flags: r.clientFlags!, cas: r.cas! };
}

function itemOf(key: string, st: Stored): ItemView {
  return { key: Buffer.from(key, 'latin1'), value: st.value, flags: st.flags, cas: st.cas, exptime: 0, lastAccess: 0, fetched: false };
}

/** What incr/decr does to a stored value: the digits memcached's safe_strtoull accepts, then wrap or floor. */
function arithmetic(st: Stored | undefined, incr: boolean, delta: bigint): ArithmeticOutcome {
  if (st === undefined) return 'NOT_FOUND';
  // Test values are digits (decr pads a shorter result with spaces), letters or bytes after an 'x'.
  const m = /^(\d+) *$/.exec(st.value.toString('latin1'));
  if (m === null) return 'NON_NUMERIC';
  const v = BigInt(m[1]!);
  if (v >= U64) return 'NON_NUMERIC';
  const r = incr ? (v + delta) % U64 : v < delta ? 0n : v - delta;
  return { ...itemOf('', st), value: Buffer.from(r.toString(), 'latin1') };
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

type Op =
  | { t: 'get'; keys: number[]; cas: boolean; touch: number | undefined }
  | { t: 'store'; mode: StoreMode | 'cas'; key: number; flags: number; exptime: number; value: Buffer; noreply: boolean; rightCas: boolean }
  | { t: 'delete'; key: number; noreply: boolean; zero: boolean }
  | { t: 'arith'; incr: boolean; key: number; delta: bigint; noreply: boolean }
  | { t: 'touch'; key: number; exptime: number; noreply: boolean }
  | { t: 'flush'; noreply: boolean; delay: boolean }
  | { t: 'version' }
  | { t: 'verbosity'; level: number; noreply: boolean }
  | { t: 'stats'; group: 'reset' | 'nosuchgroup' };

const keyIdx = fc.integer({ min: 0, max: 2 });
const valueArb = fc.oneof(
  fc.bigInt({ min: 0n, max: U64 - 1n }).map((v) => Buffer.from(v.toString(), 'latin1')),
  fc.integer({ min: 0, max: 120 }).map((v) => Buffer.from(String(v), 'latin1')),
  fc.stringMatching(/^[a-z]{0,20}$/).map((v) => Buffer.from(v, 'latin1')),
  fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.concat([Buffer.from('x'), Buffer.from(b)])),
  fc.integer({ min: 1024, max: 3000 }).map((n) => Buffer.alloc(n, 0x79)),
);
const flagsArb = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('get' as const),
      keys: fc.array(keyIdx, { minLength: 1, maxLength: 4 }),
      cas: fc.boolean(),
      touch: fc.option(fc.constantFrom(0, 1000), { nil: undefined }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('store' as const),
      mode: fc.constantFrom<StoreMode | 'cas'>('set', 'set', 'add', 'replace', 'append', 'prepend', 'cas'),
      key: keyIdx,
      flags: flagsArb,
      exptime: fc.constantFrom(0, 0, 1000, -1),
      value: valueArb,
      noreply: fc.boolean(),
      rightCas: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('delete' as const), key: keyIdx, noreply: fc.boolean(), zero: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('arith' as const),
      incr: fc.boolean(),
      key: keyIdx,
      delta: fc.oneof(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 0n, max: U64 - 1n })),
      noreply: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ t: fc.constant('touch' as const), key: keyIdx, exptime: fc.constantFrom(0, 1000), noreply: fc.boolean() }),
  },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('flush' as const), noreply: fc.boolean(), delay: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ t: 'version' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('verbosity' as const), level: fc.integer({ min: 0, max: 3 }), noreply: fc.boolean() }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ t: fc.constant('stats' as const), group: fc.constantFrom<'reset' | 'nosuchgroup'>('reset', 'nosuchgroup') }),
  },
);

let run = 0;

async function check(prefix: string, op: Op): Promise<void> {
  const K = (i: number) => `${prefix}${i}`;
  const nr = (q: boolean) => (q ? ' noreply' : '');
  let wire: Buffer;
  let ours: Buffer;
  switch (op.t) {
    case 'get': {
      const keys = op.keys.map(K);
      const states = new Map<string, Stored | undefined>();
      for (const k of new Set(keys)) states.set(k, await peek(k));
      const verb = (op.touch === undefined ? 'get' : 'gat') + (op.cas ? 's' : '');
      wire = Buffer.from(`${verb}${op.touch === undefined ? '' : ` ${op.touch}`} ${keys.join(' ')}\r\n`, 'latin1');
      ours = encode((w) => {
        if (keys.length === 1) {
          const st = states.get(keys[0]!);
          const req = { ...text(), cmd: 'get' as const, key: Buffer.from(keys[0]!), withCas: op.cas, touch: op.touch };
          textEncoder.get(w, req, st && itemOf(keys[0]!, st));
          return;
        }
        const req = { ...text(), cmd: 'mget' as const, keys: keys.map((k) => Buffer.from(k)), withCas: op.cas, touch: op.touch };
        for (const k of keys) {
          const st = states.get(k);
          if (st !== undefined) textEncoder.mgetItem(w, req, itemOf(k, st));
        }
        textEncoder.mgetEnd(w, req);
      });
      break;
    }
    case 'store': {
      const k = K(op.key);
      const st = await peek(k);
      const casArg = st === undefined ? 1n : op.rightCas ? st.cas : st.cas + 1n;
      wire = Buffer.concat([
        Buffer.from(
          `${op.mode} ${k} ${op.flags} ${op.exptime} ${op.value.length}${op.mode === 'cas' ? ` ${casArg}` : ''}${nr(op.noreply)}\r\n`,
          'latin1',
        ),
        op.value,
        Buffer.from('\r\n'),
      ]);
      let outcome: StoreOutcome;
      const stored: ItemView = itemOf(k, { value: op.value, flags: op.flags, cas: 0n });
      switch (op.mode) {
        case 'set':
          outcome = stored;
          break;
        case 'add':
          outcome = st === undefined ? stored : 'NOT_STORED';
          break;
        case 'replace':
        case 'append':
        case 'prepend':
          outcome = st === undefined ? 'NOT_STORED' : stored;
          break;
        case 'cas':
          outcome = st === undefined ? 'NOT_FOUND' : op.rightCas ? stored : 'EXISTS';
          break;
      }
      const req = {
        ...text(op.noreply),
        cmd: 'store' as const,
        mode: op.mode === 'cas' ? ('set' as const) : op.mode,
        key: Buffer.from(k),
        value: op.value,
        flags: op.flags,
        exptime: op.exptime,
        compareCas: op.mode === 'cas' ? casArg : undefined,
        textCas: op.mode === 'cas',
      };
      ours = encode((w) => textEncoder.store(w, req, outcome));
      break;
    }
    case 'delete': {
      const k = K(op.key);
      const st = await peek(k);
      wire = Buffer.from(`delete ${k}${op.zero ? ' 0' : ''}${nr(op.noreply)}\r\n`, 'latin1');
      const req = { ...text(op.noreply), cmd: 'delete' as const, key: Buffer.from(k) };
      ours = encode((w) => textEncoder.delete(w, req, st === undefined ? 'NOT_FOUND' : 'DELETED'));
      break;
    }
    case 'arith': {
      const k = K(op.key);
      const st = await peek(k);
      wire = Buffer.from(`${op.incr ? 'incr' : 'decr'} ${k} ${op.delta}${nr(op.noreply)}\r\n`, 'latin1');
      const req = {
        ...text(op.noreply),
        cmd: op.incr ? ('incr' as const) : ('decr' as const),
        key: Buffer.from(k),
        incr: op.incr,
        delta: op.delta,
      };
      const outcome = arithmetic(st, op.incr, op.delta);
      ours = encode((w) => textEncoder.arithmetic(w, req, outcome));
      break;
    }
    case 'touch': {
      const k = K(op.key);
      const st = await peek(k);
      wire = Buffer.from(`touch ${k} ${op.exptime}${nr(op.noreply)}\r\n`, 'latin1');
      const req = { ...text(op.noreply), cmd: 'touch' as const, key: Buffer.from(k), exptime: op.exptime };
      ours = encode((w) => textEncoder.touch(w, req, st === undefined ? 'NOT_FOUND' : 'TOUCHED'));
      break;
    }
    case 'flush':
      wire = Buffer.from(`flush_all${op.delay ? ' 0' : ''}${nr(op.noreply)}\r\n`, 'latin1');
      ours = encode((w) => textEncoder.flush(w, { ...text(op.noreply), cmd: 'flush_all', delay: 0 }));
      break;
    case 'version':
      wire = Buffer.from('version\r\n');
      ours = encode((w) => textEncoder.version(w, text(), version));
      break;
    case 'verbosity':
      wire = Buffer.from(`verbosity ${op.level}${nr(op.noreply)}\r\n`, 'latin1');
      ours = encode((w) => textEncoder.verbosity(w, { ...text(op.noreply), cmd: 'verbosity', level: op.level }));
      break;
    case 'stats':
      wire = Buffer.from(`stats ${op.group}\r\n`, 'latin1');
      ours = encode((w) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: op.group }, op.group === 'reset' ? [] : undefined));
      break;
  }
  const x = await s.send(wire);
  const d = diffReplies(ours, x.raw);
  if (d !== undefined) throw new Error(`${JSON.stringify(wire.subarray(0, 120).toString('latin1'))}: ${d}`);
}

describe('text encoder against memcached 1.6', () => {
  it('answers random command sequences (with and without noreply) byte for byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), async (ops) => {
        const prefix = `t${run++}_`;
        for (const op of ops) await check(prefix, op);
      }),
      { numRuns: 150 },
    );
  }, 120_000);
});
