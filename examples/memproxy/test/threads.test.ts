/**
 * memproxy --threads N: every mode served by N threads, each accepting on the same listeners. A value set on one
 * connection is read from many others, which land on different threads; proxy modes show every thread's own backend
 * connections in the backend's figures, and the log shows each thread building its tiers. Runs the built CLI
 * (dist/memproxy.js and dist/thread.js, which each serving thread loads): build first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { ask, logLines, MEMPROXY, runMemproxy, startMemproxy, stopAfterAll, type Running } from './spawn.js';

const track = stopAfterAll();

const memcached = async (opts: Parameters<typeof startMemcached>[0] = {}): Promise<MemcachedProcess> => track(await startMemcached(opts));

const memproxy = async (args: string[]): Promise<Running> =>
  track(await startMemproxy(args.includes('--config') ? args : ['-p', '0', ...args]));

/** One `stats` group as name → value. */
async function stats(port: number, group = ''): Promise<Map<string, string>> {
  const text = await ask({ port }, `stats${group ? ` ${group}` : ''}\r\n`, 'END\r\n');
  return new Map(
    text
      .split('\r\n')
      .filter((l) => l.startsWith('STAT '))
      .map((l) => {
        const [, name, ...rest] = l.split(' ');
        return [name!, rest.join(' ')] as const;
      }),
  );
}

/** Poll `f` until it holds (the state a test relies on), failing after `ms`. */
async function until(what: string, f: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Set a value on one connection, then read it from `n` connections opened together (the server spreads them over
 * its threads) while all are open; `stats conns` on one of them lists every one, whichever thread has it.
 */
async function setThenGetFromMany(port: number, n: number, key: string, size = 5): Promise<void> {
  const value = 'v'.repeat(size);
  expect(await ask({ port }, `set ${key} 3 0 ${size}\r\n${value}\r\n`, '\r\n')).toBe('STORED\r\n');
  const clients = await Promise.all(Array.from({ length: n }, () => RawClient.connect({ port })));
  try {
    const answers = await Promise.all(clients.map((c) => c.request(`get ${key}\r\n`, 'END\r\n', 10_000)));
    for (const a of answers) expect(a.toString('latin1')).toBe(`VALUE ${key} 3 ${size}\r\n${value}\r\nEND\r\n`);
    const conns = await clients[0]!.request('stats conns\r\n', 'END\r\n', 5000);
    const ids = new Set([...conns.toString('latin1').matchAll(/^STAT (\d+):state /gm)].map((m) => m[1]));
    // Our n connections, and the listeners' entries of each thread.
    expect(ids.size).toBeGreaterThanOrEqual(n);
  } finally {
    for (const c of clients) c.close();
  }
}

/** Every thread of the memproxy built its tiers: a line from each thread index in its log (backends connected). */
function threadsInLog(mp: Running, message: string): Set<number> {
  return new Set(
    logLines(mp.stdout())
      .filter((l) => l.msg === message && typeof l.thread === 'number')
      .map((l) => l.thread as number),
  );
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/**
 * A relay in front of a memcached that counts the request bytes of each connection through it: with
 * --backend-conns 1 each connection open is one memproxy thread's backend connection (a thread whose connection
 * attempt timed out on a busy machine opens another, closing the first), so the open connections that carried a
 * phase's requests are the threads that served it.
 */
async function countingRelay(target: number): Promise<{ port: number; sent: number[]; open: boolean[]; stop(): Promise<void> }> {
  const sent: number[] = [];
  const open: boolean[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((c) => {
    const i = sent.push(0) - 1;
    open[i] = true;
    c.once('close', () => (open[i] = false));
    const up = connect(target, '127.0.0.1');
    for (const s of [c, up]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => {
        sockets.delete(s);
        c.destroy();
        up.destroy();
      });
    }
    c.on('data', (d: Buffer) => {
      sent[i]! += d.length;
      up.write(d);
    });
    up.pipe(c);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const relay = {
    port: (server.address() as AddressInfo).port,
    sent,
    open,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return track(relay);
}

/** How many of the relay's open connections sent requests since `before` (a copy of `sent`). */
const busy = (relay: { sent: number[]; open: boolean[] }, before: number[]) =>
  relay.sent.filter((n, i) => relay.open[i] && n > (before[i] ?? 0)).length;

/** How many connections through the relay are open. */
const openCount = (relay: { open: boolean[] }) => relay.open.filter(Boolean).length;

describe('memproxy --threads: in-memory, one cache for every thread', () => {
  for (const threads of [2, 4]) {
    it(`--threads ${threads}: a set on one connection is read on every other, and stats count the store once`, async () => {
      const mp = await memproxy(['--threads', String(threads), '--l1-inmem-size', '64m']);
      expect(mp.stdout()).toContain(`, ${threads} threads`);
      await setThenGetFromMany(mp.port, 4 * threads, `inmem${threads}`);
      // A large value (beyond one slab page's chunk) too.
      await setThenGetFromMany(mp.port, 2 * threads, `big${threads}`, 300_000);
      const s = await stats(mp.port);
      expect(s.get('threads')).toBe(String(threads));
      expect(s.get('curr_items')).toBe('2');
      expect(s.get('limit_maxbytes')).toBe(String(64 << 20));
    });
  }

  it('incr from many connections across threads sums exactly', async () => {
    const mp = await memproxy(['--threads', '4']);
    expect(await ask({ port: mp.port }, 'set n 0 0 1\r\n0\r\n', '\r\n')).toBe('STORED\r\n');
    const clients = await Promise.all(range(16).map(() => RawClient.connect({ port: mp.port })));
    try {
      // 50 increments from each, pipelined; mn's MN comes after all 50 replies.
      await Promise.all(clients.map((c) => c.request(`${'incr n 1\r\n'.repeat(50)}mn\r\n`, 'MN\r\n', 10_000)));
    } finally {
      for (const c of clients) c.close();
    }
    expect(await ask({ port: mp.port }, 'get n\r\n', 'END\r\n')).toBe('VALUE n 0 3\r\n800\r\nEND\r\n');
  });
});

describe('memproxy --threads: in front of memcached', () => {
  let l1: MemcachedProcess;
  let l2: MemcachedProcess;
  beforeAll(async () => {
    l1 = await memcached();
    l2 = await memcached();
  });

  for (const threads of [2, 4]) {
    it(`--threads ${threads}, L1 a memcached: each thread has its own backend connections, and connections land on several`, async () => {
      const relay = await countingRelay(l1.port);
      const mp = await memproxy(['--threads', String(threads), '--backend-conns', '1', '--l1-addr', `127.0.0.1:${relay.port}`]);
      await until('every thread connected to its backend', () => openCount(relay) === threads, 20_000);
      await until('a backend line from every thread', () => threadsInLog(mp, 'backend connected').size === threads);
      expect([...threadsInLog(mp, 'backend connected')].sort()).toEqual(range(threads));
      const before = [...relay.sent];
      await setThenGetFromMany(mp.port, 4 * threads, `proxy${threads}`);
      // The gets reached the backend through more than one thread's connection.
      expect(busy(relay, before)).toBeGreaterThan(1);
      expect(openCount(relay)).toBe(threads);
      // stats: the backend's figures once, every thread's backend connection counted.
      const [mine, backend] = [await stats(mp.port), await stats(l1.port)];
      expect(mine.get('threads')).toBe(String(threads));
      expect(mine.get('backend_connections')).toBe(String(threads));
      expect(mine.get('curr_items')).toBe(backend.get('curr_items'));
      expect(mine.get('total_items')).toBe(backend.get('total_items'));
      expect(await ask({ port: l1.port }, `get proxy${threads}\r\n`, 'END\r\n')).toBe(`VALUE proxy${threads} 3 5\r\nvvvvv\r\nEND\r\n`);
    });
  }

  it('--threads 2 --chunked: a value larger than memcached takes, set on one thread, read on every other', async () => {
    const mp = await memproxy(['--threads', '2', '--l1-addr', `127.0.0.1:${l1.port}`, '--chunked', '--max-item-size', '4m']);
    await setThenGetFromMany(mp.port, 8, 'chunked', 3 << 20);
  });

  it('--threads 4, in-memory L1 + L2 memcached: a write through any thread leaves no stale L1 copy for another', async () => {
    const relay = await countingRelay(l2.port);
    const mp = await memproxy(['--threads', '4', '--backend-conns', '1', '--l2-enabled', '--l2-addr', `127.0.0.1:${relay.port}`]);
    await until('every thread connected to L2', () => openCount(relay) === 4, 20_000);
    await setThenGetFromMany(mp.port, 16, 'tiered');
    const before = [...relay.sent];
    // Every thread's L1L2 has read `tiered` into the one L1; a write on any connection replaces it for all.
    const clients = await Promise.all(range(16).map(() => RawClient.connect({ port: mp.port })));
    try {
      for (let round = 0; round < 20; round++) {
        const writer = clients[round % clients.length]!;
        const v = `r${String(round).padStart(3, '0')}`;
        expect((await writer.request(`set tiered 0 0 4\r\n${v}\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
        const reads = await Promise.all(clients.map((c) => c.request('get tiered\r\n', 'END\r\n', 10_000)));
        for (const r of reads) expect(r.toString('latin1')).toBe(`VALUE tiered 0 4\r\n${v}\r\nEND\r\n`);
      }
    } finally {
      for (const c of clients) c.close();
    }
    expect(await ask({ port: l2.port }, 'get tiered\r\n', 'END\r\n')).toBe('VALUE tiered 0 4\r\nr019\r\nEND\r\n');
    // The writes went through more than one thread (each thread writes L2 on its own connection).
    expect(busy(relay, before)).toBeGreaterThan(1);
    const s = await stats(mp.port);
    expect(s.get('threads')).toBe('4');
    expect(s.get('curr_items')).toBe('1');
    // L2's figures once too.
    expect(s.get('l2_curr_items')).toBe((await stats(l2.port)).get('curr_items'));
    expect(s.get('l2_backend_connections')).toBe('4');
  });
});

describe('memproxy --threads: metrics and the log', () => {
  const dir = mkdtempSync(join(tmpdir(), 'memproxy-threads-log-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--metrics-port sums the commands of every thread', async () => {
    const mp = await memproxy(['--threads', '2', '--metrics-port', '0']);
    let url = '';
    await until('the metrics line', () => {
      url = (logLines(mp.stdout()).find((l) => typeof l.metrics === 'string')?.metrics as string | undefined) ?? '';
      return url !== '';
    });
    // 8 gets on as many connections, then 2 more on each of 8 others: spread over both threads.
    await setThenGetFromMany(mp.port, 8, 'm');
    const clients = await Promise.all(range(8).map(() => RawClient.connect({ port: mp.port })));
    try {
      // mn's MN comes after both replies (and counts as no get).
      await Promise.all(clients.map((c) => c.request('get m\r\nget m\r\nmn\r\n', 'MN\r\n', 10_000)));
    } finally {
      for (const c of clients) c.close();
    }
    const text = await (await fetch(url)).text();
    const gets = /^memproxy_commands_total\{command="get"\} (\d+)$/m.exec(text)?.[1];
    expect(Number(gets)).toBe(8 + 16);
  });

  it('SIGHUP reopens the --log-file in every thread', async () => {
    const backend = await memcached();
    const file = join(dir, 'memproxy.log');
    // The log goes to the file: nothing on stdout to wait for.
    const child = spawn(
      process.execPath,
      [MEMPROXY, '-p', '0', '--threads', '2', '--l1-addr', `127.0.0.1:${backend.port}`, '--log-file', file],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    track({ stop: () => (child.exitCode === null && child.kill('SIGTERM') ? exited : Promise.resolve()) });
    const lines = (f: string) => (existsSync(f) ? logLines(readFileSync(f, 'utf8')) : []);
    await until(
      'both threads connected',
      () =>
        new Set(
          lines(file)
            .filter((l) => l.msg === 'backend connected')
            .map((l) => l.thread),
        ).size === 2,
    );
    renameSync(file, `${file}.1`);
    child.kill('SIGHUP');
    await until('the SIGHUP line in the new file', () => lines(file).some((l) => l.msg.startsWith('SIGHUP received')));
    expect(lines(file).find((l) => l.msg.startsWith('SIGHUP received'))!.msg).toContain('told the 2 serving threads to reopen it');
    // Each thread's next line goes to the new file: the backend going away.
    await backend.stop();
    await until(
      'both threads in the new file',
      () =>
        new Set(
          lines(file)
            .filter((l) => l.msg.startsWith('backend'))
            .map((l) => l.thread),
        ).size === 2,
    );
    expect(lines(`${file}.1`).some((l) => l.msg.startsWith('backend went away'))).toBe(false);
  });
});

describe('memproxy --threads with a nutcracker.yml pool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'memproxy-threads-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--threads 2: each thread serves the pool over backend connections of its own; keys land as one pool places them', async () => {
    const a = await memcached();
    const b = await memcached();
    const port = await freePort();
    const yml = join(dir, 'nutcracker.yml');
    writeFileSync(
      yml,
      `alpha:\n  listen: 127.0.0.1:${port}\n  hash: fnv1a_64\n  distribution: modula\n  server_connections: 1\n  servers:\n` +
        `   - 127.0.0.1:${a.port}:1 a\n   - 127.0.0.1:${b.port}:1 b\n`,
    );
    const mp = await memproxy(['--config', yml, '--threads', '2']);
    expect(mp.stdout()).toContain(', 2 threads');
    for (let i = 0; i < 20; i++) await setThenGetFromMany(mp.port, 4, `pool${i}`);
    // Every key is in exactly one of the servers.
    let inA = 0;
    let inB = 0;
    for (let i = 0; i < 20; i++) {
      if ((await ask({ port: a.port }, `get pool${i}\r\n`, 'END\r\n')).startsWith('VALUE')) inA++;
      if ((await ask({ port: b.port }, `get pool${i}\r\n`, 'END\r\n')).startsWith('VALUE')) inB++;
    }
    expect(inA + inB).toBe(20);
    // The servers' figures once, not once per thread.
    const st = await stats(mp.port);
    expect(st.get('curr_items')).toBe('20');
    expect(st.get('pool_servers')).toBe('2');
    expect(inA).toBeGreaterThan(0);
    expect(inB).toBeGreaterThan(0);
    await until(
      'each thread connected to both servers',
      async () => (await backendConnections(a.port)) === 2 && (await backendConnections(b.port)) === 2,
    );
  });

  const backendConnections = async (port: number) => Number((await stats(port)).get('curr_connections')) - 1;
});

describe('memproxy --threads: refused values and combinations', () => {
  it.each([['0'], ['65'], ['two'], ['-1']])('--threads %s names the flag and the range', async (v) => {
    const r = await runMemproxy(['--threads', v]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`memproxy: --threads must be a whole number from 1 to 64, got `);
  });

  it.each([
    [['--routes', '/nonexistent.json'], '--routes'],
    [['--l2-lmdb', '/tmp/memproxy-threads-never'], '--l2-lmdb'],
    [['--l2-enabled', '--l2-addr', '127.0.0.1:11311', '--batch-port', '0'], '--batch-port'],
  ])('--threads 2 with %j is refused, naming both flags', async (args, flag) => {
    const r = await runMemproxy(['--threads', '2', ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`memproxy: --threads 2 cannot be combined with ${flag}:`);
  });

  it('--threads 1 with them is the single-thread memproxy, as without the flag', async () => {
    const r = await runMemproxy(['--threads', '1', '--l2-enabled', '--l2-addr', '127.0.0.1:11311', '--batch-port', '0', '--check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('configuration OK');
    expect(r.stdout).not.toContain('threads');
  });
});
