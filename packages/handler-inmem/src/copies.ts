/**
 * The copies the store hands out. A chunk is reused as soon as its item is
 * gone, so a caller never gets a view of one: keys and values are copied
 * into a 64 KiB pool that is never written twice (a new pool replaces a
 * full one), so an `ItemView` never changes however long it is kept. Items
 * outside the slabs are handed out as their own Buffers, which are never
 * written again.
 */
import { Item, bufferView, writeLatin1 } from '@cleave/protocol';
import { CHUNK_HEADER, type Slabs } from './slabs.js';
import {
  ATIME,
  CAS,
  CLS,
  EXPTIME,
  FETCHED,
  FLAGS,
  KEY_BINARY,
  KLEN,
  REF,
  STALE,
  STATE,
  STRIDE,
  TOKEN_SENT,
  VLEN,
  type ItemTable,
  type LargeItem,
} from './table.js';

const OUT_POOL = 64 * 1024;

export class Copies {
  /** Copies handed to callers are carved from this pool, never written twice. */
  pool: Buffer = Buffer.allocUnsafeSlow(OUT_POOL);
  /** `pool`'s own ArrayBuffer (allocUnsafeSlow: offset 0): views of it are made without subarray's lookups. */
  poolBuffer: ArrayBufferLike = this.pool.buffer;
  private pos = 0;
  /** The key and value `copyOut` copied last. */
  key: Buffer = this.pool;
  value: Buffer = this.pool;

  constructor(
    private readonly table: ItemTable,
    private readonly slabs: Slabs,
    private readonly large: Map<number, LargeItem>,
    private readonly largeClass: number,
  ) {}

  /** Reserve `n` bytes of the pool; returns their offset in `pool`. */
  stage(n: number): number {
    if (this.pos + n > this.pool.length) {
      this.pool = Buffer.allocUnsafeSlow(n > OUT_POOL ? n : OUT_POOL);
      this.poolBuffer = this.pool.buffer;
      this.pos = 0;
    }
    const p = this.pos;
    this.pos = p + n;
    return p;
  }

  /** Stage a counter's digits and return the copy. */
  latin1(s: string): Buffer {
    const p = this.stage(s.length);
    writeLatin1(this.pool, s, p);
    return bufferView(this.poolBuffer, p, s.length);
  }

  /**
   * Copy an item's key and value out (into `key` and `value`). Given `key`,
   * the caller's Buffer of the same bytes (a fetch by key), only the value
   * is copied and `key` serves as the item's key.
   */
  copyOut(id: number, key?: Buffer): void {
    const t = this.table;
    if (t.i32[id * STRIDE + CLS] === this.largeClass) {
      const it = this.large.get(id)!;
      this.key = it.key;
      this.value = it.value;
      return;
    }
    let k = t.i32[id * STRIDE + KLEN]!;
    const r = t.u32[id * STRIDE + REF]!;
    const slabs = this.slabs;
    const pageIndex = slabs.pageOf(r);
    const page = slabs.pages[pageIndex]!;
    let o = slabs.offsetOf(r) + CHUNK_HEADER;
    if (key !== undefined) {
      o += k;
      k = 0;
    }
    const n = k + t.u32[id * STRIDE + VLEN]!;
    const p = this.stage(n);
    const out = this.pool;
    if (n <= 64) {
      // Short copies by hand: Buffer#copy of a sub-range allocates a view.
      for (let i = 0; i < n; i++) out[p + i] = page[o + i]!;
    } else {
      // One view for the copy, without Buffer#copy's checks.
      out.set(new Uint8Array(slabs.pageBuffers[pageIndex]!, slabs.pageOffsets[pageIndex]! + o, n), p);
    }
    const ab = this.poolBuffer;
    this.key = key ?? bufferView(ab, p, k);
    this.value = bufferView(ab, p + k, n - k);
  }

  /**
   * A snapshot of item `id` as it is now: copies of its key (or the
   * caller's `key`) and value, and its state, with this request's `win` and
   * `previousExptime`.
   */
  snapshot(id: number, win: boolean, previousExptime: number | undefined, key?: Buffer): Item {
    this.copyOut(id, key);
    const t = this.table;
    const st = t.i32[id * STRIDE + STATE]!;
    return new Item(
      this.key,
      this.value,
      t.u32[id * STRIDE + FLAGS]!,
      t.u64[id * 8 + CAS]!,
      t.f64[id * 8 + EXPTIME]!,
      t.u32[id * STRIDE + ATIME]!,
      (st & FETCHED) !== 0,
      (st & STALE) !== 0,
      win,
      (st & TOKEN_SENT) !== 0,
      (st & KEY_BINARY) !== 0,
      previousExptime,
      false,
    );
  }
}
