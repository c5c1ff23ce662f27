/**
 * Replicas, warm-up and shadow over real memcached processes:
 * - replicas of 2: with one replica stopped (SIGSTOP), then killed, every read still answers the right value from
 *   the other; writes answer the failure but reach the live replica;
 * - warm-up: a cold miss copied into cold with warm's remaining TTL, as cold's own `mg <key> t` shows;
 * - shadow: a stopped, then killed, shadow never delays or fails a client's command.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { RawClient, startMemcached, stopProcess, until, type MemcachedProcess } from '@cleave/testkit';
import type { GetCommand, Handler, ItemView, StoreCommand } from '@cleave/protocol';
import { pool, replicas, ringName, shadow, warmUp, type Pool } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const set = (key: string, value: string, exptime = 0): StoreCommand => ({ key: k(key), mode: 'set', value: k(value), flags: 7, exptime });
const get = (key: string): GetCommand => ({ key: k(key) });
const valueOf = (v: unknown) => (v as ItemView | undefined)?.value.toString();

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function memcached(): Promise<MemcachedProcess> {
  const p = await startMemcached();
  cleanup.push(() => {
    try {
      process.kill(p.pid, 'SIGCONT');
    } catch {
      // already gone
    }
    return p.stop();
  });
  return p;
}

function handlerFor(p: MemcachedProcess, timeoutMs: number): MemcachedHandler {
  const h = new MemcachedHandler({ address: { host: '127.0.0.1', port: p.port }, timeoutMs, connections: 1 });
  cleanup.push(() => h.close());
  return h;
}

/** One memcached as a pool of one, so a replica out of service is one the route skips. */
function poolOf(p: MemcachedProcess, timeoutMs: number): Pool {
  const pl = pool({
    servers: [
      { name: ringName('127.0.0.1', p.port), handler: new MemcachedHandler({ address: { host: '127.0.0.1', port: p.port }, timeoutMs }) },
    ],
    serverFailureLimit: 1,
    probeIntervalMs: 50,
  });
  cleanup.push(() => pl.close());
  return pl;
}

/** A key's TTL as memcached reports it to `mg <key> t v` (-1: never expires), or undefined on a miss. */
async function ttlOn(p: MemcachedProcess, key: string): Promise<{ ttl: number; value: string } | undefined> {
  const c = await RawClient.connect({ port: p.port });
  try {
    // mn's MN marks the end of mg's reply, hit or miss.
    const reply = (await c.request(`mg ${key} t v\r\nmn\r\n`, 'MN\r\n')).toString('latin1');
    return parseMg(reply);
  } finally {
    c.close();
  }
}

function parseMg(reply: string): { ttl: number; value: string } | undefined {
  const m = /^VA \d+ t(-?\d+)\r\n([^\r]*)\r\n/.exec(reply);
  return m === null ? undefined : { ttl: Number(m[1]), value: m[2]! };
}

describe('replicas over real memcached', () => {
  it('reads keep succeeding from the other replica while one is stopped, then killed', async () => {
    const [a, b] = [await memcached(), await memcached()];
    const r = replicas([poolOf(a, 1000), poolOf(b, 1000)], { read: 'primary-first' });
    const keys = Array.from({ length: 40 }, (_, i) => `rep:${i}`);
    for (const key of keys) expect(valueOf(await r.store(set(key, `v-${key}`)))).toBe(`v-${key}`);
    // Both replicas hold every key.
    for (const p of [a, b]) for (const key of keys.slice(0, 5)) expect((await ttlOn(p, key))?.value).toBe(`v-${key}`);

    await stopProcess(a.pid);
    for (const key of keys) expect(valueOf(await r.get(get(key)))).toBe(`v-${key}`);
    // The first read timed out on the stopped primary and failed over; once it was out of service the rest skipped it.
    expect(r.readFailovers).toBeGreaterThanOrEqual(1);
    expect(r.readSkips).toBeGreaterThanOrEqual(keys.length - 5);
    // stats shows which replica is out of service.
    const st = (await r.stats(''))!;
    const states = Object.entries(st).filter(([key]) => /^replica:\d:server:.*:state$/.test(key));
    expect(states.map(([key, v]) => `${key.slice(0, 9)}${v}`)).toEqual(['replica:0down', 'replica:1up']);

    // A write answers the failure (all-sync: the worst reply) but reaches the live replica.
    await expect(Promise.resolve().then(() => r.store(set('rep:new', 'n')))).rejects.toThrow();
    expect((await ttlOn(b, 'rep:new'))?.value).toBe('n');

    process.kill(a.pid, 'SIGKILL');
    for (const key of keys) expect(valueOf(await r.get(get(key)))).toBe(`v-${key}`);
    const rr = replicas([poolOf(a, 1000), poolOf(b, 1000)], { read: 'round-robin' });
    for (const key of keys) expect(valueOf(await rr.get(get(key)))).toBe(`v-${key}`);
  }, 30_000);
});

describe('warmUp over real memcached', () => {
  it("copies a cold miss into cold with warm's remaining TTL", async () => {
    const [coldP, warmP] = [await memcached(), await memcached()];
    const cold = handlerFor(coldP, 2000);
    const warm = handlerFor(warmP, 2000);
    await warm.store(set('wu:ttl', 'from-warm', 1000));
    await warm.store(set('wu:forever', 'forever', 0));
    const w = warmUp(cold, warm);

    expect(valueOf(await w.get(get('wu:ttl')))).toBe('from-warm');
    let seen: { ttl: number; value: string } | undefined;
    await until('the copy in cold', async () => (seen = await ttlOn(coldP, 'wu:ttl')) !== undefined);
    expect(seen!.value).toBe('from-warm');
    expect(seen!.ttl).toBeGreaterThanOrEqual(995);
    expect(seen!.ttl).toBeLessThanOrEqual(1000);

    await w.get(get('wu:forever'));
    await until('the copy in cold', async () => (seen = await ttlOn(coldP, 'wu:forever')) !== undefined);
    expect(seen!.ttl).toBe(-1);

    // gat: added with the gat's TTL, then cold answers.
    await warm.store(set('wu:gat', 'g', 1000));
    expect(valueOf(await w.get({ key: k('wu:gat'), touch: 60 }))).toBe('g');
    seen = await ttlOn(coldP, 'wu:gat');
    expect(seen?.ttl).toBeGreaterThanOrEqual(55);
    expect(seen?.ttl).toBeLessThanOrEqual(60);
    // Flags come along.
    expect((await cold.get(get('wu:ttl')))?.flags).toBe(7);
  }, 30_000);
});

describe('shadow over real memcached', () => {
  it("a stopped or dead shadow never delays or fails the client's commands", async () => {
    const [mainP, shadowP] = [await memcached(), await memcached()];
    const main = handlerFor(mainP, 2000);
    const sh: Handler = handlerFor(shadowP, 3000);
    const s = shadow(main, [{ handler: sh }]);

    await s.store(set('sh:1', 'one'));
    await until('the shadow copy', async () => (await ttlOn(shadowP, 'sh:1'))?.value === 'one');

    await stopProcess(shadowP.pid);
    for (let i = 0; i < 20; i++) {
      expect(valueOf(await s.store(set(`sh:s${i}`, `v${i}`)))).toBe(`v${i}`);
      expect(valueOf(await s.get(get(`sh:s${i}`)))).toBe(`v${i}`);
    }
    // None of those waited for the shadow: its commands can only fail by its 3 s timeout, and none has yet.
    expect(s.shadowErrors).toBe(0);
    await until('the shadow commands timed out', () => s.shadowErrors >= 40, 15_000);

    process.kill(shadowP.pid, 'SIGKILL');
    for (let i = 0; i < 10; i++) expect(valueOf(await s.get(get(`sh:s${i}`)))).toBe(`v${i}`);
    await until('the shadow commands failed', () => s.shadowErrors >= 50, 15_000);
    expect((await s.stats(''))?.shadow_errors).toBeGreaterThanOrEqual(50);
  }, 40_000);
});
