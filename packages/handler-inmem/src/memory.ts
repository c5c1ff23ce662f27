/**
 * Where items live and what they cost: memory within `maxBytes`, item bytes
 * in slab chunks or (when too large for a chunk) Buffers of their own,
 * linking and unlinking items, and making room when memory is full —
 * memcached's item allocation with LRU eviction and slab rebalancing, and
 * its LRU crawler (`sweep`).
 *
 * Everything the store holds is charged: slab pages (free chunks
 * included), the item records and hash buckets (by capacity), and large
 * items with their JavaScript overhead (see footprint.ts). When a size
 * class needs a chunk and memory is full, it takes a free chunk, then a
 * page no class uses, then evicts its own least recently used item —
 * unless another class (or the large items) holds items much older, whose
 * page then moves here with the items in it evicted.
 */
import { writeLatin1 } from '@cleave/protocol';
import type { FlushState } from './flush.js';
import { BUCKET_BYTES, META_BYTES, largeFootprint } from './footprint.js';
import type { Lru } from './lru.js';
import { CHUNK_HEADER, type Slabs } from './slabs.js';
import { AUTOMOVE, ITEM_BYTES, LARGE_BYTES, MAX_BYTES, SWEEP_CURSOR, USED, type Header } from './state.js';
import type { Counters } from './stats.js';
import {
  ATIME,
  CAS,
  CLS,
  EXPTIME,
  FETCHED,
  FLAGS,
  GEN,
  KLEN,
  LINKED,
  PREV,
  REF,
  STATE,
  STRIDE,
  VLEN,
  type ItemTable,
  type LargeItem,
} from './table.js';

export class ItemMemory {
  private readonly f: Float64Array;
  private readonly h: Int32Array;

  constructor(
    header: Header,
    private readonly table: ItemTable,
    private readonly slabs: Slabs,
    private readonly lru: Lru,
    /** Items stored outside the slabs, by id (shared with the table, which compares their keys). */
    readonly large: Map<number, LargeItem>,
    /** The class number of items stored outside the slabs. */
    private readonly largeClass: number,
    /** Whether items may be stored outside the slabs (not in a store shared by threads, whose chunks hold any item). */
    private readonly largeAllowed: boolean,
    private readonly flushes: FlushState,
    private readonly counters: Counters,
  ) {
    this.f = header.f64;
    this.h = header.i32;
  }

  /** Bytes charged against maxBytes: pages, records, buckets, large items. */
  get used(): number {
    return this.f[USED]!;
  }
  set used(n: number) {
    this.f[USED] = n;
  }

  /** Bytes attributable to the items themselves (memcached's `bytes`): chunk or large footprint plus record. */
  get itemBytes(): number {
    return this.f[ITEM_BYTES]!;
  }
  set itemBytes(n: number) {
    this.f[ITEM_BYTES] = n;
  }

  /** Bytes charged for the items outside the slabs. */
  get largeBytes(): number {
    return this.f[LARGE_BYTES]!;
  }
  set largeBytes(n: number) {
    this.f[LARGE_BYTES] = n;
  }

  /** The memory limit; `cache_memlimit` changes it (`setMaxBytes`). */
  get maxBytes(): number {
    return this.f[MAX_BYTES]!;
  }

  /** Move a page to a class whose items are much younger than another's oldest (memcached's `slabs automove`). */
  get automove(): boolean {
    return this.h[AUTOMOVE] !== 0;
  }
  set automove(on: boolean) {
    this.h[AUTOMOVE] = on ? 1 : 0;
  }

  /** Set up a new store with limit `maxBytes`, `records` item records and `buckets` hash buckets (once per store). */
  init(maxBytes: number, records: number, buckets: number): void {
    this.f[MAX_BYTES] = maxBytes;
    this.h[SWEEP_CURSOR] = 1;
    this.automove = true;
    this.growRecords(records);
    this.growBuckets(buckets);
  }

  private growRecords(capacity: number): void {
    this.used += (capacity - this.table.capacity) * META_BYTES;
    this.table.growRecords(capacity);
  }

  private growBuckets(n: number): void {
    this.used += (n - this.table.bucketCount) * BUCKET_BYTES;
    this.table.growBuckets(n);
  }

  /** Bytes an item of this key and value length is charged in `bytes`. */
  itemSize(keyLength: number, valueLength: number): number {
    const c = this.slabs.classFor(CHUNK_HEADER + keyLength + valueLength);
    return META_BYTES + (c < 0 ? largeFootprint(keyLength, valueLength) : this.slabs.sizes[c]!);
  }

  /** Whether an item of this size can be held at all within maxBytes. */
  fits(klen: number, vlen: number): boolean {
    const c = this.slabs.classFor(CHUNK_HEADER + klen + vlen);
    if (c >= 0) return true;
    return (
      this.largeAllowed &&
      largeFootprint(klen, vlen) + this.table.capacity * META_BYTES + this.table.bucketCount * BUCKET_BYTES <= this.maxBytes
    );
  }

  private chargeOf(id: number): number {
    const i32 = this.table.i32;
    const c = i32[id * STRIDE + CLS]!;
    return (
      META_BYTES +
      (c === this.largeClass ? largeFootprint(i32[id * STRIDE + KLEN]!, this.table.u32[id * STRIDE + VLEN]!) : this.slabs.sizes[c]!)
    );
  }

  // -------------------------------------------------------------------------
  // Linking and unlinking
  // -------------------------------------------------------------------------

  /**
   * Store a new item whose key and value are `keyCopy` and `valueCopy` (the
   * copies made for the caller, never written again), in slab class `c`
   * (-1: outside the slabs), and link it at its LRU head under hash `h`.
   * Returns false when memory cannot be found.
   */
  link(
    keyCopy: Buffer,
    valueCopy: Buffer,
    h: number,
    c: number,
    flags: number,
    exptime: number,
    stateBits: number,
    cas: bigint,
    now: number,
  ): boolean {
    // The id first: growing the records may evict, and must not drop the
    // page of a chunk already taken for this item.
    const id = this.newId(now);
    if (id === 0) return false;
    const klen = keyCopy.length;
    const vlen = valueCopy.length;
    let ref = 0;
    let cls = c;
    if (c < 0) {
      cls = this.largeClass;
      const f = largeFootprint(klen, vlen);
      if (!this.largeAllowed || !this.reserve(f, now)) {
        this.table.freeId(id);
        this.counters.clsOutOfMemory[cls]!++;
        return false;
      }
      this.used += f;
      this.largeBytes += f;
      this.large.set(id, { key: keyCopy, value: valueCopy });
    } else {
      ref = this.allocChunk(c, now);
      if (ref < 0) {
        this.table.freeId(id);
        this.counters.clsOutOfMemory[c]!++;
        return false;
      }
      const page = this.slabs.pages[this.slabs.pageOf(ref)]!;
      const o = this.slabs.offsetOf(ref) + CHUNK_HEADER;
      page.writeInt32LE(id, o - CHUNK_HEADER);
      // Whole-Buffer copies: Buffer#copy of a sub-range would allocate a view.
      keyCopy.copy(page, o);
      valueCopy.copy(page, o + klen);
    }
    const t = this.table;
    const r = id * STRIDE;
    t.i32[r + CLS] = cls;
    t.u32[r + REF] = ref;
    t.i32[r + KLEN] = klen;
    t.u32[r + VLEN] = vlen;
    t.u32[r + FLAGS] = flags;
    t.f64[id * 8 + EXPTIME] = exptime;
    t.u32[r + ATIME] = now;
    t.u64[id * 8 + CAS] = cas;
    t.i32[r + STATE] = LINKED | stateBits;
    t.u32[r + GEN] = this.flushes.generation;
    t.link(id, h);
    this.lru.add(id);
    this.counters.totalItems++;
    this.itemBytes += this.chargeOf(id);
    const buckets = t.bucketCount;
    if (t.count > buckets && this.used + buckets * BUCKET_BYTES <= this.maxBytes) this.growBuckets(buckets * 2);
    return true;
  }

  /** Remove an item: out of the hash table and its LRU, its chunk or Buffer freed, its id free. */
  unlink(id: number): void {
    const t = this.table;
    t.unlink(id);
    this.lru.remove(id);
    this.itemBytes -= this.chargeOf(id);
    if (t.i32[id * STRIDE + CLS] === this.largeClass) {
      const f = largeFootprint(t.i32[id * STRIDE + KLEN]!, t.u32[id * STRIDE + VLEN]!);
      this.used -= f;
      this.largeBytes -= f;
      this.large.delete(id);
    } else {
      this.slabs.release(t.u32[id * STRIDE + REF]!);
    }
    t.i32[id * STRIDE + STATE] = 0;
    t.freeId(id);
  }

  /**
   * Write a counter's new digits over its value in place, space-padded to
   * the value's length (which they must not exceed), as memcached's
   * do_add_delta does: decr from 10 to 9 stores `9 `.
   */
  rewriteCounter(id: number, digits: string): void {
    const t = this.table;
    const width = t.u32[id * STRIDE + VLEN]!;
    const klen = t.i32[id * STRIDE + KLEN]!;
    let buf: Buffer;
    let o: number;
    if (t.i32[id * STRIDE + CLS] === this.largeClass) {
      // A large item's Buffer may be held by earlier callers: write a new one.
      const key = this.large.get(id)!.key;
      buf = Buffer.allocUnsafeSlow(klen + width);
      key.copy(buf, 0);
      this.large.set(id, { key: buf.subarray(0, klen), value: buf.subarray(klen) });
      o = klen;
    } else {
      const r = t.u32[id * STRIDE + REF]!;
      buf = this.slabs.pages[this.slabs.pageOf(r)]!;
      o = this.slabs.offsetOf(r) + CHUNK_HEADER + klen;
    }
    writeLatin1(buf, digits, o);
    if (width > digits.length) buf.fill(0x20, o + digits.length, o + width);
  }

  // -------------------------------------------------------------------------
  // Making room
  // -------------------------------------------------------------------------

  /** A free item id, growing the records (within the memory limit) or evicting when needed; 0 if impossible. */
  private newId(now: number): number {
    for (;;) {
      const id = this.table.takeId();
      if (id !== 0) return id;
      // Grow by half: spare records are charged, so doubling would waste more.
      const room = Math.floor((this.maxBytes - this.used) / META_BYTES);
      if (room >= 16) {
        const capacity = this.table.capacity;
        this.growRecords(capacity + Math.min(Math.max(16, capacity >> 1), room));
        continue;
      }
      if (!this.reclaimOne(now)) return 0;
    }
  }

  /** Free memory by dropping an empty page, the oldest large item, or the page of the oldest slab item. */
  private reclaimOne(now: number): boolean {
    const empty = this.slabs.takeEmpty();
    if (empty >= 0) {
      this.slabs.drop(empty);
      this.used -= this.slabs.pageSize;
      return true;
    }
    const v = this.lru.oldestClass(-1);
    if (v < 0) return false;
    const id = this.lru.tails[v]!;
    if (v === this.largeClass) {
      this.evict(id, now);
      return true;
    }
    const page = this.slabs.pageOf(this.table.u32[id * STRIDE + REF]!);
    this.evictPage(page, now);
    this.slabs.drop(page);
    this.used -= this.slabs.pageSize;
    return true;
  }

  /** Make room for `bytes` more within maxBytes. */
  private reserve(bytes: number, now: number): boolean {
    while (this.used + bytes > this.maxBytes) {
      if (!this.reclaimOne(now)) return false;
    }
    return true;
  }

  /** A chunk of class `c`, evicting or moving memory as memcached does when full; -1 if impossible. */
  private allocChunk(c: number, now: number): number {
    const slabs = this.slabs;
    const lru = this.lru;
    for (;;) {
      const r = slabs.alloc(c);
      if (r >= 0) return r;
      if (this.used + slabs.pageSize <= this.maxBytes) {
        slabs.addPage(c);
        this.used += slabs.pageSize;
        continue;
      }
      const empty = slabs.takeEmpty();
      if (empty >= 0) {
        slabs.reassign(empty, c);
        this.counters.slabsMoved++;
        continue;
      }
      const own = lru.tails[c]!;
      const v = lru.oldestClass(c);
      if (own !== 0 && (v < 0 || !this.automove || !lru.muchOlder(lru.tails[v]!, own, now))) {
        // The usual case: evict this class's least recently used item.
        this.evict(own, now);
        continue;
      }
      if (v < 0) return -1;
      const victim = lru.tails[v]!;
      if (v === this.largeClass) {
        this.evict(victim, now);
        continue;
      }
      // Another class holds much older items: move one of its pages here
      // (memcached's slab rebalancing), evicting what lives in it.
      const page = slabs.pageOf(this.table.u32[victim * STRIDE + REF]!);
      this.evictPage(page, now);
      slabs.reassign(page, c);
      this.counters.slabsMoved++;
    }
  }

  /**
   * `cache_memlimit`: a new limit. Shrinking drops empty pages, then the
   * pages (and large items) with the oldest items, evicting what lives in
   * them, until the store is within the limit.
   */
  setMaxBytes(bytes: number, now: number): void {
    this.f[MAX_BYTES] = bytes;
    while (this.used > bytes && this.reclaimOne(now)) {}
  }

  /**
   * `slabs reassign`: move the page of class `src` with the fewest items in
   * use to class `dst` (-1: no class, the page is freed), evicting its
   * items. False when `src` has fewer than two pages (memcached's NOSPARE).
   */
  movePage(src: number, dst: number, now: number): boolean {
    const slabs = this.slabs;
    if (slabs.pagesOf[src]! < 2) return false;
    let page = -1;
    for (let p = 0; p < slabs.pageHigh; p++) {
      if (!slabs.inUse(p) || slabs.pageClass[p] !== src) continue;
      if (page < 0 || slabs.pageLive[p]! < slabs.pageLive[page]!) page = p;
    }
    this.evictPage(page, now);
    if (dst < 0) {
      slabs.drop(page);
      this.used -= slabs.pageSize;
    } else {
      slabs.reassign(page, dst);
    }
    this.counters.slabsMoved++;
    return true;
  }

  /**
   * `lru_crawler crawl`: reclaim the expired and flushed items of class
   * `cls`, examining up to `limit` of them from its LRU tail (0: all).
   */
  crawl(cls: number, limit: number, now: number): void {
    const t = this.table;
    const k = this.counters;
    let id = this.lru.tails[cls]!;
    for (let seen = 0; id !== 0 && (limit === 0 || seen < limit); seen++) {
      const towardsHead = t.i32[id * STRIDE + PREV]!;
      k.crawlerItemsChecked++;
      if (this.flushes.isDead(id, now)) this.crawlerReclaim(id);
      id = towardsHead;
    }
  }

  /** Evict every item living in a slab page (its chunks start with the id of their item). */
  private evictPage(page: number, now: number): void {
    const t = this.table;
    const buf = this.slabs.pages[page]!;
    const { first, count } = this.slabs.refsOf(page);
    const size = this.slabs.sizes[this.slabs.pageClass[page]!]!;
    for (let i = 0; i < count; i++) {
      const id = buf.readInt32LE(i * size);
      if (
        id > 0 &&
        id < t.highWater &&
        (t.i32[id * STRIDE + STATE]! & LINKED) !== 0 &&
        t.i32[id * STRIDE + CLS] !== this.largeClass &&
        t.u32[id * STRIDE + REF] === first + i
      ) {
        this.evict(id, now);
      }
    }
  }

  /** Remove an item to make room: an eviction, or a reclaim when it was already dead. */
  private evict(id: number, now: number): void {
    const t = this.table;
    const k = this.counters;
    const c = t.i32[id * STRIDE + CLS]!;
    const unfetched = (t.i32[id * STRIDE + STATE]! & FETCHED) === 0;
    if (this.flushes.isDead(id, now)) {
      k.reclaimed++;
      k.clsReclaimed[c]!++;
      if (unfetched) {
        k.expiredUnfetched++;
        k.clsExpiredUnfetched[c]!++;
      }
    } else {
      k.evictions++;
      k.clsEvicted[c]!++;
      if (unfetched) {
        k.evictedUnfetched++;
        k.clsEvictedUnfetched[c]!++;
      }
      if (t.f64[id * 8 + EXPTIME] !== 0) k.clsEvictedNonzero[c]!++;
      k.clsEvictedTime[c] = now - t.u32[id * STRIDE + ATIME]!;
    }
    this.unlink(id);
  }

  /**
   * memcached's LRU crawler: reclaim expired and flushed items without
   * waiting for a read, examining up to `limit` item slots from where the
   * previous call stopped (a full pass ends the call). Returns the number
   * of items reclaimed.
   */
  sweep(limit: number, now: number): number {
    const t = this.table;
    const k = this.counters;
    let found = 0;
    let id = this.h[SWEEP_CURSOR]!;
    for (let i = 0; i < limit; i++) {
      if (id >= t.highWater) {
        id = 1;
        break;
      }
      if ((t.i32[id * STRIDE + STATE]! & LINKED) !== 0) {
        k.crawlerItemsChecked++;
        if (this.flushes.isDead(id, now)) {
          this.crawlerReclaim(id);
          found++;
        }
      }
      id++;
    }
    this.h[SWEEP_CURSOR] = id;
    return found;
  }

  /** A dead item the crawler found: reclaimed, counted as memcached's crawler counts it. */
  private crawlerReclaim(id: number): void {
    const t = this.table;
    const k = this.counters;
    const c = t.i32[id * STRIDE + CLS]!;
    k.reclaimed++;
    k.clsReclaimed[c]!++;
    k.clsCrawlerReclaimed[c]!++;
    if ((t.i32[id * STRIDE + STATE]! & FETCHED) === 0) {
      k.expiredUnfetched++;
      k.clsExpiredUnfetched[c]!++;
    }
    this.unlink(id);
  }
}
