/**
 * The LMDB handler as the L2 under an in-memory L1 (Rend's production shape):
 * random command sequences with clock moves and restarts against the
 * reference model. A restart is what a process restart does to the pair:
 * L1 starts empty, L2 reopens its path. Every reply, and the state of every
 * key after the last restart, must agree with one memcached that never
 * restarted.
 *
 * CLEAVE_MODEL_RUNS=<n> runs every property n times (for long runs).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { ItemView } from '@cleave/protocol';
import { MODEL_CAS_START, MODEL_KEYS, ModelRunner, ReferenceModel, modelCommandArb, peekCommand, type ModelCommand } from '@cleave/testkit';
import { L1L2 } from '@cleave/tiers';
import { makeHandler } from './helpers.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);
const runs = (n: number) => (RUNS > 0 ? RUNS : n);
const MAX_ITEM_SIZE = 256;

type Op = ModelCommand | { t: 'restart' };

async function runSequence(ops: readonly Op[]): Promise<void> {
  const s = makeHandler({ maxItemSize: MAX_ITEM_SIZE, casStart: MODEL_CAS_START });
  const clock = s.clock;
  const tiers = () =>
    new L1L2(new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0, maxItemSize: MAX_ITEM_SIZE }), s.h, { clock: clock.now });
  let t = tiers();
  const restarts = ops.some((o) => o.t === 'restart');
  const runner = new ModelRunner(new ReferenceModel({ clock: clock.now, maxItemSize: MAX_ITEM_SIZE, casStart: MODEL_CAS_START }), {
    cas: restarts ? 'bijection' : 'exact',
    // L1 answers a read's access facts from its own copy.
    access: false,
  });
  try {
    for (const o of ops) {
      if (o.t === 'advance') clock.advance(o.ms / 1000);
      else if (o.t === 'restart') {
        await s.reopen();
        t = tiers();
      } else await runner.run(t, o);
    }
    runner.checkState(MODEL_KEYS, (k) => s.h.get(peekCommand(k)) as ItemView | undefined);
  } finally {
    await s.dispose();
  }
}

describe('L1 in memory over an LMDB L2, model-based', () => {
  it('agrees with the reference model across restarts (L1 empty again, L2 reopened)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 12, arbitrary: modelCommandArb({ maxItemSize: MAX_ITEM_SIZE }) as fc.Arbitrary<Op> },
            { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) },
          ),
          { maxLength: 100, size: 'max' },
        ),
        runSequence,
      ),
      {
        numRuns: runs(100),
        // A flush_all L2 kept across the restart still applies to what the new L1 copies: one that came this
        // second, and a delayed one that comes after the restart.
        examples: [
          [
            [
              { t: 'flush', delay: 1 },
              { t: 'restart' },
              { t: 'arithmetic', key: 'dd', incr: false, delta: 1n, initial: 0n },
              { t: 'getMany', keys: ['dd'] },
            ],
          ],
          [
            [
              { t: 'flush', delay: 30 },
              { t: 'advance', ms: 5000 },
              { t: 'restart' },
              { t: 'store', mode: 'set', key: 'a', value: 'x', flags: 0, exptime: 0 },
              { t: 'get', key: 'a', protocol: 'text' },
              { t: 'advance', ms: 30000 },
              { t: 'get', key: 'a', protocol: 'text' },
            ],
          ],
        ],
      },
    );
  });
});
