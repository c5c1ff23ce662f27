/**
 * The differential suites against memproxy with serving threads, in-memory
 * (one cache shared by every thread) and in front of a memcached: each
 * case's steps go round-robin over as many connections as memproxy has
 * threads, so one case is served by several threads and every step must see
 * what the earlier ones did, exactly as one memcached -t 4 answers the same
 * steps over as many connections. (The cases where memcached closes the
 * connection are the server's own, per connection: packages/server's suite.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  binarySideBySide,
  handlerBinaryCases,
  handlerMetaCases,
  handlerTextCases,
  startMemcached,
  textSideBySide,
  type MemcachedProcess,
} from '@cleave/testkit';
import type { Running } from './spawn.js';
import { THREADS, spreadOf, startThreaded } from './threads-shared.js';

let reference: MemcachedProcess;
beforeAll(async () => {
  reference = await startMemcached({ threads: 4 });
});
afterAll(async () => {
  await reference?.stop();
});

for (const threads of THREADS) {
  for (const mode of ['in-memory', 'in front of memcached'] as const) {
    describe(`memproxy --threads ${threads}, ${mode}, matches memcached`, () => {
      let mp: Running;
      let backend: MemcachedProcess | undefined;
      beforeAll(async () => {
        if (mode === 'in front of memcached') backend = await startMemcached({ threads: 2 });
        mp = await startThreaded(threads, backend ? ['--l1-addr', `127.0.0.1:${backend.port}`] : []);
      });
      afterAll(async () => {
        await mp?.stop();
        await backend?.stop();
      });
      it(`spreads connections over all ${threads} threads`, async () => {
        // As many at once as the cases below open, several times over.
        const shares = await spreadOf(mp, 4 * threads);
        expect(shares).toHaveLength(threads);
      });
      const spread = { connections: threads };
      for (const [what, steps] of Object.entries(handlerTextCases)) {
        it(`text: ${what}`, async () => {
          const [theirs, ours] = await textSideBySide(reference.port, mp.port, steps, spread);
          expect(ours).toEqual(theirs);
        });
      }
      for (const [what, steps] of Object.entries(handlerMetaCases)) {
        it(`meta: ${what}`, async () => {
          const [theirs, ours] = await textSideBySide(reference.port, mp.port, steps, spread);
          expect(ours).toEqual(theirs);
        });
      }
      for (const [what, steps] of Object.entries(handlerBinaryCases)) {
        it(`binary: ${what}`, async () => {
          const [theirs, ours] = await binarySideBySide(reference.port, mp.port, steps, spread);
          expect(ours).toEqual(theirs);
        });
      }
    });
  }
}
