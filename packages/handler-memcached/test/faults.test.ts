/**
 * Faults with real processes: a memcached that stalls (SIGSTOP), dies
 * (SIGKILL), restarts on the same address, is absent, accepts and never
 * answers, or sends replies that do not match. Requests must fail promptly
 * with a HandlerError, never hang past timeoutMs, never get another
 * request's reply, and service must resume by itself.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BinaryStatus, HandlerError, type ItemView } from '@cleave/protocol';
import { listenAndServe } from '@cleave/server';
import { RawClient, binaryPacket, freePort, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';
import { Backend, eventually, k, sleep, startProxy, startSilent, type Target } from './helpers.js';

const TIMEOUT = 300;
/** Slack for timers and a busy 2-core machine. */
const MARGIN = 250;

const opened: Array<{ close(): unknown }> = [];
const backends: Backend[] = [];

afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
  for (const b of backends.splice(0)) await b.kill();
});

function handler(address: Target, extra: Partial<ConstructorParameters<typeof MemcachedHandler>[0]> = {}): MemcachedHandler {
  const h = new MemcachedHandler({
    address: 'path' in address ? address : { host: '127.0.0.1', port: address.port },
    timeoutMs: TIMEOUT,
    connectTimeoutMs: TIMEOUT,
    backoff: { minMs: 20, maxMs: 200 },
    ...extra,
  });
  opened.push(h);
  return h;
}

async function backendOnFreePort(): Promise<Backend> {
  const b = new Backend({ port: await freePort() });
  backends.push(b);
  await b.start();
  return b;
}

const value = (v: unknown): string | undefined => (v as ItemView | undefined)?.value.toString();

/** Settle `p`, timing it: the outcome or the HandlerError, and how long it took. */
async function timed(p: Promise<unknown>): Promise<{ ms: number; ok: boolean; value: unknown; error?: HandlerError }> {
  const t0 = Date.now();
  try {
    const v = await p;
    return { ms: Date.now() - t0, ok: true, value: v };
  } catch (e) {
    if (!(e instanceof HandlerError)) throw e;
    return { ms: Date.now() - t0, ok: false, value: undefined, error: e };
  }
}

async function seed(h: MemcachedHandler, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await h.store({ mode: 'set', key: k(`key${i}`), value: k(`value-of-${i}`), flags: i, exptime: 0 });
}

/** Issue gets for `ms`, one every few ms, while a fault lasts; check each is a prompt error or the right value. */
async function probeDuring(h: MemcachedHandler, n: number, ms: number): Promise<{ errors: Set<string>; successes: number; calls: number }> {
  const errors = new Set<string>();
  let successes = 0;
  const calls: Promise<void>[] = [];
  const end = Date.now() + ms;
  for (let i = 0; Date.now() < end; i++) {
    const j = i % n;
    calls.push(
      timed(h.get({ key: k(`key${j}`) })).then((r) => {
        expect(r.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
        if (r.ok) {
          successes++;
          expect(value(r.value)).toBe(`value-of-${j}`);
        } else {
          errors.add(r.error!.message);
          expect(r.error!.status).toBe(BinaryStatus.ETMPFAIL);
        }
      }),
    );
    await sleep(15);
  }
  await Promise.all(calls);
  return { errors, successes, calls: calls.length };
}

/** Every key's connection answers again (after a restart the data is gone: misses). */
async function serving(h: MemcachedHandler, n: number): Promise<boolean> {
  return eventually(
    async () => (await h.getMany(Array.from({ length: n }, (_, i) => ({ key: k(`key${i}`) })))).every((it) => it === undefined),
    5000,
  );
}

/** Every key answered, and all alike: each with its own value (no flush applied), or all misses (the flush applied). */
async function answersAlike(h: MemcachedHandler, n: number): Promise<boolean> {
  const got = await h.getMany(Array.from({ length: n }, (_, i) => ({ key: k(`key${i}`) })));
  return got.every((it, i) => value(it) === `value-of-${i}`) || got.every((it) => it === undefined);
}

async function allRight(h: MemcachedHandler, n: number): Promise<boolean> {
  const got = await h.getMany(Array.from({ length: n }, (_, i) => ({ key: k(`key${i}`) })));
  return got.every((it, i) => value(it) === `value-of-${i}`);
}

describe('a stalled backend (SIGSTOP)', () => {
  it('fails requests within timeoutMs, then serves the right data again after SIGCONT', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target);
    await seed(h, 20);
    await b.signal('SIGSTOP');
    const during = await probeDuring(h, 20, 1500);
    expect(during.successes).toBe(0);
    expect([...during.errors].every((m) => m === 'backend timeout' || m === 'backend unavailable')).toBe(true);
    expect(h.ownStats().backend_timeouts as number).toBeGreaterThan(0);
    await b.signal('SIGCONT');
    expect(await eventually(() => allRight(h, 20), 5000)).toBe(true);
    // Writes work again, and nothing answers the wrong request.
    await h.store({ mode: 'set', key: k('after'), value: k('fine'), flags: 0, exptime: 0 });
    expect(value(await h.get({ key: k('after') }))).toBe('fine');
    expect(await allRight(h, 20)).toBe(true);
  });

  it('requests in flight when the backend stalls reject at timeoutMs, all of them', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target, { connections: 1 });
    await seed(h, 5);
    await b.signal('SIGSTOP');
    const inFlight = Array.from({ length: 100 }, (_, i) => timed(h.get({ key: k(`key${i % 5}`) })));
    const results = await Promise.all(inFlight);
    for (const r of results) {
      expect(r.ok).toBe(false);
      expect(r.error!.message).toBe('backend timeout');
      expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT - 20);
      expect(r.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
    }
    expect(h.ownStats().backend_in_flight).toBe(0);
    await b.signal('SIGCONT');
    expect(await eventually(() => allRight(h, 5), 5000)).toBe(true);
  });
});

describe('flush_all during a stall', () => {
  it('the flush and the requests waiting behind it fail within their own timeout; afterwards both work', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target, { connections: 3 });
    await seed(h, 6);
    await b.signal('SIGSTOP');
    const flush = timed(h.flush(0));
    const behind = Array.from({ length: 6 }, (_, i) => timed(h.get({ key: k(`key${i}`) })));
    const f = await flush;
    expect(f.ok).toBe(false);
    expect(f.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
    for (const r of await Promise.all(behind)) {
      expect(r.ok).toBe(false);
      expect(r.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
    }
    await b.signal('SIGCONT');
    // Served again. The flush whose reply timed out was written before memcached resumed, so memcached may
    // apply it then: every key keeps its value or none does, never a mix.
    expect(await eventually(() => answersAlike(h, 6), 5000)).toBe(true);
    await h.flush(0);
    expect(await serving(h, 6)).toBe(true);
  });
});

describe('flush_all while one connection cannot connect', () => {
  it('goes through on the connections that work, as every other command does', async () => {
    const b = await backendOnFreePort();
    // A relay that passes the first two connections to memcached and cuts every later one at once.
    let accepted = 0;
    const relay = net.createServer((down) => {
      if (accepted++ >= 2) {
        down.destroy();
        return;
      }
      const up = net.connect(b.target as net.NetConnectOpts);
      down.pipe(up).pipe(down);
      const drop = () => {
        down.destroy();
        up.destroy();
      };
      down.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const port = (relay.address() as net.AddressInfo).port;
    const h = handler({ host: '127.0.0.1', port }, { connections: 3 });
    opened.push({ close: () => new Promise((r) => relay.close(r)) }); // after the handler's own close
    expect(await eventually(() => h.ownStats().backend_connections_ready === 2, 5000)).toBe(true);
    await seed(h, 6);
    await h.flush(0);
    expect(await serving(h, 6)).toBe(true);
  });
});

describe('a backend that dies (SIGKILL) and restarts on the same address', () => {
  it('over TCP: requests fail fast while it is down, service resumes after the restart', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target);
    await seed(h, 10);
    const inFlight = Array.from({ length: 50 }, (_, i) => timed(h.get({ key: k(`key${i % 10}`) })));
    await b.kill();
    for (const r of await Promise.all(inFlight)) {
      // Each either was answered before the kill (with its own value) or failed.
      if (r.ok) expect(value(r.value)).toMatch(/^value-of-\d$/);
      else expect(r.error!.message).toBe('backend unavailable');
    }
    const down = await probeDuring(h, 10, 600);
    expect(down.successes).toBe(0);
    expect([...down.errors]).toEqual(['backend unavailable']);
    await b.start();
    // A fresh memcached: the data is gone, the service is back.
    expect(await serving(h, 10)).toBe(true);
    await seed(h, 10);
    expect(await allRight(h, 10)).toBe(true);
    expect(h.ownStats().backend_reconnects as number).toBeGreaterThan(0);
  });

  it('over a unix socket: the same', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cleave-hm-'));
    try {
      const b = new Backend({ path: join(dir, 'mc.sock') });
      backends.push(b);
      await b.start();
      const h = handler(b.target);
      await seed(h, 5);
      await b.kill();
      const down = await probeDuring(h, 5, 400);
      expect(down.successes).toBe(0);
      await b.start();
      expect(await serving(h, 5)).toBe(true);
      await seed(h, 5);
      expect(await allRight(h, 5)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a backend absent at start: requests fail fast, and it is used once it comes up', async () => {
    const port = await freePort();
    const h = handler({ port });
    const first = await timed(h.get({ key: k('a') }));
    expect(first.ok).toBe(false);
    expect(first.error!.message).toBe('backend unavailable');
    expect(first.ms).toBeLessThan(TIMEOUT);
    const b = new Backend({ port });
    backends.push(b);
    await b.start();
    expect(await eventually(async () => (await h.get({ key: k('a') })) === undefined, 5000)).toBe(true);
  });
});

describe('a backend that accepts and never answers', () => {
  it('connection attempts time out at connectTimeoutMs; between attempts requests fail at once', async () => {
    const silent = await startSilent();
    opened.push(silent);
    const h = handler({ port: silent.port }, { connections: 1 });
    const queued = await timed(h.get({ key: k('a') }));
    expect(queued.ok).toBe(false);
    expect(queued.error!.message).toBe('backend unavailable');
    expect(queued.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
    // Now backing off: refused without waiting.
    const fast = await timed(h.get({ key: k('a') }));
    expect(fast.ok).toBe(false);
    expect(fast.ms).toBeLessThan(50);
    expect(h.ownStats().backend_connect_timeouts as number).toBeGreaterThanOrEqual(1);
    await sleep(800);
    // It keeps trying, with backoff.
    expect(silent.accepted).toBeGreaterThan(1);
  });
});

describe('replies that do not match their request', () => {
  let mc: MemcachedProcess;
  afterAll(async () => {
    await mc?.stop();
  });

  it('a wrong opaque token fails the batch with backend protocol error and reconnects', async () => {
    mc ??= await startMemcached();
    // On the first connection, the first request's reply claims to answer another request.
    const proxy = await startProxy(mc.port, {
      mangle: (chunk, conn) => (conn === 0 ? Buffer.from(chunk.toString('latin1').replace(' O1\r\n', ' O5\r\n'), 'latin1') : chunk),
    });
    opened.push(proxy);
    const h = handler({ port: proxy.port }, { connections: 1 });
    const [a, b] = await Promise.all([
      timed(h.store({ mode: 'set', key: k('x'), value: k('1'), flags: 0, exptime: 0 })),
      timed(h.get({ key: k('y') })),
    ]);
    expect(a.error?.message).toBe('backend protocol error');
    expect(b.error?.message).toBe('backend protocol error');
    expect(h.ownStats().backend_desyncs).toBe(1);
    expect(
      await eventually(async () => value(await h.store({ mode: 'set', key: k('x'), value: k('2'), flags: 0, exptime: 0 })) === '2'),
    ).toBe(true);
    expect(value(await h.get({ key: k('x') }))).toBe('2');
    expect(proxy.accepted).toBe(2);
  });

  it('an unsolicited reply line is a desync too', async () => {
    mc ??= await startMemcached();
    let injected = false;
    const proxy = await startProxy(mc.port, {
      mangle: (chunk) => {
        if (injected || !chunk.includes('VA')) return chunk;
        injected = true;
        return Buffer.concat([Buffer.from('VA 5 O1\r\nwrong\r\n'), chunk]);
      },
    });
    opened.push(proxy);
    const h = handler({ port: proxy.port }, { connections: 1 });
    await h.store({ mode: 'set', key: k('x'), value: k('right'), flags: 0, exptime: 0 });
    const r = await timed(h.get({ key: k('x') }));
    // Never the injected value: the get fails instead.
    expect(r.ok).toBe(false);
    expect(r.error!.message).toBe('backend protocol error');
    expect(await eventually(async () => value(await h.get({ key: k('x') })) === 'right')).toBe(true);
  });

  it('replies arriving a few bytes at a time are reassembled', async () => {
    mc ??= await startMemcached();
    const proxy = await startProxy(mc.port, { drip: 7 });
    opened.push(proxy);
    const h = handler({ port: proxy.port }, { timeoutMs: 10_000 });
    const big = Buffer.alloc(20_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 13) & 0xff;
    const ops = await Promise.all([
      h.store({ mode: 'set', key: k('big'), value: big, flags: 3, exptime: 0 }),
      h.get({ key: k('big') }),
      h.store({ mode: 'set', key: k('n'), value: k('41'), flags: 0, exptime: 0 }),
      h.arithmetic({ key: k('n'), incr: true, delta: 1n }),
      h.get({ key: k('missing') }),
      h.getMany([{ key: k('n') }, { key: k('big') }]),
    ]);
    expect((ops[1] as ItemView).value.equals(big)).toBe(true);
    expect(value(ops[3])).toBe('42');
    expect(ops[4]).toBeUndefined();
    const many = ops[5] as ItemView[];
    expect(value(many[0])).toBe('42');
    expect(many[1]!.value.equals(big)).toBe(true);
  });
});

describe('bounds', () => {
  it('a full in-flight queue refuses at once with backend busy', async () => {
    const mc = await startMemcached();
    try {
      const h = handler({ port: mc.port }, { connections: 1, maxInFlight: 10 });
      await h.get({ key: k('warm') });
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => timed(h.get({ key: k(`q${i}`) }))));
      expect(results.filter((r) => r.ok).length).toBe(10);
      const refused = results.filter((r) => !r.ok);
      expect(refused.length).toBe(40);
      expect(refused.every((r) => r.error!.message === 'backend busy' && r.ms < 100)).toBe(true);
      expect(h.ownStats().backend_rejected).toBe(40);
    } finally {
      await mc.stop();
    }
  });

  it('close while the backend is stalled rejects what is in flight at once', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target);
    await h.get({ key: k('warm') });
    await b.signal('SIGSTOP');
    const pending = timed(h.get({ key: k('a') }));
    await sleep(20);
    h.close();
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(r.ms).toBeLessThan(TIMEOUT);
    await b.signal('SIGCONT');
  });
});

/** `get a` on a text connection: the whole reply, up to END or a SERVER_ERROR line. */
async function textGet(c: RawClient): Promise<string> {
  c.write('get a\r\n');
  await c.waitFor((b) => /(^|\n)(SERVER_ERROR [^\r]*|END)\r\n$/.test(b.toString('latin1')), TIMEOUT + MARGIN + 2000);
  return (await c.read(c.received.length)).toString('latin1');
}

describe('faults seen by clients of the server', () => {
  it('clients get a prompt SERVER_ERROR (binary: a temporary failure) during a stall, then their data', async () => {
    const b = await backendOnFreePort();
    const h = handler(b.target);
    const server = await listenAndServe({ listen: { port: 0 }, handler: h });
    opened.push({ close: () => server.close() });
    const port = (server.addresses[0] as { port: number }).port;
    const text = await RawClient.connect({ port });
    const bin = await RawClient.connect({ port });
    opened.push({ close: () => text.close() }, { close: () => bin.close() });
    expect((await text.request('set a 1 0 2\r\nok\r\n', 'STORED\r\n')).toString()).toBe('STORED\r\n');
    await b.signal('SIGSTOP');
    for (let i = 0; i < 5; i++) {
      const t0 = Date.now();
      const reply = await textGet(text);
      expect(reply).toMatch(/^SERVER_ERROR backend (timeout|unavailable)\r\n$/);
      expect(Date.now() - t0).toBeLessThanOrEqual(TIMEOUT + MARGIN);
      bin.write(binaryPacket({ opcode: 0x00, key: 'a', opaque: i }));
      const header = await bin.read(24, TIMEOUT + MARGIN + 500);
      expect(header.readUInt16BE(6)).toBe(BinaryStatus.ETMPFAIL);
      await bin.read(header.readUInt32BE(8));
    }
    await b.signal('SIGCONT');
    expect(await eventually(async () => (await textGet(text)) === 'VALUE a 1 2\r\nok\r\nEND\r\n', 5000)).toBe(true);
    expect(await textGet(text)).toBe('VALUE a 1 2\r\nok\r\nEND\r\n');
  });
});
