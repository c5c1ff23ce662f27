/**
 * The logger option: a backend's changes of state are reported once each (unreachable at start, connected, gone
 * away, back), never per connection retry or per request, with the backend's address and no request data.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '@cleave/core';
import { freePort } from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';
import { Backend, eventually, k } from './helpers.js';

interface Entry {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  message: string;
}

function recorder(): { logger: Logger; entries: Entry[] } {
  const entries: Entry[] = [];
  const at = (level: Entry['level']) => (fields: Record<string, unknown>, message: string) => {
    entries.push({ level, fields, message });
  };
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, entries };
}

const opened: Array<{ close(): unknown }> = [];
const backends: Backend[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
  for (const b of backends.splice(0)) await b.kill();
});

const reconnects = (h: MemcachedHandler) => Number(h.ownStats().backend_reconnects);
const notDebug = (entries: Entry[]) => entries.filter((e) => e.level !== 'debug').map((e) => `${e.level} ${e.message}`);

describe('MemcachedHandler logger', () => {
  it('reports unreachable, connected, gone away and back once each, whatever the retries', async () => {
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const { logger, entries } = recorder();
    const h = new MemcachedHandler({
      address,
      connections: 2,
      timeoutMs: 300,
      connectTimeoutMs: 300,
      backoff: { minMs: 5, maxMs: 20 },
      logger,
    });
    opened.push(h);

    // Nothing listens: one warning, however many attempts fail.
    expect(await eventually(() => reconnects(h) >= 6)).toBe(true);
    expect(notDebug(entries)).toEqual(['warn backend unreachable']);
    expect(entries[0]!.fields).toMatchObject({ backend: address });
    expect(String(entries[0]!.fields.reason)).toContain('ECONNREFUSED');

    const b = new Backend({ port });
    backends.push(b);
    await b.start();
    expect(await eventually(() => Number(h.ownStats().backend_connections_ready) === 2)).toBe(true);
    expect(await h.store({ mode: 'set', key: k('secret-key'), value: k('secret-value'), flags: 0, exptime: 0 })).toBeTruthy();
    expect(notDebug(entries)).toEqual(['warn backend unreachable', 'info backend connected']);
    expect(entries[1]!.fields).toMatchObject({ backend: address });
    expect(typeof entries[1]!.fields.downMs).toBe('number');

    // Killed: both connections drop, one warning; their retries while it is down add nothing.
    await b.kill();
    const before = reconnects(h);
    expect(await eventually(() => reconnects(h) >= before + 6)).toBe(true);
    expect(notDebug(entries)).toEqual(['warn backend unreachable', 'info backend connected', 'warn backend went away']);

    await b.start();
    expect(await eventually(() => Number(h.ownStats().backend_connections_ready) === 2)).toBe(true);
    expect(notDebug(entries)).toEqual([
      'warn backend unreachable',
      'info backend connected',
      'warn backend went away',
      'info backend is back',
    ]);
    expect(entries.at(-1)!.fields).toMatchObject({ backend: address });
    expect(JSON.stringify(entries)).not.toMatch(/secret/);
  });

  it('a backend reachable from the start: one "connected", nothing else', async () => {
    const b = new Backend({ port: await freePort() });
    backends.push(b);
    await b.start();
    const { logger, entries } = recorder();
    const h = new MemcachedHandler({ address: { host: '127.0.0.1', port: (b.target as { port: number }).port }, connections: 3, logger });
    opened.push(h);
    expect(await eventually(() => Number(h.ownStats().backend_connections_ready) === 3)).toBe(true);
    expect(entries.map((e) => `${e.level} ${e.message}`)).toEqual(['info backend connected']);
    expect(entries[0]!.fields).toEqual({ backend: `127.0.0.1:${(b.target as { port: number }).port}` });
    h.close();
    expect(entries).toHaveLength(1);
  });
});
