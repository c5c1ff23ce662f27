/**
 * Real npm clients against memproxy: memjs speaks the binary protocol,
 * memcached (npm) the text protocol. Neither is changed or configured for us.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import memjs from 'memjs';
import Memcached from 'memcached';
import { startMemproxy, type Running } from './spawn.js';

let mp: Running;
beforeAll(async () => {
  mp = await startMemproxy(['-p', '0']);
});
afterAll(async () => {
  await mp?.stop();
});

describe('memjs (binary protocol)', () => {
  let client: memjs.Client;
  beforeAll(() => {
    client = memjs.Client.create(`127.0.0.1:${mp.port}`, { retries: 0, timeout: 2, logger: { log: () => {} } });
  });
  afterAll(() => client.close());

  it('set, get, delete', async () => {
    expect(await client.set('greeting', 'hello', { expires: 0 })).toBe(true);
    const { value, flags } = await client.get('greeting');
    expect(value?.toString()).toBe('hello');
    expect(flags?.length).toBe(4);
    expect(await client.delete('greeting')).toBe(true);
    expect((await client.get('greeting')).value).toBeNull();
  });

  it('add and replace', async () => {
    expect(await client.add('ar', 'one', {})).toBe(true);
    expect(await client.add('ar', 'two', {})).toBe(false);
    expect(await client.replace('ar', 'three', {})).toBe(true);
    expect(await client.replace('nothing-here', 'x', {})).toBe(false);
    expect((await client.get('ar')).value?.toString()).toBe('three');
  });

  it('increment creates a missing counter with its initial value, decrement floors at 0', async () => {
    expect(await client.increment('ctr', 5, { initial: 10 })).toMatchObject({ success: true, value: 10 });
    expect(await client.increment('ctr', 5, {})).toMatchObject({ success: true, value: 15 });
    expect(await client.decrement('ctr', 100, {})).toMatchObject({ success: true, value: 0 });
  });

  it('append, touch', async () => {
    // (memjs 1.3's prepend() sends the Append opcode, against memcached too, so only append is checked here.)
    await client.set('ap', 'b', {});
    expect(await client.append('ap', 'c')).toBe(true);
    await expect(client.append('missing-key', 'c')).rejects.toThrow(/not stored/i);
    expect((await client.get('ap')).value?.toString()).toBe('bc');
    expect(await client.touch('ap', 100)).toBe(true);
    expect(await client.touch('no-such-key', 100)).toBe(false);
  });

  it('binary values survive byte for byte', async () => {
    const bytes = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) & 0xff));
    await client.set('bin', bytes, {});
    expect(Buffer.compare((await client.get('bin')).value!, bytes)).toBe(0);
  });

  it('stats and flush', async () => {
    const stats = await new Promise<Record<string, string>>((resolve, reject) =>
      client.stats((err, _server, s) => (err ? reject(err) : resolve(s as Record<string, string>))),
    );
    expect(stats.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(Number(stats.curr_connections)).toBeGreaterThan(0);
    await client.set('f', 'x', {});
    await client.flush();
    expect((await client.get('f')).value).toBeNull();
  });
});

describe('memcached npm client (text protocol)', () => {
  let mc: Memcached;
  beforeAll(() => {
    mc = new Memcached(`127.0.0.1:${mp.port}`, { retries: 0, timeout: 2000, poolSize: 2 });
  });
  afterAll(() => mc.end());

  const call = <T>(f: (cb: (err: unknown, v: T) => void) => void) =>
    new Promise<T>((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));

  it('set, get, getMulti, del', async () => {
    expect(await call<boolean>((cb) => mc.set('t1', 'one', 0, cb))).toBe(true);
    expect(await call<boolean>((cb) => mc.set('t2', { n: 2 }, 0, cb))).toBe(true);
    expect(await call((cb) => mc.get('t1', cb))).toBe('one');
    expect(await call((cb) => mc.getMulti(['t1', 't2', 'missing'], cb))).toEqual({ t1: 'one', t2: { n: 2 } });
    expect(await call((cb) => mc.del('t1', cb))).toBe(true);
    expect(await call((cb) => mc.get('t1', cb))).toBeUndefined();
  });

  it('values with \\r\\n inside round-trip', async () => {
    const v = 'line one\r\nline two\r\nEND\r\n';
    await call((cb) => mc.set('crlf', v, 0, cb));
    expect(await call((cb) => mc.get('crlf', cb))).toBe(v);
  });

  it('gets and cas', async () => {
    await call((cb) => mc.set('c', 'v1', 0, cb));
    const got = await call<{ [key: string]: unknown; cas: string }>((cb) => mc.gets('c', cb));
    expect(got.c).toBe('v1');
    expect(await call((cb) => mc.cas('c', 'v2', got.cas, 0, cb))).toBe(true);
    expect(await call((cb) => mc.cas('c', 'v3', got.cas, 0, cb))).toBe(false);
    expect(await call((cb) => mc.get('c', cb))).toBe('v2');
  });

  it('incr, decr, add, replace, append, prepend, touch', async () => {
    await call((cb) => mc.set('n', '10', 0, cb));
    expect(await call((cb) => mc.incr('n', 5, cb))).toBe(15);
    expect(await call((cb) => mc.decr('n', 20, cb))).toBe(0);
    expect(await call((cb) => mc.incr('absent', 1, cb))).toBe(false);
    expect(await call((cb) => mc.add('n', '1', 0, cb)).catch((e: Error) => e.message)).toMatch(/not stored/i);
    expect(await call((cb) => mc.replace('n', '7', 0, cb))).toBe(true);
    expect(await call((cb) => mc.append('n', '8', cb))).toBe(true);
    expect(await call((cb) => mc.prepend('n', '6', cb))).toBe(true);
    expect(await call((cb) => mc.get('n', cb))).toBe('678');
    await new Promise<void>((resolve, reject) => mc.touch('n', 100, (err) => (err ? reject(err) : resolve())));
  });

  it('version, stats and flush', async () => {
    const v = await call<Array<{ version: string }>>((cb) => mc.version(cb));
    expect(v[0]!.version).toMatch(/^\d+\.\d+\.\d+$/);
    const stats = await call<Array<Record<string, unknown>>>((cb) => mc.stats(cb));
    expect(Number(stats[0]!.curr_connections)).toBeGreaterThan(0);
    expect(await new Promise((resolve, reject) => mc.flush((err) => (err ? reject(err) : resolve(true))))).toBe(true);
    expect(await call((cb) => mc.get('n', cb))).toBeUndefined();
  });
});
