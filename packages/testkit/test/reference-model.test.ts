/**
 * The reference model against real memcached 1.6.18: random command
 * sequences go to both, over the text and meta protocols, and every reply
 * must agree in what the wire shows (outcome, value, flags, CAS uniques as a
 * one-to-one correspondence, meta W/X/Z). memcached runs on the real clock,
 * so the sequences use only TTLs a ticking second cannot reach; the model's
 * expiry and flush timing are covered against the in-memory handler, whose
 * own differential tests pin those to memcached.
 *
 * CLEAVE_MODEL_RUNS=<n> sets the number of sequences.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RawClient, runModelOverWire, startMemcached, wireModelCommandArb, type MemcachedProcess } from '../src/index.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);

let mc: MemcachedProcess;
let client: RawClient;

beforeAll(async () => {
  // Without the LRU maintainer and crawler threads: they take references on items as they pass,
  // and memcached rewrites a counter in place only when nothing else holds the item.
  mc = await startMemcached({ args: ['-o', 'no_lru_crawler,no_lru_maintainer'] });
  client = await RawClient.connect({ port: mc.port });
});

afterAll(async () => {
  client?.close();
  await mc?.stop();
});

describe('the reference model against memcached 1.6.18', () => {
  it('answers every command of random text and meta sequences as memcached does', async () => {
    let commands = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(wireModelCommandArb, { maxLength: 60, size: 'max' }), async (ops) => {
        commands += await runModelOverWire(client, ops);
      }),
      { numRuns: RUNS > 0 ? RUNS : 60 },
    );
    if (RUNS > 0) console.log(`reference-model.test: ${commands} commands against memcached`);
  });

  it('answers as memcached -t 4 does with each command on the next of 8 connections (as memproxy --threads runs it)', async () => {
    const spread = await startMemcached({ threads: 4, args: ['-o', 'no_lru_crawler,no_lru_maintainer'] });
    const clients = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect({ port: spread.port })));
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(wireModelCommandArb, { maxLength: 60, size: 'max' }), async (ops) => {
          await runModelOverWire(clients, ops);
        }),
        { numRuns: RUNS > 0 ? RUNS : 40 },
      );
    } finally {
      for (const c of clients) c.close();
      await spread.stop();
    }
  });
});
