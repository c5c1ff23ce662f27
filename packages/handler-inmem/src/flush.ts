/**
 * flush_all and liveness over the item table: protocol's `FlushRule` (which
 * items a flush_all invalidated) read from each record's generation and
 * time, and whether an item is dead (expired or flushed). The rule's state
 * is saved into the header after every flush_all, so a thread sharing the
 * store takes it up (`sync`) before its next command.
 */
import { FlushRule } from '@cleave/protocol';
import { FLUSH, FLUSH_VERSION, type Header } from './state.js';
import { ATIME, EXPTIME, GEN, STRIDE, type ItemTable } from './table.js';

export class FlushState extends FlushRule {
  /** The header's flush version this thread's rule reflects. */
  private version = 0;

  constructor(
    private readonly table: ItemTable,
    private readonly header: Header,
  ) {
    super();
  }

  /** Take up a flush_all another thread issued since this one last looked. */
  sync(): void {
    const v = this.header.i32[FLUSH_VERSION]!;
    if (v === this.version) return;
    this.version = v;
    this.restore(Array.from(this.header.f64.subarray(FLUSH, FLUSH + 5)));
  }

  override flush(delay: number, now: number): boolean {
    const atOnce = super.flush(delay, now);
    this.header.f64.set(this.save(), FLUSH);
    this.version = ++this.header.i32[FLUSH_VERSION]!;
    return atOnce;
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
