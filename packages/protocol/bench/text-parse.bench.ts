// Text/meta request parsing throughput, one thread:
//  - 1M pipelined `get key:NNNNNN\r\n` fed in 64 KB chunks (lines straddle chunk edges)
//  - 1M pipelined text sets with 100-byte values, 64 KB chunks
//  - 1M pipelined meta `mg key:NNNNNN v\r\n`, 64 KB chunks
// Each benny op parses the whole million; requests/s = ops/s x 1M.
// Run: cd packages/protocol && npx tsx ../../scripts/run-bench.ts text-parse
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import type { Request } from '../src/model.js';
import { TextParser } from '../src/text/parser.js';

const N = 1_000_000;
const CHUNK = 64 * 1024;

const keyOf = (i: number) => `key:${String(i % 1_000_000).padStart(6, '0')}`;
const value = 'v'.repeat(100);

function stream(line: (i: number) => string): Buffer[] {
  const parts: string[] = [];
  for (let i = 0; i < N; i++) parts.push(line(i));
  const all = Buffer.from(parts.join(''), 'latin1');
  const chunks: Buffer[] = [];
  // Copy each chunk so it is its own allocation, as socket reads are.
  for (let p = 0; p < all.length; p += CHUNK) chunks.push(Buffer.from(all.subarray(p, p + CHUNK)));
  return chunks;
}

const getChunks = stream((i) => `get ${keyOf(i)}\r\n`);
const setChunks = stream((i) => `set ${keyOf(i)} 0 0 100\r\n${value}\r\n`);
const mgChunks = stream((i) => `mg ${keyOf(i)} v\r\n`);

function parseAll(chunks: Buffer[]): number {
  const parser = new TextParser();
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

const perSecond = (r: CaseResult) => `${((r.ops * N) / 1e6).toFixed(2)}M requests/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'text protocol parsing, 1M requests per op',
  b.add('parse text get, 64 KB chunks', () => parseAll(getChunks), { minSamples: 10 }),
  b.add('parse text set with 100-byte values, 64 KB chunks', () => parseAll(setChunks), { minSamples: 10 }),
  b.add('parse meta mg <key> v, 64 KB chunks', () => parseAll(mgChunks), { minSamples: 10 }),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r)}`),
  b.complete(),
);
