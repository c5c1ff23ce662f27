// Per-key call order and flush barriers for a Handler that serves or wraps other Handlers.
//
// The server hands a handler the next pipelined command before the previous one has settled, yet commands on one key
// must take effect in the order they were received (a pipelined get after a set sees the set), and a flush_all must
// apply after every command issued before it and before every command issued after it. KeyLanes queues a call behind
// the unsettled calls on its key (and behind a pending barrier); with nothing pending it is a direct call: no Promise,
// no key string, no allocation.
import type { MaybePromise } from '@cleave/protocol';
import { isPromise } from './maybe.js';

/** Calls in progress on one key. */
interface Lane {
  /** Settles when every call tracked on the key so far has settled. */
  all: Promise<void>;
  /** Settles when the last exclusive call tracked on the key has settled (undefined: only shared calls since the lane began). */
  writes: Promise<void> | undefined;
  /** Calls tracked on the key and not settled yet. */
  n: number;
}

/** Node's Buffer has a direct Latin-1 reader that its typings do not declare. */
interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string;
}

/** A key's bytes as a Map key (one char per byte). */
function laneName(key: Buffer): string {
  return (key as unknown as Latin1Sliceable).latin1Slice(0, key.length);
}

function noop(): void {}

/**
 * Per-key lanes and a flush barrier.
 *
 * - `run(key, f)`: an exclusive call: `f` runs after every unsettled call on
 *   the key before it (and after a pending barrier). Use it for writes, and
 *   for reads with side effects (a tier's read that fills L1).
 * - `read(key, f)`: a shared call: `f` waits only for the exclusive calls
 *   before it, so reads between two writes run together.
 * - `barrier(f)`: `f` runs after every call issued before it on any key, and
 *   every call issued after it waits for `f` (flush_all).
 * - `gate(f)`: waits for a pending barrier only, with no per-key order (a
 *   handler whose backend keeps each key's order itself, or a call on no key).
 *
 * Each returns `f`'s MaybePromise: with nothing to wait for, `f` is called at
 * once and a synchronous answer comes back as is (a synchronous throw too).
 * A call that waited is run from a Promise reaction, so its throw becomes a
 * rejection. A failed call releases its lane like a successful one: errors
 * never hold up the calls after it. A lane is removed when its last call
 * settles, before that call's own caller sees the answer, so the key's next
 * call takes the direct path again.
 */
export class KeyLanes {
  /** Keys with calls in progress (by the key's bytes as a latin1 string). */
  private readonly lanes = new Map<string, Lane>();
  /** Settles when the pending barrier has settled; undefined when none is pending. */
  private pending: Promise<void> | undefined = undefined;

  /** Nothing in progress: no call on any key and no barrier. Every call now takes the direct path. */
  get idle(): boolean {
    return this.lanes.size === 0 && this.pending === undefined;
  }

  /** A barrier is pending: every call issued now waits for it. */
  get blocked(): boolean {
    return this.pending !== undefined;
  }

  /** Keys with calls in progress. */
  get size(): number {
    return this.lanes.size;
  }

  /** Whether `key` has calls in progress. */
  has(key: Buffer): boolean {
    return this.lanes.size !== 0 && this.lanes.has(laneName(key));
  }

  /** Run `f` after every unsettled call on `key` (and a pending barrier); later calls on `key` wait for it. */
  run<T>(key: Buffer, f: () => MaybePromise<T>): MaybePromise<T> {
    return this.enter(key, f, false);
  }

  /** Run `f` after the unsettled exclusive calls on `key` (and a pending barrier); later exclusive calls on `key` wait for it. */
  read<T>(key: Buffer, f: () => MaybePromise<T>): MaybePromise<T> {
    return this.enter(key, f, true);
  }

  /**
   * One shared call on several keys (a multi-get): `f` runs after the
   * exclusive calls before it on any of the keys (and a pending barrier),
   * and counts as a shared call on each of them.
   */
  readMany<T>(cmds: readonly { readonly key: Buffer }[], f: () => MaybePromise<T>): MaybePromise<T> {
    let r: MaybePromise<T>;
    if (this.lanes.size === 0 && this.pending === undefined) {
      r = f();
    } else {
      let waits: Promise<void>[] | undefined;
      if (this.pending !== undefined) waits = [this.pending];
      if (this.lanes.size !== 0) {
        for (let i = 0; i < cmds.length; i++) {
          const w = this.lanes.get(laneName(cmds[i]!.key))?.writes;
          if (w !== undefined) (waits ??= []).push(w);
        }
      }
      r = waits === undefined ? f() : waits.length === 1 ? waits[0]!.then(f) : Promise.all(waits).then(f);
    }
    if (isPromise(r)) for (let i = 0; i < cmds.length; i++) this.add(cmds[i]!.key, r, true, undefined);
    return r;
  }

  /**
   * Count `p`, a call on `key` started elsewhere (one Promise for a batch of
   * keys, say), as in progress on the key: later calls on the key wait for it
   * (exclusive ones only, when `shared`). It did not wait for anything, so
   * the key's later calls also wait for a barrier pending now.
   */
  track(key: Buffer, p: Promise<unknown>, shared = false): void {
    const pending = this.pending;
    if (pending !== undefined && !this.has(key)) {
      // Its lane stands for the barrier too (a lane's calls are otherwise all behind the barrier).
      this.add(key, Promise.all([pending, p]), shared, undefined);
      return;
    }
    this.add(key, p, shared, undefined);
  }

  /** Track `p` on `key`; `after` is the lane's `all` that `p` waited for (then nothing before it is left to join). */
  private add(key: Buffer, p: Promise<unknown>, shared: boolean, after: Promise<void> | undefined): void {
    const name = laneName(key);
    const lanes = this.lanes;
    const lane = lanes.get(name);
    // Registered before the caller's own reactions to `p`: the lane is gone by the time they run.
    const done = (): void => {
      if (--l.n === 0 && lanes.get(name) === l) lanes.delete(name);
    };
    const settled = p.then(done, done);
    let l: Lane;
    if (lane === undefined) {
      l = { all: settled, writes: shared ? undefined : settled, n: 1 };
      lanes.set(name, l);
      return;
    }
    l = lane;
    l.n++;
    const all = !shared && lane.all === after ? settled : Promise.all([lane.all, settled]).then(noop);
    l.all = all;
    if (!shared) l.writes = all;
  }

  /** Run `f` after a pending barrier only (no per-key order); not tracked, so a later barrier does not wait for it. */
  gate<T>(f: () => MaybePromise<T>): MaybePromise<T> {
    const b = this.pending;
    return b === undefined ? f() : b.then(f);
  }

  /**
   * Run `f` after every call issued before it (on every key, and a barrier
   * before it); every call issued after it waits until `f` has settled. With
   * nothing in progress, `f` runs at once and a synchronous one blocks nothing.
   */
  barrier<T>(f: () => MaybePromise<T>): MaybePromise<T> {
    let r: MaybePromise<T>;
    const lanes = this.lanes;
    if (lanes.size === 0) {
      const b = this.pending;
      r = b === undefined ? f() : b.then(f);
    } else {
      const waits: Promise<void>[] = [];
      if (this.pending !== undefined) waits.push(this.pending);
      for (const lane of lanes.values()) waits.push(lane.all);
      r = Promise.all(waits).then(f);
    }
    if (!isPromise(r)) return r;
    const clear = (): void => {
      if (this.pending === settled) this.pending = undefined;
    };
    const settled: Promise<void> = r.then(clear, clear);
    this.pending = settled;
    // Every call in progress is behind the barrier now: a key's next call waits for the barrier alone.
    lanes.clear();
    return r;
  }

  private enter<T>(key: Buffer, f: () => MaybePromise<T>, shared: boolean): MaybePromise<T> {
    let r: MaybePromise<T>;
    if (this.lanes.size === 0 && this.pending === undefined) {
      r = f();
    } else {
      // A lane began after the last barrier was set, so its calls waited for that barrier: waiting for them is enough.
      const lane = this.lanes.size === 0 ? undefined : this.lanes.get(laneName(key));
      const wait = lane === undefined ? this.pending : shared ? (lane.writes ?? this.pending) : lane.all;
      r = wait === undefined ? f() : wait.then(f);
      if (isPromise(r)) this.add(key, r, shared, lane === undefined ? undefined : lane.all);
      return r;
    }
    if (isPromise(r)) this.add(key, r, shared, undefined);
    return r;
  }
}
