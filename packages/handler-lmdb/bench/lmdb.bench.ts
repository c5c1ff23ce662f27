// LmdbHandler throughput, one thread, at 10k and 100k keys (a store in a temp dir, no cap reached):
//  - get hit, get miss (random keys)
//  - set with 100-byte and with 10 KB values (overwriting random existing keys), each batch waited for until
//    committed (`flushed()`), so the figure is what the store can take, not what it can queue
//  - mixed: 90% get hits, 10% sets of 100-byte values, committed likewise
// Keys are views into one large buffer, as a parser hands them over. A Promise is awaited only when the handler
// answers with one.
// Each benny op runs BATCH commands; ops/s = benny ops/s x BATCH.
// Run: cd packages/handler-lmdb && npx tsx ../../scripts/run-bench.ts lmdb
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { LmdbHandler } from '../src/index.js';

const BATCH = 10_000;

interface Fixture {
  h: LmdbHandler;
  dir: string;
  hits: Buffer[];
  misses: Buffer[];
  order: Int32Array;
}

/** `n` distinct keys stored with 100-byte values, `n` keys that are never stored, and a random access order. */
async function fixture(n: number): Promise<Fixture> {
  const dir = mkdtempSync(join(os.tmpdir(), 'cleave-lmdb-bench-'));
  const h = new LmdbHandler({ path: dir, maxBytes: 4 * 1024 * 1024 * 1024, sweepIntervalMs: 0 });
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
  for (const key of hits) await h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
  await h.flushed();
  const order = new Int32Array(BATCH);
  let seed = 42;
  for (let i = 0; i < BATCH; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    order[i] = seed % n;
  }
  return { h, dir, hits, misses, order };
}

const small = Buffer.alloc(100, 0x62);
const large = Buffer.alloc(10 * 1024, 0x63);

function cases(label: string, f: Fixture) {
  const { h, hits, misses, order } = f;
  const sets = (value: Buffer) => async () => {
    for (let i = 0; i < BATCH; i++) {
      const r = h.store({ mode: 'set', key: hits[order[i]!]!, value, flags: 0, exptime: 0 });
      if (r instanceof Promise) await r;
    }
    await h.flushed();
  };
  return [
    b.add(`${label}: get hit`, async () => {
      let found = 0;
      for (let i = 0; i < BATCH; i++) {
        const r = h.get({ key: hits[order[i]!]! });
        if ((r instanceof Promise ? await r : r) !== undefined) found++;
      }
      if (found !== BATCH) throw new Error(`expected ${BATCH} hits, got ${found}`);
    }),
    b.add(`${label}: get miss`, async () => {
      for (let i = 0; i < BATCH; i++) {
        const r = h.get({ key: misses[order[i]!]! });
        if ((r instanceof Promise ? await r : r) !== undefined) throw new Error('expected a miss');
      }
    }),
    b.add(`${label}: set 100-byte values, committed`, sets(small)),
    b.add(`${label}: set 10 KB values, committed`, sets(large)),
    b.add(`${label}: mixed 90% get / 10% set, committed`, async () => {
      for (let i = 0; i < BATCH; i++) {
        const key = hits[order[i]!]!;
        const r = i % 10 === 0 ? h.store({ mode: 'set', key, value: small, flags: 0, exptime: 0 }) : h.get({ key });
        if (r instanceof Promise) await r;
      }
      await h.flushed();
    }),
  ];
}

const perSecond = (r: CaseResult) => `${((r.ops * BATCH) / 1e6).toFixed(3)}M ops/s (±${r.margin.toFixed(1)}%)`;

for (const n of [10_000, 100_000]) {
  const f = await fixture(n);
  await b.suite(
    `LmdbHandler, ${n / 1000}k keys, ${BATCH / 1000}k commands per op`,
    ...cases(`${n / 1000}k keys`, f),
    b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
    b.complete(),
  );
  await f.h.close();
  rmSync(f.dir, { recursive: true, force: true });
}
