// Bob Jenkins' lookup3 hashlittle as nutcracker 0.5.0 computes it (`hash: jenkins`), initial value 13.
// nutcracker picks word, half-word or byte reads by the key's address; on a little-endian machine all
// three give the same result, which is the byte-wise one here. An empty key hashes to
// 0xdeadbeef + 13 without mixing.

const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));
const word = (key: Uint8Array, p: number) => key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24);

/** `n` (1..4) bytes from `p` as a little-endian word. */
function partialWord(key: Uint8Array, p: number, n: number): number {
  let w = 0;
  for (let i = 0; i < n; i++) w |= key[p + i]! << (i << 3);
  return w;
}

/** jenkins over `key[start, end)` as an unsigned 32-bit number. */
export function jenkins(key: Uint8Array, start: number, end: number): number {
  let length = end - start;
  let a = (0xdeadbeef + length + 13) | 0;
  let b = a;
  let c = a;
  let p = start;
  while (length > 12) {
    a = (a + word(key, p)) | 0;
    b = (b + word(key, p + 4)) | 0;
    c = (c + word(key, p + 8)) | 0;
    // mix(a, b, c)
    a = (a - c) | 0;
    a ^= rot(c, 4);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 6);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 8);
    b = (b + a) | 0;
    a = (a - c) | 0;
    a ^= rot(c, 16);
    c = (c + b) | 0;
    b = (b - a) | 0;
    b ^= rot(a, 19);
    a = (a + c) | 0;
    c = (c - b) | 0;
    c ^= rot(b, 4);
    b = (b + a) | 0;
    length -= 12;
    p += 12;
  }
  // The last 1..12 bytes, little-endian: bytes 0..3 into a, 4..7 into b, 8..11 into c.
  if (length === 0) return c >>> 0;
  if (length > 8) c = (c + partialWord(key, p + 8, length - 8)) | 0;
  if (length > 4) b = (b + partialWord(key, p + 4, Math.min(length - 4, 4))) | 0;
  a = (a + partialWord(key, p, Math.min(length, 4))) | 0;
  // final(a, b, c)
  c ^= b;
  c = (c - rot(b, 14)) | 0;
  a ^= c;
  a = (a - rot(c, 11)) | 0;
  b ^= a;
  b = (b - rot(a, 25)) | 0;
  c ^= b;
  c = (c - rot(b, 16)) | 0;
  a ^= c;
  a = (a - rot(c, 4)) | 0;
  b ^= a;
  b = (b - rot(a, 14)) | 0;
  c ^= b;
  c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}
