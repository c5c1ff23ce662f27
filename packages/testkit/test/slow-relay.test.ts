import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, startMemcached, startSlowRelay, type MemcachedProcess } from '../src/index.js';

let mc: MemcachedProcess;
beforeAll(async () => {
  mc = await startMemcached();
});
afterAll(async () => {
  await mc.stop();
});

describe('startSlowRelay', () => {
  it('holds each reply for delayMs and passes the bytes through unchanged', async () => {
    const relay = await startSlowRelay({ target: { port: mc.port }, delayMs: 200 });
    try {
      const c = await RawClient.connect({ port: relay.port });
      const t0 = Date.now();
      const reply = await c.request('set k 5 0 2\r\nhi\r\nget k\r\n', 'END\r\n', 3000);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
      expect(reply.toString()).toBe('STORED\r\nVALUE k 5 2\r\nhi\r\nEND\r\n');
      c.close();
      expect(relay.accepted).toBe(1);
    } finally {
      await relay.close();
    }
  });

  it('keeps chunks in order when the delay is shortened while some wait', async () => {
    const relay = await startSlowRelay({ target: { port: mc.port }, delayMs: 300 });
    try {
      const c = await RawClient.connect({ port: relay.port });
      c.write('mn\r\n');
      await new Promise((r) => setTimeout(r, 50));
      relay.delayMs = 0;
      c.write('version\r\n');
      await c.waitFor((b) => b.toString().includes('VERSION'), 3000);
      expect(c.received.toString()).toMatch(/^MN\r\nVERSION /);
      c.close();
    } finally {
      await relay.close();
    }
  });

  it('closes the client side when the server side goes away', async () => {
    const other = await startMemcached();
    const relay = await startSlowRelay({ target: { port: other.port } });
    try {
      const c = await RawClient.connect({ port: relay.port });
      expect((await c.request('mn\r\n', 'MN\r\n')).toString()).toBe('MN\r\n');
      await other.stop();
      expect(await c.waitFor(() => c.closed, 3000)).toBe(true);
      expect(relay.open).toBe(0);
    } finally {
      await relay.close();
      await other.stop();
    }
  });
});
