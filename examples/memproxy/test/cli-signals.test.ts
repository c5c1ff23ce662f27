/**
 * memproxy and signals: SIGHUP keeps it serving and reopens its --log-file (a log rotation renamed the old
 * one); a second SIGTERM or SIGINT while the first drains the connections exits at once.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { RawClient } from '@cleave/testkit';
import { logLines, logMessages, MEMPROXY, startMemproxy } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-signals-'));
const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
  rmSync(dir, { recursive: true, force: true });
});

const WAIT = { timeout: 10_000, interval: 20 };
const read = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8') : '');

async function served(port: number): Promise<void> {
  const c = await RawClient.connect({ port });
  expect((await c.request('set k 0 0 2\r\nok\r\nget k\r\n', 'END\r\n')).toString()).toBe('STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n');
  c.close();
}

describe('SIGHUP', () => {
  it('with --log-file: memproxy writes its lines there, reopens it on SIGHUP (after a rotation) and keeps serving', async () => {
    const log = join(dir, 'memproxy.log');
    const child = spawn(process.execPath, [MEMPROXY, '-p', '0', '--log-file', log], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanup.push(() => child.kill('SIGKILL'));

    const listening = await vi.waitFor(() => {
      const m = /^memproxy listening on 127\.0\.0\.1:(\d+) /.exec(logMessages(read(log))[0] ?? '');
      if (!m) throw new Error(`no listening line in the log yet: ${read(log)} ${out}`);
      return Number(m[1]);
    }, WAIT);
    await served(listening);

    renameSync(log, `${log}.1`);
    child.kill('SIGHUP');
    await vi.waitFor(() => expect(logMessages(read(log))).toEqual([`SIGHUP received: reopened log file ${log}; still serving`]), WAIT);
    expect(logLines(read(log))[0]).toMatchObject({ level: 'info', name: 'memproxy', pid: child.pid });
    await served(listening);
    expect(logMessages(read(`${log}.1`))).toEqual([expect.stringMatching(/^memproxy listening on /)]);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(logMessages(read(log)).slice(1)).toEqual(['SIGTERM, finishing requests in flight (SIGTERM again to exit at once)', 'stopped']);
    // Nothing on stdout or stderr: every line went to the file.
    expect(out).toBe('');
  });

  it('without --log-file: memproxy says so and keeps serving', async () => {
    const mp = await startMemproxy(['-p', '0']);
    cleanup.push(() => mp.stop());
    mp.child.kill('SIGHUP');
    await vi.waitFor(() => expect(logMessages(mp.stdout())).toContain('SIGHUP received: no --log-file to reopen; still serving'), WAIT);
    await served(mp.port);
    expect(await mp.stop()).toBe(0);
  });
});

describe('a second SIGTERM or SIGINT while draining', () => {
  for (const [signal, status] of [
    ['SIGTERM', 143],
    ['SIGINT', 130],
  ] as const) {
    it(`${signal} twice: the first waits for a request held at the backend, the second exits at once with ${status}`, async () => {
      // A backend that answers the handler's pings (mn) until the first request, then nothing: the drain waits for that reply.
      const received: Buffer[] = [];
      const backend = net.createServer((s) =>
        s.on('data', (d: Buffer) => {
          received.push(d);
          const text = Buffer.concat(received).toString('latin1');
          if (/^(mn\r\n)+$/.test(text)) s.write('MN\r\n'.repeat(d.toString('latin1').split('mn\r\n').length - 1));
        }),
      );
      await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise((resolve) => backend.close(resolve)));
      const backendPort = (backend.address() as net.AddressInfo).port;
      const mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${backendPort}`, '--backend-timeout', '60s']);
      cleanup.push(() => mp.stop());
      const exited = new Promise<number | null>((resolve) => mp.child.once('exit', (code) => resolve(code)));

      const client = net.connect(mp.port, '127.0.0.1');
      const replies: Buffer[] = [];
      client.on('data', (d: Buffer) => replies.push(d));
      client.on('error', () => {});
      client.write('get held\r\n');
      await vi.waitFor(() => expect(Buffer.concat(received).toString('latin1')).toContain('held'), WAIT);

      mp.child.kill(signal);
      await vi.waitFor(
        () => expect(logMessages(mp.stdout())).toContain(`${signal}, finishing requests in flight (${signal} again to exit at once)`),
        WAIT,
      );
      expect(mp.child.exitCode).toBeNull();
      mp.child.kill(signal);
      expect(await exited).toBe(status);
      expect(logLines(mp.stdout()).at(-1)).toMatchObject({
        level: 'warn',
        msg: `${signal} while finishing the requests in flight: exiting now without them`,
      });
      expect(Buffer.concat(replies).length).toBe(0);
      client.destroy();
    });
  }
});
