/**
 * The store's statistics: every counter in one place (`Counters`, named
 * after memcached's stats and counted as memcached 1.6.18 counts them), and
 * the groups `stats` answers: general (`stats`), settings, items, slabs and
 * sizes. The groups are built only when asked for; commands just bump
 * counters. Only what a store knows is counted here (expired and flushed
 * items found, evictions, refusals for size or memory, items linked); the
 * command counters (cmd_get, get_hits, ...) are the server's, which counts
 * them for every handler from the requests and their outcomes.
 */
import { type StoreCounters, type StatsGroup, storeStats } from '@cleave/protocol';
import type { Lru } from './lru.js';
import type { Slabs } from './slabs.js';
import { COUNTER_NAMES, counterSlots } from './state.js';

/**
 * Every store's counters (protocol's StoreCounters), and the in-memory
 * store's own: slab moves, the crawler, per class. A handler counts in its
 * own slice of the store's counter slices (state.ts); `totals()` sums the
 * slices in use, so threads sharing a store report together.
 */
export class Counters implements StoreCounters {
  /** This handler's slice. */
  private readonly v: Float64Array;
  private readonly slots: number;
  // Per class (items:<n>:...).
  readonly clsEvicted: Float64Array;
  readonly clsEvictedNonzero: Float64Array;
  readonly clsEvictedTime: Float64Array;
  readonly clsEvictedUnfetched: Float64Array;
  readonly clsReclaimed: Float64Array;
  readonly clsExpiredUnfetched: Float64Array;
  readonly clsCrawlerReclaimed: Float64Array;
  readonly clsOutOfMemory: Float64Array;
  readonly clsMovesWithinLru: Float64Array;
  // Commands per class of the item they found or wrote (`stats slabs`' <n>:get_hits, ...); the
  // server counts the totals.
  readonly clsGetHits: Float64Array;
  readonly clsCmdSet: Float64Array;
  readonly clsDeleteHits: Float64Array;
  readonly clsIncrHits: Float64Array;
  readonly clsDecrHits: Float64Array;
  readonly clsCasHits: Float64Array;
  readonly clsCasBadval: Float64Array;
  readonly clsTouchHits: Float64Array;

  /**
   * Counters in slice `slice` of `all` (slices of counterSlots(classes)
   * numbers); `inUse` tells how many slices hold counts.
   */
  constructor(
    private readonly all: Float64Array,
    private readonly classes: number,
    private readonly slice = 0,
    private readonly inUse: () => number = () => 1,
  ) {
    this.slots = counterSlots(classes);
    this.v = all.subarray(slice * this.slots, (slice + 1) * this.slots);
    // The per-class arrays follow the scalars, CLASS_COUNTERS of them.
    const perClass = (i: number) => this.v.subarray(COUNTER_NAMES.length + i * classes, COUNTER_NAMES.length + (i + 1) * classes);
    this.clsEvicted = perClass(0);
    this.clsEvictedNonzero = perClass(1);
    this.clsEvictedTime = perClass(2);
    this.clsEvictedUnfetched = perClass(3);
    this.clsReclaimed = perClass(4);
    this.clsExpiredUnfetched = perClass(5);
    this.clsCrawlerReclaimed = perClass(6);
    this.clsOutOfMemory = perClass(7);
    this.clsMovesWithinLru = perClass(8);
    this.clsGetHits = perClass(9);
    this.clsCmdSet = perClass(10);
    this.clsDeleteHits = perClass(11);
    this.clsIncrHits = perClass(12);
    this.clsDecrHits = perClass(13);
    this.clsCasHits = perClass(14);
    this.clsCasBadval = perClass(15);
    this.clsTouchHits = perClass(16);
  }

  /** Every slice in use summed: what `stats` reports (these counters themselves when they are the only slice). */
  totals(): Counters {
    const n = this.inUse();
    if (n <= 1 && this.slice === 0) return this;
    const sum = new Float64Array(this.slots);
    for (let s = 0; s < n; s++) {
      const base = s * this.slots;
      for (let i = 0; i < this.slots; i++) sum[i]! += this.all[base + i]!;
    }
    return new Counters(sum, this.classes);
  }

  get totalItems(): number {
    return this.v[0]!;
  }
  set totalItems(n: number) {
    this.v[0] = n;
  }
  get getExpired(): number {
    return this.v[1]!;
  }
  set getExpired(n: number) {
    this.v[1] = n;
  }
  get getFlushed(): number {
    return this.v[2]!;
  }
  set getFlushed(n: number) {
    this.v[2] = n;
  }
  get storeTooLarge(): number {
    return this.v[3]!;
  }
  set storeTooLarge(n: number) {
    this.v[3] = n;
  }
  get storeNoMemory(): number {
    return this.v[4]!;
  }
  set storeNoMemory(n: number) {
    this.v[4] = n;
  }
  get evictions(): number {
    return this.v[5]!;
  }
  set evictions(n: number) {
    this.v[5] = n;
  }
  get evictedUnfetched(): number {
    return this.v[6]!;
  }
  set evictedUnfetched(n: number) {
    this.v[6] = n;
  }
  get expiredUnfetched(): number {
    return this.v[7]!;
  }
  set expiredUnfetched(n: number) {
    this.v[7] = n;
  }
  get reclaimed(): number {
    return this.v[8]!;
  }
  set reclaimed(n: number) {
    this.v[8] = n;
  }
  get slabsMoved(): number {
    return this.v[9]!;
  }
  set slabsMoved(n: number) {
    this.v[9] = n;
  }
  get crawlerItemsChecked(): number {
    return this.v[10]!;
  }
  set crawlerItemsChecked(n: number) {
    this.v[10] = n;
  }

  /** `stats reset`: zero the counters (not the contents). */
  reset(): void {
    this.all.fill(0, 0, this.inUse() * this.slots);
  }
}

/** What the groups report besides the counters: the store's settings and its current contents. */
export interface StatsSource {
  readonly counters: Counters;
  readonly maxBytes: number;
  readonly maxItemSize: number;
  readonly pageSize: number;
  readonly slabs: Slabs;
  readonly lru: Lru;
  /** Bytes charged against maxBytes. */
  readonly used: number;
  /** memcached's `bytes`. */
  readonly itemBytes: number;
  /** Bytes charged for the items outside the slabs. */
  readonly largeBytes: number;
  readonly currItems: number;
  /** The background sweep (memcached's LRU crawler) runs on a timer. */
  readonly crawler: boolean;
}

/** `stats`: memcached's storage figures (the server adds the command counters). */
export function generalStats(s: StatsSource): StatsGroup {
  return {
    ...storeStats(s.counters, { maxBytes: s.maxBytes, bytes: s.itemBytes, currItems: s.currItems }),
    slabs_moved: s.counters.slabsMoved,
  };
}

/** `stats settings`: the store's part of memcached's settings. */
export function settingsStats(s: StatsSource): StatsGroup {
  return {
    maxbytes: s.maxBytes,
    evictions: 'on',
    growth_factor: '1.25',
    chunk_size: 48,
    cas_enabled: 'yes',
    item_size_max: s.maxItemSize,
    slab_page_size: s.pageSize,
    slab_chunk_max: s.slabs.chunkMax,
    slab_reassign: 'yes',
    lru_crawler: s.crawler ? 'yes' : 'no',
    lru_maintainer_thread: 'no',
    lru_segmented: 'no',
    flush_enabled: 'yes',
    temp_lru: 'no',
  };
}

/**
 * `stats items`, per class in use. memcached numbers slab classes from 1;
 * items outside the slabs are reported as the class after the last. There
 * is one LRU per class (no hot/warm/cold segments), so those figures are 0.
 */
export function itemStats(s: StatsSource, now: number): StatsGroup {
  const out: StatsGroup = {};
  const c = s.counters;
  const lru = s.lru;
  const large = lru.classCount - 1;
  for (let cls = 0; cls <= large; cls++) {
    const n = lru.items[cls]!;
    if (n === 0) continue;
    const p = `items:${cls + 1}:`;
    out[`${p}number`] = n;
    out[`${p}number_hot`] = 0;
    out[`${p}number_warm`] = 0;
    out[`${p}number_cold`] = n;
    out[`${p}age_hot`] = 0;
    out[`${p}age_warm`] = 0;
    out[`${p}age`] = lru.age(cls, now);
    out[`${p}mem_requested`] = cls === large ? s.largeBytes : n * s.slabs.sizes[cls]!;
    out[`${p}evicted`] = c.clsEvicted[cls]!;
    out[`${p}evicted_nonzero`] = c.clsEvictedNonzero[cls]!;
    out[`${p}evicted_time`] = c.clsEvictedTime[cls]!;
    out[`${p}outofmemory`] = c.clsOutOfMemory[cls]!;
    out[`${p}tailrepairs`] = 0;
    out[`${p}reclaimed`] = c.clsReclaimed[cls]!;
    out[`${p}expired_unfetched`] = c.clsExpiredUnfetched[cls]!;
    out[`${p}evicted_unfetched`] = c.clsEvictedUnfetched[cls]!;
    out[`${p}evicted_active`] = 0;
    out[`${p}crawler_reclaimed`] = c.clsCrawlerReclaimed[cls]!;
    out[`${p}crawler_items_checked`] = c.crawlerItemsChecked;
    out[`${p}lrutail_reflocked`] = 0;
    out[`${p}moves_to_cold`] = 0;
    out[`${p}moves_to_warm`] = 0;
    out[`${p}moves_within_lru`] = c.clsMovesWithinLru[cls]!;
    out[`${p}direct_reclaims`] = 0;
    out[`${p}hits_to_hot`] = 0;
    out[`${p}hits_to_warm`] = 0;
    out[`${p}hits_to_cold`] = 0;
    out[`${p}hits_to_temp`] = 0;
  }
  return out;
}

/** `stats slabs`: pages and chunks per slab class in use, then the totals. */
export function slabStats(s: StatsSource): StatsGroup {
  const out: StatsGroup = {};
  const slabs = s.slabs;
  let active = 0;
  for (let c = 0; c < slabs.classCount; c++) {
    const pages = slabs.pagesOf[c]!;
    if (pages === 0) continue;
    active++;
    const p = `${c + 1}:`;
    const total = pages * slabs.perPage[c]!;
    out[`${p}chunk_size`] = slabs.sizes[c]!;
    out[`${p}chunks_per_page`] = slabs.perPage[c]!;
    out[`${p}total_pages`] = pages;
    out[`${p}total_chunks`] = total;
    out[`${p}used_chunks`] = total - slabs.freeCount(c);
    out[`${p}free_chunks`] = slabs.freeCount(c);
    out[`${p}free_chunks_end`] = 0;
    const k = s.counters;
    out[`${p}get_hits`] = k.clsGetHits[c]!;
    out[`${p}cmd_set`] = k.clsCmdSet[c]!;
    out[`${p}delete_hits`] = k.clsDeleteHits[c]!;
    out[`${p}incr_hits`] = k.clsIncrHits[c]!;
    out[`${p}decr_hits`] = k.clsDecrHits[c]!;
    out[`${p}cas_hits`] = k.clsCasHits[c]!;
    out[`${p}cas_badval`] = k.clsCasBadval[c]!;
    out[`${p}touch_hits`] = k.clsTouchHits[c]!;
  }
  out.active_slabs = active;
  out.total_malloced = s.used;
  return out;
}

/** `stats sizes`: memcached's item size histogram, off as in memcached by default. */
export function sizesStats(): StatsGroup {
  return { sizes_status: 'disabled' };
}
