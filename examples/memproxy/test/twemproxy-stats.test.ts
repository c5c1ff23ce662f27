/**
 * cleave-twemproxy's stats port against nutcracker 0.5.0's: the same
 * document, byte for byte once the numbers are set aside, for the same
 * nutcracker.yml over the same memcached processes; figures that move with
 * traffic, aggregated every interval as nutcracker does; ejections.
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { pool, ringName, type Pool } from '@cleave/router';
import { listenAndServe, type Server } from '@cleave/server';
import { RawClient, freePort, startMemcached, waitForListen, type MemcachedProcess } from '@cleave/testkit';
import { startStatsServer, type StatsPool, type StatsServer } from '../src/twemproxy/stats.js';

const NUTCRACKER = '/usr/sbin/nutcracker';
const VERSION = '0.5.0';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanups.reverse()) await f();
});

/** One document from a stats port: everything until the server closes the connection. */
function fetchStats(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** Poll a stats port until `check` passes on its document (figures are aggregated every interval). */
function statsUntil(port: number, check: (doc: Stats) => void, timeout = 10_000): Promise<Stats> {
  return vi.waitFor(
    async () => {
      const doc = JSON.parse(await fetchStats(port)) as Stats;
      check(doc);
      return doc;
    },
    { timeout, interval: 40 },
  );
}

// biome-ignore lint/suspicious/noExplicitAny: nutcracker's stats document, walked field by field as JSON
type Stats = Record<string, any>;

/** The document with every number set to 0: what must match nutcracker's byte for byte. */
function withoutNumbers(doc: string): string {
  return doc.replace(/":-?\d+/g, '":0');
}

/** Keys in order and the type of each value, recursively. */
function shape(v: unknown): unknown {
  if (v !== null && typeof v === 'object') return Object.entries(v).map(([k, x]) => [k, shape(x)]);
  return typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v;
}

/** nutcracker orders pools and servers by name: shorter first, then bytewise. */
function nameOrder(a: string, b: string): number {
  return a.length - b.length || Buffer.compare(Buffer.from(a), Buffer.from(b));
}

interface PoolSpec {
  name: string;
  servers: Array<{ mc: MemcachedProcess; name?: string }>;
  autoEject?: boolean;
}

function serverName(s: PoolSpec['servers'][number]): string {
  return ringName(s.mc.host, s.mc.port, s.name);
}

/** nutcracker.yml for these pools, each listening on its port. */
function yml(specs: readonly PoolSpec[], ports: readonly number[]): string {
  return specs
    .map((p, i) =>
      [
        `${p.name}:`,
        `  listen: 127.0.0.1:${ports[i]}`,
        '  hash: fnv1a_64',
        '  distribution: ketama',
        ...(p.autoEject ? ['  auto_eject_hosts: true', '  server_failure_limit: 1', '  server_retry_timeout: 600000'] : []),
        '  servers:',
        ...p.servers.map((s) => `   - ${s.mc.host}:${s.mc.port}:1${s.name ? ` ${s.name}` : ''}`),
      ].join('\n'),
    )
    .join('\n');
}

interface Nutcracker {
  statsPort: number;
  /** Each pool's listen port, in the order of the specs. */
  ports: number[];
}

/** Real nutcracker 0.5.0 over the pools, stats aggregated every 100 ms. */
async function startNutcracker(specs: readonly PoolSpec[]): Promise<Nutcracker> {
  const dir = mkdtempSync(join(tmpdir(), 'cleave-nutcracker-'));
  const ports: number[] = [];
  for (let i = 0; i < specs.length; i++) ports.push(await freePort());
  const statsPort = await freePort();
  const conf = join(dir, 'nutcracker.yml');
  writeFileSync(conf, `${yml(specs, ports)}\n`);
  const child: ChildProcess = spawn(
    NUTCRACKER,
    ['-c', conf, '-s', String(statsPort), '-a', '127.0.0.1', '-i', '100', '-o', join(dir, 'log')],
    {
      stdio: 'ignore',
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  await waitForListen({ port: statsPort });
  for (const p of ports) await waitForListen({ port: p });
  // Each pool's listener saw waitForListen's one connection: once the figures show it, they start from a known state.
  await statsUntil(statsPort, (d) => {
    for (const p of specs)
      expect([p.name, d[p.name].client_eof + d[p.name].client_err, d[p.name].client_connections]).toEqual([p.name, 1, 0]);
  });
  return { statsPort, ports };
}

interface Ours {
  stats: StatsServer;
  pools: StatsPool[];
  /** Each pool's listen port, in the order of the specs. */
  ports: number[];
}

/** The same pools through @cleave/router, each behind its own listener, and our stats port over them. */
async function startOurs(specs: readonly PoolSpec[], intervalMs = 100): Promise<Ours> {
  const pools: StatsPool[] = [];
  const ports: number[] = [];
  for (const spec of specs) {
    const servers = [...spec.servers].sort((a, b) => nameOrder(serverName(a), serverName(b)));
    const p: Pool = pool({
      name: spec.name,
      distribution: 'ketama',
      hash: 'fnv1a_64',
      ...(spec.autoEject && { autoEjectHosts: true, serverFailureLimit: 1, serverRetryTimeoutMs: 600_000 }),
      servers: servers.map((s) => ({
        handler: new MemcachedHandler({ address: `${s.mc.host}:${s.mc.port}`, connections: 1 }),
        name: serverName(s),
        label: serverName(s),
      })),
    });
    const server: Server = await listenAndServe({ listen: { host: '127.0.0.1', port: 0 }, handler: p });
    cleanups.push(() => server.close(500));
    const a = server.addresses[0]!;
    ports.push('port' in a ? a.port : 0);
    pools.push({ name: spec.name, server, pool: p });
  }
  const order = pools.map((_, i) => i).sort((a, b) => nameOrder(pools[a]!.name, pools[b]!.name));
  const stats = await startStatsServer({
    host: '127.0.0.1',
    port: 0,
    intervalMs,
    source: hostname(),
    version: VERSION,
    pools: order.map((i) => pools[i]!),
  });
  cleanups.push(() => stats.close());
  return { stats, pools, ports };
}

async function memcached(): Promise<MemcachedProcess> {
  const mc = await startMemcached();
  cleanups.push(() => mc.stop());
  return mc;
}

/** Send `bytes` on a connection of its own, wait for `count` replies ending in `end`, then close it. */
async function session(port: number, bytes: string, end: string, count = 1): Promise<string> {
  const c = await RawClient.connect({ port });
  c.write(bytes);
  const arrived = await c.waitFor((b) => b.toString('latin1').split(end).length > count, 5000);
  c.close();
  expect(arrived).toBe(true);
  return c.received.toString('latin1');
}

/** A client that asks one thing, then resets the connection (no FIN): nutcracker's client_err. */
async function resetSession(port: number, bytes: string, end: string): Promise<void> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  let got = '';
  await new Promise<void>((resolve) => {
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.endsWith(end)) resolve();
    });
    s.write(bytes);
  });
  s.resetAndDestroy();
}

/** `perServer` keys for each server of the pool, found by asking the pool where keys go. */
function keysOn(p: Pool, prefix: string, perServer: number): string[] {
  const want = new Map(p.members.map((m) => [m.label, perServer]));
  const keys: string[] = [];
  for (let i = 0; keys.length < perServer * p.members.length; i++) {
    const key = `${prefix}:${i}`;
    const label = p.serverFor(Buffer.from(key))!.label;
    const left = want.get(label)!;
    if (left > 0) {
      want.set(label, left - 1);
      keys.push(key);
    }
  }
  return keys;
}

/** Sum of one figure over a pool's servers. */
function overServers(pool: Stats, field: string): number {
  let n = 0;
  for (const v of Object.values(pool)) if (typeof v === 'object') n += (v as Stats)[field] as number;
  return n;
}

describe('the document', () => {
  let specs: PoolSpec[];
  let nc: Nutcracker;
  let ours: Ours;
  beforeAll(async () => {
    const [m1, m2, m3] = await Promise.all([memcached(), memcached(), memcached()]);
    // Listed out of nutcracker's order, pools and servers alike.
    specs = [
      { name: 'alpha', servers: [{ mc: m1! }, { mc: m2!, name: 'two' }, { mc: m3! }] },
      { name: 'beta', servers: [{ mc: m1! }] },
    ];
    nc = await startNutcracker(specs);
    ours = await startOurs(specs);
  });

  it("is nutcracker 0.5.0's, byte for byte once the numbers are set aside", async () => {
    const theirs = await fetchStats(nc.statsPort);
    const mine = await fetchStats(ours.stats.port);
    expect(theirs.endsWith('}}}\n')).toBe(true);
    expect(withoutNumbers(mine)).toBe(withoutNumbers(theirs));
    // Recursively the same keys in the same order, and the same value types.
    expect(shape(JSON.parse(mine))).toEqual(shape(JSON.parse(theirs)));
    const doc = JSON.parse(mine) as Stats;
    expect(Object.keys(doc).slice(7)).toEqual(['beta', 'alpha']);
    expect(Object.keys(doc.alpha).slice(6)).toEqual([
      'two',
      ...specs[0]!.servers
        .filter((s) => !s.name)
        .map(serverName)
        .sort(nameOrder),
    ]);
    expect(doc.service).toBe('nutcracker');
    expect(doc.source).toBe(hostname());
    expect(doc.version).toBe(VERSION);
    const now = Math.floor(Date.now() / 1000);
    expect(Math.abs(doc.timestamp - now)).toBeLessThanOrEqual(2);
    expect(doc.uptime).toBeGreaterThanOrEqual(0);
  });

  it("moves with the same traffic as nutcracker's, where the figures are exact", async () => {
    const keys = keysOn(ours.pools[0]!.pool, 'stats:key', 10);
    const sets = keys.map((k) => `set ${k} 0 0 2\r\nhi\r\n`).join('');
    const gets = keys.map((k) => `get ${k}\r\n`).join('');
    const run = async (port: number) => {
      // Two end with a FIN and one with quit (client_eof), one with a reset (client_err); one stays open.
      expect(await session(port, sets, 'STORED\r\n', keys.length)).toBe('STORED\r\n'.repeat(keys.length));
      expect(await session(port, gets, 'END\r\n', keys.length)).toBe(keys.map((k) => `VALUE ${k} 0 2\r\nhi\r\nEND\r\n`).join(''));
      await resetSession(port, `get ${keys[0]}\r\n`, 'END\r\n');
      const q = await RawClient.connect({ port });
      q.write('quit\r\n');
      expect(await q.waitClosed()).toBe(true);
      const open = await RawClient.connect({ port });
      await open.request('get stats:open\r\n', 'END\r\n');
      return open;
    };
    // Before: nutcracker saw one connection per pool (startNutcracker), ours none.
    const expectTraffic = (eofBefore: number) => (doc: Stats) => {
      const alpha = doc.alpha as Stats;
      expect(alpha.client_eof).toBe(eofBefore + 3);
      expect(alpha.client_err).toBe(1);
      expect(alpha.client_connections).toBe(1);
      expect(overServers(alpha, 'requests')).toBe(2 * keys.length + 2);
      expect(overServers(alpha, 'responses')).toBe(2 * keys.length + 2);
    };
    const theirClient = await run(nc.ports[0]!);
    const myClient = await run(ours.ports[0]!);
    const theirs = await statsUntil(nc.statsPort, expectTraffic(1));
    const mine = await statsUntil(ours.stats.port, expectTraffic(0));
    theirClient.close();
    myClient.close();
    // Placement is nutcracker's: each server got the same requests and answered as many.
    const names = Object.keys(theirs.alpha).slice(6);
    for (const name of names) {
      expect([name, mine.alpha[name].requests, mine.alpha[name].responses]).toEqual([
        name,
        theirs.alpha[name].requests,
        theirs.alpha[name].responses,
      ]);
      expect(mine.alpha[name].server_connections).toBe(1);
      expect(mine.alpha[name].request_bytes).toBeGreaterThan(0);
      expect(mine.alpha[name].response_bytes).toBeGreaterThan(0);
    }
    for (const doc of [theirs, mine]) {
      expect(doc.alpha.server_ejects).toBe(0);
      expect(doc.alpha.forward_error).toBe(0);
      expect(doc.alpha.fragments).toBe(0);
    }
    // Listeners, clients and server connections, as nutcracker counts its connections: 2 listeners, the
    // open client, 4 server connections (ours connect at start; nutcracker's on first use).
    expect(mine.curr_connections).toBe(2 + 1 + 4);
    expect(mine.total_connections).toBe(2 + 5 + 4);

    // A multi-get whose keys live on several servers: one fragment per server (nutcracker 0.5.0 never counts them).
    const frag = keysOn(ours.pools[0]!.pool, 'frag', 2);
    const line = `get ${frag.join(' ')}\r\n`;
    expect(await session(ours.ports[0]!, line, 'END\r\n')).toBe('END\r\n');
    expect(await session(nc.ports[0]!, line, 'END\r\n')).toBe('END\r\n');
    const myFrag = await statsUntil(ours.stats.port, (d) => expect(d.alpha.client_eof).toBe(mine.alpha.client_eof + 2));
    const spanned = names.filter((n) => myFrag.alpha[n].requests > mine.alpha[n].requests).length;
    expect(spanned).toBe(3);
    expect(myFrag.alpha.fragments).toBe(3);
    // nutcracker counts one request per fragment, and no fragments.
    const theirFrag = await statsUntil(nc.statsPort, (d) =>
      expect(overServers(d.alpha, 'requests')).toBe(overServers(theirs.alpha, 'requests') + spanned),
    );
    expect(theirFrag.alpha.fragments).toBe(0);
    // The pool that saw nothing.
    for (const doc of [theirFrag, myFrag])
      expect([doc.beta.client_eof, doc.beta.client_err, doc.beta.client_connections]).toEqual([doc === theirFrag ? 1 : 0, 0, 0]);
  });
});

describe('aggregation', () => {
  let ours: Ours;
  let hourly: StatsServer;
  beforeAll(async () => {
    const mc = await memcached();
    ours = await startOurs([{ name: 'solo', servers: [{ mc }] }], 50);
    hourly = await startStatsServer({
      host: '127.0.0.1',
      port: 0,
      intervalMs: 3_600_000,
      source: 'here',
      version: VERSION,
      pools: ours.pools,
    });
    cleanups.push(() => hourly.close());
  });

  it('shows pool figures as of the last aggregation, the header live', async () => {
    await vi.waitFor(() =>
      expect((ours.pools[0]!.pool.members[0]!.handler as MemcachedHandler).ownStats().backend_connections_ready).toBe(1),
    );
    const first = JSON.parse(await fetchStats(hourly.port)) as Stats;
    const c = await RawClient.connect({ port: ours.ports[0]! });
    await c.request('set a 0 0 1\r\nx\r\n', 'STORED\r\n');
    const during = JSON.parse(await fetchStats(hourly.port)) as Stats;
    // Not aggregated yet (an hour apart): the pool is as it was; the connection totals are live.
    expect(during.solo).toEqual(first.solo);
    expect(during.curr_connections).toBe(first.curr_connections + 1);
    expect(during.total_connections).toBe(first.total_connections + 1);
    // The port aggregating every 50 ms shows it once an interval has passed.
    const moved = await statsUntil(ours.stats.port, (d) => {
      expect(d.solo.client_connections).toBe(1);
      expect(d.solo[Object.keys(d.solo)[6]!].requests).toBe(1);
    });
    expect(moved.solo.client_eof).toBe(0);
    c.close();
    await statsUntil(ours.stats.port, (d) => {
      expect(d.solo.client_connections).toBe(0);
      expect(d.solo.client_eof).toBe(1);
    });
  });

  it('answers each connection with one document and closes it, whatever the client sends', async () => {
    const s = net.connect(hourly.port, '127.0.0.1');
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    await new Promise((r) => s.once('connect', r));
    s.write('stats\r\nGET / HTTP/1.0\r\n\r\n');
    await new Promise((r) => s.once('end', r));
    const doc = Buffer.concat(chunks).toString();
    expect(doc.startsWith('{"service":"nutcracker", "source":"here", "version":"0.5.0", "uptime":')).toBe(true);
    expect(doc.endsWith('}}}\n')).toBe(true);
    expect(doc.indexOf('\n')).toBe(doc.length - 1);
    JSON.parse(doc);
    s.destroy();
  });

  it('refuses a port already taken and a bad interval', async () => {
    await expect(
      startStatsServer({ host: '127.0.0.1', port: hourly.port, intervalMs: 100, source: 'x', version: VERSION, pools: ours.pools }),
    ).rejects.toThrow(/EADDRINUSE/);
    await expect(
      startStatsServer({ host: '127.0.0.1', port: 0, intervalMs: 0, source: 'x', version: VERSION, pools: ours.pools }),
    ).rejects.toThrow(RangeError);
  });
});

describe('ejection', () => {
  it('shows server_ejects and server_ejected_at (µs since the epoch) as nutcracker does when a member dies', async () => {
    const [m1, m2] = await Promise.all([memcached(), memcached()]);
    const specs: PoolSpec[] = [{ name: 'ej', servers: [{ mc: m1! }, { mc: m2! }], autoEject: true }];
    const nc = await startNutcracker(specs);
    const ours = await startOurs(specs);
    const dead = serverName({ mc: m2! });
    // Five keys on each server; both proxies place them alike.
    const keys = keysOn(ours.pools[0]!.pool, 'ej', 5);
    const gets = keys.map((k) => `get ${k}\r\n`).join('');
    // Both have a connection to each server before one dies (nutcracker connects on first use).
    await session(nc.ports[0]!, gets, 'END\r\n', keys.length);
    await statsUntil(nc.statsPort, (d) => expect(d.ej[dead].server_connections).toBe(1));
    await statsUntil(ours.stats.port, (d) => expect(d.ej[dead].server_connections).toBe(1));
    const before = Date.now() * 1000;
    await m2!.stop();
    // Keep asking for keys (some live on the dead server) until each proxy has ejected it.
    const hit = async (port: number) => {
      const c = await RawClient.connect({ port });
      c.write(gets);
      // One reply per get: END (a miss, the live server) or SERVER_ERROR (the dead one).
      await c.waitFor((b) => b.toString('latin1').split(/END\r\n|SERVER_ERROR[^\r]*\r\n/).length > keys.length, 5000);
      c.close();
    };
    const ejected = (d: Stats) => {
      expect(d.ej.server_ejects).toBe(1);
      expect(d.ej[dead].server_ejected_at).toBeGreaterThanOrEqual(before - 1000);
    };
    const poll = async (port: number, statsPort: number): Promise<Stats> =>
      vi.waitFor(
        async () => {
          await hit(port);
          const doc = JSON.parse(await fetchStats(statsPort)) as Stats;
          ejected(doc);
          return doc;
        },
        { timeout: 15_000, interval: 100 },
      );
    const theirs = await poll(nc.ports[0]!, nc.statsPort);
    const mine = await poll(ours.ports[0]!, ours.stats.port);
    const after = Date.now() * 1000;
    for (const doc of [theirs, mine]) {
      expect(doc.ej[dead].server_ejected_at).toBeLessThanOrEqual(after);
      expect(Number.isInteger(doc.ej[dead].server_ejected_at)).toBe(true);
      expect(doc.ej[dead].server_eof + doc.ej[dead].server_err + doc.ej[dead].server_timedout).toBeGreaterThan(0);
      expect(doc.ej[serverName({ mc: m1! })].server_ejected_at).toBe(0);
    }
    expect(mine.ej.forward_error).toBeGreaterThan(0);
    await statsUntil(ours.stats.port, (d) => expect(d.ej[dead].server_connections).toBe(0));
  });
});
