/**
 * memproxy's log: JSON lines (pino) with levels; a backend that is not there at start, comes, goes and comes back
 * is reported once per change; a pool server ejected and back likewise; -v/-vv and --log-level; no secret in any
 * line, even at trace; readable lines for a terminal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FixedMemcached, RawClient, freePort } from '@cleave/testkit';
import { readableLine } from '../src/log.js';
import { logLines, logMessages, MEMPROXY, runMemproxy, startMemproxy, type LogLine } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-logs-'));
const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

const WAIT = { timeout: 15_000, interval: 20 };
const notDebug = (lines: LogLine[]) => lines.filter((l) => l.level !== 'debug' && l.level !== 'trace');

/** Start memproxy without waiting for a line (at --log-level warn there is no listening line). */
function spawnMemproxy(args: string[]): { child: ChildProcess; stdout: () => string; stop: () => Promise<number | null> } {
  const child = spawn(process.execPath, [MEMPROXY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    return exited;
  };
  cleanup.push(() => (child.exitCode === null ? child.kill('SIGKILL') : undefined));
  return { child, stdout: () => out, stop };
}

describe('a backend memcached changing state', () => {
  it('not there at start, then there, killed, back: one line each, with its address', async () => {
    const port = await freePort();
    const backend = new FixedMemcached({ port });
    cleanup.push(() => backend.kill());
    const mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${port}`, '--backend-timeout', '500ms']);
    cleanup.push(() => mp.stop());
    const address = `127.0.0.1:${port}`;
    const events = () => notDebug(logLines(mp.stdout())).slice(1);

    await vi.waitFor(() => expect(events().map((l) => l.msg)).toEqual(['backend unreachable']), WAIT);
    expect(events()[0]).toMatchObject({ level: 'warn', backend: address });
    // A client's request while it is down fails; nothing more is logged for it.
    const c = await RawClient.connect({ port: mp.port });
    expect((await c.request('get k\r\n', '\r\n')).toString()).toMatch(/^SERVER_ERROR /);

    await backend.start();
    await vi.waitFor(() => expect(events().map((l) => l.msg)).toEqual(['backend unreachable', 'backend connected']), WAIT);
    expect(events()[1]).toMatchObject({ level: 'info', backend: address });
    expect((await c.request('set k 0 0 6\r\nsecret\r\nget k\r\n', 'END\r\n')).toString()).toBe(
      'STORED\r\nVALUE k 0 6\r\nsecret\r\nEND\r\n',
    );

    await backend.kill();
    await vi.waitFor(
      () => expect(events().map((l) => l.msg)).toEqual(['backend unreachable', 'backend connected', 'backend went away']),
      WAIT,
    );
    expect(events()[2]).toMatchObject({ level: 'warn', backend: address });
    // Requests and reconnect attempts while it is gone add nothing.
    for (let i = 0; i < 20; i++) expect((await c.request(`get k${i}\r\n`, '\r\n')).toString()).toMatch(/^(SERVER_ERROR .*|END)\r\n$/);
    await new Promise((r) => setTimeout(r, 300));
    expect(events()).toHaveLength(3);

    await backend.start();
    await vi.waitFor(
      () =>
        expect(events().map((l) => l.msg)).toEqual(['backend unreachable', 'backend connected', 'backend went away', 'backend is back']),
      WAIT,
    );
    expect(events()[3]).toMatchObject({ level: 'info', backend: address });
    expect(mp.stdout()).not.toContain('secret');
    c.close();
    expect(await mp.stop()).toBe(0);
  });

  it('a pool server that fails is ejected once and reported back once', async () => {
    const live = new FixedMemcached({ port: await freePort() });
    cleanup.push(() => live.kill());
    await live.start();
    const deadPort = await freePort();
    const dead = new FixedMemcached({ port: deadPort });
    cleanup.push(() => dead.kill());
    const port = await freePort();
    const yml = join(dir, 'pool.yml');
    writeFileSync(
      yml,
      [
        'alpha:',
        `  listen: 127.0.0.1:${port}`,
        '  auto_eject_hosts: true',
        '  server_failure_limit: 1',
        '  server_retry_timeout: 200',
        '  timeout: 400',
        '  servers:',
        `   - 127.0.0.1:${(live.target as { port: number }).port}:1 live`,
        `   - 127.0.0.1:${deadPort}:1 dead`,
        '',
      ].join('\n'),
    );
    const mp = await startMemproxy(['--config', yml]);
    cleanup.push(() => mp.stop());
    const ejected = () => logLines(mp.stdout()).filter((l) => /^server /.test(l.msg));
    const c = await RawClient.connect({ port });
    for (let i = 0; ejected().length === 0; i++) {
      expect(i).toBeLessThan(2000);
      await c.request(`get eject-${i}\r\n`, '\r\n');
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 20));
    }
    expect(ejected()).toEqual([
      expect.objectContaining({
        level: 'warn',
        pool: 'alpha',
        server: 'dead',
        msg: 'server ejected from the ring (its keys go to the other servers)',
      }),
    ]);
    await dead.start();
    await vi.waitFor(() => expect(ejected().map((l) => l.msg)).toContain('server back in service'), WAIT);
    expect(ejected()).toHaveLength(2);
    expect(ejected()[1]).toMatchObject({ level: 'info', pool: 'alpha', server: 'dead' });
    c.close();
    expect(await mp.stop()).toBe(0);
  });
});

describe('levels', () => {
  it('--log-level warn: no start-up line, the backend warning still', async () => {
    const mp = spawnMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${await freePort()}`, '--log-level', 'warn']);
    await vi.waitFor(() => expect(logMessages(mp.stdout())).toEqual(['backend unreachable']), WAIT);
    expect(await mp.stop()).toBe(0);
    expect(logLines(mp.stdout()).map((l) => l.level)).toEqual(['warn']);
  });

  it('-v logs the configuration at debug; -vv sets trace', async () => {
    const users = join(dir, 'users');
    writeFileSync(users, 'alice:topsecret\n');
    for (const [flag, level] of [
      ['-v', 'debug'],
      ['-vv', 'trace'],
    ] as const) {
      const mp = await startMemproxy(['-p', '0', flag, '--auth-file', users]);
      const config = logLines(mp.stdout()).find((l) => l.msg === 'configuration');
      expect(config).toMatchObject({ level: 'debug', config: { logLevel: level, authFile: users } });
      // A login, a failed one and a stored value: none of it in the log.
      const c = await RawClient.connect({ port: mp.port });
      expect((await c.request('set x 0 0 15\r\nalice topsecreX\r\n', '\r\n')).toString()).toMatch(/^CLIENT_ERROR/);
      c.close();
      const d = await RawClient.connect({ port: mp.port });
      expect((await d.request('set x 0 0 15\r\nalice topsecret\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      expect((await d.request('set v 0 0 9\r\nhunter2!!\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      d.close();
      expect(await mp.stop()).toBe(0);
      expect(mp.stdout() + mp.stderr()).not.toMatch(/topsecre|hunter2/);
    }
  });

  it('refuses a bad level and -v with --log-level', async () => {
    let r = await runMemproxy(['--log-level', 'loud']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("memproxy: --log-level must be one of trace, debug, info, warn, error, fatal, got 'loud'\n");
    r = await runMemproxy(['--log-level', 'info', '-vv']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('memproxy: give --log-level or -v, not both\n');
    r = await runMemproxy(['-vx']);
    expect(r.code).toBe(2);
  });

  it('a failure to start: a fatal line in the log, and the reason on stderr', async () => {
    const holder = await startMemproxy(['-p', '0']);
    cleanup.push(() => holder.stop());
    const r = await runMemproxy(['-p', String(holder.port)]);
    expect(r.code).toBe(1);
    expect(logLines(r.stdout)).toEqual([
      expect.objectContaining({
        level: 'fatal',
        msg: `cannot listen on 127.0.0.1:${holder.port} (--port): another server listens there (EADDRINUSE)`,
      }),
    ]);
    expect(r.stderr).toBe(`memproxy: cannot listen on 127.0.0.1:${holder.port} (--port): another server listens there (EADDRINUSE)\n`);
    expect(await holder.stop()).toBe(0);
  });
});

describe('readable lines (a terminal)', () => {
  it('time, level, message, then the fields', () => {
    const t = new Date(2026, 0, 2, 3, 4, 5, 67);
    const line = readableLine(
      JSON.stringify({
        level: 'warn',
        time: t.toISOString(),
        pid: 1,
        hostname: 'h',
        name: 'memproxy',
        backend: '127.0.0.1:11311',
        reason: 'connect ECONNREFUSED 127.0.0.1:11311',
        n: 3,
        msg: 'backend went away',
      }),
    );
    expect(line).toBe('03:04:05.067 WARN  backend went away backend=127.0.0.1:11311 reason="connect ECONNREFUSED 127.0.0.1:11311" n=3\n');
    expect(readableLine('not json\n')).toBe('not json\n');
  });
});
