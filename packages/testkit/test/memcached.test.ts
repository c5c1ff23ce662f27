import { describe, expect, it } from 'vitest';
import { RawClient, startMemcached } from '../src/index.js';

describe('startMemcached', () => {
  it('starts a real memcached on a free TCP port and stops it by PID', async () => {
    const mc = await startMemcached();
    try {
      expect(mc.port).toBeGreaterThan(0);
      const c = await RawClient.connect(mc);
      const reply = await c.request('version\r\n', '\r\n');
      expect(reply.toString()).toMatch(/^VERSION 1\.6\.\d+\r\n$/);
      c.close();
    } finally {
      await mc.stop();
    }
    expect(() => process.kill(mc.pid, 0)).toThrow();
  });

  it('starts on a unix socket', async () => {
    const mc = await startMemcached({ unixSocket: true });
    try {
      const c = await RawClient.connect({ path: mc.socketPath! });
      expect((await c.request('set a 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      c.close();
    } finally {
      await mc.stop();
    }
  });
});
