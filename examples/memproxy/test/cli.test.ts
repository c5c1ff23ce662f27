import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RawClient } from '@cleave/testkit';
import { runMemproxy, startMemproxy } from './spawn.js';
import { loadConfig, parseDuration, parseSize } from '../src/config.js';

describe('memproxy configuration', () => {
  it('parses sizes and durations like memcached users write them', () => {
    expect(parseSize('64m')).toBe(64 * 1024 * 1024);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('1048576')).toBe(1048576);
    expect(() => parseSize('lots')).toThrow(/not a size/);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10')).toBe(10_000);
  });

  it('has memcached defaults', () => {
    expect(loadConfig([])).toMatchObject({
      port: 11211,
      host: '127.0.0.1',
      l1InmemSize: 64 * 1024 * 1024,
      maxConns: 1024,
      maxItemSize: 1024 * 1024,
      idleTimeout: 0,
    });
  });

  it('lets flags override a --config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'memproxy-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ port: 1234, l1InmemSize: '128m', maxConns: 10 }));
      expect(loadConfig(['--config', file, '--max-conns', '20'])).toMatchObject({
        port: 1234,
        l1InmemSize: 128 * 1024 * 1024,
        maxConns: 20,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('memproxy CLI', () => {
  it('--help lists every option and exits 0', async () => {
    const r = await runMemproxy(['--help']);
    expect(r.code).toBe(0);
    for (const flag of [
      '--port',
      '--host',
      '--use-domain-socket',
      '--sock-path',
      '--l1-inmem',
      '--l1-inmem-size',
      '--max-conns',
      '--max-item-size',
      '--idle-timeout',
      '--config',
    ]) {
      expect(r.stdout).toContain(flag);
    }
  });

  it.each([
    [['--port', '70000'], /--port must be a whole number from 0 to 65535, got 70000/],
    [['--l1-inmem-size', 'huge'], /--l1-inmem-size must be a size of at least 1m/],
    [['--max-item-size', '2m', '--l1-inmem-size', '1m'], /--max-item-size \(2m\) must not exceed/],
    [['--idle-timeout', 'soon'], /--idle-timeout must be a duration/],
    [['--bogus'], /unknown option --bogus/],
    [['--config', '/nonexistent/file.json'], /--config \/nonexistent\/file.json: cannot read it/],
  ])('rejects %j with a message and status 2', async (args, message) => {
    const r = await runMemproxy(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('serves on the port it logs and shuts down cleanly on SIGTERM', async () => {
    const mp = await startMemproxy(['-p', '0', '--l1-inmem-size', '16m']);
    expect(mp.stdout()).toMatch(/memproxy listening on 127\.0\.0\.1:\d+ \(loopback only/);
    const c = await RawClient.connect({ port: mp.port });
    expect((await c.request('set a 0 0 2\r\nhi\r\nget a\r\n', 'END\r\n')).toString()).toBe('STORED\r\nVALUE a 0 2\r\nhi\r\nEND\r\n');
    c.close();
    expect(await mp.stop()).toBe(0);
  });

  it('listens on a unix socket', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'memproxy-'));
    const path = join(dir, 'mp.sock');
    const mp = await startMemproxy(['--use-domain-socket', '--sock-path', path]);
    try {
      expect(mp.stdout()).toContain(`unix:${path}`);
      const c = await RawClient.connect({ path });
      expect((await c.request('version\r\n', '\r\n')).toString()).toMatch(/^VERSION \d+\.\d+\.\d+/);
      c.close();
    } finally {
      await mp.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
