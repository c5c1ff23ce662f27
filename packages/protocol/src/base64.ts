/**
 * Base64 keys (meta `b`), both ways: a client sends a binary key in the
 * standard padded alphabet, memcached prints such a key base64 again (mg
 * `k`, `me`), and a client of memcached sends a key that cannot travel raw
 * this way. Encoding writes straight into a Buffer; decoding follows
 * memcached's own decoder.
 */

const ALPHABET = Buffer.from('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/', 'latin1');

/** Characters of the padded base64 form of `n` bytes. */
export function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

/** Write `src` in standard padded base64 at `p`; returns the end. */
export function putBase64(buf: Buffer, p: number, src: Buffer): number {
  const n = src.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (src[i]! << 16) | (src[i + 1]! << 8) | src[i + 2]!;
    buf[p++] = ALPHABET[v >>> 18]!;
    buf[p++] = ALPHABET[(v >>> 12) & 63]!;
    buf[p++] = ALPHABET[(v >>> 6) & 63]!;
    buf[p++] = ALPHABET[v & 63]!;
  }
  if (i < n) {
    const two = i + 1 < n;
    const v = (src[i]! << 16) | (two ? src[i + 1]! << 8 : 0);
    buf[p++] = ALPHABET[v >>> 18]!;
    buf[p++] = ALPHABET[(v >>> 12) & 63]!;
    buf[p++] = two ? ALPHABET[(v >>> 6) & 63]! : 0x3d;
    buf[p++] = 0x3d;
  }
  return p;
}

/** Sextet of each base64 character; 0x80 = not a base64 character. '=' counts as 0. */
const SEXTET = new Uint8Array(256).fill(0x80);
for (let i = 0; i < 64; i++) SEXTET[ALPHABET[i]!] = i;
SEXTET[61] = 0;

/**
 * Decode the base64 key in `buf[s..e)` the way memcached does: characters
 * outside the alphabet are skipped, the significant ones must come in groups
 * of four, decoding stops after the first group holding padding (one or two
 * `=`; more is an error). Returns undefined where memcached reports a failure.
 */
export function decodeBase64Key(buf: Buffer, s: number, e: number): Buffer | undefined {
  let count = 0;
  for (let i = s; i < e; i++) if (SEXTET[buf[i]!] !== 0x80) count++;
  if (count === 0 || count % 4 !== 0) return undefined;
  const out = Buffer.allocUnsafe((count / 4) * 3);
  let pos = 0;
  let q = 0;
  let pad = 0;
  let b0 = 0;
  let b1 = 0;
  let b2 = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i]!;
    const v = SEXTET[c]!;
    if (v === 0x80) continue;
    if (c === 61) pad++;
    if (q === 0) b0 = v;
    else if (q === 1) b1 = v;
    else if (q === 2) b2 = v;
    q++;
    if (q === 4) {
      out[pos++] = ((b0 << 2) | (b1 >> 4)) & 0xff;
      out[pos++] = ((b1 << 4) | (b2 >> 2)) & 0xff;
      out[pos++] = ((b2 << 6) | v) & 0xff;
      q = 0;
      if (pad) {
        if (pad === 1) pos -= 1;
        else if (pad === 2) pos -= 2;
        else return undefined;
        break;
      }
    }
  }
  return out.subarray(0, pos);
}
