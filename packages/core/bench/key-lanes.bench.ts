// What KeyLanes costs: a synchronous call through run() with nothing pending (the in-memory path) against a direct
// call, and asynchronous calls that queue on 100 keys.
// Run: cd packages/core && npx tsx ../../scripts/run-bench.ts key-lanes
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { KeyLanes } from '../src/key-lanes.js';

const KEYS = 10_000;
const keys = Array.from({ length: KEYS }, (_, i) => Buffer.from(`key:${i}`));
const work = (key: Buffer): number => key.length;
const lanes = new KeyLanes();

const perSecond = (n: number) => (r: CaseResult) => `${r.name}: ${((r.ops * n) / 1e6).toFixed(2)}M calls/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'KeyLanes, nothing pending (10k synchronous calls per op)',
  b.add('direct call', () => {
    let s = 0;
    for (let i = 0; i < KEYS; i++) s += work(keys[i]!);
    if (s === 0) throw new Error('unreachable');
  }),
  b.add('through run()', () => {
    let s = 0;
    for (let i = 0; i < KEYS; i++) {
      const key = keys[i]!;
      s += lanes.run(key, () => work(key)) as number;
    }
    if (s === 0) throw new Error('unreachable');
  }),
  b.cycle(perSecond(KEYS)),
  b.complete(),
);

const ASYNC = 1000;
await b.suite(
  'KeyLanes, asynchronous calls (1000 per op, 10 per key)',
  b.add('through run()', async () => {
    const rs: Promise<number>[] = new Array(ASYNC);
    for (let i = 0; i < ASYNC; i++) {
      const key = keys[i % 100]!;
      rs[i] = lanes.run(key, () => Promise.resolve(key.length)) as Promise<number>;
    }
    await Promise.all(rs);
  }),
  b.cycle(perSecond(ASYNC)),
  b.complete(),
);
