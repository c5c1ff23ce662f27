// The cost of choosing a server: Placement.serverFor on 20-byte keys over 8 servers, for the default
// ketama + fnv1a_64, ketama + md5 (MD5 per key) and modula + crc32. 10k keys per op.
// Run: cd packages/router && npx tsx ../../scripts/run-bench.ts placement
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { Placement, ringName } from '../src/index.js';
import type { Distribution, HashName } from '../src/types.js';

const KEYS = 10_000;
const keys: Buffer[] = [];
for (let i = 0; i < KEYS; i++) keys.push(Buffer.from(`user:${String(i * 7919).padStart(15, '0')}`));
if (keys.some((k) => k.length !== 20)) throw new Error('keys are not 20 bytes');
const servers = Array.from({ length: 8 }, (_, i) => ({ name: ringName(`10.0.0.${i + 1}`, 11211), weight: 1 }));

const run = (distribution: Distribution, hash: HashName) => {
  const p = new Placement({ distribution, hash, servers });
  return () => {
    let sum = 0;
    for (let i = 0; i < KEYS; i++) sum += p.serverFor(keys[i]!);
    if (sum < 0) throw new Error('no server');
  };
};
const perSecond = (r: CaseResult) => `${((r.ops * KEYS) / 1e6).toFixed(2)}M serverFor/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'Placement.serverFor, 20-byte keys, 8 servers (10k keys per op)',
  b.add('ketama + fnv1a_64', run('ketama', 'fnv1a_64')),
  b.add('ketama + md5', run('ketama', 'md5')),
  b.add('modula + crc32', run('modula', 'crc32')),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
