/**
 * An item on disk: its header (the facts every command reads) and its value,
 * kept in two LMDB databases under the item's key, so that a command that
 * changes only facts (a bump, a touch, a recache token) rewrites 48 bytes
 * and not the value. Two indexes order the keys: `lru` by the item's LRU
 * sequence number (taken when it is stored or bumped) for eviction, and
 * `exp` by exptime for reclaiming expired items. An index key is the number
 * in big-endian bytes (8 for a sequence number, 4 for an exptime) followed
 * by the item's key, so LMDB's byte order is the index's order.
 */

/** Bytes of a header: flags u32, time u32, exptime f64, cas u64, flush generation u32, state bits u32, value length u32, reserved u32, LRU sequence f64. */
export const HEADER_BYTES = 48;

/** One item as the store holds it in JavaScript: read from disk, or written and not yet committed. */
export class Rec {
  constructor(
    /** The key: the caller's bytes when read, the store's own copy once written. */
    public key: Buffer,
    public flags: number,
    /** memcached's `it->time` (Unix s): when stored, refreshed by a bump at most once per ITEM_UPDATE_INTERVAL. */
    public time: number,
    /** Absolute exptime (Unix s), 0 = never. */
    public exptime: number,
    public cas: bigint,
    /** The flush generation the item was stored in (protocol's FlushRule). */
    public gen: number,
    /** ItemState bits. */
    public state: number,
    public vlen: number,
    /** Place in the LRU: a number taken from the store's sequence when the item is stored or bumped. */
    public seq: number,
    /** The value, when read or written; `undefined` = on disk, unchanged. */
    public value: Buffer | undefined,
  ) {}

  /** A copy to change: a written record is never changed after, so a commit can tell whether it is still the latest. */
  clone(): Rec {
    return new Rec(this.key, this.flags, this.time, this.exptime, this.cas, this.gen, this.state, this.vlen, this.seq, this.value);
  }
}

export function encodeHeader(r: Rec): Buffer {
  const b = Buffer.allocUnsafe(HEADER_BYTES);
  b.writeUInt32LE(r.flags >>> 0, 0);
  b.writeUInt32LE(r.time >>> 0, 4);
  b.writeDoubleLE(r.exptime, 8);
  b.writeBigUInt64LE(r.cas, 16);
  b.writeUInt32LE(r.gen >>> 0, 24);
  b.writeUInt32LE(r.state >>> 0, 28);
  b.writeUInt32LE(r.vlen >>> 0, 32);
  b.writeUInt32LE(0, 36);
  b.writeDoubleLE(r.seq, 40);
  return b;
}

/** The record a header read from disk describes. */
export function decodeHeader(key: Buffer, b: Buffer): Rec {
  return new Rec(
    key,
    b.readUInt32LE(0),
    b.readUInt32LE(4),
    b.readDoubleLE(8),
    b.readBigUInt64LE(16),
    b.readUInt32LE(24),
    b.readUInt32LE(28),
    b.readUInt32LE(32),
    b.readDoubleLE(40),
    undefined,
  );
}

/** An `exp` index key: the exptime as 4 big-endian bytes, then the item's key. */
export function expKey(exptime: number, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(4 + key.length);
  b.writeUInt32BE(Math.min(exptime, 0xffffffff) >>> 0, 0);
  key.copy(b, 4);
  return b;
}

/** An `lru` index key: the sequence number as 8 big-endian bytes, then the item's key. */
export function lruKey(seq: number, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(8 + key.length);
  b.writeUInt32BE(Math.floor(seq / 2 ** 32), 0);
  b.writeUInt32BE(seq >>> 0, 4);
  key.copy(b, 8);
  return b;
}

/** The number an index key orders by, and the item key it holds (a view). */
export function indexNumber(k: Buffer, width: 4 | 8): number {
  return width === 4 ? k.readUInt32BE(0) : k.readUInt32BE(0) * 2 ** 32 + k.readUInt32BE(4);
}

export function indexItemKey(k: Buffer, width: 4 | 8): Buffer {
  return k.subarray(width);
}

/** LMDB's page size on this machine's default, and the largest node kept inside a leaf page (larger values go to overflow pages). */
const PAGE = 4096;
const NODE_MAX = 2000;

/**
 * Bytes an item takes on disk, as LMDB lays it out: its header, value and
 * index nodes (8 bytes of node header each, a 2-byte pointer, leaf pages
 * taken as half full, as a B-tree under random inserts keeps them), and a
 * value too large for a leaf in whole overflow pages. The byte cap counts
 * this, so the file stays near the cap whatever the item sizes.
 */
export function diskBytes(keyLength: number, valueLength: number, expires: boolean): number {
  const indexes = (expires ? 2 : 1) * (10 + 4 + keyLength);
  const header = 10 + keyLength + HEADER_BYTES;
  const valueNode = 10 + keyLength + valueLength;
  if (valueNode <= NODE_MAX) return 2 * (indexes + header + valueNode);
  const overflow = Math.ceil((valueLength + 16) / PAGE) * PAGE;
  return 2 * (indexes + header + 10 + keyLength + 8) + overflow;
}
