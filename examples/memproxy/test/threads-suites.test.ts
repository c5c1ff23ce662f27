/**
 * The differential suites and the model-based test against memproxy with
 * serving threads: in-memory (one cache shared by every thread) at 2 and 4
 * threads, and in front of a memcached at 4. Connections land on every
 * thread (checked from outside with testkit's servingLoops), and each test
 * spreads one sequence over several of them:
 * - each differential case's steps go round-robin over as many connections
 *   as memproxy has threads, so every step must see what the earlier ones
 *   did, exactly as memcached -t 4 answers the same steps over as many
 *   connections (the cases where memcached closes the connection are the
 *   server's own, per connection: packages/server's suite);
 * - random text and meta sequences go through the reference model and
 *   through memproxy, each command on the next of the connections, and every
 *   reply and every key's final value and flags must be the model's (the same
 *   check runs against memcached -t 4 in packages/testkit's
 *   reference-model.test.ts).
 *
 * CLEAVE_MODEL_RUNS=<n> sets the number of model sequences.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RawClient,
  binarySideBySide,
  handlerBinaryCases,
  handlerMetaCases,
  handlerTextCases,
  runModelOverWire,
  startMemcached,
  textSideBySide,
  wireModelCommandArb,
  type MemcachedProcess,
} from '@cleave/testkit';
import type { Running } from './spawn.js';
import { THREADS, everyThread, startThreaded, threadShares } from './threads-shared.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);

let reference: MemcachedProcess;
beforeAll(async () => {
  reference = await startMemcached({ threads: 4 });
});
afterAll(async () => {
  await reference?.stop();
});

const setups = [
  ...THREADS.map((threads) => ({ threads, mode: 'in-memory' as const })),
  { threads: THREADS[THREADS.length - 1]!, mode: 'in front of memcached' as const },
];

for (const { threads, mode } of setups) {
  describe(`memproxy --threads ${threads}, ${mode}`, () => {
    let mp: Running;
    let backend: MemcachedProcess | undefined;
    let clients: RawClient[] = [];
    beforeAll(async () => {
      if (mode === 'in front of memcached') backend = await startMemcached({ threads: 2 });
      mp = await startThreaded(threads, backend ? ['--l1-addr', `127.0.0.1:${backend.port}`] : []);
      clients = await Promise.all(Array.from({ length: everyThread(threads) }, () => RawClient.connect({ port: mp.port })));
      await Promise.all(clients.map((c) => c.request('version\r\n', '\r\n')));
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await mp?.stop();
      await backend?.stop();
    });

    it(`serves connections on all ${threads} threads`, async () => {
      const shares = await threadShares(
        mp,
        clients.map((c) => c.localPort!),
      );
      expect(shares).toHaveLength(threads);
    });

    const spread = { connections: threads };
    for (const [what, steps] of Object.entries(handlerTextCases)) {
      it(`matches memcached, text: ${what}`, async () => {
        const [theirs, ours] = await textSideBySide(reference.port, mp.port, steps, spread);
        expect(ours).toEqual(theirs);
      });
    }
    for (const [what, steps] of Object.entries(handlerMetaCases)) {
      it(`matches memcached, meta: ${what}`, async () => {
        const [theirs, ours] = await textSideBySide(reference.port, mp.port, steps, spread);
        expect(ours).toEqual(theirs);
      });
    }
    for (const [what, steps] of Object.entries(handlerBinaryCases)) {
      it(`matches memcached, binary: ${what}`, async () => {
        const [theirs, ours] = await binarySideBySide(reference.port, mp.port, steps, spread);
        expect(ours).toEqual(theirs);
      });
    }

    if (mode === 'in-memory') {
      it('answers random text and meta sequences as the reference model does, each command on the next connection', async () => {
        let commands = 0;
        await fc.assert(
          fc.asyncProperty(fc.array(wireModelCommandArb, { maxLength: 60, size: 'max' }), async (ops) => {
            commands += await runModelOverWire(clients, ops);
          }),
          { numRuns: RUNS > 0 ? RUNS : 40 },
        );
        if (RUNS > 0) console.log(`threads-suites.test (--threads ${threads}): ${commands} model commands`);
      });
    }
  });
}
