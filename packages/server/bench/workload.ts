// What the server benches share: an in-memory handler with 10k keys of 100-byte values,
// and 64 KB reads of pipelined requests (90% get / 10% set, or 100-key multi-gets).
import { InMemoryHandler } from '@cleave/handler-inmem';
import { encodeBinaryRequest } from '@cleave/protocol';
import { PrefixStats } from '../src/detail.js';
import type { ServerContext } from '../src/execute.js';
import { ServerMetrics } from '../src/metrics.js';

const KEYS = 10_000;
const keyOf = (i: number) => `key:${String(i % KEYS).padStart(8, '0')}`;
const value = Buffer.alloc(100, 'v');

export const handler = new InMemoryHandler({ maxBytes: 64 << 20 });
for (let i = 0; i < KEYS; i++) handler.store({ mode: 'set', key: Buffer.from(keyOf(i)), value, flags: 0, exptime: 0 });

export const ctx: ServerContext = {
  version: '1.6.18',
  stats: () => [],
  verbosity: () => {},
  metrics: new ServerMetrics(false),
  detail: new PrefixStats(),
  clock: { now: 0 },
};

/** One 64 KB read of whole requests: text or binary gets and sets, or text 100-key multi-gets. */
export function read(kind: 'text' | 'binary' | 'mget'): { chunk: Buffer; count: number } {
  const parts: Buffer[] = [];
  let size = 0;
  let i = 0;
  while (size < 60 * 1024) {
    const key = Buffer.from(keyOf(i * 7919));
    const isSet = i % 10 === 9;
    let bytes: Buffer;
    if (kind === 'binary') {
      const base = { protocol: 'binary' as const, quiet: false, opaque: i, key };
      bytes = isSet
        ? encodeBinaryRequest({ ...base, opcode: 0x01, cmd: 'store', mode: 'set', value, flags: 0, exptime: 0 })
        : encodeBinaryRequest({ ...base, opcode: 0x0c, cmd: 'get', withCas: false });
    } else if (kind === 'mget') {
      const keys: string[] = [];
      for (let k = 0; k < 100; k++) keys.push(keyOf(i * 100 + k));
      bytes = Buffer.from(`get ${keys.join(' ')}\r\n`, 'latin1');
    } else {
      bytes = Buffer.from(isSet ? `set ${key} 0 0 100\r\n${value}\r\n` : `get ${key}\r\n`, 'latin1');
    }
    parts.push(bytes);
    size += bytes.length;
    i++;
  }
  return { chunk: Buffer.concat(parts), count: i };
}
