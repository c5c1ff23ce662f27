// MemcachedHandler throughput against a real memcached (1 worker thread), one Node thread:
//  - get hits and sets of 100-byte values over 10k keys (random order)
//  - 1 caller (each request waits for the previous answer: one round trip per request)
//    and 50 concurrent callers (requests of one turn share a batch: one write per connection)
//  - batches flushed on setImmediate (the default) and on queueMicrotask
// Each benny op is BATCH requests; requests/s = benny ops/s x BATCH.
// Run: cd packages/handler-memcached && npx tsx ../../scripts/run-bench.ts memcached
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import type { ItemView } from '@cleave/protocol';
import { startMemcached } from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';

const KEYS = 10_000;
const BATCH = 2_000;

const mc = await startMemcached({ threads: 1 });
const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(`bench:key:${String(i).padStart(6, '0')}`));
const value = Buffer.alloc(100, 0x61);
const order = new Int32Array(BATCH * 4);
let seed = 7;
for (let i = 0; i < order.length; i++) {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  order[i] = seed % KEYS;
}

function check(it: ItemView | undefined): void {
  if (it === undefined || it.value.length !== 100) throw new Error('bench: expected a 100-byte hit');
}

/** `callers` concurrent loops sharing BATCH requests; each loop awaits its previous answer. */
async function run(callers: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const loop = async () => {
    while (next < BATCH) await op(next++);
  };
  const loops: Promise<void>[] = [];
  for (let c = 0; c < callers; c++) loops.push(loop());
  await Promise.all(loops);
}

const handlers: MemcachedHandler[] = [];
const cases: ReturnType<typeof b.add>[] = [];
const warmups: Array<() => Promise<void>> = [];
for (const flushOn of ['immediate', 'microtask'] as const) {
  const h = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc.port }, flushOn });
  handlers.push(h);
  for (const key of keys) await h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
  let base = 0;
  const at = (i: number) => keys[order[(base + i) % order.length]!]!;
  for (const callers of [1, 50]) {
    const get = async () => {
      await run(callers, async (i) => check(await h.get({ key: at(i) })));
      base += BATCH;
    };
    const set = async () => {
      await run(callers, (i) => h.store({ mode: 'set', key: at(i), value, flags: 0, exptime: 0 }));
      base += BATCH;
    };
    warmups.push(get, set);
    cases.push(b.add(`get, ${callers} caller${callers > 1 ? 's' : ''}, flush on ${flushOn}`, get));
    cases.push(b.add(`set, ${callers} caller${callers > 1 ? 's' : ''}, flush on ${flushOn}`, set));
  }
}

for (let round = 0; round < 5; round++) for (const w of warmups) await w();

const perSecond = (r: CaseResult) => `${Math.round((r.ops * BATCH) / 1000)}k requests/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  `MemcachedHandler against memcached 1.6 (100-byte values, ${BATCH} requests per op)`,
  ...cases,
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);

for (const h of handlers) h.close();
await mc.stop();
