// Text/meta reply encoding throughput, one thread, into a ResponseWriter
// with take() every 100 replies (one socket write per 100 pipelined replies):
//  - 1M text get hits: VALUE key:NNNNNN 0 100 + 100-byte value + END
//  - 1M text gets hits (with a CAS unique)
//  - 1M meta `mg <key> v` hits: VA 100 + value
//  - 1M meta `mg <key> s v t c f k O123` hits (every common return flag)
//  - 1M STORED replies
// Each benny op encodes the whole million; replies/s = ops/s x 1M.
// Run: cd packages/protocol && npx tsx ../../scripts/run-bench.ts text-encode
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import type { GetRequest, ItemView, StoreRequest } from '../src/model.js';
import { createMetaEncoder } from '../src/meta/encoder.js';
import { textEncoder } from '../src/text/encoder.js';
import { ResponseWriter } from '../src/writer.js';

const N = 1_000_000;
const BATCH = 100;
const DISTINCT = 1024;
const NOW = 1_700_000_000;

const metaEncoder = createMetaEncoder({ now: () => NOW });

const items: ItemView[] = [];
for (let i = 0; i < DISTINCT; i++) {
  items.push({
    key: Buffer.from(`key:${String(i).padStart(6, '0')}`, 'latin1'),
    value: Buffer.alloc(100, 0x76),
    flags: i,
    cas: BigInt(1_000_000 + i),
    exptime: NOW + 3600,
    lastAccess: NOW - 5,
    fetched: true,
  });
}

const base = { protocol: 'text' as const, quiet: false, opcode: 0, opaque: 0 };
const getReq = (withCas: boolean): GetRequest[] => items.map((it) => ({ ...base, cmd: 'get', key: it.key, withCas }));
const mgReq = (flags: string, opaque?: string): GetRequest[] =>
  items.map((it) => ({
    ...base,
    protocol: 'meta',
    cmd: 'get',
    key: it.key,
    withCas: false,
    meta: { ret: flags, opaqueToken: opaque === undefined ? undefined : Buffer.from(opaque), wireKey: it.key },
  }));
const storeReqs: StoreRequest[] = items.map((it) => ({
  ...base,
  cmd: 'store',
  mode: 'set',
  key: it.key,
  value: it.value,
  flags: 0,
  exptime: 0,
}));

const gets = getReq(false);
const getsCas = getReq(true);
const mgV = mgReq('v');
const mgAll = mgReq('svtcfkO', 'O123');

const w = new ResponseWriter();
let sink = 0;

/** Encode N replies, taking the writer's output every BATCH replies. */
function run(encodeOne: (i: number) => void): number {
  for (let i = 0; i < N; i++) {
    encodeOne(i & (DISTINCT - 1));
    if (i % BATCH === BATCH - 1) sink += w.take().length;
  }
  sink += w.take().length;
  return sink;
}

const perSecond = (r: CaseResult) => `${((r.ops * N) / 1e6).toFixed(2)}M replies/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'text/meta reply encoding, 1M replies per op, take() every 100',
  b.add('text get hit, 100-byte value', () => run((i) => textEncoder.get(w, gets[i]!, items[i]!)), { minSamples: 10 }),
  b.add('text gets hit (with CAS), 100-byte value', () => run((i) => textEncoder.get(w, getsCas[i]!, items[i]!)), { minSamples: 10 }),
  b.add('meta mg v hit (VA), 100-byte value', () => run((i) => metaEncoder.get(w, mgV[i]!, items[i]!)), { minSamples: 10 }),
  b.add('meta mg s v t c f k O hit, 100-byte value', () => run((i) => metaEncoder.get(w, mgAll[i]!, items[i]!)), { minSamples: 10 }),
  b.add('text STORED', () => run((i) => textEncoder.store(w, storeReqs[i]!, items[i]!)), { minSamples: 10 }),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
