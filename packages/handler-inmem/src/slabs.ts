/**
 * memcached-style slab allocator over fixed-size pages.
 *
 * Pages are `pageSize` bytes, carved into equal chunks for one size class;
 * classes grow by a factor of 1.25 from 48 bytes up to `chunkMax`. A handler
 * of its own allocates each page as a Buffer when it needs it (never a
 * slice of Node's pool); a store shared by threads has one arena of pages
 * reserved up front, each thread viewing page `p` at `p * pageSize`. A
 * chunk holds a 4-byte item id (so a page can be scanned for the items
 * living in it) followed by the key and the value; a free chunk holds the
 * next free chunk of its class instead (memcached's slots list). Whole
 * pages move between classes or are dropped when memory is needed
 * elsewhere. Chunk bytes are never handed out: readers get copies, so a
 * chunk can be reused the moment its item is gone.
 *
 * A chunk reference is `page << refBits | index` (a uint32). The bookkeeping (free
 * lists, pages per class, each page's class and live chunks) lives in the
 * header and the page table, so threads sharing a store share it.
 */
import type { Header } from './state.js';
import { EMPTY_TOP, PAGE_COUNT, PAGE_HIGH, SPARE_TOP } from './state.js';

/** Bytes at the start of each chunk: the id of the item stored in it. */
export const CHUNK_HEADER = 4;
/** Smallest chunk. */
export const MIN_CHUNK = 48;
/** Size classes grow by this factor (memcached's -f default). */
export const GROWTH_FACTOR = 1.25;
/** No chunk (the end of a free list). */
const NONE = 0xffffffff;
/** Int32 arrays in the page table: class, live chunks, spare stack, empty stack, listed. */
const PAGE_ARRAYS = 5;

/** The chunk size of each class, from 48 bytes up to `chunkMax`. */
export function classSizes(chunkMax: number): number[] {
  const sizes: number[] = [];
  let size = MIN_CHUNK;
  while (size < chunkMax) {
    sizes.push(size);
    size = Math.max(size + 8, (Math.ceil(size * GROWTH_FACTOR) + 7) & ~7);
  }
  sizes.push(chunkMax);
  return sizes;
}

/** Bytes of a page table for `pages` pages. */
export function pageTableBytes(pages: number): number {
  return pages * PAGE_ARRAYS * 4;
}

export class Slabs {
  readonly pageSize: number;
  /** Chunk size per class. */
  readonly sizes: number[];
  /** Chunks per page, per class. */
  readonly perPage: number[];
  /** Pages by index, as this thread sees them; `null` where none is allocated (a handler of its own). */
  readonly pages: (Buffer | null)[] = [];
  /** Each page's ArrayBuffer and its offset there, read once rather than per copy. */
  readonly pageBuffers: (ArrayBufferLike | null)[] = [];
  readonly pageOffsets: number[] = [];
  /** Each page as 32-bit words, for the free list links in chunk headers. */
  private readonly pageWords: (Uint32Array | null)[] = [];
  /** Class owning each page (-1: none). */
  pageClass!: Int32Array;
  /** Chunks in use, per page. */
  pageLive!: Int32Array;
  /** Page indexes given back (a stack). */
  private spare!: Int32Array;
  /** Pages whose chunks are all free (a stack; entries may be stale: check pageLive). */
  private empty!: Int32Array;
  /** Whether a page is in `empty`, so that a page emptied again and again is listed once. */
  private listed!: Int32Array;
  /** Pages owned, per class. */
  readonly pagesOf: Int32Array;
  private readonly freeHead: Uint32Array;
  private readonly freeCounts: Int32Array;
  private readonly h: Int32Array;
  /** Chunk references are `page << refBits | index`: bits for the index, and their mask. */
  private readonly refBits: number;
  private readonly refMask: number;

  /**
   * @param arena a shared store's pages (its page table sized for them), or
   *   undefined to allocate pages one by one (the page table grows with them)
   */
  constructor(
    pageSize: number,
    chunkMax: number,
    header: Header,
    pageTable: ArrayBufferLike | undefined,
    private readonly arena: SharedArrayBuffer | undefined,
  ) {
    this.pageSize = pageSize;
    this.sizes = classSizes(chunkMax);
    this.perPage = this.sizes.map((s) => Math.floor(pageSize / s));
    let bits = 16;
    while (2 ** bits <= this.perPage[0]!) bits++;
    this.refBits = bits;
    this.refMask = 2 ** bits - 1;
    this.pagesOf = header.pagesOf;
    this.freeHead = header.freeHead;
    this.freeCounts = header.freeCount;
    this.h = header.i32;
    this.viewTable(pageTable ?? new ArrayBuffer(pageTableBytes(16)));
    if (arena !== undefined) {
      for (let p = 0; p * pageSize < arena.byteLength; p++) {
        this.pages[p] = Buffer.from(arena, p * pageSize, pageSize);
        this.pageBuffers[p] = arena;
        this.pageOffsets[p] = p * pageSize;
        this.pageWords[p] = new Uint32Array(arena, p * pageSize, pageSize >>> 2);
      }
    }
  }

  /** Set up a new store's lists (once per store). */
  init(): void {
    this.freeHead.fill(NONE);
    this.pageClass.fill(-1);
  }

  private viewTable(buffer: ArrayBufferLike): void {
    const n = buffer.byteLength / (PAGE_ARRAYS * 4);
    const at = (i: number) => new Int32Array(buffer, i * n * 4, n);
    this.pageClass = at(0);
    this.pageLive = at(1);
    this.spare = at(2);
    this.empty = at(3);
    this.listed = at(4);
  }

  /** A handler of its own: twice the page table, its contents kept. */
  private growTable(): void {
    const old = [this.pageClass, this.pageLive, this.spare, this.empty, this.listed];
    const n = this.pageClass.length * 2;
    this.viewTable(new ArrayBuffer(pageTableBytes(n)));
    const now = [this.pageClass, this.pageLive, this.spare, this.empty, this.listed];
    for (let i = 0; i < PAGE_ARRAYS; i++) now[i]!.set(old[i]!);
    this.pageClass.fill(-1, n / 2);
  }

  get classCount(): number {
    return this.sizes.length;
  }

  /** Largest chunk: items needing more are stored outside the slabs. */
  get chunkMax(): number {
    return this.sizes[this.sizes.length - 1]!;
  }

  /** Pages currently allocated. */
  get pageCount(): number {
    return this.h[PAGE_COUNT]!;
  }

  /** Page indexes handed out so far are below this. */
  get pageHigh(): number {
    return this.h[PAGE_HIGH]!;
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
    return ref >>> this.refBits;
  }

  /** Byte offset of a chunk inside its page. */
  offsetOf(ref: number): number {
    return (ref & this.refMask) * this.sizes[this.pageClass[ref >>> this.refBits]!]!;
  }

  freeCount(cls: number): number {
    return this.freeCounts[cls]!;
  }

  /** The next free chunk after `ref` (in its header; chunks are 8-byte aligned). */
  private nextFree(ref: number): number {
    const page = ref >>> this.refBits;
    return this.pageWords[page]![((ref & this.refMask) * this.sizes[this.pageClass[page]!]!) >>> 2]!;
  }

  private setNextFree(ref: number, next: number): void {
    const page = ref >>> this.refBits;
    this.pageWords[page]![((ref & this.refMask) * this.sizes[this.pageClass[page]!]!) >>> 2] = next;
  }

  /** A free chunk of class `cls`, or -1. */
  alloc(cls: number): number {
    const ref = this.freeHead[cls]!;
    if (ref === NONE) return -1;
    this.freeHead[cls] = this.nextFree(ref);
    this.freeCounts[cls]!--;
    this.pageLive[ref >>> this.refBits]!++;
    return ref;
  }

  release(ref: number): void {
    const page = ref >>> this.refBits;
    const cls = this.pageClass[page]!;
    this.setNextFree(ref, this.freeHead[cls]!);
    this.freeHead[cls] = ref;
    this.freeCounts[cls]!++;
    if (--this.pageLive[page]! === 0 && this.listed[page] === 0) {
      this.listed[page] = 1;
      this.empty[this.h[EMPTY_TOP]!++] = page;
    }
  }

  /** Allocate a new page for `cls`. */
  addPage(cls: number): void {
    const h = this.h;
    let index: number;
    if (h[SPARE_TOP]! > 0) index = this.spare[--h[SPARE_TOP]!]!;
    else {
      index = h[PAGE_HIGH]!++;
      if (index >= this.pageClass.length) this.growTable();
    }
    if (this.arena === undefined) {
      const page = Buffer.allocUnsafeSlow(this.pageSize);
      this.pages[index] = page;
      this.pageBuffers[index] = page.buffer;
      this.pageOffsets[index] = 0;
      this.pageWords[index] = new Uint32Array(page.buffer, 0, this.pageSize >>> 2);
    }
    h[PAGE_COUNT]!++;
    this.carve(index, cls);
  }

  private carve(page: number, cls: number): void {
    this.pageClass[page] = cls;
    this.pageLive[page] = 0;
    this.pagesOf[cls]!++;
    // Low offsets first: linked in reverse so they are handed out in order.
    const first = (page << this.refBits) >>> 0;
    for (let i = this.perPage[cls]! - 1; i >= 0; i--) {
      this.setNextFree(first + i, this.freeHead[cls]!);
      this.freeHead[cls] = first + i;
    }
    this.freeCounts[cls]! += this.perPage[cls]!;
  }

  /** Take a page's chunks out of its class's free list. */
  private forget(page: number): void {
    const cls = this.pageClass[page]!;
    let prev = NONE;
    let removed = 0;
    for (let ref = this.freeHead[cls]!; ref !== NONE; ) {
      const next = this.nextFree(ref);
      if (ref >>> this.refBits === page) {
        if (prev === NONE) this.freeHead[cls] = next;
        else this.setNextFree(prev, next);
        removed++;
      } else {
        prev = ref;
      }
      ref = next;
    }
    this.freeCounts[cls]! -= removed;
    this.pagesOf[cls]!--;
  }

  /** Give an empty page to another class. */
  reassign(page: number, cls: number): void {
    this.forget(page);
    this.carve(page, cls);
  }

  /** Drop an empty page: its memory goes back to the process (a shared arena keeps it for the next page). */
  drop(page: number): void {
    this.forget(page);
    if (this.arena === undefined) {
      this.pages[page] = null;
      this.pageBuffers[page] = null;
      this.pageWords[page] = null;
    }
    this.pageClass[page] = -1;
    this.pageLive[page] = 0;
    this.spare[this.h[SPARE_TOP]!++] = page;
    this.h[PAGE_COUNT]!--;
  }

  /** Whether page `p` is allocated to a class. */
  inUse(p: number): boolean {
    return this.pageClass[p]! >= 0;
  }

  /** An allocated page with no live chunk, or -1. */
  takeEmpty(): number {
    const h = this.h;
    while (h[EMPTY_TOP]! > 0) {
      const p = this.empty[--h[EMPTY_TOP]!]!;
      this.listed[p] = 0;
      if (this.pageClass[p]! >= 0 && this.pageLive[p] === 0) return p;
    }
    return -1;
  }

  /** Chunk references of a page, for scanning its items. */
  refsOf(page: number): { first: number; count: number } {
    return { first: (page << this.refBits) >>> 0, count: this.perPage[this.pageClass[page]!]! };
  }
}
