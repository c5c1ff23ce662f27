/**
 * memcached's admin commands and its HTTP defence, against a real memcached
 * 1.6.18: every command and argument error gets the same bytes from a
 * cleave server over the in-memory store. memcached runs with
 * `-o no_lru_maintainer`, the memcached the store's `stats settings`
 * describe (one flat LRU per class, no maintainer thread): its items sit in
 * the LRU a cachedump reads at once, and `lru mode`/`temp_ttl` answer as
 * the store does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler } from '@cleave/protocol';
import { RawClient, RebuiltCommandsHandler, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

let memcached: MemcachedProcess;
const servers: Server[] = [];
const ports = { parsed: 0, rebuilt: 0 };

async function serve(handler: Handler, extra: Partial<Parameters<typeof listenAndServe>[0]> = {}): Promise<Server> {
  const server = await listenAndServe({ listen: { port: 0 }, handler, ...extra });
  servers.push(server);
  return server;
}
const portOf = (s: Server) => (s.addresses[0] as { port: number }).port;

beforeAll(async () => {
  memcached = await startMemcached({ args: ['-o', 'no_lru_maintainer'] });
  ports.parsed = portOf(await serve(new InMemoryHandler({ sweepIntervalMs: 0 })));
  ports.rebuilt = portOf(await serve(new RebuiltCommandsHandler(new InMemoryHandler({ sweepIntervalMs: 0 }))));
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await memcached?.stop();
});

/** Send `line` then `version` on a fresh connection; the bytes before the VERSION line (nothing for noreply). */
async function reply(port: number, line: string): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    c.write(`${line}\r\nversion\r\n`);
    await c.waitFor((b) => /VERSION [^\r]*\r\n$/.test(b.toString('latin1')), 10_000);
    return c.received.toString('latin1').replace(/VERSION [^\r]*\r\n$/, '');
  } finally {
    c.close();
  }
}

/** A dump (metadump, cachedump) alone on a fresh connection, up to its END. */
async function dump(port: number, line: string): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    c.write(`${line}\r\n`);
    await c.waitFor((b) => /(^|\n)END\r\n$|^[A-Z_]+ [^\n]*\r\n$/.test(b.toString('latin1')), 10_000);
    return c.received.toString('latin1');
  } finally {
    c.close();
  }
}

async function send(port: number, data: string, expected: string): Promise<void> {
  const c = await RawClient.connect({ port });
  await c.request(data, expected, 5000);
  c.close();
}

const ARGUMENT_CASES = [
  // lru_crawler
  'lru_crawler',
  'lru_crawler foo',
  'lru_crawler metadump',
  'lru_crawler metadump all x',
  'lru_crawler metadump 0',
  'lru_crawler metadump 64',
  'lru_crawler metadump x',
  'lru_crawler metadump 1,x',
  'lru_crawler crawl',
  'lru_crawler crawl hash',
  'lru_crawler crawl 0',
  'lru_crawler crawl ,',
  'lru_crawler tocrawl x',
  'lru_crawler tocrawl -1',
  'lru_crawler tocrawl 5',
  'lru_crawler sleep x',
  'lru_crawler sleep 1000001',
  'lru_crawler sleep 100',
  'lru_crawler enable',
  'lru_crawler enable x',
  // stats cachedump
  'stats cachedump',
  'stats cachedump 1',
  'stats cachedump x 0',
  'stats cachedump -1 0',
  'stats cachedump 64 0',
  'stats cachedump 63 0',
  'stats cachedump 0 0',
  'stats cachedump 2 0',
  // slabs
  'slabs',
  'slabs foo',
  'slabs reassign',
  'slabs reassign 1',
  'slabs reassign 1 2 3',
  'slabs reassign x 1',
  'slabs reassign 1 1',
  'slabs reassign 99 99',
  'slabs reassign -1 -1',
  'slabs reassign -2 1',
  'slabs reassign 1 99',
  'slabs reassign 0 1',
  'slabs reassign 1 2',
  'slabs automove',
  'slabs automove 0',
  'slabs automove 1',
  'slabs automove 2',
  'slabs automove 3',
  'slabs automove invalid',
  'slabs automove -1',
  'slabs automove ratio',
  'slabs automove ratio x',
  'slabs automove ratio 0.5',
  'slabs automove 1 noreply',
  'slabs automove invalid noreply',
  'slabs automove 1 x',
  // lru
  'lru',
  'lru foo',
  'lru tune 10 10 0.1 1',
  'lru tune 10 10 0.1',
  'lru tune 50 50 0.1 1',
  'lru tune 10 10 0 1',
  'lru tune 10 10 x 1',
  'lru tune x 10 0.1 1',
  'lru tune 10 10 0.1 1 noreply',
  'lru mode flat',
  'lru mode segmented',
  'lru mode',
  'lru temp_ttl 10',
  // cache_memlimit
  'cache_memlimit',
  'cache_memlimit x',
  'cache_memlimit 7',
  'cache_memlimit 1000000001',
  'cache_memlimit 64',
  'cache_memlimit 64 noreply',
  'cache_memlimit 7 noreply',
  'cache_memlimit 64 x y',
  // shutdown (not enabled), verbosity
  'shutdown',
  'shutdown graceful',
  'shutdown now',
  'verbosity 1',
  'verbosity 1 noreply',
];

for (const via of ['parsed', 'rebuilt'] as const) {
  describe(`admin commands match memcached (${via === 'parsed' ? 'parsed requests' : 'commands rebuilt from their fields'})`, () => {
    it.each(ARGUMENT_CASES)('%s', async (line) => {
      const [theirs, ours] = await Promise.all([reply(memcached.port, line), reply(ports[via], line)]);
      expect(ours).toBe(theirs);
    });

    // memcached 1.6.18 answers NOTSTARTED but keeps the client attached, and refuses every later metadump.
    it('lru_crawler metadump with no class id starts nothing', async () => {
      expect(await reply(ports[via], 'lru_crawler metadump ,')).toBe('NOTSTARTED no items to crawl\r\n');
    });

    it('lru_crawler metadump of a known set of items: the same lines, times aside', async () => {
      const load =
        'set foo 0 0 3\r\nbar\r\nset b%20z 5 100 2\r\nhi\r\nset \u00e9t\u00e9 7 0 1\r\nx\r\nget foo\r\ntouch foo 1000\r\nversion\r\n';
      for (const port of [memcached.port, ports[via]]) {
        await send(port, 'flush_all\r\n', 'OK\r\n');
        // Items stored in the same second as the flush would count as flushed: store them in the next one.
        await new Promise((r) => setTimeout(r, 1100));
        await send(port, load, 'VERSION 1.6.18\r\n');
      }
      // Times to the nearest 10 s from now; CAS uniques from the first of the dump (the two servers' histories differ).
      const normalise = (s: string) => {
        const first = Math.min(...[...s.matchAll(/ cas=(\d+)/g)].map((m) => Number(m[1])));
        return s
          .replace(/ cas=(\d+)/g, (_, c: string) => ` cas=+${Number(c) - first}`)
          .replace(/ la=\d+/g, ' la=<t>')
          .replace(/ exp=(\d+)/g, (_, e: string) => ` exp=+${Math.round((Number(e) - Date.now() / 1000) / 10) * 10}`)
          .split('\n')
          .sort()
          .join('\n');
      };
      for (const arg of ['all', '1', 'hash', '1,2']) {
        const [theirs, ours] = await Promise.all([
          dump(memcached.port, `lru_crawler metadump ${arg}`),
          dump(ports[via], `lru_crawler metadump ${arg}`),
        ]);
        expect(theirs).toMatch(/key=foo exp=\d+ la=\d+ cas=\d+ fetch=yes cls=1 size=65\n/);
        expect(normalise(ours)).toBe(normalise(theirs));
      }
      // cachedump: newest first, exptime absolute.
      const [theirs, ours] = await Promise.all([dump(memcached.port, 'stats cachedump 1 0'), dump(ports[via], 'stats cachedump 1 0')]);
      const times = (s: string) =>
        s.replace(/; (\d+) s\]/g, (_, e: string) => `; ${e === '0' ? 0 : Math.round((Number(e) - Date.now() / 1000) / 10) * 10} s]`);
      expect(times(ours)).toBe(times(theirs));
      const [theirs1, ours1] = await Promise.all([dump(memcached.port, 'stats cachedump 1 2'), dump(ports[via], 'stats cachedump 1 2')]);
      expect(times(ours1)).toBe(times(theirs1));
    });
  });
}

describe('a line that looks like HTTP closes the connection without a reply, as in memcached', () => {
  const lines = ['GET / HTTP/1.0', 'PUT /x HTTP/1.1', 'DELETE HTTP/1.1', 'HTTP/1.1', 'POST /a b c HTTP/2', 'get foo\r\nOPTIONS * HTTP/1.1'];
  it.each(lines)('%s', async (line) => {
    for (const port of [memcached.port, ports.parsed]) {
      const c = await RawClient.connect({ port });
      c.write(`${line}\r\n`);
      expect(await c.waitClosed(5000)).toBe(true);
      // The get before it is answered by cleave; memcached, reading both at once, drops it.
      if (!line.startsWith('get')) expect(c.received.length).toBe(0);
      c.close();
    }
  });

  const kept = ['delete HTTP/1.1', 'get / HTTP/1.1', 'stats HTTP/1.1', 'GET / HTTP', 'G HTTP/1.1', 'GET / http/1.1', 'mg HTTP/1.1'];
  it.each(kept)('%s is answered as memcached answers it', async (line) => {
    const [theirs, ours] = await Promise.all([reply(memcached.port, line), reply(ports.parsed, line)]);
    expect(ours).toBe(theirs);
  });
});

describe('shutdown', () => {
  it('closes the connection without a reply and the server, when enabled', async () => {
    const server = await listenAndServe({ listen: { port: 0 }, handler: new InMemoryHandler(), shutdown: true });
    const c = await RawClient.connect({ port: portOf(server) });
    expect((await c.request('shutdown now\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR invalid shutdown mode\r\n');
    c.write('set a 0 0 1\r\nx\r\nshutdown graceful\r\n');
    expect(await c.waitClosed(5000)).toBe(true);
    expect(c.received.toString()).toContain('STORED\r\n');
    expect(c.received.toString()).not.toContain('shutdown');
    await server.close();
    await expect(RawClient.connect({ port: portOf(server) })).rejects.toThrow();
  });

  it('calls the function given instead, with the mode', async () => {
    const modes: string[] = [];
    const server = await serve(new InMemoryHandler(), { shutdown: (mode) => modes.push(mode) });
    for (const line of ['shutdown', 'shutdown graceful']) {
      const c = await RawClient.connect({ port: portOf(server) });
      c.write(`${line}\r\n`);
      expect(await c.waitClosed(5000)).toBe(true);
      expect(c.received.length).toBe(0);
    }
    await new Promise((r) => setImmediate(r));
    expect(modes).toEqual(['immediate', 'graceful']);
  });
});

describe('a handler without admin', () => {
  it('answers as a memcached without each feature', async () => {
    const inner = new InMemoryHandler();
    const bare: Handler = {
      get: (c) => inner.get(c),
      store: (c) => inner.store(c),
      delete: (c) => inner.delete(c),
      arithmetic: (c) => inner.arithmetic(c),
      touch: (c) => inner.touch(c),
      flush: (d) => inner.flush(d),
      close: () => inner.close(),
    };
    const port = portOf(await serve(bare));
    const expected: Record<string, string> = {
      'lru_crawler metadump all': 'CLIENT_ERROR lru crawler disabled\r\n',
      'lru_crawler crawl all': 'CLIENT_ERROR lru crawler disabled\r\n',
      'lru_crawler enable': 'ERROR failed to start lru crawler thread\r\n',
      'lru_crawler disable': 'OK\r\n',
      'stats cachedump 1 0': 'CLIENT_ERROR stats cachedump not allowed\r\n',
      'slabs reassign 1 2': 'CLIENT_ERROR slab reassignment disabled\r\n',
      'slabs automove 1': 'ERROR\r\n',
      'lru tune 10 10 0.1 1': 'ERROR\r\n',
      'cache_memlimit 100': 'MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n',
      'slabs automove invalid': 'CLIENT_ERROR bad command line format\r\n',
    };
    for (const [line, answer] of Object.entries(expected)) expect(await reply(port, line)).toBe(answer);
  });
});

describe('the in-memory store', () => {
  it('cache_memlimit shrinks the store at once and shows in stats', async () => {
    const store = new InMemoryHandler({ maxBytes: 64 << 20, sweepIntervalMs: 0 });
    const port = portOf(await serve(store));
    const value = 'x'.repeat(10_000);
    const c = await RawClient.connect({ port });
    for (let i = 0; i < 3000; i++) c.write(`set k${i} 0 0 ${value.length} noreply\r\n${value}\r\n`);
    await c.request('version\r\n', '\r\n', 10_000);
    expect(store.memoryUsed).toBeGreaterThan(20 << 20);
    expect((await c.request('cache_memlimit 16\r\n', '\r\n')).toString()).toBe('OK\r\n');
    expect(store.maxBytes).toBe(16 << 20);
    expect(store.memoryUsed).toBeLessThanOrEqual(16 << 20);
    expect((await c.request('stats\r\n', 'END\r\n')).toString()).toContain(`STAT limit_maxbytes ${16 << 20}\r\n`);
    c.close();
  });

  it('slabs reassign moves a page and evicts its items; lru_crawler crawl reclaims expired items', async () => {
    const store = new InMemoryHandler({ maxBytes: 8 << 20, sweepIntervalMs: 0 });
    const port = portOf(await serve(store));
    const c = await RawClient.connect({ port });
    // Enough small items for several pages of class 1 (48-byte chunks, 64 KiB pages).
    for (let i = 0; i < 5000; i++) c.write(`set s${i} 0 0 1 noreply\r\nx\r\n`);
    await c.request('version\r\n', '\r\n', 10_000);
    const slabs = (await c.request('stats slabs\r\n', 'END\r\n')).toString();
    const pages = Number(/STAT 1:total_pages (\d+)/.exec(slabs)![1]);
    expect(pages).toBeGreaterThan(1);
    expect((await c.request('slabs reassign 1 5\r\n', '\r\n')).toString()).toBe('OK\r\n');
    const after = (await c.request('stats slabs\r\n', 'END\r\n')).toString();
    expect(Number(/STAT 1:total_pages (\d+)/.exec(after)![1])).toBe(pages - 1);
    expect(Number(/STAT 5:total_pages (\d+)/.exec(after)![1])).toBe(1);
    expect(store.size).toBeLessThan(5000);
    // Expired items go with a crawl, without a read.
    c.write('set e1 0 1 1 noreply\r\nx\r\nset e2 0 1 1 noreply\r\nx\r\n');
    await c.request('version\r\n', '\r\n');
    const before = store.size;
    await new Promise((r) => setTimeout(r, 2100));
    expect((await c.request('lru_crawler crawl 1\r\n', '\r\n')).toString()).toBe('OK\r\n');
    expect(store.size).toBe(before - 2);
    c.close();
  });

  it('memcached-tool dump reads every item', async () => {
    const port = portOf(await serve(new InMemoryHandler()));
    await send(port, 'set alpha 3 0 5\r\nhello\r\nset beta 0 0 2\r\nhi\r\n', 'STORED\r\nSTORED\r\n');
    // Asynchronously: the server answering it runs in this process.
    const r = await new Promise<{ status: number | null; stdout: string }>((resolve) => {
      const child = spawn('perl', ['/usr/share/memcached/scripts/memcached-tool', `127.0.0.1:${port}`, 'dump'], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString('latin1')));
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.once('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout });
      });
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('add alpha 3 0 5\r\nhello\r\n');
    expect(r.stdout).toContain('add beta 0 0 2\r\nhi\r\n');
  });
});

describe('unix sockets', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cleave-sock-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a socket left by an earlier server is replaced; anything else at the path is refused and kept', async () => {
    const path = join(dir, 'a.sock');
    const first = await listenAndServe({ listen: { path }, handler: new InMemoryHandler() });
    // A live one is not replaced.
    await expect(listenAndServe({ listen: { path }, handler: new InMemoryHandler() })).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await first.close();
    // Leave a stale socket file behind, as a killed server would.
    const stale = spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(path)}, () => process.exit(0))`,
    ]);
    expect(stale.status).toBe(0);
    expect(statSync(path).isSocket()).toBe(true);
    const second = await listenAndServe({ listen: { path }, handler: new InMemoryHandler() });
    const c = await RawClient.connect({ path });
    expect((await c.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION /);
    c.close();
    await second.close();

    const file = join(dir, 'file');
    writeFileSync(file, 'data');
    await expect(listenAndServe({ listen: { path: file }, handler: new InMemoryHandler() })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(existsSync(file)).toBe(true);
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    await expect(listenAndServe({ listen: { path: sub }, handler: new InMemoryHandler() })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(statSync(sub).isDirectory()).toBe(true);
  });

  it('mode sets the socket permissions', async () => {
    for (const mode of [0o700, 0o666, 0o750]) {
      const path = join(dir, `m${mode}.sock`);
      const server = await listenAndServe({ listen: { path, mode }, handler: new InMemoryHandler() });
      expect(statSync(path).mode & 0o777).toBe(mode);
      await server.close();
    }
  });
});
