/**
 * TtlMapHandler behind listenAndServe, driven by unchanged npm memcached
 * clients: memjs speaks the binary protocol, memcached the text protocol.
 * The handler runs on a clock the test moves, so expiry needs no sleeping.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import memjs from 'memjs';
import Memcached from 'memcached';
import { listenAndServe, type Server } from '@cleave/server';
import { TtlMapHandler } from '../src/ttl-map-handler.js';

interface Running {
  server: Server;
  port: number;
  advance(seconds: number): void;
}

async function start(): Promise<Running> {
  let now = Math.floor(Date.now() / 1000);
  const server = await listenAndServe({
    listen: { port: 0, host: '127.0.0.1' },
    handler: new TtlMapHandler({ maxItems: 10_000, clock: () => now }),
  });
  const addr = server.addresses[0]!;
  if (!('port' in addr)) throw new Error('expected a TCP listener');
  return {
    server,
    port: addr.port,
    advance(seconds) {
      now += seconds;
    },
  };
}

/** A memjs request with a CAS unique in its header (memjs has no cas call, but sends raw requests). */
function binaryRequestWithCas(opcode: number, key: string, extras: Buffer, value: string, seq: number, cas: Buffer): Buffer {
  const req = memjs.Utils.makeRequestBuffer(opcode, key, extras, value, seq);
  cas.copy(req, 16); // bytes 16..23 of a binary header hold the CAS unique
  return req;
}

describe('memjs (binary protocol) against TtlMapHandler', () => {
  let run: Running;
  let client: memjs.Client;

  /** Runs one raw binary request through the client and returns memcached's response. */
  function perform(key: string, request: Buffer, seq: number): Promise<memjs.Response> {
    return new Promise((resolve, reject) => {
      client.perform(key, request, seq, (err: Error | null, response: memjs.Response) => (err ? reject(err) : resolve(response)));
    });
  }

  beforeAll(async () => {
    run = await start();
    client = memjs.Client.create(`127.0.0.1:${run.port}`, { retries: 0, timeout: 2, logger: { log() {} } });
  });
  afterAll(async () => {
    client.close();
    await run.server.close();
  });

  it('sets and gets a value with its flags', async () => {
    expect(await client.set('b:k', 'hello')).toBe(true);
    const got = await client.get('b:k');
    expect(got.value!.toString()).toBe('hello');
    expect(got.flags!.readUInt32BE(0)).toBe(0);
    expect((await client.get('b:missing')).value).toBeNull();
  });

  it('adds only missing keys and replaces only existing ones', async () => {
    expect(await client.add('b:add', 'one')).toBe(true);
    expect(await client.add('b:add', 'two')).toBe(false);
    expect(await client.replace('b:repl', 'x')).toBe(false);
    expect(await client.replace('b:add', 'three')).toBe(true);
    expect((await client.get('b:add')).value!.toString()).toBe('three');
  });

  it('deletes', async () => {
    await client.set('b:del', 'v');
    expect(await client.delete('b:del')).toBe(true);
    expect(await client.delete('b:del')).toBe(false);
    expect((await client.get('b:del')).value).toBeNull();
  });

  it('increments and decrements, creating a missing counter with its initial value', async () => {
    expect(await client.increment('b:ctr', 5, { initial: 10 })).toEqual({ success: true, value: 10 });
    expect(await client.increment('b:ctr', 5)).toEqual({ success: true, value: 15 });
    // memjs 1.3.2's decrement needs an options object when called without a callback.
    expect(await client.decrement('b:ctr', 20, {})).toEqual({ success: true, value: 0 });
    expect((await client.get('b:ctr')).value!.toString()).toBe('0');
  });

  it('reports incr on a non-numeric value as an error', async () => {
    await client.set('b:text', 'abc');
    await expect(client.increment('b:text', 1)).rejects.toThrow(/INCREMENT/);
  });

  it('appends and prepends to existing items only', async () => {
    await client.set('b:cat', 'mid');
    expect(await client.append('b:cat', '>>')).toBe(true);
    // memjs 1.3.2's prepend() sends the Append opcode (0x0e), against memcached too;
    // send a real Prepend (0x0f) through the same connection instead.
    client.incrSeq();
    const prepend = await perform('b:cat', memjs.Utils.makeRequestBuffer(0x0f, 'b:cat', '', '<<', client.seq), client.seq);
    expect(prepend.header.status).toBe(0);
    expect((await client.get('b:cat')).value!.toString()).toBe('<<mid>>');
    // A missing item answers status 0x05 NOT_STORED, which memjs reports as an error.
    await expect(client.append('b:nocat', 'x')).rejects.toThrow(/not stored/);
    client.incrSeq();
    const missing = await perform('b:nocat', memjs.Utils.makeRequestBuffer(0x0f, 'b:nocat', '', 'x', client.seq), client.seq);
    expect(missing.header.status).toBe(0x05); // NOT_STORED
  });

  it('expires items and touches in new lifetimes', async () => {
    await client.set('b:ttl', 'v', { expires: 10 });
    await client.set('b:touched', 'v', { expires: 10 });
    expect(await client.touch('b:touched', 100)).toBe(true);
    expect(await client.touch('b:never', 100)).toBe(false);
    run.advance(10);
    expect((await client.get('b:ttl')).value).toBeNull();
    expect((await client.get('b:touched')).value!.toString()).toBe('v');
    run.advance(90);
    expect((await client.get('b:touched')).value).toBeNull();
  });

  it('compares and swaps with the CAS unique of a get', async () => {
    await client.set('b:cas', 'v1');
    client.incrSeq();
    const read = await perform('b:cas', memjs.Utils.makeRequestBuffer(0x00, 'b:cas', '', '', client.seq), client.seq);
    expect(read.header.status).toBe(0);
    const cas = read.header.cas;
    expect(cas.readBigUInt64BE(0)).toBeGreaterThan(0n);

    const setExtras = Buffer.alloc(8); // flags 0, exptime 0
    client.incrSeq();
    const swap = await perform('b:cas', binaryRequestWithCas(0x01, 'b:cas', setExtras, 'v2', client.seq, cas), client.seq);
    expect(swap.header.status).toBe(0);
    expect(swap.header.cas.equals(cas)).toBe(false);

    client.incrSeq();
    const stale = await perform('b:cas', binaryRequestWithCas(0x01, 'b:cas', setExtras, 'v3', client.seq, cas), client.seq);
    expect(stale.header.status).toBe(0x02); // KEY_EEXISTS
    expect((await client.get('b:cas')).value!.toString()).toBe('v2');

    client.incrSeq();
    const gone = await perform('b:nocas', binaryRequestWithCas(0x01, 'b:nocas', setExtras, 'v', client.seq, cas), client.seq);
    expect(gone.header.status).toBe(0x01); // KEY_ENOENT
  });

  it('flushes everything', async () => {
    await client.set('b:f1', '1');
    await client.set('b:f2', '2');
    const results = await client.flush();
    expect(Object.values(results)).toEqual([true]);
    expect((await client.get('b:f1')).value).toBeNull();
    expect((await client.get('b:f2')).value).toBeNull();
  });
});

describe('memcached (text protocol) against TtlMapHandler', () => {
  let run: Running;
  let client: Memcached;

  /** Calls a callback-style client method; resolves with the reply, or with the client's error. */
  function call<T>(f: (cb: (err: unknown, result: T) => void) => void): Promise<{ err: unknown; result: T }> {
    return new Promise((resolve) => f((err, result) => resolve({ err, result })));
  }
  async function ok<T>(f: (cb: (err: unknown, result: T) => void) => void): Promise<T> {
    const { err, result } = await call(f);
    if (err) throw err instanceof Error ? err : new Error(String(err));
    return result;
  }

  /** The client passes touch's result to the callback; @types/memcached leaves it out. */
  const touch = (key: string, lifetime: number, cb: (err: unknown, touched: boolean) => void) =>
    (client.touch as (k: string, l: number, cb: (err: unknown, touched: boolean) => void) => void).call(client, key, lifetime, cb);

  beforeEach(async () => {
    run = await start();
    client = new Memcached(`127.0.0.1:${run.port}`, { retries: 0, timeout: 2000, reconnect: 1000, idle: 1000 });
  });
  afterEach(async () => {
    client.end();
    await run.server.close();
  });

  it('sets and gets strings, and misses unknown keys', async () => {
    expect(await ok<boolean>((cb) => client.set('t:k', 'hello', 0, cb))).toBe(true);
    expect(await ok((cb) => client.get('t:k', cb))).toBe('hello');
    expect(await ok((cb) => client.get('t:missing', cb))).toBeUndefined();
  });

  it('gets several keys in one request', async () => {
    await ok((cb) => client.set('t:a', 'A', 0, cb));
    await ok((cb) => client.set('t:b', 'B', 0, cb));
    expect(await ok((cb) => client.getMulti(['t:a', 't:b', 't:none'], cb))).toEqual({ 't:a': 'A', 't:b': 'B' });
  });

  it('adds only missing keys and replaces only existing ones', async () => {
    expect(await ok((cb) => client.add('t:add', 'one', 0, cb))).toBe(true);
    const again = await call((cb) => client.add('t:add', 'two', 0, cb));
    expect((again.err as { notStored?: boolean }).notStored).toBe(true);
    const missing = await call((cb) => client.replace('t:none', 'x', 0, cb));
    expect((missing.err as { notStored?: boolean }).notStored).toBe(true);
    expect(await ok((cb) => client.replace('t:add', 'three', 0, cb))).toBe(true);
    expect(await ok((cb) => client.get('t:add', cb))).toBe('three');
  });

  it('deletes', async () => {
    await ok((cb) => client.set('t:del', 'v', 0, cb));
    expect(await ok((cb) => client.del('t:del', cb))).toBe(true);
    expect(await ok((cb) => client.del('t:del', cb))).toBe(false);
  });

  it('increments with 64-bit wrap-around and decrements down to 0', async () => {
    await ok((cb) => client.set('t:ctr', '18446744073709551614', 0, cb));
    expect(await ok((cb) => client.incr('t:ctr', 3, cb))).toBe(1);
    expect(await ok((cb) => client.decr('t:ctr', 5, cb))).toBe(0);
    expect(await ok((cb) => client.incr('t:none', 1, cb))).toBe(false);
    await ok((cb) => client.set('t:text', 'abc', 0, cb));
    const bad = await call((cb) => client.incr('t:text', 1, cb));
    expect(String(bad.err)).toMatch(/non-numeric/);
  });

  it('appends and prepends to existing items only', async () => {
    await ok((cb) => client.set('t:cat', 'mid', 0, cb));
    expect(await ok((cb) => client.append('t:cat', '>>', cb))).toBe(true);
    expect(await ok((cb) => client.prepend('t:cat', '<<', cb))).toBe(true);
    expect(await ok((cb) => client.get('t:cat', cb))).toBe('<<mid>>');
    const missing = await call((cb) => client.append('t:nocat', 'x', cb));
    expect((missing.err as { notStored?: boolean }).notStored).toBe(true);
  });

  it('expires items and touches in new lifetimes', async () => {
    await ok((cb) => client.set('t:ttl', 'v', 10, cb));
    await ok((cb) => client.set('t:touched', 'v', 10, cb));
    expect(await ok((cb) => touch('t:touched', 100, cb))).toBe(true);
    expect(await ok((cb) => touch('t:never', 100, cb))).toBe(false);
    run.advance(10);
    expect(await ok((cb) => client.get('t:ttl', cb))).toBeUndefined();
    expect(await ok((cb) => client.get('t:touched', cb))).toBe('v');
    run.advance(90);
    expect(await ok((cb) => client.get('t:touched', cb))).toBeUndefined();
  });

  it('compares and swaps with the CAS unique of gets', async () => {
    await ok((cb) => client.set('t:cas', 'v1', 0, cb));
    const read = await ok<Record<string, string>>((cb) => client.gets('t:cas', cb));
    expect(read['t:cas']).toBe('v1');
    expect(read.cas).toMatch(/^[1-9]\d*$/);
    expect(await ok((cb) => client.cas('t:cas', 'v2', read.cas, 0, cb))).toBe(true);
    expect(await ok((cb) => client.cas('t:cas', 'v3', read.cas, 0, cb))).toBe(false); // EXISTS
    expect(await ok((cb) => client.get('t:cas', cb))).toBe('v2');
    const again = await ok<Record<string, string>>((cb) => client.gets('t:cas', cb));
    expect(BigInt(again.cas)).toBeGreaterThan(BigInt(read.cas));
  });

  it('flushes everything', async () => {
    await ok((cb) => client.set('t:f1', '1', 0, cb));
    await ok((cb) => client.set('t:f2', '2', 0, cb));
    expect(await ok((cb) => client.flush(cb))).toEqual([true]);
    expect(await ok((cb) => client.get('t:f1', cb))).toBeUndefined();
    expect(await ok((cb) => client.get('t:f2', cb))).toBeUndefined();
  });
});
