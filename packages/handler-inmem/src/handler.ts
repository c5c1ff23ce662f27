/**
 * The in-memory `Handler`: memcached's commands over the store's parts —
 * the item table (table.ts), slab pages (slabs.ts), LRU lists (lru.ts),
 * memory and eviction (memory.ts), the copies handed out (copies.ts),
 * flush_all (flush.ts), the meta rules (meta.ts) and the statistics
 * (stats.ts); its options are in options.ts. This file holds what each
 * command does: look the key up, apply memcached's rule for that command,
 * count it.
 */
import {
  Item,
  SLAB_CHUNK_MAX,
  applyDelta,
  bufferView,
  invalidatedState,
  keyBits,
  memcachedItemSize,
  parseCounter,
  staleStoreBits,
  storesStale,
  vivifiedBits,
  winsToken,
  withReplyFacts,
} from '@cleave/protocol';
import type {
  AdminCommand,
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
import { AdminCommands } from './admin.js';
import { Copies } from './copies.js';
import { absoluteExptime } from './exptime.js';
import { FlushState } from './flush.js';
import { Lru } from './lru.js';
import { ItemMemory } from './memory.js';
import { U64_MAX, settingsOf, type InMemoryHandlerOptions } from './options.js';
import { handOff, lock, maxMaxBytes, unlock, type SharedStore } from './shared.js';
import { CHUNK_HEADER, Slabs, classSizes } from './slabs.js';
import { CAS_NEXT, COUNTER_SLICES, COUNTER_SLICES_MAX, Header, INITIALIZED, counterSlots, headerBytes } from './state.js';
import { Counters, generalStats, itemStats, settingsStats, sizesStats, slabStats, type StatsSource } from './stats.js';
import {
  ATIME,
  CAS,
  CLS,
  EXPTIME,
  FETCHED,
  FLAGS,
  ItemTable,
  KEY_BINARY,
  STALE,
  STATE,
  STRIDE,
  TOKEN_SENT,
  VLEN,
  type LargeItem,
} from './table.js';

/**
 * Commands `runBatch` runs under one hold of a shared store's lock before it
 * lets the other threads in: a command holds it for about a microsecond.
 */
const HOLD_COMMANDS = 32;
/** The stats groups only a shared store's reporter answers (`settings` and `reset` are every handler's). */
const REPORTED_GROUPS = new Set(['', 'items', 'slabs', 'sizes']);

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
 * their own copies of key and value, never changed afterwards. Over a
 * `sharedStore` (option `shared`), handlers in several threads serve one
 * store, each command under the store lock (shared.ts).
 */
export class InMemoryHandler implements Handler {
  /** Stores an item with the CAS unique `newCas` gives (meta `E`). */
  readonly keepsNewCas = true;
  readonly maxItemSize: number;
  /** Slab page size: 1 MiB, or less for small `maxBytes` so memory can move between size classes (a shared store's may be more: options.ts). */
  readonly pageSize: number;
  private readonly clock: () => number;
  private readonly sweepBatch: number;
  private readonly slabs: Slabs;
  /** Class index used for items stored outside the slabs. */
  private readonly LARGE: number;
  private readonly table: ItemTable;
  private readonly lru: Lru;
  private readonly memory: ItemMemory;
  private readonly copies: Copies;
  private readonly flushes: FlushState;
  private readonly counters: Counters;
  private readonly adminCommands: AdminCommands;
  private readonly sweepIntervalMs: number;
  private readonly header: Header;
  /** A shared store's handler that reports its stats and runs its sweep. */
  private readonly reporter: boolean;
  private readonly shared: SharedStore | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** The next CAS unique; a shared store's lives in the header, loaded and saved around each command under the lock. */
  private casNext: bigint;

  constructor(options: InMemoryHandlerOptions = {}) {
    const shared = options.shared;
    if (shared !== undefined && (options.maxBytes !== undefined || options.maxItemSize !== undefined || options.casStart !== undefined)) {
      throw new TypeError('InMemoryHandler: maxBytes, maxItemSize and casStart of a shared store are given to sharedStore');
    }
    const s = settingsOf(
      shared === undefined
        ? options
        : {
            maxBytes: shared.maxBytes,
            maxItemSize: shared.maxItemSize,
            casStart: shared.casStart,
            sweepIntervalMs: options.sweepIntervalMs ?? shared.sweepIntervalMs,
            sweepBatch: options.sweepBatch ?? shared.sweepBatch,
            ...(options.clock !== undefined ? { clock: options.clock } : {}),
          },
    );
    this.shared = shared;
    // A handler of its own always reports: statsReporter is for stores shared by threads.
    this.reporter = shared === undefined || options.statsReporter !== false;
    this.maxItemSize = s.maxItemSize;
    this.sweepBatch = s.sweepBatch;
    this.clock = s.clock;
    this.pageSize = shared?.pageSize ?? s.pageSize;
    const chunkMax = shared?.chunkMax ?? s.chunkMax;
    const classes = classSizes(chunkMax).length + 1;
    const header = new Header(shared?.header ?? new ArrayBuffer(headerBytes(classes)), classes);
    this.header = header;
    this.slabs = new Slabs(this.pageSize, chunkMax, header, shared?.pageTable, shared?.arena);
    this.LARGE = this.slabs.classCount;
    const large = new Map<number, LargeItem>();
    if (shared === undefined) {
      this.counters = new Counters(new Float64Array(counterSlots(classes)), classes);
    } else {
      // A slice of its own to count in (handlers past COUNTER_SLICES_MAX share one).
      const i32 = header.i32;
      const slice = Atomics.add(i32, COUNTER_SLICES, 1) % COUNTER_SLICES_MAX;
      const inUse = () => Math.min(Atomics.load(i32, COUNTER_SLICES), COUNTER_SLICES_MAX);
      this.counters = new Counters(new Float64Array(shared.counters), classes, slice, inUse);
    }
    this.table = new ItemTable(this.slabs, large, this.LARGE, header, shared);
    this.lru = new Lru(this.table, this.counters.clsMovesWithinLru, classes, header);
    this.flushes = new FlushState(this.table, header);
    this.memory = new ItemMemory(
      header,
      this.table,
      this.slabs,
      this.lru,
      large,
      this.LARGE,
      shared === undefined,
      this.flushes,
      this.counters,
    );
    this.copies = new Copies(this.table, this.slabs, large, this.LARGE);
    this.sweepIntervalMs = s.sweepIntervalMs;
    this.adminCommands = new AdminCommands({
      table: this.table,
      lru: this.lru,
      slabs: this.slabs,
      memory: this.memory,
      flushes: this.flushes,
      header,
      maxMaxBytes: maxMaxBytes(shared),
      // A shared store's sweep timer runs in its reporter, which reads the flag at each tick.
      crawler: (on) => {
        if (shared === undefined) this.crawler(on);
      },
    });
    if (header.i32[INITIALIZED] === 0) {
      // A new store (sharedStore sets a shared one up before any thread has it).
      this.slabs.init();
      this.table.init();
      this.memory.init(s.maxBytes, 64, 64);
      header.u64[CAS_NEXT] = s.casStart;
      this.adminCommands.crawlerEnabled = true;
      header.i32[INITIALIZED] = 1;
    }
    this.casNext = header.u64[CAS_NEXT]!;
    if (shared !== undefined) this.lockCommands();
    if (this.reporter) this.crawler(true);
  }

  /**
   * A shared store: every command runs under the store lock, after taking up
   * a flush_all or hash table growth another thread made. (Instance properties over the
   * prototype's methods, so a handler of its own takes no lock at all.) Inside
   * `runBatch` the lock is already held: commands run at once, and every
   * HOLD_COMMANDS of them the lock is released and taken again, so a long
   * pipeline does not keep the other threads out.
   */
  private lockCommands(): void {
    const h = this.header.i32;
    const flushes = this.flushes;
    const table = this.table;
    const u64 = this.header.u64;
    /** Whether this thread holds the lock for a batch, and the commands run since it last took it. */
    let held = false;
    let run = 0;
    let cas = 0n;
    const take = (): void => {
      lock(h);
      try {
        cas = u64[CAS_NEXT]!;
        this.casNext = cas;
        flushes.sync();
        table.sync();
      } catch (e) {
        unlock(h);
        throw e;
      }
    };
    /** Whether a waiter was woken. */
    const release = (): boolean => {
      // Written back only when used: a read leaves the header's line clean for the other threads.
      if (this.casNext !== cas) u64[CAS_NEXT] = this.casNext;
      return unlock(h);
    };
    const locked =
      <A, R>(f: (a: A) => R) =>
      (a: A): R => {
        if (held) {
          if (++run >= HOLD_COMMANDS) {
            if (release()) handOff(h);
            run = 0;
            take();
          }
          return f.call(this, a);
        }
        take();
        try {
          return f.call(this, a);
        } finally {
          release();
        }
      };
    this.runBatch = <T>(body: () => T): T => {
      if (held) return body();
      take();
      held = true;
      run = 0;
      try {
        return body();
      } finally {
        held = false;
        release();
      }
    };
    const p = InMemoryHandler.prototype;
    this.get = locked(p.get);
    this.getMany = locked(p.getMany);
    this.store = locked(p.store);
    this.delete = locked(p.delete);
    this.touch = locked(p.touch);
    this.arithmetic = locked(p.arithmetic);
    this.flush = locked(p.flush);
    this.sweep = locked(p.sweep);
    this.admin = locked(p.admin);
    this.stats = locked(p.stats);
  }

  /** Run `body` (the server's run of one read's requests); over a shared store, under one hold of its lock. */
  runBatch<T>(body: () => T): T {
    return body();
  }

  /** Memory limit in bytes (memcached's `-m`; `cache_memlimit` changes it). */
  get maxBytes(): number {
    return this.memory.maxBytes;
  }

  /** Start or stop the background sweep, memcached's LRU crawler (`lru_crawler enable|disable`). */
  private crawler(on: boolean): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (on && this.sweepIntervalMs > 0) {
      this.timer = setInterval(() => {
        if (this.adminCommands.crawlerEnabled) this.sweep();
      }, this.sweepIntervalMs);
      this.timer.unref();
    }
  }

  /** Bytes of item data and metadata currently held (the `bytes` stat). */
  get bytes(): number {
    return this.memory.itemBytes;
  }

  /** Bytes charged against `maxBytes`: slab pages (free chunks included), metadata, hash table, large items. */
  get memoryUsed(): number {
    return this.memory.used;
  }

  /** Items currently held (expired ones not yet reclaimed included, as memcached's curr_items). */
  get size(): number {
    return this.table.count;
  }

  /** Bytes an item with this key and value length is charged in `bytes`. */
  itemSize(keyLength: number, valueLength: number): number {
    return this.memory.itemSize(keyLength, valueLength);
  }

  private now(): number {
    return Math.floor(this.clock() / 1000);
  }

  private nextCas(): bigint {
    const c = this.casNext;
    // 64-bit CAS uniques wrap like memcached's uint64_t counter, skipping 0 ("no CAS").
    this.casNext = c === U64_MAX ? 1n : c + 1n;
    return c;
  }

  /**
   * The live item for a key (hash `h`). An expired or flushed one is unlinked
   * on the spot and counted as memcached's do_item_get() does, whatever the
   * command.
   */
  private find(key: Buffer, h: number, now: number): number {
    const id = this.table.lookup(key, h);
    if (id === 0) return 0;
    const e = this.table.f64[id * 8 + EXPTIME]!;
    if (e !== 0 && e <= now) {
      this.memory.unlink(id);
      this.counters.getExpired++;
      return 0;
    }
    if (this.flushes.issued && this.flushes.itemFlushed(id, now)) {
      this.memory.unlink(id);
      this.counters.getFlushed++;
      return 0;
    }
    return id;
  }

  /**
   * Store a new item for `key` (hash `h`) whose value is `a` followed by `b`
   * (`b` may be absent), linking it at its LRU head. Returns the item as
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
    // item's bytes, whose chunk the allocation below may reuse. An item
    // outside the slabs keeps this copy as its own bytes.
    const copies = this.copies;
    let staged: Buffer;
    let sab: ArrayBufferLike;
    let at: number;
    if (c < 0) {
      staged = Buffer.allocUnsafeSlow(klen + vlen);
      sab = staged.buffer;
      at = 0;
    } else {
      at = copies.stage(klen + vlen);
      staged = copies.pool;
      sab = copies.poolBuffer;
    }
    key.copy(staged, at);
    a.copy(staged, at + klen);
    if (b !== undefined) b.copy(staged, at + klen + alen);
    // Both are allocUnsafeSlow (offset 0): views without subarray's lookups.
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
      const k = this.counters;
      k.totalItems++;
      k.reclaimed++;
      k.expiredUnfetched++;
      return item;
    }
    return this.memory.link(keyCopy, valueCopy, h, c, flags, exptime, stateBits, cas, now) ? item : undefined;
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
    const h = this.table.hashOf(key);
    const id = this.find(key, h, now);
    const touch = cmd.touch;
    if (id === 0) {
      if (cmd.vivify !== undefined) {
        const created = this.vivify(cmd, h, now);
        if (created !== undefined) return created;
      }
      return undefined;
    }

    const t = this.table;
    const cls = t.i32[id * STRIDE + CLS]!;
    let previousExptime: number | undefined;
    // `me` (debug) counts nothing; a fetch with a touch counts as a touch.
    if (touch !== undefined) this.counters.clsTouchHits[cls]!++;
    else if (cmd.debug !== true) this.counters.clsGetHits[cls]!++;
    if (touch !== undefined) {
      previousExptime = t.f64[id * 8 + EXPTIME]!;
      t.f64[id * 8 + EXPTIME] = absoluteExptime(touch, now);
    }
    const st = t.i32[id * STRIDE + STATE]!;
    const won = winsToken(cmd, st, t.f64[id * 8 + EXPTIME]!, now);
    // The snapshot shows the fetched marker, token and last access from before this fetch.
    // The item's key is the caller's (the same bytes): only the value is copied.
    const item = this.copies.snapshot(id, won, previousExptime, key);
    if (won) t.i32[id * STRIDE + STATE] = st | TOKEN_SENT;
    if (cmd.noBump !== true) {
      // Written once: a record left unwritten stays in the cache of every thread that reads it.
      if ((t.i32[id * STRIDE + STATE]! & FETCHED) === 0) t.i32[id * STRIDE + STATE] |= FETCHED;
      this.lru.update(id, now);
    }
    return item;
  }

  /** Meta `N`: a miss creates an empty item with `vivify` as its exptime, and this fetch wins the recache token. */
  private vivify(cmd: GetCommand, h: number, now: number): ItemView | undefined {
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, 0) > this.maxItemSize) return undefined;
    const exptime = absoluteExptime(cmd.vivify!, now);
    const item = this.put(key, h, key.subarray(0, 0), undefined, 0, exptime, vivifiedBits(cmd), undefined, now);
    if (item === undefined) return undefined;
    // The item it creates counts as a hit, as memcached counts it.
    this.counters.clsGetHits[this.classOf(key.length, 0)]!++;
    return new Item(item.key, item.value, 0, item.cas, exptime, now, false, false, true, false, item.keyBinary, undefined, true);
  }

  // -------------------------------------------------------------------------
  // Storage commands
  // -------------------------------------------------------------------------

  /** The class an item of these lengths goes to: a slab class, or LARGE outside the slabs. */
  private classOf(klen: number, vlen: number): number {
    const c = this.slabs.classFor(CHUNK_HEADER + klen + vlen);
    return c < 0 ? this.LARGE : c;
  }

  store(cmd: StoreCommand): StoreOutcome {
    const now = this.now();
    const key = cmd.key;
    const value = cmd.value;
    const klen = key.length;
    const k = this.counters;
    if (memcachedItemSize(klen, cmd.flags, value.length) > this.maxItemSize) {
      k.storeTooLarge++;
      this.dropAfterFailedStore(cmd, now);
      return 'TOO_LARGE';
    }
    if (!this.memory.fits(klen, value.length)) {
      k.storeNoMemory++;
      this.dropAfterFailedStore(cmd, now);
      return 'OUT_OF_MEMORY';
    }
    // memcached counts a store in the class of the item its data was read into, whatever the outcome.
    k.clsCmdSet[this.classOf(klen, value.length)]!++;
    const h = this.table.hashOf(key);
    const old = this.find(key, h, now);
    const mode = cmd.mode;
    const compareCas = cmd.compareCas;
    const kb = keyBits(cmd);

    if (old === 0) {
      if (compareCas !== undefined && (mode === 'set' || mode === 'replace')) return 'NOT_FOUND';
      if (mode !== 'set' && mode !== 'add') return 'NOT_STORED';
      return this.stored(key, h, value, undefined, cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, now);
    }

    const t = this.table;
    switch (mode) {
      case 'add':
        // add refuses, but promotes the existing item (memcached's do_store_item).
        this.lru.update(old, now);
        return 'NOT_STORED';
      case 'append':
      case 'prepend': {
        // 0 means "no CAS" here; an invalidating lower CAS is still a mismatch.
        if (compareCas !== undefined && compareCas !== 0n && compareCas !== t.u64[old * 8 + CAS]) return 'EXISTS';
        const oldFlags = t.u32[old * STRIDE + FLAGS]!;
        const total = t.u32[old * STRIDE + VLEN]! + value.length;
        // The joined item must fit; memcached answers NOT_STORED when it cannot allocate it.
        if (memcachedItemSize(klen, oldFlags, total) > this.maxItemSize || !this.memory.fits(klen, total)) return 'NOT_STORED';
        this.copies.copyOut(old);
        const oldValue = this.copies.value;
        const oldExptime = t.f64[old * 8 + EXPTIME]!;
        this.memory.unlink(old);
        return mode === 'append'
          ? this.stored(key, h, oldValue, value, oldFlags, oldExptime, kb, cmd.newCas, now)
          : this.stored(key, h, value, oldValue, oldFlags, oldExptime, kb, cmd.newCas, now);
      }
      default: {
        // set/replace; with a CAS they are memcached's cas command.
        if (compareCas !== undefined) {
          const cas = t.u64[old * 8 + CAS]!;
          const oldCls = t.i32[old * STRIDE + CLS]!;
          if (compareCas !== 0n && compareCas === cas) {
            k.clsCasHits[oldCls]!++;
          } else if (storesStale(cmd.invalidate, compareCas, cas)) {
            k.clsCasHits[oldCls]!++;
            // Meta I: an older CAS still stores, but the item is stale and
            // keeps its TTL and token state.
            const bits = staleStoreBits(t.i32[old * STRIDE + STATE]!, cmd);
            const oldExptime = t.f64[old * 8 + EXPTIME]!;
            this.memory.unlink(old);
            return this.stored(key, h, value, undefined, cmd.flags, oldExptime, bits, cmd.newCas, now);
          } else {
            k.clsCasBadval[oldCls]!++;
            return 'EXISTS';
          }
        }
        this.memory.unlink(old);
        return this.stored(key, h, value, undefined, cmd.flags, absoluteExptime(cmd.exptime, now), kb, cmd.newCas, now);
      }
    }
  }

  private stored(
    key: Buffer,
    h: number,
    a: Buffer,
    b: Buffer | undefined,
    flags: number,
    exptime: number,
    bits: number,
    newCas: bigint | undefined,
    now: number,
  ): StoreOutcome {
    const item = this.put(key, h, a, b, flags, exptime, bits, newCas, now);
    if (item !== undefined) return item;
    this.counters.storeNoMemory++;
    return 'OUT_OF_MEMORY';
  }

  /**
   * A store that fails for size or memory drops the item it would have
   * replaced when the command says so (`unlinkOnFailure`: memcached's set,
   * binary Set with a CAS too, every mode of meta ms; not the text `cas`
   * command, whose refusal leaves the item alone).
   */
  private dropAfterFailedStore(cmd: StoreCommand, now: number): void {
    if (cmd.unlinkOnFailure !== true) return;
    const id = this.find(cmd.key, this.table.hashOf(cmd.key), now);
    if (id !== 0) this.memory.unlink(id);
  }

  delete(cmd: DeleteCommand): DeleteOutcome {
    const now = this.now();
    const id = this.find(cmd.key, this.table.hashOf(cmd.key), now);
    if (id === 0) return 'NOT_FOUND';
    const t = this.table;
    if (cmd.compareCas !== undefined && cmd.compareCas !== t.u64[id * 8 + CAS]) return 'EXISTS';
    if (cmd.invalidate === true) {
      // Meta md I: keep the item, stale, with a new CAS and optionally a new TTL.
      if (cmd.exptime !== undefined) t.f64[id * 8 + EXPTIME] = absoluteExptime(cmd.exptime, now);
      t.i32[id * STRIDE + STATE] = invalidatedState(t.i32[id * STRIDE + STATE]!);
      t.u64[id * 8 + CAS] = this.nextCas();
      return 'DELETED';
    }
    this.counters.clsDeleteHits[t.i32[id * STRIDE + CLS]!]!++;
    this.memory.unlink(id);
    return 'DELETED';
  }

  touch(cmd: TouchCommand): TouchOutcome {
    const now = this.now();
    const id = this.find(cmd.key, this.table.hashOf(cmd.key), now);
    if (id === 0) return 'NOT_FOUND';
    // memcached's touch fetches with an LRU bump, so the item counts as fetched.
    const t = this.table;
    this.counters.clsTouchHits[t.i32[id * STRIDE + CLS]!]!++;
    t.f64[id * 8 + EXPTIME] = absoluteExptime(cmd.exptime, now);
    t.i32[id * STRIDE + STATE] |= FETCHED;
    this.lru.update(id, now);
    return 'TOUCHED';
  }

  arithmetic(cmd: ArithmeticCommand): ArithmeticOutcome {
    const now = this.now();
    const key = cmd.key;
    const h = this.table.hashOf(key);
    const id = this.find(key, h, now);
    const incr = cmd.incr;
    if (id === 0) return cmd.initial !== undefined ? this.createCounter(cmd, h, now) : 'NOT_FOUND';
    const t = this.table;
    const width = t.u32[id * STRIDE + VLEN]!;
    const flags = t.u32[id * STRIDE + FLAGS]!;
    // memcached's do_add_delta: an empty or chunked value is non-numeric before the CAS is compared;
    // a CAS mismatch comes before the digits are read.
    if (width === 0 || memcachedItemSize(key.length, flags, width) > SLAB_CHUNK_MAX) return 'NON_NUMERIC';
    const compareCas = cmd.compareCas;
    if (compareCas !== undefined && compareCas !== 0n && compareCas !== t.u64[id * 8 + CAS]) return 'EXISTS';
    const copies = this.copies;
    copies.copyOut(id);
    const current = parseCounter(copies.value);
    if (current === undefined) return 'NON_NUMERIC';
    const result = applyDelta(current, cmd.delta, incr);
    (incr ? this.counters.clsIncrHits : this.counters.clsDecrHits)[t.i32[id * STRIDE + CLS]!]!++;
    // Meta ma T: the exptime changes along with the value.
    const previousExptime = cmd.touch !== undefined ? t.f64[id * 8 + EXPTIME]! : undefined;
    const exptime = cmd.touch !== undefined ? absoluteExptime(cmd.touch, now) : t.f64[id * 8 + EXPTIME]!;
    const digits = result.toString();
    const len = digits.length;
    if (len > width) {
      // Longer: a new item with the same flags and exptime.
      const bits = t.i32[id * STRIDE + STATE]! & KEY_BINARY;
      this.memory.unlink(id);
      const item = this.put(key, h, copies.latin1(digits), undefined, flags, exptime, bits, cmd.newCas, now);
      if (item === undefined) return 'NOT_FOUND';
      return previousExptime === undefined ? item : withReplyFacts(item, previousExptime, false);
    }
    // Fits: memcached rewrites the bytes in place, space-padded to the old
    // length, keeping the item's flags and fetch/stale state.
    const cas = cmd.newCas ?? this.nextCas();
    t.u64[id * 8 + CAS] = cas;
    t.f64[id * 8 + EXPTIME] = exptime;
    this.memory.rewriteCounter(id, digits);
    this.lru.update(id, now);
    const st = t.i32[id * STRIDE + STATE]!;
    return new Item(
      copies.key,
      copies.latin1(digits),
      flags,
      cas,
      exptime,
      t.u32[id * STRIDE + ATIME]!,
      (st & FETCHED) !== 0,
      (st & STALE) !== 0,
      false,
      (st & TOKEN_SENT) !== 0,
      (st & KEY_BINARY) !== 0,
      previousExptime,
      false,
    );
  }

  /** Binary incr/decr with an initial value, meta ma N: a miss creates the counter with `initial` (no delta) and `exptime`. */
  private createCounter(cmd: ArithmeticCommand, h: number, now: number): ArithmeticOutcome {
    const digits = BigInt.asUintN(64, cmd.initial!).toString();
    const key = cmd.key;
    if (memcachedItemSize(key.length, 0, digits.length) > this.maxItemSize) return 'NOT_FOUND';
    // `exptime` is the one the created counter ends with (the parser applied meta T and N in request order).
    const exptime = absoluteExptime(cmd.exptime ?? 0, now);
    const item = this.put(key, h, this.copies.latin1(digits), undefined, 0, exptime, keyBits(cmd), cmd.newCas, now);
    if (item === undefined) return 'NOT_FOUND';
    return withReplyFacts(item, undefined, true);
  }

  flush(delay: number): void {
    const now = this.now();
    // A flush "now" consumes a CAS unique, as memcached's does.
    if (this.flushes.flush(delay, now)) this.nextCas();
  }

  /**
   * Reclaim expired and flushed items without waiting for a read: examines up
   * to `limit` item slots, resuming where the previous call stopped (a full
   * pass ends the call). The timer calls this every `sweepIntervalMs`.
   * Returns the number of items reclaimed.
   */
  sweep(limit: number = this.sweepBatch): number {
    return this.memory.sweep(limit, this.now());
  }

  /** memcached's admin commands (lru_crawler, stats cachedump, slabs, lru, cache_memlimit): admin.ts. */
  admin(cmd: AdminCommand): Buffer | undefined {
    return this.adminCommands.run(cmd, this.now());
  }

  close(): void {
    // Other threads' handlers go on with a shared store's crawler.
    if (this.shared === undefined) this.adminCommands.crawlerEnabled = false;
    this.crawler(false);
  }

  stats(group: string): StatsGroup | undefined {
    // A shared store is reported by one thread's handler; the others answer only its settings.
    if (!this.reporter && REPORTED_GROUPS.has(group)) return {};
    return this.groupStats(group);
  }

  private groupStats(group: string): StatsGroup | undefined {
    switch (group) {
      case '':
        return generalStats(this.statsSource());
      case 'settings':
        return settingsStats(this.statsSource());
      case 'items':
        return itemStats(this.statsSource(), this.now());
      case 'slabs':
        return slabStats(this.statsSource());
      case 'sizes':
        return sizesStats();
      case 'reset':
        this.counters.reset();
        return {};
      default:
        return undefined;
    }
  }

  private statsSource(): StatsSource {
    const m = this.memory;
    return {
      counters: this.counters.totals(),
      maxBytes: this.maxBytes,
      maxItemSize: this.maxItemSize,
      pageSize: this.pageSize,
      slabs: this.slabs,
      lru: this.lru,
      used: m.used,
      itemBytes: m.itemBytes,
      largeBytes: m.largeBytes,
      currItems: this.table.count,
      crawler: this.adminCommands.crawlerEnabled,
    };
  }
}
