/**
 * Routes over real memcached processes behind a cleave server:
 * - writes pipelined through allSync and allAsync reach both memcached in the client's order (the last value wins
 *   on each), and allAsync answers the default reply at once;
 * - allSync with one replica killed still writes the other and answers the failure;
 * - failover over a SIGSTOPped memcached answers from the next one after the first one's timeout, and over a killed
 *   one as soon as its connection is refused; over pools, a pool whose server is down is skipped without a request reaching it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe, type Server } from '@cleave/server';
import { FixedMemcached, RawClient, freePort, until } from '@cleave/testkit';
import type { Handler } from '@cleave/protocol';
import { allAsync, allSync, failover, pool, ringName } from '../src/index.js';

/** Backend timeout: well above a healthy reply on a busy machine, well below the test's span. */
const TIMEOUT = 400;

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** A memcached of its own on a free port, killed when the file's tests end. */
async function memcached(): Promise<FixedMemcached> {
  const m = new FixedMemcached({ port: await freePort() });
  await m.start();
  cleanup.push(() => m.kill());
  return m;
}

function handlerOf(m: FixedMemcached): MemcachedHandler {
  const port = (m.target as { port: number }).port;
  return new MemcachedHandler({ address: { host: '127.0.0.1', port }, timeoutMs: TIMEOUT, connectTimeoutMs: TIMEOUT });
}

async function serve(handler: Handler): Promise<number> {
  const server: Server = await listenAndServe({ listen: { port: 0 }, handler });
  cleanup.push(() => server.close());
  return (server.addresses[0] as { port: number }).port;
}

async function client(port: number): Promise<RawClient> {
  const c = await RawClient.connect({ port });
  cleanup.push(() => c.close());
  return c;
}

/** Send `data` and take the next `n` reply lines. */
async function lines(c: RawClient, data: string, n: number, ms = 10_000): Promise<string[]> {
  c.write(data);
  const end = (b: Buffer): number => {
    let at = 0;
    for (let i = 0; i < n; i++) {
      const eol = b.indexOf('\r\n', at);
      if (eol < 0) return -1;
      at = eol + 2;
    }
    return at;
  };
  if (!(await c.waitFor((b) => end(b) >= 0, ms)))
    throw new Error(`no ${n} reply lines within ${ms} ms: ${JSON.stringify(String(c.received))}`);
  return (await c.read(end(c.received))).toString('latin1').split('\r\n').slice(0, n);
}

/** The value memcached holds for `key`, asked directly (undefined when it holds none). */
async function valueIn(m: FixedMemcached, key: string): Promise<string | undefined> {
  const c = await RawClient.connect(m.target);
  try {
    const reply = (await c.request(`get ${key}\r\n`, 'END\r\n')).toString('latin1').split('\r\n');
    return reply[0] === 'END' ? undefined : reply[1];
  } finally {
    c.close();
  }
}

/** Sets of 1, 2, 3 on each of `keys`, interleaved, in one write: each memcached must end with 3 on every key. */
function pipelinedSets(keys: readonly string[]): string {
  let s = '';
  for (const v of ['1', '2', '3']) for (const key of keys) s += `set ${key} 0 0 1\r\n${v}\r\n`;
  return s;
}

describe('all-sync and all-async over two memcached', () => {
  let a: FixedMemcached;
  let b: FixedMemcached;
  beforeAll(async () => {
    [a, b] = await Promise.all([memcached(), memcached()]);
  });

  const keys = Array.from({ length: 40 }, (_, i) => `order-${i}`);

  it('allSync: pipelined writes reach both in order; every one answered STORED', async () => {
    const c = await client(await serve(allSync([handlerOf(a), handlerOf(b)])));
    const sync = keys.map((k) => `s-${k}`);
    const replies = await lines(c, pipelinedSets(sync), sync.length * 3);
    expect(new Set(replies)).toEqual(new Set(['STORED']));
    for (const key of sync) {
      expect(await valueIn(a, key)).toBe('3');
      expect(await valueIn(b, key)).toBe('3');
    }
  });

  it('allAsync: answers NOT_STORED at once, and the writes reach both in order', async () => {
    const c = await client(await serve(allAsync([handlerOf(a), handlerOf(b)])));
    const async = keys.map((k) => `a-${k}`);
    const replies = await lines(c, pipelinedSets(async), async.length * 3);
    expect(new Set(replies)).toEqual(new Set(['NOT_STORED']));
    for (const key of async) {
      await until(`${key} = 3 on both`, async () => (await valueIn(a, key)) === '3' && (await valueIn(b, key)) === '3');
    }
    // A get through all-async answers a miss, whatever the children hold.
    expect(await lines(c, `get ${async[0]}\r\n`, 1)).toEqual(['END']);
  });

  it('allSync with one memcached killed: the other is written, the client gets the failure', async () => {
    const port = await serve(allSync([handlerOf(a), handlerOf(b)]));
    const c = await client(port);
    expect(await lines(c, 'set dead 0 0 1\r\n1\r\n', 1)).toEqual(['STORED']);
    await b.kill();
    const [reply] = await lines(c, 'set dead 0 0 1\r\n2\r\n', 1);
    expect(reply).toMatch(/^SERVER_ERROR /);
    expect(await valueIn(a, 'dead')).toBe('2');
    await b.start();
  });
});

describe('failover over two memcached', () => {
  let a: FixedMemcached;
  let b: FixedMemcached;
  beforeAll(async () => {
    [a, b] = await Promise.all([memcached(), memcached()]);
  });

  it('first one SIGSTOPped: answers from the second after the timeout; killed: at once', async () => {
    const c = await client(await serve(failover([handlerOf(a), handlerOf(b)])));
    expect(await lines(c, 'set f 0 0 1\r\na\r\n', 1)).toEqual(['STORED']);
    expect(await valueIn(a, 'f')).toBe('a');
    expect(await valueIn(b, 'f')).toBeUndefined();

    await a.pause();
    try {
      const t = Date.now();
      expect(await lines(c, 'get f\r\n', 1)).toEqual(['END']); // b has no f
      expect(Date.now() - t).toBeGreaterThanOrEqual(TIMEOUT - 50);
      expect(await lines(c, 'set f 0 0 1\r\nb\r\n', 1)).toEqual(['STORED']);
      expect(await valueIn(b, 'f')).toBe('b');
      expect(await lines(c, 'get f\r\n', 3)).toEqual(['VALUE f 0 1', 'b', 'END']);
    } finally {
      a.resume();
    }
    // Back: the first answers again. (The set that timed out on it may still land there: a data timeout says
    // nothing about whether a write happened. So look at a key written to it directly.)
    const direct = await RawClient.connect(a.target);
    await direct.request('set g 0 0 1\r\nc\r\n', 'STORED\r\n');
    direct.close();
    await until('a answers through the route', async () => String(await c.request('get g\r\n', 'END\r\n', 5000)).includes('\r\nc\r\n'));

    await a.kill();
    expect(await lines(c, 'get f\r\n', 3)).toEqual(['VALUE f 0 1', 'b', 'END']);
    await a.start();
  });

  it('over pools: a pool whose server is down is skipped without a request reaching it', async () => {
    const poolOf = (m: FixedMemcached) =>
      pool({
        servers: [{ handler: handlerOf(m), name: ringName('127.0.0.1', (m.target as { port: number }).port) }],
        serverFailureLimit: 1,
        probeIntervalMs: 100,
      });
    const [pa, pb] = [poolOf(a), poolOf(b)];
    const c = await client(await serve(failover([pa, pb])));
    expect(await lines(c, 'set p 0 0 1\r\na\r\n', 1)).toEqual(['STORED']);

    await a.kill();
    expect(await lines(c, 'set p 0 0 1\r\nb\r\n', 1)).toEqual(['STORED']);
    const member = pa.members[0]!;
    await until('a down', async () => member.state !== 'up');
    const sent = member.counters.requests;
    for (let i = 0; i < 5; i++) expect(await lines(c, 'get p\r\n', 3)).toEqual(['VALUE p 0 1', 'b', 'END']);
    expect(member.counters.requests).toBe(sent);

    await a.start();
    // Back in service (empty, restarted): its miss is an answer, not a failure to fail over on.
    await until('a back in service', async () => member.state === 'up');
    expect(await lines(c, 'get p\r\n', 1)).toEqual(['END']);
    expect(member.counters.requests).toBe(sent + 1);
  });
});
