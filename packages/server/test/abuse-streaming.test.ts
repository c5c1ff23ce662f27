/**
 * Replies that stream under the per-connection output budget: long
 * multi-gets run in slices, a connection stops running requests while its
 * unsent replies exceed `maxOutputBytes`, and replies still leave in request
 * order, byte for byte what memcached sends.
 */
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type GetCommand, type Handler, type ItemView } from '@cleave/protocol';
import { RawClient, normalizeText, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { listenAndServe, type Server, type ServerOptions } from '../src/index.js';
import { MULTI_GET_SLICE } from '../src/connection.js';

const started: Server[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close(500)));
});

async function serve(opts: Partial<ServerOptions> = {}): Promise<{ server: Server; port: number }> {
  const l1 = opts.handler ?? new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
  const server = await listenAndServe({ listen: { port: 0 }, ...opts, handler: l1 });
  started.push(server);
  const a = server.addresses[0]!;
  return { server, port: 'port' in a ? a.port : 0 };
}

/** Items k0..k199: k50, k100 and k150 of 100 KB, the others i bytes (k0 empty); k200.. are misses. */
function population(): string {
  let s = '';
  for (let i = 0; i < 200; i++) {
    const v = i % 50 === 0 && i > 0 ? 'v'.repeat(100 * 1024) : String(i % 10).repeat(i);
    s += `set k${i} ${i} 0 ${v.length}\r\n${v}\r\n`;
  }
  return s;
}

/** Keys for a multi-get of `n` keys: hits, misses and repeats mixed. */
function keys(n: number, seed: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`k${(i * 7 + seed) % 260}`);
  return out.join(' ');
}

/** Multi-gets around the slice size and far beyond it, with requests between them. */
function multiGets(): string {
  const sizes = [MULTI_GET_SLICE - 1, MULTI_GET_SLICE, MULTI_GET_SLICE + 1, 2 * MULTI_GET_SLICE, 2 * MULTI_GET_SLICE + 1, 3000];
  let s = '';
  sizes.forEach((n, i) => {
    s += `get ${keys(n, i)}\r\nget k5\r\n`;
  });
  // gat/gats lines stay under 2048 bytes: only get/gets lines may be longer (memcached closes on a
  // longer line that arrives without its newline; cleave closes on any).
  s += `gets ${keys(500, 9)}\r\ngat 1000 ${keys(300, 3)}\r\ngats 1000 ${keys(130, 1)}\r\n`;
  // A set right behind a long multi-get must not be seen by it: memcached runs requests in order.
  s += `get ${keys(1000, 5)}\r\nset k5 0 0 3\r\nnew\r\nget k5\r\n`;
  return s;
}

describe('long multi-gets stream the bytes memcached sends', () => {
  let memcached: MemcachedProcess;
  beforeAll(async () => {
    memcached = await startMemcached();
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  /** Load both servers, send the same stream on one connection each, compare the replies. */
  async function compare(port: number): Promise<void> {
    const run = async (p: number) => {
      const c = await RawClient.connect({ port: p });
      await c.exchange('flush_all\r\n');
      await c.exchange(population());
      const reply = await c.exchange(multiGets(), 'text', 30_000);
      c.close();
      return normalizeText(reply);
    };
    const [theirs, ours] = await Promise.all([run(memcached.port), run(port)]);
    // The stream holds 17 replies ending in END; the 100 KB values appear many times over.
    expect(theirs.match(/^END\r$/gm)).toHaveLength(17);
    expect(ours.length).toBe(theirs.length);
    expect(ours === theirs).toBe(true);
  }

  it('with the default output budget', async () => {
    const { port } = await serve();
    await compare(port);
  });

  it('with the smallest output budget, so every slice waits for the socket to drain', async () => {
    const { port } = await serve({ limits: { maxOutputBytes: 1 } });
    await compare(port);
  });
});

/** Wraps a handler so gets (and getMany, when `many`) answer through a Promise after `delay(keys)` ms. */
function asyncGets(inner: InMemoryHandler, delay: (keys: string[]) => number, many: boolean, calls?: { n: number }): Handler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'get') {
        return (cmd: GetCommand) => {
          if (calls) calls.n++;
          const it = target.get(cmd);
          return new Promise<ItemView | undefined>((resolve) => setTimeout(() => resolve(it), delay([cmd.key.toString()])));
        };
      }
      if (prop === 'getMany') {
        if (!many) return undefined;
        return (cmds: GetCommand[]) => {
          if (calls) calls.n += cmds.length;
          const items = target.getMany(cmds);
          return new Promise((resolve) => setTimeout(() => resolve(items), delay(cmds.map((c) => c.key.toString()))));
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

describe('long multi-gets through asynchronous handlers', () => {
  /** The reply of the in-memory handler answering synchronously: what every variant must send. */
  async function reference(): Promise<string> {
    const { port } = await serve();
    const c = await RawClient.connect({ port });
    await c.exchange(population());
    const r = (await c.exchange(multiGets(), 'text', 30_000)).toString('latin1');
    c.close();
    return r;
  }

  for (const many of [true, false]) {
    it(`answers the same bytes in request order (${many ? 'getMany' : 'one get per key'}, answers out of order)`, async () => {
      const expected = await reference();
      const inner = new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
      // Later keys answer sooner, so slices and gets settle out of order.
      const l1 = asyncGets(inner, (ks) => 1 + (Number(ks[0]!.slice(1)) % 4 === 0 ? 6 : 0), many);
      const { port } = await serve({ handler: l1, limits: { maxOutputBytes: 1 } });
      const c = await RawClient.connect({ port });
      await c.exchange(population());
      const got = (await c.exchange(multiGets(), 'text', 60_000)).toString('latin1');
      c.close();
      expect(got.length).toBe(expected.length);
      expect(got === expected).toBe(true);
    });
  }
});

describe('a handler failure partway through a long multi-get', () => {
  /** The in-memory handler, except that fetching `bad` fails (thrown, or as a rejected Promise). */
  function failingOn(bad: string, how: 'throw' | 'reject'): Handler {
    const inner = new InMemoryHandler({ maxBytes: 16 * 1024 * 1024 });
    const fail = (cmds: readonly GetCommand[]) => cmds.some((c) => c.key.toString() === bad);
    return new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'getMany') {
          return (cmds: GetCommand[]) => {
            if (!fail(cmds)) return how === 'throw' ? target.getMany(cmds) : Promise.resolve(target.getMany(cmds));
            if (how === 'throw') throw new HandlerError('backend down');
            return Promise.reject(new HandlerError('backend down'));
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
  }

  for (const how of ['throw', 'reject'] as const) {
    it(`(${how}) ends the reply with SERVER_ERROR after the hits already sent; later slices do not run`, async () => {
      const l1 = failingOn('k150', how);
      const { port } = await serve({ handler: l1 });
      const c = await RawClient.connect({ port });
      let set = '';
      for (let i = 0; i < 200; i++) set += `set k${i} 0 0 ${String(i).length}\r\n${i}\r\n`;
      await c.exchange(set);
      const all: string[] = [];
      for (let i = 0; i < 200; i++) all.push(`k${i}`);
      const reply = (await c.exchange(`get ${all.join(' ')}\r\nget k1\r\nget k1 k150 k2\r\n`)).toString();
      // Slices before the failing one were answered; the slice holding k150 and every later one were not.
      const failedSlice = Math.floor(150 / MULTI_GET_SLICE);
      let expected = '';
      for (let i = 0; i < failedSlice * MULTI_GET_SLICE; i++) expected += `VALUE k${i} 0 ${String(i).length}\r\n${i}\r\n`;
      expected += 'SERVER_ERROR backend down\r\n';
      expected += 'VALUE k1 0 1\r\n1\r\nEND\r\n';
      // A multi-get of one slice fails whole, as before.
      expected += 'SERVER_ERROR backend down\r\n';
      expect(reply).toBe(expected);
      c.close();
    });
  }
});

describe('the output budget holds back work, not just bytes', () => {
  const VALUE = 100 * 1024;

  it('stops calling the handler for a client that does not read', async () => {
    const calls = { n: 0 };
    const inner = new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
    const l1 = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'get') return (cmd: GetCommand) => (calls.n++, target.get(cmd));
        return Reflect.get(target, prop, receiver);
      },
    });
    const { port, server } = await serve({ handler: l1 });
    const setter = await RawClient.connect({ port });
    await setter.request(`set big 0 0 ${VALUE}\r\n${'x'.repeat(VALUE)}\r\n`, 'STORED\r\n');
    setter.close();
    const s = net.connect(port, '127.0.0.1');
    s.pause();
    await new Promise((r) => s.once('connect', r));
    // 20 000 gets = 2 GB of replies, in one write of 180 KB.
    s.write('get big\r\n'.repeat(20_000));
    await new Promise((r) => setTimeout(r, 600));
    const first = calls.n;
    await new Promise((r) => setTimeout(r, 300));
    // The server ran what fits in the budget plus the kernel's socket buffers, then stopped.
    expect(calls.n).toBe(first);
    const kernel = 32 * 1024 * 1024;
    expect(first * VALUE).toBeLessThan(4 * 1024 * 1024 + kernel);
    expect(first).toBeLessThan(20_000);
    expect(server.counters.bytesWritten).toBeLessThan(4 * 1024 * 1024 + kernel + VALUE);
    s.destroy();
  });

  it('a long multi-get through an asynchronous handler, for a client that does not read, stops at the budget', async () => {
    const calls = { n: 0 };
    const inner = new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
    const { port, server } = await serve({ handler: asyncGets(inner, () => 1, true, calls) });
    const setter = await RawClient.connect({ port });
    await setter.request(`set big 0 0 ${VALUE}\r\n${'x'.repeat(VALUE)}\r\n`, 'STORED\r\n');
    setter.close();
    const s = net.connect(port, '127.0.0.1');
    s.pause();
    await new Promise((r) => s.once('connect', r));
    // 20 000 hits of 100 KB: 2 GB of reply.
    s.write(`get ${'big '.repeat(20_000)}\r\n`);
    await new Promise((r) => setTimeout(r, 800));
    const first = calls.n;
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.n).toBe(first);
    // Slices of 64 keys ran until the budget and the kernel's buffers were full; the rest never did.
    const kernel = 32 * 1024 * 1024;
    expect(first).toBeGreaterThanOrEqual(MULTI_GET_SLICE);
    expect(first * VALUE).toBeLessThan(4 * 1024 * 1024 + kernel + MULTI_GET_SLICE * VALUE);
    expect(server.counters.bytesWritten).toBeLessThan(4 * 1024 * 1024 + kernel + MULTI_GET_SLICE * VALUE);
    s.destroy();
  });

  it('counts replies that wait behind a slow one, and runs nothing more until they go', async () => {
    const calls = { n: 0 };
    const inner = new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
    // `slow` answers after 400 ms, everything else at once: 100 KB replies pile up behind it.
    const l1 = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'get') {
          return (cmd: GetCommand) => {
            calls.n++;
            const it = target.get(cmd);
            return cmd.key.toString() === 'slow' ? new Promise((r) => setTimeout(() => r(it), 400)) : it;
          };
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const { port } = await serve({ handler: l1, limits: { maxOutputBytes: 1024 * 1024 } });
    const c = await RawClient.connect({ port });
    await c.request(`set big 0 0 ${VALUE}\r\n${'x'.repeat(VALUE)}\r\nset slow 0 0 1\r\ns\r\n`, 'STORED\r\nSTORED\r\n');
    calls.n = 0;
    c.write(`get slow\r\n${'get big\r\n'.repeat(100)}`);
    await new Promise((r) => setTimeout(r, 200));
    // While `slow` is pending: 1 MiB of finished replies waits behind it (10 or 11 of them), no more.
    expect(calls.n).toBeGreaterThan(5);
    expect(calls.n).toBeLessThanOrEqual(1 + Math.ceil((1024 * 1024) / VALUE) + 1);
    // Then everything is answered, in order.
    const one = `VALUE big 0 ${VALUE}\r\n${'x'.repeat(VALUE)}\r\nEND\r\n`;
    const total = 'VALUE slow 0 1\r\ns\r\nEND\r\n'.length + 100 * one.length;
    await c.waitFor((b) => b.length >= total, 20_000);
    const got = c.received;
    expect(got.length).toBe(total);
    expect(got.subarray(0, 22).toString()).toBe('VALUE slow 0 1\r\ns\r\nEND');
    expect(got.subarray(got.length - one.length).toString()).toBe(one);
    expect(calls.n).toBe(101);
    c.close();
  });
});
