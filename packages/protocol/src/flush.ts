/**
 * flush_all's rule, for any store: which items a flush_all has invalidated.
 * Items are never walked on a flush; each is judged when something looks at
 * it, from two facts the store keeps per item: the flush generation it was
 * stored in and its time (memcached's `it->time`, last update or bump).
 *
 * memcached's rules (item_is_flushed, settings.oldest_live): everything last
 * updated at or before oldest_live is invalid once that time has come, so
 * items stored after a delayed flush_all but before it fires are flushed
 * too, and a new flush_all replaces a pending one. A flush "now" also
 * invalidates this second's earlier stores: memcached tells them apart by
 * CAS, a store here by the flush generation, which also holds for items
 * whose CAS came from `newCas`.
 */
import { absoluteExptime } from './exptime.js';

export class FlushRule {
  /** Items whose time is at or before this (Unix s) are invalid once it has passed; 0 = none. */
  private oldestLive = 0;
  /**
   * The generation new items are stored in: bumped by every flush_all that
   * takes effect at once, and whenever a delayed flush_all that has come is
   * replaced by a newer one. (32 bits: 4 billion flush_alls before it wraps.)
   */
  generation = 0;
  /** Items stored in an earlier generation than this were flushed at once. */
  private flushedGen = 0;
  /**
   * Items stored in an earlier generation than `throughGen` and last updated
   * at or before `flushedThrough` (Unix s) were invalidated by a delayed
   * flush_all that has since been replaced.
   */
  private throughGen = 0;
  private flushedThrough = 0;

  /** Whether any flush_all has been issued (until then no item needs the flush checks). */
  get issued(): boolean {
    return this.oldestLive !== 0 || this.generation !== 0;
  }

  /**
   * flush_all with `delay` (0 = now; relative or absolute as exptime) at
   * time `now`. Returns true when it takes effect at once (memcached then
   * consumes a CAS unique).
   */
  flush(delay: number, now: number): boolean {
    const newOldest = delay > 0 ? absoluteExptime(delay, now) : now;
    if (this.oldestLive !== 0 && this.oldestLive <= now) {
      // The threshold being replaced has come: what it flushed stays flushed.
      // (memcached forgets it, and items its crawler has not reclaimed yet
      // come back until the new threshold comes.)
      this.generation++;
      this.throughGen = this.generation;
      this.flushedThrough = this.oldestLive;
    }
    this.oldestLive = newOldest - 1;
    if (this.oldestLive > now) return false;
    this.generation++;
    this.flushedGen = this.generation;
    return true;
  }

  /**
   * memcached's item_is_flushed() for an item stored in generation `gen`
   * whose time is `time`: stored before a flush that took effect at once, or
   * last updated at or before the time of a delayed flush that has come
   * (even if a newer flush_all has replaced it since).
   */
  isFlushed(gen: number, time: number, now: number): boolean {
    if (gen < this.flushedGen) return true;
    if (gen < this.throughGen && time <= this.flushedThrough) return true;
    const oldest = this.oldestLive;
    return oldest !== 0 && oldest <= now && time <= oldest;
  }

  /** A delayed flush_all is waiting for its time to come. */
  comesLater(now: number): boolean {
    return this.oldestLive > now;
  }

  /**
   * The flush_all that still applies to items stored from `now` on: the
   * absolute time a flush_all given it would set the same threshold with
   * (a delayed one not come yet, or one whose threshold is this second).
   */
  pendingAt(now: number): number | undefined {
    return this.oldestLive !== 0 && this.oldestLive >= now ? this.oldestLive + 1 : undefined;
  }

  /** The rule's state as five numbers, for a store that keeps it across restarts. */
  save(): number[] {
    return [this.oldestLive, this.generation, this.flushedGen, this.throughGen, this.flushedThrough];
  }

  /** Take back a state `save` returned. */
  restore(state: readonly number[]): void {
    [this.oldestLive, this.generation, this.flushedGen, this.throughGen, this.flushedThrough] = state as [
      number,
      number,
      number,
      number,
      number,
    ];
  }
}
