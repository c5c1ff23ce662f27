// Paul Hsieh's SuperFastHash as nutcracker 0.5.0 computes it (`hash: hsieh`). 16-bit pieces are read
// little-endian; one quirk: with three bytes left over, the third is read through a signed `char`, so
// a byte >= 0x80 there is sign-extended before it is shifted in. An empty key hashes to 0.

/** hsieh over `key[start, end)` as an unsigned 32-bit number. */
export function hsieh(key: Uint8Array, start: number, end: number): number {
  const length = end - start;
  if (length <= 0) return 0;
  let h = 0;
  let p = start;
  for (let blocks = length >>> 2; blocks > 0; blocks--) {
    h = (h + (key[p]! | (key[p + 1]! << 8))) | 0;
    const tmp = ((key[p + 2]! | (key[p + 3]! << 8)) << 11) ^ h;
    h = (h << 16) ^ tmp;
    p += 4;
    h = (h + (h >>> 11)) | 0;
  }
  switch (length & 3) {
    case 3:
      h = (h + (key[p]! | (key[p + 1]! << 8))) | 0;
      h ^= h << 16;
      h ^= ((key[p + 2]! << 24) >> 24) << 18;
      h = (h + (h >>> 11)) | 0;
      break;
    case 2:
      h = (h + (key[p]! | (key[p + 1]! << 8))) | 0;
      h ^= h << 11;
      h = (h + (h >>> 17)) | 0;
      break;
    case 1:
      h = (h + key[p]!) | 0;
      h ^= h << 10;
      h = (h + (h >>> 1)) | 0;
      break;
  }
  h ^= h << 3;
  h = (h + (h >>> 5)) | 0;
  h ^= h << 4;
  h = (h + (h >>> 17)) | 0;
  h ^= h << 25;
  h = (h + (h >>> 6)) | 0;
  return h >>> 0;
}
