/**
 * The bytes of one batch of pipelined requests. Requests are written into a
 * large slab; `take()` hands the batch to the socket as a view and the next
 * batch continues after it in the same slab, so a turn costs one write and no
 * copy. A slab is never written again once handed out (the socket may still
 * hold it): when it runs out, a new one is started and the unfinished batch
 * is moved over.
 */
const SLAB = 256 * 1024;

export class Out {
  buf: Buffer = Buffer.allocUnsafe(SLAB);
  pos = 0;
  private start = 0;

  /** Make room for `n` more bytes in the current batch. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const pending = this.pos - this.start;
    const next = Buffer.allocUnsafe(Math.max(SLAB, (pending + n) * 2));
    this.buf.copy(next, 0, this.start, this.pos);
    this.buf = next;
    this.start = 0;
    this.pos = pending;
  }

  /** Bytes in the current batch. */
  get length(): number {
    return this.pos - this.start;
  }

  /** The current batch; the next one starts after it. */
  take(): Buffer {
    const b = this.buf.subarray(this.start, this.pos);
    this.start = this.pos;
    return b;
  }

  /** Drop the current batch (nothing was written). */
  discard(): void {
    this.pos = this.start;
  }

  /** Copy `b` (short constant pieces are copied byte by byte: cheaper than a native call). */
  put(b: Buffer): void {
    const n = b.length;
    const pos = this.pos;
    const buf = this.buf;
    if (n <= 16) {
      for (let i = 0; i < n; i++) buf[pos + i] = b[i]!;
    } else {
      b.copy(buf, pos);
    }
    this.pos = pos + n;
  }

  /** Copy src[s, e). */
  putRange(src: Buffer, s: number, e: number): void {
    src.copy(this.buf, this.pos, s, e);
    this.pos += e - s;
  }

  /** A non-negative integer (below 2^53) in decimal, digit by digit. */
  decimal(v: number): void {
    const buf = this.buf;
    if (v < 0x80000000) {
      // Small integers: integer division.
      let n = 1;
      for (let t = v | 0; t >= 10; t = (t / 10) | 0) n++;
      let p = this.pos + n - 1;
      let t = v | 0;
      do {
        const q = (t / 10) | 0;
        buf[p--] = 48 + (t - q * 10);
        t = q;
      } while (t > 0);
      this.pos += n;
      return;
    }
    let n = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) n++;
    let p = this.pos + n - 1;
    let t = v;
    do {
      const q = Math.floor(t / 10);
      buf[p--] = 48 + (t - q * 10);
      t = q;
    } while (t > 0);
    this.pos += n;
  }
}

/** Digits `decimal(v)` writes. */
export function decimalLength(v: number): number {
  let n = 1;
  for (let t = v; t >= 10; t = Math.floor(t / 10)) n++;
  return n;
}
