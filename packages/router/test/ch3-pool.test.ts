/**
 * Pools with mcrouter's placement over real memcached processes, behind a cleave server: each key stored
 * through the pool is on exactly the memcached furc_hash names (asked directly), servers counted in the
 * config's order (not sorted by name, as nutcracker's are); weighted_ch3 with a salt places as mcrouter's
 * WeightedCh3 does; a dead server's keys stay on it (they fail) and no other key moves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe, type Server } from '@cleave/server';
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { McrouterHash, furcHash } from '../src/hashkit/index.js';
import { Placement } from '../src/placement.js';
import { pool, type Pool, type PoolOptions } from '../src/pool.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

let procs: MemcachedProcess[];

beforeAll(async () => {
  procs = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  for (const p of procs) cleanup.push(() => p.stop());
});

function handlerOf(p: MemcachedProcess): MemcachedHandler {
  return new MemcachedHandler({ address: { host: '127.0.0.1', port: p.port } });
}

/** A pool over `members` (names z, y, x, ...: the reverse of name order) served on a port of its own. */
async function servePool(
  members: readonly MemcachedProcess[],
  options: Partial<PoolOptions>,
  weights?: number[],
): Promise<{ pool: Pool; port: number }> {
  const p = pool({
    ...options,
    servers: members.map((m, i) => ({ handler: handlerOf(m), name: String.fromCharCode(0x7a - i), weight: weights?.[i] })),
  });
  const server: Server = await listenAndServe({ listen: { port: 0 }, handler: p });
  cleanup.push(() => server.close());
  return { pool: p, port: (server.addresses[0] as { port: number }).port };
}

async function withClient<T>(port: number, f: (c: RawClient) => Promise<T>): Promise<T> {
  const c = await RawClient.connect({ port });
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

/**
 * Stores each key through the proxy on `port`; the reply line of each. (Not `exchange`: its marker key goes
 * through the pool too, and fails when it hashes to a dead server.)
 */
async function storeAll(port: number, keys: readonly string[]): Promise<string[]> {
  return withClient(port, async (c) => {
    c.write(keys.map((k) => `set ${k} 0 0 1\r\nv\r\n`).join(''));
    const lines = (b: Buffer) => b.toString('latin1').split('\r\n').length - 1;
    expect(await c.waitFor((b) => lines(b) >= keys.length, 10_000)).toBe(true);
    return c.received.toString('latin1').split('\r\n').slice(0, -1);
  });
}

/** Which of `keys` this memcached holds (a quiet `mg` each). */
async function holding(p: MemcachedProcess, keys: readonly string[]): Promise<Set<string>> {
  const reply = await withClient(p.port, (c) => c.exchange(keys.map((k) => `mg ${k} k q\r\n`).join('')));
  const held = new Set<string>();
  for (const line of reply.toString('latin1').split('\r\n')) if (line.startsWith('HD k')) held.add(line.slice(4));
  return held;
}

/** For each key, the indexes of the memcached processes that hold it. */
async function whereHeld(members: readonly MemcachedProcess[], keys: readonly string[]): Promise<Map<string, number[]>> {
  const sets = await Promise.all(members.map((m) => holding(m, keys)));
  return new Map(keys.map((k) => [k, sets.flatMap((s, i) => (s.has(k) ? [i] : []))]));
}

const keysOf = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

describe('a ch3 pool over 3 memcached', () => {
  it('stores every key on the memcached furc_hash names, servers in the config order', async () => {
    const { port } = await servePool(procs, { distribution: 'ch3' });
    const keys = [...keysOf('ch3:', 300), 'user|#|1', 'user|#|2', 'user|#|3'];
    expect(new Set(await storeAll(port, keys))).toEqual(new Set(['STORED']));
    const held = await whereHeld(procs, keys);
    const expected = new Map(keys.map((k) => [k, [furcHash(Buffer.from(k.split('|#|')[0]!), 0, k.split('|#|')[0]!.length, 3)]]));
    expect(held).toEqual(expected);
    // All three servers get keys, and the hash-stopped keys are together.
    expect(new Set([...held.values()].map((v) => v[0]))).toEqual(new Set([0, 1, 2]));
    expect(new Set(['user|#|1', 'user|#|2', 'user|#|3'].map((k) => held.get(k)![0]))).toHaveProperty('size', 1);
  });

  it('weighted_ch3 with a salt places as mcrouter does: no key on a server of weight 0', async () => {
    const weights = [1, 0.5, 0];
    const { pool: p, port } = await servePool(procs, { distribution: 'weighted_ch3', salt: 'eu' }, weights);
    const keys = keysOf('wch3:', 300);
    expect(new Set(await storeAll(port, keys))).toEqual(new Set(['STORED']));
    const held = await whereHeld(procs, keys);
    const h = new McrouterHash('WeightedCh3', 3, { weights, salt: 'eu' });
    expect(held).toEqual(new Map(keys.map((k) => [k, [h.select(Buffer.from(k))]])));
    const counts = [0, 0, 0];
    for (const [i] of held.values()) counts[i!]!++;
    expect(counts[2]).toBe(0);
    expect(counts[0]).toBeGreaterThan(counts[1]!);
    expect(counts[1]).toBeGreaterThan(0);

    const settings = await p.stats('settings');
    expect(settings).toMatchObject({
      pool_distribution: 'weighted_ch3',
      pool_salt: 'eu',
      pool_servers: 'z:1,y:0.5,x:0',
      pool_auto_eject_hosts: false,
    });
  });

  it("a dead server's keys stay on it and fail; no other key moves", async () => {
    const doomed = await startMemcached();
    cleanup.push(() => doomed.stop());
    const members = [procs[0]!, doomed, procs[2]!];
    const { pool: p, port } = await servePool(members, { distribution: 'ch3', serverFailureLimit: 1 });
    const keys = keysOf('dead:', 120);
    const before = keys.map((k) => p.serverFor(Buffer.from(k))!.name);
    await doomed.stop();
    const replies = await storeAll(port, keys);
    const after = keys.map((k) => p.serverFor(Buffer.from(k))!.name);
    expect(after).toEqual(before);
    const onDoomed = keys.filter((_, i) => before[i] === 'y');
    expect(onDoomed.length).toBeGreaterThan(0);
    keys.forEach((k, i) => {
      const reply = replies[i]!;
      if (before[i] === 'y') expect(reply, k).toMatch(/^SERVER_ERROR/);
      else expect(reply, k).toBe('STORED');
    });
    expect(p.serves(Buffer.from(onDoomed[0]!))).toBe(false);
  });
});

describe('ch3 pool options', () => {
  const handler = (): MemcachedHandler => new MemcachedHandler({ address: { host: '127.0.0.1', port: 1 } });

  it('takes weighted_ch3 weights in [0, 1] and names a server with any other', () => {
    expect(() => pool({ distribution: 'weighted_ch3', servers: [{ name: 'a', handler: handler(), weight: 1.5 }] })).toThrow(
      /servers\[0\] \(a\) has weight 1\.5/,
    );
    expect(() => pool({ distribution: 'weighted_ch3', servers: [{ name: 'a', handler: handler(), weight: -0.1 }] })).toThrow(TypeError);
    expect(() => pool({ distribution: 'ch3', servers: [{ name: 'a', handler: handler(), weight: 0.5 }] })).toThrow(RangeError);
    expect(() => pool({ distribution: 'ketama', servers: [{ name: 'a', handler: handler(), weight: 0.5 }] })).toThrow(RangeError);
  });

  it('refuses auto-eject (it would move keys), a hash tag, and a salt for nutcracker distributions', () => {
    const servers = [{ name: 'a', handler: handler() }];
    expect(() => pool({ distribution: 'ch3', autoEjectHosts: true, servers })).toThrow(/never does/);
    expect(() => pool({ distribution: 'weighted_ch3', hashTag: '{}', servers })).toThrow(/hash_tag/);
    expect(() => pool({ distribution: 'ketama', salt: 's', servers })).toThrow(/salt/);
  });

  it("Placement keeps a key's server while it is not live (-1 for its keys), and hashes key[start, end)", () => {
    const servers = [
      { name: 'b', weight: 1 },
      { name: 'a', weight: 1 },
      { name: 'c', weight: 1 },
    ];
    const p = new Placement({ distribution: 'ch3', hash: 'fnv1a_64', servers });
    const keys = keysOf('k', 200).map((k) => Buffer.from(k));
    const at = keys.map((k) => p.serverFor(k));
    expect(at).toEqual(keys.map((k) => furcHash(k, 0, k.length, 3)));
    p.rebuild([true, false, true]);
    expect(keys.map((k) => p.serverFor(k))).toEqual(at.map((s) => (s === 1 ? -1 : s)));
    p.rebuild([true, true, true]);
    const framed = Buffer.from('[[k17]]');
    expect(p.serverFor(framed, 2, 5)).toBe(at[17]);
  });
});
