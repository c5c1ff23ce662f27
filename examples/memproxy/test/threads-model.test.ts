/**
 * The model-based test against memproxy with serving threads (in-memory: one
 * cache shared by every thread): random text and meta command sequences go
 * through the reference model and through memproxy, each command on the next
 * of twice as many connections as memproxy has threads, so consecutive
 * commands are served by different threads; every reply, and every key's
 * final value and flags, must be the model's (CAS uniques as a one-to-one
 * correspondence). The same check runs against memcached in
 * packages/testkit/test/reference-model.test.ts.
 *
 * CLEAVE_MODEL_RUNS=<n> sets the number of sequences.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, runModelOverWire, wireModelCommandArb } from '@cleave/testkit';
import type { Running } from './spawn.js';
import { THREADS, startThreaded, threadShares } from './threads-shared.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);

for (const threads of THREADS) {
  describe(`the reference model against memproxy --threads ${threads}`, () => {
    let mp: Running;
    let clients: RawClient[] = [];
    beforeAll(async () => {
      mp = await startThreaded(threads);
      clients = await Promise.all(Array.from({ length: 2 * threads }, () => RawClient.connect({ port: mp.port })));
      await Promise.all(clients.map((c) => c.request('version\r\n', '\r\n')));
    });
    afterAll(async () => {
      for (const c of clients) c.close();
      await mp?.stop();
    });

    it('sends the commands over connections on different threads', async () => {
      const shares = await threadShares(
        mp,
        clients.map((c) => c.localPort!),
      );
      expect(shares.length).toBeGreaterThanOrEqual(Math.min(threads, 2));
    });

    it('answers every command of random text and meta sequences as the model does', async () => {
      let commands = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(wireModelCommandArb, { maxLength: 60, size: 'max' }), async (ops) => {
          commands += await runModelOverWire(clients, ops);
        }),
        { numRuns: RUNS > 0 ? RUNS : 40 },
      );
      if (RUNS > 0) console.log(`threads-model.test (--threads ${threads}): ${commands} commands`);
    });
  });
}
