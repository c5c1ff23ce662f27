/**
 * The items on disk: LMDB's databases (record.ts), the writes not yet
 * committed, the byte cap and what is evicted to keep it, and the state that
 * outlives a restart (the CAS ceiling, the flush_all rule).
 *
 * Reads are synchronous: LMDB maps the file into memory and a lookup walks
 * a B-tree. Writes go to lmdb's asynchronous batches (one transaction per
 * event-loop turn, committed off the main thread). A write is recorded in
 * `pending` first, so every later read sees it before it is committed, and
 * a read-modify-write command (add, cas, incr, append) always reads the
 * latest state; the entry goes when its own commit lands.
 */
import type { Logger } from '@cleave/core';
import { ItemState, StoreCounters } from '@cleave/protocol';
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Database, type RootDatabase, open } from 'lmdb';
import { HEADER_BYTES, type Rec, decodeHeader, diskBytes, encodeHeader, expKey, indexItemKey, indexNumber, lruKey } from './record.js';

/** Every store's counters (protocol's StoreCounters), and the commits that failed. */
export class DiskCounters extends StoreCounters {
  writeErrors = 0;

  override reset(): void {
    super.reset();
    this.writeErrors = 0;
  }
}

const { FETCHED } = ItemState;

/** Keys of the `meta` database. */
const CAS_CEILING = 'cas_ceiling';
const FLUSH_RULE = 'flush_rule';
/** CAS uniques reserved per write of the ceiling: a restart continues above every CAS handed out. */
export const CAS_RESERVE = 1_000_000n;

/**
 * Share of the cap the counted bytes may fill at first. LMDB's file never
 * shrinks and holds, besides the items, pages freed but not yet reusable
 * (until the commits after them are on disk) and runs of free pages too
 * short for a large value; when the file nears the cap, the share drops
 * (down to MIN_FILL), so more of the file is free pages to reuse and it
 * stops growing.
 */
const FILL = 0.8;
const MIN_FILL = 0.2;
/** The file's size is checked every this many new items (an fstat), and by every sweep. */
const CHECK_EVERY = 16;
/** At most this many value bytes wait for their commit before a write waits for its own (flow control). */
const PENDING_LIMIT = 16 * 1024 * 1024;
/** The share of the cap the file may reach before the counted share drops. */
const FILE_HIGH = 0.9;
/**
 * Index entries one eviction pass examines at most: a write makes room for
 * itself with a short pass, so no write holds the event loop for long; the
 * background sweep passes again in slices of its own while the store is over.
 */
export const SCAN_LIMIT = 64;

/**
 * A removal in `pending`: a new object for each one, so that the commit of
 * an earlier removal of a key, landing after a later one was written, knows
 * the entry is not its own and leaves it (a shared marker let it drop the
 * later removal's entry, and reads saw the item again until that commit).
 */
class Removed {}

export interface DiskOptions {
  path: string;
  maxBytes: number;
  sync: boolean;
  logger: Logger | undefined;
}

export class Disk {
  readonly root: RootDatabase;
  private readonly headers: Database<Buffer, Buffer>;
  private readonly values: Database<Buffer, Buffer>;
  private readonly lru: Database<Buffer, Buffer>;
  private readonly exp: Database<Buffer, Buffer>;
  private readonly meta: Database<unknown, string>;
  /** Written and not yet committed: the record, or a Removed for a removed item. Keyed by the key's bytes as Latin-1. */
  private readonly pending = new Map<string, Rec | Removed>();
  /** The latest write's promise: lmdb commits in order, so it settles after every earlier one. */
  private last: Promise<unknown> = Promise.resolve(true);
  private readonly dataFile: string;
  /** The counted bytes eviction keeps the items under (see FILL). */
  private target: number;
  /** The largest size of the file seen by checkFile. */
  private lastFileBytes = 0;
  /** Value bytes written and not yet committed, and the most a write may leave so without waiting for its commit. */
  private pendingBytes = 0;
  private readonly pendingLimit: number;
  /** New items since the file was last checked. */
  private sinceCheck = 0;
  /** Bytes the items take on disk by `diskBytes` (the `bytes` stat), and their count (`curr_items`). */
  bytes = 0;
  count = 0;
  readonly counters = new DiskCounters();
  maxBytes: number;
  readonly sync: boolean;
  private readonly logger: Logger | undefined;
  /** Where the last eviction and expiry scans stopped: entries before them are gone or on their way. */
  private lruCursor: Buffer | undefined;
  private expCursor: Buffer | undefined;
  private empty = Buffer.alloc(0);
  /** The next LRU sequence number: larger is more recent. */
  private seq = 1;

  readonly path: string;

  constructor(o: DiskOptions) {
    this.path = o.path;
    this.maxBytes = o.maxBytes;
    this.sync = o.sync;
    this.logger = o.logger;
    this.dataFile = join(o.path, 'data.mdb');
    checkDataFile(this.dataFile);
    this.root = open({ path: o.path, maxDbs: 8, mapSize: o.maxBytes * 2, noMemInit: true });
    this.target = o.maxBytes * FILL;
    this.pendingLimit = Math.min(PENDING_LIMIT, o.maxBytes / 16);
    const binary = { keyEncoding: 'binary', encoding: 'binary' } as const;
    this.headers = this.root.openDB<Buffer, Buffer>({ name: 'headers', ...binary });
    this.values = this.root.openDB<Buffer, Buffer>({ name: 'values', ...binary });
    this.lru = this.root.openDB<Buffer, Buffer>({ name: 'lru', ...binary });
    this.exp = this.root.openDB<Buffer, Buffer>({ name: 'exp', ...binary });
    this.meta = this.root.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    for (const { key, value } of this.headers.getRange({ snapshot: false })) {
      this.count++;
      this.bytes += diskBytes(key.length, value.readUInt32LE(32), value.readDoubleLE(8) !== 0);
    }
    for (const k of this.lru.getKeys({ reverse: true, limit: 1, snapshot: false })) this.seq = indexNumber(k, 8) + 1;
  }

  // -- reading ------------------------------------------------------------------

  /** The record for `key`, written or committed, dead or alive; `undefined` when there is none. */
  read(key: Buffer): Rec | undefined {
    if (this.pending.size !== 0) {
      const p = this.pending.get(key.toString('latin1'));
      if (p !== undefined) return p instanceof Removed ? undefined : p;
    }
    const h = this.headers.getBinaryFast(key);
    if (h === undefined || h.length !== HEADER_BYTES) return undefined;
    return decodeHeader(key, h);
  }

  /** A record's value: its own copy, or read from disk into a new Buffer (an answer keeps it). */
  valueOf(r: Rec): Buffer {
    if (r.value !== undefined) return r.value;
    const v = this.values.getBinary(r.key);
    return v ?? this.empty;
  }

  // -- writing ------------------------------------------------------------------

  /**
   * Link `r` (with its value) in place of `old`: a new item. Returns what
   * acknowledges it: nothing by default (the write is already visible), a
   * Promise of the durable commit when `sync`.
   */
  link(r: Rec, old: Rec | undefined): Promise<void> | undefined {
    const key = own(r);
    if (old !== undefined) this.dropIndexes(old);
    else this.count++;
    this.bytes +=
      diskBytes(key.length, r.vlen, r.exptime !== 0) - (old === undefined ? 0 : diskBytes(key.length, old.vlen, old.exptime !== 0));
    this.counters.totalItems++;
    if (++this.sinceCheck === CHECK_EVERY) {
      this.sinceCheck = 0;
      this.checkFile();
    }
    r.seq = this.seq++;
    this.headers.put(key, encodeHeader(r));
    let done = this.values.put(key, r.value!);
    done = this.lru.put(lruKey(r.seq, key), this.empty);
    if (r.exptime !== 0) done = this.exp.put(expKey(r.exptime, key), this.empty);
    return this.written(r, key, done);
  }

  /** Rewrite the facts of an item (`r` is `old` changed): its header and the index entries that moved. A bump (a new time) moves it to the LRU's head. */
  rewrite(r: Rec, old: Rec): Promise<void> | undefined {
    const key = own(r);
    if (r.time !== old.time) {
      r.seq = this.seq++;
      this.lru.remove(lruKey(old.seq, key));
      this.lru.put(lruKey(r.seq, key), this.empty);
    }
    if (r.exptime !== old.exptime) {
      if (old.exptime !== 0) this.exp.remove(expKey(old.exptime, key));
      if (r.exptime !== 0) this.exp.put(expKey(r.exptime, key), this.empty);
      this.bytes += diskBytes(key.length, r.vlen, r.exptime !== 0) - diskBytes(key.length, old.vlen, old.exptime !== 0);
    }
    // An in-place counter update changes the value, not its length; otherwise the value stays as written.
    if (r.value !== old.value) this.values.put(key, r.value!);
    return this.written(r, key, this.headers.put(key, encodeHeader(r)));
  }

  /** Remove an item. */
  unlink(old: Rec): Promise<void> | undefined {
    const key = own(old);
    this.dropIndexes(old);
    this.count--;
    this.bytes -= diskBytes(key.length, old.vlen, old.exptime !== 0);
    this.headers.remove(key);
    return this.written(new Removed(), key, this.values.remove(key));
  }

  private dropIndexes(old: Rec): void {
    this.lru.remove(lruKey(old.seq, old.key));
    if (old.exptime !== 0) this.exp.remove(expKey(old.exptime, old.key));
  }

  /**
   * Record a write in `pending` until its commit lands, and say what
   * acknowledges it. `done` is the write's last put or remove: lmdb commits
   * in order, so it settles after the rest.
   */
  private written(r: Rec | Removed, key: Buffer, done: Promise<boolean>): Promise<void> | undefined {
    const k = key.toString('latin1');
    this.pending.set(k, r);
    this.last = done;
    // Value bytes this write holds in memory until its commit lands.
    const held = r instanceof Removed || r.value === undefined ? 0 : r.vlen;
    this.pendingBytes += held;
    const settled = done.then(
      () => {
        this.pendingBytes -= held;
        if (this.pending.get(k) === r) this.pending.delete(k);
      },
      (err: unknown) => {
        this.pendingBytes -= held;
        this.counters.writeErrors++;
        if (this.pending.get(k) === r) this.pending.delete(k);
        this.logger?.error({ err }, 'an LMDB commit failed; the writes in it are lost');
        throw err;
      },
    );
    if (this.sync) return settled.then(() => this.root.flushed).then(() => undefined);
    settled.catch(() => {});
    // Writes arriving faster than the disk commits them wait for their commit: memory stays bounded,
    // and so do the pages the commits in flight keep from reuse.
    return this.pendingBytes > this.pendingLimit ? settled : undefined;
  }

  /** Resolves once every write made so far is committed (and flushed to disk). */
  async settle(): Promise<void> {
    await this.last.catch(() => {});
    await this.root.flushed;
  }

  // -- state that outlives a restart ----------------------------------------------

  /** The CAS ceiling saved by an earlier run (0n for a new store). */
  savedCasCeiling(): bigint {
    const v = this.meta.get(CAS_CEILING);
    return typeof v === 'string' ? BigInt(v) : 0n;
  }

  saveCasCeiling(ceiling: bigint): void {
    this.meta.put(CAS_CEILING, ceiling.toString());
  }

  savedFlushRule(): number[] | undefined {
    const v = this.meta.get(FLUSH_RULE);
    return Array.isArray(v) && v.length === 5 && v.every((n) => typeof n === 'number') ? (v as number[]) : undefined;
  }

  saveFlushRule(state: number[]): void {
    this.meta.put(FLUSH_RULE, state);
  }

  // -- the byte cap and reclaiming ------------------------------------------------

  /** Whether the counted bytes are over the share of the cap they may fill. */
  get full(): boolean {
    return this.bytes > this.target;
  }

  /**
   * Bring the counted bytes under the cap: expired items first (up to
   * `now`), then the least recently used. `dead` tells a record that a flush
   * killed. Work per call is bounded by `limit` index entries of each index.
   */
  makeRoom(now: number, dead: (r: Rec) => boolean, limit = SCAN_LIMIT): void {
    if (!this.full) return;
    this.reclaimExpired(now, limit, () => this.full);
    let scanned = 0;
    // From where the last scan stopped to the end, then once more from the oldest entry.
    for (let pass = 0; pass < 2 && this.full; pass++) {
      const from = this.lruCursor;
      for (const k of this.lru.getKeys({ start: from, exclusiveStart: from !== undefined, snapshot: false })) {
        if (!this.full || ++scanned > limit) return;
        this.lruCursor = Buffer.from(k);
        const r = this.committedRecord(k, 'seq');
        if (r === undefined) continue;
        const c = this.counters;
        if (dead(r)) c.reclaimed++;
        else {
          c.evictions++;
          if ((r.state & FETCHED) === 0) c.evictedUnfetched++;
        }
        this.unlink(r);
      }
      this.lruCursor = undefined;
    }
  }

  /**
   * Reclaim expired items in exptime order up to `now`, examining at most
   * `limit` index entries and stopping when `more` says enough. Returns how
   * many it reclaimed.
   */
  reclaimExpired(now: number, limit: number, more: () => boolean = () => true): number {
    let n = 0;
    let scanned = 0;
    const end = expKey(now + 1, this.empty);
    const start = this.expCursor !== undefined && indexNumber(this.expCursor, 4) <= now ? this.expCursor : undefined;
    for (const k of this.exp.getKeys({ start, exclusiveStart: start !== undefined, end, snapshot: false })) {
      if (++scanned > limit || !more()) return n;
      this.expCursor = Buffer.from(k);
      const r = this.committedRecord(k, 'exptime');
      if (r === undefined) continue;
      this.counters.reclaimed++;
      if ((r.state & FETCHED) === 0) this.counters.expiredUnfetched++;
      this.unlink(r);
      n++;
    }
    this.expCursor = undefined;
    return n;
  }

  /**
   * Walk the items in LRU order from `from`, reclaiming those `dead` says are
   * gone (flushed), up to `limit` entries. Returns where to resume
   * (undefined: the walk reached the end) and how many it reclaimed.
   */
  reclaimDead(from: Buffer | undefined, limit: number, dead: (r: Rec) => boolean): { next: Buffer | undefined; reclaimed: number } {
    let scanned = 0;
    let reclaimed = 0;
    for (const k of this.lru.getKeys({ start: from, exclusiveStart: from !== undefined, snapshot: false })) {
      if (++scanned > limit) return { next: from, reclaimed };
      from = Buffer.from(k);
      const r = this.committedRecord(k, 'seq');
      if (r === undefined || !dead(r)) continue;
      this.counters.reclaimed++;
      this.unlink(r);
      reclaimed++;
    }
    return { next: undefined, reclaimed };
  }

  /**
   * The record an index entry points at, when it is committed, unchanged
   * since, and still at that time: an item with a write pending is left to
   * that write.
   */
  private committedRecord(indexKey: Buffer, field: 'seq' | 'exptime'): Rec | undefined {
    const width = field === 'seq' ? 8 : 4;
    const key = indexItemKey(indexKey, width);
    if (this.pending.size !== 0 && this.pending.has(key.toString('latin1'))) return undefined;
    const h = this.headers.getBinaryFast(key);
    if (h === undefined || h.length !== HEADER_BYTES) return undefined;
    const r = decodeHeader(Buffer.from(key), h);
    const n = field === 'seq' ? r.seq : Math.min(r.exptime, 0xffffffff);
    return n === indexNumber(indexKey, width) ? r : undefined;
  }

  /** Disk use of the store's file (allocated blocks). */
  fileBytes(): number {
    try {
      return statSync(this.dataFile).blocks * 512;
    } catch {
      return 0;
    }
  }

  /**
   * Compare the file with the cap: above FILE_HIGH of it, lower the share
   * the items may fill, once per growth of the file, so that eviction frees
   * pages for LMDB to reuse instead of growing the file.
   */
  checkFile(): void {
    const size = this.fileBytes();
    if (size > this.maxBytes * FILE_HIGH && size > this.lastFileBytes) {
      this.target = Math.max(this.maxBytes * MIN_FILL, this.target * 0.9);
    }
    this.lastFileBytes = Math.max(this.lastFileBytes, size);
  }

  async close(): Promise<void> {
    await this.settle();
    await this.root.close();
  }
}

/** A record read from disk may carry the caller's key (a view of its read buffer); a write keeps its own copy. */
function own(r: Rec): Buffer {
  r.key = Buffer.from(r.key);
  return r.key;
}

/** LMDB's magic number, in the meta record at the start of the file (after a 16- or 24-byte page header). */
const LMDB_MAGIC = 0xbeefc0de;

/**
 * Refuse a data file that is not LMDB's: lmdb's native open reads it
 * unchecked and may crash the process on one that is not.
 */
function checkDataFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return; // None yet (a new store), or one lmdb will report itself.
  }
  try {
    const head = Buffer.alloc(32);
    const n = readSync(fd, head, 0, 32, 0);
    if (n === 0) return;
    if (n < 32 || (head.readUInt32LE(16) !== LMDB_MAGIC && head.readUInt32LE(24) !== LMDB_MAGIC)) {
      throw new Error(`${file} is not an LMDB data file`);
    }
  } finally {
    closeSync(fd);
  }
}
