// The per-connection loop on top of the pipeline bench: one 64 KB read of pipelined requests goes
// through Connection (parse, run in order under the output budget, encode, one write) against a
// stand-in socket that accepts every write at once. L1Only over the in-memory handler, 10k keys with
// 100-byte values prepopulated; 90% get / 10% set, plus a read of 100-key multi-gets.
// Run: cd packages/server && npx tsx ../../scripts/run-bench.ts connection
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { Connection } from '../src/connection.js';
import { DEFAULT_SERVER_LIMITS } from '../src/options.js';
import { newCounters } from '../src/stats.js';

import { ctx, handler, read } from './workload.js';

/** A socket that takes every write synchronously and never pushes back. */
class SinkSocket extends EventEmitter {
  written = 0;
  writableLength = 0;
  writableHighWaterMark = 16 * 1024;
  setNoDelay() {}
  setTimeout() {}
  cork() {}
  uncork() {}
  pause() {}
  resume() {}
  end() {}
  destroy() {}
  write(b: Buffer): boolean {
    this.written += b.length;
    return true;
  }
}

function connection(): SinkSocket {
  const socket = new SinkSocket();
  new Connection(
    0,
    'tcp:127.0.0.1:11211',
    socket as unknown as Socket,
    handler,
    ctx,
    DEFAULT_SERVER_LIMITS,
    newCounters(),
    (e: unknown) => {
      throw e;
    },
  );
  return socket;
}

const reads = { text: read('text'), binary: read('binary'), mget: read('mget') };
const sockets = { text: connection(), binary: connection(), mget: connection() };
const perSecond = (r: CaseResult, n: number) =>
  `${((r.ops * n) / 1e6).toFixed(2)}M ${r.name.startsWith('mget') ? 'keys' : 'requests'}/s (±${r.margin.toFixed(1)}%)`;
const countOf = (name: string) => (name.startsWith('mget') ? 100 : 1) * reads[name.split(',')[0] as keyof typeof reads].count;

await b.suite(
  'connection loop with a socket that never pushes back (one 64 KB read per op)',
  b.add(`text, ${reads.text.count} requests (90% get / 10% set)`, () => void sockets.text.emit('data', reads.text.chunk)),
  b.add(`binary, ${reads.binary.count} requests (90% GetK / 10% Set)`, () => void sockets.binary.emit('data', reads.binary.chunk)),
  b.add(`mget, ${reads.mget.count} multi-gets of 100 keys`, () => void sockets.mget.emit('data', reads.mget.chunk)),
  b.cycle((r: CaseResult) => `${r.name}: ${perSecond(r, countOf(r.name))}`),
  b.complete(),
);
