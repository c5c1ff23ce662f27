import { createHash, randomFillSync } from 'node:crypto';
import { BinaryStatus, HandlerError, REALTIME_MAXDELTA } from '@cleave/protocol';
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
  StoreFailure,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';

/**
 * Large values over a store with a small item limit.
 *
 * Layout in the inner store (see the package README for the full story):
 *
 * - A value of at most one chunk is stored as a plain item under the client's
 *   key, exactly as memcached would store it (client flags, value bytes), so
 *   small values cost nothing and incr/decr/append/prepend keep memcached's
 *   own semantics. The one exception: a small value that happens to begin
 *   with the 3-byte marker below is stored "escaped" (marker + kind 3 + value)
 *   so it can never be mistaken for a chunked item's metadata.
 * - A larger value is split into chunk items under keys that carry a random
 *   64-bit version token, and the client's key holds a 32-byte metadata item
 *   that names that version. Writers store all chunks first and only then
 *   switch the metadata (CAS), so a reader never sees a partial value.
 *
 * Metadata item value (big-endian), inner flags 0:
 *
 *   0  3  marker C7 4C 56 (0xC7 is neither a digit nor whitespace, so incr/decr
 *         on the metadata answers NON_NUMERIC as memcached does for any item
 *         over slab_chunk_max)
 *   3  1  kind: 1 = chunk keys from the key, 2 = chunk keys from its hash
 *   4  4  client flags
 *   8  4  value length
 *  12  4  chunk size (bytes of value per chunk item; the last holds the rest)
 *  16  4  chunk count
 *  20  8  version token
 *  28  4  FNV-1a of bytes 0..27
 *
 * Chunk item keys: `<base>|<token, 16 hex>:<index, 4 hex>`, where base is the
 * client's key, or `#` + 32 hex digits of its SHA-256 when the key is too long
 * to take the 22-byte suffix within `maxKeyLength`.
 */

export interface ChunkedHandlerOptions {
  /**
   * Value bytes per chunk item. Default: computed per key so that a full chunk
   * item occupies exactly `chunkItemSize` bytes in memcached.
   */
  chunkSize?: number;
  /**
   * memcached's size of a full chunk item (48-byte item header + key + NUL +
   * value + CRLF + 8-byte CAS). Default 524288: memcached 1.6's largest slab
   * class (slab_chunk_max), the biggest item it stores without splitting it
   * itself, two to a 1 MiB page with no waste.
   */
  chunkItemSize?: number;
  /**
   * Largest item accepted, counted as memcached counts `-I` (59 + key + value,
   * +4 with non-zero flags). Default 16 MiB.
   */
  maxItemSize?: number;
  /** Longest key the inner store takes (memcached: 250). */
  maxKeyLength?: number;
  /** Metadata re-reads a fetch makes when concurrent writes keep replacing the value it reads (default 16). */
  maxReadRetries?: number;
  /** Metadata CAS conflicts a write retries before giving up with an error (default 64). */
  maxWriteRetries?: number;
  /**
   * Read the key before storing a small value so that the chunks of a large
   * value it replaces are deleted at once (default true). With false, small
   * set/replace/cas go straight to the inner store in one round trip and such
   * chunks are left to expire or be evicted.
   */
  trackReplacedChunks?: boolean;
}

/** memcached's item overhead as item_size_ok() counts it: 48-byte item + key NUL + value CRLF + 8-byte CAS. */
export const MEMCACHED_ITEM_OVERHEAD = 59;
/** memcached 1.6's slab_chunk_max with the default `-I 1m`: its largest slab class. */
export const DEFAULT_CHUNK_ITEM_SIZE = 524288;
export const DEFAULT_MAX_ITEM_SIZE = 16 * 1024 * 1024;
/** Bytes of the metadata item that stands for a chunked value. */
export const CHUNKED_HEADER_BYTES = 32;
/** `|` + 16 hex token + `:` + 4 hex index. */
export const CHUNK_KEY_SUFFIX_BYTES = 22;
/** `#` + 32 hex digits of SHA-256. */
const HASHED_BASE_BYTES = 33;
const MAX_CHUNKS = 0x10000;

const MARK0 = 0xc7;
const MARK1 = 0x4c;
const MARK2 = 0x56;
const KIND_CHUNKED = 1;
const KIND_CHUNKED_HASHED = 2;
const KIND_ESCAPED = 3;
const ESCAPE_BYTES = 4;

const HEX = Buffer.from('0123456789abcdef', 'latin1');

/** A decoded metadata item. */
export interface ChunkedHeader {
  /** Chunk keys derive from the SHA-256 of the key rather than the key. */
  readonly hashed: boolean;
  readonly flags: number;
  readonly length: number;
  readonly chunkSize: number;
  readonly chunks: number;
  /** Version token, high and low 32 bits. */
  readonly tokenHi: number;
  readonly tokenLo: number;
}

function fnv1a(b: Buffer, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function hasMarker(v: Buffer): boolean {
  return v.length >= 3 && v[0] === MARK0 && v[1] === MARK1 && v[2] === MARK2;
}

/** Whether `a` followed by `b` begins with the marker (a prepend/append result), without joining them. */
function joinedHasMarker(a: Buffer, b: Buffer): boolean {
  const al = a.length;
  if (al + b.length < 3) return false;
  const at = (i: number): number => (i < al ? a[i]! : b[i - al]!);
  return at(0) === MARK0 && at(1) === MARK1 && at(2) === MARK2;
}

/** The metadata header of an inner item's value, or undefined when it is not one. */
export function parseChunkedHeader(v: Buffer): ChunkedHeader | undefined {
  if (v.length !== CHUNKED_HEADER_BYTES || !hasMarker(v)) return undefined;
  const kind = v[3];
  if (kind !== KIND_CHUNKED && kind !== KIND_CHUNKED_HASHED) return undefined;
  if (v.readUInt32BE(28) !== fnv1a(v, 28)) return undefined;
  const length = v.readUInt32BE(8);
  const chunkSize = v.readUInt32BE(12);
  const chunks = v.readUInt32BE(16);
  if (chunkSize === 0 || chunks === 0 || chunks > MAX_CHUNKS || chunks !== Math.ceil(length / chunkSize)) return undefined;
  return {
    hashed: kind === KIND_CHUNKED_HASHED,
    flags: v.readUInt32BE(4),
    length,
    chunkSize,
    chunks,
    tokenHi: v.readUInt32BE(20),
    tokenLo: v.readUInt32BE(24),
  };
}

function encodeHeader(h: ChunkedHeader): Buffer {
  const v = Buffer.allocUnsafe(CHUNKED_HEADER_BYTES);
  v[0] = MARK0;
  v[1] = MARK1;
  v[2] = MARK2;
  v[3] = h.hashed ? KIND_CHUNKED_HASHED : KIND_CHUNKED;
  v.writeUInt32BE(h.flags >>> 0, 4);
  v.writeUInt32BE(h.length, 8);
  v.writeUInt32BE(h.chunkSize, 12);
  v.writeUInt32BE(h.chunks, 16);
  v.writeUInt32BE(h.tokenHi, 20);
  v.writeUInt32BE(h.tokenLo, 24);
  v.writeUInt32BE(fnv1a(v, 28), 28);
  return v;
}

/** Whether a key needs its hash as the base of its chunk keys. */
function hashesKey(keyLength: number, maxKeyLength: number): boolean {
  return keyLength + CHUNK_KEY_SUFFIX_BYTES > maxKeyLength;
}

function hashedBase(key: Buffer): Buffer {
  const d = createHash('sha256').update(key).digest();
  const base = Buffer.allocUnsafe(HASHED_BASE_BYTES);
  base[0] = 0x23; // '#'
  for (let i = 0; i < 16; i++) {
    base[1 + 2 * i] = HEX[d[i]! >>> 4]!;
    base[2 + 2 * i] = HEX[d[i]! & 15]!;
  }
  return base;
}

function writeHex32(dst: Buffer, at: number, n: number): void {
  for (let i = 7; i >= 0; i--) {
    dst[at + i] = HEX[n & 15]!;
    n >>>= 4;
  }
}

/** The chunk item keys of a chunked value stored under `key`, in order. One allocation holds them all. */
export function chunkKeysOf(key: Buffer, h: ChunkedHeader): Buffer[] {
  const base = h.hashed ? hashedBase(key) : key;
  const bl = base.length;
  const kl = bl + CHUNK_KEY_SUFFIX_BYTES;
  const n = h.chunks;
  const all = Buffer.allocUnsafe(kl * n);
  // The first key is built byte by byte; the others copy it and rewrite the index.
  base.copy(all, 0);
  all[bl] = 0x7c; // '|'
  writeHex32(all, bl + 1, h.tokenHi);
  writeHex32(all, bl + 9, h.tokenLo);
  all[bl + 17] = 0x3a; // ':'
  const keys: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const off = i * kl;
    if (i > 0) all.copy(all, off, 0, bl + 18);
    const ix = off + bl + 18;
    all[ix] = HEX[(i >>> 12) & 15]!;
    all[ix + 1] = HEX[(i >>> 8) & 15]!;
    all[ix + 2] = HEX[(i >>> 4) & 15]!;
    all[ix + 3] = HEX[i & 15]!;
    keys[i] = all.subarray(off, off + kl);
  }
  return keys;
}

/**
 * Chunks get one more second than their metadata (both are written with the
 * same wire exptime, chunks first), so the metadata never outlives them. A
 * relative exptime of exactly 30 days cannot grow: one more second would read
 * as an absolute time in 1970.
 */
export function chunkExptime(exptime: number): number {
  return exptime > 0 && exptime !== REALTIME_MAXDELTA ? exptime + 1 : exptime;
}

function isPromise<T>(v: MaybePromise<T>): v is Promise<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Apply `f` now when `v` is ready, else when it settles: no Promise for ready values. */
function then<T, U>(v: MaybePromise<T>, f: (t: T) => MaybePromise<U>): MaybePromise<U> {
  return isPromise(v) ? v.then(f) : f(v);
}

/** Call `f`, turning a synchronous throw into a rejected Promise. */
function call<T>(f: () => MaybePromise<T>): MaybePromise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

function noop(): void {}

/** A client-facing view of an inner item with another value and flags. */
function viewOf(it: ItemView, value: Buffer, flags: number): ItemView {
  return {
    key: it.key,
    value,
    flags,
    cas: it.cas,
    exptime: it.exptime,
    lastAccess: it.lastAccess,
    fetched: it.fetched,
    stale: it.stale,
    win: it.win,
    tokenSent: it.tokenSent,
    keyBinary: it.keyBinary,
    previousExptime: it.previousExptime,
    created: it.created,
  };
}

function positiveInteger(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`ChunkedHandler: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** What a write puts under the client's key, and the chunks it wrote first (if any). */
interface Version {
  /** Value of the item under the client's key: the client's value, escaped value, or metadata. */
  readonly inner: Buffer;
  /** Inner flags: the client's for a plain or escaped value, 0 for metadata. */
  readonly innerFlags: number;
  readonly clientValue: Buffer;
  readonly clientFlags: number;
  readonly header?: ChunkedHeader;
  readonly chunkKeys?: Buffer[];
  /** Its chunks have been handed to deletion. */
  abandoned?: boolean;
}

/** Commands in progress on one key. */
interface Lane {
  /** Settles when every command issued so far on the key has finished. */
  all: Promise<void>;
  /** Settles when the last write issued on the key has finished. */
  writes: Promise<void> | undefined;
  /** Commands not finished yet. */
  n: number;
}

const DONE: Promise<void> = Promise.resolve();

/** Node's Buffer has a direct Latin-1 reader that its typings do not declare. */
interface Latin1Sliceable {
  latin1Slice(start: number, end: number): string;
}

function keyString(key: Buffer): string {
  return (key as unknown as Latin1Sliceable).latin1Slice(0, key.length);
}

/** Why a chunk fetch could not assemble the value. */
const MISSING = Symbol('missing');

/**
 * A Handler decorator that stores values larger than the inner store's item
 * limit as chunks plus a metadata item, with versioned chunk keys: readers
 * racing a writer get the old or the new value, never a torn one or a miss,
 * and a failed write never becomes visible.
 *
 * Within one ChunkedHandler, commands on a key take effect in the order they
 * were received (a pipelined get after a set sees the set). Races between
 * writers and readers come from other processes sharing the same memcached;
 * the version tokens and CAS switches make those safe too.
 */
export class ChunkedHandler implements Handler {
  readonly inner: Handler;
  readonly maxItemSize: number;
  readonly maxKeyLength: number;
  readonly chunkItemSize: number;
  private readonly fixedChunkSize: number | undefined;
  private readonly maxReadRetries: number;
  private readonly maxWriteRetries: number;
  private readonly trackReplaced: boolean;

  private readonly background = new Set<Promise<void>>();
  /** Keys with commands in progress (by the key's bytes as a latin1 string). */
  private readonly lanes = new Map<string, Lane>();
  /** A flush_all in progress: commands issued after it wait for it. */
  private barrier: Promise<void> | undefined = undefined;
  private tokenPool = Buffer.alloc(0);
  private tokenAt = 0;

  // Counters for `stats`.
  private storesChunked = 0;
  private chunkWrites = 0;
  private fetchesChunked = 0;
  private chunkReads = 0;
  private readRetries = 0;
  private writeRetries = 0;
  private versionsRetired = 0;
  private orphanCleanups = 0;
  private chunkDeletes = 0;
  private lost = 0;
  private writeErrors = 0;

  constructor(inner: Handler, options: ChunkedHandlerOptions = {}) {
    this.inner = inner;
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULT_MAX_ITEM_SIZE);
    if (this.maxItemSize > 0xffffffff) throw new RangeError('ChunkedHandler: maxItemSize must fit 32 bits');
    this.maxKeyLength = positiveInteger('maxKeyLength', options.maxKeyLength, 250, HASHED_BASE_BYTES + CHUNK_KEY_SUFFIX_BYTES);
    this.chunkItemSize = positiveInteger('chunkItemSize', options.chunkItemSize, DEFAULT_CHUNK_ITEM_SIZE);
    this.fixedChunkSize = options.chunkSize === undefined ? undefined : positiveInteger('chunkSize', options.chunkSize, 0);
    this.maxReadRetries = positiveInteger('maxReadRetries', options.maxReadRetries, 16, 0);
    this.maxWriteRetries = positiveInteger('maxWriteRetries', options.maxWriteRetries, 64, 0);
    this.trackReplaced = options.trackReplacedChunks ?? true;
    // The smallest chunk any key gets bounds the chunk count (4 hex digits of index).
    const smallest = this.fixedChunkSize ?? this.chunkItemSize - MEMCACHED_ITEM_OVERHEAD - this.maxKeyLength;
    if (smallest < 1) {
      throw new RangeError(`ChunkedHandler: chunkItemSize ${this.chunkItemSize} leaves no room for a value after a ${this.maxKeyLength}-byte key`);
    }
    if (Math.ceil(this.maxItemSize / smallest) > MAX_CHUNKS) {
      throw new RangeError(`ChunkedHandler: maxItemSize ${this.maxItemSize} would need more than ${MAX_CHUNKS} chunks of ${smallest} bytes`);
    }
  }

  /**
   * Value bytes per chunk for a key: the fixed `chunkSize`, or what fills a
   * `chunkItemSize` memcached item once the chunk key and item overhead are
   * counted (chunk items carry flags 0, so no 4-byte flags field).
   */
  chunkSizeFor(keyLength: number): number {
    if (this.fixedChunkSize !== undefined) return this.fixedChunkSize;
    const base = hashesKey(keyLength, this.maxKeyLength) ? HASHED_BASE_BYTES : keyLength;
    return this.chunkItemSize - MEMCACHED_ITEM_OVERHEAD - base - CHUNK_KEY_SUFFIX_BYTES;
  }

  /** Resolves once background deletions of replaced and orphaned chunks have finished. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  // -------------------------------------------------------------------------
  // Retrieval
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    if (this.lanes.size === 0 && this.barrier === undefined) {
      const r = this.getNow(cmd);
      if (isPromise(r)) this.track(cmd.key, false, r);
      return r;
    }
    return this.ordered(cmd.key, false, () => this.getNow(cmd));
  }

  private getNow(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const r = this.inner.get(cmd);
    // A plain item from a synchronous store comes back as is: no closure, no Promise.
    return isPromise(r) ? r.then((it) => this.resolve(cmd, it)) : this.resolve(cmd, r);
  }

  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    if (this.lanes.size === 0 && this.barrier === undefined) {
      const r = this.getManyNow(cmds);
      if (isPromise(r)) for (const c of cmds) this.track(c.key, false, r);
      return r;
    }
    // Wait for writes queued on any of the keys (and a flush), then read them all at once.
    const waits: Promise<void>[] = [];
    if (this.barrier !== undefined) waits.push(this.barrier);
    for (const c of cmds) {
      const lane = this.lanes.get(keyString(c.key));
      if (lane !== undefined && lane.writes !== undefined) waits.push(lane.writes);
    }
    const r = waits.length === 0 ? this.getManyNow(cmds) : Promise.all(waits).then(() => this.getManyNow(cmds));
    if (isPromise(r)) for (const c of cmds) this.track(c.key, false, r);
    return r;
  }

  private getManyNow(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const inner = this.inner;
    const metas = inner.getMany ? inner.getMany(cmds) : all(cmds.map((c) => inner.get(c)));
    return then(metas, (items) => {
      let pending: number[] | undefined;
      const out = items.slice();
      for (let i = 0; i < out.length; i++) {
        const it = out[i];
        if (it === undefined || !hasMarker(it.value)) continue;
        const h = parseChunkedHeader(it.value);
        if (h !== undefined) (pending ??= []).push(i);
        else out[i] = unescape(it);
      }
      if (pending === undefined) return out;
      return this.assembleMany(cmds, out, pending);
    });
  }

  /** The client's view of an item the inner store returned under the client's key. */
  private resolve(cmd: GetCommand, it: ItemView | undefined): MaybePromise<ItemView | undefined> {
    if (it === undefined || !hasMarker(it.value)) return it;
    const h = parseChunkedHeader(it.value);
    if (h === undefined) return unescape(it);
    return this.assemble(cmd, it, h, undefined);
  }

  private chunkGets(key: Buffer, h: ChunkedHeader, cmd: GetCommand): GetCommand[] {
    const keys = chunkKeysOf(key, h);
    const touch = cmd.touch === undefined ? undefined : chunkExptime(cmd.touch);
    const noBump = cmd.noBump;
    const out: GetCommand[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      out[i] = touch === undefined && noBump === undefined ? { key: keys[i]! } : { key: keys[i]!, touch, noBump };
    }
    return out;
  }

  private fetchItems(cmds: GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const inner = this.inner;
    return inner.getMany ? inner.getMany(cmds) : all(cmds.map((c) => inner.get(c)));
  }

  /** One value from its chunks (items[from..from+h.chunks)), copied once into a buffer of its length; MISSING if any is gone. */
  private join(h: ChunkedHeader, items: readonly (ItemView | undefined)[], from: number): Buffer | typeof MISSING {
    const n = h.chunks;
    const cs = h.chunkSize;
    const last = h.length - cs * (n - 1);
    for (let i = 0; i < n; i++) {
      const c = items[from + i];
      // A chunk of the wrong length belongs to no version of ours: treat it as gone.
      if (c === undefined || c.value.length !== (i === n - 1 ? last : cs)) return MISSING;
    }
    const value = Buffer.allocUnsafe(h.length);
    for (let i = 0; i < n; i++) items[from + i]!.value.copy(value, i * cs);
    this.chunkReads += n;
    this.fetchesChunked++;
    return value;
  }

  private async assembleMany(
    cmds: readonly GetCommand[],
    out: (ItemView | undefined)[],
    pending: number[],
  ): Promise<(ItemView | undefined)[]> {
    // One inner multi-get fetches the chunks of every chunked value asked for.
    const headers: ChunkedHeader[] = [];
    const gets: GetCommand[] = [];
    for (const i of pending) {
      const h = parseChunkedHeader(out[i]!.value)!;
      headers.push(h);
      for (const g of this.chunkGets(out[i]!.key, h, cmds[i]!)) gets.push(g);
    }
    const items = await this.fetchItems(gets);
    let from = 0;
    const retries: Promise<void>[] = [];
    for (let j = 0; j < pending.length; j++) {
      const i = pending[j]!;
      const h = headers[j]!;
      const meta = out[i]!;
      const value = this.join(h, items, from);
      from += h.chunks;
      if (value !== MISSING) out[i] = viewOf(meta, value, h.flags);
      else retries.push(this.assemble(cmds[i]!, meta, h, MISSING).then((v) => void (out[i] = v)));
    }
    if (retries.length > 0) await Promise.all(retries);
    return out;
  }

  /**
   * Fetch the chunks of the version `meta` names. When one is gone, a writer
   * has replaced (and deleted) that version, or the chunk was evicted: the
   * metadata is read again and the fetch retried on the version it names now.
   * The same version twice means its chunks are lost: a miss, cleaned up.
   * `first` is MISSING when the caller already found a chunk missing.
   */
  private async assemble(
    cmd: GetCommand,
    meta: ItemView,
    header: ChunkedHeader,
    first: typeof MISSING | undefined,
  ): Promise<ItemView | undefined> {
    let m = meta;
    let h = header;
    let skipFetch = first === MISSING;
    // The key outlives this request only as a copy (the request's key is a view into a read buffer).
    const key = Buffer.from(m.key);
    for (let attempt = 0; ; attempt++) {
      if (!skipFetch) {
        const items = await this.fetchItems(this.chunkGets(key, h, cmd));
        const value = this.join(h, items, 0);
        if (value !== MISSING) return viewOf(m, value, h.flags);
      }
      skipFetch = false;
      if (attempt >= this.maxReadRetries) {
        throw new HandlerError('chunked item kept changing while it was read', 'CHUNKED_READ_RETRIES', BinaryStatus.ETMPFAIL);
      }
      const again = await this.inner.get({ key, touch: cmd.touch, noBump: cmd.noBump });
      if (again === undefined) return undefined;
      if (!hasMarker(again.value)) return again;
      const h2 = parseChunkedHeader(again.value);
      if (h2 === undefined) return unescape(again);
      if (h2.tokenHi === h.tokenHi && h2.tokenLo === h.tokenLo) {
        // Still this version, so no writer deleted the chunk: it was evicted or
        // expired. The value is gone; remove its metadata unless it changed.
        this.lost++;
        this.spawn(
          then(
            call(() => this.inner.delete({ key, compareCas: again.cas })),
            (r) => {
              if (r === 'DELETED') this.deleteChunks(chunkKeysOf(key, h2), false);
            },
          ),
        );
        return undefined;
      }
      this.readRetries++;
      m = again;
      h = h2;
    }
  }

  // -------------------------------------------------------------------------
  // Storage
  // -------------------------------------------------------------------------

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.ordered(cmd.key, true, () => this.storeNow(cmd));
  }

  private storeNow(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const key = cmd.key;
    const value = cmd.value;
    if (MEMCACHED_ITEM_OVERHEAD + key.length + value.length + (cmd.flags !== 0 ? 4 : 0) > this.maxItemSize) {
      return this.tooLarge(cmd);
    }
    const mode = cmd.mode;
    if (mode === 'append' || mode === 'prepend') return this.concat(cmd, 0);
    if (value.length <= this.chunkSizeFor(key.length)) return this.storeSmall(cmd);
    return this.storeLarge(cmd);
  }

  /**
   * memcached refuses an item over `-I` and, for set (and every meta ms), drops
   * the item it would have replaced so no stale value outlives the failed write.
   */
  private tooLarge(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    if (cmd.mode !== 'set' && (cmd as { protocol?: string }).protocol !== 'meta') return 'TOO_LARGE';
    return then(this.deleteAttempt({ key: cmd.key }, 0), () => 'TOO_LARGE' as const);
  }

  private storeSmall(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const value = cmd.value;
    const escaped = hasMarker(value);
    const v: Version = {
      inner: escaped ? escape(value) : value,
      innerFlags: cmd.flags,
      clientValue: value,
      clientFlags: cmd.flags,
    };
    // add never replaces anything, so it needs no look at the old item.
    if (!this.trackReplaced || cmd.mode === 'add') {
      const r = this.inner.store(escaped ? { ...cmd, value: v.inner } : cmd);
      return escaped ? then(r, unescapeOutcome) : r;
    }
    return this.commit(cmd, v, this.readMeta(cmd.key), 0);
  }

  private async storeLarge(cmd: StoreCommand): Promise<StoreOutcome> {
    const key = cmd.key;
    let prefetched: MaybePromise<ItemView | undefined>;
    if (cmd.compareCas === undefined && cmd.mode === 'set') {
      // A plain set reads the current item while its chunks are written.
      prefetched = call(() => this.readMeta(key));
      if (isPromise(prefetched)) prefetched.catch(noop);
    } else {
      // add/replace/cas fail often enough that the check comes before writing megabytes.
      const cur = await (cmd.mode === 'add' ? this.inner.get({ key }) : this.readMeta(key));
      if (cmd.compareCas !== undefined) {
        if (cur === undefined) return 'NOT_FOUND';
        if (cur.cas !== cmd.compareCas && cmd.invalidate !== true) return 'EXISTS';
      } else if (cmd.mode === 'add' ? cur !== undefined : cur === undefined) {
        return 'NOT_STORED';
      }
      prefetched = cur;
    }
    const v = await this.writeChunks(key, cmd.value, cmd.flags, cmd.exptime);
    if (typeof v === 'string') return v;
    return this.switching(key, v, () => this.commit(cmd, v, prefetched, 0));
  }

  /**
   * Run the metadata switch of a version that has chunks. If it throws, the
   * switch may or may not have landed (a lost connection): the key is read
   * again, and the chunks are deleted only when it does not name them.
   */
  private switching<T>(key: Buffer, v: Version, run: () => MaybePromise<T>): MaybePromise<T> {
    const p = call(run);
    if (!isPromise(p)) return p;
    return p.catch((err: unknown) => {
      const k = Buffer.from(key);
      this.spawn(
        Promise.resolve(call(() => this.readMeta(k))).then((c) => {
          const h = c === undefined || !hasMarker(c.value) ? undefined : parseChunkedHeader(c.value);
          if (h === undefined || h.tokenHi !== v.header!.tokenHi || h.tokenLo !== v.header!.tokenLo) this.abandon(v, 'NOT_STORED');
        }),
      );
      throw err;
    });
  }

  /** A fresh random version token (64 bits from a pooled CSPRNG draw). */
  private token(): [number, number] {
    if (this.tokenAt + 8 > this.tokenPool.length) {
      this.tokenPool = randomFillSync(Buffer.allocUnsafe(4096));
      this.tokenAt = 0;
    }
    const p = this.tokenPool;
    const at = this.tokenAt;
    this.tokenAt += 8;
    return [p.readUInt32BE(at), p.readUInt32BE(at + 4)];
  }

  /**
   * Store every chunk of `value` under a new version. On any failure the
   * chunks are deleted (after every write settled) and the write answers an
   * error; nothing points at them yet, so no reader ever sees them.
   */
  private async writeChunks(key: Buffer, value: Buffer, flags: number, exptime: number): Promise<Version | StoreFailure> {
    const cs = this.chunkSizeFor(key.length);
    const n = Math.ceil(value.length / cs);
    const [tokenHi, tokenLo] = this.token();
    const header: ChunkedHeader = {
      hashed: hashesKey(key.length, this.maxKeyLength),
      flags,
      length: value.length,
      chunkSize: cs,
      chunks: n,
      tokenHi,
      tokenLo,
    };
    const keys = chunkKeysOf(key, header);
    const e = chunkExptime(exptime);
    const writes: Promise<StoreOutcome>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const cmd: StoreCommand = { mode: 'set', key: keys[i]!, value: value.subarray(i * cs, Math.min(value.length, (i + 1) * cs)), flags: 0, exptime: e };
      writes[i] = Promise.resolve(call(() => this.inner.store(cmd)));
    }
    const results = await Promise.allSettled(writes);
    this.chunkWrites += n;
    let failure: StoreFailure | undefined;
    let error: unknown;
    for (const r of results) {
      if (r.status === 'rejected') error ??= r.reason;
      else if (typeof r.value === 'string') failure ??= r.value;
    }
    if (error === undefined && failure === undefined) {
      return { inner: encodeHeader(header), innerFlags: 0, clientValue: value, clientFlags: flags, header, chunkKeys: keys };
    }
    this.writeErrors++;
    this.deleteChunks(keys, true);
    if (error !== undefined) {
      if (error instanceof HandlerError) throw error;
      throw new HandlerError(`chunk write failed: ${error instanceof Error ? error.message : String(error)}`, 'CHUNK_WRITE_FAILED');
    }
    // memcached's own wording for a store it has no memory for.
    if (failure === 'OUT_OF_MEMORY') return 'OUT_OF_MEMORY';
    throw new HandlerError(`chunk write answered ${failure}`, 'CHUNK_WRITE_FAILED');
  }

  /** Read the item under a key for bookkeeping, without bumping it. */
  private readMeta(key: Buffer): MaybePromise<ItemView | undefined> {
    return this.inner.get({ key, noBump: true });
  }

  /**
   * Point the client's key at version `v`: the command's add/replace/cas
   * check runs against the item read (`cur`), and the switch itself is a CAS
   * on that item, retried on conflicts where the command allows. Whatever
   * the switch replaced has its chunks deleted; a write that does not switch
   * deletes its own.
   */
  private commit(cmd: StoreCommand, v: Version, cur: MaybePromise<ItemView | undefined>, attempt: number): MaybePromise<StoreOutcome> {
    return then(cur, (c) => {
      const compareCas = cmd.compareCas;
      let sc: StoreCommand;
      let retry = true;
      if (compareCas !== undefined) {
        if (c === undefined) return this.abandon(v, 'NOT_FOUND');
        // The client's CAS decides (the inner store runs memcached's rules, meta I included).
        sc = { ...cmd, mode: 'set', value: v.inner, flags: v.innerFlags };
        retry = false;
      } else if (cmd.mode === 'add') {
        if (c !== undefined) return this.abandon(v, 'NOT_STORED');
        sc = { ...cmd, value: v.inner, flags: v.innerFlags };
        retry = false;
      } else if (c === undefined) {
        if (cmd.mode === 'replace') return this.abandon(v, 'NOT_STORED');
        sc = { ...cmd, mode: 'add', value: v.inner, flags: v.innerFlags };
      } else {
        sc = { ...cmd, mode: 'set', value: v.inner, flags: v.innerFlags, compareCas: c.cas };
      }
      return then(this.inner.store(sc), (r) => {
        if (typeof r !== 'string') {
          // A successful switch replaced `c` (its CAS matched), or `c` had
          // already been replaced by someone who cleans it up too.
          if (c !== undefined) this.retire(c);
          if (v.header !== undefined) this.storesChunked++;
          return v.inner === v.clientValue ? r : viewOf(r, v.clientValue, v.clientFlags);
        }
        if (!retry || (r !== 'EXISTS' && r !== 'NOT_FOUND' && r !== 'NOT_STORED')) return this.abandon(v, r);
        if (attempt >= this.maxWriteRetries) {
          if (v.header === undefined) this.abandon(v, r);
          throw new HandlerError('too many concurrent writes to one key', 'CHUNKED_WRITE_RETRIES', BinaryStatus.ETMPFAIL);
        }
        this.writeRetries++;
        return this.commit(cmd, v, this.readMeta(sc.key), attempt + 1);
      });
    });
  }

  /** A write that will not switch: delete its chunks, answer `outcome`. */
  private abandon(v: Version, outcome: StoreOutcome): StoreOutcome {
    if (v.chunkKeys !== undefined && !v.abandoned) {
      v.abandoned = true;
      this.deleteChunks(v.chunkKeys, true);
    }
    return outcome;
  }

  /** An item no longer under its key: delete its chunks if it had any. */
  private retire(old: ItemView): void {
    if (!hasMarker(old.value)) return;
    const h = parseChunkedHeader(old.value);
    if (h === undefined) return;
    this.versionsRetired++;
    this.deleteChunks(chunkKeysOf(old.key, h), false);
  }

  /** Best-effort deletion in the background; `idle()` waits for it. */
  private deleteChunks(keys: Buffer[], orphans: boolean): void {
    if (orphans) this.orphanCleanups++;
    const inner = this.inner;
    const results: MaybePromise<DeleteOutcome>[] = new Array(keys.length);
    let async = false;
    for (let i = 0; i < keys.length; i++) {
      let r: MaybePromise<DeleteOutcome>;
      try {
        r = inner.delete({ key: keys[i]! });
      } catch {
        r = 'NOT_FOUND';
      }
      if (isPromise(r)) {
        async = true;
        r = r.catch(() => 'NOT_FOUND' as const);
      }
      results[i] = r;
    }
    if (!async) {
      for (const r of results) if (r === 'DELETED') this.chunkDeletes++;
      return;
    }
    this.spawn(
      Promise.all(results).then((rs) => {
        for (const r of rs) if (r === 'DELETED') this.chunkDeletes++;
      }),
    );
  }

  private spawn(p: MaybePromise<void>): void {
    if (!isPromise(p)) return;
    const q: Promise<void> = p.then(noop, noop).finally(() => this.background.delete(q));
    this.background.add(q);
  }

  /**
   * append/prepend. A plain small item whose result stays small is left to
   * the inner store (CAS-guarded, so it cannot land on an item that turned
   * into metadata meanwhile). Anything else is read, joined and written as a
   * new version, switched with a CAS on the item read, and retried on
   * conflicts. The result keeps the old item's flags and exptime.
   */
  private concat(cmd: StoreCommand, attempt: number): MaybePromise<StoreOutcome> {
    const key = cmd.key;
    return then(this.readMeta(key), (c): MaybePromise<StoreOutcome> => {
      if (c === undefined) return 'NOT_STORED';
      const cc = cmd.compareCas;
      const clientCas = cc !== undefined && cc !== 0n;
      if (clientCas && cc !== c.cas) return 'EXISTS';
      const data = cmd.value;
      const append = cmd.mode === 'append';
      const cv = c.value;
      const h = hasMarker(cv) ? parseChunkedHeader(cv) : undefined;
      const escaped = h === undefined && isEscaped(cv);
      const oldLength = h !== undefined ? h.length : escaped ? cv.length - ESCAPE_BYTES : cv.length;
      const flags = h !== undefined ? h.flags : c.flags;
      const total = oldLength + data.length;
      // memcached answers NOT_STORED when the joined item cannot be allocated.
      if (MEMCACHED_ITEM_OVERHEAD + key.length + total + (flags !== 0 ? 4 : 0) > this.maxItemSize) return 'NOT_STORED';
      const retry = (r: StoreOutcome): MaybePromise<StoreOutcome> => {
        if (clientCas) return r === 'NOT_FOUND' ? 'NOT_STORED' : r;
        if (attempt >= this.maxWriteRetries) {
          throw new HandlerError('too many concurrent writes to one key', 'CHUNKED_WRITE_RETRIES', BinaryStatus.ETMPFAIL);
        }
        this.writeRetries++;
        return this.concat(cmd, attempt + 1);
      };
      if (
        h === undefined &&
        !escaped &&
        total <= this.chunkSizeFor(key.length) &&
        !(append ? joinedHasMarker(cv, data) : joinedHasMarker(data, cv))
      ) {
        return then(this.inner.store({ ...cmd, compareCas: c.cas }), (r) =>
          typeof r === 'string' && (r === 'EXISTS' || r === 'NOT_FOUND' || r === 'NOT_STORED') ? retry(r) : r,
        );
      }
      return then(this.oldValue(c, h, escaped), (oldItem) => {
        // Gone (its chunks were lost), or replaced while its chunks were read.
        if (oldItem === undefined) return 'NOT_STORED';
        if (oldItem.cas !== c.cas) return retry('EXISTS');
        const old = oldItem.value;
        const joined = Buffer.allocUnsafe(total);
        if (append) {
          old.copy(joined, 0);
          data.copy(joined, old.length);
        } else {
          data.copy(joined, 0);
          old.copy(joined, data.length);
        }
        return this.rewrite(cmd, c, joined, flags, retry);
      });
    });
  }

  /**
   * The client's view of an item read under its key, assembled when chunked
   * (possibly of a newer version, if `c` was replaced meanwhile).
   */
  private oldValue(c: ItemView, h: ChunkedHeader | undefined, escaped: boolean): MaybePromise<ItemView | undefined> {
    if (h === undefined) return escaped ? unescape(c) : c;
    return this.assemble({ key: c.key, noBump: true }, c, h, undefined);
  }

  /** Write `value` as the new version of the item `c`, keeping its exptime; switch with a CAS on `c`. */
  private rewrite(
    cmd: StoreCommand,
    c: ItemView,
    value: Buffer,
    flags: number,
    retry: (r: StoreOutcome) => MaybePromise<StoreOutcome>,
  ): MaybePromise<StoreOutcome> {
    const key = cmd.key;
    // ItemView.exptime is absolute (or 0), which memcached takes as is.
    const exptime = c.exptime;
    const small = value.length <= this.chunkSizeFor(key.length);
    const version: MaybePromise<Version | StoreFailure> = small
      ? { inner: hasMarker(value) ? escape(value) : value, innerFlags: flags, clientValue: value, clientFlags: flags }
      : this.writeChunks(key, value, flags, exptime);
    return then(version, (v) => {
      if (typeof v === 'string') return v;
      const sc: StoreCommand = { mode: 'set', key, value: v.inner, flags: v.innerFlags, exptime, compareCas: c.cas, newCas: cmd.newCas };
      const stored = v.header === undefined ? this.inner.store(sc) : this.switching(key, v, () => this.inner.store(sc));
      return then(stored, (r) => {
        if (typeof r !== 'string') {
          this.retire(c);
          if (v.header !== undefined) this.storesChunked++;
          return v.inner === v.clientValue ? r : viewOf(r, v.clientValue, v.clientFlags);
        }
        this.abandon(v, r);
        if (r === 'EXISTS' || r === 'NOT_FOUND') return retry(r);
        return r;
      });
    });
  }

  // -------------------------------------------------------------------------
  // Other commands
  // -------------------------------------------------------------------------

  /**
   * Counters are small values stored as plain items, so incr/decr run in the
   * inner store with memcached's exact rules. On a chunked value they answer
   * NON_NUMERIC (the metadata starts with 0xC7), as memcached does for any
   * item over slab_chunk_max.
   */
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.ordered(cmd.key, true, () => this.inner.arithmetic(cmd));
  }

  /**
   * Delete the item under the key (CAS-guarded on the item read, so chunks
   * of an item written meanwhile are never orphaned), then its chunks. Meta
   * `md I` keeps the item stale: its chunks stay, and take its new exptime.
   */
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.ordered(cmd.key, true, () => this.deleteAttempt(cmd, 0));
  }

  private deleteAttempt(cmd: DeleteCommand, attempt: number): MaybePromise<DeleteOutcome> {
    return then(this.readMeta(cmd.key), (c) => {
      if (c === undefined) return 'NOT_FOUND';
      const cc = cmd.compareCas;
      return then(this.inner.delete(cc !== undefined ? cmd : { ...cmd, compareCas: c.cas }), (r) => {
        if (r === 'DELETED') {
          if (cmd.invalidate !== true) this.retire(c);
          else if (cmd.exptime !== undefined) return then(this.touchChunks(c, cmd.exptime), () => r);
          return r;
        }
        if (r === 'EXISTS' && cc === undefined) {
          if (attempt >= this.maxWriteRetries) {
            throw new HandlerError('too many concurrent writes to one key', 'CHUNKED_WRITE_RETRIES', BinaryStatus.ETMPFAIL);
          }
          this.writeRetries++;
          return this.deleteAttempt(cmd, attempt + 1);
        }
        return r;
      });
    });
  }

  /** Touch the item under the key (a gat, which tells whether it is chunked), then its chunks. */
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.ordered(cmd.key, true, () => this.touchNow(cmd));
  }

  private touchNow(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return then(this.inner.get({ key: cmd.key, touch: cmd.exptime }), (c) => {
      if (c === undefined) return 'NOT_FOUND';
      return then(this.touchChunks(c, cmd.exptime), () => 'TOUCHED' as const);
    });
  }

  private touchChunks(c: ItemView, exptime: number): MaybePromise<void> {
    if (!hasMarker(c.value)) return;
    const h = parseChunkedHeader(c.value);
    if (h === undefined) return;
    const keys = chunkKeysOf(c.key, h);
    const e = chunkExptime(exptime);
    const inner = this.inner;
    // A chunk already gone (replaced version) needs no touch.
    return then(
      all(keys.map((key) => call(() => inner.touch({ key, exptime: e })))),
      noop,
    );
  }

  /**
   * flush_all applies after every command issued before it and before every
   * command issued after it: it waits for the commands in progress, and
   * holds new ones until it is done.
   */
  flush(delay: number): MaybePromise<void> {
    if (this.lanes.size === 0 && this.barrier === undefined) {
      const r = this.inner.flush(delay);
      if (isPromise(r)) this.hold(r);
      return r;
    }
    const waits: Promise<void>[] = [];
    if (this.barrier !== undefined) waits.push(this.barrier);
    for (const lane of this.lanes.values()) waits.push(lane.all);
    const r = Promise.all(waits).then(() => this.inner.flush(delay));
    this.hold(r);
    return r;
  }

  private hold(p: Promise<unknown>): void {
    const clear = (): void => {
      if (this.barrier === b) this.barrier = undefined;
    };
    const b: Promise<void> = p.then(clear, clear);
    this.barrier = b;
  }

  // -------------------------------------------------------------------------
  // Call order per key
  // -------------------------------------------------------------------------

  /**
   * Run `run` for `key` in call order: the server hands a handler the next
   * pipelined command before the previous one settled, and commands on one
   * key must take effect in the order they were received. A write waits for
   * every command before it on the key; a read waits for the writes before
   * it (reads between two writes run together). With nothing in progress on
   * the key, `run` runs at once, and a synchronous answer costs nothing more.
   */
  private ordered<T>(key: Buffer, write: boolean, run: () => MaybePromise<T>): MaybePromise<T> {
    let r: MaybePromise<T>;
    if (this.lanes.size === 0 && this.barrier === undefined) {
      r = run();
    } else {
      const lane = this.lanes.get(keyString(key));
      const wait = lane === undefined ? undefined : write ? lane.all : lane.writes;
      const barrier = this.barrier;
      if (wait === undefined && barrier === undefined) r = run();
      else if (wait === undefined || barrier === undefined) r = (wait ?? barrier)!.then(run);
      else r = Promise.all([wait, barrier]).then(run);
    }
    if (isPromise(r)) this.track(key, write, r);
    return r;
  }

  /** Register a command in progress on `key`. */
  private track(key: Buffer, write: boolean, p: Promise<unknown>): void {
    const ks = keyString(key);
    let lane = this.lanes.get(ks);
    if (lane === undefined) {
      lane = { all: DONE, writes: undefined, n: 0 };
      this.lanes.set(ks, lane);
    }
    const l = lane;
    // The lane goes as the last command on it settles, before its caller sees
    // the answer: the next command on the key takes the fast path again.
    const finished = (): void => {
      if (--l.n === 0 && this.lanes.get(ks) === l) this.lanes.delete(ks);
    };
    const settled = p.then(finished, finished);
    lane.n++;
    if (write) {
      // A write ran after everything before it on the key: it settles last.
      lane.all = settled;
      lane.writes = settled;
    } else {
      lane.all = lane.all === DONE ? settled : Promise.all([lane.all, settled]).then(noop);
    }
  }

  stats(group: string): StatsGroup | undefined {
    const s = this.inner.stats?.(group);
    if (group === 'reset') {
      this.storesChunked = this.chunkWrites = this.fetchesChunked = this.chunkReads = 0;
      this.readRetries = this.writeRetries = this.versionsRetired = this.orphanCleanups = 0;
      this.chunkDeletes = this.lost = this.writeErrors = 0;
      return s ?? {};
    }
    if (group === 'settings') {
      return {
        ...s,
        chunked_item_size_max: this.maxItemSize,
        chunked_chunk_item_size: this.chunkItemSize,
        chunked_chunk_size: this.fixedChunkSize ?? 'auto',
        chunked_track_replaced: this.trackReplaced ? 'yes' : 'no',
      };
    }
    if (group !== '') return s;
    return {
      ...s,
      chunked_stores: this.storesChunked,
      chunked_chunk_writes: this.chunkWrites,
      chunked_fetches: this.fetchesChunked,
      chunked_chunk_reads: this.chunkReads,
      chunked_read_retries: this.readRetries,
      chunked_write_retries: this.writeRetries,
      chunked_versions_retired: this.versionsRetired,
      chunked_orphan_cleanups: this.orphanCleanups,
      chunked_chunk_deletes: this.chunkDeletes,
      chunked_lost: this.lost,
      chunked_write_errors: this.writeErrors,
    };
  }

  async close(): Promise<void> {
    await this.idle();
    await this.inner.close();
  }
}

/** `chunked(inner, options)`: wrap a handler so it stores values of any size up to `maxItemSize`. */
export function chunked(inner: Handler, options?: ChunkedHandlerOptions): ChunkedHandler {
  return new ChunkedHandler(inner, options);
}

function escape(value: Buffer): Buffer {
  const v = Buffer.allocUnsafe(ESCAPE_BYTES + value.length);
  v[0] = MARK0;
  v[1] = MARK1;
  v[2] = MARK2;
  v[3] = KIND_ESCAPED;
  value.copy(v, ESCAPE_BYTES);
  return v;
}

/** An inner item that carries the marker but is no chunked metadata: an escaped small value, or someone else's bytes (served as stored). */
function unescape(it: ItemView): ItemView {
  return isEscaped(it.value) ? viewOf(it, it.value.subarray(ESCAPE_BYTES), it.flags) : it;
}

function isEscaped(v: Buffer): boolean {
  return v.length >= ESCAPE_BYTES && v[3] === KIND_ESCAPED && hasMarker(v);
}

function unescapeOutcome(r: StoreOutcome): StoreOutcome {
  return typeof r === 'string' ? r : unescape(r);
}

/** Promise.all that stays synchronous when every value is ready. */
function all<T>(values: MaybePromise<T>[]): MaybePromise<T[]> {
  for (const v of values) if (isPromise(v)) return Promise.all(values);
  return values as T[];
}
