// Binary protocol throughput, one thread:
//  - parse 1M pipelined Get requests fed in 64 KB chunks (packets straddle chunk edges)
//  - parse 1M pipelined Set requests with 100-byte values, 64 KB chunks
//  - encode 1M Get hit replies (100-byte values) into a ResponseWriter, taken every 1000 replies
// Each benny op processes the whole million; requests/s = ops/s x 1M.
// Run: cd packages/protocol && npx tsx ../../scripts/run-bench.ts binary
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { BinaryParser } from '../src/binary/parser.js';
import { binaryEncoder } from '../src/binary/encoder.js';
import { encodeBinaryRequest } from '../src/binary/request-encoder.js';
import { BinaryOpcode as Op } from '../src/binary/constants.js';
import type { GetRequest, ItemView, Request, StoreRequest } from '../src/model.js';
import { ResponseWriter } from '../src/writer.js';

const N = 1_000_000;
const CHUNK = 64 * 1024;

const keyOf = (i: number) => Buffer.from(`key:${String(i % 100_000).padStart(6, '0')}`);

function stream(make: (i: number) => Request): Buffer[] {
  const packets: Buffer[] = [];
  for (let i = 0; i < N; i++) packets.push(encodeBinaryRequest(make(i)));
  const all = Buffer.concat(packets);
  const chunks: Buffer[] = [];
  for (let p = 0; p < all.length; p += CHUNK) chunks.push(all.subarray(p, p + CHUNK));
  return chunks;
}

const base = { protocol: 'binary' as const, quiet: false, opaque: 0 };
const getChunks = stream((i): GetRequest => ({ ...base, opcode: Op.GETKQ, opaque: i, cmd: 'get', key: keyOf(i), withCas: false }));
const value = Buffer.alloc(100, 0x61);
const setChunks = stream(
  (i): StoreRequest => ({
    ...base,
    opcode: Op.SETQ,
    quiet: true,
    opaque: i,
    cmd: 'store',
    mode: 'set',
    key: keyOf(i),
    value,
    flags: 0,
    exptime: 0,
  }),
);

function parseAll(chunks: Buffer[]): number {
  const parser = new BinaryParser();
  const out: Request[] = [];
  let n = 0;
  for (const c of chunks) {
    parser.feed(c, out);
    n += out.length;
    out.length = 0;
  }
  if (n !== N) throw new Error(`parsed ${n} requests, expected ${N}`);
  return n;
}

const getReq: GetRequest = { ...base, opcode: Op.GETK, cmd: 'get', key: keyOf(1), withCas: false };
const hit: ItemView = { key: keyOf(1), value, flags: 0, cas: 123456n, exptime: 0, lastAccess: 0, fetched: true };
const writer = new ResponseWriter();

function encodeAll(): number {
  let bytes = 0;
  for (let i = 0; i < N; i += 1000) {
    for (let j = 0; j < 1000; j++) binaryEncoder.get(writer, getReq, hit);
    for (const c of writer.take()) bytes += c.length;
  }
  return bytes;
}

const perSecond = (r: CaseResult) => `${((r.ops * N) / 1e6).toFixed(2)}M requests/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'binary protocol, 1M requests per op',
  b.add('parse Get (GetKQ), 64 KB chunks', () => parseAll(getChunks), { minSamples: 10 }),
  b.add('parse Set (SetQ) with 100-byte values, 64 KB chunks', () => parseAll(setChunks), { minSamples: 10 }),
  b.add('encode Get hit replies (GetK, 100-byte values)', () => encodeAll(), { minSamples: 10 }),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
