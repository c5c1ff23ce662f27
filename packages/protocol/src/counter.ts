/**
 * incr/decr on an item's bytes, the way memcached reads and writes them.
 *
 * memcached parses the value with `strtoull(data, &end, 10)` (safe_strtoull):
 * leading C whitespace is skipped, one `+` or `-` sign is allowed, at least
 * one digit is required, the digits must be followed by whitespace, a NUL or
 * the end of the value (the stored `\r\n`), and a magnitude above 2^64-1 is
 * rejected (ERANGE). A `-` makes strtoull negate modulo 2^64; memcached then
 * rejects the result only if it is >= 2^63 *and* a `-` occurs anywhere in the
 * value (before a NUL). So `-0` is 0, `-18446744073709551615` is 1, `-1` is
 * non-numeric, and `00000000000000000000007` (any length) is 7.
 */

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN_AS_U64 = 1n << 63n;

/** C isspace() in the "C" locale: space, \t \n \v \f \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** The counter held in `value`, or `undefined` when memcached would answer non-numeric. */
export function parseCounter(value: Buffer): bigint | undefined {
  const n = value.length;
  let i = 0;
  while (i < n && isSpace(value[i]!)) i++;
  let negative = false;
  if (i < n && (value[i] === 0x2b || value[i] === 0x2d)) {
    negative = value[i] === 0x2d;
    i++;
  }
  const start = i;
  // Up to 15 digits fit a double exactly; longer runs continue in bigint.
  let small = 0;
  while (i < n && i - start < 15) {
    const c = value[i]!;
    if (c < 0x30 || c > 0x39) break;
    small = small * 10 + (c - 0x30);
    i++;
  }
  if (i === start) return undefined;
  let mag = BigInt(small);
  while (i < n) {
    const c = value[i]!;
    if (c < 0x30 || c > 0x39) break;
    mag = mag * 10n + BigInt(c - 0x30);
    if (mag > U64_MAX) return undefined;
    i++;
  }
  if (i < n && value[i] !== 0 && !isSpace(value[i]!)) return undefined;
  const result = negative && mag !== 0n ? (1n << 64n) - mag : mag;
  if (result >= I64_MIN_AS_U64) {
    for (let j = 0; j < n; j++) {
      const c = value[j]!;
      if (c === 0) break;
      if (c === 0x2d) return undefined;
    }
  }
  return result;
}

/** incr wraps modulo 2^64; decr stops at 0 (memcached's do_add_delta). */
export function applyDelta(current: bigint, delta: bigint, incr: boolean): bigint {
  if (incr) return (current + delta) & U64_MAX;
  return delta > current ? 0n : current - delta;
}

/** Node's Buffer has a direct Latin-1 writer that its typings do not declare. */
interface Latin1Writable {
  latin1Write(s: string, offset: number, length: number): number;
}

/** Write a counter's digits (a Latin-1 string) into `buf` at `offset`, without Buffer#write's checks. */
export function writeLatin1(buf: Buffer, s: string, offset: number): void {
  (buf as unknown as Latin1Writable).latin1Write(s, offset, s.length);
}
