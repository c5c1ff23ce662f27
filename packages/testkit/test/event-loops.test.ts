/**
 * servingLoops against memcached, which hands new connections to its worker
 * threads in turn, each with its own event loop: -t 4 spreads 8 connections
 * two to a thread, -t 1 keeps them all on one.
 */
import { describe, expect, it } from 'vitest';
import { RawClient, loopShares, servingLoops, startMemcached } from '../src/index.js';

describe('servingLoops', () => {
  for (const [threads, shares] of [
    [4, [2, 2, 2, 2]],
    [1, [8]],
  ] as const) {
    it(`finds memcached -t ${threads}'s connections on ${shares.length} thread(s)`, async () => {
      const mc = await startMemcached({ threads });
      const clients: RawClient[] = [];
      try {
        for (let i = 0; i < 8; i++) {
          const c = await RawClient.connect({ port: mc.port });
          await c.request('version\r\n', '\r\n');
          clients.push(c);
        }
        const loops = await servingLoops(
          mc.pid,
          mc.port,
          clients.map((c) => c.localPort!),
        );
        expect(loopShares(loops)).toEqual(shares);
      } finally {
        for (const c of clients) c.close();
        await mc.stop();
      }
    });
  }
});
