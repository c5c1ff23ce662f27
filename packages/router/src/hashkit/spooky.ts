// SpookyHash V2 (Bob Jenkins' public-domain hash, as folly::hash::SpookyHashV2 computes it on little-endian
// machines): mcrouter's WeightedCh3 draws a key's 32-bit "p" with SpookyHashV2::Hash32(key, seed 0xface2014).
// Messages under 192 bytes take the short path (4 words of state, 32 bytes a round); longer ones the long path
// (12 words, 96-byte blocks, the last partial block zero-padded with its length in its last byte).
//
// Each 64-bit state word is two unsigned 32-bit halves in `s` (lo at 2i, hi at 2i + 1); nothing is allocated per key.

const CONST_LO = 0xdeadbeef;
const CONST_HI = 0xdeadbeef;
const s = new Uint32Array(24);
/** The last partial block of the long path. */
const tail = new Uint8Array(96);

function add(i: number, j: number): void {
  addHalves(i, s[2 * j]!, s[2 * j + 1]!);
}

function addHalves(i: number, lo: number, hi: number): void {
  const sum = s[2 * i]! + lo;
  s[2 * i] = sum;
  s[2 * i + 1] = s[2 * i + 1]! + hi + (sum > 0xffffffff ? 1 : 0);
}

/** Adds the little-endian 64-bit word at `key[p]` to word i. */
function addWord(i: number, key: Uint8Array, p: number): void {
  addHalves(
    i,
    (key[p]! | (key[p + 1]! << 8) | (key[p + 2]! << 16) | (key[p + 3]! << 24)) >>> 0,
    (key[p + 4]! | (key[p + 5]! << 8) | (key[p + 6]! << 16) | (key[p + 7]! << 24)) >>> 0,
  );
}

function xor(i: number, j: number): void {
  s[2 * i] = s[2 * i]! ^ s[2 * j]!;
  s[2 * i + 1] = s[2 * i + 1]! ^ s[2 * j + 1]!;
}

/** Rotates word i left by k bits (0 < k < 64). */
function rot(i: number, k: number): void {
  let lo = s[2 * i]!;
  let hi = s[2 * i + 1]!;
  if (k >= 32) {
    const t = lo;
    lo = hi;
    hi = t;
    k -= 32;
  }
  if (k > 0) {
    s[2 * i] = (lo << k) | (hi >>> (32 - k));
    s[2 * i + 1] = (hi << k) | (lo >>> (32 - k));
  } else {
    s[2 * i] = lo;
    s[2 * i + 1] = hi;
  }
}

const SHORT_MIX = [50, 52, 30, 41, 54, 48, 38, 37, 62, 34, 5, 36];
const SHORT_END = [15, 52, 26, 51, 28, 9, 47, 54, 32, 25, 63];
const MIX = [11, 32, 43, 31, 17, 28, 39, 57, 55, 54, 22, 46];
const END_PARTIAL = [44, 15, 34, 21, 38, 33, 10, 13, 38, 53, 42, 54];

function shortMix(): void {
  for (let r = 0; r < 12; r++) {
    const x = (r + 2) & 3;
    rot(x, SHORT_MIX[r]!);
    add(x, (r + 3) & 3);
    xor(r & 3, x);
  }
}

function shortEnd(): void {
  for (let r = 0; r < 11; r++) {
    const t = (r + 3) & 3;
    const x = (r + 2) & 3;
    xor(t, x);
    rot(x, SHORT_END[r]!);
    add(t, x);
  }
}

function mix(key: Uint8Array, p: number): void {
  for (let i = 0; i < 12; i++) {
    addWord(i, key, p + 8 * i);
    xor((i + 2) % 12, (i + 10) % 12);
    xor((i + 11) % 12, i);
    rot(i, MIX[i]!);
    add((i + 11) % 12, (i + 1) % 12);
  }
}

function endPartial(): void {
  for (let i = 0; i < 12; i++) {
    add((i + 11) % 12, (i + 1) % 12);
    xor((i + 2) % 12, (i + 11) % 12);
    rot((i + 1) % 12, END_PARTIAL[i]!);
  }
}

function shortHash(key: Uint8Array, start: number, length: number): void {
  s[4] = CONST_LO;
  s[5] = CONST_HI;
  s[6] = CONST_LO;
  s[7] = CONST_HI;
  let p = start;
  let rest = length % 32;
  if (length > 15) {
    for (const end = start + (length >>> 5) * 32; p < end; p += 32) {
      addWord(2, key, p);
      addWord(3, key, p + 8);
      shortMix();
      addWord(0, key, p + 16);
      addWord(1, key, p + 24);
    }
    if (rest >= 16) {
      addWord(2, key, p);
      addWord(3, key, p + 8);
      shortMix();
      p += 16;
      rest -= 16;
    }
  }
  addHalves(3, 0, (length & 0xff) << 24);
  // The last 0..15 bytes: 0..7 into c, 8..14 into d, little-endian.
  if (rest === 0) {
    addHalves(2, CONST_LO, CONST_HI);
    addHalves(3, CONST_LO, CONST_HI);
  } else {
    let cLo = 0;
    let cHi = 0;
    for (let i = Math.min(rest, 8) - 1; i >= 0; i--) {
      if (i >= 4) cHi |= key[p + i]! << (8 * (i - 4));
      else cLo |= key[p + i]! << (8 * i);
    }
    addHalves(2, cLo >>> 0, cHi >>> 0);
    if (rest > 8) {
      let dLo = 0;
      let dHi = 0;
      for (let i = rest - 1; i >= 8; i--) {
        if (i >= 12) dHi |= key[p + i]! << (8 * (i - 12));
        else dLo |= key[p + i]! << (8 * (i - 8));
      }
      addHalves(3, dLo >>> 0, dHi >>> 0);
    }
  }
  shortEnd();
}

function longHash(key: Uint8Array, start: number, length: number): void {
  for (let i = 3; i < 12; i++) {
    const from = i % 3 === 2 ? -1 : i % 3;
    s[2 * i] = from < 0 ? CONST_LO : s[2 * from]!;
    s[2 * i + 1] = from < 0 ? CONST_HI : s[2 * from + 1]!;
  }
  s[4] = CONST_LO;
  s[5] = CONST_HI;
  let p = start;
  for (const end = start + Math.floor(length / 96) * 96; p < end; p += 96) mix(key, p);
  const rest = start + length - p;
  tail.fill(0);
  for (let i = 0; i < rest; i++) tail[i] = key[p + i]!;
  tail[95] = rest;
  for (let i = 0; i < 12; i++) addWord(i, tail, 8 * i);
  endPartial();
  endPartial();
  endPartial();
}

/** SpookyHashV2::Hash32 of `key[start, end)` with `seed`, an unsigned 32-bit number. */
export function spookyHash32(key: Uint8Array, start: number, end: number, seed: number): number {
  s[0] = seed >>> 0;
  s[1] = 0;
  s[2] = seed >>> 0;
  s[3] = 0;
  const length = end - start;
  if (length < 192) shortHash(key, start, length);
  else longHash(key, start, length);
  return s[0]!;
}
