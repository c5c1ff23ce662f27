/**
 * stats and admin commands against real memcached: what each stats group
 * shows after known writes, admin replies byte for byte as memcached's own,
 * and a backend that is stopped or killed still answering stats with a
 * whole group, promptly.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HandlerError, type AdminCommand, type StatsGroup } from '@cleave/protocol';
import { RawClient, freePort, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { listenAndServe } from '@cleave/server';
import { l1l2 } from '@cleave/tiers';
import { MemcachedHandler } from '../src/index.js';
import { Backend, k, raw } from './helpers.js';

const TIMEOUT = 400;
/** Slack for timers and a busy 2-core machine. */
const MARGIN = 600;

/** memcached's own reply to `stats [group]`, as a group (numbers where the text is a decimal integer). */
async function backendStats(port: number, group = ''): Promise<StatsGroup> {
  const text = await raw({ port }, group === '' ? 'stats\r\n' : `stats ${group}\r\n`, 'END\r\n');
  const out: StatsGroup = {};
  for (const line of text.split('\r\n')) {
    const m = /^STAT (\S+) (.*)$/.exec(line);
    if (m) out[m[1]!] = /^\d{1,15}$/.test(m[2]!) ? Number(m[2]) : m[2]!;
  }
  return out;
}

/** What memcached itself answers to an admin command sent on a connection of its own. */
async function backendAdmin(port: number, line: string, terminator: string): Promise<Buffer> {
  const c = await RawClient.connect({ port });
  try {
    return await c.request(`${line}\r\n`, terminator);
  } finally {
    c.close();
  }
}

/**
 * A reply's lines, each with its line end, the entries sorted: memcached's
 * LRU maintainer moves items between its lists in the background, so two
 * dumps list the same lines in another order. The last line stays last.
 */
function dumpLines(reply: Buffer): string[] {
  const lines = reply.toString('latin1').split(/(?<=\n)/);
  const last = lines.pop()!;
  // memcached's LRU crawler walks each LRU segment in turn, so an item that moves from one segment to another
  // during a crawl (a fetch bumps it) is listed twice in that dump: two dumps are compared as sets of lines.
  return [...new Set(lines)].sort().concat(last);
}

/** Figures of items, slabs and sizes that only writes change. */
const STABLE =
  /^(items:\d+:(number|mem_requested|evicted)|\d+:(chunk_size|chunks_per_page|total_pages|used_chunks)|active_slabs|total_malloced|sizes_status)$/;

const cmd = (line: string): AdminCommand => {
  const [name, ...args] = line.split(' ');
  return { name: name!, args };
};

const set = (h: MemcachedHandler, key: string, value: string) =>
  h.store({ mode: 'set', key: k(key), value: k(value), flags: 0, exptime: 0 });

describe('MemcachedHandler stats over a running memcached', () => {
  let mc: MemcachedProcess;
  let h: MemcachedHandler;

  beforeAll(async () => {
    mc = await startMemcached({ memoryMb: 32 });
    h = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc.port }, timeoutMs: 2000, connectTimeoutMs: 2000 });
    for (let i = 0; i < 10; i++) await set(h, `key${i}`, 'x'.repeat(i * 100));
    // A value in a second slab class.
    await set(h, 'big', 'y'.repeat(5000));
  });
  afterAll(async () => {
    h.close();
    await mc.stop();
  });

  it("'' has memcached's storage figures, its connections under backend_, and the handler's counters; no command counters", async () => {
    const st = (await h.stats(''))!;
    const own = await backendStats(mc.port);
    expect(st.curr_items).toBe(11);
    expect(st.total_items).toBe(11);
    for (const f of ['curr_items', 'total_items', 'bytes', 'limit_maxbytes', 'evictions', 'reclaimed', 'expired_unfetched', 'hash_bytes']) {
      expect(st[f], f).toBe(own[f]);
    }
    expect(st.limit_maxbytes).toBe(32 * 1024 * 1024);
    expect(st.backend_version).toBe(own.version);
    // The handler's own connections to it, at least.
    expect(st.backend_curr_connections as number).toBeGreaterThanOrEqual(2);
    expect(st.backend_connections_ready).toBe(2);
    expect(st.backend_requests as number).toBeGreaterThanOrEqual(12);
    for (const f of ['cmd_get', 'cmd_set', 'get_hits', 'get_misses', 'pid', 'uptime', 'curr_connections', 'version', 'threads']) {
      expect(st, f).not.toHaveProperty(f);
    }
    expect(st).not.toHaveProperty('backend_stats_error');
  });

  it('bytes and curr_items follow writes and deletes', async () => {
    const before = (await h.stats(''))!;
    await set(h, 'extra', 'z'.repeat(10));
    await h.delete({ key: k('key0') });
    await h.delete({ key: k('key1') });
    const after = (await h.stats(''))!;
    expect(after.curr_items).toBe((before.curr_items as number) - 1);
    expect(after.total_items).toBe((before.total_items as number) + 1);
    expect(after.bytes).toBe((await backendStats(mc.port)).bytes);
  });

  it("items, slabs and sizes are memcached's own groups", async () => {
    for (const group of ['items', 'slabs', 'sizes']) {
      const ours = (await h.stats(group))!;
      const theirs = await backendStats(mc.port, group);
      expect(Object.keys(ours), group).toEqual(Object.keys(theirs));
      // What the LRU maintainer moves in the background (hot, warm, cold, ages) aside.
      for (const key in theirs) if (STABLE.test(key)) expect(ours[key], key).toEqual(theirs[key]);
    }
    const items = (await h.stats('items'))!;
    const classes = Object.keys(items).filter((f) => f.endsWith(':number'));
    expect(classes.length).toBeGreaterThanOrEqual(2);
    expect(classes.reduce((n, f) => n + (items[f] as number), 0)).toBe((await h.stats(''))!.curr_items);
  });

  it("settings are memcached's with the handler's limits over them", async () => {
    const st = (await h.stats('settings'))!;
    expect(st.maxbytes).toBe(32 * 1024 * 1024);
    expect(st.evictions).toBe('on');
    expect(st.item_size_max).toBe(1024 * 1024);
    expect(st.backend).toBe(`127.0.0.1:${mc.port}`);
    expect(st.backend_timeout_ms).toBe(2000);
  });

  it("an unknown group is undefined, as memcached answers ERROR; the server's own groups never reach it", async () => {
    const requests = h.ownStats().backend_requests as number;
    expect(await h.stats('conns')).toBeUndefined();
    expect(await h.stats('detail dump')).toBeUndefined();
    expect(h.ownStats().backend_requests).toBe(requests);
    expect(await h.stats('nonsense')).toBeUndefined();
    // The ERROR did not cost the connection.
    expect(h.ownStats().backend_desyncs).toBe(0);
    expect((await h.get({ key: k('key5') }))?.value.toString()).toBe('x'.repeat(500));
  });

  it('stats interleaved with pipelined requests keep every reply with its request', async () => {
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      ops.push(h.get({ key: k(`key${i % 10}`) }));
      if (i % 10 === 0) ops.push(Promise.resolve(h.stats(i % 20 === 0 ? '' : 'items')));
    }
    const got = await Promise.all(ops);
    expect(h.ownStats().backend_desyncs).toBe(0);
    expect(got.filter((g) => g !== undefined && typeof g === 'object' && 'curr_items' in (g as object)).length).toBe(3);
  });

  it("stats reset zeroes the handler's counters only", async () => {
    const total = (await h.stats(''))!.total_items;
    expect(await h.stats('reset')).toEqual({});
    const st = h.ownStats();
    expect(st.backend_requests).toBe(0);
    expect(st.backend_errors).toBe(0);
    expect((await h.stats(''))!.total_items).toBe(total);
  });

  describe("admin commands: memcached's own reply, byte for byte", () => {
    it.each([
      ['lru_crawler metadump all', 'END\r\n'],
      ['lru_crawler metadump 1', 'END\r\n'],
      ['lru_crawler metadump 63', 'END\r\n'],
      ['stats cachedump 1 0', 'END\r\n'],
      ['stats cachedump 1 2', 'END\r\n'],
      ['slabs automove 1', '\r\n'],
      ['slabs reassign 1 2', '\r\n'],
      ['lru_crawler sleep 100', '\r\n'],
      ['lru_crawler bogus', '\r\n'],
      ['cache_memlimit 40', '\r\n'],
      ['cache_memlimit 2', '\r\n'],
      ['lru mode flat', '\r\n'],
      ['lru mode segmented', '\r\n'],
    ])('%s', async (line, terminator) => {
      const ours = await h.admin(cmd(line));
      const theirs = await backendAdmin(mc.port, line, terminator);
      expect(dumpLines(ours)).toEqual(dumpLines(theirs));
    });

    it('a metadump lists every key', async () => {
      const dump = (await h.admin(cmd('lru_crawler metadump hash'))).toString('latin1');
      const keys = dump
        .split('\n')
        .filter((l) => l.startsWith('key='))
        .map((l) => /^key=(\S+)/.exec(l)![1])
        .sort();
      expect(keys).toEqual(['big', 'extra', ...Array.from({ length: 8 }, (_, i) => `key${i + 2}`)].sort());
      expect(dump.endsWith('\nEND\r\n')).toBe(true);
    });

    it('a dump of many keys arriving in many reads is whole', async () => {
      const sets: Promise<unknown>[] = [];
      for (let i = 0; i < 3000; i++) sets.push(set(h, `many:${i}:${'p'.repeat(100)}`, 'v'));
      sets.push(set(h, 'many:last', 'v'));
      await Promise.all(sets);
      // `hash`, not `all`: `all` walks each LRU queue and can miss an item that moves between them meanwhile (memcached's
      // LRU maintainer moves new items out of HOT), so its count is not exact.
      const dump = (await h.admin(cmd('lru_crawler metadump hash'))).toString('latin1');
      // metadump URL-encodes keys: ':' is %3A.
      expect(dump.split('\n').filter((l) => l.startsWith('key=many%3A')).length).toBe(3001);
      const ours = await h.admin(cmd('stats cachedump 1 0'));
      const theirs = await backendAdmin(mc.port, 'stats cachedump 1 0', 'END\r\n');
      expect(dumpLines(ours)).toEqual(dumpLines(theirs));
    });
  });
});

describe('MemcachedHandler stats and admin with the backend down', () => {
  const backends: Backend[] = [];
  const handlers: MemcachedHandler[] = [];
  afterEach(async () => {
    for (const x of handlers.splice(0)) x.close();
    for (const b of backends.splice(0)) await b.kill();
  });

  async function rig(): Promise<{ b: Backend; h: MemcachedHandler }> {
    const port = await freePort();
    const b = new Backend({ port });
    backends.push(b);
    await b.start();
    const h = new MemcachedHandler({
      address: { host: '127.0.0.1', port },
      timeoutMs: TIMEOUT,
      connectTimeoutMs: TIMEOUT,
      backoff: { minMs: 20, maxMs: 200 },
    });
    handlers.push(h);
    await set(h, 'a', 'x');
    return { b, h };
  }

  async function timed<T>(p: Promise<T>): Promise<{ ms: number; value: T }> {
    const t0 = Date.now();
    const value = await p;
    return { ms: Date.now() - t0, value };
  }

  it("stopped (SIGSTOP): every group still answers, within timeoutMs, with the handler's own figures", async () => {
    const { b, h } = await rig();
    await b.pause();
    try {
      const general = await timed(Promise.resolve(h.stats('')));
      expect(general.ms).toBeLessThan(TIMEOUT + MARGIN);
      expect(general.value).toMatchObject({ backend_stats_error: 'BACKEND_TIMEOUT', backend_connections: 2 });
      expect(general.value).not.toHaveProperty('curr_items');
      // The connection that timed out backs off: the next answers at once.
      const items = await timed(Promise.resolve(h.stats('items')));
      expect(items.ms).toBeLessThan(TIMEOUT + MARGIN);
      expect(items.value).toEqual({});
      const settings = (await h.stats('settings'))!;
      expect(settings.item_size_max).toBe(1024 * 1024);
      expect(settings.backend_stats_error).toMatch(/^BACKEND_/);
      const admin = await timed(h.admin(cmd('lru_crawler metadump all')).catch((e: unknown) => e));
      expect(admin.ms).toBeLessThan(TIMEOUT + MARGIN);
      expect(admin.value).toBeInstanceOf(HandlerError);
      expect((admin.value as HandlerError).code).toBe('BACKEND_TIMEOUT');
    } finally {
      b.resume();
    }
    // Back: the figures are memcached's again.
    await expect.poll(async () => (await h.stats(''))!.curr_items, { timeout: 5000 }).toBe(1);
  });

  it('killed: stats answers at once with the error, admin fails as a request would', async () => {
    const { b, h } = await rig();
    await b.kill();
    const general = await timed(Promise.resolve(h.stats('')));
    expect(general.ms).toBeLessThan(MARGIN);
    expect(general.value!.backend_stats_error).toMatch(/^BACKEND_(CLOSED|UNAVAILABLE|REFUSED)$/);
    expect(await h.stats('slabs')).toEqual({});
    expect(await h.stats('nonsense')).toBeUndefined();
    const admin = await h.admin(cmd('stats cachedump 1 0')).catch((e: unknown) => e);
    expect((admin as HandlerError).code).toBe('BACKEND_REFUSED');
  });

  it('through a server, a client asking each group of a stopped backend gets a whole reply, END included, promptly', async () => {
    const { b, h } = await rig();
    const server = await listenAndServe({ listen: { host: '127.0.0.1', port: 0 }, handler: h, closeHandlers: false });
    const c = await RawClient.connect({ port: (server.addresses[0] as { port: number }).port });
    await b.pause();
    try {
      for (const group of ['', ' items', ' slabs', ' sizes', ' settings']) {
        const t0 = Date.now();
        const reply = (await c.request(`stats${group}\r\n`, 'END\r\n')).toString('latin1');
        expect(Date.now() - t0, group).toBeLessThan(TIMEOUT + MARGIN);
        expect(reply).toMatch(/(^|\r\n)END\r\n$/);
        if (group === '') expect(reply).toMatch(/\r\nSTAT backend_stats_error BACKEND_\w+\r\n/);
      }
    } finally {
      b.resume();
      c.close();
      await server.close();
    }
  });

  it('close fails an admin command in progress', async () => {
    const { b, h } = await rig();
    await b.pause();
    try {
      const p = h.admin(cmd('lru_crawler metadump all')).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 50));
      h.close();
      expect(((await p) as HandlerError).code).toBe('HANDLER_CLOSED');
    } finally {
      b.resume();
    }
  });
});

describe('as L2 under l1l2', () => {
  it("stats show L1's figures and memcached's under l2_; admin commands reach memcached; a stopped L2 still gets a reply", async () => {
    const port = await freePort();
    const b = new Backend({ port });
    await b.start();
    const l2 = new MemcachedHandler({ address: { host: '127.0.0.1', port }, timeoutMs: TIMEOUT, connectTimeoutMs: TIMEOUT });
    const tiers = l1l2(new InMemoryHandler({ maxBytes: 8 << 20 }), l2);
    try {
      for (let i = 0; i < 5; i++) await set(tiers as unknown as MemcachedHandler, `t${i}`, 'v'.repeat(i));
      const st = (await tiers.stats(''))!;
      const own = await backendStats(port);
      expect(st.curr_items).toBe(5);
      expect(st.l2_curr_items).toBe(own.curr_items);
      expect(st.l2_bytes).toBe(own.bytes);
      expect(st.l2_backend_connections).toBe(2);
      const settings = (await tiers.stats('settings'))!;
      expect(settings.maxbytes).toBe(8 << 20);
      expect(settings.l2_maxbytes).toBe(64 * 1024 * 1024);
      expect((await tiers.stats('items'))!['l2_items:1:number']).toBe(5);
      const dump = await tiers.admin(cmd('lru_crawler metadump hash'));
      expect(dumpLines(dump!)).toEqual(dumpLines(await backendAdmin(port, 'lru_crawler metadump hash', 'END\r\n')));
      await b.pause();
      try {
        const t0 = Date.now();
        const down = (await tiers.stats(''))!;
        expect(Date.now() - t0).toBeLessThan(TIMEOUT + MARGIN);
        expect(down.curr_items).toBe(5);
        expect(down.l2_backend_stats_error).toBe('BACKEND_TIMEOUT');
      } finally {
        b.resume();
      }
    } finally {
      await tiers.close();
      await b.kill();
    }
  });
});
