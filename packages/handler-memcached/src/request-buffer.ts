/**
 * Outgoing bytes of one backend connection: every request line issued in one
 * event-loop turn is written straight into a slab (no string building), and
 * the whole batch leaves in one socket write.
 *
 * Small values are copied next to their request line; values of
 * `referenceThreshold` bytes or more are referenced, not copied (they are
 * views the caller keeps valid until its request settles). `take()` hands
 * over everything since the last call; the slab region it covers is never
 * written again, so the socket may hold it as long as it needs.
 */
export class RequestBuffer {
  /** The slab being written; write at `pos`, after `ensure(n)`. */
  buf: Buffer;
  pos = 0;
  /** Start of the not-yet-taken region of `buf`. */
  private start = 0;
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  private readonly slabSize: number;
  readonly referenceThreshold: number;

  constructor(slabSize = 64 * 1024, referenceThreshold = 2048) {
    this.slabSize = slabSize;
    this.referenceThreshold = referenceThreshold;
    this.buf = Buffer.allocUnsafe(slabSize);
  }

  /** Bytes written since the last `take()`. */
  get length(): number {
    return this.chunkBytes + (this.pos - this.start);
  }

  /** Make room for `n` contiguous bytes at `pos` (possibly in a new slab). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    this.seal();
    this.buf = Buffer.allocUnsafe(Math.max(this.slabSize, n));
    this.start = 0;
    this.pos = 0;
  }

  private seal(): void {
    if (this.pos > this.start) {
      this.chunks.push(this.buf.subarray(this.start, this.pos));
      this.chunkBytes += this.pos - this.start;
      this.start = this.pos;
    }
  }

  /** Append a data block and its `\r\n`: copied when small, referenced when large. */
  block(value: Buffer): void {
    const n = value.length;
    if (n >= this.referenceThreshold) {
      this.seal();
      this.chunks.push(value);
      this.chunkBytes += n;
      this.ensure(2);
    } else {
      this.ensure(n + 2);
      value.copy(this.buf, this.pos);
      this.pos += n;
    }
    this.buf[this.pos] = 13;
    this.buf[this.pos + 1] = 10;
    this.pos += 2;
  }

  /** Everything written since the last call, in order (empty when nothing was). */
  take(): Buffer[] {
    this.seal();
    const out = this.chunks;
    this.chunks = [];
    this.chunkBytes = 0;
    if (this.buf.length - this.pos < 1024) {
      this.buf = Buffer.allocUnsafe(this.slabSize);
      this.start = 0;
      this.pos = 0;
    }
    return out;
  }

  /** Drop everything not yet taken (the connection failed before it was sent). */
  discard(): void {
    this.chunks = [];
    this.chunkBytes = 0;
    this.start = this.pos;
  }
}

// ---------------------------------------------------------------------------
// Byte writers: each writes at `p` and returns the position after what it wrote.
// ---------------------------------------------------------------------------

/** A non-negative integer below 2^53, digit by digit. */
export function putDecimal(buf: Buffer, p: number, v: number): number {
  if (v < 10) {
    buf[p] = 48 + v;
    return p + 1;
  }
  let digits = 1;
  for (let t = v; t >= 10; t = Math.floor(t / 10)) digits++;
  let q = p + digits;
  const end = q;
  while (v >= 10) {
    const d = Math.floor(v / 10);
    buf[--q] = 48 + (v - d * 10);
    v = d;
  }
  buf[--q] = 48 + v;
  return end;
}

/** A signed integer (exptimes may be negative: "already expired"). */
export function putSigned(buf: Buffer, p: number, v: number): number {
  if (v < 0) {
    buf[p] = 0x2d;
    return putDecimal(buf, p + 1, -v);
  }
  return putDecimal(buf, p, v);
}

const E15 = 10n ** 15n;
const MAX_SAFE = 0x1fffffffffffffn;

/** An unsigned 64-bit integer (CAS uniques, deltas); bigint arithmetic only above 2^53. */
export function putU64(buf: Buffer, p: number, v: bigint): number {
  if (v <= MAX_SAFE) return putDecimal(buf, p, Number(v));
  const hi = v / E15;
  const lo = Number(v - hi * E15);
  p = putDecimal(buf, p, Number(hi));
  // The low part always takes 15 digits, zero-padded.
  for (let i = 14; i >= 0; i--) {
    const d = Math.floor(lo / 10 ** i) % 10;
    buf[p++] = 48 + d;
  }
  return p;
}

/** Copy a short constant (a few bytes) without a native call. */
export function putConst(buf: Buffer, p: number, c: Buffer): number {
  for (let i = 0; i < c.length; i++) buf[p + i] = c[i]!;
  return p + c.length;
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/** memcached's KEY_MAX_LENGTH: applies to the key token as sent, base64 included. */
export const KEY_MAX_LENGTH = 250;

/** How a key travels on a meta line. */
export const KEY_RAW = 0;
export const KEY_BASE64 = 1;
/** Not representable: empty, or too long once base64-encoded. */
export const KEY_INVALID = -1;

export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/**
 * Whether `key` can go raw on a meta line. memcached splits meta request
 * lines on spaces and ends them at `\n` (a `\r` before it is dropped), and
 * keys reach C strings, so space, CR, LF and NUL need base64 (`b`); every
 * other byte, control characters and bytes >= 0x80 included, travels raw.
 * `forceBase64` (the client sent the key base64) picks base64 whenever it fits.
 */
export function keyMode(key: Buffer, forceBase64: boolean): number {
  const n = key.length;
  if (n === 0) return KEY_INVALID;
  if (forceBase64 && base64Length(n) <= KEY_MAX_LENGTH) return KEY_BASE64;
  {
    let safe = n <= KEY_MAX_LENGTH;
    if (safe) {
      for (let i = 0; i < n; i++) {
        const c = key[i]!;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x00) {
          safe = false;
          break;
        }
      }
    }
    if (safe) return KEY_RAW;
  }
  return base64Length(n) <= KEY_MAX_LENGTH ? KEY_BASE64 : KEY_INVALID;
}

const B64 = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');

/** The key token: raw bytes, or standard padded base64. */
export function putKey(buf: Buffer, p: number, key: Buffer, mode: number): number {
  const n = key.length;
  if (mode === KEY_RAW) {
    if (n > 32) return p + key.copy(buf, p);
    for (let i = 0; i < n; i++) buf[p + i] = key[i]!;
    return p + n;
  }
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (key[i]! << 16) | (key[i + 1]! << 8) | key[i + 2]!;
    buf[p++] = B64[v >>> 18]!;
    buf[p++] = B64[(v >>> 12) & 63]!;
    buf[p++] = B64[(v >>> 6) & 63]!;
    buf[p++] = B64[v & 63]!;
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (key[i]! << 16) | (two ? key[i + 1]! << 8 : 0);
    buf[p++] = B64[v >>> 18]!;
    buf[p++] = B64[(v >>> 12) & 63]!;
    buf[p++] = two ? B64[(v >>> 6) & 63]! : 0x3d;
    buf[p++] = 0x3d;
  }
  return p;
}

/** FNV-1a over the key bytes: picks the backend connection, so one key always uses the same one. */
export function keyHash(key: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
