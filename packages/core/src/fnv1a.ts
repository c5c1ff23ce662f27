// FNV-1a, 32 bits: a cheap, well-spread hash of a byte range, for choosing among a handler's backend
// connections by key and for checksums of small records. Not for hash tables exposed to clients' keys
// (no seed: a client can pick colliding keys); the in-memory store seeds its own.

/** FNV-1a over `bytes[0, end)` as an unsigned 32-bit number. */
export function fnv1a32(bytes: Uint8Array, end: number = bytes.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
