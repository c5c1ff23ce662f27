/**
 * The store's state outside the item records and slab pages, as numbers in
 * one buffer (the header): table and slab bookkeeping, LRU heads and tails,
 * memory figures, counters, flush_all state, the CAS counter, the sweep
 * cursor and the admin settings. A handler of its own keeps it in an
 * ArrayBuffer; a store shared by threads (shared.ts) in a SharedArrayBuffer
 * that every thread's handler views, so one code path serves both.
 */

// Int32 slots.
/** The store lock's word (shared.ts). */
export const LOCK = 0;
/** Bumped by every flush_all, so other threads reload the flush state. */
export const FLUSH_VERSION = 1;
export const SWEEP_CURSOR = 2;
export const AUTOMOVE = 3;
export const CRAWLER = 4;
export const TOCRAWL = 5;
export const PICK_NEXT = 6;
/** Item records (table.ts): capacity, ids handed out, free id list, items linked, hash. */
export const CAPACITY = 7;
export const HWM = 8;
export const FREE_ID = 9;
export const COUNT = 10;
export const BUCKET_COUNT = 11;
export const SEED = 12;
/** Slab pages (slabs.ts): allocated, indexes handed out, spare and empty stacks. */
export const PAGE_COUNT = 13;
export const PAGE_HIGH = 14;
export const SPARE_TOP = 15;
export const EMPTY_TOP = 16;
/** Set once the store's records and buckets exist. */
export const INITIALIZED = 17;
/** Counter slices handed out to the handlers over the store (see counterSlots). */
export const COUNTER_SLICES = 18;
const I32_SLOTS = 24;

// Float64 slots.
export const USED = 0;
export const ITEM_BYTES = 1;
export const LARGE_BYTES = 2;
export const MAX_BYTES = 3;
/** The next CAS unique (a BigUint64 slot). */
export const CAS_NEXT = 4;
/** FlushRule's five numbers. */
export const FLUSH = 5;
const F64_SLOTS = 10;

/** Per-class Int32 arrays: LRU heads and tails, free chunk counts, pages owned. */
const I32_PER_CLASS = 4;
/** Per-class Uint32 array: the first free chunk. */
const U32_PER_CLASS = 1;
/** Per-class Float64 array: LRU item counts. */
const F64_PER_CLASS = 1;

/**
 * The store's counters (stats.ts) live apart from the header, in slices: a
 * handler counts in a slice of its own and `stats` sums them, so threads
 * sharing a store never write each other's cache lines to count. A slice:
 * the scalar counters in this order, then CLASS_COUNTERS arrays of one
 * number per class.
 */
export const COUNTER_NAMES = [
  'totalItems',
  'getExpired',
  'getFlushed',
  'storeTooLarge',
  'storeNoMemory',
  'evictions',
  'evictedUnfetched',
  'expiredUnfetched',
  'reclaimed',
  'slabsMoved',
  'crawlerItemsChecked',
] as const;
const CLASS_COUNTERS = 17;
/**
 * Slices a shared store reserves. Handlers past that many share slices;
 * counting stays exact (every count is made under the store lock), only
 * slower.
 */
export const COUNTER_SLICES_MAX = 64;

/** Float64 slots of one counter slice for `classes` classes: whole 128-byte blocks, so slices share no cache line. */
export function counterSlots(classes: number): number {
  return Math.ceil((COUNTER_NAMES.length + CLASS_COUNTERS * classes) / 16) * 16;
}

/** Bytes of the header for `classes` classes. */
export function headerBytes(classes: number): number {
  return F64_SLOTS * 8 + classes * F64_PER_CLASS * 8 + I32_SLOTS * 4 + classes * (I32_PER_CLASS + U32_PER_CLASS) * 4;
}

/** One thread's views of a header. */
export class Header {
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly u64: BigUint64Array;
  readonly lruHeads: Int32Array;
  readonly lruTails: Int32Array;
  readonly freeCount: Int32Array;
  readonly pagesOf: Int32Array;
  readonly freeHead: Uint32Array;
  readonly lruItems: Float64Array;

  constructor(
    readonly buffer: ArrayBufferLike,
    classes: number,
  ) {
    this.f64 = new Float64Array(buffer, 0, F64_SLOTS + classes * F64_PER_CLASS);
    this.u64 = new BigUint64Array(buffer, 0, F64_SLOTS);
    this.lruItems = this.f64.subarray(F64_SLOTS, F64_SLOTS + classes);
    const base = this.f64.byteLength;
    this.i32 = new Int32Array(buffer, base, I32_SLOTS + classes * I32_PER_CLASS);
    let p = I32_SLOTS;
    const i32 = (): Int32Array => {
      const a = this.i32.subarray(p, p + classes);
      p += classes;
      return a;
    };
    this.lruHeads = i32();
    this.lruTails = i32();
    this.freeCount = i32();
    this.pagesOf = i32();
    this.freeHead = new Uint32Array(buffer, base + this.i32.byteLength, classes);
  }
}
