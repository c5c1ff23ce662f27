// MurmurHash2 as nutcracker 0.5.0 computes it (`hash: murmur`): 4-byte blocks read little-endian
// (as on the x86-64 build, and as Debian's patched source does everywhere), seeded with
// 0xdeadbeef * length.

const M = 0x5bd1e995;

/** murmur over `key[start, end)` as an unsigned 32-bit number. */
export function murmur(key: Uint8Array, start: number, end: number): number {
  let length = end - start;
  let h = Math.imul(0xdeadbeef, length) ^ length;
  let p = start;
  while (length >= 4) {
    let k = key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M) ^ k;
    p += 4;
    length -= 4;
  }
  // The last 1..3 bytes, little-endian.
  if (length > 0) {
    if (length === 3) h ^= key[p + 2]! << 16;
    if (length >= 2) h ^= key[p + 1]! << 8;
    h ^= key[p]!;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h >>> 0;
}
