/**
 * Model-based tests: random command sequences (with clock moves) run against
 * the handler and against the reference model of memcached's semantics
 * (@cleave/testkit); every reply, and the state of every key afterwards,
 * must agree. A second property squeezes the handler into a tiny memory
 * limit and checks the accounting invariants.
 *
 * CLEAVE_MODEL_RUNS=<n> runs every property n times (for long runs).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { MODEL_CAS_START, MODEL_KEYS, ModelRunner, ReferenceModel, modelCommandArb, peekCommand, type ModelCommand } from '@cleave/testkit';
import type { InMemoryHandler, InMemoryHandlerOptions } from '../src/index.js';
import { FakeClock, STORE_KINDS } from './helpers.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);
const runs = (n: number) => (RUNS > 0 ? RUNS : n);
/** Small enough that generated values cross it. */
const MAX_ITEM_SIZE = 256;

/** Sequences and commands run, reported after long runs. */
const covered = { sequences: 0, commands: 0 };
afterAll(() => {
  if (RUNS > 0) console.log(`model.test: ${covered.sequences} sequences, ${covered.commands} commands`);
});

/** Run one sequence against a fresh handler and model. */
function runSequence(build: Build, ops: readonly ModelCommand[], maxItemSize: number): void {
  const clock = new FakeClock();
  const h = build({ clock: clock.now, sweepIntervalMs: 0, maxBytes: 1 << 30, maxItemSize, casStart: MODEL_CAS_START });
  const runner = new ModelRunner(new ReferenceModel({ clock: clock.now, maxItemSize, casStart: MODEL_CAS_START }));
  try {
    for (const o of ops) {
      if (o.t === 'advance') clock.advance(o.ms / 1000);
      else runner.run(h, o);
    }
    // Final state: every key agrees (side-effect-free reads), and the item count matches.
    runner.checkState(MODEL_KEYS, (k) => h.get(peekCommand(k)));
    expect(h.size).toBe(runner.model.keys().length);
    covered.sequences++;
    covered.commands += runner.commands;
  } finally {
    h.close();
  }
}

type Build = (options: InMemoryHandlerOptions) => InMemoryHandler;

describe.each(STORE_KINDS)('model-based, $kind', ({ build }) => {
  it('agrees with the reference model on every reply and on the final state, for random command sequences', () => {
    fc.assert(
      fc.property(fc.array(modelCommandArb({ maxItemSize: MAX_ITEM_SIZE }), { maxLength: 150, size: 'max' }), (ops) =>
        runSequence(build, ops, MAX_ITEM_SIZE),
      ),
      { numRuns: runs(400) },
    );
  });

  it('agrees with the reference model over long sequences of the plain text-protocol commands', () => {
    fc.assert(
      fc.property(fc.array(modelCommandArb({ meta: false }), { maxLength: 600, size: 'max' }), (ops) =>
        runSequence(build, ops, 1024 * 1024),
      ),
      { numRuns: runs(60) },
    );
  });

  it('under a small memory limit, memory never exceeds maxBytes and bytes always equals the size of the contents', () => {
    const keyArb = fc.integer({ min: 0, max: 40 }).map((i) => `key${i}`);
    const smallOp = fc.oneof(
      fc.record({
        t: fc.constant('set' as const),
        k: keyArb,
        len: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 3000, max: 40_000 })),
        exp: fc.constantFrom(0, 0, 5, 30, -1),
      }),
      fc.record({ t: fc.constant('append' as const), k: keyArb, len: fc.integer({ min: 0, max: 2000 }) }),
      fc.record({ t: fc.constant('get' as const), k: keyArb }),
      fc.record({ t: fc.constant('del' as const), k: keyArb }),
      fc.record({ t: fc.constant('incr' as const), k: keyArb }),
      fc.record({ t: fc.constant('vivify' as const), k: keyArb }),
      fc.record({ t: fc.constant('tick' as const), s: fc.integer({ min: 0, max: 70 }) }),
      fc.record({ t: fc.constant('sweep' as const), n: fc.integer({ min: 1, max: 10 }) }),
    );
    fc.assert(
      fc.property(fc.array(smallOp, { maxLength: 300 }), fc.integer({ min: 64 * 1024, max: 256 * 1024 }), (ops, maxBytes) => {
        const clock = new FakeClock();
        const h = build({ clock: clock.now, sweepIntervalMs: 0, maxBytes, maxItemSize: 64 * 1024 });
        try {
          for (const o of ops) {
            const key = 'k' in o ? Buffer.from(o.k) : Buffer.alloc(0);
            switch (o.t) {
              case 'set':
                h.store({ mode: 'set', key, value: Buffer.alloc(o.len, 0x31), flags: 0, exptime: o.exp });
                break;
              case 'append':
                h.store({ mode: 'append', key, value: Buffer.alloc(o.len, 0x32), flags: 0, exptime: 0 });
                break;
              case 'get':
                h.get({ key });
                break;
              case 'del':
                h.delete({ key });
                break;
              case 'incr':
                h.arithmetic({ key, incr: true, delta: 99999n, initial: 1n });
                break;
              case 'vivify':
                h.get({ key, vivify: 10 });
                break;
              case 'tick':
                clock.advance(o.s);
                break;
              case 'sweep':
                h.sweep(o.n);
                break;
            }
            expect(h.memoryUsed).toBeLessThanOrEqual(maxBytes);
            expect(h.bytes).toBeLessThanOrEqual(h.memoryUsed);
            expect(h.bytes).toBeGreaterThanOrEqual(0);
            expect(h.stats('')!.curr_items).toBe(h.size);
          }
          // Looking every key up drops the expired ones; then bytes is exactly the sum of what is left.
          let sum = 0;
          let n = 0;
          for (let i = 0; i <= 40; i++) {
            const k = Buffer.from(`key${i}`);
            const it = h.get({ key: k, noBump: true });
            if (it) {
              sum += h.itemSize(k.length, it.value.length);
              n++;
            }
          }
          expect(h.size).toBe(n);
          expect(h.bytes).toBe(sum);
        } finally {
          h.close();
        }
      }),
      { numRuns: runs(300) },
    );
  });
});
