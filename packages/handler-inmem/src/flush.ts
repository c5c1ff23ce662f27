/**
 * flush_all and liveness: which items a flush_all has invalidated, and
 * whether an item is dead (expired or flushed). Items are never walked on a
 * flush; each is judged when something looks at it.
 *
 * memcached's rules (item_is_flushed, settings.oldest_live): everything last
 * updated at or before oldest_live is invalid once that time has come, so
 * items stored after a delayed flush_all but before it fires are flushed
 * too, and a new flush_all replaces a pending one. A flush "now" also
 * invalidates this second's earlier stores: memcached tells them apart by
 * CAS, this store by a flush generation, which also holds for items whose
 * CAS came from `newCas`.
 */
import { absoluteExptime } from './exptime.js';
import { ATIME, EXPTIME, GEN, STRIDE, type ItemTable } from './table.js';

export class FlushState {
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

  constructor(private readonly table: ItemTable) {}

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
   * memcached's item_is_flushed(): stored before a flush that took effect at
   * once, or last updated at or before the time of a delayed flush that has
   * come (even if a newer flush_all has replaced it since).
   */
  isFlushed(id: number, now: number): boolean {
    const u32 = this.table.u32;
    const gen = u32[id * STRIDE + GEN]!;
    if (gen < this.flushedGen) return true;
    const time = u32[id * STRIDE + ATIME]!;
    if (gen < this.throughGen && time <= this.flushedThrough) return true;
    const oldest = this.oldestLive;
    return oldest !== 0 && oldest <= now && time <= oldest;
  }

  /** Expired or flushed: the item is gone for every reader, and its memory can be reclaimed. */
  isDead(id: number, now: number): boolean {
    const e = this.table.f64[id * 8 + EXPTIME]!;
    return (e !== 0 && e <= now) || this.isFlushed(id, now);
  }
}
