// InMemoryHandler throughput, one thread, at 10k and 1M keys:
//  - get hit, get miss (random keys)
//  - set with 100-byte values (overwriting random existing keys)
//  - mixed: 90% get hits, 10% sets
// and the same at 10k keys over a store shared by threads (sharedStore), used by this thread alone: the cost of the
// store lock when nobody else holds it.
// Keys and values are views into one large buffer, as a parser hands them over.
// Each benny op runs BATCH commands; ops/s = benny ops/s x BATCH.
// Run: cd packages/handler-inmem && npx tsx ../../scripts/run-bench.ts inmem
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { InMemoryHandler, sharedStore } from '../src/index.js';

const BATCH = 100_000;

interface Fixture {
  h: InMemoryHandler;
  hits: Buffer[];
  misses: Buffer[];
  order: Int32Array;
}

/** `n` distinct keys as views into one buffer, `n` keys that are never stored, and a random access order. */
function fixture(n: number, shared = false): Fixture {
  const options = { maxBytes: 1024 * 1024 * 1024, sweepIntervalMs: 0 };
  const h = shared ? new InMemoryHandler({ shared: sharedStore(options) }) : new InMemoryHandler(options);
  const text = (i: number, miss: boolean) => `${miss ? 'miss' : 'user'}:session:${String(i).padStart(8, '0')}`;
  const keyLen = text(0, false).length;
  const read = Buffer.alloc(2 * n * (keyLen + 2));
  const hits: Buffer[] = [];
  const misses: Buffer[] = [];
  let p = 0;
  for (let i = 0; i < n; i++) {
    read.write(text(i, false), p, 'latin1');
    hits.push(read.subarray(p, p + keyLen));
    p += keyLen + 2;
    read.write(text(i, true), p, 'latin1');
    misses.push(read.subarray(p, p + keyLen));
    p += keyLen + 2;
  }
  const value = Buffer.alloc(100, 0x61);
  for (const key of hits) h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
  const order = new Int32Array(BATCH);
  let seed = 42;
  for (let i = 0; i < BATCH; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    order[i] = seed % n;
  }
  return { h, hits, misses, order };
}

const value = Buffer.alloc(100, 0x62);

function cases(label: string, f: Fixture) {
  const { h, hits, misses, order } = f;
  return [
    b.add(`${label}: get hit`, () => {
      let found = 0;
      for (let i = 0; i < BATCH; i++) if (h.get({ key: hits[order[i]!]! }) !== undefined) found++;
      if (found !== BATCH) throw new Error('expected hits');
    }),
    b.add(`${label}: get miss`, () => {
      for (let i = 0; i < BATCH; i++) if (h.get({ key: misses[order[i]!]! }) !== undefined) throw new Error('expected a miss');
    }),
    b.add(`${label}: set 100-byte values`, () => {
      for (let i = 0; i < BATCH; i++) h.store({ mode: 'set', key: hits[order[i]!]!, value, flags: 0, exptime: 0 });
    }),
    b.add(`${label}: mixed 90% get / 10% set`, () => {
      for (let i = 0; i < BATCH; i++) {
        const key = hits[order[i]!]!;
        if (i % 10 === 0) h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
        else h.get({ key });
      }
    }),
  ];
}

const perSecond = (r: CaseResult) => `${((r.ops * BATCH) / 1e6).toFixed(2)}M ops/s (±${r.margin.toFixed(1)}%)`;

const small = fixture(10_000);
await b.suite(
  `InMemoryHandler, 10k keys, ${BATCH / 1000}k commands per op`,
  ...cases('10k keys', small),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
small.h.close();

const shared = fixture(10_000, true);
await b.suite(
  `InMemoryHandler over a shared store, 10k keys, ${BATCH / 1000}k commands per op`,
  ...cases('shared, 10k keys', shared),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
shared.h.close();

const large = fixture(1_000_000);
await b.suite(
  `InMemoryHandler, 1M keys, ${BATCH / 1000}k commands per op`,
  ...cases('1M keys', large),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
large.h.close();
