// Bob Jenkins' one-at-a-time hash as nutcracker 0.5.0 computes it (`hash: one_at_a_time`).

/**
 * one_at_a_time over `key[start, end)` as an unsigned 32-bit number. nutcracker
 * reads the key through a (signed) `char`, so a byte >= 0x80 is added
 * sign-extended: 0xff adds 0xffffffff, not 0xff.
 */
export function oneAtATime(key: Uint8Array, start: number, end: number): number {
  let h = 0;
  for (let i = start; i < end; i++) {
    h = (h + ((key[i]! << 24) >> 24)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  h = (h + (h << 15)) | 0;
  return h >>> 0;
}
