import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type GetCommand, type Handler, type ItemView } from '@cleave/protocol';
import { RawClient, binaryPacket } from '@cleave/testkit';
import { listenAndServe, type Server, type ServerOptions } from '../src/index.js';

const started: Server[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(started.splice(0).map((s) => s.close(500)));
});

async function serve(opts: Partial<ServerOptions> = {}): Promise<{ server: Server; port: number; l1: Handler }> {
  const l1 = opts.handler ?? new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
  const server = await listenAndServe({ listen: { port: 0 }, ...opts, handler: l1 });
  started.push(server);
  const a = server.addresses[0]!;
  return { server, port: 'port' in a ? a.port : 0, l1 };
}

/** Wraps a handler so every get answers through a Promise after `delay(key)` ms. */
function delayedGets(inner: Handler, delay: (key: string) => number): Handler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get') {
        return (cmd: GetCommand) =>
          new Promise<ItemView | undefined>((resolve, reject) => {
            setTimeout(() => {
              try {
                resolve(target.get(cmd) as ItemView | undefined);
              } catch (e) {
                reject(e);
              }
            }, delay(cmd.key.toString()));
          });
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

describe('per-connection pipeline', () => {
  it('keeps replies in request order when an asynchronous handler answers out of order', async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    const { port } = await serve({ handler: delayedGets(inner, (k) => (k.endsWith('0') ? 30 : Number(k.slice(1)) % 7)) });
    const c = await RawClient.connect({ port });
    let req = '';
    let expected = '';
    for (let i = 0; i < 40; i++) {
      req += `set k${i} 0 0 ${String(i).length}\r\n${i}\r\nget k${i}\r\n`;
      expected += `STORED\r\nVALUE k${i} 0 ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    const reply = await c.request(req, `VALUE k39 0 2\r\n39\r\nEND\r\n`);
    expect(reply.toString()).toBe(expected);
    c.close();
  });

  it('sends every reply produced by one read in a single socket write', async () => {
    const { port } = await serve();
    const c = await RawClient.connect({ port });
    await c.request('set a 0 0 5\r\nhello\r\n', 'STORED\r\n');
    const write = vi.spyOn(net.Socket.prototype, 'write');
    const reply = await c.request('get a\r\n'.repeat(200), 'END\r\n'.repeat(1));
    await c.waitFor((b) => b.length + reply.length >= 200 * 'VALUE a 0 5\r\nhello\r\nEND\r\n'.length);
    const serverWrites = write.mock.contexts.filter((s) => (s as net.Socket).localPort === port);
    expect(serverWrites.length).toBe(1);
    c.close();
  });

  it("runs one read's requests inside one call of the handler's runBatch", async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    // Per runBatch call: the commands the handler was given inside it.
    const batches: string[][] = [];
    let open: string[] | undefined;
    const handler: Handler = Object.assign(Object.create(inner) as Handler, {
      get(cmd: GetCommand) {
        open?.push(`get ${cmd.key.toString('latin1')}`);
        return inner.get(cmd);
      },
      runBatch<T>(body: () => T): T {
        open = [];
        batches.push(open);
        try {
          return body();
        } finally {
          open = undefined;
        }
      },
    });
    const { port } = await serve({ handler });
    const c = await RawClient.connect({ port });
    await c.request('get a\r\nget b\r\nget c\r\n', 'END\r\nEND\r\nEND\r\n');
    expect(batches).toEqual([['get a', 'get b', 'get c']]);
    c.close();
  });

  it("writes to the socket only outside runBatch, also when one read's replies pass the output budget", async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    let inBatch = false;
    const handler: Handler = Object.assign(Object.create(inner) as Handler, {
      runBatch<T>(body: () => T): T {
        inBatch = true;
        try {
          return body();
        } finally {
          inBatch = false;
        }
      },
    });
    const { port } = await serve({ handler, limits: { maxOutputBytes: 64 * 1024 } });
    const c = await RawClient.connect({ port });
    const value = 'v'.repeat(10_000);
    await c.request(`set a 0 0 ${value.length}\r\n${value}\r\n`, 'STORED\r\n');
    const inside: boolean[] = [];
    const original = net.Socket.prototype.write;
    const spy = vi.spyOn(net.Socket.prototype, 'write').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
      if (this.localPort === port) inside.push(inBatch);
      return (original as (...a: unknown[]) => boolean).apply(this, args);
    });
    // 50 gets and a multi-get of 100 keys (run in slices) in one read: about 1.5 MB of replies.
    const one = `VALUE a 0 ${value.length}\r\n${value}\r\n`;
    const expected = 50 * (one.length + 5) + 100 * one.length + 5;
    c.write('get a\r\n'.repeat(50) + `get ${'a '.repeat(100)}\r\n`);
    expect(await c.waitFor((b) => b.length >= expected, 10_000)).toBe(true);
    spy.mockRestore();
    expect(inside.length).toBeGreaterThan(2);
    expect(inside.filter(Boolean)).toEqual([]);
    c.close();
  });

  it('stops reading from a client that does not read its replies', async () => {
    const { port, server } = await serve();
    const setter = await RawClient.connect({ port });
    const big = 'x'.repeat(256 * 1024);
    await setter.request(`set big 0 0 ${big.length}\r\n${big}\r\n`, 'STORED\r\n');
    setter.close();
    // A raw socket that writes requests for ~100 GB of replies and never reads.
    const s = net.connect(port, '127.0.0.1');
    s.pause();
    await new Promise((r) => s.once('connect', r));
    const line = Buffer.from('get big\r\n'.repeat(1000));
    const readBefore = server.counters.bytesRead;
    for (let i = 0; i < 400; i++) s.write(line);
    await new Promise((r) => setTimeout(r, 500));
    // The server read a small part of the 3.6 MB of requests: it paused once its socket buffer filled.
    expect(server.counters.bytesRead - readBefore).toBeLessThan(1024 * 1024);
    const rssBefore = process.memoryUsage().rss;
    await new Promise((r) => setTimeout(r, 300));
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(64 * 1024 * 1024);
    // Another client is served normally meanwhile.
    const other = await RawClient.connect({ port });
    expect((await other.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION /);
    other.close();
    s.destroy();
  });

  it('answers a throwing handler with SERVER_ERROR and keeps the connection', async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    const l1 = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'touch') {
          return () => {
            throw new HandlerError('backend unavailable');
          };
        }
        if (prop === 'delete') return () => Promise.reject(new HandlerError('timed out'));
        return Reflect.get(target, prop, receiver);
      },
    });
    const { port } = await serve({ handler: l1 });
    const c = await RawClient.connect({ port });
    c.write('touch a 1\r\ndelete a\r\nversion\r\n');
    await c.waitFor((b) => /VERSION [^\r]*\r\n$/.test(b.toString()));
    expect(c.received.toString()).toMatch(/^SERVER_ERROR backend unavailable\r\nSERVER_ERROR timed out\r\nVERSION /);
    c.close();
  });

  it('quit closes the connection after flushing earlier replies', async () => {
    const { port } = await serve();
    const c = await RawClient.connect({ port });
    c.write('set a 0 0 1\r\nx\r\nget a\r\nquit\r\nget a\r\n');
    await c.waitFor(() => c.closed, 2000);
    expect(c.closed).toBe(true);
    expect(c.received.toString()).toBe('STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n');
  });

  it('a client that half-closes after its requests still gets every reply, then the close', async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    const { port } = await serve({ handler: delayedGets(inner, () => 20) });
    const received: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
        // Like `printf ... | nc`: write everything, then shut down the sending side.
        s.end('set a 0 0 1\r\nx\r\nget a\r\nget b\r\n');
      });
      s.on('data', (d: Buffer) => received.push(d));
      s.on('error', reject);
      s.on('close', () => resolve());
    });
    expect(Buffer.concat(received).toString()).toBe('STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n');
  });

  it('binary: quiet commands answer only on error, Noop flushes', async () => {
    const { port } = await serve();
    const c = await RawClient.connect({ port });
    const setq = binaryPacket({ opcode: 0x11, key: 'a', value: 'v', extras: Buffer.alloc(8), opaque: 1 });
    const addq = binaryPacket({ opcode: 0x12, key: 'a', value: 'v', extras: Buffer.alloc(8), opaque: 2 });
    const noop = binaryPacket({ opcode: 0x0a, opaque: 3 });
    c.write(Buffer.concat([setq, addq, noop]));
    await c.waitFor((b) => b.length >= 48);
    const r = await c.drain();
    expect(r.length).toBeGreaterThanOrEqual(48);
    // First reply: AddQ failed with "exists" (0x0002), opaque 2; then the Noop, opaque 3.
    expect(r[1]).toBe(0x12);
    expect(r.readUInt16BE(6)).toBe(0x0002);
    expect(r.readUInt32BE(12)).toBe(2);
    const second = r.subarray(24 + r.readUInt32BE(8));
    expect(second[1]).toBe(0x0a);
    expect(second.readUInt32BE(12)).toBe(3);
    c.close();
  });
});

describe('limits', () => {
  it("refuses connections over maxConnections with memcached's reply", async () => {
    const { port, server } = await serve({ limits: { maxConnections: 2 } });
    const a = await RawClient.connect({ port });
    const b = await RawClient.connect({ port });
    await a.request('version\r\n', '\r\n');
    await b.request('version\r\n', '\r\n');
    const c = await RawClient.connect({ port });
    await c.waitFor(() => c.closed);
    expect(c.received.toString()).toBe('ERROR Too many open connections\r\n');
    expect(server.counters.rejectedConnections).toBe(1);
    a.close();
    b.close();
  });

  it('closes idle connections after idleTimeoutMs', async () => {
    const { port, server } = await serve({ limits: { idleTimeoutMs: 150 } });
    const c = await RawClient.connect({ port });
    await c.request('version\r\n', '\r\n');
    const t0 = Date.now();
    await c.waitFor(() => c.closed, 3000);
    expect(c.closed).toBe(true);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(server.counters.idleKicks).toBe(1);
  });

  it('enforces the configured item size', async () => {
    const { port } = await serve({ limits: { maxItemSize: 1024 } });
    const c = await RawClient.connect({ port });
    const reply = await c.request(`set a 0 0 1025\r\n${'x'.repeat(1025)}\r\nset b 0 0 1024\r\n${'y'.repeat(1024)}\r\n`, 'STORED\r\n');
    expect(reply.toString()).toBe('SERVER_ERROR object too large for cache\r\nSTORED\r\n');
    c.close();
  });
});

describe('listeners and lifecycle', () => {
  it('serves a unix socket and a TCP port at once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cleave-srv-'));
    const path = join(dir, 's.sock');
    try {
      const server = await listenAndServe({
        listen: [{ path }, { port: 0 }],
        handler: new InMemoryHandler({ maxBytes: 1 << 24 }),
      });
      started.push(server);
      expect(server.addresses[0]).toEqual({ path });
      const viaUnix = await RawClient.connect({ path });
      await viaUnix.request('set a 0 0 1\r\nu\r\n', 'STORED\r\n');
      const viaTcp = await RawClient.connect({ port: (server.addresses[1] as { port: number }).port });
      expect((await viaTcp.request('get a\r\n', 'END\r\n')).toString()).toBe('VALUE a 0 1\r\nu\r\nEND\r\n');
      viaUnix.close();
      viaTcp.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('close() finishes requests already read, then closes connections and handlers', async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    const closeSpy = vi.spyOn(inner, 'close');
    const { port, server } = await serve({ handler: delayedGets(inner, () => 100) });
    const c = await RawClient.connect({ port });
    await c.request('set a 0 0 1\r\nx\r\n', 'STORED\r\n');
    c.write('get a\r\nget a\r\n');
    await new Promise((r) => setTimeout(r, 20));
    await server.close();
    expect(c.received.toString()).toBe('VALUE a 0 1\r\nx\r\nEND\r\n'.repeat(2));
    await c.waitFor(() => c.closed);
    expect(c.closed).toBe(true);
    expect(closeSpy).toHaveBeenCalledTimes(1);
    await expect(RawClient.connect({ port })).rejects.toThrow();
  });

  it('stats reports server and storage figures', async () => {
    const { port } = await serve();
    const c = await RawClient.connect({ port });
    await c.request('set a 0 0 1\r\nx\r\nget a\r\nget b\r\n', 'END\r\nEND\r\n');
    const stats = (await c.request('stats\r\n', 'END\r\n')).toString();
    const stat = (name: string) => new RegExp(`^STAT ${name} (.*)\\r$`, 'm').exec(stats)?.[1];
    expect(stat('pid')).toBe(String(process.pid));
    expect(stat('curr_connections')).toBe('1');
    expect(stat('get_hits')).toBe('1');
    expect(stat('get_misses')).toBe('1');
    expect(stat('curr_items')).toBe('1');
    expect(stat('cmd_set')).toBe('1');
    const settings = (await c.request('stats settings\r\n', 'END\r\n')).toString();
    expect(settings).toMatch(/^STAT maxconns 1024\r$/m);
    expect(settings).toMatch(/^STAT item_size_max 1048576\r$/m);
    const items = (await c.request('stats items\r\n', 'END\r\n')).toString();
    expect(items).toMatch(/^STAT items:\d+:number 1\r$/m);
    c.close();
  });
});
