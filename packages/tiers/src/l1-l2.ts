import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  KeyCommand,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { ItemFacts, REALTIME_MAXDELTA, absoluteExptime } from '@cleave/protocol';
import { KeyLanes, KeyLocks, all, andThen, attempt, isPromise, type SharedKeyLocks } from '@cleave/core';

export interface L1L2Options {
  /**
   * Bulk-loader mode (Rend's L1L2Batch): writes go to L2 and only *replace*
   * in L1 (an item L1 does not hold stays out of it), and reads do not copy
   * L2 hits into L1.
   */
  batch?: boolean;
  /** Where L1 failures are reported (they never fail the request: L2 is the authority). */
  onL1Error?: (err: unknown) => void;
  /**
   * The clock both tiers read (milliseconds), for tiers in this process (the
   * in-memory handler). With it, a write's or touch's exptime reaches L1 as
   * an absolute time fixed when the call is made, and a delayed flush_all
   * reaches both tiers as one absolute time, so an L1 copy never outlives
   * L2's item even when an L2 call spans a second boundary. Without it
   * (tiers in other processes, each on its own clock), the client's relative
   * TTLs and delays pass through, exact in each tier's own clock.
   */
  clock?: () => number;
  /**
   * Locks shared by every thread whose L1L2 serves the same L1 (one shared
   * in-memory store, or a memcached L1), from `sharedKeyLocks()`: a change
   * holds its key's stripe lock from L2 to L1, and an L2 copy goes into L1
   * only if no change to the stripe came since L2 was asked, so no thread
   * leaves a stale copy where another reads it. Without it (one thread, or
   * an L1 of the thread's own) nothing is locked.
   */
  keyLocks?: SharedKeyLocks;
}

const isItem = (v: unknown): v is ItemView => typeof v === 'object' && v !== null;

/** Keys whose L1 copy is in doubt tracked one by one; past it L1 as a whole is in doubt until flushed. */
const MAX_DOUBTFUL_KEYS = 10_000;
/** Delay between attempts to flush an L1 in doubt. */
const L1_FLUSH_RETRY_MS = 1000;

/**
 * An absolute exptime in the wire form a store takes: 0 never, an absolute
 * Unix time as is. An absolute time of 30 days or less (memcached's mark
 * for an item stored already expired) would read as seconds from now on the
 * wire: it goes as -1, expired.
 */
function wireExptime(abs: number): number {
  return abs === 0 ? 0 : abs <= REALTIME_MAXDELTA ? -1 : abs;
}

/** L1's answer to a write that mirrors L2's: an item, or NOT_STORED (no copy to extend or replace); anything else failed. */
function l1Stored(outcome: StoreOutcome): StoreOutcome {
  if (isItem(outcome) || outcome === 'NOT_STORED') return outcome;
  // Thrown, not a rejected Promise: a synchronous L1 stays synchronous (l1Apply catches it either way).
  throw new Error(`L1 store: ${outcome}`);
}

/**
 * Two tiers: L1 (small, fast, usually in memory) in front of L2 (the
 * authority, usually memcached).
 *
 * - Writes go to L2 first; when L2 accepts, L1 gets the same item, with L2's
 *   CAS unique when L1 keeps the CAS it is given (`keepsNewCas`).
 *   If the L1 write fails, the L1 copy is deleted rather than left stale.
 * - Reads try L1; misses go to L2, and L2 hits are copied into L1 with L2's
 *   remaining TTL (and CAS, as above). A fetch whose reply shows the CAS
 *   (`ItemFacts.CAS`: gets, binary gets, mg `c`) reads L1 only when L1 keeps
 *   L2's CAS; otherwise L2 answers it, so every CAS a client sees is L2's,
 *   the one a compare-and-swap through L2 accepts. Store and incr/decr
 *   replies are L2's outcome, CAS included.
 * - incr/decr change L2's counter, then L1's copy the same way.
 * - delete/touch/gat go to both; L2's answer is the client's.
 * - Given the tiers' clock (`clock`), an exptime L1 gets is absolute, fixed
 *   when the call is made: L1's copy never outlives L2's item.
 * - While a write to a key is in flight, later reads of that key wait for
 *   it, so a pipeline reads its own writes even though L1 answers at once.
 * - When neither L1's update nor the delete replacing it gets through (a
 *   remote L1 that is unreachable), L1's copy is in doubt: the key is read
 *   from L2 until a delete of it reaches L1. Past MAX_DOUBTFUL_KEYS such keys,
 *   L1 is not read at all until a flush_all of it succeeds.
 */
export class L1L2 implements Handler {
  readonly l1: Handler;
  readonly l2: Handler;
  private readonly batch: boolean;
  private readonly onL1Error: (err: unknown) => void;
  private readonly clock: (() => number) | undefined;
  /**
   * L1 stores an item with the CAS unique given in `newCas`, and L1L2 does
   * too when L2 does (a write passes the client's `newCas` to L2, and L1
   * gets L2's CAS).
   */
  readonly keepsNewCas: boolean | undefined;
  /** L1's copies carry CAS uniques of L1's own: a fetch that shows the CAS is answered by L2. */
  private readonly casFromL2: boolean;
  /**
   * One key's calls in call order (each after the key's previous unsettled
   * call), and flush_all as a barrier: nothing reads L1 before it is flushed.
   */
  private readonly lanes = new KeyLanes();
  /** Per-key order across threads over a shared L1 (`keyLocks`). */
  private readonly locks: KeyLocks | undefined;
  /** The threshold of the latest delayed flush_all (Unix s: items last updated at or before it are flushed once it comes); 0 = none. */
  private flushOldest = 0;
  /** Keys (latin1) whose L1 copy may be stale: L2 changed and L1 could be told neither the change nor to drop its copy. */
  private readonly doubtful = new Set<string>();
  /** L1 as a whole is in doubt while these differ: bumped when too many keys are, caught up by a flush_all of L1. */
  private l1DoubtGen = 0;
  private l1FlushedGen = 0;
  private l1Flushing = false;
  private closed = false;

  constructor(l1: Handler, l2: Handler, options: L1L2Options = {}) {
    this.l1 = l1;
    this.l2 = l2;
    this.batch = options.batch ?? false;
    this.onL1Error = options.onL1Error ?? (() => {});
    this.clock = options.clock;
    this.keepsNewCas = l2.keepsNewCas;
    this.casFromL2 = l1.keepsNewCas !== true;
    this.locks = options.keyLocks === undefined ? undefined : new KeyLocks(options.keyLocks);
    // L2 kept a flush_all across a restart that still applies: L1 gets the same threshold before any call.
    const at = l2.pendingFlush?.();
    if (at !== undefined) {
      if (this.clock !== undefined) this.flushOldest = at - 1;
      attempt(
        () => l1.flush(at),
        (err) => this.onL1Error(err),
      );
    }
  }

  /** Now in Unix seconds while a delayed flush_all is known (else 0: no clock read). Taken when an L2 call starts. */
  private since(): number {
    return this.flushOldest === 0 ? 0 : Math.floor(this.clock!() / 1000);
  }

  /**
   * Whether the threshold of a delayed flush_all came between `since` (when
   * the L2 call started) and now: L2's item may be flushed already, while a
   * copy L1 wrote now would be newer than the threshold and outlive it.
   */
  private crossedFlush(since: number): boolean {
    const o = this.flushOldest;
    return o !== 0 && since <= o && o <= Math.floor(this.clock!() / 1000);
  }

  /**
   * Write L2's answer into L1 (`f`), unless a flush_all's threshold came
   * meanwhile: then L1's copy goes. Checked again once L1 has answered (an
   * asynchronous L1 may apply the write after the threshold); the key's
   * lane is held until then, so no read sees the copy in between.
   */
  private l1Write(cmd: KeyCommand, since: number, f: () => MaybePromise<unknown>): MaybePromise<void> {
    if (this.crossedFlush(since)) return this.l1Apply(cmd, () => this.l1Delete(cmd));
    return this.l1Apply(cmd, () => andThen(f(), (r) => (this.flushOldest !== 0 && this.crossedFlush(since) ? this.l1Delete(cmd) : r)));
  }

  /** Delete L1's copy of the client command's key (a key the client sent base64 goes to L1 the same way). */
  private l1Delete(cmd: KeyCommand): MaybePromise<DeleteOutcome> {
    return this.l1.delete({ key: cmd.key, keyBinary: cmd.keyBinary });
  }

  /**
   * The exptime L1 gets for a client's wire exptime: with the tiers' clock,
   * the absolute time, fixed now (never later than the one L2 computes when
   * the call reaches it); without, the wire exptime itself.
   */
  private l1Exptime(exptime: number): number {
    const clock = this.clock;
    return clock === undefined || exptime === 0 ? exptime : wireExptime(absoluteExptime(exptime, Math.floor(clock() / 1000)));
  }

  /**
   * A change to `key` in both tiers, in the key's lane; with `keyLocks`, made
   * holding the key's stripe lock too, so that no other thread's call on the
   * stripe comes between its L2 and L1 steps.
   */
  private change<T>(key: Buffer, f: () => MaybePromise<T>): MaybePromise<T> {
    const locks = this.locks;
    return this.lanes.run(key, locks === undefined ? f : () => locks.change(locks.stripe(key), f));
  }

  // -- bookkeeping -----------------------------------------------------------

  /** Best-effort L1 update after L2 accepted a change; on failure the L1 copy goes. */
  private l1Apply(cmd: KeyCommand, f: () => MaybePromise<unknown>): MaybePromise<void> {
    // A copy in doubt is only ever deleted: an update of it (touch, append) could keep a stale value.
    if (this.doubtful.size !== 0 && this.doubtful.has(cmd.key.toString('latin1'))) return this.dropL1(cmd);
    const onError = (err: unknown): MaybePromise<void> => {
      this.onL1Error(err);
      return this.dropL1(cmd);
    };
    return attempt(() => andThen(f(), () => undefined), onError);
  }

  /** Delete L1's copy of `key`; when that fails too, the copy is in doubt. */
  private dropL1(cmd: KeyCommand): MaybePromise<void> {
    const key = cmd.key;
    return attempt(
      () =>
        andThen(this.l1Delete(cmd), () => {
          if (this.doubtful.size !== 0) this.doubtful.delete(key.toString('latin1'));
        }),
      (e) => {
        this.onL1Error(e);
        if (this.doubtful.size < MAX_DOUBTFUL_KEYS && this.l1DoubtGen === this.l1FlushedGen) this.doubtful.add(key.toString('latin1'));
        else this.doubtL1();
      },
    );
  }

  /** Whether L1's copy of `key` may be stale (then L2 answers for it). */
  private inDoubt(key: Buffer): boolean {
    return this.l1DoubtGen !== this.l1FlushedGen || (this.doubtful.size !== 0 && this.doubtful.has(key.toString('latin1')));
  }

  /** Too many copies in doubt to track: read nothing from L1 until a flush_all has emptied it. */
  private doubtL1(): void {
    this.l1DoubtGen++;
    if (!this.l1Flushing) this.flushL1();
  }

  private flushL1(): void {
    if (this.closed) return;
    this.l1Flushing = true;
    const gen = this.l1DoubtGen;
    const retry = (err: unknown) => {
      this.onL1Error(err);
      setTimeout(() => this.flushL1(), L1_FLUSH_RETRY_MS).unref();
    };
    attempt(
      () =>
        andThen(this.l1.flush(0), () => {
          // Every copy in doubt up to `gen` is gone; doubts raised meanwhile need another flush.
          this.l1FlushedGen = gen;
          this.doubtful.clear();
          if (this.l1DoubtGen !== gen) this.flushL1();
          else this.l1Flushing = false;
        }),
      retry,
    );
  }

  /**
   * Copy the item L2 answered `cmd` with (in a call started at `since`) into
   * L1, with L2's TTL and CAS, and the key form L2 reports (else the client's).
   */
  private fill(cmd: KeyCommand, item: ItemView, mode: 'set' | 'replace', since: number): MaybePromise<void> {
    return this.l1Write(cmd, since, () =>
      andThen(
        this.l1.store({
          mode,
          key: item.key,
          keyBinary: item.keyBinary ?? cmd.keyBinary,
          value: item.value,
          flags: item.flags,
          exptime: wireExptime(item.exptime),
          newCas: item.cas,
        }),
        l1Stored,
      ),
    );
  }

  /**
   * Copy an item L2 answered a read with into L1. With `keyLocks` (`stripe`
   * not -1), only if the stripe's generation is still `gen`, the one read
   * before L2 was asked: else a change since may have reached L1 already,
   * which the copy would overwrite with an older item.
   */
  private fillRead(cmd: KeyCommand, item: ItemView, since: number, stripe: number, gen: number): MaybePromise<void> {
    if (stripe < 0) return this.fill(cmd, item, 'set', since);
    return this.locks!.ifUnchanged(stripe, gen, () => this.fill(cmd, item, 'set', since), undefined);
  }

  /** Whether L2 must answer `cmd`: its reply shows the CAS unique, and L1's copies carry CAS uniques of their own. */
  private casFromL2Only(cmd: GetCommand): boolean {
    return this.casFromL2 && cmd.want !== undefined && (cmd.want & ItemFacts.CAS) !== 0;
  }

  // -- reads -----------------------------------------------------------------

  /** A failed L1 read is reported and taken as a miss, so L2 answers it (an L1 failure never fails a request). */
  private readonly l1Miss = (err: unknown): undefined => {
    this.onL1Error(err);
    return undefined;
  };

  private l1Get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    // A copy in doubt is not read: L2 answers, and the fill that follows deletes it from L1.
    if ((this.doubtful.size !== 0 || this.l1DoubtGen !== this.l1FlushedGen) && this.inDoubt(cmd.key)) return undefined;
    let r: MaybePromise<ItemView | undefined>;
    try {
      r = this.l1.get(cmd);
    } catch (err) {
      return this.l1Miss(err);
    }
    return isPromise(r) ? r.catch(this.l1Miss) : r;
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.lanes.run(cmd.key, () => {
      // gat must reach L2 (the TTL authority); the meta anti-dogpile options are decided by L2 too.
      if (cmd.touch !== undefined || cmd.vivify !== undefined || cmd.recache !== undefined) return this.getFromL2(cmd, true);
      // A CAS unique shown to the client must be one L2 accepts.
      if (this.casFromL2Only(cmd)) return this.getFromL2(cmd, false);
      return andThen(this.l1Get(cmd), (hit) => (hit !== undefined ? hit : this.getFromL2(cmd, false)));
    });
  }

  private getFromL2(cmd: GetCommand, touchL1: boolean): MaybePromise<ItemView | undefined> {
    const locks = this.locks;
    if (locks === undefined) return this.readL2(cmd, touchL1, -1, 0);
    const stripe = locks.stripe(cmd.key);
    // gat and the meta anti-dogpile options change L2's item: a change, like a write.
    if (touchL1) return locks.change(stripe, () => this.readL2(cmd, true, -1, 0));
    return this.readL2(cmd, false, stripe, locks.generation(stripe));
  }

  /** Ask L2 and bring L1 in line with its answer; a plain read's copy is guarded by `stripe`'s `gen` (see fillRead). */
  private readL2(cmd: GetCommand, touchL1: boolean, stripe: number, gen: number): MaybePromise<ItemView | undefined> {
    const since = this.since();
    return andThen(this.l2.get(cmd), (item) => {
      if (item === undefined) {
        // A gat miss in L2 means the item is gone: do not let L1 keep serving it.
        return touchL1
          ? andThen(
              this.l1Apply(cmd, () => this.l1Delete(cmd)),
              () => undefined,
            )
          : undefined;
      }
      // Vivified placeholders and stale items are L2 protocol state; keep them out of L1.
      if (item.stale || item.win || item.tokenSent) {
        return andThen(
          this.l1Apply(cmd, () => this.l1Delete(cmd)),
          () => item,
        );
      }
      // Batch: a plain read leaves L1 alone, but a gat's new TTL must reach a copy L1 holds.
      if (this.batch) return touchL1 ? andThen(this.fill(cmd, item, 'replace', since), () => item) : item;
      return andThen(this.fillRead(cmd, item, since, stripe, gen), () => item);
    });
  }

  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const n = cmds.length;
    const out: (ItemView | undefined)[] = new Array(n);
    const misses: number[] = [];
    const waits: Promise<unknown>[] = [];
    /** Keys read here rather than through `get` (which keeps its own lane). */
    let direct = 0;
    for (let i = 0; i < n; i++) {
      const cmd = cmds[i]!;
      if (cmd.touch !== undefined || !this.lanes.idle) {
        // gat and keys with writes in flight take the one-key path.
        const r = this.get(cmd);
        if (isPromise(r)) waits.push(r.then((v) => (out[i] = v)));
        else out[i] = r;
        continue;
      }
      direct++;
      if (this.casFromL2Only(cmd)) {
        // Its CAS must be L2's: L2 reads it with the misses.
        misses.push(i);
        continue;
      }
      const r = this.l1Get(cmd);
      if (isPromise(r)) waits.push(r.then((v) => (v === undefined ? misses.push(i) : (out[i] = v))));
      else if (r === undefined) misses.push(i);
      else out[i] = r;
    }
    const fetchMisses = (): MaybePromise<(ItemView | undefined)[]> => {
      if (misses.length === 0) return out;
      // Asynchronous L1 misses arrive in any order; L2 reads them in the client's (the same key
      // twice: the first read wins a recache token, the second sees it taken).
      if (waits.length > 0) misses.sort((a, b) => a - b);
      const l2cmds = misses.map((i) => cmds[i]!);
      const locks = this.locks;
      // With keyLocks, each miss's stripe and its generation before L2 is asked (fillRead).
      const stripes = locks === undefined ? undefined : l2cmds.map((c) => locks.stripe(c.key));
      const gens = locks === undefined ? undefined : stripes!.map((s) => locks.generation(s));
      const since = this.since();
      const l2 = this.l2.getMany ? this.l2.getMany(l2cmds) : Promise.all(l2cmds.map((c) => this.l2.get(c)));
      return andThen(l2, (items) => {
        const fills: Promise<unknown>[] = [];
        for (let j = 0; j < misses.length; j++) {
          const item = items[j];
          out[misses[j]!] = item;
          if (item !== undefined && !this.batch && !item.stale && !item.win && !item.tokenSent) {
            const f = this.fillRead(
              cmds[misses[j]!]!,
              item,
              since,
              stripes === undefined ? -1 : stripes[j]!,
              gens === undefined ? 0 : gens[j]!,
            );
            if (isPromise(f)) fills.push(f);
          }
        }
        return fills.length > 0 ? Promise.all(fills).then(() => out) : out;
      });
    };
    const r = waits.length > 0 ? Promise.all(waits).then(fetchMisses) : fetchMisses();
    if (direct > 0 && isPromise(r)) {
      // Until the batch has settled (its L2 copies written into L1 included), a later call on one of
      // its keys waits for it: a write issued after this read must not be overwritten by its fill.
      for (let i = 0; i < n; i++) {
        const cmd = cmds[i]!;
        if (cmd.touch === undefined && !this.lanes.has(cmd.key)) this.lanes.track(cmd.key, r);
      }
    }
    return r;
  }

  // -- writes ----------------------------------------------------------------

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const exptime = this.l1Exptime(cmd.exptime);
    return this.change(cmd.key, () => {
      const since = this.since();
      return andThen(this.l2.store(cmd), (outcome) => {
        if (!isItem(outcome)) {
          // A store refused for size or memory may have unlinked L2's old item (memcached does for a
          // set, so that no stale value outlives the write): L1's copy goes too.
          if (outcome !== 'TOO_LARGE' && outcome !== 'OUT_OF_MEMORY') return outcome;
          return andThen(
            this.l1Apply(cmd, () => this.l1Delete(cmd)),
            () => outcome,
          );
        }
        if (cmd.invalidate || outcome.stale) {
          // An invalidated (stale) item is L2 protocol state: L1 must not serve it.
          return andThen(
            this.l1Apply(cmd, () => this.l1Delete(cmd)),
            () => outcome,
          );
        }
        const mode = cmd.mode === 'append' || cmd.mode === 'prepend' ? cmd.mode : this.batch ? 'replace' : 'set';
        return andThen(
          this.l1Write(cmd, since, () =>
            // NOT_STORED: L1 did not hold the item it was asked to extend or replace; nothing stale remains.
            andThen(
              this.l1.store({
                mode,
                key: cmd.key,
                keyBinary: cmd.keyBinary,
                value: cmd.value,
                flags: cmd.flags,
                exptime,
                newCas: outcome.cas,
              }),
              l1Stored,
            ),
          ),
          () => outcome,
        );
      });
    });
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    const touch = cmd.touch === undefined ? undefined : this.l1Exptime(cmd.touch);
    return this.change(cmd.key, () => {
      const since = this.since();
      return andThen(this.l2.arithmetic(cmd), (outcome) => {
        if (!isItem(outcome)) return outcome;
        // A counter L2 just created holds exactly the digits: copy it.
        if (outcome.created === true) return andThen(this.fill(cmd, outcome, this.batch ? 'replace' : 'set', since), () => outcome);
        // An updated one may not: memcached writes shorter digits in place, space-padded to the old
        // length, and the reply carries the digits alone. So L1 applies the same change to its copy
        // (none: nothing to do); a result other than L2's drops the copy.
        const l1cmd: ArithmeticCommand = {
          key: cmd.key,
          keyBinary: cmd.keyBinary,
          incr: cmd.incr,
          delta: cmd.delta,
          newCas: outcome.cas,
          touch,
        };
        return andThen(
          this.l1Write(cmd, since, () =>
            andThen(this.l1.arithmetic(l1cmd), (l1) => {
              if (l1 === 'NOT_FOUND' || (isItem(l1) && l1.value.equals(outcome.value))) return;
              throw new Error(`L1 ${cmd.incr ? 'incr' : 'decr'}: ${isItem(l1) ? "a result other than L2's" : l1}`);
            }),
          ),
          () => outcome,
        );
      });
    });
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.change(cmd.key, () =>
      andThen(this.l2.delete(cmd), (outcome) => {
        if (outcome === 'EXISTS') return outcome;
        // Deleted or invalidated in L2 (or already absent there): L1 must not keep a copy.
        return andThen(
          this.l1Apply(cmd, () => this.l1Delete(cmd)),
          () => outcome,
        );
      }),
    );
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    const exptime = this.l1Exptime(cmd.exptime);
    return this.change(cmd.key, () =>
      andThen(this.l2.touch(cmd), (outcome) =>
        andThen(
          this.l1Apply(cmd, () =>
            outcome === 'TOUCHED' ? this.l1.touch({ key: cmd.key, keyBinary: cmd.keyBinary, exptime }) : this.l1Delete(cmd),
          ),
          () => outcome,
        ),
      ),
    );
  }

  flush(delay: number): MaybePromise<void> {
    // A barrier: calls already issued run first (they were before the flush); later ones wait for it.
    return this.lanes.barrier(() => {
      // With the tiers' clock a delay reaches both as one absolute time, fixed when the flush runs: the
      // tiers flush the same items even if L2 applies it a second before L1 does.
      const clock = this.clock;
      const at = delay > 0 && clock !== undefined ? wireExptime(absoluteExptime(delay, Math.floor(clock() / 1000))) : delay;
      // Remembered so that an L1 write straddling the threshold is dropped (crossedFlush). Every call
      // issued before this flush has settled; an immediate one leaves nothing to straddle.
      this.flushOldest = clock !== undefined && at > 0 ? at - 1 : 0;
      const both = () => andThen(this.l2.flush(at), () => this.l1.flush(at));
      // Across threads: after every change in progress, and no copy read from L2 before it reaches L1 after it.
      return this.locks === undefined ? both() : this.locks.changeAll(both);
    });
  }

  /**
   * Every group is L1's figures as they are and L2's under an `l2_` prefix
   * (`l2_curr_items`, `l2_items:1:number`, `l2_maxbytes`); `reset` resets
   * both. A tier whose stats fail is left out rather than failing the reply.
   */
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    const ask = (h: Handler) =>
      attempt(
        () => h.stats?.(group),
        () => undefined,
      );
    return andThen(all([ask(this.l1), ask(this.l2)]), ([s1, s2]) => {
      if (!s1 && !s2) return undefined;
      const out: StatsGroup = { ...s1 };
      if (s2) for (const k in s2) out[`l2_${k}`] = s2[k]!;
      return out;
    });
  }

  /**
   * memcached's admin commands go to L2, the store of record: a key dump
   * lists what L2 holds, and L1 (copies of L2's items) is neither dumped nor
   * tuned. Without admin commands in L2, `undefined`.
   */
  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    return this.l2.admin?.(cmd);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.l1.close(), this.l2.close()]);
  }
}

/** `listenAndServe({ listen, handler: l1l2(l1, l2) })`: L1 in front of L2, writes through L2 first. */
export function l1l2(l1: Handler, l2: Handler, options: L1L2Options = {}): L1L2 {
  return new L1L2(l1, l2, options);
}

/** Rend's L1L2Batch, for bulk loaders: writes go to L2 and only replace in L1; reads do not fill L1. */
export function l1l2Batch(l1: Handler, l2: Handler, options: Omit<L1L2Options, 'batch'> = {}): L1L2 {
  return new L1L2(l1, l2, { ...options, batch: true });
}
