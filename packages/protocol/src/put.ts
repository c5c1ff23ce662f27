/**
 * Byte writers for hot paths: numbers in decimal and short copies, written
 * straight into a Buffer at a position; each returns the position after
 * what it wrote. No strings are built (except for a 64-bit value above
 * 2^53, which is rare: CAS uniques and deltas that large).
 */

const MAX_SAFE = 0x1fffffffffffffn;

/** Number of decimal digits of a non-negative integer below 2^53. */
export function decimalLength(v: number): number {
  if (v < 100000) {
    if (v < 100) return v < 10 ? 1 : 2;
    return v < 1000 ? 3 : v < 10000 ? 4 : 5;
  }
  if (v < 10000000000) {
    if (v < 10000000) return v < 1000000 ? 6 : 7;
    return v < 100000000 ? 8 : v < 1000000000 ? 9 : 10;
  }
  let n = 11;
  for (let p = 100000000000; v >= p && n < 16; p *= 10) n++;
  return n;
}

/** "00" to "99" as char codes: two digits per division. */
const PAIRS = Buffer.from(Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0')).join(''), 'latin1');

/** Write a non-negative integer below 2^53 as decimal digits at `pos`; returns the end. */
export function putDecimal(buf: Buffer, pos: number, v: number): number {
  if (v < 10) {
    buf[pos] = 48 + v;
    return pos + 1;
  }
  const end = pos + decimalLength(v);
  let p = end;
  // Above 2^32 peel off the low digits with float math until the rest fits in 32 bits.
  while (v >= 4294967296) {
    const q = Math.floor(v / 100);
    const r = (v - q * 100) * 2;
    buf[--p] = PAIRS[r + 1]!;
    buf[--p] = PAIRS[r]!;
    v = q;
  }
  // Unsigned 32-bit division is exact and much cheaper than Math.floor.
  while (v >= 100) {
    const q = (v / 100) >>> 0;
    const r = (v - q * 100) * 2;
    buf[--p] = PAIRS[r + 1]!;
    buf[--p] = PAIRS[r]!;
    v = q;
  }
  if (v >= 10) {
    buf[--p] = PAIRS[v * 2 + 1]!;
    buf[--p] = PAIRS[v * 2]!;
  } else {
    buf[--p] = 48 + v;
  }
  return end;
}

/** Digits of an unsigned 64-bit value (CAS unique). */
export function decimal64Length(v: bigint): number {
  return v <= MAX_SAFE ? decimalLength(Number(v)) : v.toString().length;
}

/** Write an unsigned 64-bit value in decimal at `pos`; returns the end. */
export function putDecimal64(buf: Buffer, pos: number, v: bigint): number {
  if (v <= MAX_SAFE) return putDecimal(buf, pos, Number(v));
  const s = v.toString();
  return pos + buf.write(s, pos, s.length, 'latin1');
}

/** Copy `src` into `buf` at `pos`; returns the end. */
export function putBytes(buf: Buffer, pos: number, src: Buffer): number {
  const n = src.length;
  if (n < 16) {
    // A short loop beats the native copy call for a handful of bytes.
    for (let i = 0; i < n; i++) buf[pos + i] = src[i]!;
  } else {
    buf.set(src, pos);
  }
  return pos + n;
}

/** A signed integer below 2^53 in magnitude (exptimes may be negative: "already expired"). */
export function putSigned(buf: Buffer, pos: number, v: number): number {
  if (v < 0) {
    buf[pos] = 0x2d;
    return putDecimal(buf, pos + 1, -v);
  }
  return putDecimal(buf, pos, v);
}
