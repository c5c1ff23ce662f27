/**
 * The LRU lists: one doubly linked list per size class (and one for the
 * items outside the slabs), threaded through the item records' PREV/NEXT
 * slots, most recently used at the head. memcached relinks a fetched item
 * at most once per ITEM_UPDATE_INTERVAL, so a get on a hot key moves no
 * list pointers; the tails say which class holds the oldest items when
 * memory must move (see memory.ts).
 */
import type { Header } from './state.js';
import { ATIME, CLS, NEXT, PREV, STRIDE, type ItemTable } from './table.js';

/** memcached's ITEM_UPDATE_INTERVAL: a fetched item is relinked at the LRU head at most once per 60 s. */
export const ITEM_UPDATE_INTERVAL = 60;

export class Lru {
  /** Most recently used item per class (0 = empty list). */
  readonly heads: Int32Array;
  /** Least recently used item per class. */
  readonly tails: Int32Array;
  /** Items per class. */
  readonly items: Float64Array;

  constructor(
    private readonly table: ItemTable,
    /** Per class: bumps that moved an item within its LRU (stats items `moves_within_lru`). */
    private readonly movesWithinLru: Float64Array,
    /** Classes, the one for items outside the slabs included. */
    readonly classCount: number,
    header: Header,
  ) {
    this.heads = header.lruHeads;
    this.tails = header.lruTails;
    this.items = header.lruItems;
  }

  /** Link a new item at the head of its class's list. */
  add(id: number): void {
    this.pushHead(id);
    this.items[this.table.i32[id * STRIDE + CLS]!]!++;
  }

  /** Take an item out of its class's list for good. */
  remove(id: number): void {
    this.listRemove(id);
    this.items[this.table.i32[id * STRIDE + CLS]!]!--;
  }

  /**
   * An item was fetched or touched (memcached's do_item_update): relink it
   * at the head and refresh its time if its last bump is more than
   * ITEM_UPDATE_INTERVAL old.
   */
  update(id: number, now: number): void {
    if (this.table.u32[id * STRIDE + ATIME]! < now - ITEM_UPDATE_INTERVAL) this.bump(id, now);
  }

  /** Move an item to the head of its LRU (memcached's relink on bump). */
  private bump(id: number, now: number): void {
    const i32 = this.table.i32;
    this.table.u32[id * STRIDE + ATIME] = now;
    const c = i32[id * STRIDE + CLS]!;
    if (this.heads[c] !== id) {
      this.listRemove(id);
      this.pushHead(id);
      this.movesWithinLru[c]!++;
    }
  }

  private listRemove(id: number): void {
    const i32 = this.table.i32;
    const c = i32[id * STRIDE + CLS]!;
    const p = i32[id * STRIDE + PREV]!;
    const n = i32[id * STRIDE + NEXT]!;
    if (p === 0) this.heads[c] = n;
    else i32[p * STRIDE + NEXT] = n;
    if (n === 0) this.tails[c] = p;
    else i32[n * STRIDE + PREV] = p;
    i32[id * STRIDE + PREV] = 0;
    i32[id * STRIDE + NEXT] = 0;
  }

  private pushHead(id: number): void {
    const i32 = this.table.i32;
    const c = i32[id * STRIDE + CLS]!;
    const h = this.heads[c]!;
    i32[id * STRIDE + PREV] = 0;
    i32[id * STRIDE + NEXT] = h;
    if (h === 0) this.tails[c] = id;
    else i32[h * STRIDE + PREV] = id;
    this.heads[c] = id;
  }

  /** The class (other than `except`) whose LRU tail was touched longest ago, or -1 when all are empty. */
  oldestClass(except: number): number {
    let best = -1;
    let bestTime = Infinity;
    const tails = this.tails;
    const u32 = this.table.u32;
    for (let c = 0; c < this.classCount; c++) {
      if (c === except) continue;
      const t = tails[c]!;
      if (t !== 0 && u32[t * STRIDE + ATIME]! < bestTime) {
        bestTime = u32[t * STRIDE + ATIME]!;
        best = c;
      }
    }
    return best;
  }

  /**
   * Whether item `a` (another class's tail) is old enough, compared with
   * `b`, to take memory from its class: more than twice as old plus
   * ITEM_UPDATE_INTERVAL (this store's rule for memcached's slab rebalancer).
   */
  muchOlder(a: number, b: number, now: number): boolean {
    const u32 = this.table.u32;
    const ageA = now - u32[a * STRIDE + ATIME]!;
    const ageB = now - u32[b * STRIDE + ATIME]!;
    return ageA > 2 * ageB + ITEM_UPDATE_INTERVAL;
  }

  /** Seconds since the oldest item of class `c` was stored or bumped (0 when empty). */
  age(c: number, now: number): number {
    const tail = this.tails[c]!;
    return tail === 0 ? 0 : Math.max(0, now - this.table.u32[tail * STRIDE + ATIME]!);
  }
}
