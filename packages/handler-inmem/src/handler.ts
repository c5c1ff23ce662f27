import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { absoluteExptime, isExpired } from './exptime.js';
import { itemFootprint } from './footprint.js';
import { Item } from './item.js';
import { applyDelta, counterBytes, parseCounter } from './numeric.js';

export interface InMemoryHandlerOptions {
  /** Memory limit in bytes, memcached's `-m` (default 64 MiB). Items are charged what they really cost (see README). */
  maxBytes?: number;
  /** Largest item, memcached's `-I` (default 1 MiB), counted as memcached does: value + key + 59-byte header (+4 with flags). */
  maxItemSize?: number;
  /** Current time in milliseconds (default `Date.now`); inject one to test expiry. */
  clock?: () => number;
  /** Period of the background expiry sweep in ms (default 1000; 0 = no timer, call `sweep()` yourself). */
  sweepIntervalMs?: number;
  /** Items the sweep examines per tick (default 20000): bounds the work done per timer tick. */
  sweepBatch?: number;
  /** First CAS unique handed out (default 1). */
  casStart?: bigint;
}

/** memcached's ITEM_UPDATE_INTERVAL: a fetched item is relinked at the LRU head at most once per 60 s. */
export const ITEM_UPDATE_INTERVAL = 60;

/** memcached's item header as item_size_ok() counts it: 48-byte struct + key NUL + value CRLF + 8-byte CAS. */
const ITEM_HEADER_BYTES = 48 + 1 + 2 + 8;
/** Items whose memcached size exceeds slab_chunk_max (512 KiB) are chunked, and memcached will not incr/decr them. */
const SLAB_CHUNK_MAX = 512 * 1024;
const U64_MAX = (1n << 64n) - 1n;

const DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxItemSize: 1024 * 1024,
  sweepIntervalMs: 1000,
  sweepBatch: 20_000,
};

/** Node's Buffer has a direct Latin-1 reader that its typings do not declare. */
interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string;
}

/** Fields a command carries when it is the parsed request itself (the server hands requests straight through). */
interface RequestShape {
  readonly protocol?: string;
  readonly cmd?: string;
}

function keyString(key: Buffer): string {
  return (key as unknown as Latin1Sliceable).latin1Slice(0, key.length);
}

/** A private copy: request Buffers are views into the connection's read buffer. */
function copyOf(src: Buffer): Buffer {
  const b = Buffer.allocUnsafeSlow(src.length);
  src.copy(b);
  return b;
}

/** memcached's item size as item_size_ok() checks it against item_size_max. */
function memcachedItemSize(keyLength: number, flags: number, valueLength: number): number {
  return ITEM_HEADER_BYTES + keyLength + (flags !== 0 ? 4 : 0) + valueLength;
}

function positiveInteger(name: string, v: number | undefined, dflt: number, allowZero = false): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new RangeError(`InMemoryHandler: ${name} must be ${allowZero ? 'a non-negative' : 'a positive'} integer, got ${String(v)}`);
  }
  return v;
}

/**
 * The in-memory store: a hash table of items under a byte limit, evicting
 * the least recently used item when full, with memcached's expiry, CAS,
 * counter, flush and meta-protocol (stale/win/vivify/recache) semantics.
 *
 * Every method answers synchronously.
 */
export class InMemoryHandler implements Handler {
  readonly maxBytes: number;
  readonly maxItemSize: number;
  private readonly clock: () => number;
  private readonly sweepBatch: number;

  private readonly map = new Map<string, Item>();
  /** Most recently used end of the LRU. */
  private head: Item | null = null;
  /** Least recently used end: eviction starts here. */
  private tail: Item | null = null;
  private used = 0;
  private casNext: bigint;

  /** flush_all: items whose time is at or before this (Unix s) are invalid once it has passed; 0 = none. */
  private oldestLive = 0;
  /** flush_all without delay: items with a CAS below this are invalid too (same-second stores). */
  private oldestCas = 0n;

  private timer: ReturnType<typeof setInterval> | undefined;
  private sweepCursor: IterableIterator<Item> | undefined;

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
  private evictedNonzero = 0;
  private evictedTime = 0;
  private expiredUnfetched = 0;
  private reclaimed = 0;
  private crawlerReclaimed = 0;
  private crawlerItemsChecked = 0;
  private movesWithinLru = 0;
  private directReclaims = 0;

  constructor(options: InMemoryHandlerOptions = {}) {
    this.maxBytes = positiveInteger('maxBytes', options.maxBytes, DEFAULTS.maxBytes);
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULTS.maxItemSize);
    this.sweepBatch = positiveInteger('sweepBatch', options.sweepBatch, DEFAULTS.sweepBatch);
    const interval = positiveInteger('sweepIntervalMs', options.sweepIntervalMs, DEFAULTS.sweepIntervalMs, true);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new TypeError('InMemoryHandler: clock must be a function returning milliseconds');
    }
    this.clock = options.clock ?? Date.now;
    const casStart = options.casStart ?? 1n;
    if (typeof casStart !== 'bigint' || casStart < 1n || casStart > U64_MAX) {
      throw new RangeError(`InMemoryHandler: casStart must be a bigint in 1..2^64-1, got ${String(casStart)}`);
    }
    this.casNext = casStart;
    if (interval > 0) {
      this.timer = setInterval(() => this.sweep(), interval);
      this.timer.unref();
    }
  }

  /** Bytes currently charged against `maxBytes`. */
  get bytes(): number {
    return this.used;
  }

  /** Items currently held (expired ones not yet reclaimed included, as memcached's curr_items). */
  get size(): number {
    return this.map.size;
  }

  // -------------------------------------------------------------------------
  // Time, lookup, LRU
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

  /** memcached's item_is_flushed(). */
  private isFlushed(it: Item, now: number): boolean {
    const oldest = this.oldestLive;
    if (oldest === 0 || oldest > now) return false;
    return it.lastAccess <= oldest || (this.oldestCas !== 0n && it.cas !== 0n && it.cas < this.oldestCas);
  }

  /**
   * The live item for a key. An expired or flushed one is unlinked on the
   * spot and counted as memcached's do_item_get() does, whatever the command.
   */
  private find(keyStr: string, now: number): Item | undefined {
    const it = this.map.get(keyStr);
    if (it === undefined) return undefined;
    if (it.exptime !== 0 && it.exptime <= now) {
      this.unlink(it);
      this.getExpired++;
      return undefined;
    }
    if (this.oldestLive !== 0 && this.isFlushed(it, now)) {
      this.unlink(it);
      this.getFlushed++;
      return undefined;
    }
    return it;
  }

  private listRemove(it: Item): void {
    const p = it.prev;
    const n = it.next;
    if (p === null) this.head = n;
    else p.next = n;
    if (n === null) this.tail = p;
    else n.prev = p;
    it.prev = null;
    it.next = null;
  }

  private listPushHead(it: Item): void {
    const h = this.head;
    it.prev = null;
    it.next = h;
    if (h === null) this.tail = it;
    else h.prev = it;
    this.head = it;
  }

  private unlink(it: Item): void {
    this.map.delete(it.keyStr);
    this.listRemove(it);
    this.used -= it.size;
  }

  /** Put `next` where `prev` is, in the table and the LRU (at the head when `toHead`). */
  private swap(prev: Item, next: Item, toHead: boolean): void {
    this.map.set(prev.keyStr, next);
    this.used += next.size - prev.size;
    if (toHead) {
      this.listRemove(prev);
      this.listPushHead(next);
      this.movesWithinLru++;
      return;
    }
    const p = prev.prev;
    const n = prev.next;
    next.prev = p;
    next.next = n;
    if (p === null) this.head = next;
    else p.next = next;
    if (n === null) this.tail = next;
    else n.prev = next;
    prev.prev = null;
    prev.next = null;
  }

  /** Evict (or reclaim, when already dead) from the LRU tail until `need` more bytes fit. */
  private makeRoom(need: number, now: number): void {
    while (this.used + need > this.maxBytes) {
      const t = this.tail;
      if (t === null) return;
      if (isExpired(t.exptime, now) || this.isFlushed(t, now)) {
        this.reclaimed++;
        this.directReclaims++;
        if (!t.fetched) this.expiredUnfetched++;
      } else {
        this.evictions++;
        if (!t.fetched) this.evictedUnfetched++;
        if (t.exptime !== 0) this.evictedNonzero++;
        this.evictedTime = now - t.lastAccess;
      }
      this.unlink(t);
    }
  }

  /** Link a new item at the LRU head, replacing `old` (already looked up) if any. */
  private link(old: Item | undefined, it: Item, now: number): void {
    if (old !== undefined) {
      this.listRemove(old);
      this.used -= old.size;
    }
    this.makeRoom(it.size, now);
    this.map.set(it.keyStr, it);
    this.listPushHead(it);
    this.used += it.size;
    this.totalItems++;
  }

  /** memcached's do_item_update(): refresh the time and relink only if the last bump is over 60 s old. */
  private bumpIfOld(it: Item, now: number): void {
    if (it.lastAccess < now - ITEM_UPDATE_INTERVAL) {
      const next = new Item(it.key, it.value, it.flags, it.cas, it.exptime, now, it.fetched, it.stale, false, it.tokenSent, it.keyStr, it.size);
      this.swap(it, next, true);
    }
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
    const keyStr = keyString(cmd.key);
    const it = this.find(keyStr, now);
    const touch = cmd.touch;
    const noBump = cmd.noBump === true;
    if (it === undefined) {
      if (cmd.vivify !== undefined) {
        const created = this.vivify(cmd, keyStr, now, noBump);
        if (created !== undefined) return created;
      }
      if (noBump && (cmd as RequestShape).cmd === 'me') return undefined;
      // gat/gats/binary GAT count a miss as a touch; meta mg counts any miss as a get.
      if (touch !== undefined && (cmd as RequestShape).protocol !== 'meta') {
        this.cmdTouch++;
        this.touchMisses++;
      } else {
        this.cmdGet++;
        this.getMisses++;
      }
      return undefined;
    }

    if (touch !== undefined) {
      this.cmdTouch++;
      this.touchHits++;
    } else if (!(noBump && (cmd as RequestShape).cmd === 'me')) {
      this.cmdGet++;
      this.getHits++;
    }

    const exptime = touch !== undefined ? absoluteExptime(touch, now) : it.exptime;
    // Meta anti-dogpile: a stale item, or one whose remaining TTL is below the
    // recache threshold, hands the recache token to the first fetcher only.
    let won = false;
    if (!it.tokenSent) {
      if (it.stale) won = true;
      else if (cmd.recache !== undefined && exptime !== 0) {
        const threshold = absoluteExptime(cmd.recache, now);
        won = threshold !== 0 && exptime < threshold;
      }
    }
    const fetched = noBump ? it.fetched : true;
    const relink = !noBump && it.lastAccess < now - ITEM_UPDATE_INTERVAL;
    const lastAccess = relink ? now : it.lastAccess;
    if (!won && touch === undefined && fetched === it.fetched && !relink) return it;

    // Something changed: the stored item is replaced, never edited, because
    // views returned earlier may still be waiting for their encoder.
    const stored = new Item(it.key, it.value, it.flags, it.cas, exptime, lastAccess, fetched, it.stale, false, it.tokenSent || won, keyStr, it.size);
    this.swap(it, stored, relink);
    if (won) {
      // The winner sees the item as it was before this fetch, plus W.
      return new Item(it.key, it.value, it.flags, it.cas, exptime, it.lastAccess, it.fetched, it.stale, true, false, keyStr, it.size);
    }
    if (touch === undefined) return it;
    if (fetched === it.fetched && !relink) return stored;
    return new Item(it.key, it.value, it.flags, it.cas, exptime, it.lastAccess, it.fetched, it.stale, false, it.tokenSent, keyStr, it.size);
  }

  /** Meta `N`: a miss creates an empty item and this fetch wins the recache token. */
  private vivify(cmd: GetCommand, keyStr: string, now: number, noBump: boolean): ItemView | undefined {
    const key = cmd.key;
    const size = itemFootprint(key.length, 0);
    if (size > this.maxBytes || memcachedItemSize(key.length, 0, 0) > this.maxItemSize) return undefined;
    const exptime = absoluteExptime(cmd.vivify!, now);
    const cas = this.nextCas();
    const keyBuf = copyOf(key);
    const value = Buffer.allocUnsafeSlow(0);
    const stored = new Item(keyBuf, value, 0, cas, exptime, now, !noBump, false, false, true, keyStr, size);
    this.link(undefined, stored, now);
    this.cmdGet++;
    this.getHits++;
    return new Item(keyBuf, value, 0, cas, exptime, now, false, false, true, false, keyStr, size);
  }

  // -------------------------------------------------------------------------
  // Storage
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
    const size = itemFootprint(klen, value.length);
    if (size > this.maxBytes) {
      this.storeNoMemory++;
      this.dropAfterFailedStore(cmd, now);
      return 'OUT_OF_MEMORY';
    }
    this.cmdSet++;
    const keyStr = keyString(key);
    const old = this.find(keyStr, now);
    const mode = cmd.mode;
    const compareCas = cmd.compareCas;

    if (old === undefined) {
      if (compareCas !== undefined && (mode === 'set' || mode === 'replace')) {
        this.casMisses++;
        return 'NOT_FOUND';
      }
      if (mode !== 'set' && mode !== 'add') return 'NOT_STORED';
      return this.put(undefined, keyStr, key, copyOf(value), cmd.flags, absoluteExptime(cmd.exptime, now), false, false, cmd.newCas, size, now);
    }

    switch (mode) {
      case 'add':
        // add refuses, but promotes the existing item (memcached's do_store_item).
        this.bumpIfOld(old, now);
        return 'NOT_STORED';
      case 'append':
      case 'prepend': {
        // 0 means "no CAS" here; an invalidating lower CAS is still a mismatch.
        if (compareCas !== undefined && compareCas !== 0n && compareCas !== old.cas) return 'EXISTS';
        const total = old.value.length + value.length;
        const newSize = itemFootprint(klen, total);
        // The combined item must fit; memcached answers NOT_STORED when it cannot allocate it.
        if (memcachedItemSize(klen, old.flags, total) > this.maxItemSize || newSize > this.maxBytes) return 'NOT_STORED';
        const joined = Buffer.allocUnsafeSlow(total);
        if (mode === 'append') {
          old.value.copy(joined, 0);
          value.copy(joined, old.value.length);
        } else {
          value.copy(joined, 0);
          old.value.copy(joined, value.length);
        }
        return this.put(old, keyStr, old.key, joined, old.flags, old.exptime, false, false, cmd.newCas, newSize, now);
      }
      default: {
        // set/replace; with a CAS they are memcached's cas command.
        if (compareCas !== undefined) {
          if (compareCas !== 0n && compareCas === old.cas) {
            this.casHits++;
          } else if (cmd.invalidate === true && compareCas !== 0n && compareCas < old.cas) {
            // Meta I: an older CAS still stores, but the item is stale and
            // keeps its TTL and token state.
            this.casHits++;
            return this.put(old, keyStr, old.key, copyOf(value), cmd.flags, old.exptime, true, old.tokenSent, cmd.newCas, size, now);
          } else {
            this.casBadval++;
            return 'EXISTS';
          }
        }
        return this.put(old, keyStr, old.key, copyOf(value), cmd.flags, absoluteExptime(cmd.exptime, now), false, false, cmd.newCas, size, now);
      }
    }
  }

  /** Store a new item (value already copied), replacing `old`. */
  private put(
    old: Item | undefined,
    keyStr: string,
    key: Buffer,
    value: Buffer,
    flags: number,
    exptime: number,
    stale: boolean,
    tokenSent: boolean,
    newCas: bigint | undefined,
    size: number,
    now: number,
  ): Item {
    const cas = newCas ?? this.nextCas();
    const keyBuf = old === undefined ? copyOf(key) : key;
    const it = new Item(keyBuf, value, flags, cas, exptime, now, false, stale, false, tokenSent, keyStr, size);
    if (exptime !== 0 && exptime <= now) {
      // Stored already expired (negative or past exptime): memcached links it
      // and its LRU crawler reclaims it at once; it never becomes visible.
      if (old !== undefined) this.unlink(old);
      this.totalItems++;
      this.reclaimed++;
      this.expiredUnfetched++;
      return it;
    }
    this.link(old, it, now);
    return it;
  }

  /**
   * A set that fails for size drops the item it would have replaced, so a
   * stale value does not outlive the failed update (memcached does this for
   * set, and for every mode of meta ms).
   */
  private dropAfterFailedStore(cmd: StoreCommand, now: number): void {
    if (cmd.mode !== 'set' && (cmd as RequestShape).protocol !== 'meta') return;
    const it = this.find(keyString(cmd.key), now);
    if (it !== undefined) this.unlink(it);
  }

  delete(cmd: DeleteCommand): DeleteOutcome {
    const now = this.now();
    const it = this.find(keyString(cmd.key), now);
    if (it === undefined) {
      this.deleteMisses++;
      return 'NOT_FOUND';
    }
    if (cmd.compareCas !== undefined && cmd.compareCas !== it.cas) {
      this.deleteMisses++;
      return 'EXISTS';
    }
    if (cmd.invalidate === true) {
      // Meta md I: keep the item but mark it stale with a new CAS, optionally a
      // new TTL, and clear the token so the next fetcher wins the recache.
      // memcached counts no delete_hits for it.
      const exptime = cmd.exptime !== undefined ? absoluteExptime(cmd.exptime, now) : it.exptime;
      const next = new Item(it.key, it.value, it.flags, this.nextCas(), exptime, it.lastAccess, it.fetched, true, false, false, it.keyStr, it.size);
      this.swap(it, next, false);
      return 'DELETED';
    }
    this.deleteHits++;
    this.unlink(it);
    return 'DELETED';
  }

  touch(cmd: TouchCommand): TouchOutcome {
    const now = this.now();
    const it = this.find(keyString(cmd.key), now);
    this.cmdTouch++;
    if (it === undefined) {
      this.touchMisses++;
      return 'NOT_FOUND';
    }
    this.touchHits++;
    // memcached's touch fetches with an LRU bump, so the item counts as fetched.
    const relink = it.lastAccess < now - ITEM_UPDATE_INTERVAL;
    const next = new Item(
      it.key,
      it.value,
      it.flags,
      it.cas,
      absoluteExptime(cmd.exptime, now),
      relink ? now : it.lastAccess,
      true,
      it.stale,
      false,
      it.tokenSent,
      it.keyStr,
      it.size,
    );
    this.swap(it, next, relink);
    return 'TOUCHED';
  }

  arithmetic(cmd: ArithmeticCommand): ArithmeticOutcome {
    const now = this.now();
    const keyStr = keyString(cmd.key);
    const it = this.find(keyStr, now);
    const incr = cmd.incr;
    if (it === undefined) {
      if (cmd.initial !== undefined) return this.createCounter(cmd, keyStr, now);
      if (incr) this.incrMisses++;
      else this.decrMisses++;
      return 'NOT_FOUND';
    }
    const compareCas = cmd.compareCas;
    if (compareCas !== undefined && compareCas !== 0n && compareCas !== it.cas) return 'EXISTS';
    const klen = it.key.length;
    const width = it.value.length;
    if (memcachedItemSize(klen, it.flags, width) > SLAB_CHUNK_MAX) return 'NON_NUMERIC';
    const current = parseCounter(it.value);
    if (current === undefined) return 'NON_NUMERIC';
    const result = applyDelta(current, cmd.delta, incr);
    if (incr) this.incrHits++;
    else this.decrHits++;
    const digits = result.toString();
    const cas = cmd.newCas ?? this.nextCas();
    if (digits.length <= width) {
      // Fits: memcached rewrites the bytes in place, space-padded to the old
      // length, keeping the item's flags, TTL and fetch/stale state.
      const relink = it.lastAccess < now - ITEM_UPDATE_INTERVAL;
      const padded = counterBytes(digits, width);
      const next = new Item(it.key, padded, it.flags, cas, it.exptime, relink ? now : it.lastAccess, it.fetched, it.stale, false, it.tokenSent, keyStr, it.size);
      this.swap(it, next, relink);
      if (digits.length === width) return next;
      // The reply carries the digits alone.
      return new Item(it.key, counterBytes(digits, 0), it.flags, cas, it.exptime, next.lastAccess, it.fetched, it.stale, false, it.tokenSent, keyStr, it.size);
    }
    // Longer: a new item with the same flags and exptime.
    const size = itemFootprint(klen, digits.length);
    const value = counterBytes(digits, 0);
    const next = new Item(it.key, value, it.flags, cas, it.exptime, now, false, false, false, false, keyStr, size);
    this.link(it, next, now);
    return next;
  }

  /** Binary incr/decr with an initial value, meta ma N: a miss creates the counter with `initial` (no delta). */
  private createCounter(cmd: ArithmeticCommand, keyStr: string, now: number): ArithmeticOutcome {
    const digits = BigInt.asUintN(64, cmd.initial!).toString();
    const key = cmd.key;
    const size = itemFootprint(key.length, digits.length);
    if (size > this.maxBytes || memcachedItemSize(key.length, 0, digits.length) > this.maxItemSize) return 'NOT_FOUND';
    const exptime = absoluteExptime(cmd.exptime ?? 0, now);
    return this.put(undefined, keyStr, key, counterBytes(digits, 0), 0, exptime, false, false, cmd.newCas, size, now);
  }

  flush(delay: number): void {
    const now = this.now();
    this.cmdFlush++;
    // memcached's flush_all: everything last updated at or before oldest_live
    // is invalid once that time has come; a flush "now" also invalidates this
    // second's earlier stores through their CAS. Items stored after a delayed
    // flush_all but before it fires are flushed too.
    const newOldest = delay > 0 ? absoluteExptime(delay, now) : now;
    this.oldestLive = newOldest - 1;
    if (this.oldestLive <= now) this.oldestCas = this.nextCas();
  }

  // -------------------------------------------------------------------------
  // Background expiry
  // -------------------------------------------------------------------------

  /**
   * Reclaim expired and flushed items without waiting for a read: examines up
   * to `limit` items, resuming where the previous call stopped. The timer
   * calls this every `sweepIntervalMs`. Returns the number reclaimed.
   */
  sweep(limit: number = this.sweepBatch): number {
    const now = this.now();
    let cursor = this.sweepCursor ?? this.map.values();
    let found = 0;
    for (let i = 0; i < limit; i++) {
      const r = cursor.next();
      if (r.done === true) {
        // A full pass is done; the next call starts over.
        this.sweepCursor = undefined;
        return found;
      }
      const it = r.value;
      this.crawlerItemsChecked++;
      if (isExpired(it.exptime, now) || this.isFlushed(it, now)) {
        this.unlink(it);
        this.reclaimed++;
        this.crawlerReclaimed++;
        if (!it.fetched) this.expiredUnfetched++;
        found++;
      }
    }
    this.sweepCursor = cursor;
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
          cas_enabled: 'yes',
          item_size_max: this.maxItemSize,
          slab_chunk_max: SLAB_CHUNK_MAX,
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
      bytes: this.used,
      curr_items: this.map.size,
      total_items: this.totalItems,
      expired_unfetched: this.expiredUnfetched,
      evicted_unfetched: this.evictedUnfetched,
      evicted_active: 0,
      evictions: this.evictions,
      reclaimed: this.reclaimed,
    };
  }

  /** `stats items`: one item class holds everything (there are no slab classes). */
  private itemStats(): StatsGroup {
    const n = this.map.size;
    if (n === 0) return {};
    const age = this.tail === null ? 0 : Math.max(0, this.now() - this.tail.lastAccess);
    return {
      'items:1:number': n,
      'items:1:number_hot': 0,
      'items:1:number_warm': 0,
      'items:1:number_cold': n,
      'items:1:age_hot': 0,
      'items:1:age_warm': 0,
      'items:1:age': age,
      'items:1:mem_requested': this.used,
      'items:1:evicted': this.evictions,
      'items:1:evicted_nonzero': this.evictedNonzero,
      'items:1:evicted_time': this.evictedTime,
      'items:1:outofmemory': this.storeNoMemory,
      'items:1:tailrepairs': 0,
      'items:1:reclaimed': this.reclaimed,
      'items:1:expired_unfetched': this.expiredUnfetched,
      'items:1:evicted_unfetched': this.evictedUnfetched,
      'items:1:evicted_active': 0,
      'items:1:crawler_reclaimed': this.crawlerReclaimed,
      'items:1:crawler_items_checked': this.crawlerItemsChecked,
      'items:1:lrutail_reflocked': 0,
      'items:1:moves_to_cold': 0,
      'items:1:moves_to_warm': 0,
      'items:1:moves_within_lru': this.movesWithinLru,
      'items:1:direct_reclaims': this.directReclaims,
      'items:1:hits_to_hot': 0,
      'items:1:hits_to_warm': 0,
      'items:1:hits_to_cold': this.getHits,
      'items:1:hits_to_temp': 0,
    };
  }

  /** `stats slabs`: one class whose chunks are the items themselves. */
  private slabStats(): StatsGroup {
    const n = this.map.size;
    const out: StatsGroup = {};
    if (n > 0) {
      out['1:chunk_size'] = Math.ceil(this.used / n);
      out['1:chunks_per_page'] = 1;
      out['1:total_pages'] = n;
      out['1:total_chunks'] = n;
      out['1:used_chunks'] = n;
      out['1:free_chunks'] = 0;
      out['1:free_chunks_end'] = 0;
      out['1:get_hits'] = this.getHits;
      out['1:cmd_set'] = this.cmdSet;
      out['1:delete_hits'] = this.deleteHits;
      out['1:incr_hits'] = this.incrHits;
      out['1:decr_hits'] = this.decrHits;
      out['1:cas_hits'] = this.casHits;
      out['1:cas_badval'] = this.casBadval;
      out['1:touch_hits'] = this.touchHits;
    }
    out.active_slabs = n > 0 ? 1 : 0;
    out.total_malloced = this.used;
    return out;
  }

  /** `stats reset`: zero the counters (not curr_items, bytes or total_items' live figures). */
  private resetStats(): void {
    this.totalItems = 0;
    this.cmdGet = this.cmdSet = this.cmdFlush = this.cmdTouch = 0;
    this.getHits = this.getMisses = this.getExpired = this.getFlushed = 0;
    this.deleteHits = this.deleteMisses = 0;
    this.incrHits = this.incrMisses = this.decrHits = this.decrMisses = 0;
    this.casHits = this.casMisses = this.casBadval = 0;
    this.touchHits = this.touchMisses = 0;
    this.storeTooLarge = this.storeNoMemory = 0;
    this.evictions = this.evictedUnfetched = this.evictedNonzero = this.evictedTime = 0;
    this.expiredUnfetched = this.reclaimed = this.crawlerReclaimed = this.crawlerItemsChecked = 0;
    this.movesWithinLru = this.directReclaims = 0;
  }
}
