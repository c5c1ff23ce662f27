// Per-key order across threads: striped locks and generations in a SharedArrayBuffer.
//
// KeyLanes orders one thread's calls on a key; threads that share a store (one in-memory cache, or a memcached L1)
// need more: a change made through one thread must not be overtaken by a copy another thread read before it. Keys
// hash to stripes; each stripe has a lock (a futex-style word: 0 free, 1 held, 2 held with waiters) and a
// generation, bumped by every change made under the lock. A waiter waits with Atomics.waitAsync, never blocking
// its thread (the holder may be a call on the same thread, waiting for a backend); an uncontended lock is one
// compareExchange, with no Promise and no allocation.
import type { MaybePromise } from '@cleave/protocol';
import { fnv1a32 } from './fnv1a.js';
import { isPromise } from './maybe.js';

/** The locks' shared memory: structured-cloneable, so each thread builds its `KeyLocks` over the same buffer. */
export interface SharedKeyLocks {
  /** One Int32 lock word per stripe, then one Int32 generation per stripe. */
  readonly buffer: SharedArrayBuffer;
}

/** Shared memory for `stripes` stripe locks (a power of two), made once and handed to every thread. */
export function sharedKeyLocks(stripes = 4096): SharedKeyLocks {
  if (!Number.isInteger(stripes) || stripes < 1 || stripes > 1 << 24 || (stripes & (stripes - 1)) !== 0)
    throw new RangeError(`sharedKeyLocks: stripes must be a power of two from 1 to 16777216, got ${stripes}`);
  return { buffer: new SharedArrayBuffer(stripes * 8) };
}

/** Atomics.waitAsync (Node 16+), not in the ES2022 typings. */
type WaitAsync = (
  array: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) => { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

function noop(): void {}

const FREE = 0;
const HELD = 1;
const WAITED = 2;

/**
 * One thread's view of `SharedKeyLocks`.
 *
 * - `change(stripe, f)`: `f` runs holding the stripe's lock; the stripe's
 *   generation is bumped before the lock is released (a write).
 * - `generation(stripe)`, then `ifUnchanged(stripe, gen, f)`: `f` runs holding
 *   the lock only if no change was made to the stripe since `gen` was read
 *   (a copy read before can still be written where others read it).
 * - `changeAll(f)`: `f` runs holding every stripe's lock; every generation is
 *   bumped (flush_all).
 *
 * The lock is released however `f` ends (a throw, a rejection). A call
 * never waits for a lock while holding another, except `changeAll`, which
 * takes them in stripe order: no deadlock.
 */
export class KeyLocks {
  readonly stripes: number;
  private readonly words: Int32Array;
  private readonly gens: Int32Array;
  private readonly mask: number;

  constructor(shared: SharedKeyLocks) {
    const n = shared.buffer.byteLength / 8;
    this.stripes = n;
    this.mask = n - 1;
    this.words = new Int32Array(shared.buffer, 0, n);
    this.gens = new Int32Array(shared.buffer, n * 4, n);
  }

  /** The stripe `key` belongs to. */
  stripe(key: Buffer): number {
    return fnv1a32(key) & this.mask;
  }

  /** The stripe's generation now: read it before fetching a copy, check it with `ifUnchanged` before storing the copy. */
  generation(stripe: number): number {
    return Atomics.load(this.gens, stripe);
  }

  /** Run `f` holding the stripe's lock, then bump its generation and release it. */
  change<T>(stripe: number, f: () => MaybePromise<T>): MaybePromise<T> {
    const got = this.lock(stripe);
    return got === undefined ? this.holding(stripe, f, true) : got.then(() => this.holding(stripe, f, true));
  }

  /**
   * Run `f` holding the stripe's lock if its generation is still `gen`;
   * otherwise `f` is not run and the answer is `skipped`.
   */
  ifUnchanged<T>(stripe: number, gen: number, f: () => MaybePromise<T>, skipped: T): MaybePromise<T> {
    if (Atomics.load(this.gens, stripe) !== gen) return skipped;
    const got = this.lock(stripe);
    if (got === undefined) return Atomics.load(this.gens, stripe) === gen ? this.holding(stripe, f, false) : this.unlocked(stripe, skipped);
    return got.then(() => (Atomics.load(this.gens, stripe) === gen ? this.holding(stripe, f, false) : this.unlocked(stripe, skipped)));
  }

  /** Run `f` holding every stripe's lock (taken in order), then bump every generation and release them. */
  changeAll<T>(f: () => MaybePromise<T>): MaybePromise<T> {
    const n = this.stripes;
    const from = (i: number): MaybePromise<T> => {
      for (; i < n; i++) {
        const got = this.lock(i);
        if (got !== undefined) {
          const next = i + 1;
          return got.then(() => from(next));
        }
      }
      return this.holdingAll(f);
    };
    return from(0);
  }

  /** Take the stripe's lock: undefined when taken at once, else a Promise that settles once it is held. */
  private lock(stripe: number): Promise<void> | undefined {
    if (Atomics.compareExchange(this.words, stripe, FREE, HELD) === FREE) return undefined;
    return this.contend(stripe);
  }

  private async contend(stripe: number): Promise<void> {
    const words = this.words;
    // A pending Atomics.waitAsync does not keep the event loop alive: a thread with nothing else to do would exit.
    const alive = setInterval(noop, 0x7fffffff);
    try {
      // Mark the lock waited-for, so that its release notifies; taking it from FREE here keeps the mark (one spare notify).
      while (Atomics.exchange(words, stripe, WAITED) !== FREE) {
        const w = waitAsync(words, stripe, WAITED);
        if (w.async) await w.value;
      }
    } finally {
      clearInterval(alive);
    }
  }

  private unlock(stripe: number): void {
    if (Atomics.exchange(this.words, stripe, FREE) === WAITED) Atomics.notify(this.words, stripe, 1);
  }

  private unlocked<T>(stripe: number, v: T): T {
    this.unlock(stripe);
    return v;
  }

  private release(stripe: number, bump: boolean): void {
    if (bump) Atomics.add(this.gens, stripe, 1);
    this.unlock(stripe);
  }

  private holding<T>(stripe: number, f: () => MaybePromise<T>, bump: boolean): MaybePromise<T> {
    let r: MaybePromise<T>;
    try {
      r = f();
    } catch (err) {
      this.release(stripe, bump);
      throw err;
    }
    if (isPromise(r)) return r.finally(() => this.release(stripe, bump));
    this.release(stripe, bump);
    return r;
  }

  private holdingAll<T>(f: () => MaybePromise<T>): MaybePromise<T> {
    const release = (): void => {
      for (let i = 0; i < this.stripes; i++) {
        Atomics.add(this.gens, i, 1);
        this.unlock(i);
      }
    };
    let r: MaybePromise<T>;
    try {
      r = f();
    } catch (err) {
      release();
      throw err;
    }
    if (isPromise(r)) return r.finally(release);
    release();
    return r;
  }
}
