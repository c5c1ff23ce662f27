import { InMemoryHandler } from '@cleave/handler-inmem';
import type { GetCommand, Handler, ItemView } from '@cleave/protocol';
import { listenAndServe, type Server } from '@cleave/server';

/** A cleave server on a free port, in this process. */
export async function startCleave(l1: Handler = new InMemoryHandler({ maxBytes: 64 << 20 })): Promise<{ server: Server; port: number }> {
  const server = await listenAndServe({ listen: { port: 0 }, handler: l1 });
  const a = server.addresses[0]!;
  if (!('port' in a)) throw new Error('expected a TCP listener');
  return { server, port: a.port };
}

export type Corruption = 'flip' | 'truncate' | 'generation';

/** Every `every`-th item a get returns is altered: one byte flipped, the last byte dropped, or the flags off by one. */
export class CorruptingHandler implements Handler {
  gets = 0;
  corrupted = 0;
  private readonly inner = new InMemoryHandler({ maxBytes: 64 << 20 });

  constructor(
    private readonly mode: Corruption,
    private readonly every = 1000,
  ) {}

  get(cmd: GetCommand): ItemView | undefined {
    const item = this.inner.get(cmd);
    if (item === undefined || item.value.length === 0) return item;
    if (++this.gets % this.every !== 0) return item;
    this.corrupted++;
    let value = Buffer.from(item.value);
    let flags = item.flags;
    if (this.mode === 'flip') value[(this.gets >>> 10) % value.length]! ^= 0x20;
    else if (this.mode === 'truncate') value = value.subarray(0, value.length - 1);
    else flags = (flags + 1) >>> 0;
    return { key: item.key, value, flags, cas: item.cas, exptime: item.exptime, lastAccess: item.lastAccess, fetched: item.fetched };
  }

  store: Handler['store'] = (cmd) => this.inner.store(cmd);
  delete: Handler['delete'] = (cmd) => this.inner.delete(cmd);
  arithmetic: Handler['arithmetic'] = (cmd) => this.inner.arithmetic(cmd);
  touch: Handler['touch'] = (cmd) => this.inner.touch(cmd);
  flush: Handler['flush'] = (delay) => this.inner.flush(delay);
  close: Handler['close'] = () => this.inner.close();
}
