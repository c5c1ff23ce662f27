// The server's per-request work without the socket: parse a read's worth of pipelined requests, run
// each on the orchestrator (L1Only over the in-memory handler), encode the replies into one batch.
// 10k keys prepopulated with 100-byte values; each op handles one 64 KB read of requests.
// Run: cd packages/server && npx tsx ../../scripts/run-bench.ts pipeline
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1Only } from '@cleave/orchestrator';
import { BinaryParser, ResponseWriter, TextParser, binaryEncoder, textEncoder, encodeBinaryRequest, type Request, type RequestParser } from '@cleave/protocol';
import { encodeOutcome, runRequest, type ServerContext } from '../src/execute.js';

const KEYS = 10_000;
const keyOf = (i: number) => `key:${String(i % KEYS).padStart(8, '0')}`;
const value = Buffer.alloc(100, 'v');
const orch = l1Only(new InMemoryHandler({ maxBytes: 64 << 20 }));
for (let i = 0; i < KEYS; i++) orch.store({ mode: 'set', key: Buffer.from(keyOf(i)), value, flags: 0, exptime: 0 });
const ctx: ServerContext = { version: '1.6.18', stats: () => [] };

/** One 64 KB read: 90% gets, 10% sets, whole requests only. */
function read(binary: boolean): { chunk: Buffer; count: number } {
  const parts: Buffer[] = [];
  let size = 0;
  let i = 0;
  while (size < 60 * 1024) {
    const key = Buffer.from(keyOf(i * 7919));
    const isSet = i % 10 === 9;
    let bytes: Buffer;
    if (binary) {
      const base = { protocol: 'binary' as const, quiet: false, opaque: i, key };
      bytes = isSet
        ? encodeBinaryRequest({ ...base, opcode: 0x01, cmd: 'store', mode: 'set', value, flags: 0, exptime: 0 })
        : encodeBinaryRequest({ ...base, opcode: 0x0c, cmd: 'get', withCas: false });
    } else {
      bytes = Buffer.from(isSet ? `set ${key} 0 0 100\r\n${value}\r\n` : `get ${key}\r\n`, 'latin1');
    }
    parts.push(bytes);
    size += bytes.length;
    i++;
  }
  return { chunk: Buffer.concat(parts), count: i };
}

const text = read(false);
const binary = read(true);
const writer = new ResponseWriter();
const reqs: Request[] = [];

function serve(parser: RequestParser, chunk: Buffer, expected: number): void {
  parser.feed(chunk, reqs);
  if (reqs.length !== expected) throw new Error(`parsed ${reqs.length}, expected ${expected}`);
  for (const req of reqs) encodeOutcome(req.protocol === 'binary' ? binaryEncoder : textEncoder, writer, req, runRequest(orch, req), ctx);
  reqs.length = 0;
  writer.take();
}

const perSecond = (r: CaseResult, n: number) => `${((r.ops * n) / 1e6).toFixed(2)}M requests/s (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'server pipeline without the socket: parse, run on L1Only + in-memory, encode (one 64 KB read per op)',
  b.add(`text, ${text.count} requests (90% get / 10% set)`, () => serve(new TextParser(), text.chunk, text.count)),
  b.add(`binary, ${binary.count} requests (90% GetK / 10% Set)`, () => serve(new BinaryParser(), binary.chunk, binary.count)),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r, r.name.startsWith('text') ? text.count : binary.count)}`),
  b.complete(),
);
