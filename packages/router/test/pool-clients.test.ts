/**
 * Real npm clients against a pool of 4 real memcached (two over TCP, two over
 * unix sockets) behind a server: memjs speaks the binary protocol, memcached
 * (npm) the text protocol; neither is changed or configured for us. Their keys
 * spread over every server, each landing where the pool places it (asked of
 * the memcached processes directly).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import memjs from 'memjs';
import Memcached from 'memcached';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe, type Server } from '@cleave/server';
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { ringName } from '../src/placement.js';
import { pool, type Pool } from '../src/pool.js';

let procs: MemcachedProcess[];
let server: Server;
let p: Pool;
let port: number;

beforeAll(async () => {
  procs = await Promise.all([
    startMemcached(),
    startMemcached({ unixSocket: true }),
    startMemcached(),
    startMemcached({ unixSocket: true }),
  ]);
  p = pool({
    servers: procs.map((m) =>
      m.socketPath !== undefined
        ? { handler: new MemcachedHandler({ address: { path: m.socketPath } }), name: ringName(m.socketPath, undefined) }
        : { handler: new MemcachedHandler({ address: { host: m.host, port: m.port } }), name: ringName(m.host, m.port) },
    ),
  });
  server = await listenAndServe({ listen: { port: 0 }, handler: p });
  port = (server.addresses[0] as { port: number }).port;
});

afterAll(async () => {
  await server?.close();
  for (const m of procs ?? []) await m.stop();
});

/** Keys `prefix0`, `prefix1`, ... until each server has `per` of them. */
function spread(prefix: string, per: number): string[] {
  const count = new Array<number>(p.members.length).fill(0);
  const keys: string[] = [];
  for (let i = 0; keys.length < per * p.members.length; i++) {
    const k = `${prefix}${i}`;
    const at = p.members.indexOf(p.serverFor(Buffer.from(k))!);
    if (count[at]! < per) {
      count[at]!++;
      keys.push(k);
    }
  }
  return keys;
}

/** `mg <key> <flags>` asked of the memcached that the pool places `key` on: the reply's first line. */
async function atOwner(key: string, flags: string): Promise<string> {
  const m = procs[p.members.indexOf(p.serverFor(Buffer.from(key))!)]!;
  const c = await RawClient.connect(m.socketPath !== undefined ? { path: m.socketPath } : { port: m.port });
  try {
    return (await c.exchange(`mg ${key} ${flags}\r\n`)).toString('latin1').split('\r\n')[0]!;
  } finally {
    c.close();
  }
}

describe('memjs (binary protocol) through the pool', () => {
  let client: memjs.Client;
  beforeAll(() => {
    client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 2, logger: { log: () => {} } });
  });
  afterAll(() => client.close());

  it('sets and gets across every server, pipelined on one connection', async () => {
    const keys = spread('mj', 4);
    const ok = await Promise.all(keys.map((k, i) => client.set(k, `value-${i}`, { expires: 0 })));
    expect(ok.every((x) => x === true)).toBe(true);
    // Every get in flight at once, answered out of several servers, each matched to its own key.
    const got = await Promise.all(keys.map((k) => client.get(k)));
    expect(got.map((g) => g.value?.toString())).toEqual(keys.map((_, i) => `value-${i}`));
    for (const [i, k] of keys.entries()) expect(await atOwner(k, 'v')).toBe(`VA ${`value-${i}`.length}`);
    expect((await client.get('mj-never-set')).value).toBeNull();
  });

  it('increment creates with its initial value, decrement floors at 0, on each key’s server', async () => {
    const keys = spread('mjctr', 1);
    for (const k of keys) {
      expect(await client.increment(k, 5, { initial: 10 })).toMatchObject({ success: true, value: 10 });
      expect(await client.increment(k, 7, {})).toMatchObject({ success: true, value: 17 });
      expect(await client.decrement(k, 100, {})).toMatchObject({ success: true, value: 0 });
      // memcached keeps a decremented counter's length, padding with spaces: "0 " where "17" was.
      expect(await atOwner(k, 'v')).toBe('VA 2');
    }
  });

  it('delete, add and replace, touch', async () => {
    const keys = spread('mjd', 1);
    for (const k of keys) {
      await client.set(k, 'x', {});
      expect(await client.add(k, 'y', {})).toBe(false);
      expect(await client.replace(k, 'z', {})).toBe(true);
      expect((await client.get(k)).value?.toString()).toBe('z');
      expect(await client.touch(k, 1000)).toBe(true);
      const ttl = Number((await atOwner(k, 't')).slice(4));
      expect(ttl).toBeGreaterThan(990);
      expect(ttl).toBeLessThanOrEqual(1000);
      expect(await client.delete(k)).toBe(true);
      expect(await client.delete(k)).toBe(false);
      expect((await client.get(k)).value).toBeNull();
      expect(await atOwner(k, 'v')).toBe('EN');
      expect(await client.touch(k, 100)).toBe(false);
    }
  });
});

describe('memcached npm client (text protocol) through the pool', () => {
  let mc: Memcached;
  beforeAll(() => {
    mc = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 2000, poolSize: 2 });
  });
  afterAll(() => mc.end());

  const call = <T>(f: (cb: (err: unknown, v: T) => void) => void) =>
    new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));

  it('set, get, getMulti over keys on every server', async () => {
    const keys = spread('np', 3);
    for (const [i, k] of keys.entries()) expect(await call<boolean>((cb) => mc.set(k, i % 2 === 0 ? `s${i}` : { n: i }, 0, cb))).toBe(true);
    expect(await call((cb) => mc.get(keys[0]!, cb))).toBe('s0');
    const want = Object.fromEntries(keys.map((k, i) => [k, i % 2 === 0 ? `s${i}` : { n: i }]));
    // One `get k1 k2 ...` whose keys live on four servers.
    expect(await call((cb) => mc.getMulti([...keys, 'np-missing'], cb))).toEqual(want);
    for (const k of keys) expect(await atOwner(k, 'k')).toBe(`HD k${k}`);
  });

  it('gets and cas', async () => {
    const [k] = spread('npcas', 1);
    await call((cb) => mc.set(k!, 'v1', 0, cb));
    const got = await call<{ [key: string]: unknown; cas: string }>((cb) => mc.gets(k!, cb));
    expect(got[k!]).toBe('v1');
    expect(await atOwner(k!, 'c')).toBe(`HD c${got.cas}`);
    expect(await call((cb) => mc.cas(k!, 'v2', got.cas, 0, cb))).toBe(true);
    expect(await call((cb) => mc.cas(k!, 'v3', got.cas, 0, cb))).toBe(false);
    expect(await call((cb) => mc.get(k!, cb))).toBe('v2');
  });

  it('incr and decr, del, touch on each server', async () => {
    for (const k of spread('npn', 1)) {
      await call((cb) => mc.set(k, '10', 0, cb));
      expect(await call((cb) => mc.incr(k, 5, cb))).toBe(15);
      expect(await call((cb) => mc.decr(k, 20, cb))).toBe(0);
      expect(await call((cb) => mc.incr(`${k}-absent`, 1, cb))).toBe(false);
      await new Promise<void>((resolve, reject) => mc.touch(k, 500, (err) => (err ? reject(err) : resolve())));
      const ttl = Number((await atOwner(k, 't')).slice(4));
      expect(ttl).toBeGreaterThan(490);
      expect(ttl).toBeLessThanOrEqual(500);
      expect(await call((cb) => mc.del(k, cb))).toBe(true);
      expect(await call((cb) => mc.get(k, cb))).toBeUndefined();
      expect(await atOwner(k, 'v')).toBe('EN');
    }
  });
});
