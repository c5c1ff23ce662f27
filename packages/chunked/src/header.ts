// The layout of a chunked value in the inner store: the 32-byte metadata item under the client's key, the keys of
// its chunk items, and the exptime the chunks get.
//
// Metadata item value (big-endian), inner flags 0:
//
//   0  3  marker C7 4C 56 (marker.ts)
//   3  1  kind: 1 = chunk keys from the key, 2 = chunk keys from its hash
//   4  4  client flags
//   8  4  value length
//  12  4  chunk size (bytes of value per chunk item; the last holds the rest)
//  16  4  chunk count
//  20  8  version token
//  28  4  FNV-1a of bytes 0..27
//
// Chunk item keys: `<base>|<token, 16 hex>:<index, 4 hex>`, where base is the client's key, or `#` + 32 hex digits of
// its SHA-256 when the key is too long to take the 22-byte suffix within the inner store's longest key.
import { createHash } from 'node:crypto';
import { REALTIME_MAXDELTA } from '@cleave/protocol';
import { fnv1a32 } from '@cleave/core';
import { MARK0, MARK1, MARK2, hasMarker } from './marker.js';

/** Bytes of the metadata item that stands for a chunked value. */
export const CHUNKED_HEADER_BYTES = 32;
/** `|` + 16 hex token + `:` + 4 hex index. */
export const CHUNK_KEY_SUFFIX_BYTES = 22;
/** `#` + 32 hex digits of SHA-256. */
export const HASHED_BASE_BYTES = 33;
/** Four hex digits of chunk index. */
export const MAX_CHUNKS = 0x10000;

const KIND_CHUNKED = 1;
const KIND_CHUNKED_HASHED = 2;

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

/** The metadata header of an inner item's value, or undefined when it is not one. */
export function parseChunkedHeader(v: Buffer): ChunkedHeader | undefined {
  if (v.length !== CHUNKED_HEADER_BYTES || !hasMarker(v)) return undefined;
  const kind = v[3];
  if (kind !== KIND_CHUNKED && kind !== KIND_CHUNKED_HASHED) return undefined;
  if (v.readUInt32BE(28) !== fnv1a32(v, 28)) return undefined;
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

/** The header of an inner item's value when it is a metadata item (a cheap marker check first). */
export function headerOf(v: Buffer): ChunkedHeader | undefined {
  return hasMarker(v) ? parseChunkedHeader(v) : undefined;
}

export function encodeChunkedHeader(h: ChunkedHeader): Buffer {
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
  v.writeUInt32BE(fnv1a32(v, 28), 28);
  return v;
}

/** Both headers name the same version (the same token). */
export function sameVersion(a: ChunkedHeader, b: ChunkedHeader): boolean {
  return a.tokenHi === b.tokenHi && a.tokenLo === b.tokenLo;
}

/** Whether a key needs its hash as the base of its chunk keys. */
export function hashesKey(keyLength: number, maxKeyLength: number): boolean {
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
