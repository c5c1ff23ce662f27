/**
 * flush_all and liveness over the item table: protocol's `FlushRule` (which
 * items a flush_all invalidated) read from each record's generation and
 * time, and whether an item is dead (expired or flushed).
 */
import { FlushRule } from '@cleave/protocol';
import { ATIME, EXPTIME, GEN, STRIDE, type ItemTable } from './table.js';

export class FlushState extends FlushRule {
  constructor(private readonly table: ItemTable) {
    super();
  }

  /** Whether item `id` was invalidated by a flush_all (memcached's item_is_flushed). */
  itemFlushed(id: number, now: number): boolean {
    const u32 = this.table.u32;
    return this.isFlushed(u32[id * STRIDE + GEN]!, u32[id * STRIDE + ATIME]!, now);
  }

  /** Expired or flushed: the item is gone for every reader, and its memory can be reclaimed. */
  isDead(id: number, now: number): boolean {
    const e = this.table.f64[id * 8 + EXPTIME]!;
    return (e !== 0 && e <= now) || this.itemFlushed(id, now);
  }
}
