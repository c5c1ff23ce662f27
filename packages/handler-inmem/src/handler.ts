import { SLAB_CHUNK_MAX, bufferView, memcachedItemSize } from '@cleave/protocol';
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  KeyCommand,
  ItemView,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { turnClock } from './clock.js';
import { absoluteExptime } from './exptime.js';
import { BUCKET_BYTES, META_BYTES, largeFootprint } from './footprint.js';
import { Item } from './item.js';
import { applyDelta, parseCounter } from './numeric.js';
import { CHUNK_HEADER, Slabs } from './slabs.js';

/** Node's Buffer has a direct Latin-1 writer that its typings do not declare. */
interface Latin1Writable {
  latin1Write(s: string, offset: number, length: number): number;
}

function writeLatin1(buf: Buffer, s: string, offset: number): void {
  (buf as unknown as Latin1Writable).latin1Write(s, offset, s.length);
}

export interface InMemoryHandlerOptions {
  /** Memory limit in bytes, memcached's `-m` (default 64 MiB; 64 KiB to 64 GiB): slab pages, item metadata, hash table and large items together. */
  maxBytes?: number;
  /** Largest item, memcached's `-I` (default 1 MiB), counted as memcached does: value + key + 59-byte header (+4 with flags). */
  maxItemSize?: number;
  /** Current time in milliseconds (default `Date.now()`, read once per event-loop turn: `turnClock`); inject one to test expiry. */
  clock?: () => number;
  /** Period of the background expiry sweep in ms (default 1000; 0 = no timer, call `sweep()` yourself). */
  sweepIntervalMs?: number;
  /** Item slots the sweep examines per tick (default 20000): bounds the work done per timer tick. */
  sweepBatch?: number;
  /** First CAS unique handed out (default 1). */
  casStart?: bigint;
}

/** memcached's ITEM_UPDATE_INTERVAL: a fetched item is relinked at the LRU head at most once per 60 s. */
export const ITEM_UPDATE_INTERVAL = 60;
/** Largest slab page (memcached's slab_page_size). */
export const MAX_PAGE_SIZE = 1024 * 1024;
/**
 * Items whose key and value need more than this (or than half a page) live
 * in their own Buffer instead of a slab chunk (memcached's slab_chunk_max).
 */
export const MAX_CHUNK = 512 * 1024;

const U64_MAX = (1n << 64n) - 1n;
const MIN_MAX_BYTES = 64 * 1024;
/** Chunk references hold a 16-bit page number: 65536 pages of 1 MiB. */
const MAX_MAX_BYTES = 64 * 1024 * 1024 * 1024;
const OUT_POOL = 64 * 1024;

// An item's record: 16 int32 slots (64 bytes). Slots 0-11 hold int32/uint32
// fields; bytes 48-55 the exptime (float64 slot 6), 56-63 the CAS (uint64 slot 7).
const STRIDE = 16;
const RECORD_BYTES = STRIDE * 4;
const HNEXT = 0;
const HASH = 1;
const PREV = 2;
const NEXT = 3;
const REF = 4;
const VLEN = 5;
const FLAGS = 6;
const KLEN = 7;
const CLS = 8;
const STATE = 9;
const GEN = 10;
/** memcached's `it->time`: set on store, refreshed by an LRU bump (Unix s, uint32). */
const ATIME = 11;
const EXPTIME = 6;
const CAS = 7;

// Item state bits.
const LINKED = 1;
const FETCHED = 2;
const STALE = 4;
const TOKEN_SENT = 8;
/** Stored through meta with a base64 key: memcached prints it base64 again in mg k and me. */
const KEY_BINARY = 16;

const DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxItemSize: 1024 * 1024,
  sweepIntervalMs: 1000,
  sweepBatch: 20_000,
};

/** An item stored outside the slabs: views of its own Buffer, never written after the item is stored. */
interface LargeItem {
  readonly key: Buffer;
  readonly value: Buffer;
}

/** KEY_BINARY when the command's key came base64-encoded (meta `b`). */
function keyBits(cmd: KeyCommand): number {
  return cmd.keyBinary === true ? KEY_BINARY : 0;
}

function positiveInteger(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`InMemoryHandler: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * The in-memory store: memcached's design in JavaScript. Items live in slab
 * chunks carved from fixed pages, their metadata in typed arrays, found
 * through a hash table of item ids; each slab class keeps an LRU list and
 * evicts from its tail when memory is full, and pages move between classes
 * (or are dropped for large items) when another class's items are much
 * older. Expiry, CAS, counters, flush and the meta protocol's stale, win,
 * vivify and recache rules follow memcached 1.6.
 *
 * Every method answers synchronously. Items returned are snapshots with
 * their own copies of key and value, never changed afterwards.
 */
export class InMemoryHandler implements Handler {
  /** Stores an item with the CAS unique `newCas` gives (meta `E`). */
  readonly keepsNewCas = true;
  readonly maxBytes: number;
  readonly maxItemSize: number;
  /** Slab page size: 1 MiB, or less for small `maxBytes` so memory can move between size classes. */
  readonly pageSize: number;
  private readonly clock: () => number;
  private readonly sweepBatch: number;
  private readonly slabs: Slabs;
  /** Class index used for items stored outside the slabs. */
  private readonly LARGE: number;
  private readonly seed: number;

  // Item metadata, indexed by item id (0 = none).
  private capacity = 0;
  private hwm = 1;
  private readonly freeIds: number[] = [];
  // One 64-byte record per item (a cache line), seen through four views.
  private i32 = new Int32Array(0);
  private u32 = new Uint32Array(0);
  private f64 = new Float64Array(0);
  private u64 = new BigUint64Array(0);
  /** Items stored outside the slabs: key and value views of their own Buffer. */
  private readonly large = new Map<number, LargeItem>();

  private buckets = new Int32Array(0);
  private bucketMask = 0;
  private count = 0;

  /** LRU list heads (most recent) and tails, per class. */
  private readonly heads: Int32Array;
  private readonly tails: Int32Array;
  private readonly classItems: Float64Array;

  /** Bytes charged against maxBytes: pages, metadata, buckets, large items. */
  private used = 0;
  /** Bytes attributable to the items themselves (memcached's `bytes`). */
  private itemBytes = 0;
  private largeBytes = 0;
  private casNext: bigint;

  /** flush_all: items whose time is at or before this (Unix s) are invalid once it has passed; 0 = none. */
  private oldestLive = 0;
  /**
   * The generation new items are stored in: bumped by every flush_all that
   * takes effect at once, and whenever a delayed flush_all that has come is
   * replaced by a newer one. (32 bits: 4 billion flush_alls before it wraps.)
   */
  private flushGen = 0;
  /** Items stored in an earlier generation than this were flushed at once. */
  private flushedGen = 0;
  /**
   * Items stored in an earlier generation than `throughGen` and last updated
   * at or before `flushedThrough` (Unix s) were invalidated by a delayed
   * flush_all that has since been replaced.
   */
  private throughGen = 0;
  private flushedThrough = 0;

  /** Copies handed to callers are carved from this pool, never written twice. */
  private out: Buffer = Buffer.allocUnsafeSlow(OUT_POOL);
  /** `out`'s own ArrayBuffer (allocUnsafeSlow: offset 0): views of it are made without subarray's lookups. */
  private outAb: ArrayBufferLike = this.out.buffer;
  private outPos = 0;
  private outKey: Buffer = this.out;
  private outValue: Buffer = this.out;

  private timer: ReturnType<typeof setInterval> | undefined;
  private sweepCursor = 1;

  // Counters, named after memcached's stats.
  private totalItems = 0;
  private cmdGet = 0;
  private cmdSet = 0;
  private cmdFlush = 0;
  private cmdTouch = 0;
  private getHits = 0;
  private getMisses = 0;
  private getExpired = 0;
  private getFlushed = 0;
  private deleteHits = 0;
  private deleteMisses = 0;
  private incrHits = 0;
  private incrMisses = 0;
  private decrHits = 0;
  private decrMisses = 0;
  private casHits = 0;
  private casMisses = 0;
  private casBadval = 0;
  private touchHits = 0;
  private touchMisses = 0;
  private storeTooLarge = 0;
  private storeNoMemory = 0;
  private evictions = 0;
  private evictedUnfetched = 0;
  private expiredUnfetched = 0;
  private reclaimed = 0;
  private slabsMoved = 0;
  private crawlerItemsChecked = 0;
  // Per class (items:<n>:...).
  private readonly clsEvicted: Float64Array;
  private readonly clsEvictedNonzero: Float64Array;
  private readonly clsEvictedTime: Float64Array;
  private readonly clsEvictedUnfetched: Float64Array;
  private readonly clsReclaimed: Float64Array;
  private readonly clsExpiredUnfetched: Float64Array;
  private readonly clsCrawlerReclaimed: Float64Array;
  private readonly clsOutOfMemory: Float64Array;
  private readonly clsMovesWithinLru: Float64Array;

  constructor(options: InMemoryHandlerOptions = {}) {
    this.maxBytes = positiveInteger('maxBytes', options.maxBytes, DEFAULTS.maxBytes, MIN_MAX_BYTES);
    if (this.maxBytes > MAX_MAX_BYTES) throw new RangeError(`InMemoryHandler: maxBytes must be at most 64 GiB, got ${this.maxBytes}`);
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULTS.maxItemSize, 1);
    this.sweepBatch = positiveInteger('sweepBatch', options.sweepBatch, DEFAULTS.sweepBatch, 1);
    const interval = positiveInteger('sweepIntervalMs', options.sweepIntervalMs, DEFAULTS.sweepIntervalMs, 0);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new TypeError('InMemoryHandler: clock must be a function returning milliseconds');
    }
    this.clock = options.clock ?? turnClock;
    const casStart = options.casStart ?? 1n;
    if (typeof casStart !== 'bigint' || casStart < 1n || casStart > U64_MAX) {
      throw new RangeError(`InMemoryHandler: casStart must be a bigint in 1..2^64-1, got ${String(casStart)}`);
    }
    this.casNext = casStart;
    // At least 128 pages: every size class in use holds at least one, so
    // pages must be small next to maxBytes for memory to be shared well.
    this.pageSize = Math.max(4096, Math.min(MAX_PAGE_SIZE, floorPow2(Math.floor(this.maxBytes / 128))));
    this.slabs = new Slabs(this.pageSize, Math.min(MAX_CHUNK, this.pageSize / 2));
    this.LARGE = this.slabs.classCount;
    const n = this.LARGE + 1;
    this.heads = new Int32Array(n);
    this.tails = new Int32Array(n);
    this.classItems = new Float64Array(n);
    this.clsEvicted = new Float64Array(n);
    this.clsEvictedNonzero = new Float64Array(n);
    this.clsEvictedTime = new Float64Array(n);
    this.clsEvictedUnfetched = new Float64Array(n);
    this.clsReclaimed = new Float64Array(n);
    this.clsExpiredUnfetched = new Float64Array(n);
    this.clsCrawlerReclaimed = new Float64Array(n);
    this.clsOutOfMemory = new Float64Array(n);
    this.clsMovesWithinLru = new Float64Array(n);
    // A per-process seed keeps chosen keys from piling into one hash chain.
    this.seed = (Math.random() * 0x100000000) | 0;
    this.growMeta(64);
    this.growBuckets(64);
    if (interval > 0) {
      this.timer = setInterval(() => this.sweep(), interval);
      this.timer.unref();
    }
  }

  /** Bytes of item data and metadata currently held (the `bytes` stat). */
  get bytes(): number {
    return this.itemBytes;
  }

  /** Bytes charged against `maxBytes`: slab pages (free chunks included), metadata, hash table, large items. */
  get memoryUsed(): number {
    return this.used;
  }

  /** Items currently held (expired ones not yet reclaimed included, as memcached's curr_items). */
  get size(): number {
    return this.count;
  }

  /** Bytes an item with this key and value length is charged in `bytes`. */
  itemSize(keyLength: number, valueLength: number): number {
    const c = this.slabs.classFor(CHUNK_HEADER + keyLength + valueLength);
    return META_BYTES + (c < 0 ? largeFootprint(keyLength, valueLength) : this.slabs.sizes[c]!);
  }

  // -------------------------------------------------------------------------
  // Time, CAS, memory
  // -------------------------------------------------------------------------

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  private nextCas(): bigint {
    const c = this.casNext;
    // 64-bit CAS uniques wrap like memcached's uint64_t counter, skipping 0 ("no CAS").
    this.casNext = c === U64_MAX ? 1n : c + 1n;
    return c;
  }

  private growMeta(capacity: number): void {
    const old = this.capacity;
    const ab = new ArrayBuffer(capacity * RECORD_BYTES);
    new Uint8Array(ab).set(new Uint8Array(this.i32.buffer));
    this.i32 = new Int32Array(ab);
    this.u32 = new Uint32Array(ab);
    this.f64 = new Float64Array(ab);
    this.u64 = new BigUint64Array(ab);
    this.used += (capacity - old) * META_BYTES;
    this.capacity = capacity;
  }

  private growBuckets(n: number): void {
    const old = this.buckets.length;
    const buckets = new Int32Array(n);
    const mask = n - 1;
    const i32 = this.i32;
    for (let b = 0; b < old; b++) {
      let id = this.buckets[b]!;
      while (id !== 0) {
        const r = id * STRIDE;
        const nx = i32[r + HNEXT]!;
        const nb = i32[r + HASH]! & mask;
        i32[r + HNEXT] = buckets[nb]!;
        buckets[nb] = id;
        id = nx;
      }
    }
    this.buckets = buckets;
    this.bucketMask = mask;
    this.used += (n - old) * BUCKET_BYTES;
  }

  /** A free item id, growing the metadata (within the memory limit) or evicting when needed; 0 if impossible. */
  private newId(now: number): number {
    for (;;) {
      const free = this.freeIds.pop();
      if (free !== undefined) return free;
      if (this.hwm < this.capacity) return this.hwm++;
      // Grow by half: spare slots are charged, so doubling would waste more.
      const room = Math.floor((this.maxBytes - this.used) / META_BYTES);
      if (room >= 16) {
        this.growMeta(this.capacity + Math.min(Math.max(16, this.capacity >> 1), room));
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
      this.used -= this.pageSize;
      return true;
    }
    const v = this.oldestClass(-1);
    if (v < 0) return false;
    const id = this.tails[v]!;
    if (v === this.LARGE) {
      this.evict(id, now);
      return true;
    }
    const page = this.slabs.pageOf(this.u32[id * STRIDE + REF]!);
    this.evictPage(page, now);
    this.slabs.drop(page);
    this.used -= this.pageSize;
    return true;
  }

  /** Make room for `bytes` more within maxBytes. */
  private reserve(bytes: number, now: number): boolean {
    while (this.used + bytes > this.maxBytes) {
      if (!this.reclaimOne(now)) return false;
    }
    return true;
  }

  /** The class (other than `except`) whose LRU tail was touched longest ago, or -1 when all are empty. */
  private oldestClass(except: number): number {
    let best = -1;
    let bestTime = Infinity;
    const tails = this.tails;
    const u32 = this.u32;
    for (let c = 0; c <= this.LARGE; c++) {
      if (c === except) continue;
      const t = tails[c]!;
      if (t !== 0 && u32[t * STRIDE + ATIME]! < bestTime) {
        bestTime = u32[t * STRIDE + ATIME]!;
        best = c;
      }
    }
    return best;
  }

  /** A chunk of class `c`, evicting or moving memory as memcached does when full; -1 if impossible. */
  private allocChunk(c: number, now: number): number {
    const slabs = this.slabs;
    for (;;) {
      const r = slabs.alloc(c);
      if (r >= 0) return r;
      if (this.used + this.pageSize <= this.maxBytes) {
        slabs.addPage(c);
        this.used += this.pageSize;
        continue;
      }
      const empty = slabs.takeEmpty();
      if (empty >= 0) {
        slabs.reassign(empty, c);
        this.slabsMoved++;
        continue;
      }
      const own = this.tails[c]!;
      const v = this.oldestClass(c);
      if (own !== 0 && (v < 0 || !this.muchOlder(this.tails[v]!, own, now))) {
        // The usual case: evict this class's least recently used item.
        this.evict(own, now);
        continue;
      }
      if (v < 0) return -1;
      const victim = this.tails[v]!;
      if (v === this.LARGE) {
        this.evict(victim, now);
        continue;
      }
      // Another class holds much older items: move one of its pages here
      // (memcached's slab rebalancing), evicting what lives in it.
      const page = slabs.pageOf(this.u32[victim * STRIDE + REF]!);
      this.evictPage(page, now);
      slabs.reassign(page, c);
      this.slabsMoved++;
    }
  }

  /** Whether item `a` (another class's tail) is old enough, compared with `b`, to take memory from its class. */
  private muchOlder(a: number, b: number, now: number): boolean {
    const ageA = now - this.u32[a * STRIDE + ATIME]!;
    const ageB = now - this.u32[b * STRIDE + ATIME]!;
    return ageA > 2 * ageB + ITEM_UPDATE_INTERVAL;
  }

  /** Evict every item living in a slab page. */
  private evictPage(page: number, now: number): void {
    const buf = this.slabs.pages[page]!;
    const { first, count } = this.slabs.refsOf(page);
    const size = this.slabs.sizes[this.slabs.pageClass[page]!]!;
    for (let i = 0; i < count; i++) {
      const id = buf.readInt32LE(i * size);
      if (id > 0 && id < this.hwm && (this.i32[id * STRIDE + STATE]! & LINKED) !== 0 && this.i32[id * STRIDE + CLS] !== this.LARGE && this.u32[id * STRIDE + REF] === first + i) {
        this.evict(id, now);
      }
    }
  }

  /** Remove an item to make room: an eviction, or a reclaim when it was already dead. */
  private evict(id: number, now: number): void {
    const c = this.i32[id * STRIDE + CLS]!;
    const unfetched = (this.i32[id * STRIDE + STATE]! & FETCHED) === 0;
    if (this.isDead(id, now)) {
      this.reclaimed++;
      this.clsReclaimed[c]!++;
      if (unfetched) {
        this.expiredUnfetched++;
        this.clsExpiredUnfetched[c]!++;
      }
    } else {
      this.evictions++;
      this.clsEvicted[c]!++;
      if (unfetched) {
        this.evictedUnfetched++;
        this.clsEvictedUnfetched[c]!++;
      }
      if (this.f64[id * 8 + EXPTIME] !== 0) this.clsEvictedNonzero[c]!++;
      this.clsEvictedTime[c] = now - this.u32[id * STRIDE + ATIME]!;
    }
    this.unlink(id);
  }

  // -------------------------------------------------------------------------
  // Hash table and LRU
  // -------------------------------------------------------------------------

  private hashOf(key: Buffer): number {
    let h = this.seed;
    const n = key.length;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ key[i]!, 0x01000193);
    // murmur3's finaliser: spread the bits over the bucket mask.
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return h ^ (h >>> 16);
  }

  private keyEquals(id: number, key: Buffer): boolean {
    const n = key.length;
    if (this.i32[id * STRIDE + KLEN] !== n) return false;
    let buf: Buffer;
    let o: number;
    if (this.i32[id * STRIDE + CLS] === this.LARGE) {
      buf = this.large.get(id)!.key;
      o = 0;
    } else {
      const r = this.u32[id * STRIDE + REF]!;
      buf = this.slabs.pages[this.slabs.pageOf(r)]!;
      o = this.slabs.offsetOf(r) + CHUNK_HEADER;
    }
    for (let i = 0; i < n; i++) if (buf[o + i] !== key[i]) return false;
    return true;
  }

  private lookup(key: Buffer, h: number): number {
    let id = this.buckets[h & this.bucketMask]!;
    const i32 = this.i32;
    while (id !== 0) {
      if (i32[id * STRIDE + HASH] === h && this.keyEquals(id, key)) return id;
      id = i32[id * STRIDE + HNEXT]!;
    }
    return 0;
  }

  /**
   * memcached's item_is_flushed(): stored before a flush that took effect at
   * once (memcached compares CAS uniques; a generation number also holds
   * for items whose CAS came from `newCas`), or last updated at or before
   * the time of a delayed flush that has come (even if a newer flush_all
   * has replaced it since).
   */
  private isFlushed(id: number, now: number): boolean {
    const gen = this.u32[id * STRIDE + GEN]!;
    if (gen < this.flushedGen) return true;
    const time = this.u32[id * STRIDE + ATIME]!;
    if (gen < this.throughGen && time <= this.flushedThrough) return true;
    const oldest = this.oldestLive;
    return oldest !== 0 && oldest <= now && time <= oldest;
  }

  private isDead(id: number, now: number): boolean {
    const e = this.f64[id * 8 + EXPTIME]!;
    return (e !== 0 && e <= now) || this.isFlushed(id, now);
  }

  /**
   * The live item for a key (hash `h`). An expired or flushed one is unlinked
   * on the spot and counted as memcached's do_item_get() does, whatever the
   * command.
   */
  private find(key: Buffer, h: number, now: number): number {
    const id = this.lookup(key, h);
    if (id === 0) return 0;
    const e = this.f64[id * 8 + EXPTIME]!;
    if (e !== 0 && e <= now) {
      this.unlink(id);
      this.getExpired++;
      return 0;
    }
    if ((this.oldestLive !== 0 || this.flushGen !== 0) && this.isFlushed(id, now)) {
      this.unlink(id);
      this.getFlushed++;
      return 0;
    }
    return id;
  }

  private listRemove(id: number): void {
    const c = this.i32[id * STRIDE + CLS]!;
    const p = this.i32[id * STRIDE + PREV]!;
    const n = this.i32[id * STRIDE + NEXT]!;
    if (p === 0) this.heads[c] = n;
    else this.i32[p * STRIDE + NEXT] = n;
    if (n === 0) this.tails[c] = p;
    else this.i32[n * STRIDE + PREV] = p;
    this.i32[id * STRIDE + PREV] = 0;
    this.i32[id * STRIDE + NEXT] = 0;
  }

  private listPushHead(id: number): void {
    const c = this.i32[id * STRIDE + CLS]!;
    const h = this.heads[c]!;
    this.i32[id * STRIDE + PREV] = 0;
    this.i32[id * STRIDE + NEXT] = h;
    if (h === 0) this.tails[c] = id;
    else this.i32[h * STRIDE + PREV] = id;
    this.heads[c] = id;
  }

  private chargeOf(id: number): number {
    const c = this.i32[id * STRIDE + CLS]!;
    return META_BYTES + (c === this.LARGE ? largeFootprint(this.i32[id * STRIDE + KLEN]!, this.u32[id * STRIDE + VLEN]!) : this.slabs.sizes[c]!);
  }

  private unlink(id: number): void {
    // Out of the hash chain.
    const b = this.i32[id * STRIDE + HASH]! & this.bucketMask;
    let cur = this.buckets[b]!;
    if (cur === id) this.buckets[b] = this.i32[id * STRIDE + HNEXT]!;
    else {
      while (this.i32[cur * STRIDE + HNEXT] !== id) cur = this.i32[cur * STRIDE + HNEXT]!;
      this.i32[cur * STRIDE + HNEXT] = this.i32[id * STRIDE + HNEXT]!;
    }
    this.listRemove(id);
    const c = this.i32[id * STRIDE + CLS]!;
    this.itemBytes -= this.chargeOf(id);
    if (c === this.LARGE) {
      const f = largeFootprint(this.i32[id * STRIDE + KLEN]!, this.u32[id * STRIDE + VLEN]!);
      this.used -= f;
      this.largeBytes -= f;
      this.large.delete(id);
    } else {
      this.slabs.release(this.u32[id * STRIDE + REF]!);
    }
    this.classItems[c]!--;
    this.i32[id * STRIDE + STATE] = 0;
    this.i32[id * STRIDE + HNEXT] = 0;
    this.freeIds.push(id);
    this.count--;
  }

  /** Move an item to the head of its LRU (memcached's relink on bump). */
  private bump(id: number, now: number): void {
    this.u32[id * STRIDE + ATIME] = now;
    if (this.heads[this.i32[id * STRIDE + CLS]!] !== id) {
      this.listRemove(id);
      this.listPushHead(id);
      this.clsMovesWithinLru[this.i32[id * STRIDE + CLS]!]!++;
    }
  }

  // -------------------------------------------------------------------------
  // Copies handed out
  // -------------------------------------------------------------------------

  /** Reserve `n` bytes of the out pool; returns their offset in `this.out`. */
  private stage(n: number): number {
    if (this.outPos + n > this.out.length) {
      this.out = Buffer.allocUnsafeSlow(n > OUT_POOL ? n : OUT_POOL);
      this.outAb = this.out.buffer;
      this.outPos = 0;
    }
    const p = this.outPos;
    this.outPos = p + n;
    return p;
  }

  /**
   * Copy an item's key and value out (into outKey/outValue). Given `key`, the
   * caller's Buffer of the same bytes (a fetch by key), only the value is
   * copied and `key` serves as the item's key.
   */
  private copyOut(id: number, key?: Buffer): void {
    if (this.i32[id * STRIDE + CLS] === this.LARGE) {
      // Large items have Buffers of their own that are never written again.
      const it = this.large.get(id)!;
      this.outKey = it.key;
      this.outValue = it.value;
      return;
    }
    let k = this.i32[id * STRIDE + KLEN]!;
    const r = this.u32[id * STRIDE + REF]!;
    const page = this.slabs.pages[this.slabs.pageOf(r)]!;
    let o = this.slabs.offsetOf(r) + CHUNK_HEADER;
    if (key !== undefined) {
      o += k;
      k = 0;
    }
    const n = k + this.u32[id * STRIDE + VLEN]!;
    const p = this.stage(n);
    const out = this.out;
    if (n <= 64) {
      // Short copies by hand: Buffer#copy of a sub-range allocates a view.
      for (let i = 0; i < n; i++) out[p + i] = page[o + i]!;
    } else {
      // Pages are allocUnsafeSlow (offset 0): one view for the copy, without Buffer#copy's checks.
      out.set(new Uint8Array(this.slabs.pageBuffers[this.slabs.pageOf(r)]!, o, n), p);
    }
    const ab = this.outAb;
    this.outKey = key ?? bufferView(ab, p, k);
    this.outValue = bufferView(ab, p + k, n - k);
  }

  private snapshot(id: number, win: boolean, previousExptime: number | undefined, key?: Buffer): Item {
    this.copyOut(id, key);
    const st = this.i32[id * STRIDE + STATE]!;
    return new Item(
      this.outKey,
      this.outValue,
      this.u32[id * STRIDE + FLAGS]!,
      this.u64[id * 8 + CAS]!,
      this.f64[id * 8 + EXPTIME]!,
      this.u32[id * STRIDE + ATIME]!,
      (st & FETCHED) !== 0,
      (st & STALE) !== 0,
      win,
      (st & TOKEN_SENT) !== 0,
      (st & KEY_BINARY) !== 0,
      previousExptime,
      false,
    );
  }

  // -------------------------------------------------------------------------
  // Storing
  // -------------------------------------------------------------------------

  /**
   * Store a new item for `key` (hash `h`) whose value is `a` followed by `b`
   * (`b` may be empty), linking it at its LRU head. Returns the item as
   * stored, `undefined` when memory cannot be found.
   */
  private put(
    key: Buffer,
    h: number,
    a: Buffer,
    b: Buffer | undefined,
    flags: number,
    exptime: number,
    stateBits: number,
    newCas: bigint | undefined,
    now: number,
  ): Item | undefined {
    const klen = key.length;
    const alen = a.length;
    const vlen = alen + (b === undefined ? 0 : b.length);
    const c = this.slabs.classFor(CHUNK_HEADER + klen + vlen);
    // The caller's copy of key and value. Made first: `a` may be the old
    // item's bytes, whose chunk the allocation below may reuse.
    let staged: Buffer;
    let at: number;
    if (c < 0) {
      staged = Buffer.allocUnsafeSlow(klen + vlen);
      at = 0;
    } else {
      at = this.stage(klen + vlen);
      staged = this.out;
    }
    key.copy(staged, at);
    a.copy(staged, at + klen);
    if (b !== undefined) b.copy(staged, at + klen + alen);
    // Both are allocUnsafeSlow (offset 0); the pool's ArrayBuffer is kept, a one-off's read once.
    const sab = staged === this.out ? this.outAb : staged.buffer;
    const keyCopy = bufferView(sab, at, klen);
    const valueCopy = bufferView(sab, at + klen, vlen);
    const cas = newCas ?? this.nextCas();
    const item = new Item(
      keyCopy,
      valueCopy,
      flags,
      cas,
      exptime,
      now,
      false,
      (stateBits & STALE) !== 0,
      false,
      (stateBits & TOKEN_SENT) !== 0,
      (stateBits & KEY_BINARY) !== 0,
      undefined,
      false,
    );
    if (exptime !== 0 && exptime <= now) {
      // Stored already expired (negative or past exptime): memcached links it
      // and its LRU crawler reclaims it at once; it never becomes visible.
      this.totalItems++;
      this.reclaimed++;
      this.expiredUnfetched++;
      return item;
    }

    // The id first: growing the metadata may evict, and must not drop the
    // page of a chunk already taken for this item.
    const id = this.newId(now);
    if (id === 0) return undefined;
    let ref = 0;
    let cls = c;
    if (c < 0) {
      cls = this.LARGE;
      const f = largeFootprint(klen, vlen);
      if (!this.reserve(f, now)) {
        this.freeIds.push(id);
        this.clsOutOfMemory[this.LARGE]!++;
        return undefined;
      }
      this.used += f;
      this.largeBytes += f;
      this.large.set(id, { key: keyCopy, value: valueCopy });
    } else {
      ref = this.allocChunk(c, now);
      if (ref < 0) {
        this.freeIds.push(id);
        this.clsOutOfMemory[c]!++;
        return undefined;
      }
      const page = this.slabs.pages[this.slabs.pageOf(ref)]!;
      const o = this.slabs.offsetOf(ref) + CHUNK_HEADER;
      page.writeInt32LE(id, o - CHUNK_HEADER);
      // Whole-Buffer copies: Buffer#copy of a sub-range would allocate a view.
      keyCopy.copy(page, o);
      valueCopy.copy(page, o + klen);
    }
    this.i32[id * STRIDE + CLS] = cls;
    this.u32[id * STRIDE + REF] = ref;
    this.i32[id * STRIDE + KLEN] = klen;
    this.u32[id * STRIDE + VLEN] = vlen;
    this.u32[id * STRIDE + FLAGS] = flags;
    this.f64[id * 8 + EXPTIME] = exptime;
    this.u32[id * STRIDE + ATIME] = now;
    this.u64[id * 8 + CAS] = cas;
    this.i32[id * STRIDE + STATE] = LINKED | stateBits;
    this.u32[id * STRIDE + GEN] = this.flushGen;
    this.i32[id * STRIDE + HASH] = h;
    const bucket = h & this.bucketMask;
    this.i32[id * STRIDE + HNEXT] = this.buckets[bucket]!;
    this.buckets[bucket] = id;
    this.listPushHead(id);
    this.classItems[cls]!++;
    this.count++;
    this.totalItems++;
    this.itemBytes += this.chargeOf(id);
    if (this.count > this.buckets.length && this.used + this.buckets.length * BUCKET_BYTES <= this.maxBytes) {
      this.growBuckets(this.buckets.length * 2);
    }
    return item;
  }

  // -------------------------------------------------------------------------
  // Retrieval
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): ItemView | undefined {
    return this.fetch(cmd, this.now());
  }

  getMany(cmds: readonly GetCommand[]): (ItemView | undefined)[] {
    const now = this.now();
    const n = cmds.length;
    const out: (ItemView | undefined)[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.fetch(cmds[i]!, now);
    return out;
  }

  private fetch(cmd: GetCommand, now: number): ItemView | undefined {
    const key = cmd.key;
    const h = this.hashOf(key);
    const id = this.find(key, h, now);
    const touch = cmd.touch;
    const noBump = cmd.noBump === true;
    if (id === 0) {
      if (cmd.vivify !== undefined) {
        const created = this.vivify(cmd, h, now, noBump);
        if (created !== undefined) return created;
      }
      if (cmd.debug === true) return undefined;
      // gat/gats/binary GAT count a miss as a touch; meta mg counts any miss as a get.
      if (touch !== undefined && cmd.tokens !== true) {
        this.cmdTouch++;
        this.touchMisses++;
      } else {
        this.cmdGet++;
        this.getMisses++;
      }
      return undefined;
    }

    // meta `me` (debug) reads the item without counting, bumping or taking a token.
    const debug = cmd.debug === true;
    let previousExptime: number | undefined;
    if (touch !== undefined) {
      this.cmdTouch++;
      this.touchHits++;
      previousExptime = this.f64[id * 8 + EXPTIME]!;
      this.f64[id * 8 + EXPTIME] = absoluteExptime(touch, now);
    } else if (!debug) {
      this.cmdGet++;
      this.getHits++;
    }

    // Meta anti-dogpile: a stale item, or one whose remaining TTL is below the
    // recache threshold, hands the recache token to the first fetcher only.
    // Only meta fetches (`tokens`) take part: memcached's text and binary gets
    // read a stale item without taking its token (the next mg still wins).
    const st = this.i32[id * STRIDE + STATE]!;
    let won = false;
    if ((st & TOKEN_SENT) === 0 && !debug && cmd.tokens === true) {
      if ((st & STALE) !== 0) won = true;
      else if (cmd.recache !== undefined) {
        const e = this.f64[id * 8 + EXPTIME]!;
        const threshold = absoluteExptime(cmd.recache, now);
        won = e !== 0 && threshold !== 0 && e < threshold;
      }
    }
    // The snapshot shows the fetched marker and last access from before this fetch.
    // The item's key is the caller's (the same bytes): only the value is copied.
    const item = this.snapshot(id, won, previousExptime, key);
    if (won) this.i32[id * STRIDE + STATE] = st | TOKEN_SENT;
    if (!noBump) {
      this.i32[id * STRIDE + STATE] |= FETCHED;
      if (this.u32[id * STRIDE + ATIME]! < now - ITEM_UPDATE_INTERVAL) this.bump(id, now);
    }
    return item;
  }

  /** Meta `N`: a miss creates an empty item and this fetch wins the recache token. */
  private vivify(cmd: GetCommand, h: number, now: number, noBump: boolean): ItemView | undefined {
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, 0) > this.maxItemSize) return undefined;
    // `vivify` is already the exptime the new item ends with (a T after N included).
    const exptime = absoluteExptime(cmd.vivify!, now);
    const bits = TOKEN_SENT | (noBump ? 0 : FETCHED) | keyBits(cmd);
    const item = this.put(key, h, key.subarray(0, 0), undefined, 0, exptime, bits, undefined, now);
    if (item === undefined) return undefined;
    this.cmdGet++;
    this.getHits++;
    return new Item(item.key, item.value, 0, item.cas, exptime, now, false, false, true, false, item.keyBinary, undefined, true);
  }

  // -------------------------------------------------------------------------
  // Storage commands
  // -------------------------------------------------------------------------

  store(cmd: StoreCommand): StoreOutcome {
    const now = this.now();
    const key = cmd.key;
    const value = cmd.value;
    const klen = key.length;
    if (memcachedItemSize(klen, cmd.flags, value.length) > this.maxItemSize) {
      this.storeTooLarge++;
      this.dropAfterFailedStore(cmd, now);
      return 'TOO_LARGE';
    }
    if (!this.fits(klen, value.length)) {
      this.storeNoMemory++;
      this.dropAfterFailedStore(cmd, now);
      return 'OUT_OF_MEMORY';
    }
    this.cmdSet++;
    const h = this.hashOf(key);
    const old = this.find(key, h, now);
    const mode = cmd.mode;
    const compareCas = cmd.compareCas;
    const kb = keyBits(cmd);

    if (old === 0) {
      if (compareCas !== undefined && (mode === 'set' || mode === 'replace')) {
        this.casMisses++;
        return 'NOT_FOUND';
      }
      if (mode !== 'set' && mode !== 'add') return 'NOT_STORED';
      return this.stored(key, h, value, undefined, cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, now);
    }

    switch (mode) {
      case 'add':
        // add refuses, but promotes the existing item (memcached's do_store_item).
        if (this.u32[old * STRIDE + ATIME]! < now - ITEM_UPDATE_INTERVAL) this.bump(old, now);
        return 'NOT_STORED';
      case 'append':
      case 'prepend': {
        // 0 means "no CAS" here; an invalidating lower CAS is still a mismatch.
        if (compareCas !== undefined && compareCas !== 0n && compareCas !== this.u64[old * 8 + CAS]) return 'EXISTS';
        const oldFlags = this.u32[old * STRIDE + FLAGS]!;
        const total = this.u32[old * STRIDE + VLEN]! + value.length;
        // The joined item must fit; memcached answers NOT_STORED when it cannot allocate it.
        if (memcachedItemSize(klen, oldFlags, total) > this.maxItemSize || !this.fits(klen, total)) return 'NOT_STORED';
        this.copyOut(old);
        const oldValue = this.outValue;
        const oldExptime = this.f64[old * 8 + EXPTIME]!;
        this.unlink(old);
        return mode === 'append'
          ? this.stored(key, h, oldValue, value, oldFlags, oldExptime, kb, cmd.newCas, now)
          : this.stored(key, h, value, oldValue, oldFlags, oldExptime, kb, cmd.newCas, now);
      }
      default: {
        // set/replace; with a CAS they are memcached's cas command.
        if (compareCas !== undefined) {
          const cas = this.u64[old * 8 + CAS]!;
          if (compareCas !== 0n && compareCas === cas) {
            this.casHits++;
          } else if (cmd.invalidate === true && compareCas !== 0n && compareCas < cas) {
            // Meta I: an older CAS still stores, but the item is stale and
            // keeps its TTL and token state.
            this.casHits++;
            const bits = STALE | (this.i32[old * STRIDE + STATE]! & TOKEN_SENT) | kb;
            const oldExptime = this.f64[old * 8 + EXPTIME]!;
            this.unlink(old);
            return this.stored(key, h, value, undefined, cmd.flags, oldExptime, bits, cmd.newCas, now);
          } else {
            this.casBadval++;
            return 'EXISTS';
          }
        }
        this.unlink(old);
        return this.stored(key, h, value, undefined, cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, now);
      }
    }
  }

  private stored(key: Buffer, h: number, a: Buffer, b: Buffer | undefined, flags: number, exptime: number, bits: number, newCas: bigint | undefined, now: number): StoreOutcome {
    const item = this.put(key, h, a, b, flags, exptime, bits, newCas, now);
    if (item !== undefined) return item;
    this.storeNoMemory++;
    return 'OUT_OF_MEMORY';
  }

  /** Whether an item of this size can be held at all within maxBytes. */
  private fits(klen: number, vlen: number): boolean {
    const c = this.slabs.classFor(CHUNK_HEADER + klen + vlen);
    if (c >= 0) return true;
    return largeFootprint(klen, vlen) + this.capacity * META_BYTES + this.buckets.length * BUCKET_BYTES <= this.maxBytes;
  }

  /**
   * A store that fails for size or memory drops the item it would have
   * replaced when the command says so (`unlinkOnFailure`: memcached's set,
   * binary Set with a CAS too, every mode of meta ms; not the text `cas`
   * command, whose refusal leaves the item alone).
   */
  private dropAfterFailedStore(cmd: StoreCommand, now: number): void {
    if (cmd.unlinkOnFailure !== true) return;
    const id = this.find(cmd.key, this.hashOf(cmd.key), now);
    if (id !== 0) this.unlink(id);
  }

  delete(cmd: DeleteCommand): DeleteOutcome {
    const now = this.now();
    const id = this.find(cmd.key, this.hashOf(cmd.key), now);
    if (id === 0) {
      this.deleteMisses++;
      return 'NOT_FOUND';
    }
    if (cmd.compareCas !== undefined && cmd.compareCas !== this.u64[id * 8 + CAS]) {
      this.deleteMisses++;
      return 'EXISTS';
    }
    if (cmd.invalidate === true) {
      // Meta md I: keep the item but mark it stale with a new CAS, optionally a
      // new TTL, and clear the token so the next fetcher wins the recache.
      // memcached counts no delete_hits for it.
      if (cmd.exptime !== undefined) this.f64[id * 8 + EXPTIME] = absoluteExptime(cmd.exptime, now);
      this.i32[id * STRIDE + STATE] = (this.i32[id * STRIDE + STATE]! | STALE) & ~TOKEN_SENT;
      this.u64[id * 8 + CAS] = this.nextCas();
      return 'DELETED';
    }
    this.deleteHits++;
    this.unlink(id);
    return 'DELETED';
  }

  touch(cmd: TouchCommand): TouchOutcome {
    const now = this.now();
    const id = this.find(cmd.key, this.hashOf(cmd.key), now);
    this.cmdTouch++;
    if (id === 0) {
      this.touchMisses++;
      return 'NOT_FOUND';
    }
    this.touchHits++;
    // memcached's touch fetches with an LRU bump, so the item counts as fetched.
    this.f64[id * 8 + EXPTIME] = absoluteExptime(cmd.exptime, now);
    this.i32[id * STRIDE + STATE] |= FETCHED;
    if (this.u32[id * STRIDE + ATIME]! < now - ITEM_UPDATE_INTERVAL) this.bump(id, now);
    return 'TOUCHED';
  }

  arithmetic(cmd: ArithmeticCommand): ArithmeticOutcome {
    const now = this.now();
    const key = cmd.key;
    const h = this.hashOf(key);
    const id = this.find(key, h, now);
    const incr = cmd.incr;
    if (id === 0) {
      if (cmd.initial !== undefined) return this.createCounter(cmd, h, now);
      if (incr) this.incrMisses++;
      else this.decrMisses++;
      return 'NOT_FOUND';
    }
    const width = this.u32[id * STRIDE + VLEN]!;
    const flags = this.u32[id * STRIDE + FLAGS]!;
    // memcached's do_add_delta: an empty or chunked value is non-numeric before the CAS is compared;
    // a CAS mismatch comes before the digits are read.
    if (width === 0 || memcachedItemSize(key.length, flags, width) > SLAB_CHUNK_MAX) return 'NON_NUMERIC';
    const compareCas = cmd.compareCas;
    if (compareCas !== undefined && compareCas !== 0n && compareCas !== this.u64[id * 8 + CAS]) return 'EXISTS';
    this.copyOut(id);
    const current = parseCounter(this.outValue);
    if (current === undefined) return 'NON_NUMERIC';
    const result = applyDelta(current, cmd.delta, incr);
    if (incr) this.incrHits++;
    else this.decrHits++;
    // Meta ma T: the exptime changes along with the value.
    const previousExptime = cmd.touch !== undefined ? this.f64[id * 8 + EXPTIME]! : undefined;
    const exptime = cmd.touch !== undefined ? absoluteExptime(cmd.touch, now) : this.f64[id * 8 + EXPTIME]!;
    const digits = result.toString();
    const len = digits.length;
    if (len <= width) {
      // Fits: memcached rewrites the bytes in place, space-padded to the old
      // length, keeping the item's flags and fetch/stale state.
      const cas = cmd.newCas ?? this.nextCas();
      this.u64[id * 8 + CAS] = cas;
      this.f64[id * 8 + EXPTIME] = exptime;
      let buf: Buffer;
      let o: number;
      if (this.i32[id * STRIDE + CLS] === this.LARGE) {
        // A large item's Buffer may be held by earlier callers: write a new one.
        const kbuf = this.large.get(id)!.key;
        buf = Buffer.allocUnsafeSlow(kbuf.length + width);
        kbuf.copy(buf, 0);
        this.large.set(id, { key: buf.subarray(0, kbuf.length), value: buf.subarray(kbuf.length) });
        o = kbuf.length;
      } else {
        const r = this.u32[id * STRIDE + REF]!;
        buf = this.slabs.pages[this.slabs.pageOf(r)]!;
        o = this.slabs.offsetOf(r) + CHUNK_HEADER + key.length;
      }
      writeLatin1(buf, digits, o);
      if (width > len) buf.fill(0x20, o + len, o + width);
      if (this.u32[id * STRIDE + ATIME]! < now - ITEM_UPDATE_INTERVAL) this.bump(id, now);
      const p = this.stage(len);
      const out = this.out;
      writeLatin1(out, digits, p);
      const st = this.i32[id * STRIDE + STATE]!;
      return new Item(
        this.outKey,
        bufferView(this.outAb, p, len),
        flags,
        cas,
        exptime,
        this.u32[id * STRIDE + ATIME]!,
        (st & FETCHED) !== 0,
        (st & STALE) !== 0,
        false,
        (st & TOKEN_SENT) !== 0,
        (st & KEY_BINARY) !== 0,
        previousExptime,
        false,
      );
    }
    // Longer: a new item with the same flags and exptime.
    const bits = this.i32[id * STRIDE + STATE]! & KEY_BINARY;
    this.unlink(id);
    const p = this.stage(len);
    writeLatin1(this.out, digits, p);
    const item = this.put(key, h, bufferView(this.outAb, p, len), undefined, flags, exptime, bits, cmd.newCas, now);
    if (item === undefined) return 'NOT_FOUND';
    return previousExptime === undefined ? item : this.withPrevious(item, previousExptime, false);
  }

  private withPrevious(it: Item, previousExptime: number | undefined, created: boolean): Item {
    return new Item(it.key, it.value, it.flags, it.cas, it.exptime, it.lastAccess, it.fetched, it.stale, it.win, it.tokenSent, it.keyBinary, previousExptime, created);
  }

  /** Binary incr/decr with an initial value, meta ma N: a miss creates the counter with `initial` (no delta). */
  private createCounter(cmd: ArithmeticCommand, h: number, now: number): ArithmeticOutcome {
    const digits = BigInt.asUintN(64, cmd.initial!).toString();
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, digits.length) > this.maxItemSize) return 'NOT_FOUND';
    const p = this.stage(digits.length);
    writeLatin1(this.out, digits, p);
    // `exptime` is the one the created counter ends with (the parser applied meta T and N in request order).
    const exptime = absoluteExptime(cmd.exptime ?? 0, now);
    const item = this.put(key, h, bufferView(this.outAb, p, digits.length), undefined, 0, exptime, keyBits(cmd), cmd.newCas, now);
    if (item === undefined) return 'NOT_FOUND';
    return this.withPrevious(item, undefined, true);
  }

  flush(delay: number): void {
    const now = this.now();
    this.cmdFlush++;
    // memcached's flush_all: everything last updated at or before oldest_live
    // is invalid once that time has come, so items stored after a delayed
    // flush_all but before it fires are flushed too; a new flush_all replaces
    // a pending one. A flush "now" also invalidates this second's earlier
    // stores (memcached: through their CAS, consuming one; here: a generation).
    const newOldest = delay > 0 ? absoluteExptime(delay, now) : now;
    if (this.oldestLive !== 0 && this.oldestLive <= now) {
      // The threshold being replaced has come: what it flushed stays flushed.
      // (memcached forgets it, and items its crawler has not reclaimed yet
      // come back until the new threshold comes.)
      this.flushGen++;
      this.throughGen = this.flushGen;
      this.flushedThrough = this.oldestLive;
    }
    this.oldestLive = newOldest - 1;
    if (this.oldestLive <= now) {
      this.flushGen++;
      this.flushedGen = this.flushGen;
      this.nextCas();
    }
  }

  // -------------------------------------------------------------------------
  // Background expiry
  // -------------------------------------------------------------------------

  /**
   * Reclaim expired and flushed items without waiting for a read: examines up
   * to `limit` item slots, resuming where the previous call stopped (a full
   * pass ends the call). The timer calls this every `sweepIntervalMs`.
   * Returns the number of items reclaimed.
   */
  sweep(limit: number = this.sweepBatch): number {
    const now = this.now();
    let found = 0;
    let id = this.sweepCursor;
    for (let i = 0; i < limit; i++) {
      if (id >= this.hwm) {
        id = 1;
        break;
      }
      if ((this.i32[id * STRIDE + STATE]! & LINKED) !== 0) {
        this.crawlerItemsChecked++;
        if (this.isDead(id, now)) {
          const c = this.i32[id * STRIDE + CLS]!;
          this.reclaimed++;
          this.clsReclaimed[c]!++;
          this.clsCrawlerReclaimed[c]!++;
          if ((this.i32[id * STRIDE + STATE]! & FETCHED) === 0) {
            this.expiredUnfetched++;
            this.clsExpiredUnfetched[c]!++;
          }
          this.unlink(id);
          found++;
        }
      }
      id++;
    }
    this.sweepCursor = id;
    return found;
  }

  close(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // -------------------------------------------------------------------------
  // Stats
  // -------------------------------------------------------------------------

  stats(group: string): StatsGroup | undefined {
    switch (group) {
      case '':
        return this.generalStats();
      case 'settings':
        return {
          maxbytes: this.maxBytes,
          evictions: 'on',
          growth_factor: '1.25',
          chunk_size: 48,
          cas_enabled: 'yes',
          item_size_max: this.maxItemSize,
          slab_page_size: this.pageSize,
          slab_chunk_max: this.slabs.chunkMax,
          slab_reassign: 'yes',
          lru_crawler: this.timer !== undefined ? 'yes' : 'no',
          lru_maintainer_thread: 'no',
          lru_segmented: 'no',
          flush_enabled: 'yes',
          temp_lru: 'no',
        };
      case 'items':
        return this.itemStats();
      case 'slabs':
        return this.slabStats();
      case 'sizes':
        return { sizes_status: 'disabled' };
      case 'reset':
        this.resetStats();
        return {};
      default:
        return undefined;
    }
  }

  private generalStats(): StatsGroup {
    return {
      cmd_get: this.cmdGet,
      cmd_set: this.cmdSet,
      cmd_flush: this.cmdFlush,
      cmd_touch: this.cmdTouch,
      get_hits: this.getHits,
      get_misses: this.getMisses,
      get_expired: this.getExpired,
      get_flushed: this.getFlushed,
      delete_misses: this.deleteMisses,
      delete_hits: this.deleteHits,
      incr_misses: this.incrMisses,
      incr_hits: this.incrHits,
      decr_misses: this.decrMisses,
      decr_hits: this.decrHits,
      cas_misses: this.casMisses,
      cas_hits: this.casHits,
      cas_badval: this.casBadval,
      touch_hits: this.touchHits,
      touch_misses: this.touchMisses,
      store_too_large: this.storeTooLarge,
      store_no_memory: this.storeNoMemory,
      limit_maxbytes: this.maxBytes,
      slabs_moved: this.slabsMoved,
      bytes: this.itemBytes,
      curr_items: this.count,
      total_items: this.totalItems,
      expired_unfetched: this.expiredUnfetched,
      evicted_unfetched: this.evictedUnfetched,
      evicted_active: 0,
      evictions: this.evictions,
      reclaimed: this.reclaimed,
    };
  }

  /** memcached numbers slab classes from 1; items outside the slabs are reported as the class after the last. */
  private itemStats(): StatsGroup {
    const out: StatsGroup = {};
    const now = this.now();
    for (let c = 0; c <= this.LARGE; c++) {
      const n = this.classItems[c]!;
      if (n === 0) continue;
      const p = `items:${c + 1}:`;
      const tail = this.tails[c]!;
      out[`${p}number`] = n;
      out[`${p}number_hot`] = 0;
      out[`${p}number_warm`] = 0;
      out[`${p}number_cold`] = n;
      out[`${p}age_hot`] = 0;
      out[`${p}age_warm`] = 0;
      out[`${p}age`] = tail === 0 ? 0 : Math.max(0, now - this.u32[tail * STRIDE + ATIME]!);
      out[`${p}mem_requested`] = c === this.LARGE ? this.largeBytes : n * this.slabs.sizes[c]!;
      out[`${p}evicted`] = this.clsEvicted[c]!;
      out[`${p}evicted_nonzero`] = this.clsEvictedNonzero[c]!;
      out[`${p}evicted_time`] = this.clsEvictedTime[c]!;
      out[`${p}outofmemory`] = this.clsOutOfMemory[c]!;
      out[`${p}tailrepairs`] = 0;
      out[`${p}reclaimed`] = this.clsReclaimed[c]!;
      out[`${p}expired_unfetched`] = this.clsExpiredUnfetched[c]!;
      out[`${p}evicted_unfetched`] = this.clsEvictedUnfetched[c]!;
      out[`${p}evicted_active`] = 0;
      out[`${p}crawler_reclaimed`] = this.clsCrawlerReclaimed[c]!;
      out[`${p}crawler_items_checked`] = this.crawlerItemsChecked;
      out[`${p}lrutail_reflocked`] = 0;
      out[`${p}moves_to_cold`] = 0;
      out[`${p}moves_to_warm`] = 0;
      out[`${p}moves_within_lru`] = this.clsMovesWithinLru[c]!;
      out[`${p}direct_reclaims`] = 0;
      out[`${p}hits_to_hot`] = 0;
      out[`${p}hits_to_warm`] = 0;
      out[`${p}hits_to_cold`] = 0;
      out[`${p}hits_to_temp`] = 0;
    }
    return out;
  }

  private slabStats(): StatsGroup {
    const out: StatsGroup = {};
    const s = this.slabs;
    let active = 0;
    for (let c = 0; c < this.LARGE; c++) {
      const pages = s.pagesOf[c]!;
      if (pages === 0) continue;
      active++;
      const p = `${c + 1}:`;
      const total = pages * s.perPage[c]!;
      out[`${p}chunk_size`] = s.sizes[c]!;
      out[`${p}chunks_per_page`] = s.perPage[c]!;
      out[`${p}total_pages`] = pages;
      out[`${p}total_chunks`] = total;
      out[`${p}used_chunks`] = total - s.freeCount(c);
      out[`${p}free_chunks`] = s.freeCount(c);
      out[`${p}free_chunks_end`] = 0;
    }
    out.active_slabs = active;
    out.total_malloced = this.used;
    return out;
  }

  /** `stats reset`: zero the counters (not the contents). */
  private resetStats(): void {
    this.totalItems = 0;
    this.cmdGet = this.cmdSet = this.cmdFlush = this.cmdTouch = 0;
    this.getHits = this.getMisses = this.getExpired = this.getFlushed = 0;
    this.deleteHits = this.deleteMisses = 0;
    this.incrHits = this.incrMisses = this.decrHits = this.decrMisses = 0;
    this.casHits = this.casMisses = this.casBadval = 0;
    this.touchHits = this.touchMisses = 0;
    this.storeTooLarge = this.storeNoMemory = 0;
    this.evictions = this.evictedUnfetched = this.expiredUnfetched = this.reclaimed = 0;
    this.slabsMoved = this.crawlerItemsChecked = 0;
    for (const a of [
      this.clsEvicted,
      this.clsEvictedNonzero,
      this.clsEvictedTime,
      this.clsEvictedUnfetched,
      this.clsReclaimed,
      this.clsExpiredUnfetched,
      this.clsCrawlerReclaimed,
      this.clsOutOfMemory,
      this.clsMovesWithinLru,
    ]) {
      a.fill(0);
    }
  }
}
