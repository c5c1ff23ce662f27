// The four FNV hashes as nutcracker 0.5.0 computes them (`hash: fnv1_64 | fnv1a_64 | fnv1_32 | fnv1a_32`).
//
// Quirks that are the specification: every byte is read through a signed `char`, so a byte >= 0x80
// enters sign-extended (0x80 xors in 0xffffff80); fnv1a_64 runs in 32 bits with the 64-bit constants
// cut to 32 bits; fnv1_64 runs in 64 bits but returns the low 32, and since the low 32 bits of a
// 64-bit product depend only on the low 32 bits of its factors, it too is a 32-bit FNV with the cut
// constants (offset basis 0x84222325, prime 0x1b3).

const FNV_64_INIT_LOW = 0x84222325;
const FNV_64_PRIME_LOW = 0x000001b3;
const FNV_32_INIT = 0x811c9dc5;
const FNV_32_PRIME = 0x01000193;

/** fnv1_64 over `key[start, end)`: multiply, then xor; the low 32 bits. */
export function fnv1_64(key: Uint8Array, start: number, end: number): number {
  let h = FNV_64_INIT_LOW;
  for (let i = start; i < end; i++) h = Math.imul(h, FNV_64_PRIME_LOW) ^ ((key[i]! << 24) >> 24);
  return h >>> 0;
}

/** fnv1a_64 over `key[start, end)`: xor, then multiply, in 32 bits. */
export function fnv1a_64(key: Uint8Array, start: number, end: number): number {
  let h = FNV_64_INIT_LOW;
  for (let i = start; i < end; i++) h = Math.imul(h ^ ((key[i]! << 24) >> 24), FNV_64_PRIME_LOW);
  return h >>> 0;
}

/** fnv1_32 over `key[start, end)`: multiply, then xor. */
export function fnv1_32(key: Uint8Array, start: number, end: number): number {
  let h = FNV_32_INIT;
  for (let i = start; i < end; i++) h = Math.imul(h, FNV_32_PRIME) ^ ((key[i]! << 24) >> 24);
  return h >>> 0;
}

/** fnv1a_32 over `key[start, end)`: xor, then multiply. */
export function fnv1a_32(key: Uint8Array, start: number, end: number): number {
  let h = FNV_32_INIT;
  for (let i = start; i < end; i++) h = Math.imul(h ^ ((key[i]! << 24) >> 24), FNV_32_PRIME);
  return h >>> 0;
}
