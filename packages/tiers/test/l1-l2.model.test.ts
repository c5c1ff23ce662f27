/**
 * Model-based tests of the two-tier orchestrators. L1L2 over two in-memory
 * handlers sharing one clock must answer every command as one memcached
 * would (the reference model in @cleave/testkit): values, flags, CAS
 * uniques, exptimes, expiry in either tier, meta tokens. The test also
 * tampers with L1 behind the orchestrator's back (drops items, lets them
 * expire early, empties it) and L2 must still answer. After every step:
 * whatever L1 holds is a copy of what L2 holds (same bytes, flags, CAS and
 * an exptime no later than L2's), and L1 is actually used (a read refills
 * it with L2's TTL, a write reaches it), except where L1L2Batch promises the
 * opposite (docs/tiers.md).
 *
 * The asynchronous properties wrap both handlers so every call answers
 * through a Promise, in an order fast-check's scheduler picks (or after
 * random micro/macrotask delays), and issue several commands at once: the
 * replies must match the model applied in call order, which is what L1L2
 * promises (one key's calls in call order, flush_all a barrier).
 *
 * CLEAVE_MODEL_RUNS=<n> runs every property n times (for long runs).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler, ItemView, MaybePromise } from '@cleave/protocol';
import {
  FakeClock,
  MODEL_CAS_START,
  MODEL_KEYS,
  ModelRunner,
  ReferenceModel,
  modelCommandArb,
  peekCommand,
  show,
  type ModelCommand,
  type PreparedCall,
} from '@cleave/testkit';
import { L1L2 } from '../src/index.js';

const RUNS = Number(process.env.CLEAVE_MODEL_RUNS ?? 0);
const runs = (n: number) => (RUNS > 0 ? RUNS : n);
const covered = { sequences: 0, commands: 0 };
afterAll(() => {
  if (RUNS > 0) console.log(`l1-l2.model.test: ${covered.sequences} sequences, ${covered.commands} commands`);
});

/** L2's item_size_max: small, so generated values cross it. */
const L2_MAX = 256;
const ITEM_HEADER = 59;
const kb = (k: string) => Buffer.from(k, 'latin1');

/** What the test does to L1 behind the orchestrator's back, and which orchestrator a command goes through. */
type TierStep =
  | { t: 'l1drop'; key: string }
  /** Give L1's copy a TTL of `seconds` (shorter than L2's), then let that time pass: L1's copy expires first. */
  | { t: 'l1expire'; key: string; seconds: number }
  /** Drop every L1 copy (L1 lost its memory, or evicted everything). */
  | { t: 'l1clear' }
  /** Wait until every command in flight has settled (asynchronous runs). */
  | { t: 'settle' };
type Step = (ModelCommand | TierStep) & { batch?: boolean };

const tierStep: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ t: fc.constant('l1drop' as const), key: fc.constantFrom(...MODEL_KEYS) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('l1expire' as const),
      key: fc.constantFrom(...MODEL_KEYS),
      seconds: fc.integer({ min: 1, max: 5 }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'l1clear' as const }) },
);

function steps(options: { batch: 'never' | 'mixed'; settle?: boolean }): fc.Arbitrary<Step> {
  const base = fc.oneof(
    { weight: 12, arbitrary: modelCommandArb({ maxItemSize: L2_MAX }) as fc.Arbitrary<Step> },
    { weight: 2, arbitrary: tierStep },
    ...(options.settle ? [{ weight: 3, arbitrary: fc.constant<Step>({ t: 'settle' }) }] : []),
  );
  if (options.batch === 'never') return base;
  // flush_all always through the main port: two orchestrators keep their own flush state (docs/tiers.md).
  return fc.tuple(base, fc.integer({ min: 0, max: 3 })).map(([s, n]) => (n === 0 && s.t !== 'flush' ? { ...s, batch: true } : s));
}

const peek = (h: Handler, k: string) => h.get(peekCommand(kb(k))) as ItemView | undefined;

interface Tiers {
  clock: FakeClock;
  l1: InMemoryHandler;
  l2: InMemoryHandler;
  l1Max: number;
  runner: ModelRunner;
}

function tiers(l1Max: number, cas: 'exact' | 'bijection'): Tiers {
  const clock = new FakeClock();
  const l1 = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0, maxBytes: 1 << 26, maxItemSize: l1Max });
  const l2 = new InMemoryHandler({
    clock: clock.now,
    sweepIntervalMs: 0,
    maxBytes: 1 << 26,
    maxItemSize: L2_MAX,
    casStart: MODEL_CAS_START,
  });
  const runner = new ModelRunner(new ReferenceModel({ clock: clock.now, maxItemSize: L2_MAX, casStart: MODEL_CAS_START }), {
    cas,
    access: false,
  });
  return { clock, l1, l2, l1Max, runner };
}

/**
 * L1 holds only copies of L2's items: same value bytes, flags and CAS, never
 * stale or holding a recache token, and an exptime no later than L2's
 * (`exactTtl`: the same exptime).
 */
function expectL1CopiesL2(t: Tiers, exactTtl: boolean): void {
  for (const k of MODEL_KEYS) {
    const c1 = peek(t.l1, k);
    if (c1 === undefined) continue;
    const c2 = peek(t.l2, k);
    const where = `L1's copy of ${JSON.stringify(k)} at ${t.clock.sec}`;
    if (c2 === undefined) throw new Error(`${where}: L2 has no item, L1 has ${c1.value.toString('latin1')}`);
    expect(
      c1.value.equals(c2.value),
      `${where}: value ${JSON.stringify(c1.value.toString('latin1'))} vs L2 ${JSON.stringify(c2.value.toString('latin1'))}`,
    ).toBe(true);
    expect(c1.flags, `${where}: flags`).toBe(c2.flags);
    expect(c1.cas, `${where}: cas`).toBe(c2.cas);
    expect(c1.stale || c1.tokenSent, `${where}: stale/token`).toBe(false);
    if (exactTtl) expect(c1.exptime, `${where}: exptime`).toBe(c2.exptime);
    else if (c2.exptime !== 0)
      expect(c1.exptime !== 0 && c1.exptime <= c2.exptime, `${where}: exptime ${c1.exptime} outlives L2's ${c2.exptime}`).toBe(true);
  }
}

function fitsL1(t: Tiers, key: string, it: ItemView): boolean {
  return ITEM_HEADER + kb(key).length + (it.flags !== 0 ? 4 : 0) + it.value.length <= t.l1Max;
}

/** Run one tier step (not a model command). */
function tierStepRun(t: Tiers, s: TierStep): void {
  switch (s.t) {
    case 'l1drop':
      t.l1.delete({ key: kb(s.key) });
      break;
    case 'l1expire': {
      const c1 = peek(t.l1, s.key);
      const c2 = peek(t.l2, s.key);
      // Only when it shortens L1's copy below L2's remaining TTL.
      if (c1 && c2 && (c2.exptime === 0 || c2.exptime > t.clock.sec + s.seconds)) t.l1.touch({ key: kb(s.key), exptime: s.seconds });
      t.clock.advance(s.seconds);
      break;
    }
    case 'l1clear':
      // Deletes, not a flush_all: L1's flush threshold is protocol state L1L2 keeps in step with L2's.
      for (const k of MODEL_KEYS) t.l1.delete({ key: kb(k) });
      break;
    case 'settle':
      break;
  }
}

const isFresh = (it: unknown): it is ItemView =>
  typeof it === 'object' && it !== null && !(it as ItemView).stale && !(it as ItemView).win && !(it as ItemView).tokenSent;

/**
 * After a synchronous command: L1 is used as the docs promise. L1L2 copies
 * an item a read or a write returned into L1; L1L2Batch never adds a key to
 * L1 and refreshes only the copies L1 already held.
 */
function expectL1Use(t: Tiers, s: ModelCommand, batch: boolean, before: Map<string, ItemView | undefined>, got: unknown): void {
  const check = (k: string, it: unknown) => {
    const after = peek(t.l1, k);
    if (batch) {
      if (before.get(k) === undefined) expect(after, `L1L2Batch added ${JSON.stringify(k)} to L1`).toBeUndefined();
      return;
    }
    // Only an item L2 still holds (not one stored expired, or in a second a flush_all covers).
    if (isFresh(it) && peek(t.l2, k)?.cas === it.cas && fitsL1(t, k, it)) {
      expect(after?.cas, `${show(s)}: L1 holds no copy of the item answered`).toBe(it.cas);
      expect(after?.exptime, `${show(s)}: L1's copy has another TTL than L2's`).toBe(it.exptime);
    }
  };
  switch (s.t) {
    case 'get':
      check(s.key, got);
      break;
    case 'getMany':
      s.keys.forEach((k, i) => check(k, (got as unknown[])[i]));
      break;
    case 'store':
      // A store with meta I drops L1's copy whatever L2 made of it (stale items live in L2 alone).
      if (s.invalidate) break;
      if (s.mode === 'append' || s.mode === 'prepend') {
        // L1 extends only a copy it holds.
        if (before.get(s.key) === undefined) expect(peek(t.l1, s.key), 'append/prepend added a key to L1').toBeUndefined();
        else check(s.key, got);
      } else check(s.key, got);
      break;
    case 'arithmetic':
      // A counter L1 holds is updated there (hot counters stay in L1); a counter N created is copied in.
      if (batch || before.get(s.key) !== undefined || (isFresh(got) && got.created === true)) check(s.key, got);
      break;
    default:
      if (batch)
        for (const k of MODEL_KEYS)
          if (before.get(k) === undefined) expect(peek(t.l1, k), `L1L2Batch added ${JSON.stringify(k)} to L1`).toBeUndefined();
  }
}

function runSync(stepsList: readonly Step[], l1Max: number): void {
  const t = tiers(l1Max, 'exact');
  // The factories' orchestrators, on the tiers' clock (the factories use Date.now, as the handlers do by default).
  const main = new L1L2(t.l1, t.l2, { clock: t.clock.now });
  const batch = new L1L2(t.l1, t.l2, { batch: true, clock: t.clock.now });
  for (const s of stepsList) {
    if (s.t === 'advance') t.clock.advance(s.ms / 1000);
    else if (s.t === 'l1drop' || s.t === 'l1expire' || s.t === 'l1clear' || s.t === 'settle') tierStepRun(t, s);
    else {
      const before = new Map(MODEL_KEYS.map((k) => [k, peek(t.l1, k)]));
      const p = t.runner.prepare(s);
      const got = p.invoke(s.batch ? batch : main);
      expect(got instanceof Promise, 'two synchronous tiers answer synchronously').toBe(false);
      p.check(got);
      expectL1Use(t, s, s.batch === true, before, got);
    }
    expectL1CopiesL2(t, true);
  }
  // Final state: L2 (the authority) holds the model's items, and so does the client's view through L1L2.
  t.runner.checkState(MODEL_KEYS, (k) => t.l2.get(peekCommand(k)));
  t.runner.checkState(MODEL_KEYS, (k) => main.get(peekCommand(k)) as ItemView | undefined);
  expectL1CopiesL2(t, true);
  covered.sequences++;
  covered.commands += t.runner.commands;
}

// ---------------------------------------------------------------------------
// Asynchronous tiers
// ---------------------------------------------------------------------------

/** How an asynchronous handler's call waits: once before it is applied, once before its reply. */
type Wait = (label: string) => Promise<void>;

/** `inner` answering every call through a Promise: applied after one `wait`, answered after another. */
function asyncHandler(inner: InMemoryHandler, name: string, wait: Wait): Handler {
  const call = <T>(op: string, f: () => MaybePromise<T>): Promise<T> =>
    wait(`${name}.${op} apply`)
      .then(f)
      .then((r) => wait(`${name}.${op} reply`).then(() => r));
  return {
    get: (cmd) => call('get', () => inner.get(cmd)),
    getMany: (cmds) => call('getMany', () => inner.getMany(cmds)),
    store: (cmd) => call('store', () => inner.store(cmd)),
    delete: (cmd) => call('delete', () => inner.delete(cmd)),
    arithmetic: (cmd) => call('arithmetic', () => inner.arithmetic(cmd)),
    touch: (cmd) => call('touch', () => inner.touch(cmd)),
    flush: (delay) => call('flush', () => inner.flush(delay)),
    stats: (group) => inner.stats(group),
    close: () => inner.close(),
  };
}

/** Random waits from a seed: a few microtasks, or a macrotask (setImmediate / setTimeout 0). */
function timerWaits(seed: number): Wait {
  let x = seed | 1;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
  return () => {
    const r = rnd();
    if (r < 0.45) {
      let p = Promise.resolve();
      for (let i = Math.floor(rnd() * 6); i > 0; i--) p = p.then(() => undefined);
      return p;
    }
    return new Promise((resolve) => (r < 0.9 ? setImmediate(resolve) : setTimeout(resolve, 0)));
  };
}

interface AsyncDriver {
  wait: Wait;
  /** Let everything in flight settle. */
  settle(inFlight: Promise<unknown>[]): Promise<void>;
  /** Let some of what is in flight progress (about `n` steps). */
  progress(n: number): Promise<void>;
}

function schedulerDriver(s: fc.Scheduler): AsyncDriver {
  return {
    wait: (label) => s.schedule(Promise.resolve(), label).then(() => undefined),
    settle: async (inFlight) => {
      await s.waitIdle();
      await Promise.all(inFlight);
    },
    progress: async (n) => {
      const k = Math.min(n, s.count());
      if (k > 0) await s.waitNext(k);
    },
  };
}

function timerDriver(seed: number): AsyncDriver {
  return {
    wait: timerWaits(seed),
    settle: async (inFlight) => void (await Promise.all(inFlight)),
    progress: async (n) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    },
  };
}

/**
 * Issue the steps without waiting for replies (up to `settle`, a clock move
 * or a tier step), and check every reply against the model applied in call
 * order. With `clockInFlight`, the clock also moves while commands are in
 * flight; then the replies cannot be predicted, and only the tiers'
 * consistency is checked.
 */
async function runAsync(
  stepsList: readonly Step[],
  driver: AsyncDriver,
  options: { batch?: boolean; clockInFlight?: boolean } = {},
): Promise<void> {
  const t = tiers(L2_MAX, 'bijection');
  const l1 = asyncHandler(t.l1, 'l1', driver.wait);
  const l2 = asyncHandler(t.l2, 'l2', driver.wait);
  const orch = new L1L2(l1, l2, { batch: options.batch === true, clock: t.clock.now });
  // Next to L1L2Batch, a main-port L1L2 over the same tiers fills L1 (only while nothing else is in flight).
  const main = options.batch ? new L1L2(l1, l2, { clock: t.clock.now }) : undefined;
  let inFlight: Promise<unknown>[] = [];
  const settle = async () => {
    await driver.settle(inFlight);
    inFlight = [];
    expectL1CopiesL2(t, !options.clockInFlight);
    if (main && !options.clockInFlight) {
      for (const k of MODEL_KEYS) {
        const p = t.runner.prepare({ t: 'get', key: k });
        inFlight.push(Promise.resolve(p.invoke(main)).then((got) => p.check(got)));
      }
      await driver.settle(inFlight);
      inFlight = [];
      expectL1CopiesL2(t, true);
    }
  };
  for (const s of stepsList) {
    if (s.t === 'advance') {
      if (!options.clockInFlight) await settle();
      // In flight: some calls are applied before the clock moves, some after.
      else await driver.progress(s.ms % 5);
      t.clock.advance(s.ms / 1000);
    } else if (s.t === 'l1drop') {
      // Dropping an L1 copy is always safe, even with commands in flight (an eviction).
      t.l1.delete({ key: kb(s.key) });
    } else if (s.t === 'l1expire' || s.t === 'l1clear' || s.t === 'settle') {
      await settle();
      tierStepRun(t, s);
    } else if (options.clockInFlight) {
      inFlight.push(Promise.resolve(t.runner.prepare(s).invoke(orch)));
    } else {
      const p: PreparedCall = t.runner.prepare(s);
      inFlight.push(Promise.resolve(p.invoke(orch)).then((got) => p.check(got)));
    }
  }
  await settle();
  if (!options.clockInFlight) t.runner.checkState(MODEL_KEYS, (k) => t.l2.get(peekCommand(k)));
  covered.sequences++;
  covered.commands += t.runner.commands;
}

const l1Max = fc.constantFrom(L2_MAX, L2_MAX, 200);

describe('L1L2 against the reference model', () => {
  it('answers every command as one memcached would, while the test drops, expires and flushes L1 copies behind its back', () => {
    fc.assert(
      fc.property(fc.array(steps({ batch: 'never' }), { maxLength: 150, size: 'max' }), l1Max, (s, m) => runSync(s, m)),
      { numRuns: runs(250) },
    );
  });

  it('L1L2Batch and L1L2 over the same tiers (a bulk-load port next to the main one) answer as one memcached; Batch never adds to L1', () => {
    fc.assert(
      fc.property(fc.array(steps({ batch: 'mixed' }), { maxLength: 150, size: 'max' }), l1Max, (s, m) => runSync(s, m)),
      { numRuns: runs(250) },
    );
  });

  it('with asynchronous tiers answering in an order fast-check schedules, concurrent commands get the replies of the model in call order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(steps({ batch: 'never', settle: true }), { maxLength: 80, size: 'max' }),
        async (s, list) => {
          await runAsync(list, schedulerDriver(s));
        },
      ),
      { numRuns: runs(150) },
    );
  });

  it('L1L2Batch with asynchronous tiers: the same, over an L1 a main port filled', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(steps({ batch: 'never', settle: true }), { maxLength: 80, size: 'max' }),
        async (s, list) => {
          await runAsync(list, schedulerDriver(s), { batch: true });
        },
      ),
      { numRuns: runs(80) },
    );
  });

  it('with asynchronous tiers answering after random microtask and macrotask delays, the same', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer(),
        fc.array(steps({ batch: 'never', settle: true }), { maxLength: 80, size: 'max' }),
        async (seed, list) => {
          await runAsync(list, timerDriver(seed));
        },
      ),
      { numRuns: runs(60) },
    );
  });

  it("with the clock moving while commands are in flight, L1 never holds an item L2 does not, nor outlives L2's copy", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(steps({ batch: 'never', settle: true }), { maxLength: 80, size: 'max' }),
        async (s, list) => {
          await runAsync(list, schedulerDriver(s), { clockInFlight: true });
        },
      ),
      { numRuns: runs(120) },
    );
  });
});
