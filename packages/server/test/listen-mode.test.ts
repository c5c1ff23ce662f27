// Two listener facts a nutcracker drop-in needs from the server: a unix socket's
// file mode set at bind (`listen: /tmp/mc.sock 0666`), and why each client
// connection ended (nutcracker's client_eof / client_err).
import net from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { RawClient } from '@cleave/testkit';
import { listenAndServe, type Server, type ServerOptions } from '../src/index.js';

const started: Server[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close(500)));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function serve(opts: Partial<ServerOptions> = {}): Promise<Server> {
  const server = await listenAndServe({
    listen: { port: 0 },
    handler: new InMemoryHandler({ maxBytes: 1 << 24 }),
    ...opts,
  });
  started.push(server);
  return server;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cleave-listen-'));
  dirs.push(d);
  return d;
}

function portOf(server: Server): number {
  const a = server.addresses[0]!;
  if (!('port' in a)) throw new Error('not a TCP listener');
  return a.port;
}

describe('unix socket mode', () => {
  it('sets the socket file to the mode asked, whatever the umask gives', async () => {
    const dir = tempDir();
    const open = join(dir, 'open.sock');
    const owner = join(dir, 'owner.sock');
    const server = await serve({
      listen: [
        { path: open, mode: 0o666 },
        { path: owner, mode: 0o600 },
      ],
    });
    expect(statSync(open).mode & 0o777).toBe(0o666);
    expect(statSync(owner).mode & 0o777).toBe(0o600);
    expect(server.addresses).toEqual([{ path: open }, { path: owner }]);
    // The socket still serves after the chmod.
    const c = await RawClient.connect({ path: open });
    expect((await c.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION /);
    c.close();
  });

  it('replaces a socket file left by an earlier run, but not one a running server listens on', async () => {
    const dir = tempDir();
    const path = join(dir, 'shared.sock');
    // A stale file: a listener that went away without removing it.
    const stale = net.createServer();
    await new Promise<void>((r) => stale.listen(path, r));
    (stale as unknown as { _handle: { close(): void } })._handle.close();
    const first = await serve({ listen: { path } });
    const c = await RawClient.connect({ path });
    expect((await c.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION /);
    await expect(serve({ listen: { path } })).rejects.toThrow(`listen EADDRINUSE: a server already listens on ${path}`);
    // The first server still has its socket.
    expect((await c.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION /);
    c.close();
    expect(first.addresses).toEqual([{ path }]);
  });

  it('fails to start when the mode cannot be applied', async () => {
    const dir = tempDir();
    await expect(serve({ listen: { path: join(dir, 'bad.sock'), mode: -1 } })).rejects.toThrow();
  });
});

describe('client_eof and client_err', () => {
  /** Wait until the server has seen every connection close. */
  async function closedCounts(server: Server, total: number): Promise<{ eof: number; err: number }> {
    await vi.waitFor(
      () => {
        expect(server.counters.clientEof + server.counters.clientErr).toBe(total);
        expect(server.counters.currConnections).toBe(0);
      },
      { timeout: 5000, interval: 10 },
    );
    return { eof: server.counters.clientEof, err: server.counters.clientErr };
  }

  it('counts a client that closes its side as eof', async () => {
    const server = await serve();
    const c = await RawClient.connect({ port: portOf(server) });
    await c.request('set a 0 0 1\r\nx\r\n', 'STORED\r\n');
    c.close();
    expect(await closedCounts(server, 1)).toEqual({ eof: 1, err: 0 });
  });

  it('counts a half-close whose replies are still owed as eof', async () => {
    const server = await serve();
    const s = net.connect(portOf(server), '127.0.0.1');
    let reply = '';
    s.on('data', (d) => (reply += d.toString()));
    await new Promise((r) => s.once('connect', r));
    s.end('get nothing\r\n');
    await new Promise((r) => s.once('close', r));
    expect(reply).toBe('END\r\n');
    expect(await closedCounts(server, 1)).toEqual({ eof: 1, err: 0 });
  });

  it('counts quit as eof', async () => {
    const server = await serve();
    const c = await RawClient.connect({ port: portOf(server) });
    c.write('quit\r\n');
    expect(await c.waitClosed()).toBe(true);
    expect(await closedCounts(server, 1)).toEqual({ eof: 1, err: 0 });
  });

  it('counts a reset as err', async () => {
    const server = await serve();
    const s = net.connect(portOf(server), '127.0.0.1');
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    await vi.waitFor(() => expect(server.counters.currConnections).toBe(1));
    s.resetAndDestroy();
    expect(await closedCounts(server, 1)).toEqual({ eof: 0, err: 1 });
  });

  it('counts a protocol error that closes the connection as err, even if the client then closes', async () => {
    const server = await serve();
    const c = await RawClient.connect({ port: portOf(server) });
    c.write(`${'x'.repeat(4096)}\r\n`);
    // memcached drops a client whose line overruns its buffer.
    expect(await c.waitClosed()).toBe(true);
    c.close();
    expect(await closedCounts(server, 1)).toEqual({ eof: 0, err: 1 });
  });

  it('counts an idle kick as err', async () => {
    const server = await serve({ limits: { idleTimeoutMs: 50 } });
    const c = await RawClient.connect({ port: portOf(server) });
    expect(await c.waitClosed()).toBe(true);
    expect(server.counters.idleKicks).toBe(1);
    expect(await closedCounts(server, 1)).toEqual({ eof: 0, err: 1 });
  });

  it('counts each connection once, over many of each kind', async () => {
    const server = await serve();
    const port = portOf(server);
    const clients = await Promise.all(Array.from({ length: 30 }, () => RawClient.connect({ port })));
    clients.forEach((c, i) => {
      if (i % 3 === 0) c.write('quit\r\n');
      else if (i % 3 === 1) c.close();
      else c.write(`${'y'.repeat(4096)}\r\n`);
    });
    expect(await closedCounts(server, 30)).toEqual({ eof: 20, err: 10 });
    expect(server.counters.totalConnections).toBe(30);
    for (const c of clients) c.close();
  });
});
