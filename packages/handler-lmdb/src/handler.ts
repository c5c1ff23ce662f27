/**
 * The LMDB `Handler`: memcached's commands over items on disk (disk.ts).
 * This file holds what each command does: find the item, apply memcached's
 * rule for that command (protocol's item rules, shared with the in-memory
 * store), write what changed. Reads answer synchronously; a write answers
 * synchronously too unless `sync` asks it to wait for its durable commit.
 */
import {
  FlushRule,
  HandlerError,
  Item,
  ItemState,
  SLAB_CHUNK_MAX,
  absoluteExptime,
  applyDelta,
  invalidatedState,
  keyBits,
  memcachedItemSize,
  parseCounter,
  staleStoreBits,
  storesStale,
  vivifiedBits,
  winsToken,
  withReplyFacts,
  storeStats,
} from '@cleave/protocol';
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { CAS_RESERVE, Disk } from './disk.js';
import { type LmdbHandlerOptions, minimumMaxBytes } from './options.js';
import { Rec } from './record.js';

const { FETCHED, STALE, TOKEN_SENT, KEY_BINARY } = ItemState;
const U64_MAX = (1n << 64n) - 1n;
/** memcached's ITEM_UPDATE_INTERVAL: an access refreshes an item's time (and LRU place) at most once per 60 s. */
const ITEM_UPDATE_INTERVAL = 60;
/** Index entries the background reclaim examines per slice, and the slices of one tick (each in its own event-loop turn). */
const SWEEP_BATCH = 256;
const SWEEP_SLICES = 32;

/**
 * memcached on disk: items in LMDB under a byte cap, evicted expired-first
 * then least recently used; absolute exptimes, the CAS ceiling and the
 * flush_all rule are kept on disk, so the same path reopened serves what it
 * held, with the right remaining TTLs.
 */
export class LmdbHandler implements Handler {
  /** Stores an item with the CAS unique `newCas` gives (meta `E`). */
  readonly keepsNewCas = true;
  readonly path: string;
  readonly maxItemSize: number;
  private readonly disk: Disk;
  private readonly clock: () => number;
  private readonly flushRule = new FlushRule();
  private casNext: bigint;
  /** CAS uniques below this are reserved on disk. */
  private casCeiling: bigint;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Where the background walk for flushed items resumes; `undefined` = none under way. */
  private flushWalk: Buffer | undefined;
  private flushWalking = false;
  private readonly dead = (r: Rec): boolean => this.isDead(r, this.now());

  constructor(options: LmdbHandlerOptions) {
    if (options === null || typeof options !== 'object' || typeof options.path !== 'string' || options.path === '') {
      throw new TypeError('LmdbHandler: path must be the directory of the store');
    }
    const maxItemSize = integer('maxItemSize', options.maxItemSize, 1024 * 1024, 1);
    const maxBytes = integer('maxBytes', options.maxBytes, 1024 * 1024 * 1024, minimumMaxBytes(maxItemSize));
    const sweepIntervalMs = integer('sweepIntervalMs', options.sweepIntervalMs, 1000, 0);
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new TypeError('LmdbHandler: clock must be a function returning milliseconds');
    }
    const casStart = options.casStart ?? 1n;
    if (typeof casStart !== 'bigint' || casStart < 1n || casStart > U64_MAX) {
      throw new RangeError(`LmdbHandler: casStart must be a bigint in 1..2^64-1, got ${String(casStart)}`);
    }
    this.path = options.path;
    this.maxItemSize = maxItemSize;
    this.clock = options.clock ?? Date.now;
    try {
      this.disk = new Disk({ path: options.path, maxBytes, sync: options.sync === true, logger: options.logger });
    } catch (err) {
      throw new Error(`LmdbHandler: cannot open a store at ${options.path}: ${(err as Error).message}`, { cause: err });
    }
    const saved = this.disk.savedFlushRule();
    if (saved !== undefined) this.flushRule.restore(saved);
    // Continue above every CAS an earlier run may have handed out.
    const ceiling = this.disk.savedCasCeiling();
    this.casNext = ceiling > casStart ? ceiling : casStart;
    this.casCeiling = this.casNext;
    if (this.flushRule.issued) this.flushWalking = true;
    options.logger?.info(
      { path: options.path, items: this.disk.count, bytes: this.disk.bytes, maxBytes },
      this.disk.count > 0 ? 'LMDB store opened warm' : 'LMDB store opened',
    );
    if (sweepIntervalMs > 0) {
      this.timer = setInterval(() => this.sweepInSlices(SWEEP_SLICES), sweepIntervalMs);
      this.timer.unref();
    }
  }

  /** The byte cap on disk. */
  get maxBytes(): number {
    return this.disk.maxBytes;
  }

  /** Items held (expired ones not yet reclaimed included, as memcached's curr_items). */
  get size(): number {
    return this.disk.count;
  }

  /** Bytes the items take on disk, as counted against the cap (the `bytes` stat). */
  get bytes(): number {
    return this.disk.bytes;
  }

  /** Bytes the store's file takes on disk now. */
  get fileBytes(): number {
    return this.disk.fileBytes();
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  private nextCas(): bigint {
    const c = this.casNext;
    this.casNext = c === U64_MAX ? 1n : c + 1n;
    if (c >= this.casCeiling || this.casNext === 1n) {
      // Reserve the next block on disk before any item carries a CAS from it.
      this.casCeiling = this.casNext + CAS_RESERVE;
      this.disk.saveCasCeiling(this.casCeiling);
    }
    return c;
  }

  private isDead(r: Rec, now: number): boolean {
    if (r.exptime !== 0 && r.exptime <= now) return true;
    return this.flushRule.issued && this.flushRule.isFlushed(r.gen, r.time, now);
  }

  /** The live item for `key`; an expired or flushed one is removed on the spot and counted, as memcached's do_item_get() does. */
  private find(key: Buffer, now: number): Rec | undefined {
    const r = this.disk.read(key);
    if (r === undefined) return undefined;
    if (r.exptime !== 0 && r.exptime <= now) {
      this.disk.unlink(r);
      this.disk.counters.getExpired++;
      return undefined;
    }
    if (this.flushRule.issued && this.flushRule.isFlushed(r.gen, r.time, now)) {
      this.disk.unlink(r);
      this.disk.counters.getFlushed++;
      return undefined;
    }
    return r;
  }

  /** A new item, replacing `old`: linked, or reclaimed at once when stored already expired. */
  private put(
    key: Buffer,
    value: Buffer,
    flags: number,
    exptime: number,
    bits: number,
    newCas: bigint | undefined,
    old: Rec | undefined,
    now: number,
  ): { item: Item; ack: Promise<void> | undefined } {
    const cas = newCas ?? this.nextCas();
    const r = new Rec(key, flags, now, exptime, cas, this.flushRule.generation, bits, value.length, 0, value);
    let ack: Promise<void> | undefined;
    if (exptime !== 0 && exptime <= now) {
      // Stored already expired (negative or past exptime): it never becomes visible.
      const c = this.disk.counters;
      c.totalItems++;
      c.reclaimed++;
      c.expiredUnfetched++;
      r.key = Buffer.from(key);
      if (old !== undefined) ack = this.disk.unlink(old);
    } else {
      // Linking gives the record its own copy of the key, which the answer carries.
      ack = this.disk.link(r, old);
      this.disk.makeRoom(now, this.dead);
    }
    const item = new Item(
      r.key,
      value,
      flags,
      cas,
      exptime,
      now,
      false,
      (bits & STALE) !== 0,
      false,
      (bits & TOKEN_SENT) !== 0,
      (bits & KEY_BINARY) !== 0,
      undefined,
      false,
    );
    return { item, ack };
  }

  // -------------------------------------------------------------------------
  // Retrieval
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const now = this.now();
    const key = cmd.key;
    const r = this.find(key, now);
    if (r === undefined) return cmd.vivify === undefined ? undefined : this.vivify(cmd, now);
    const touch = cmd.touch;
    const previousExptime = touch !== undefined ? r.exptime : undefined;
    const exptime = touch !== undefined ? absoluteExptime(touch, now) : r.exptime;
    const won = winsToken(cmd, r.state, exptime, now);
    // The answer shows the fetched mark, token and last access from before this fetch.
    const item = new Item(
      key,
      this.disk.valueOf(r),
      r.flags,
      r.cas,
      exptime,
      r.time,
      (r.state & FETCHED) !== 0,
      (r.state & STALE) !== 0,
      won,
      (r.state & TOKEN_SENT) !== 0,
      (r.state & KEY_BINARY) !== 0,
      previousExptime,
      false,
    );
    const bump = cmd.noBump !== true;
    const state = r.state | (won ? TOKEN_SENT : 0) | (bump ? FETCHED : 0);
    const time = bump && r.time < now - ITEM_UPDATE_INTERVAL ? now : r.time;
    // Most hits change nothing (fetched already, bumped within the minute): no write.
    if (state === r.state && time === r.time && exptime === r.exptime) return item;
    const next = r.clone();
    next.state = state;
    next.time = time;
    next.exptime = exptime;
    const ack = this.disk.rewrite(next, r);
    return ack !== undefined && touch !== undefined ? ack.then(() => item) : item;
  }

  /** Meta `N`: a miss creates an empty item with `vivify` as its exptime, and this fetch wins the recache token. */
  private vivify(cmd: GetCommand, now: number): MaybePromise<ItemView | undefined> {
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, 0) > this.maxItemSize) return undefined;
    const exptime = absoluteExptime(cmd.vivify!, now);
    const { item, ack } = this.put(key, Buffer.alloc(0), 0, exptime, vivifiedBits(cmd), undefined, undefined, now);
    const out = new Item(item.key, item.value, 0, item.cas, exptime, now, false, false, true, false, item.keyBinary, undefined, true);
    return ack === undefined ? out : ack.then(() => out);
  }

  // -------------------------------------------------------------------------
  // Storage commands
  // -------------------------------------------------------------------------

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const now = this.now();
    const key = cmd.key;
    const value = cmd.value;
    const klen = key.length;
    if (memcachedItemSize(klen, cmd.flags, value.length) > this.maxItemSize) {
      this.disk.counters.storeTooLarge++;
      // A refused set (unlinkOnFailure) drops the item it would have replaced, so no stale value outlives it.
      if (cmd.unlinkOnFailure === true) {
        const old = this.find(key, now);
        if (old !== undefined) return this.answer(this.disk.unlink(old), 'TOO_LARGE');
      }
      return 'TOO_LARGE';
    }
    const old = this.find(key, now);
    const mode = cmd.mode;
    const compareCas = cmd.compareCas;
    const kb = keyBits(cmd);
    if (old === undefined) {
      if (compareCas !== undefined && (mode === 'set' || mode === 'replace')) return 'NOT_FOUND';
      if (mode !== 'set' && mode !== 'add') return 'NOT_STORED';
      return this.acknowledged(this.put(key, copy(value), cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, undefined, now));
    }
    switch (mode) {
      case 'add':
        // add refuses, but bumps the existing item (memcached's do_store_item).
        this.bump(old, now);
        return 'NOT_STORED';
      case 'append':
      case 'prepend': {
        // 0 means "no CAS" here; an invalidating lower CAS is still a mismatch.
        if (compareCas !== undefined && compareCas !== 0n && compareCas !== old.cas) return 'EXISTS';
        const total = old.vlen + value.length;
        if (memcachedItemSize(klen, old.flags, total) > this.maxItemSize) return 'NOT_STORED';
        const oldValue = this.disk.valueOf(old);
        const joined = mode === 'append' ? Buffer.concat([oldValue, value], total) : Buffer.concat([value, oldValue], total);
        return this.acknowledged(this.put(key, joined, old.flags, old.exptime, kb, cmd.newCas, old, now));
      }
      default: {
        // set/replace; with a CAS they are memcached's cas command.
        if (compareCas !== undefined && !(compareCas !== 0n && compareCas === old.cas)) {
          // Meta I: an older CAS still stores, but the item is stale and keeps its TTL and token state.
          if (storesStale(cmd.invalidate, compareCas, old.cas)) {
            return this.acknowledged(
              this.put(key, copy(value), cmd.flags, old.exptime, staleStoreBits(old.state, cmd), cmd.newCas, old, now),
            );
          }
          return 'EXISTS';
        }
        return this.acknowledged(this.put(key, copy(value), cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, old, now));
      }
    }
  }

  /** A stored item, answered once its write is acknowledged. */
  private acknowledged(w: { item: Item; ack: Promise<void> | undefined }): MaybePromise<StoreOutcome> {
    return this.answer(w.ack, w.item);
  }

  /** The answer once the write is acknowledged: at once, or after its durable commit (`sync`). */
  private answer<T>(ack: Promise<void> | undefined, outcome: T): MaybePromise<T> {
    if (ack === undefined) return outcome;
    return ack.then(
      () => outcome,
      (err: unknown) => {
        throw new HandlerError(`LMDB write failed: ${(err as Error).message}`);
      },
    );
  }

  /** memcached's bump: an access refreshes the item's time at most once per ITEM_UPDATE_INTERVAL. */
  private bump(r: Rec, now: number): Promise<void> | undefined {
    if (r.time >= now - ITEM_UPDATE_INTERVAL) return undefined;
    const next = r.clone();
    next.time = now;
    return this.disk.rewrite(next, r);
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    const now = this.now();
    const r = this.find(cmd.key, now);
    if (r === undefined) return 'NOT_FOUND';
    if (cmd.compareCas !== undefined && cmd.compareCas !== r.cas) return 'EXISTS';
    if (cmd.invalidate === true) {
      // Meta md I: keep the item, stale, with a new CAS and optionally a new TTL.
      const next = r.clone();
      if (cmd.exptime !== undefined) next.exptime = absoluteExptime(cmd.exptime, now);
      next.state = invalidatedState(r.state);
      next.cas = this.nextCas();
      return this.answer(this.disk.rewrite(next, r), 'DELETED');
    }
    return this.answer(this.disk.unlink(r), 'DELETED');
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    const now = this.now();
    const r = this.find(cmd.key, now);
    if (r === undefined) return 'NOT_FOUND';
    // memcached's touch fetches with a bump, so the item counts as fetched.
    const next = r.clone();
    next.exptime = absoluteExptime(cmd.exptime, now);
    next.state |= FETCHED;
    if (r.time < now - ITEM_UPDATE_INTERVAL) next.time = now;
    return this.answer(this.disk.rewrite(next, r), 'TOUCHED');
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    const now = this.now();
    const key = cmd.key;
    const r = this.find(key, now);
    if (r === undefined) return cmd.initial !== undefined ? this.createCounter(cmd, now) : 'NOT_FOUND';
    const width = r.vlen;
    // memcached's do_add_delta: an empty or chunked value is non-numeric before the CAS is compared;
    // a CAS mismatch comes before the digits are read.
    if (width === 0 || memcachedItemSize(key.length, r.flags, width) > SLAB_CHUNK_MAX) return 'NON_NUMERIC';
    const compareCas = cmd.compareCas;
    if (compareCas !== undefined && compareCas !== 0n && compareCas !== r.cas) return 'EXISTS';
    const current = parseCounter(this.disk.valueOf(r));
    if (current === undefined) return 'NON_NUMERIC';
    const result = applyDelta(current, cmd.delta, cmd.incr);
    // Meta ma T: the exptime changes along with the value.
    const previousExptime = cmd.touch !== undefined ? r.exptime : undefined;
    const exptime = cmd.touch !== undefined ? absoluteExptime(cmd.touch, now) : r.exptime;
    const digits = Buffer.from(result.toString(), 'latin1');
    if (digits.length > width) {
      // Longer: a new item with the same flags and exptime.
      const { item, ack } = this.put(key, digits, r.flags, exptime, r.state & KEY_BINARY, cmd.newCas, r, now);
      return this.answer(ack, withReplyFacts(item, previousExptime, false));
    }
    // Fits: memcached rewrites the bytes in place, space-padded to the old length, keeping the item's flags and state.
    const next = r.clone();
    const padded = Buffer.alloc(width, 0x20);
    digits.copy(padded);
    next.value = padded;
    next.cas = cmd.newCas ?? this.nextCas();
    next.exptime = exptime;
    if (r.time < now - ITEM_UPDATE_INTERVAL) next.time = now;
    const ack = this.disk.rewrite(next, r);
    const st = next.state;
    const item = new Item(
      next.key,
      digits,
      next.flags,
      next.cas,
      exptime,
      next.time,
      (st & FETCHED) !== 0,
      (st & STALE) !== 0,
      false,
      (st & TOKEN_SENT) !== 0,
      (st & KEY_BINARY) !== 0,
      previousExptime,
      false,
    );
    return this.answer(ack, item);
  }

  /** Binary incr/decr with an initial value, meta ma N: a miss creates the counter with `initial` (no delta) and `exptime`. */
  private createCounter(cmd: ArithmeticCommand, now: number): MaybePromise<ArithmeticOutcome> {
    const digits = Buffer.from(BigInt.asUintN(64, cmd.initial!).toString(), 'latin1');
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, digits.length) > this.maxItemSize) return 'NOT_FOUND';
    const exptime = absoluteExptime(cmd.exptime ?? 0, now);
    const { item, ack } = this.put(key, digits, 0, exptime, keyBits(cmd), cmd.newCas, undefined, now);
    return this.answer(ack, withReplyFacts(item, undefined, true));
  }

  flush(delay: number): void {
    const now = this.now();
    // A flush "now" consumes a CAS unique, as memcached's does.
    if (this.flushRule.flush(delay, now)) this.nextCas();
    this.disk.saveFlushRule(this.flushRule.save());
    // The background reclaim walks every item once the flush has come.
    this.flushWalk = undefined;
    this.flushWalking = true;
  }

  /**
   * Reclaim expired and flushed items without waiting for a read, and keep
   * the store under its cap: examines up to `limit` index entries of each
   * kind. The timer calls this every `sweepIntervalMs`. Returns the number
   * of items reclaimed.
   */
  sweep(limit: number = SWEEP_BATCH): number {
    const now = this.now();
    let n = this.disk.reclaimExpired(now, limit);
    if (this.flushWalking) {
      const walked = this.disk.reclaimDead(this.flushWalk, limit, this.dead);
      n += walked.reclaimed;
      this.flushWalk = walked.next;
      // A full walk after the latest flush has come leaves nothing it flushed.
      if (walked.next === undefined && !this.flushRule.comesLater(now)) this.flushWalking = false;
    }
    this.disk.checkFile();
    this.disk.makeRoom(now, this.dead, limit);
    return n;
  }

  /** The timer's sweep: short slices, each in an event-loop turn of its own, while there is work left. */
  private sweepInSlices(slices: number): void {
    const reclaimed = this.sweep();
    if (slices > 1 && this.timer !== undefined && (reclaimed > 0 || this.disk.full || this.flushWalk !== undefined)) {
      setImmediate(() => this.sweepInSlices(slices - 1));
    }
  }

  /** A flush_all kept from before a restart that still applies to new items (for a tier in front to replay). */
  pendingFlush(): number | undefined {
    return this.flushRule.pendingAt(this.now());
  }

  /** Resolves once every write made so far is committed and flushed to disk. */
  flushed(): Promise<void> {
    return this.disk.settle();
  }

  stats(group: string): StatsGroup | undefined {
    const c = this.disk.counters;
    switch (group) {
      case '':
        return {
          ...storeStats(c, { maxBytes: this.disk.maxBytes, bytes: this.disk.bytes, currItems: this.disk.count }),
          lmdb_file_bytes: this.fileBytes,
          lmdb_write_errors: c.writeErrors,
        };
      case 'settings':
        return {
          maxbytes: this.disk.maxBytes,
          evictions: 'on',
          cas_enabled: 'yes',
          item_size_max: this.maxItemSize,
          flush_enabled: 'yes',
          lmdb_path: this.path,
          lmdb_sync: this.disk.sync ? 'yes' : 'no',
        };
      case 'reset':
        c.reset();
        return {};
      default:
        return undefined;
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    await this.disk.close();
  }
}

function integer(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`LmdbHandler: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** The store's own copy of a value the caller lent (a view of its read buffer): the one copy a set makes. */
function copy(value: Buffer): Buffer {
  const out = Buffer.allocUnsafeSlow(value.length);
  value.copy(out);
  return out;
}
