/**
 * stats and admin commands over a pool of three real memcached processes:
 * the pool's figures are the sum of what each server reports itself (asked
 * directly), per server under `server:<label>:`; items and slabs merged per
 * class so memcached-tool's display reads the pool; admin dumps from every
 * server under one END; a stopped server still leaves a whole reply.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { HandlerError, type StatsGroup } from '@cleave/protocol';
import { listenAndServe, type Server } from '@cleave/server';
import { FixedMemcached, RawClient, freePort } from '@cleave/testkit';
import { ringName } from '../src/placement.js';
import { pool, type Pool } from '../src/pool.js';

const TIMEOUT = 400;
/** Slack for timers and a busy 2-core machine. */
const MARGIN = 600;
const LABELS = ['alpha', 'beta', 'gamma'];

/** A memcached's own reply to `stats [group]`, as a group (numbers where the text is a decimal integer). */
async function statsOf(port: number, group = ''): Promise<StatsGroup> {
  const c = await RawClient.connect({ port });
  try {
    const text = (await c.request(group === '' ? 'stats\r\n' : `stats ${group}\r\n`, 'END\r\n')).toString('latin1');
    const out: StatsGroup = {};
    for (const line of text.split('\r\n')) {
      const m = /^STAT (\S+) (.*)$/.exec(line);
      if (m) out[m[1]!] = /^\d{1,15}$/.test(m[2]!) ? Number(m[2]) : m[2]!;
    }
    return out;
  } finally {
    c.close();
  }
}

async function adminOf(port: number, line: string, terminator = 'END\r\n'): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    return (await c.request(`${line}\r\n`, terminator)).toString('latin1');
  } finally {
    c.close();
  }
}

const sum = (groups: StatsGroup[], field: string) => groups.reduce((n, g) => n + ((g[field] as number | undefined) ?? 0), 0);

let backends: FixedMemcached[];
let ports: number[];
let p: Pool;
let server: Server;
const keys = Array.from({ length: 60 }, (_, i) => `k${i}:${'v'.repeat(i % 7)}`);

beforeAll(async () => {
  ports = [await freePort(), await freePort(), await freePort()];
  backends = ports.map((port) => new FixedMemcached({ port }));
  await Promise.all(backends.map((b) => b.start()));
  p = pool({
    servers: ports.map((port, i) => ({
      handler: new MemcachedHandler({
        address: { host: '127.0.0.1', port },
        timeoutMs: TIMEOUT,
        connectTimeoutMs: TIMEOUT,
        backoff: { minMs: 20, maxMs: 100 },
      }),
      name: ringName('127.0.0.1', port),
      label: LABELS[i]!,
    })),
  });
  server = await listenAndServe({ listen: { host: '127.0.0.1', port: 0 }, handler: p });
  for (const [i, k] of keys.entries()) {
    // Values of several sizes: items in several slab classes, on every server.
    const v = Buffer.alloc(i % 3 === 0 ? 3000 : 10 + i, 'x');
    await p.store({ mode: 'set', key: Buffer.from(k), value: v, flags: 0, exptime: 0 });
  }
});

afterAll(async () => {
  await server?.close();
  for (const b of backends ?? []) await b.kill();
});

describe('pool stats over three memcached', () => {
  it("'': storage figures summed over the servers, each server's under server:<label>:", async () => {
    const st = (await p.stats(''))!;
    const own = await Promise.all(ports.map((port) => statsOf(port)));
    expect(st.curr_items).toBe(keys.length);
    for (const f of ['curr_items', 'total_items', 'bytes', 'limit_maxbytes', 'evictions']) expect(st[f], f).toBe(sum(own, f));
    expect(st.backend_connections).toBe(6);
    for (const [i, label] of LABELS.entries()) {
      expect(st[`server:${label}:state`]).toBe('up');
      expect(st[`server:${label}:curr_items`]).toBe(own[i]!.curr_items);
      expect(st[`server:${label}:bytes`]).toBe(own[i]!.bytes);
      expect(st[`server:${label}:backend_version`]).toBe(own[i]!.version);
      // Each server holds some of the keys.
      expect(own[i]!.curr_items as number).toBeGreaterThan(0);
    }
    expect(st.pool_servers_up).toBe(3);
  });

  it('items and slabs: counts summed per class, ages the oldest, classes in order', async () => {
    const items = (await p.stats('items'))!;
    const slabs = (await p.stats('slabs'))!;
    const ownItems = await Promise.all(ports.map((port) => statsOf(port, 'items')));
    const ownSlabs = await Promise.all(ports.map((port) => statsOf(port, 'slabs')));
    const classes = [...new Set(ownItems.flatMap((g) => Object.keys(g).map((k) => Number(k.split(':')[1]))))].sort((a, b) => a - b);
    expect(classes.length).toBeGreaterThanOrEqual(2);
    for (const c of classes) {
      for (const f of ['number', 'mem_requested', 'evicted', 'outofmemory'])
        expect(items[`items:${c}:${f}`], `${c}:${f}`).toBe(sum(ownItems, `items:${c}:${f}`));
      const oldest = Math.max(...ownItems.map((g) => (g[`items:${c}:age`] as number | undefined) ?? 0));
      expect(Math.abs((items[`items:${c}:age`] as number) - oldest)).toBeLessThanOrEqual(1);
      for (const f of ['total_pages', 'total_chunks', 'used_chunks', 'free_chunks'])
        expect(slabs[`${c}:${f}`], `${c}:${f}`).toBe(sum(ownSlabs, `${c}:${f}`));
      expect(slabs[`${c}:chunk_size`]).toBe(ownSlabs.find((g) => g[`${c}:chunk_size`] !== undefined)![`${c}:chunk_size`]);
    }
    expect(Object.keys(items).map((k) => Number(k.split(':')[1]))).toEqual(
      [...Object.keys(items).map((k) => Number(k.split(':')[1]))].sort((a, b) => a - b),
    );
    expect(slabs.total_malloced).toBe(sum(ownSlabs, 'total_malloced'));
    expect(slabs.active_slabs).toBe(classes.length);
    expect(Object.keys(slabs).slice(-2)).toEqual(['active_slabs', 'total_malloced']);
    expect(await p.stats('sizes')).toEqual({ sizes_status: 'disabled' });
    expect(await p.stats('nonsense')).toBeUndefined();
  });

  it("settings: maxbytes summed, the pool's placement over the servers' settings", async () => {
    const st = (await p.stats('settings'))!;
    expect(st.maxbytes).toBe(3 * 64 * 1024 * 1024);
    expect(st.evictions).toBe('on');
    expect(st.pool_distribution).toBe('ketama');
    expect(st.pool_servers).toBe(LABELS.map((l) => `${l}:1`).join(','));
    // One server's connection settings would say nothing of the pool.
    expect(Object.keys(st).filter((k) => k.startsWith('backend'))).toEqual([]);
  });

  it("memcached-tool's display reads the pool through a server as one memcached", async () => {
    const port = (server.addresses[0] as { port: number }).port;
    const out = await run('perl', ['/usr/share/memcached/scripts/memcached-tool', `127.0.0.1:${port}`, 'display']);
    const rows = out.split('\n').filter((l) => /^\s*\d+\s/.test(l));
    const counts = rows.map((l) => Number(l.trim().split(/\s+/)[4]));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(keys.length);
  });

  it("libmemcached's memcstat reads the pool's figures through a server", async () => {
    const port = (server.addresses[0] as { port: number }).port;
    const out = await run('memcstat', [`--servers=127.0.0.1:${port}`]);
    expect(out).toMatch(new RegExp(`\\bcurr_items: ${keys.length}\\n`));
    expect(out).toContain(`limit_maxbytes: ${3 * 64 * 1024 * 1024}\n`);
  });
});

/** Run a tool to its end and return what it printed; fails on a non-zero exit or after 10 s. */
function run(cmd: string, args: string[]): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => {
      text += d.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(text);
      else reject(new Error(`${cmd} exited with ${code}: ${text}`));
    });
  });
}

describe('pool admin commands', () => {
  it("a metadump is every server's entries under one END", async () => {
    const dump = (await p.admin({ name: 'lru_crawler', args: ['metadump', 'hash'] }))!.toString('latin1');
    expect(dump.endsWith('\nEND\r\n')).toBe(true);
    expect(dump.indexOf('END\r\n')).toBe(dump.length - 5);
    const listed = dump
      .split('\n')
      .filter((l) => l.startsWith('key='))
      .map((l) => decodeURIComponent(l.slice(4, l.indexOf(' '))))
      .sort();
    expect(listed).toEqual([...keys].sort());
    // Each server's own lines, as it wrote them.
    const own = await Promise.all(ports.map((port) => adminOf(port, 'lru_crawler metadump hash')));
    const lines = (s: string) =>
      s
        .split('\n')
        .filter((l) => l.startsWith('key='))
        .sort();
    expect(lines(dump)).toEqual(own.flatMap(lines).sort());
  });

  it('a cachedump of a class no server uses is END alone', async () => {
    expect((await p.admin({ name: 'stats', args: ['cachedump', '60', '0'] }))!.toString()).toBe('END\r\n');
  });

  it('other commands: OK when every server says OK, else the first other reply', async () => {
    expect((await p.admin({ name: 'lru_crawler', args: ['sleep', '100'] }))!.toString()).toBe('OK\r\n');
    const reassign = (await p.admin({ name: 'slabs', args: ['reassign', '1', '2'] }))!.toString();
    expect(reassign).toMatch(/^NOSPARE /);
    expect(reassign).toBe(await adminOf(ports[0]!, 'slabs reassign 1 2', '\r\n'));
  });
});

describe('a pool with a server stopped (SIGSTOP)', () => {
  it('stats still answers whole and promptly; admin fails rather than passing off a partial dump', async () => {
    const stopped = backends[1]!;
    await stopped.pause();
    try {
      const t0 = Date.now();
      const st = (await p.stats(''))!;
      expect(Date.now() - t0).toBeLessThan(TIMEOUT + MARGIN);
      expect(st['server:beta:backend_stats_error']).toBe('BACKEND_TIMEOUT');
      expect(st).not.toHaveProperty('server:beta:curr_items');
      const others = await Promise.all([ports[0]!, ports[2]!].map((port) => statsOf(port)));
      expect(st.curr_items).toBe(sum(others, 'curr_items'));
      const items = await p.stats('items');
      expect(Object.keys(items!).length).toBeGreaterThan(0);
      // Through the server: each group's whole reply, END included.
      const c = await RawClient.connect({ port: (server.addresses[0] as { port: number }).port });
      try {
        for (const group of ['', ' items', ' slabs', ' settings']) {
          const t = Date.now();
          const reply = (await c.request(`stats${group}\r\n`, 'END\r\n')).toString('latin1');
          expect(Date.now() - t, group).toBeLessThan(TIMEOUT + MARGIN);
          expect(reply).toMatch(/(^|\r\n)END\r\n$/);
        }
      } finally {
        c.close();
      }
      const t1 = Date.now();
      const admin = await Promise.resolve(p.admin({ name: 'lru_crawler', args: ['metadump', 'all'] })).catch((e: unknown) => e);
      expect(Date.now() - t1).toBeLessThan(TIMEOUT + MARGIN);
      expect(admin).toBeInstanceOf(HandlerError);
    } finally {
      stopped.resume();
    }
    await expect.poll(async () => (await p.stats(''))!.curr_items, { timeout: 5000 }).toBe(keys.length);
  });
});
