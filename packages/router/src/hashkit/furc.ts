// mcrouter's consistent hash, furc_hash (mcrouter/lib/fbi/hash.c), which its Ch3 and WeightedCh3 hash functions
// place keys with. The key is hashed with the 64-bit MurmurHash64A (seed 4193360111); the hash is stretched into a
// stream of bits by rehashing each 64-bit word to get the next. For a pool of m servers, d = bits in m - 1: the
// highest set bit among bit positions d, d - 1, ... picks the number's width, then each further bit is read 23
// positions on; a number >= m is tried again further along the stream (32 tries, then 0).
//
// 64-bit words are held as two unsigned 32-bit halves; nothing is allocated per key.

const SEED = 4193360111;
const MAX_TRIES = 32;
const SHIFT = 23;
/** Largest pool furc_hash spreads over evenly (mcrouter's furc_maximum_pool_size). */
export const FURC_MAX_POOL_SIZE = 1 << SHIFT;

// MurmurHash64A's multiplier 0xc6a4a7935bd1e995, in halves.
const M_LO = 0x5bd1e995;
const M_HI = 0xc6a4a793;

// Results of mul64 and of the hashes below (lo, hi), to return two halves without allocating.
let rLo = 0;
let rHi = 0;

/** (aLo, aHi) * (bLo, bHi) mod 2^64 into (rLo, rHi). */
function mul64(aLo: number, aHi: number, bLo: number, bHi: number): void {
  const a0 = aLo & 0xffff;
  const a1 = aLo >>> 16;
  const b0 = bLo & 0xffff;
  const b1 = bLo >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  rLo = ((mid << 16) | (p00 & 0xffff)) >>> 0;
  const carry = a1 * b1 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16);
  rHi = (carry + Math.imul(aLo, bHi) + Math.imul(aHi, bLo)) >>> 0;
}

/** The mixing step shared by MurmurHash64A's blocks and furc's rehash: k *= m; k ^= k >> 47; k *= m. */
function mixBlock(kLo: number, kHi: number): void {
  mul64(kLo, kHi, M_LO, M_HI);
  mul64(rLo ^ (rHi >>> 15), rHi, M_LO, M_HI);
}

/** h ^= h >> 47; h *= m; h ^= h >> 47, into (rLo, rHi). */
function finish(hLo: number, hHi: number): void {
  mul64(hLo ^ (hHi >>> 15), hHi, M_LO, M_HI);
  rLo = (rLo ^ (rHi >>> 15)) >>> 0;
}

/** MurmurHash64A of `key[start, end)` (little-endian blocks, as on x86-64) into (rLo, rHi). */
function murmur64AInto(key: Uint8Array, start: number, end: number, seed: number): void {
  const len = end - start;
  mul64(len >>> 0, Math.floor(len / 0x100000000), M_LO, M_HI);
  let hLo = (seed ^ rLo) >>> 0;
  let hHi = rHi;
  let p = start;
  const blocksEnd = start + (len & ~7);
  for (; p < blocksEnd; p += 8) {
    const kLo = key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24);
    const kHi = key[p + 4]! | (key[p + 5]! << 8) | (key[p + 6]! << 16) | (key[p + 7]! << 24);
    mixBlock(kLo, kHi);
    mul64(hLo ^ rLo, hHi ^ rHi, M_LO, M_HI);
    hLo = rLo;
    hHi = rHi;
  }
  const rest = len & 7;
  if (rest > 0) {
    // The last 1..7 bytes, little-endian.
    for (let i = rest - 1; i >= 0; i--) {
      if (i >= 4) hHi ^= key[p + i]! << (8 * (i - 4));
      else hLo ^= key[p + i]! << (8 * i);
    }
    mul64(hLo, hHi, M_LO, M_HI);
    hLo = rLo;
    hHi = rHi;
  }
  finish(hLo, hHi);
}

/** MurmurHash64A (mcrouter's murmur_hash_64A) of `key[start, end)` as a BigInt: for tests and tools, not requests. */
export function murmurHash64A(key: Uint8Array, start: number, end: number, seed: number): bigint {
  murmur64AInto(key, start, end, seed >>> 0);
  return (BigInt(rHi) << 32n) | BigInt(rLo);
}

// furc's rehash starts from SEED ^ (8 * m).
mul64(8, 0, M_LO, M_HI);
const REHASH_H_LO = (SEED ^ rLo) >>> 0;
const REHASH_H_HI = rHi;

/** The next word of the bit stream: MurmurHash64A of the 8-byte word (lo, hi), seeded with SEED. */
function rehash(kLo: number, kHi: number): void {
  mixBlock(kLo, kHi);
  mul64(REHASH_H_LO ^ rLo, REHASH_H_HI ^ rHi, M_LO, M_HI);
  finish(rLo, rHi);
}

// The bit stream of the key being hashed: word n at [2n] (lo) and [2n + 1] (hi). 32 tries of at most
// 32 bits, each 23 positions apart, read at most 32 * 32 * 23 bits: 368 words.
const WORDS = 1024;
const stream = new Uint32Array(WORDS * 2);
let streamKey: Uint8Array = new Uint8Array(0);
let streamStart = 0;
let streamEnd = 0;
/** Words computed so far for the current key, less one. */
let lastWord = -1;

function bit(idx: number): number {
  const word = idx >>> 6;
  if (word > lastWord) {
    let n = lastWord + 1;
    if (n === 0) {
      murmur64AInto(streamKey, streamStart, streamEnd, SEED);
      stream[0] = rLo;
      stream[1] = rHi;
      n = 1;
    }
    for (; n <= word; n++) {
      rehash(stream[2 * n - 2]!, stream[2 * n - 1]!);
      stream[2 * n] = rLo;
      stream[2 * n + 1] = rHi;
    }
    lastWord = word;
  }
  const at = idx & 63;
  return (stream[2 * word + (at >>> 5)]! >>> (at & 31)) & 1;
}

/**
 * mcrouter's furc_hash: the server, 0..m-1, that `key[start, end)` goes to in a pool of `m`
 * (an unsigned 32-bit count; a pool of 0 or 1 gives 0).
 */
export function furcHash(key: Uint8Array, start: number, end: number, m: number): number {
  if (m <= 1) return 0;
  streamKey = key;
  streamStart = start;
  streamEnd = end;
  lastWord = -1;
  let d = 32 - Math.clz32(m - 1);
  let a = d;
  for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
    while (bit(a) === 0) {
      if (--d === 0) return 0;
      a = d;
    }
    a += SHIFT;
    let num = 1;
    for (let i = 0; i < d - 1; i++) {
      num = ((num << 1) | bit(a)) >>> 0;
      a += SHIFT;
    }
    if (num < m) return num;
  }
  return 0;
}
