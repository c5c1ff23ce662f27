/**
 * memcached's item-size rules: how many bytes it counts for an item, when an
 * item is too large to store, and which slab class holds it. Every store,
 * parser and encoder that must agree with memcached on sizes uses these.
 */

/**
 * The bytes memcached 1.6 (64-bit, CAS on) counts for every item besides its
 * key, flags and value, as item_size_ok() checks them against the item size
 * limit (`-I`): the 48-byte item struct, the key's NUL, the value's "\r\n"
 * and the 8-byte CAS. Measured against memcached 1.6.18: a 1 MiB limit
 * stores at most 1048576 - 59 - key bytes of value (4 fewer with flags).
 */
export const ITEM_HEADER_BYTES = 48 + 1 + 2 + 8;

/** Client flags take 4 bytes of an item, and none when they are 0. */
export const ITEM_FLAGS_BYTES = 4;

/**
 * memcached's largest slab chunk (slab_chunk_max, 512 KiB with default
 * settings): a larger item is chained from chunks of this size, and
 * memcached will not incr/decr such an item.
 */
export const SLAB_CHUNK_MAX = 512 * 1024;

/** The bytes memcached counts for an item (what `me` prints as `size=`, and what `-I` limits). */
export function memcachedItemSize(keyLength: number, flags: number, valueLength: number): number {
  return ITEM_HEADER_BYTES + keyLength + (flags !== 0 ? ITEM_FLAGS_BYTES : 0) + valueLength;
}

/** A store of `valueLength` bytes would not fit an item (memcached's item_size_ok). */
export function itemTooLarge(keyLength: number, flags: number, valueLength: number, maxItemSize: number): boolean {
  return memcachedItemSize(keyLength, flags, valueLength) > maxItemSize;
}

/**
 * memcached's default slab classes (-n 48, -f 1.25, 1 MiB pages, 512 KiB
 * largest chunk): class 1 holds 96-byte chunks and each next class is 1.25
 * times larger, rounded up to 8 bytes; the last class is the 512 KiB chunk
 * that larger items are chained from.
 */
const SLAB_CHUNK_SIZES: readonly number[] = (() => {
  const sizes = [0];
  const factor = 1.25;
  let size = 48 + 48;
  while (sizes.length < 63) {
    if (size >= SLAB_CHUNK_MAX / factor) break;
    if (size % 8 !== 0) size += 8 - (size % 8);
    sizes.push(size);
    size = Math.floor(size * factor);
  }
  sizes.push(SLAB_CHUNK_MAX);
  return sizes;
})();

/** The slab class memcached (default settings) stores an item of `totalSize` bytes in. */
export function slabClassFor(totalSize: number): number {
  const last = SLAB_CHUNK_SIZES.length - 1;
  for (let i = 1; i < last; i++) if (totalSize <= SLAB_CHUNK_SIZES[i]!) return i;
  return last;
}
