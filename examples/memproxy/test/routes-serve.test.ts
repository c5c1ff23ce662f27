/**
 * memproxy --routes FILE serving real memcached: a PoolRoute over three servers, a FailoverRoute that serves from
 * its second pool while the first server is stopped, and live reloads (a change to the file, SIGHUP) under a
 * checking load: no connection dropped, no request lost, a bad file leaving the old tree serving, servers kept
 * across a reload keeping their connections, servers removed closed. Reading the file: routes-config.test.ts.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CheckedLoad, RawClient, sleep, startMemcached, stopProcess, type MemcachedProcess } from '@cleave/testkit';
import { furcHash } from '@cleave/router';
import { logMessages, startMemproxy, type Running } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-routes-'));
const mcs: MemcachedProcess[] = [];
let mp: Running | undefined;

beforeAll(async () => {
  for (let i = 0; i < 3; i++) mcs.push(await startMemcached());
});
afterEach(async () => {
  await mp?.stop();
  mp = undefined;
});
afterAll(async () => {
  for (const m of mcs) {
    process.kill(m.pid, 'SIGCONT');
    await m.stop();
  }
  rmSync(dir, { recursive: true, force: true });
});

const addr = (m: MemcachedProcess) => `127.0.0.1:${m.port}`;

/** Write the routes file as an editor does: a new file renamed over the old one. */
function writeRoutes(file: string, config: unknown): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  renameSync(tmp, file);
}

/** Wait until memproxy's log has a line matching `re` after the first `after` lines. */
async function logged(p: Running, re: RegExp, after = 0, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = logMessages(p.stdout())
      .slice(after)
      .find((m) => re.test(m));
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no log line matching ${re}:\n${p.stdout()}`);
    await sleep(20);
  }
}
const lines = (p: Running) => logMessages(p.stdout()).length;

/** One memcached's `stats` figures. */
async function statsOf(c: RawClient): Promise<Record<string, string>> {
  const r = (await c.request('stats\r\n', 'END\r\n', 5000)).toString();
  return Object.fromEntries([...r.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1]!, m[2]!]));
}

async function set(c: RawClient, key: string, value: string): Promise<string> {
  return (await c.request(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`, '\r\n', 5000)).toString();
}
async function get(c: RawClient, key: string): Promise<string | undefined> {
  const r = (await c.request(`get ${key}\r\n`, 'END\r\n', 5000)).toString();
  const m = /^VALUE \S+ \d+ \d+\r\n(.*)\r\nEND\r\n$/s.exec(r);
  return m === null ? undefined : m[1];
}

async function serve(name: string, config: unknown, extra: string[] = []): Promise<{ file: string; p: Running }> {
  const file = join(dir, name);
  writeRoutes(file, config);
  mp = await startMemproxy(['--routes', file, '--port', '0', ...extra]);
  return { file, p: mp };
}

describe('memproxy --routes', () => {
  it('a PoolRoute over three memcached: each key on one server, every server state in stats', async () => {
    const { p } = await serve('pool.json', { pools: { main: { servers: mcs.map(addr) } }, route: 'PoolRoute|main' });
    const c = await RawClient.connect({ port: p.port });
    const direct = await Promise.all(mcs.map((m) => RawClient.connect({ port: m.port })));
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `pool-key-${i}`);
      for (const k of keys) expect(await set(c, k, `v-${k}`)).toBe('STORED\r\n');
      const perServer = [0, 0, 0];
      for (const k of keys) {
        expect(await get(c, k)).toBe(`v-${k}`);
        const holders = [];
        for (let i = 0; i < 3; i++) if ((await get(direct[i]!, k)) === `v-${k}`) holders.push(i);
        expect(holders, k).toHaveLength(1);
        // Where mcrouter's PoolRoute puts it: Ch3, furc_hash over the servers in the file's order.
        expect(holders[0], k).toBe(furcHash(Buffer.from(k), 0, k.length, 3));
        perServer[holders[0]!]!++;
      }
      expect(perServer.filter((n) => n > 0).length, `keys per server: ${perServer}`).toBeGreaterThan(1);
      const st = (await c.request('stats\r\n', 'END\r\n', 5000)).toString();
      for (const m of mcs) expect(st).toContain(`STAT pool:main:server:${addr(m)}:state up\r\n`);
      expect(st).toContain('STAT pool:main:pool_servers 3\r\n');
    } finally {
      c.close();
      for (const d of direct) d.close();
    }
  });

  it('every kind of route builds and serves: replicas, warm-up, shadow, hash, selectors, all-*', async () => {
    const [m1, m2, m3] = mcs as [MemcachedProcess, MemcachedProcess, MemcachedProcess];
    const { p } = await serve(
      'every.yaml',
      [
        'pools:',
        `  a: { servers: ["${addr(m1)}"] }`,
        `  b: { servers: ["${addr(m2)}"] }`,
        `  c: { servers: ["${addr(m3)}"] }`,
        `  w: { servers: ["${addr(m1)}", "${addr(m2)}"], weights: [1, 0.5] }`,
        'route:',
        '  type: PrefixSelectorRoute',
        '  policies:',
        '    "rep:": { type: ReplicaRoute, children: ["PoolRoute|a", "PoolRoute|b"], read: round-robin }',
        '    "warm:": { type: WarmUpRoute, cold: PoolRoute|c, warm: PoolRoute|a }',
        '    "shadow:": { type: PoolRoute, pool: c, shadows: [{ target: PoolRoute|b, key_fraction_range: [0, 1] }] }',
        '    "hash:": { type: HashRoute, children: Pool|w, hash_func: Crc32 }',
        '    "wch3:": PoolRoute|w',
        '  wildcard:',
        '    type: OperationSelectorRoute',
        '    operation_policies: { delete: AllSyncRoute|Pool|w }',
        '    default_policy:',
        '      type: MissFailoverRoute',
        '      children:',
        '        - { type: AllMajorityRoute, children: ["PoolRoute|a", "PoolRoute|b", "PoolRoute|c"] }',
        '        - { type: AllFastestRoute, children: ["PoolRoute|c"] }',
        '        - { type: LatestRoute, children: ["PoolRoute|a", "PoolRoute|b"], failover_count: 2 }',
        '        - "AllInitialRoute|Pool|w"',
        '        - "AllAsyncRoute|Pool|w"',
        '        - "RandomRoute|Pool|w"',
        '',
      ].join('\n'),
    );
    const c = await RawClient.connect({ port: p.port });
    const direct = await Promise.all([m1, m2, m3].map((m) => RawClient.connect({ port: m.port })));
    const [d1, d2, d3] = direct as [RawClient, RawClient, RawClient];
    const eventually = async (f: () => Promise<boolean>) => {
      const deadline = Date.now() + 5000;
      while (!(await f())) {
        if (Date.now() > deadline) return false;
        await sleep(20);
      }
      return true;
    };
    try {
      // Replicas: a write reaches both, a read comes from either.
      expect(await set(c, 'rep:1', 'r1')).toBe('STORED\r\n');
      expect([await get(d1, 'rep:1'), await get(d2, 'rep:1')]).toEqual(['r1', 'r1']);
      expect([await get(c, 'rep:1'), await get(c, 'rep:1')]).toEqual(['r1', 'r1']);
      // Warm-up: a miss in cold (c) is answered from warm (a) and copied into cold.
      expect(await set(d1, 'warm:1', 'w1')).toBe('STORED\r\n');
      expect(await get(c, 'warm:1')).toBe('w1');
      expect(await eventually(async () => (await get(d3, 'warm:1')) === 'w1')).toBe(true);
      // Shadow: main (c) answers; every key is also sent to the shadow (b).
      expect(await set(c, 'shadow:1', 's1')).toBe('STORED\r\n');
      expect(await get(d3, 'shadow:1')).toBe('s1');
      expect(await eventually(async () => (await get(d2, 'shadow:1')) === 's1')).toBe(true);
      // HashRoute and a WeightedCh3 pool: one server each.
      for (const k of ['hash:1', 'wch3:1']) {
        expect(await set(c, k, k)).toBe('STORED\r\n');
        expect(await get(c, k)).toBe(k);
        expect([await get(d1, k), await get(d2, k)].filter((v) => v === k)).toHaveLength(1);
      }
      // The rest: the majority of a, b, c stores; a delete goes to every server of w.
      expect(await set(c, 'other:1', 'o1')).toBe('STORED\r\n');
      expect(await get(c, 'other:1')).toBe('o1');
      expect((await c.request('delete other:1\r\n', '\r\n', 5000)).toString()).toBe('DELETED\r\n');
      expect([await get(d1, 'other:1'), await get(d2, 'other:1')]).toEqual([undefined, undefined]);
      const st = (await c.request('stats\r\n', 'END\r\n', 5000)).toString();
      for (const pool of ['a', 'b', 'c', 'w']) expect(st).toContain(`STAT pool:${pool}:pool_servers `);
    } finally {
      c.close();
      for (const d of direct) d.close();
    }
  });

  it('a FailoverRoute serves from the second pool while the first memcached is stopped', async () => {
    const [m1, m2] = mcs as [MemcachedProcess, MemcachedProcess];
    const { p } = await serve(
      'failover.json',
      {
        pools: { first: { servers: [addr(m1)] }, second: { servers: [addr(m2)] } },
        route: { type: 'FailoverRoute', children: ['PoolRoute|first', 'PoolRoute|second'] },
      },
      ['--backend-timeout', '300ms'],
    );
    const c = await RawClient.connect({ port: p.port });
    const onSecond = await RawClient.connect({ port: m2.port });
    try {
      expect(await set(c, 'fo-before', 'one')).toBe('STORED\r\n');
      await stopProcess(m1.pid);
      for (let i = 0; i < 5; i++) {
        expect(await set(c, `fo-${i}`, `during-${i}`)).toBe('STORED\r\n');
        expect(await get(c, `fo-${i}`)).toBe(`during-${i}`);
        expect(await get(onSecond, `fo-${i}`)).toBe(`during-${i}`);
      }
      const st = (await c.request('stats\r\n', 'END\r\n', 5000)).toString();
      expect(st).toContain(`STAT pool:first:server:${addr(m1)}:state down\r\n`);
      expect(st).toContain(`STAT pool:second:server:${addr(m2)}:state up\r\n`);
    } finally {
      process.kill(m1.pid, 'SIGCONT');
      c.close();
      onSecond.close();
    }
  });

  it('reloads under a checking load: a pool added, a bad file refused, a pool removed; no connection dropped, no request lost', async () => {
    const [m1, m2] = mcs as [MemcachedProcess, MemcachedProcess];
    const observer = await RawClient.connect({ port: m1.port });
    try {
      const base = Number((await statsOf(observer)).curr_connections);
      const { file, p } = await serve('reload.json', { pools: { a: { servers: [addr(m1)] } }, route: 'PoolRoute|a' });
      const load = new CheckedLoad({
        port: p.port,
        clients: ['text', 'meta', 'binary', 'text'],
        keys: Array.from({ length: 64 }, (_, i) => `reload-${i}`),
        depth: 4,
      });
      await load.start();
      // Each phase's name says what happens to the tree while it runs.
      await load.runPhase(300, 'added');

      let at = lines(p);
      writeRoutes(file, {
        pools: { a: { servers: [addr(m1)] }, b: { servers: [addr(m2)] } },
        route: { type: 'AllSyncRoute', children: ['PoolRoute|a', 'PoolRoute|b'] },
      });
      expect(await logged(p, /^routes reloaded/, at)).toMatch(
        new RegExp(`^routes reloaded from ${file} \\(file changed\\): pools added: b; removed: none; changed: none; now 2 pools`),
      );
      await load.runPhase(300, 'bad');

      at = lines(p);
      writeRoutes(file, { pools: { a: { servers: [addr(m1)] } }, route: { type: 'PoolRout', pool: 'a' } });
      expect(await logged(p, /^routes not reloaded/, at)).toBe(
        `routes not reloaded (file changed): --routes ${file}: route.type: unknown route type 'PoolRout'; did you mean 'PoolRoute'?; ` +
          'one of PoolRoute, HashRoute, FailoverRoute, MissFailoverRoute, AllSyncRoute, AllAsyncRoute, AllMajorityRoute, ' +
          'AllFastestRoute, AllInitialRoute, RandomRoute, LatestRoute, ReplicaRoute, WarmUpRoute, PrefixSelectorRoute, ' +
          'OperationSelectorRoute; still serving the previous routes',
      );
      await load.runPhase(300, 'removed');

      // The same kind of change by SIGHUP: the file is written first, then the signal reloads it.
      at = lines(p);
      writeFileSync(file, JSON.stringify({ pools: { b: { servers: [addr(m2)] } }, route: 'PoolRoute|b' }));
      p.child.kill('SIGHUP');
      expect(await logged(p, /^routes reloaded/, at)).toMatch(/pools added: none; removed: a; changed: none; now 1 pool \(b: 1 server\)/);
      const client = await RawClient.connect({ port: p.port });
      const st = await statsOf(client);
      client.close();
      expect([st.routes_reloads, st.routes_reload_failures, st.routes_pools]).toEqual(['2', '1', '1']);
      await load.runPhase(300, 'after');
      await load.runPhase(300);
      await load.stop(5000);
      const report = load.summary();
      expect(load.violations, report).toEqual([]);
      for (const phase of ['before', 'added', 'bad', 'removed', 'after']) {
        const s = load.stats(phase);
        expect(s.errors, `${phase}\n${report}`).toBe(0);
        expect(s.stored, `${phase}\n${report}`).toBeGreaterThan(0);
      }
      // The pool removed: its server's connections closed once the old tree drained.
      const deadline = Date.now() + 5000;
      while (Number((await statsOf(observer)).curr_connections) !== base && Date.now() < deadline) await sleep(20);
      expect(Number((await statsOf(observer)).curr_connections)).toBe(base);
    } finally {
      observer.close();
    }
  });

  it('a server in both trees keeps its connections across a reload', async () => {
    const [m1, , m3] = mcs as [MemcachedProcess, MemcachedProcess, MemcachedProcess];
    const observer = await RawClient.connect({ port: m1.port });
    try {
      const { file, p } = await serve('keep.json', { pools: { a: { servers: [addr(m1)] } }, route: 'PoolRoute|a' });
      const c = await RawClient.connect({ port: p.port });
      expect(await set(c, 'keep-1', 'one')).toBe('STORED\r\n');
      const before = await statsOf(observer);
      const at = lines(p);
      writeRoutes(file, {
        pools: { a: { servers: [addr(m1)] }, c: { servers: [addr(m3)] } },
        route: { type: 'AllSyncRoute', children: ['PoolRoute|a', 'PoolRoute|c'] },
      });
      await logged(p, /^routes reloaded/, at);
      expect(await set(c, 'keep-2', 'two')).toBe('STORED\r\n');
      expect(await get(c, 'keep-2')).toBe('two');
      const after = await statsOf(observer);
      expect(after.total_connections).toBe(before.total_connections);
      expect(after.curr_connections).toBe(before.curr_connections);
      c.close();
    } finally {
      observer.close();
    }
  });
});
