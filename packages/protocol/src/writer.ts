import { bufferView } from './bytes.js';

/**
 * The bytes one connection sends, gathered so they leave in one socket
 * write: a server's replies to one read, or a client's batch of pipelined
 * requests to a backend.
 *
 * Small pieces (lines, headers, small values) are copied into a slab that is
 * carved into consecutive views, the way Node's own Buffer pool works; values
 * of `referenceThreshold` bytes or more are referenced, never copied (the
 * caller keeps them unchanged until they are sent). `take()` hands over
 * everything written since the last call as a list of Buffers for one
 * `writev`. A slab is never written to again below what was taken, so taken
 * views stay valid while the socket holds them.
 *
 * Callers write through the methods (`bytes`, `ascii`, `decimal`, ...) or
 * straight into the slab: `reserveAt(n)` for exactly `n` bytes, or
 * `room(n)` for at most `n` and `commit(end)` for what was written.
 */
/** Node's Buffer has a direct Latin-1 writer that its typings do not declare. */
interface Latin1Writable {
  latin1Write(s: string, offset: number, length: number): number;
}

export class SlabWriter {
  private slab: Buffer;
  /** The slab's own ArrayBuffer (allocUnsafeSlow: offset 0), for views without subarray's lookups. */
  private slabAb: ArrayBufferLike;
  /** Start of the not-yet-taken region in `slab`. */
  private start = 0;
  /** Write position in `slab`. */
  private pos = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private readonly slabSize: number;
  readonly referenceThreshold: number;

  constructor(options: { slabSize?: number; referenceThreshold?: number } = {}) {
    this.slabSize = options.slabSize ?? 64 * 1024;
    this.referenceThreshold = options.referenceThreshold ?? 1024;
    this.slab = Buffer.allocUnsafeSlow(this.slabSize);
    this.slabAb = this.slab.buffer;
  }

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.chunkBytes + (this.pos - this.start);
  }

  /** Make room for `n` contiguous bytes in the slab; returns the slab to write into at `this.pos`. */
  private reserve(n: number): Buffer {
    if (this.pos + n > this.slab.length) {
      this.sealSlab();
      this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabSize, n));
      this.slabAb = this.slab.buffer;
      this.start = 0;
      this.pos = 0;
    }
    return this.slab;
  }

  /** Move the pending slab region into the chunk list. */
  private sealSlab(): void {
    if (this.pos > this.start) {
      this.chunks.push(bufferView(this.slabAb, this.start, this.pos - this.start));
      this.chunkBytes += this.pos - this.start;
      this.start = this.pos;
    }
  }

  /** Append bytes: copied when small, referenced when large. */
  bytes(buf: Buffer): void {
    const n = buf.length;
    if (n >= this.referenceThreshold) {
      this.sealSlab();
      this.chunks.push(buf);
      this.chunkBytes += n;
      return;
    }
    const slab = this.reserve(n);
    // The whole of `buf` into the slab: TypedArray#set, without Buffer#copy's argument checks.
    slab.set(buf, this.pos);
    this.pos += n;
  }

  /** Append a Latin-1 string (protocol text: ASCII keywords, digits). */
  ascii(s: string): void {
    const n = s.length;
    const slab = this.reserve(n);
    (slab as unknown as Latin1Writable).latin1Write(s, this.pos, n);
    this.pos += n;
  }

  /** Append one byte. */
  byte(b: number): void {
    const slab = this.reserve(1);
    slab[this.pos++] = b;
  }

  /** Append `\r\n`. */
  crlf(): void {
    const slab = this.reserve(2);
    slab[this.pos] = 13;
    slab[this.pos + 1] = 10;
    this.pos += 2;
  }

  /** Append a non-negative integer (< 2^53) in decimal without building a string. */
  decimal(v: number): void {
    const slab = this.reserve(16);
    if (v < 10) {
      slab[this.pos++] = 48 + v;
      return;
    }
    let digits = 1;
    for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.pos + digits;
    this.pos = p;
    while (v >= 10) {
      const q = Math.floor(v / 10);
      slab[--p] = 48 + (v - q * 10);
      v = q;
    }
    slab[--p] = 48 + v;
  }

  /** Append a signed integer in decimal. */
  signed(v: number): void {
    if (v < 0) {
      this.byte(45);
      this.decimal(-v);
    } else {
      this.decimal(v);
    }
  }

  /** Append an unsigned 64-bit integer in decimal. */
  decimal64(v: bigint): void {
    if (v <= 0x1fffffffffffffn) this.decimal(Number(v));
    else this.ascii(v.toString());
  }

  /**
   * Reserve `n` bytes and return their offset in `this.current`; Read `current` right after the call.
   */
  reserveAt(n: number): number {
    this.reserve(n);
    const offset = this.pos;
    this.pos += n;
    return offset;
  }

  /**
   * Room for at most `n` bytes: returns the offset in `current` to write
   * at. Nothing is kept until `commit(end)`.
   */
  room(n: number): number {
    this.reserve(n);
    return this.pos;
  }

  /** Keep the bytes written after `room()` up to `end`, an offset in `current`. */
  commit(end: number): void {
    this.pos = end;
  }

  /** The slab the last `reserveAt` or `room` offset refers to. */
  get current(): Buffer {
    return this.slab;
  }

  /** Everything written since the last call, in order; empty when nothing was written. */
  take(): Buffer[] {
    this.sealSlab();
    const out = this.chunks;
    this.chunks = [];
    this.chunkBytes = 0;
    // Start the next batch on a fresh slab when little room is left.
    if (this.slab.length - this.pos < 512) {
      this.slab = Buffer.allocUnsafeSlow(this.slabSize);
      this.slabAb = this.slab.buffer;
      this.start = 0;
      this.pos = 0;
    }
    return out;
  }

  /** Drop everything written since the last `take()` (the connection failed before it was sent). */
  discard(): void {
    this.chunks = [];
    this.chunkBytes = 0;
    this.start = this.pos;
  }
}

/** The writer the response encoders take: a `SlabWriter` by the name of its first use. */
export { SlabWriter as ResponseWriter };
