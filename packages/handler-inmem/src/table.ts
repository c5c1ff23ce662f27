/**
 * The item table: one 64-byte record per item in a single ArrayBuffer,
 * indexed by item id, and the hash table that finds an item's id by key
 * (memcached's assoc.c over its item headers).
 *
 * A record holds the hash chain link, LRU links, size class, chunk
 * reference, key and value lengths, flags, state bits, flush generation,
 * last access, exptime and CAS. There is no JavaScript object per item, so
 * the V8 heap does not grow with the number of items. Ids are reused once
 * freed; id 0 means "none". The table knows nothing of the memory limit: its
 * owner grows it (`growRecords`, `growBuckets`) and charges the bytes. Its
 * counts live in the header (state.ts); a store shared by threads reserves
 * records and buckets for the largest table up front, in SharedArrayBuffers
 * (memory the OS commits only as it is touched).
 */
import { ItemState } from '@cleave/protocol';
import { CHUNK_HEADER, type Slabs } from './slabs.js';
import { BUCKET_COUNT, CAPACITY, COUNT, FREE_ID, HWM, SEED, type Header } from './state.js';

// A record: 16 int32 slots (64 bytes). Slots 0-11 hold int32/uint32 fields;
// bytes 48-55 the exptime (float64 slot 6), 56-63 the CAS (uint64 slot 7).
/** int32 slots per record. */
export const STRIDE = 16;
const RECORD_BYTES = STRIDE * 4;
/** Next id in the same hash bucket. */
export const HNEXT = 0;
/** The key's 32-bit hash. */
export const HASH = 1;
/** LRU neighbours (towards the head, towards the tail). */
export const PREV = 2;
export const NEXT = 3;
/** Chunk reference in the slabs (`Slabs`), unused for large items. */
export const REF = 4;
export const VLEN = 5;
export const FLAGS = 6;
export const KLEN = 7;
/** Size class; the class after the last slab class for items outside the slabs. */
export const CLS = 8;
/** State bits, below. */
export const STATE = 9;
/** The flush generation the item was stored in. */
export const GEN = 10;
/** memcached's `it->time`: set on store, refreshed by an LRU bump (Unix s, uint32). */
export const ATIME = 11;
/** float64 slot (index `id * 8 + EXPTIME`): absolute exptime in Unix s, 0 = never. */
export const EXPTIME = 6;
/** uint64 slot (index `id * 8 + CAS`): the CAS unique. */
export const CAS = 7;

// State bits.
/** The record holds a live item (in the hash table and an LRU). */
export const LINKED = 1;
/** The meta protocol's state bits (FETCHED, STALE, TOKEN_SENT, KEY_BINARY), shared with every store. */
export const { FETCHED, STALE, TOKEN_SENT, KEY_BINARY } = ItemState;

/** An item stored outside the slabs: views of its own Buffer, never written after the item is stored. */
export interface LargeItem {
  readonly key: Buffer;
  readonly value: Buffer;
}

export class ItemTable {
  // One 64-byte record per item (a cache line), seen through four views.
  i32: Int32Array<ArrayBufferLike> = new Int32Array(0);
  u32: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
  f64: Float64Array<ArrayBufferLike> = new Float64Array(0);
  u64: BigUint64Array<ArrayBufferLike> = new BigUint64Array(0);
  private buckets: Int32Array<ArrayBufferLike> = new Int32Array(0);
  private readonly h: Int32Array;
  /** The header's bucket count - 1 and hash seed, as this thread last read them (`sync`). */
  private bucketMask = 0;
  private seed = 0;

  /**
   * @param slabs where slab items' keys are, for comparing keys
   * @param large items stored outside the slabs, by id
   * @param largeClass the class number of items stored outside the slabs
   * @param shared a shared store's records and buckets, reserved for its
   *   largest table; undefined: a handler of its own grows them by copying
   */
  constructor(
    private readonly slabs: Slabs,
    private readonly large: Map<number, LargeItem>,
    private readonly largeClass: number,
    header: Header,
    private readonly shared: { records: SharedArrayBuffer; buckets: SharedArrayBuffer } | undefined,
  ) {
    this.h = header.i32;
    if (shared !== undefined) {
      this.view(shared.records);
      this.buckets = new Int32Array(shared.buckets);
    }
    this.sync();
  }

  /** Take up what another thread sharing the store changed: the bucket count (the seed never changes). */
  sync(): void {
    this.bucketMask = this.h[BUCKET_COUNT]! - 1;
    this.seed = this.h[SEED]!;
  }

  /** Set up a new store (once per store). */
  init(): void {
    // A per-store seed keeps chosen keys from piling into one hash chain.
    this.h[SEED] = (Math.random() * 0x100000000) | 0;
    this.h[HWM] = 1;
    this.sync();
  }

  private view(ab: ArrayBufferLike): void {
    this.i32 = new Int32Array(ab);
    this.u32 = new Uint32Array(ab);
    this.f64 = new Float64Array(ab);
    this.u64 = new BigUint64Array(ab);
  }

  /** Records allocated (ids 0 .. capacity-1; id 0 is never used). */
  get capacity(): number {
    return this.h[CAPACITY]!;
  }

  /** Items linked into the hash table. */
  get count(): number {
    return this.h[COUNT]!;
  }

  /** Ids handed out so far are below this (the sweep's upper bound). */
  get highWater(): number {
    return this.h[HWM]!;
  }

  get bucketCount(): number {
    return this.h[BUCKET_COUNT]!;
  }

  /** A free id, or 0 when every record is in use (grow first). */
  takeId(): number {
    const h = this.h;
    const free = h[FREE_ID]!;
    if (free !== 0) {
      h[FREE_ID] = this.i32[free * STRIDE + HNEXT]!;
      this.i32[free * STRIDE + HNEXT] = 0;
      return free;
    }
    if (h[HWM]! < h[CAPACITY]!) return h[HWM]!++;
    return 0;
  }

  /** Give back an id taken but not linked, or one whose item is gone (free ids are chained through HNEXT). */
  freeId(id: number): void {
    this.i32[id * STRIDE + HNEXT] = this.h[FREE_ID]!;
    this.h[FREE_ID] = id;
  }

  /** Grow the records to `capacity`, keeping their contents. */
  growRecords(capacity: number): void {
    if (this.shared === undefined) {
      const ab = new ArrayBuffer(capacity * RECORD_BYTES);
      new Uint8Array(ab).set(new Uint8Array(this.i32.buffer));
      this.view(ab);
    } else if (capacity * RECORD_BYTES > this.shared.records.byteLength) {
      throw new RangeError('InMemoryHandler: the shared store has no room for more item records');
    }
    this.h[CAPACITY] = capacity;
  }

  /** Grow the hash table to `n` buckets (a power of two), splitting every chain in place. */
  growBuckets(n: number): void {
    const old = this.h[BUCKET_COUNT]!;
    if (this.buckets.length < n) {
      if (this.shared !== undefined) throw new RangeError('InMemoryHandler: the shared store has no room for more hash buckets');
      const buckets = new Int32Array(n);
      buckets.set(this.buckets.subarray(0, old));
      this.buckets = buckets;
    }
    // Doubling: each chain of bucket b splits between b and b + old.
    const buckets = this.buckets;
    const mask = n - 1;
    const i32 = this.i32;
    for (let b = 0; b < old; b++) {
      let id = buckets[b]!;
      buckets[b] = 0;
      while (id !== 0) {
        const r = id * STRIDE;
        const nx = i32[r + HNEXT]!;
        const nb = i32[r + HASH]! & mask;
        i32[r + HNEXT] = buckets[nb]!;
        buckets[nb] = id;
        id = nx;
      }
    }
    this.h[BUCKET_COUNT] = n;
    this.bucketMask = mask;
  }

  /**
   * The key's hash: FNV-1a over the bytes from a per-store seed, finished
   * with murmur3's mix. Seeded, unlike core's fnv1a32 (which must agree
   * across processes), so a client cannot choose keys that share a chain.
   */
  hashOf(key: Buffer): number {
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
    if (this.i32[id * STRIDE + CLS] === this.largeClass) {
      buf = this.large.get(id)!.key;
      o = 0;
    } else {
      const r = this.u32[id * STRIDE + REF]!;
      const slabs = this.slabs;
      buf = slabs.pages[slabs.pageOf(r)]!;
      o = slabs.offsetOf(r) + CHUNK_HEADER;
    }
    for (let i = 0; i < n; i++) if (buf[o + i] !== key[i]) return false;
    return true;
  }

  /** The id of the item stored under `key` (hash `h`), dead or alive, or 0. */
  lookup(key: Buffer, h: number): number {
    let id = this.buckets[h & this.bucketMask]!;
    const i32 = this.i32;
    while (id !== 0) {
      if (i32[id * STRIDE + HASH] === h && this.keyEquals(id, key)) return id;
      id = i32[id * STRIDE + HNEXT]!;
    }
    return 0;
  }

  /** Put a record (whose key bytes are in place) into the hash table under hash `h`. */
  link(id: number, h: number): void {
    const r = id * STRIDE;
    this.i32[r + HASH] = h;
    const bucket = h & this.bucketMask;
    this.i32[r + HNEXT] = this.buckets[bucket]!;
    this.buckets[bucket] = id;
    this.h[COUNT]!++;
  }

  /** Take a record out of the hash table. */
  unlink(id: number): void {
    const i32 = this.i32;
    const b = i32[id * STRIDE + HASH]! & this.bucketMask;
    let cur = this.buckets[b]!;
    if (cur === id) this.buckets[b] = i32[id * STRIDE + HNEXT]!;
    else {
      while (i32[cur * STRIDE + HNEXT] !== id) cur = i32[cur * STRIDE + HNEXT]!;
      i32[cur * STRIDE + HNEXT] = i32[id * STRIDE + HNEXT]!;
    }
    i32[id * STRIDE + HNEXT] = 0;
    this.h[COUNT]!--;
  }
}
