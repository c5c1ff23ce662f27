// The server's per-request work without the socket: parse a read's worth of pipelined requests, run
// each on the handler (the in-memory handler), encode the replies into one batch.
// 10k keys prepopulated with 100-byte values; each op handles one 64 KB read of requests.
// Run: cd packages/server && npx tsx ../../scripts/run-bench.ts pipeline
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { BinaryParser, ResponseWriter, TextParser, binaryEncoder, textEncoder, type Request, type RequestParser } from '@cleave/protocol';
import { encodeOutcome, runRequest } from '../src/execute.js';

import { ctx, handler, read } from './workload.js';

const text = read('text');
const binary = read('binary');
const writer = new ResponseWriter();
const reqs: Request[] = [];

function serve(parser: RequestParser, chunk: Buffer, expected: number): void {
  parser.feed(chunk, reqs);
  if (reqs.length !== expected) throw new Error(`parsed ${reqs.length}, expected ${expected}`);
  for (const req of reqs)
    encodeOutcome(req.protocol === 'binary' ? binaryEncoder : textEncoder, writer, req, runRequest(handler, req), ctx, 0);
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
