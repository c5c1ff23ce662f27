// Bob Jenkins' lookup3 hashlittle as nutcracker 0.5.0 computes it (`hash: jenkins`), initial value 13.
// nutcracker picks word, half-word or byte reads by the key's address; on a little-endian machine all
// three give the same result, which is the byte-wise one here. An empty key hashes to
// 0xdeadbeef + 13 without mixing.

const rot = (x: number, k: number) => (x << k) | (x >>> (32 - k));
const word = (key: Uint8Array, p: number) => key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24);

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
    a = (a - c) | 0; a ^= rot(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rot(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rot(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rot(b, 4); b = (b + a) | 0;
    length -= 12;
    p += 12;
  }
  // The last 1..12 bytes, added little-endian into a, b, c.
  switch (length) {
    case 12: c = (c + (key[p + 11]! << 24)) | 0; // falls through
    case 11: c = (c + (key[p + 10]! << 16)) | 0; // falls through
    case 10: c = (c + (key[p + 9]! << 8)) | 0; // falls through
    case 9: c = (c + key[p + 8]!) | 0; // falls through
    case 8: b = (b + (key[p + 7]! << 24)) | 0; // falls through
    case 7: b = (b + (key[p + 6]! << 16)) | 0; // falls through
    case 6: b = (b + (key[p + 5]! << 8)) | 0; // falls through
    case 5: b = (b + key[p + 4]!) | 0; // falls through
    case 4: a = (a + (key[p + 3]! << 24)) | 0; // falls through
    case 3: a = (a + (key[p + 2]! << 16)) | 0; // falls through
    case 2: a = (a + (key[p + 1]! << 8)) | 0; // falls through
    case 1: a = (a + key[p]!) | 0; break;
    default: return c >>> 0;
  }
  // final(a, b, c)
  c ^= b; c = (c - rot(b, 14)) | 0;
  a ^= c; a = (a - rot(c, 11)) | 0;
  b ^= a; b = (b - rot(a, 25)) | 0;
  c ^= b; c = (c - rot(b, 16)) | 0;
  a ^= c; a = (a - rot(c, 4)) | 0;
  b ^= a; b = (b - rot(a, 14)) | 0;
  c ^= b; c = (c - rot(b, 24)) | 0;
  return c >>> 0;
}
