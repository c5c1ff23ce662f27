/**
 * memcached-style slab allocator over fixed-size pages.
 *
 * Pages are Buffers of `pageSize` bytes, allocated once (never a slice of
 * Node's pool) and carved into equal chunks for one size class; classes grow
 * by a factor of 1.25 from 48 bytes up to `chunkMax`. A chunk holds a 4-byte
 * item id (so a page can be scanned for the items living in it) followed by
 * the key and the value. Freed chunks go back to their class's free list;
 * whole pages move between classes or are dropped when memory is needed
 * elsewhere. Chunk bytes are never handed out: readers get copies, so a
 * chunk can be reused the moment its item is gone.
 *
 * A chunk reference is `page * 65536 + index`.
 */

/** Bytes at the start of each chunk: the id of the item stored in it. */
export const CHUNK_HEADER = 4;
/** Smallest chunk. */
export const MIN_CHUNK = 48;
/** Size classes grow by this factor (memcached's -f default). */
export const GROWTH_FACTOR = 1.25;

const REF_SHIFT = 65536;

export class Slabs {
  readonly pageSize: number;
  /** Chunk size per class. */
  readonly sizes: number[] = [];
  /** Chunks per page, per class. */
  readonly perPage: number[] = [];
  /** Pages by index; `null` once dropped (the index is reused). */
  readonly pages: (Buffer | null)[] = [];
  /** Each page's ArrayBuffer (a page is allocUnsafeSlow: it starts at offset 0), read once rather than per copy. */
  readonly pageBuffers: (ArrayBufferLike | null)[] = [];
  /** Class owning each page. */
  readonly pageClass: number[] = [];
  /** Chunks in use, per page. */
  readonly pageLive: number[] = [];
  /** Pages owned, per class. */
  readonly pagesOf: number[] = [];
  /** Free chunk references, per class (a stack). */
  private readonly free: number[][] = [];
  private readonly spareIndexes: number[] = [];
  /** Pages whose chunks are all free (entries may be stale: check pageLive). */
  private readonly empty: number[] = [];
  /** Whether a page is in `empty`, so that a page emptied again and again is listed once. */
  private readonly listed: boolean[] = [];
  /** Pages currently allocated. */
  pageCount = 0;

  constructor(pageSize: number, chunkMax: number) {
    this.pageSize = pageSize;
    let size = MIN_CHUNK;
    while (size < chunkMax) {
      this.addClass(size);
      size = Math.max(size + 8, (Math.ceil(size * GROWTH_FACTOR) + 7) & ~7);
    }
    this.addClass(chunkMax);
  }

  private addClass(size: number): void {
    this.sizes.push(size);
    this.perPage.push(Math.floor(this.pageSize / size));
    this.free.push([]);
    this.pagesOf.push(0);
  }

  get classCount(): number {
    return this.sizes.length;
  }

  /** Largest chunk: items needing more are stored outside the slabs. */
  get chunkMax(): number {
    return this.sizes[this.sizes.length - 1]!;
  }

  /** The class for a chunk of `n` bytes (header included), or -1 when above `chunkMax`. */
  classFor(n: number): number {
    const sizes = this.sizes;
    let lo = 0;
    let hi = sizes.length - 1;
    if (n > sizes[hi]!) return -1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sizes[mid]! >= n) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  pageOf(ref: number): number {
    return Math.floor(ref / REF_SHIFT);
  }

  /** Byte offset of a chunk inside its page. */
  offsetOf(ref: number): number {
    const page = Math.floor(ref / REF_SHIFT);
    return (ref - page * REF_SHIFT) * this.sizes[this.pageClass[page]!]!;
  }

  freeCount(cls: number): number {
    return this.free[cls]!.length;
  }

  /** A free chunk of class `cls`, or -1. */
  alloc(cls: number): number {
    const ref = this.free[cls]!.pop();
    if (ref === undefined) return -1;
    this.pageLive[Math.floor(ref / REF_SHIFT)]!++;
    return ref;
  }

  release(ref: number): void {
    const page = Math.floor(ref / REF_SHIFT);
    this.free[this.pageClass[page]!]!.push(ref);
    if (--this.pageLive[page]! === 0 && this.listed[page] !== true) {
      this.listed[page] = true;
      this.empty.push(page);
    }
  }

  /** Allocate a new page for `cls`. */
  addPage(cls: number): void {
    const index = this.spareIndexes.pop() ?? this.pages.length;
    const page = Buffer.allocUnsafeSlow(this.pageSize);
    this.pages[index] = page;
    this.pageBuffers[index] = page.buffer;
    this.pageCount++;
    this.carve(index, cls);
  }

  private carve(page: number, cls: number): void {
    this.pageClass[page] = cls;
    this.pageLive[page] = 0;
    this.pagesOf[cls]!++;
    const free = this.free[cls]!;
    // Low offsets first: push in reverse so pop() hands them out in order.
    for (let i = this.perPage[cls]! - 1; i >= 0; i--) free.push(page * REF_SHIFT + i);
  }

  private forget(page: number): void {
    const cls = this.pageClass[page]!;
    const free = this.free[cls]!;
    let w = 0;
    for (let r = 0; r < free.length; r++) {
      const ref = free[r]!;
      if (Math.floor(ref / REF_SHIFT) !== page) free[w++] = ref;
    }
    free.length = w;
    this.pagesOf[cls]!--;
  }

  /** Give an empty page to another class. */
  reassign(page: number, cls: number): void {
    this.forget(page);
    this.carve(page, cls);
  }

  /** Drop an empty page: its memory goes back to the process. */
  drop(page: number): void {
    this.forget(page);
    this.pages[page] = null;
    this.pageBuffers[page] = null;
    this.pageLive[page] = 0;
    this.spareIndexes.push(page);
    this.pageCount--;
  }

  /** An allocated page with no live chunk, or -1. */
  takeEmpty(): number {
    const empty = this.empty;
    while (empty.length > 0) {
      const p = empty.pop()!;
      this.listed[p] = false;
      if (this.pages[p] !== null && this.pageLive[p] === 0) return p;
    }
    return -1;
  }

  /** Chunk references of a page, for scanning its items. */
  refsOf(page: number): { first: number; count: number } {
    return { first: page * REF_SHIFT, count: this.perPage[this.pageClass[page]!]! };
  }
}
