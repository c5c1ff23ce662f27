/**
 * What one item really costs in a Node 20 (V8, x64) process, so the memory
 * limit counts what the process holds rather than just key and value bytes.
 *
 * An item is: the Item object, its slot in the Map, the key as a string (the
 * Map key), the key copied into a Buffer (ItemView.key), and the value
 * copied into a Buffer of its own (never a slice of Node's 8 KiB pool: a
 * slice would pin the whole pool slab for as long as the item lives).
 *
 * V8 keeps typed arrays of up to 64 bytes inside the JS heap
 * (`--typed_array_max_size_in_heap`); larger ones get an ArrayBuffer object,
 * a BackingStore record and a malloc()ed block outside the heap.
 *
 * The constants were measured with bench/footprint.ts (heap and RSS growth
 * over 200k items, after GC) and are checked by test/footprint.test.ts.
 */

/** V8's limit for typed arrays whose bytes live inside the JS heap. */
export const ON_HEAP_BUFFER_MAX = 64;

/**
 * The Item object (14 fields, 136 bytes), its CAS bigint (24), the Map slot
 * (~50 at the Map's load factor), the key string's header (16), and the V8
 * heap's share of free space around them: everything but the Buffers and
 * the key characters.
 */
export const ITEM_BASE_BYTES = 304;
/** A Buffer whose bytes live in the JS heap: Uint8Array and ArrayBuffer objects plus the byte array header. */
export const ON_HEAP_BUFFER_BYTES = 192;
/** A Buffer backed by malloc()ed memory: the same objects plus the BackingStore record, its tracking and the malloc header. */
export const OFF_HEAP_BUFFER_BYTES = 360;

function align8(n: number): number {
  return (n + 7) & ~7;
}

/** Bytes a Buffer of `n` bytes made by `Buffer.allocUnsafeSlow(n)` costs. */
export function bufferFootprint(n: number): number {
  return n <= ON_HEAP_BUFFER_MAX ? ON_HEAP_BUFFER_BYTES + align8(n) : OFF_HEAP_BUFFER_BYTES + align8(n);
}

/** Bytes an item with this key and value length is charged against `maxBytes`. */
export function itemFootprint(keyLength: number, valueLength: number): number {
  // The key is held twice: as the Map's string key and as ItemView.key.
  return ITEM_BASE_BYTES + align8(keyLength) + bufferFootprint(keyLength) + bufferFootprint(valueLength);
}
