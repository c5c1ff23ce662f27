// ChunkedHandler throughput over an InMemoryHandler (memcached's 1 MiB item limit), one thread.
//  - set and get of 10 KB, 100 KB and 1 MB values, each value a fresh key-and-value pair from a small ring
//  - default chunking (values up to ~512 KB stay one plain item; 1 MB becomes 2 chunk items + metadata)
//  - 64 KiB chunks (every size here is chunked: 1, 2 and 16 chunk items)
//  - the InMemoryHandler alone, for the cost of the decorator
// Each benny op is 16 sets or 16 gets; MB/s = commands/s x value size / 1e6. The InMemoryHandler's own
// get hands out its stored Buffer without a copy, so its get figure is a bound, not a comparable rate.
// Run: cd packages/chunked && npx tsx ../../scripts/run-bench.ts chunked
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import type { Handler, StoreCommand } from '@cleave/protocol';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { ChunkedHandler } from '../src/index.js';

const SIZES = [10_000, 100_000, 1_000_000];
const RING = 8;
/** Commands per benny op, so a deferred (async) case's fixed cost is spread. */
const BATCH = 16;

function inner(): InMemoryHandler {
  return new InMemoryHandler({ sweepIntervalMs: 0, maxBytes: 512 * 1024 * 1024 });
}

const stores: Array<[string, () => Handler]> = [
  ['chunked (default chunks)', () => new ChunkedHandler(inner())],
  ['chunked (64 KiB chunks)', () => new ChunkedHandler(inner(), { chunkSize: 64 * 1024 })],
  ['chunked (trackReplacedChunks off)', () => new ChunkedHandler(inner(), { trackReplacedChunks: false })],
  ['InMemoryHandler alone', inner],
];

const sizeOf = new Map<string, number>();
const cases: ReturnType<typeof b.add>[] = [];
const warmups: Array<() => unknown> = [];
for (const size of SIZES) {
  const values: StoreCommand[] = [];
  for (let i = 0; i < RING; i++) {
    const value = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) value[j] = (j * 31 + i) & 0xff;
    values.push({ mode: 'set', key: Buffer.from(`bench:${size}:${i}`), value, flags: 0, exptime: 0 });
  }
  for (const [label, make] of stores) {
    const h = make();
    for (const v of values) await h.store(v);
    let n = 0;
    const setName = `set ${size / 1000} KB, ${label}`;
    const getName = `get ${size / 1000} KB, ${label}`;
    sizeOf.set(setName, size);
    sizeOf.set(getName, size);
    const setCase = () =>
      run(
        BATCH,
        (i) => h.store(values[(n + i) % RING]!),
        () => (n += BATCH),
      );
    const getCase = () =>
      run(
        BATCH,
        (i) => h.get({ key: values[(n + i) % RING]!.key }),
        () => (n += BATCH),
        (it) => {
          if (it === undefined || (it as { value: Buffer }).value.length !== size) throw new Error('bench: wrong value');
        },
      );
    warmups.push(setCase, getCase);
    cases.push(b.add(setName, setCase), b.add(getName, getCase));
  }
}

/**
 * `count` calls of `op`, one after another, waiting only for answers that
 * are Promises: a synchronous store is measured synchronously (benny defers
 * only cases that return a Promise).
 */
function run<T>(count: number, op: (i: number) => T | Promise<T>, done: () => void, check?: (t: T) => void): void | Promise<void> {
  for (let i = 0; i < count; i++) {
    const r = op(i);
    if (r instanceof Promise) {
      return (async () => {
        let x = await r;
        check?.(x);
        for (let j = i + 1; j < count; j++) {
          x = await op(j);
          check?.(x);
        }
        done();
      })();
    }
    check?.(r);
  }
  done();
}

const mbps = (r: CaseResult) =>
  `${((r.ops * BATCH * sizeOf.get(r.name)!) / 1e6).toFixed(0)} MB/s (${(r.ops * BATCH).toFixed(0)} commands/s, ±${r.margin.toFixed(1)}%)`;

// Warm every path up first, so the first cases do not pay for the JIT.
for (let round = 0; round < 50; round++) for (const w of warmups) await w();

await b.suite(
  'ChunkedHandler over InMemoryHandler: set/get throughput',
  ...cases,
  b.cycle((r: CaseResult) => `${r.name}: ${mbps(r)}`),
  b.complete(),
);
