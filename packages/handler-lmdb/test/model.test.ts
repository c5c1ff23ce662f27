/**
 * Model-based tests: random command sequences (with clock moves and
 * restarts) run against the LMDB handler and against the reference model of
 * memcached's semantics (@cleave/testkit); every reply, and the state of
 * every key afterwards, must agree. A restart closes the store and opens the
 * same path again: what it held, with its TTLs, flush state and fetched and
 * token marks, must still agree with the model.
 *
 * CLEAVE_MODEL_RUNS=<n> runs every property n times (for long runs).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MODEL_CAS_START, MODEL_KEYS, ModelRunner, ReferenceModel, modelCommandArb, peekCommand, type ModelCommand } from '@cleave/testkit';
import type { ItemView } from '@cleave/protocol';
import { makeHandler } from './helpers.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);
const runs = (n: number) => (RUNS > 0 ? RUNS : n);
/** Small enough that generated values cross it. */
const MAX_ITEM_SIZE = 256;

type Op = ModelCommand | { t: 'restart' };

async function runSequence(ops: readonly Op[], maxItemSize: number, sync: boolean): Promise<void> {
  const s = makeHandler({ maxItemSize, casStart: MODEL_CAS_START, sync });
  const restarts = ops.some((o) => o.t === 'restart');
  // A restart continues above the CAS ceiling saved on disk, so CAS uniques only correspond one to one.
  const runner = new ModelRunner(new ReferenceModel({ clock: s.clock.now, maxItemSize, casStart: MODEL_CAS_START }), {
    cas: restarts ? 'bijection' : 'exact',
  });
  try {
    for (const o of ops) {
      if (o.t === 'advance') s.clock.advance(o.ms / 1000);
      else if (o.t === 'restart') await s.reopen();
      else await runner.run(s.h, o);
    }
    await s.reopen();
    runner.checkState(MODEL_KEYS, (k) => s.h.get(peekCommand(k)) as ItemView | undefined);
    // curr_items counts dead items until something reclaims them; a sweep leaves the live ones.
    s.h.sweep(1_000_000);
    await s.h.flushed();
    expect(s.h.size).toBe(runner.model.keys().length);
  } finally {
    await s.dispose();
  }
}

const withRestarts = (arb: fc.Arbitrary<ModelCommand>): fc.Arbitrary<Op> =>
  fc.oneof({ weight: 12, arbitrary: arb }, { weight: 1, arbitrary: fc.constant({ t: 'restart' as const }) });

describe('model-based', () => {
  it('agrees with the reference model on every reply and on the final state, for random command sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(modelCommandArb({ maxItemSize: MAX_ITEM_SIZE }), { maxLength: 120, size: 'max' }), (ops) =>
        runSequence(ops, MAX_ITEM_SIZE, false),
      ),
      { numRuns: runs(150) },
    );
  });

  it('agrees with the model across restarts in the middle of a sequence', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(withRestarts(modelCommandArb({ maxItemSize: MAX_ITEM_SIZE })), { maxLength: 120, size: 'max' }), (ops) =>
        runSequence(ops, MAX_ITEM_SIZE, false),
      ),
      { numRuns: runs(100) },
    );
  });

  it('agrees with the model when every write waits for its durable commit (sync)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(withRestarts(modelCommandArb({ maxItemSize: MAX_ITEM_SIZE })), { maxLength: 60, size: 'max' }), (ops) =>
        runSequence(ops, MAX_ITEM_SIZE, true),
      ),
      { numRuns: runs(25) },
    );
  });
});
