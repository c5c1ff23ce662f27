/**
 * What every store counts for `stats`, in memcached's names: the figures
 * only a store knows (expired and flushed items found, evictions, refusals
 * for size or memory, items linked). The command counters (cmd_get,
 * get_hits, ...) are the server's, which counts them for every handler.
 */
import type { StatsGroup } from './handler.js';

export class StoreCounters {
  totalItems = 0;
  getExpired = 0;
  getFlushed = 0;
  storeTooLarge = 0;
  storeNoMemory = 0;
  evictions = 0;
  evictedUnfetched = 0;
  expiredUnfetched = 0;
  reclaimed = 0;

  /** `stats reset`: zero the counters (not the contents). */
  reset(): void {
    this.totalItems = 0;
    this.getExpired = this.getFlushed = 0;
    this.storeTooLarge = this.storeNoMemory = 0;
    this.evictions = this.evictedUnfetched = this.expiredUnfetched = this.reclaimed = 0;
  }
}

/** A store's part of `stats`: its counters, its cap (`limit_maxbytes`) and what it holds now. */
export function storeStats(c: StoreCounters, held: { maxBytes: number; bytes: number; currItems: number }): StatsGroup {
  return {
    get_expired: c.getExpired,
    get_flushed: c.getFlushed,
    store_too_large: c.storeTooLarge,
    store_no_memory: c.storeNoMemory,
    limit_maxbytes: held.maxBytes,
    bytes: held.bytes,
    curr_items: held.currItems,
    total_items: c.totalItems,
    expired_unfetched: c.expiredUnfetched,
    evicted_unfetched: c.evictedUnfetched,
    evicted_active: 0,
    evictions: c.evictions,
    reclaimed: c.reclaimed,
  };
}
