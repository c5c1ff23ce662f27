/**
 * Placement against the real nutcracker 0.5.0 binary as an oracle: the same
 * servers, weights, names, hash, distribution and hash_tag in a nutcracker.yml,
 * the same keys set through nutcracker, then each memcached is asked directly
 * which keys it holds, and that must be the server `Placement.serverFor` names,
 * for every key: ASCII keys, keys with bytes >= 0x80 (raw; the text protocol
 * carries them), and hash-tagged keys (tag present, empty, unclosed, reversed,
 * twice). Every hash x ketama and modula, in three pool shapes:
 *   plain: weight 1, no names: names from host:port, a memcached on port 11211
 *     (named by host alone) and one on a unix socket;
 *   weighted: weights 1..5, some servers named, the yml listing them in
 *     another order (nutcracker sorts servers by name, which moves modula);
 *   tagged: hash_tag "{}" with weights.
 * random: every key lands on one server, and our random spreads over all.
 * Ejection: auto_eject_hosts with one memcached stopped; once nutcracker's
 * stats show the ejection, keys go where `rebuild(live)` says.
 *
 * Every configuration gets its own nutcracker (on a unix socket of its own)
 * and its own key prefix, so they share the memcached processes without a
 * flush_all between them and run a few at a time. Every process started here
 * is stopped by PID in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, memcachedBinary, RawClient, startMemcached, waitForListen, type MemcachedProcess } from '@cleave/testkit';
import { ketamaPoints, Placement, ringName } from '../src/placement.js';
// nutcracker's distributions only: mcrouter's ch3 and weighted_ch3 never move keys (ch3-pool.test.ts).
import { HASH_NAMES, NUTCRACKER_DISTRIBUTIONS, type Distribution, type HashName } from '../src/types.js';

const NUTCRACKER = process.env.NUTCRACKER_BIN ?? '/usr/sbin/nutcracker';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------

/** A memcached as a pool member: where nutcracker reaches it and what its yml line names. */
interface Backend {
  /** host or unix socket path */
  readonly host: string;
  /** undefined for a unix socket */
  readonly port: number | undefined;
  readonly pid: number;
  stop(): Promise<void>;
}

const fromTestkit = (m: MemcachedProcess): Backend => ({
  host: m.socketPath ?? m.host,
  port: m.socketPath ? undefined : m.port,
  pid: m.pid,
  stop: () => m.stop(),
});

/** Resolves when `child` exits (at once if it has). */
const exitOf = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });

/** Processes this file spawns itself (testkit stops its own memcached); killed by PID in afterAll, and at exit if it never ran. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
    process.kill(child.pid, 'SIGKILL');
    await exitOf(child);
  }
}

/** The pid memcached at `target` reports in `stats`. */
async function statsPid(target: { host: string; port: number }): Promise<number> {
  const c = await RawClient.connect(target);
  try {
    const reply = (await c.request('stats\r\n', 'END\r\n')).toString('latin1');
    return Number(/STAT pid (\d+)/.exec(reply)?.[1]);
  } finally {
    c.close();
  }
}

/**
 * A memcached on port 11211, the port nutcracker leaves out of a server's ring
 * name. 127.0.0.1:11211 may be taken, so it listens on another loopback
 * address (127.0.0.2-251); that it is ours is checked by the pid it reports.
 */
async function startMemcachedOn11211(): Promise<Backend> {
  const bin = memcachedBinary();
  for (let attempt = 0; attempt < 20; attempt++) {
    const host = `127.0.0.${2 + Math.floor(Math.random() * 250)}`;
    const args = ['-U', '0', '-t', '1', '-m', '64', '-l', host, '-p', '11211'];
    if (process.getuid?.() === 0) args.push('-u', 'root');
    const child = spawn(bin, args, { stdio: 'ignore' });
    children.add(child);
    const exited = exitOf(child);
    const up = await Promise.race([
      waitForListen({ host, port: 11211 }, 5000).then(
        () => true,
        () => false,
      ),
      exited.then(() => false),
    ]);
    if (up && (await statsPid({ host, port: 11211 }).catch(() => 0)) === child.pid) {
      return { host, port: 11211, pid: child.pid!, stop: () => killChild(child) };
    }
    await killChild(child);
  }
  throw new Error('could not start a memcached on 127.0.0.x:11211');
}

interface Nutcracker {
  /** The unix socket it listens on. */
  readonly path: string;
  readonly statsPort: number;
  readonly child: ChildProcess;
}

const scratch = mkdtempSync(join(tmpdir(), 'cleave-router-placement-'));
let ymlSeq = 0;

/**
 * Start nutcracker with the pool `poolYml(listen)` gives, and return once a
 * request through it is answered. It listens on a unix socket of its own, so
 * nothing else can answer in its place; its stats port is a free port, and
 * when that is taken by the time nutcracker binds it, nutcracker exits (before
 * it listens) and this tries another.
 */
async function startNutcracker(poolYml: (listen: string) => string, statsIntervalMs = 30_000): Promise<Nutcracker> {
  let lastError = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const statsPort = await freePort();
    const seq = ++ymlSeq;
    const path = join(scratch, `nutcracker-${seq}.sock`);
    const file = join(scratch, `nutcracker-${seq}.yml`);
    writeFileSync(file, poolYml(path));
    const child = spawn(NUTCRACKER, ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-i', String(statsIntervalMs)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.add(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = exitOf(child);
    const up = await Promise.race([
      waitForListen({ path }, 10_000).then(
        () => true,
        () => false,
      ),
      exited.then(() => false),
    ]);
    if (up && child.exitCode === null) {
      // nutcracker answers: a miss from the backend, or its own error when that backend is down.
      const c = await RawClient.connect({ path });
      const reply = await c.request('get cleave-router-probe\r\n', '\r\n', 5000).finally(() => c.close());
      if (/^(END|SERVER_ERROR .*)\r\n$/.test(reply.toString('latin1'))) return { path, statsPort, child };
    }
    await killChild(child);
    lastError = stderr;
  }
  throw new Error(`nutcracker did not start: ${lastError}`);
}

async function stopNutcracker(n: Nutcracker): Promise<void> {
  await killChild(n.child);
}

/** nutcracker's stats JSON (it writes it and closes). */
function nutcrackerStats(statsPort: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(statsPort, '127.0.0.1');
    s.on('data', (d) => chunks.push(d));
    s.on('error', reject);
    s.on('close', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(e);
      }
    });
  });
}

// ---------------------------------------------------------------------------
// Keys and where they are
// ---------------------------------------------------------------------------

/** mulberry32: the same keys on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * About 300 keys behind `prefix`: ASCII, with raw bytes >= 0x80 (no space,
 * control byte or DEL, which the text protocol cannot carry), and hash-tagged.
 */
function keysFor(prefix: string, seed: number): Buffer[] {
  const rand = prng(seed);
  const pick = (n: number) => Math.floor(rand() * n);
  const keys: Buffer[] = [];
  const p = Buffer.from(prefix, 'latin1');
  for (let i = 0; i < 60; i++) keys.push(Buffer.from(`${prefix}key:${i}`, 'latin1'));
  for (let i = 0; i < 60; i++) {
    const b = Buffer.alloc(1 + pick(40));
    for (let j = 0; j < b.length; j++) b[j] = 0x21 + pick(0x7f - 0x21);
    keys.push(Buffer.concat([p, b]));
  }
  for (let i = 0; i < 90; i++) {
    const b = Buffer.alloc(1 + pick(40));
    for (let j = 0; j < b.length; j++) b[j] = rand() < 0.5 ? 0x80 + pick(0x80) : 0x21 + pick(0x7f - 0x21);
    b[pick(b.length)] = 0x80 + pick(0x80);
    keys.push(Buffer.concat([p, b]));
  }
  const hi = () => String.fromCharCode(0x80 + pick(0x80));
  for (let i = 0; i < 15; i++) {
    for (const k of [
      `{user${i % 5}}:a${i}`, // a tag: keys of one user together
      `x{order${i % 3}${hi()}}y${i}`, // a tag with a high byte inside
      `{}:empty${i}`, // an empty tag: the whole key
      `{unclosed${i}`, // no closing byte: the whole key
      `}{reversed${i}`, // closing before opening: '{' then no '}'
      `{}{second${i}}`, // first tag empty: the whole key, not the second tag
      `{first${i % 4}}{second${i}}`, // the first tag
    ]) {
      keys.push(Buffer.concat([p, Buffer.from(k, 'latin1')]));
    }
  }
  return keys;
}

/** Set every key through nutcracker; every reply must be STORED. */
async function setThrough(nc: Nutcracker, keys: readonly Buffer[]): Promise<void> {
  const c = await RawClient.connect({ path: nc.path });
  try {
    const tail = Buffer.from(' 0 0 1\r\nx\r\n');
    c.write(Buffer.concat(keys.flatMap((k) => [Buffer.from('set '), k, tail])));
    const want = 'STORED\r\n'.repeat(keys.length);
    await c.waitFor((b) => b.length >= want.length, 10_000);
    expect(c.received.toString('latin1')).toBe(want);
  } finally {
    c.close();
  }
}

/** The keys (as latin1 strings) a memcached holds, of those asked. */
async function held(backend: Backend, keys: readonly Buffer[]): Promise<Set<string>> {
  const c = await RawClient.connect(backend.port === undefined ? { path: backend.host } : { host: backend.host, port: backend.port });
  const found = new Set<string>();
  try {
    for (let i = 0; i < keys.length; i += 50) {
      const batch = keys.slice(i, i + 50);
      const reply = await c.request(
        Buffer.concat([Buffer.from('get'), ...batch.flatMap((k) => [Buffer.from(' '), k]), Buffer.from('\r\n')]),
        'END\r\n',
        5000,
      );
      for (const m of reply.toString('latin1').matchAll(/VALUE ([^ \r\n]+) \d+ \d+\r\n/g)) found.add(m[1]!);
    }
  } finally {
    c.close();
  }
  return found;
}

/** For each key, the index of the backend holding it; -1 when none does, -2 when several do. A stopped backend (undefined) holds none. */
async function whereStored(backends: readonly (Backend | undefined)[], keys: readonly Buffer[]): Promise<number[]> {
  const sets = await Promise.all(backends.map((b) => (b ? held(b, keys) : new Set<string>())));
  return keys.map((k) => {
    const s = k.toString('latin1');
    const on = sets.flatMap((set, i) => (set.has(s) ? [i] : []));
    return on.length === 1 ? on[0]! : on.length === 0 ? -1 : -2;
  });
}

/** The keys our placement puts elsewhere than nutcracker did, shown readably. */
function differences(keys: readonly Buffer[], stored: readonly number[], ours: (k: Buffer) => number): string[] {
  const out: string[] = [];
  keys.forEach((k, i) => {
    const mine = ours(k);
    if (mine !== stored[i]) out.push(`${JSON.stringify(k.toString('latin1'))}: nutcracker ${stored[i]}, ours ${mine}`);
  });
  return out;
}

// ---------------------------------------------------------------------------
// Pools
// ---------------------------------------------------------------------------

interface Member {
  readonly backend: number;
  readonly weight: number;
  readonly name?: string;
}

interface Shape {
  readonly label: string;
  /** Members in yml order. */
  readonly members: readonly Member[];
  readonly hashTag?: string;
}

/** The servers line nutcracker reads: `host:port:weight [name]`, or `/path:weight [name]`. */
function serverLine(b: Backend, m: Member): string {
  const addr = b.port === undefined ? b.host : `${b.host}:${b.port}`;
  return `${addr}:${m.weight}${m.name ? ` ${m.name}` : ''}`;
}

function poolYml(
  backends: readonly Backend[],
  shape: Shape,
  hash: HashName,
  distribution: Distribution,
  extra: Record<string, string | number | boolean> = {},
) {
  return (listen: string) =>
    [
      'pool:',
      `  listen: ${listen}`,
      `  hash: ${hash}`,
      `  distribution: ${distribution}`,
      ...(shape.hashTag ? [`  hash_tag: ${JSON.stringify(shape.hashTag)}`] : []),
      ...Object.entries(extra).map(([k, v]) => `  ${k}: ${v}`),
      '  servers:',
      ...shape.members.map((m) => `   - ${serverLine(backends[m.backend]!, m)}`),
      '',
    ].join('\n');
}

function placementFor(backends: readonly Backend[], shape: Shape, hash: HashName, distribution: Distribution): Placement {
  return new Placement({
    distribution,
    hash,
    hashTag: shape.hashTag,
    servers: shape.members.map((m) => ({ name: ringName(backends[m.backend]!.host, backends[m.backend]!.port, m.name), weight: m.weight })),
  });
}

/** Run `tasks` at most `limit` at a time; reject with the first failure after all have settled. */
async function limited<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        try {
          results[i] = await tasks[i]!();
        } catch (e) {
          errors.push(e);
        }
      }
    }),
  );
  if (errors.length > 0) throw errors[0];
  return results;
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

const backends: Backend[] = [];
let prefixSeq = 0;

beforeAll(async () => {
  const started = await Promise.allSettled([
    startMemcached().then(fromTestkit),
    startMemcached().then(fromTestkit),
    startMemcachedOn11211(),
    startMemcached({ unixSocket: true }).then(fromTestkit),
    startMemcached().then(fromTestkit),
  ]);
  for (const s of started) if (s.status === 'fulfilled') backends.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
});

afterAll(async () => {
  await Promise.all([...children].map(killChild));
  await Promise.all(backends.map((b) => b.stop()));
  rmSync(scratch, { recursive: true, force: true });
});

/** backends: 0, 1, 4 on 127.0.0.1 at free ports; 2 on 127.0.0.x:11211; 3 on a unix socket. */
const SHAPES: readonly Shape[] = [
  {
    label: 'plain (names from host:port, host alone at 11211, a unix socket)',
    members: [0, 1, 2, 3, 4].map((backend) => ({ backend, weight: 1 })),
  },
  {
    // Total weight 25 over 5 servers: in nutcracker's float arithmetic the weight-1 server gets 28
    // ketama points, not the 32 exact arithmetic gives.
    label: 'weights, some servers named, listed out of name order',
    members: [
      { backend: 4, weight: 2, name: 'cache-east-04' },
      { backend: 3, weight: 1 },
      { backend: 2, weight: 12, name: 'b' },
      { backend: 1, weight: 6 },
      { backend: 0, weight: 4, name: 'alpha' },
    ],
  },
  {
    label: 'hash_tag "{}" with weights',
    hashTag: '{}',
    members: [
      { backend: 0, weight: 2 },
      { backend: 1, weight: 1 },
      { backend: 2, weight: 1 },
      { backend: 3, weight: 3 },
      { backend: 4, weight: 1 },
    ],
  },
];

describe('placement against nutcracker 0.5.0', () => {
  it('every hash x ketama and modula x plain, weighted and named, hash-tagged pools: zero differences', async () => {
    const cases: { hash: HashName; distribution: Distribution; shape: Shape }[] = [];
    for (const shape of SHAPES)
      for (const distribution of ['ketama', 'modula'] as const) for (const hash of HASH_NAMES) cases.push({ hash, distribution, shape });
    const report = await limited(
      4,
      cases.map(({ hash, distribution, shape }) => async () => {
        const id = ++prefixSeq;
        const keys = keysFor(`c${id}:`, id);
        const nc = await startNutcracker(poolYml(backends, shape, hash, distribution));
        try {
          await setThrough(nc, keys);
        } finally {
          await stopNutcracker(nc);
        }
        const memberBackends = shape.members.map((m) => backends[m.backend]!);
        const stored = await whereStored(memberBackends, keys);
        const placement = placementFor(backends, shape, hash, distribution);
        const diff = differences(keys, stored, (k) => placement.serverFor(k));
        const spread = new Set(stored).size;
        return { name: `${hash} ${distribution} ${shape.label}`, diff, spread };
      }),
    );
    expect(report.length).toBe(HASH_NAMES.length * 2 * SHAPES.length);
    expect(report.filter((r) => r.diff.length > 0).map((r) => ({ name: r.name, diff: r.diff.slice(0, 5), count: r.diff.length }))).toEqual(
      [],
    );
    // The keys did spread over the servers, except with crc32 on ketama: its hashes are 15 bits
    // (0..32767), below nearly every ring point, so nutcracker puts nearly all keys on the owner of
    // the ring's first point. A quirk we match, not a test that proves nothing.
    expect(report.filter((r) => r.spread < 3).map((r) => r.name)).toEqual(SHAPES.map((shape) => `crc32 ketama ${shape.label}`));
  });

  it('random: every key lands on exactly one server, and our random spreads over every server', async () => {
    const shape = SHAPES[1]!;
    const id = ++prefixSeq;
    const keys = keysFor(`c${id}:`, id);
    const nc = await startNutcracker(poolYml(backends, shape, 'fnv1a_64', 'random'));
    try {
      await setThrough(nc, keys);
    } finally {
      await stopNutcracker(nc);
    }
    const stored = await whereStored(
      shape.members.map((m) => backends[m.backend]!),
      keys,
    );
    expect(stored.filter((s) => s < 0)).toEqual([]);
    expect(new Set(stored).size).toBe(shape.members.length);
    const placement = placementFor(backends, shape, 'fnv1a_64', 'random');
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i++) seen.add(placement.serverFor(keys[0]!));
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
    placement.rebuild([true, false, true, false, true]);
    seen.clear();
    for (let i = 0; i < 1000; i++) seen.add(placement.serverFor(keys[0]!));
    expect([...seen].sort()).toEqual([0, 2, 4]);
  });
});

describe('placement after nutcracker ejects a server (auto_eject_hosts)', () => {
  const ejection: Backend[] = [];
  const DEAD = 2;

  // The one stopped is on a unix socket: its path is gone with it, where a TCP port could be taken by another process.
  beforeAll(async () => {
    const started = await Promise.allSettled([0, 1, 2, 3].map((i) => startMemcached({ unixSocket: i === DEAD }).then(fromTestkit)));
    for (const s of started) if (s.status === 'fulfilled') ejection.push(s.value);
    const failed = started.find((s) => s.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  });

  afterAll(async () => {
    await Promise.all(ejection.map((b) => b.stop()));
  });

  const shapeOf = (weights: number[]): Shape => ({ label: 'ejection', members: weights.map((weight, backend) => ({ backend, weight })) });
  const CASES: { hash: HashName; distribution: Distribution; weights: number[] }[] = [
    { hash: 'fnv1a_64', distribution: 'ketama', weights: [1, 1, 1, 1] },
    { hash: 'md5', distribution: 'ketama', weights: [3, 1, 2, 5] },
    { hash: 'murmur', distribution: 'modula', weights: [2, 3, 1, 1] },
    { hash: 'crc32a', distribution: 'modula', weights: [1, 1, 1, 1] },
    { hash: 'fnv1a_64', distribution: 'random', weights: [1, 2, 1, 1] },
  ];

  it('keys go where rebuild(live) says once nutcracker has ejected the stopped server', async () => {
    // Stopped before any nutcracker connects to it: each one's first request for it fails and ejects it.
    await ejection[DEAD]!.stop();
    const live = ejection.map((_, i) => i !== DEAD);
    const report = await limited(
      CASES.length,
      CASES.map(({ hash, distribution, weights }) => async () => {
        const shape = shapeOf(weights);
        const all = placementFor(ejection, shape, hash, distribution);
        const id = ++prefixSeq;
        const keys = keysFor(`c${id}:`, id);
        // A key the full ring gives the stopped server: asking for it makes nutcracker try that server.
        const deadKey = keysFor(`d${id}:`, id).find((k) => distribution === 'random' || all.serverFor(k) === DEAD)!;
        const nc = await startNutcracker(
          poolYml(ejection, shape, hash, distribution, {
            auto_eject_hosts: true,
            server_failure_limit: 1,
            server_retry_timeout: 600_000,
          }),
          100,
        );
        try {
          const deadline = Date.now() + 20_000;
          for (;;) {
            const c = await RawClient.connect({ path: nc.path });
            await c.request(Buffer.concat([Buffer.from('get '), deadKey, Buffer.from('\r\n')]), '\r\n', 5000).finally(() => c.close());
            const pool = (await nutcrackerStats(nc.statsPort)).pool as Record<string, unknown> | undefined;
            if (pool !== undefined && Number(pool.server_ejects) >= 1) break;
            if (Date.now() > deadline) throw new Error(`nutcracker did not eject the stopped server: ${JSON.stringify(pool)}`);
            await sleep(50);
          }
          await setThrough(nc, keys);
        } finally {
          await stopNutcracker(nc);
        }
        const stored = await whereStored(
          ejection.map((b, i) => (live[i] ? b : undefined)),
          keys,
        );
        const placement = placementFor(ejection, shape, hash, distribution);
        placement.rebuild(live);
        if (distribution === 'random') {
          const notLive = stored.filter((s) => s < 0 || s === DEAD);
          return { name: `${hash} ${distribution}`, diff: notLive.length ? [`${notLive.length} keys not on exactly one live server`] : [] };
        }
        return { name: `${hash} ${distribution} ${weights.join(',')}`, diff: differences(keys, stored, (k) => placement.serverFor(k)) };
      }),
    );
    expect(report.filter((r) => r.diff.length > 0).map((r) => ({ name: r.name, diff: r.diff.slice(0, 5), count: r.diff.length }))).toEqual(
      [],
    );
  });
});

describe('Placement options and edge cases', () => {
  const servers = [
    { name: 'a:1', weight: 1 },
    { name: 'b:2', weight: 2 },
    { name: 'c:3', weight: 1 },
  ];

  it('refuses unknown hashes and distributions, bad hash tags, weights and names, naming what is wrong', () => {
    const make = (o: Partial<ConstructorParameters<typeof Placement>[0]>) => () =>
      new Placement({ distribution: 'ketama', hash: 'fnv1a_64', servers, ...o });
    expect(make({ hash: 'fnv1a' as HashName })).toThrow(/unknown hash "fnv1a": use one of one_at_a_time, md5/);
    expect(make({ distribution: 'vnode' as Distribution })).toThrow(/unknown distribution "vnode": use one of ketama, modula, random/);
    for (const tag of ['', '{', '{}}']) expect(make({ hashTag: tag })).toThrow(/hash_tag .* two characters/);
    expect(make({ hashTag: '{}' })).not.toThrow();
    for (const weight of [0, -1, 1.5, Number.NaN]) {
      expect(make({ servers: [{ name: 'a', weight }, ...servers] })).toThrow(
        /servers\[0\] \(a\) has weight .*: a weight is a positive integer/,
      );
    }
    expect(make({ servers: [] })).toThrow(/at least one server/);
    expect(make({ servers: [{ name: '', weight: 1 }] })).toThrow(/servers\[0\] needs a name/);
    expect(make({ servers: [...servers, { name: 'b:2', weight: 9 }] })).toThrow(/two servers have the name "b:2"/);
    expect(() => make({})().rebuild([true, true])).toThrow(/one live flag per server \(3\), got 2/);
  });

  it("ringName: the name when given, else host at port 11211, host:port otherwise, a unix socket's path and ':'", () => {
    expect(ringName('10.0.0.1', 11211)).toBe('10.0.0.1');
    expect(ringName('10.0.0.1', 11212)).toBe('10.0.0.1:11212');
    expect(ringName('10.0.0.1', 11212, 'cache-1')).toBe('cache-1');
    expect(ringName('10.0.0.1', 11211, 'cache-1')).toBe('cache-1');
    expect(ringName('/run/memcached.sock', undefined)).toBe('/run/memcached.sock:');
    expect(ringName('/run/memcached.sock', undefined, 'local')).toBe('local');
    // nutcracker copies host:port as written in the yml.
    expect(ringName('10.0.0.1', '011212')).toBe('10.0.0.1:011212');
  });

  it('ketamaPoints: single-precision float as nutcracker computes it', () => {
    expect(ketamaPoints(1, 3, 3)).toBe(160);
    expect(ketamaPoints(1, 1, 1)).toBe(160);
    // 1/25 * 40 * 5 is 7.9999995 in float: 7 groups of 4, where exact arithmetic gives 8.
    expect(ketamaPoints(1, 25, 5)).toBe(28);
    expect(ketamaPoints(12, 25, 5)).toBe(380);
  });

  it('a pool of one server answers it for every key; with it ejected, no server (-1)', () => {
    for (const distribution of NUTCRACKER_DISTRIBUTIONS) {
      const p = new Placement({ distribution, hash: 'md5', servers: [{ name: 'only', weight: 3 }] });
      expect(p.serverFor(Buffer.from('any key'))).toBe(0);
      expect(p.serverFor(Buffer.alloc(0))).toBe(0);
      p.rebuild([false]);
      expect([p.liveServers, p.serverFor(Buffer.from('any key'))]).toEqual([0, -1]);
      p.rebuild([true]);
      expect(p.serverFor(Buffer.from('any key'))).toBe(0);
    }
  });

  it('no live server: -1 for every distribution; back when one returns', () => {
    for (const distribution of NUTCRACKER_DISTRIBUTIONS) {
      const p = new Placement({ distribution, hash: 'crc32a', servers });
      p.rebuild([false, false, false]);
      expect(p.serverFor(Buffer.from('k'))).toBe(-1);
      p.rebuild([false, true, false]);
      expect(p.serverFor(Buffer.from('k'))).toBe(1);
    }
  });

  it('hashes key[start, end) of a larger buffer as it hashes that key alone', () => {
    for (const distribution of ['ketama', 'modula'] as const) {
      for (const hash of HASH_NAMES) {
        const p = new Placement({ distribution, hash, hashTag: '{}', servers });
        for (const k of keysFor('x:', 7)) {
          const framed = Buffer.concat([Buffer.from('{a}'), k, Buffer.from('{b}')]);
          expect(p.serverFor(framed, 3, 3 + k.length)).toBe(p.serverFor(k));
        }
      }
    }
  });

  it('an empty key (or empty range) hashes to 0, as nutcracker does, not to the hash of no bytes', () => {
    // Name order puts "b" (shorter) first: modula slots b, b, zz, zz, zz. jenkins of no bytes is
    // 0xdeadbeef + 13, slot 2 ("zz"); nutcracker hashes an empty key to 0, slot 0 ("b").
    const modula = new Placement({
      distribution: 'modula',
      hash: 'jenkins',
      servers: [
        { name: 'zz', weight: 3 },
        { name: 'b', weight: 2 },
      ],
    });
    expect(modula.serverFor(Buffer.alloc(0))).toBe(1);
    expect(modula.serverFor(Buffer.from('abc'), 2, 2)).toBe(1);
  });
});
