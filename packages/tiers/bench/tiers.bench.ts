// What a tier adds on the hit path: the in-memory handler called directly, and through L1L2
// (an L1 hit never reaches L2). 10k keys, 100-byte values, gets of present keys.
// Run: cd packages/tiers && npx tsx ../../scripts/run-bench.ts tiers
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { GetCommand, Handler } from '@cleave/protocol';
import { l1l2 } from '../src/index.js';

const KEYS = 10_000;
const value = Buffer.alloc(100, 'v');
const cmds: GetCommand[] = [];
const fill = (h: Handler) => {
  for (let i = 0; i < KEYS; i++) h.store({ mode: 'set', key: Buffer.from(`key:${i}`), value, flags: 0, exptime: 0 });
};
for (let i = 0; i < KEYS; i++) cmds.push({ key: Buffer.from(`key:${i}`) });

const direct = new InMemoryHandler({ maxBytes: 64 << 20 });
fill(direct);
const l1 = new InMemoryHandler({ maxBytes: 64 << 20 });
fill(l1);
const two = l1l2(l1, new InMemoryHandler({ maxBytes: 64 << 20 }));

const run = (h: Handler) => () => {
  for (let i = 0; i < KEYS; i++) if (h.get(cmds[i]!) === undefined) throw new Error('miss');
};
const perSecond = (r: CaseResult) => `${((r.ops * KEYS) / 1e6).toFixed(2)}M gets/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'L1L2 overhead on L1 hits (10k gets per op)',
  b.add('in-memory handler, called directly', run(direct)),
  b.add('through L1L2 (L1 hit)', run(two)),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
