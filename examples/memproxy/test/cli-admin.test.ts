/**
 * memproxy's memcached-style flags for the unix socket and the shutdown
 * command: `-a`/`--unix-mask` (octal, default 0700 as memcached) and
 * `-A`/`--enable-shutdown`. Spawns the built CLI: build first.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient } from '@cleave/testkit';
import { ConfigError, loadConfig } from '../src/config.js';
import { runMemproxy, startMemproxy } from './spawn.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'memproxy-admin-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const problem = (args: string[]): string => {
  try {
    loadConfig(args);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).message;
  }
  throw new Error(`${args.join(' ')} was accepted`);
};

describe('--unix-mask / -a', () => {
  it('reads octal as memcached -a does; 0700 by default', () => {
    expect(loadConfig(['--use-domain-socket'])).toMatchObject({ unixMask: 0o700 });
    expect(loadConfig(['--use-domain-socket', '-a', '770'])).toMatchObject({ unixMask: 0o770 });
    expect(loadConfig(['--use-domain-socket', '--unix-mask', '0666'])).toMatchObject({ unixMask: 0o666 });
    expect(loadConfig(['--use-domain-socket', '-a0755'])).toMatchObject({ unixMask: 0o755 });
    expect(problem(['--use-domain-socket', '-a', '800'])).toBe(
      '--unix-mask must be permission bits in octal, from 0 to 777 (such as 700 or 0770), got 800',
    );
    expect(problem(['--unix-mask', '700'])).toBe('--unix-mask needs --use-domain-socket');
  });

  it('is the socket file mode', async () => {
    for (const [args, mode] of [
      [[], 0o700],
      [['-a', '766'], 0o766],
      [['--unix-mask', '0750'], 0o750],
    ] as const) {
      const path = join(dir, `m${mode}.sock`);
      const mp = await startMemproxy(['--use-domain-socket', '--sock-path', path, ...args]);
      try {
        expect(statSync(path).mode & 0o777).toBe(mode);
      } finally {
        expect(await mp.stop()).toBe(0);
      }
    }
  });

  it('refuses a path that holds something other than a socket, and keeps it', async () => {
    const path = join(dir, 'not-a-socket');
    writeFileSync(path, 'keep me');
    const r = await runMemproxy(['--use-domain-socket', '--sock-path', path]);
    expect(r.stderr).toBe(
      `memproxy: cannot listen on ${path} (--sock-path): it exists and is not a socket; memproxy replaces only a socket left there (EEXIST)\n`,
    );
    expect(r.code).toBe(1);
    expect(statSync(path).isFile()).toBe(true);
  });
});

describe('--enable-shutdown / -A', () => {
  it('without it, shutdown is refused as memcached refuses it', async () => {
    const mp = await startMemproxy(['-p', '0']);
    try {
      const c = await RawClient.connect({ port: mp.port });
      expect((await c.request('shutdown\r\n', '\r\n')).toString()).toBe('ERROR: shutdown not enabled\r\n');
      c.close();
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  for (const [flag, line] of [
    ['-A', 'shutdown'],
    ['--enable-shutdown', 'shutdown graceful'],
  ] as const) {
    it(`${flag}: ${line} closes the connection without a reply and memproxy exits 0`, async () => {
      const mp = await startMemproxy(['-p', '0', flag]);
      const exited = new Promise<number | null>((resolve) => mp.child.once('exit', (code) => resolve(code)));
      const c = await RawClient.connect({ port: mp.port });
      expect((await c.request('set k 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      c.write(`${line}\r\n`);
      expect(await c.waitClosed(5000)).toBe(true);
      // Nothing after STORED: the shutdown itself has no reply.
      expect(c.received.length).toBe(0);
      expect(await exited).toBe(0);
      expect(mp.stdout()).toContain('shutdown command received');
    });
  }
});
