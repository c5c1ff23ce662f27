/**
 * What the store's memory really is, so `maxBytes` bounds the process's
 * memory rather than just key and value bytes.
 *
 * - Slab pages: Buffers of `pageSize` bytes allocated with allocUnsafeSlow
 *   (their own memory, never a slice of Node's 8 KiB pool), counted whole
 *   from the moment they exist, free chunks included.
 * - Item metadata: one slot per item in typed arrays (hash chain, LRU links,
 *   class, chunk, lengths, flags, exptime, last access, CAS, state, flush
 *   generation), counted
 *   by capacity, spare slots included.
 * - The hash table's bucket array.
 * - Items too large for a slab chunk: their own Buffer plus the JavaScript
 *   objects that refer to it, counted with the overhead measured below.
 *
 * No JavaScript object exists per slab item, so the V8 heap does not grow
 * with the number of items, and freed chunks are reused in place instead of
 * fragmenting malloc. bench/footprint.ts measures process growth against
 * the counted bytes (Node 20, x64, 400k items of 16-byte keys and 100-byte
 * values: 225 bytes charged per item, 226 bytes of external memory and 1 of
 * V8 heap measured); test/footprint.test.ts checks the match.
 */

/**
 * Bytes of metadata per item slot: one 64-byte record (a cache line) with the
 * hash chain, LRU links, chunk, lengths, flags, class, state, flush
 * generation, last access, exptime and CAS.
 */
export const META_BYTES = 64;
/** Bytes per hash bucket (an Int32Array entry). */
export const BUCKET_BYTES = 4;
/**
 * An item stored outside the slabs, beyond its key and value bytes: the
 * ArrayBuffer, the key and value views the handler keeps for it and their
 * Map entry (about 610 bytes of V8 heap per item, measured by
 * bench/footprint.ts), the BackingStore record and malloc header outside
 * the heap.
 */
export const LARGE_ITEM_OVERHEAD = 832;

/** Bytes charged for an item stored outside the slabs. */
export function largeFootprint(keyLength: number, valueLength: number): number {
  return LARGE_ITEM_OVERHEAD + ((keyLength + valueLength + 15) & ~15);
}
