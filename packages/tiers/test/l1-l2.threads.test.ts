// Two L1L2s over the same L1 and L2, each with its own KeyLanes, stand for two threads sharing one L1 (the shared
// in-memory store, or a memcached L1): L2's answers are held by hand, so one "thread"'s calls land between another's
// L2 and L1 steps, as they can when threads run at once. With keyLocks no interleaving leaves L1 holding what L2 does
// not; without them the same interleavings do (the controls show the test can tell).
import { describe, expect, it } from 'vitest';
import { KeyLocks, sharedKeyLocks, type SharedKeyLocks } from '@cleave/core';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { GetCommand, Handler, ItemView, StoreCommand } from '@cleave/protocol';
import { l1l2, type L1L2 } from '../src/index.js';

const key = (s: string) => Buffer.from(s);
const set = (k: string, v: string): StoreCommand => ({ mode: 'set', key: key(k), value: Buffer.from(v), flags: 0, exptime: 0 });
const get = (k: string): GetCommand => ({ key: key(k) });
const value = (r: unknown) => (r as ItemView | undefined)?.value.toString();

/** Let every pending reaction run. */
const settle = () => new Promise((r) => setImmediate(r));

/**
 * `inner` applying each call at once but answering it only when released: `held` lists the answers waiting, in
 * call order. While `holding` is off, answers come at once (a ready value).
 */
function heldL2(inner: Handler) {
  const held: Array<{ method: string; release: () => void }> = [];
  const control = { holding: false, held };
  const handler = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'stats' || prop === 'close') return v;
      return (...args: unknown[]) => {
        const answer = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (!control.holding) return answer;
        return new Promise((resolve) => held.push({ method: String(prop), release: () => resolve(answer) }));
      };
    },
  }) as Handler;
  return { handler, control };
}

/** Two "threads" over one L1 and one L2. */
function twoThreads(keyLocks: SharedKeyLocks | undefined) {
  const l1 = new InMemoryHandler({ maxBytes: 1 << 22 });
  const store = new InMemoryHandler({ maxBytes: 1 << 22 });
  const { handler: l2, control } = heldL2(store);
  const options = keyLocks === undefined ? {} : { keyLocks };
  const a: L1L2 = l1l2(l1, l2, options);
  const b: L1L2 = l1l2(l1, l2, options);
  /** What each tier holds for `k`. */
  const tiers = (k: string) => ({ l1: value(l1.get(get(k))), l2: value(store.get(get(k))) });
  return { l1, store, control, a, b, tiers };
}

type Control = ReturnType<typeof heldL2>['control'];

/**
 * Release the first held answer of `method` (any method when not given), waiting for it to be held first (a call
 * that waited for a stripe lock reaches L2 after a turn or two of the event loop), then let its reactions run.
 */
async function release(control: Control, method?: string) {
  let i = -1;
  while ((i = control.held.findIndex((h) => method === undefined || h.method === method)) < 0) await settle();
  const [h] = control.held.splice(i, 1);
  h!.release();
  await settle();
}

/** Locks under which the keys a test names lie on different stripes (checked, so a test never passes by chance). */
function locksFor(...keys: string[]): SharedKeyLocks {
  const shared = sharedKeyLocks(4096);
  const view = new KeyLocks(shared);
  expect(new Set(keys.map((k) => view.stripe(key(k)))).size).toBe(keys.length);
  return shared;
}

describe('L1L2 over one L1 shared by threads (keyLocks)', () => {
  const LOCKS = sharedKeyLocks(64);
  for (const locked of [true, false]) {
    const name = locked ? 'with keyLocks' : 'without keyLocks (control)';
    const expectConsistent = (t: { l1: string | undefined; l2: string | undefined }) => {
      if (locked) expect(t.l1 === undefined || t.l1 === t.l2, `L1 ${t.l1}, L2 ${t.l2}`).toBe(true);
      else expect(t.l1).not.toBe(t.l2);
    };

    it(`${name}: an L2 copy read before another thread's write does not reach L1 after it`, async () => {
      const { store, control, a, b, tiers } = twoThreads(locked ? LOCKS : undefined);
      store.store(set('k', 'v1'));
      control.holding = true;
      // A misses in L1 and asks L2, which answers v1 (held).
      const read = a.get(get('k'));
      // B writes v2 through both tiers meanwhile.
      const write = b.store(set('k', 'v2'));
      await settle();
      await release(control, 'store');
      await write;
      expect(tiers('k')).toEqual({ l1: 'v2', l2: 'v2' });
      // A's answer comes now: v1, from before the write.
      await release(control);
      expect(value(await read)).toBe('v1');
      expectConsistent(tiers('k'));
    });

    it(`${name}: a multi-get's L2 copies are held to the same rule`, async () => {
      const { store, control, a, b, tiers } = twoThreads(locked ? locksFor('x', 'y') : undefined);
      store.store(set('x', 'x1'));
      store.store(set('y', 'y1'));
      control.holding = true;
      const read = a.getMany([get('x'), get('y')]);
      const write = b.store(set('y', 'y2'));
      await settle();
      await release(control, 'store');
      await write;
      await release(control);
      expect((await read).map(value)).toEqual(['x1', 'y1']);
      // x was not written: its copy is L2's either way.
      expect(tiers('x')).toEqual({ l1: 'x1', l2: 'x1' });
      expectConsistent(tiers('y'));
    });

    it(`${name}: writes from two threads leave L1 with L2's last value`, async () => {
      const { control, a, b, tiers } = twoThreads(locked ? LOCKS : undefined);
      control.holding = true;
      // A's set reaches L2 first; its answer is held while B's set goes through.
      const first = a.store(set('k', 'A'));
      await settle();
      const second = b.store(set('k', 'B'));
      await settle();
      if (locked) {
        // B waits for A's whole change: only A's call has reached L2.
        expect(control.held.length).toBe(1);
        await release(control);
        await first;
        await release(control);
        await second;
        expect(tiers('k')).toEqual({ l1: 'B', l2: 'B' });
      } else {
        // B's answer first, then A's: A's L1 step comes last.
        expect(control.held.length).toBe(2);
        control.held.reverse();
        await release(control);
        await second;
        await release(control);
        await first;
        expectConsistent(tiers('k'));
      }
    });

    it(`${name}: incr from two threads leaves L1's counter at L2's`, async () => {
      const { store, control, a, b, tiers } = twoThreads(locked ? LOCKS : undefined);
      store.store(set('n', '10'));
      await a.get(get('n'));
      expect(tiers('n')).toEqual({ l1: '10', l2: '10' });
      control.holding = true;
      const incr = (h: L1L2, delta: bigint) => h.arithmetic({ key: key('n'), incr: true, delta });
      const first = incr(a, 1n);
      await settle();
      const second = incr(b, 5n);
      await settle();
      if (locked) {
        await release(control);
        await first;
        await release(control);
      } else {
        // B's answer (16) first: L1's 10 + 5 is not L2's result, so L1's copy is dropped; A's +1 then finds none.
        control.held.reverse();
        await release(control);
        await release(control);
      }
      await Promise.all([first, second]);
      expect(tiers('n')).toEqual({ l1: locked ? '16' : undefined, l2: '16' });
    });

    it(`${name}: an L2 copy read before another thread's flush_all does not reach L1 after it`, async () => {
      const { store, control, a, b, tiers } = twoThreads(locked ? LOCKS : undefined);
      store.store(set('k', 'v1'));
      control.holding = true;
      const read = a.get(get('k'));
      await settle();
      const flush = b.flush(0);
      await settle();
      await release(control, 'flush');
      await flush;
      expect(tiers('k')).toEqual({ l1: undefined, l2: undefined });
      await release(control);
      expect(value(await read)).toBe('v1');
      if (locked) expect(tiers('k')).toEqual({ l1: undefined, l2: undefined });
      else expect(tiers('k')).toEqual({ l1: 'v1', l2: undefined });
    });
  }

  it('a thread whose call waits for another thread holding the stripe stays responsive on other stripes', async () => {
    const { control, a, b, tiers } = twoThreads(locksFor('k', 'other'));
    control.holding = true;
    const held = a.store(set('k', 'A'));
    await settle();
    const waiting = b.store(set('k', 'B'));
    // Another key, very likely on another stripe, goes through at once while k's stripe is held.
    control.holding = false;
    const other = b.store(set('other', 'o'));
    expect(value(other)).toBe('o');
    await release(control);
    await held;
    await waiting;
    expect(tiers('k')).toEqual({ l1: 'B', l2: 'B' });
  });
});
