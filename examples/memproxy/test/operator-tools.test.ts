/**
 * The tools operators point at a memcached, pointed at memproxy in each of its
 * modes: memcached's own memcached-tool (display, stats, settings, dump),
 * libmemcached's memcstat (text, binary, analyze) and memjs, a client that
 * reads binary STAT groups and waits for each group's terminator. Each must
 * finish and show what was stored through memproxy.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import memjs from 'memjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, freePort, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

const MEMCACHED_TOOL = '/usr/share/memcached/scripts/memcached-tool';
const KEYS = 20;

const started: Array<{ stop(): Promise<unknown> }> = [];
const dir = mkdtempSync(join(tmpdir(), 'cleave-tools-'));
afterAll(async () => {
  for (const p of started.reverse()) await p.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function memcached(): Promise<MemcachedProcess> {
  const mc = await startMemcached();
  started.push(mc);
  return mc;
}

/** Run a tool to its end (killed after 15 s, so a tool waiting for an END that never comes fails the test instead of hanging it). */
function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

const valueOf = (i: number) => `value-${i}-${'x'.repeat(i * 37)}`;

/** Store KEYS items through memproxy and read each back once (a hit) plus one miss. */
async function fill(port: number): Promise<void> {
  const c = await RawClient.connect({ port });
  try {
    for (let i = 0; i < KEYS; i++) {
      const v = valueOf(i);
      expect((await c.request(`set tool:${i} ${i} 0 ${v.length}\r\n${v}\r\n`, '\r\n', 5000)).toString()).toBe('STORED\r\n');
      expect((await c.request(`get tool:${i}\r\n`, 'END\r\n', 5000)).toString()).toContain(`VALUE tool:${i} ${i} ${v.length}`);
    }
    expect((await c.request('get tool:none\r\n', 'END\r\n', 5000)).toString()).toBe('END\r\n');
  } finally {
    c.close();
  }
}

/** `STAT name value` lines of memcstat's or memcached-tool's output, as a map. */
function toolStats(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    const hit = /^\s*(\w+):? +(\S+)\s*$/.exec(line);
    if (hit) m.set(hit[1]!, hit[2]!);
  }
  return m;
}

function memjsStats(port: number, key: string): Promise<Record<string, string>> {
  const client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 5, logger: { log: () => {} } });
  return new Promise<Record<string, string>>((resolve, reject) => {
    client.statsWithKey(key, (err, _server, stats) => {
      client.close();
      if (err) reject(err);
      else resolve((stats ?? {}) as Record<string, string>);
    });
  });
}

interface Mode {
  name: string;
  start(): Promise<Running>;
}

const modes: Mode[] = [
  { name: 'in-memory', start: () => startMemproxy(['-p', '0']) },
  {
    name: 'proxy (--l1-addr)',
    async start() {
      const mc = await memcached();
      return startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${mc.port}`]);
    },
  },
  {
    name: 'chunked proxy',
    async start() {
      const mc = await memcached();
      return startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${mc.port}`, '--chunked']);
    },
  },
  {
    name: 'in-memory L1 + memcached L2',
    async start() {
      const mc = await memcached();
      return startMemproxy(['-p', '0', '--l2-enabled', '--l2-addr', `127.0.0.1:${mc.port}`]);
    },
  },
  {
    name: 'router pool of two memcached',
    async start() {
      const a = await memcached();
      const b = await memcached();
      const port = await freePort();
      const yml = join(dir, `pool-${port}.yml`);
      writeFileSync(
        yml,
        `tools:\n  listen: 127.0.0.1:${port}\n  hash: fnv1a_64\n  distribution: ketama\n  servers:\n   - 127.0.0.1:${a.port}:1\n   - 127.0.0.1:${b.port}:1\n`,
      );
      return startMemproxy(['--config', yml]);
    },
  },
];

describe.each(modes)('operator tools against memproxy: $name', (mode) => {
  let mp: Running;
  let addr: string;
  beforeAll(async () => {
    mp = await mode.start();
    started.push(mp);
    addr = `127.0.0.1:${mp.port}`;
    await fill(mp.port);
  });

  it('memcached-tool display lists the slab classes holding the items', async () => {
    const r = await run('perl', [MEMCACHED_TOOL, addr, 'display']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter((l) => /^\s*\d+\s+\S+\s+\d+s/.test(l));
    expect(rows.length, r.stdout).toBeGreaterThan(0);
    const counted = rows.reduce((n, l) => n + Number(l.trim().split(/\s+/)[4]), 0);
    expect(counted, r.stdout).toBeGreaterThanOrEqual(KEYS);
  });

  it("memcached-tool stats shows memproxy's command counters and the stored items", async () => {
    const r = await run('perl', [MEMCACHED_TOOL, addr, 'stats']);
    expect(r.code, r.stderr).toBe(0);
    const s = toolStats(r.stdout);
    expect(Number(s.get('cmd_set')), r.stdout).toBeGreaterThanOrEqual(KEYS);
    expect(Number(s.get('get_hits')), r.stdout).toBeGreaterThanOrEqual(KEYS);
    expect(Number(s.get('get_misses')), r.stdout).toBeGreaterThanOrEqual(1);
    expect(Number(s.get('curr_items')), r.stdout).toBeGreaterThanOrEqual(KEYS);
    expect(Number(s.get('limit_maxbytes')), r.stdout).toBeGreaterThan(0);
    for (const f of ['cmd_get', 'total_items', 'bytes', 'evictions', 'curr_connections']) expect(s.has(f), f).toBe(true);
  });

  it('memcached-tool settings shows maxbytes', async () => {
    const r = await run('perl', [MEMCACHED_TOOL, addr, 'settings']);
    expect(r.code, r.stderr).toBe(0);
    expect(Number(toolStats(r.stdout).get('maxbytes')), r.stdout).toBeGreaterThan(0);
  });

  it('memcached-tool dump writes every item back as an add command', async () => {
    const r = await run('perl', [MEMCACHED_TOOL, addr, 'dump']);
    expect(r.code, r.stderr).toBe(0);
    for (let i = 0; i < KEYS; i++) {
      const v = valueOf(i);
      expect(r.stdout, `tool:${i}`).toContain(`add tool:${i} ${i} 0 ${v.length}\r\n${v}\r\n`);
    }
  });

  it('memcstat reads the stats over text and binary, and analyzes them', async () => {
    const text = await run('memcstat', [`--servers=${addr}`]);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(Number(toolStats(text.stdout).get('curr_items')), text.stdout).toBeGreaterThanOrEqual(KEYS);
    const binary = await run('memcstat', [`--servers=${addr}`, '--binary']);
    expect(binary.code, binary.stdout + binary.stderr).toBe(0);
    expect(Number(toolStats(binary.stdout).get('cmd_set')), binary.stdout).toBeGreaterThanOrEqual(KEYS);
    for (const group of ['items', 'slabs', 'settings', 'sizes']) {
      for (const how of [[], ['--binary']]) {
        const g = await run('memcstat', [`--servers=${addr}`, ...how, group]);
        expect(g.code, `${group} ${how.join(' ')}: ${g.stdout}${g.stderr}`).toBe(0);
      }
    }
    const analyze = await run('memcstat', [`--servers=${addr}`, '--analyze']);
    expect(analyze.code, analyze.stdout + analyze.stderr).toBe(0);
    expect(analyze.stdout).toContain('Number of Servers Analyzed         : 1');
  });

  it('a binary client reads each STAT group to its terminator', async () => {
    const general = await memjsStats(mp.port, '');
    expect(Number(general.curr_items)).toBeGreaterThanOrEqual(KEYS);
    const items = await memjsStats(mp.port, 'items');
    expect(
      Object.keys(items).some((k) => /^items:\d+:number$/.test(k)),
      JSON.stringify(items),
    ).toBe(true);
    const slabs = await memjsStats(mp.port, 'slabs');
    expect(Number(slabs.active_slabs), JSON.stringify(slabs)).toBeGreaterThan(0);
    const settings = await memjsStats(mp.port, 'settings');
    expect(Number(settings.maxbytes)).toBeGreaterThan(0);
  });
});
