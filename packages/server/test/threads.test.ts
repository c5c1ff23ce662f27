/**
 * Serving threads (ServerOptions.threads). Worker threads run JavaScript:
 * they load the built server (dist/thread-entry.js, so build first) and
 * the plain-JavaScript factory fixtures/thread-handler.mjs, which serves
 * from the built handler-inmem and answers a get of `thread` with the index
 * of the thread serving the connection.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawClient, TlsRawClient, tlsFixture } from '@cleave/testkit';
import { listenAndServe, type Server, type ServerOptions } from '../src/index.js';

const FACTORY = new URL('./fixtures/thread-handler.mjs', import.meta.url);
const dir = mkdtempSync(join(tmpdir(), 'cleave-threads-'));
const servers: Server[] = [];
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function serve(threads: number, extra: Partial<ServerOptions> = {}): Promise<Server> {
  const server = await listenAndServe({
    listen: { port: 0 },
    threads,
    worker: { module: FACTORY },
    onError: (err) => {
      throw err;
    },
    ...extra,
  });
  servers.push(server);
  return server;
}

const portOf = (s: Server, i = 0) => (s.addresses[i] as { port: number }).port;

async function connect(target: { port: number } | { path: string } | { tlsPort: number }): Promise<RawClient> {
  const c = 'tlsPort' in target ? await TlsRawClient.connect({ port: target.tlsPort }) : await RawClient.connect(target);
  clients.push(c);
  return c;
}

/** The index of the thread serving `c`. */
async function threadOf(c: RawClient): Promise<number> {
  const reply = (await c.request('get thread\r\n', 'END\r\n')).toString('latin1');
  const m = /^VALUE thread 0 \d+\r\n(\d+)\r\nEND\r\n$/.exec(reply);
  if (!m) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
  return Number(m[1]);
}

/** Open connections (kept open) until every thread serves one; the connections by thread. */
async function onEveryThread(
  threads: number,
  target: Parameters<typeof connect>[0],
  most = threads * 6,
): Promise<Map<number, RawClient[]>> {
  const by = new Map<number, RawClient[]>();
  for (let i = 0; i < most && by.size < threads; i++) {
    const c = await connect(target);
    const t = await threadOf(c);
    by.set(t, [...(by.get(t) ?? []), c]);
  }
  return by;
}

const stat = (reply: Buffer, name: string): string | undefined =>
  new RegExp(`^STAT ${name} (.*)\r$`, 'm').exec(reply.toString('latin1'))?.[1];

/** Threads of this process (vitest's own included). */
const taskCount = () => readdirSync('/proc/self/task').length;

/** Whether connecting to `port` is refused (polled: a server closing stops accepting soon after). */
async function refused(port: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    try {
      (await RawClient.connect({ port })).close();
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

async function until(pred: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

describe('serving threads', () => {
  it.each([2, 4])(
    'a burst of 40 connections from another process lands on every one of %i threads, each within its share + 2',
    async (threads) => {
      const server = await serve(threads);
      const port = portOf(server);
      const client = `
      const net = require('node:net');
      const counts = {}; const socks = []; let open = 0, answered = 0;
      for (let i = 0; i < 40; i++) {
        const s = net.connect(${port}, '127.0.0.1'); socks.push(s);
        s.on('connect', () => { if (++open === 40) for (const x of socks) ask(x); });
      }
      function ask(s) {
        let d = '';
        s.on('data', (b) => { d += b; if (!d.endsWith('END\\r\\n')) return;
          const t = d.split('\\r\\n')[1]; counts[t] = (counts[t] || 0) + 1;
          if (++answered === 40) { process.stdout.write(JSON.stringify(counts)); process.exit(0); } });
        s.write('get thread\\r\\n');
      }`;
      const child = spawn(process.execPath, ['-e', client], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
      });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(0);
      const counts = JSON.parse(out) as Record<string, number>;
      expect(Object.keys(counts).sort()).toEqual(Array.from({ length: threads }, (_, i) => String(i)));
      const share = Math.ceil(40 / threads);
      for (const n of Object.values(counts)) expect(n).toBeLessThanOrEqual(share + 2);
    },
  );

  it.each([2, 4])('TCP, unix and TLS listeners are each served by every one of %i threads', async (threads) => {
    const path = join(dir, `t${threads}.sock`);
    const server = await serve(threads, {
      listen: [{ port: 0 }, { path }, { port: 0, tls: { cert: tlsFixture('server.pem'), key: tlsFixture('server-key.pem') } }],
    });
    expect(server.threads).toBe(threads);
    const targets = [{ port: portOf(server) }, { path }, { tlsPort: portOf(server, 2) }];
    for (const target of targets) {
      const by = await onEveryThread(threads, target);
      expect([...by.keys()].sort()).toEqual(Array.from({ length: threads }, (_, i) => i));
      // Each thread serves its connections fully: a store and a get back on one of them.
      for (const [t, [c]] of by) {
        expect((await c!.request(`set k${t} 0 0 1\r\n${t}\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
        expect((await c!.request(`get k${t}\r\n`, 'END\r\n')).toString()).toBe(`VALUE k${t} 0 1\r\n${t}\r\nEND\r\n`);
      }
      for (const c of clients.splice(0)) c.close();
      await until(() => server.counters.currConnections === 0);
    }
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('maxConnections counts the whole server, whichever thread accepts', async () => {
    const server = await serve(2, { limits: { maxConnections: 6 } });
    const port = portOf(server);
    // A thread stops accepting at its 4th of 4 (over ceil(4 / 2) + 1): six span both threads.
    const by = new Set<number>();
    for (let i = 0; i < 6; i++) by.add(await threadOf(await connect({ port })));
    expect(by.size).toBe(2);
    const refused = await connect({ port });
    expect(await refused.waitClosed()).toBe(true);
    expect(refused.received.toString()).toBe('ERROR Too many open connections\r\n');
    expect(server.counters.rejectedConnections).toBe(1);
    expect(server.counters.currConnections).toBe(6);
  });

  it('authentication works on every thread', async () => {
    const server = await serve(2, { auth: { users: new Map([['alice', 'secret']]) } });
    const port = portOf(server);
    const seen = new Set<number>();
    for (let i = 0; i < 12 && seen.size < 2; i++) {
      const c = await connect({ port });
      expect((await c.request('get thread\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR unauthenticated\r\n');
      expect((await c.request('set auth 0 0 12\r\nalice secret\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      seen.add(await threadOf(c));
    }
    expect(seen.size).toBe(2);
    expect(server.counters.authCmds).toBeGreaterThanOrEqual(2);
  });

  it('close() finishes a request in flight on a worker thread, then stops every thread', async () => {
    const before = taskCount();
    const server = await listenAndServe({ listen: { port: 0 }, threads: 2, worker: { module: FACTORY, data: { slowMs: 300 } } });
    expect(taskCount()).toBeGreaterThan(before);
    const port = portOf(server);
    const by = await onEveryThread(2, { port });
    const c = by.get(1)![0]!;
    const read = server.counters.bytesRead;
    c.write('get slow\r\n');
    // The worker has read the request (and so runs it: it takes 300 ms) before close() begins.
    expect(await until(() => server.counters.bytesRead === read + 10)).toBe(true);
    await server.close(5000);
    expect(c.received.toString()).toBe('VALUE slow 0 4\r\nslow\r\nEND\r\n');
    expect(await c.waitClosed()).toBe(true);
    expect(await until(() => taskCount() <= before)).toBe(true);
    expect(await until(() => !process.getActiveResourcesInfo().includes('ProcessWrap'))).toBe(true);
    await expect(RawClient.connect({ port })).rejects.toThrow();
  });

  it('stats sums every thread: cmd_get, curr_connections, threads; stats conns lists every connection', async () => {
    const server = await serve(4);
    const port = portOf(server);
    const by = await onEveryThread(4, { port });
    const conns = [...by.values()].flat();
    let gets = conns.length; // the `get thread` of each
    for (const [i, c] of conns.entries()) {
      for (let k = 0; k <= i; k++) await c.request(`get miss${k}\r\n`, 'END\r\n');
      gets += i + 1;
    }
    const asker = conns[conns.length - 1]!;
    const general = await asker.request('stats\r\n', 'END\r\n');
    expect(Number(stat(general, 'cmd_get'))).toBe(gets);
    expect(Number(stat(general, 'get_hits'))).toBe(conns.length);
    expect(Number(stat(general, 'curr_connections'))).toBe(conns.length);
    expect(stat(general, 'threads')).toBe('4');
    expect(stat(general, 'pid')).toBe(String(process.pid));
    expect(server.counters.cmdGet).toBe(gets);
    expect(server.metrics.requests[0]).toBe(gets);
    expect((await server.stats('')).cmd_get).toBe(gets);
    expect(stat(await asker.request('stats settings\r\n', 'END\r\n'), 'num_threads')).toBe('4');

    const listed = (await asker.request('stats conns\r\n', 'END\r\n')).toString('latin1');
    const ids = [...listed.matchAll(/^STAT (\d+):addr /gm)].map((m) => Number(m[1]));
    expect(new Set(ids).size).toBe(ids.length);
    // The listener, then every connection, the asking one in conn_parse_cmd.
    expect(ids.length).toBe(1 + conns.length);
    expect([...listed.matchAll(/:state conn_parse_cmd\r/g)].length).toBe(1);

    // stats reset applies to every thread.
    expect((await conns[0]!.request('stats reset\r\n', '\r\n')).toString()).toBe('RESET\r\n');
    expect(Number(stat(await asker.request('stats\r\n', 'END\r\n'), 'cmd_get'))).toBe(0);
    expect(server.counters.cmdGet).toBe(0);
  });

  it('the shutdown command on a worker thread closes the whole server', async () => {
    const server = await serve(2, { shutdown: true });
    const port = portOf(server);
    const by = await onEveryThread(2, { port });
    const main = by.get(0)![0]!;
    by.get(1)![0]!.write('shutdown\r\n');
    expect(await main.waitClosed()).toBe(true);
    expect(await until(() => server.counters.currConnections === 0)).toBe(true);
    expect(await refused(port)).toBe(true);
  });

  it('a factory that throws in a worker thread rejects listenAndServe and leaves no thread, process or listener', async () => {
    const before = taskCount();
    const path = join(dir, 'failed.sock');
    await expect(
      listenAndServe({ listen: [{ path }, { port: 0 }], threads: 3, worker: { module: FACTORY, data: { failIn: 2 } } }),
    ).rejects.toThrow('factory failed in thread 2');
    expect(existsSync(path)).toBe(false);
    expect(await until(() => taskCount() <= before)).toBe(true);
    expect(await until(() => !process.getActiveResourcesInfo().includes('ProcessWrap'))).toBe(true);
  });

  it('a factory that throws in the main thread rejects, as does a module without the factory', async () => {
    await expect(listenAndServe({ listen: { port: 0 }, threads: 2, worker: { module: FACTORY, data: { failIn: 0 } } })).rejects.toThrow(
      'factory failed in thread 0',
    );
    await expect(listenAndServe({ listen: { port: 0 }, threads: 2, worker: { module: FACTORY, export: 'notAFactory' } })).rejects.toThrow(
      TypeError,
    );
  });

  it('threads over 1 need worker, and handler and worker together are refused', async () => {
    const handler = { close() {} } as unknown as NonNullable<ServerOptions['handler']>;
    await expect(listenAndServe({ listen: { port: 0 }, threads: 2, handler })).rejects.toThrow(TypeError);
    await expect(listenAndServe({ listen: { port: 0 }, handler, worker: { module: FACTORY } })).rejects.toThrow(TypeError);
  });

  it('threads: 1 with worker builds the handler in the main thread', async () => {
    const before = taskCount();
    const server = await serve(1);
    expect(taskCount()).toBe(before);
    expect(await threadOf(await connect({ port: portOf(server) }))).toBe(0);
    expect(server.threads).toBe(1);
  });
});
