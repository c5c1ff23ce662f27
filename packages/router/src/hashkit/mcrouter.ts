// mcrouter's hash functions for picking one of n destinations (mcrouter/lib/Ch3HashFunc.h,
// WeightedCh3HashFunc.cpp, Crc32HashFunc.h, routes/ShardHashFunc.cpp) and the key rules around them
// (lib/HashSelector.h, lib/HashUtil.h, lib/carbon/Keys-inl.h):
// - Ch3: furc_hash(key, n).
// - WeightedCh3: weights in [0, 1], one a destination. Up to 32 times: i = furc_hash(key, n); keep i when
//   SpookyHashV2::Hash32(key, 0xface2014) < floor(weight[i] * 0xffffffff); else append the next retry number
//   to the key (0, 1, 2, ... written least significant digit first) and try again. After 32 tries, the last i.
// - Crc32: (crc32(key) & 0x7fffffff) % n.
// - ConstShard: a key "<a>:<digits>:<rest>" goes to destination <digits> when it is below n; any other key by Ch3.
// - Only the key up to its hash stop "|#|" is hashed; a salt is appended to that before hashing.
import type { McHashName } from '../types.js';
import { crc32a } from './crc32.js';
import { FURC_MAX_POOL_SIZE, furcHash } from './furc.js';
import { routingKeyEnd, routingKeyStart } from './routing-key.js';
import { spookyHash32 } from './spooky.js';

export const MC_HASH_NAMES: readonly McHashName[] = ['Ch3', 'WeightedCh3', 'Crc32', 'ConstShard'];

const WEIGHTED_SEED = 0xface2014;
const WEIGHTED_TRIES = 32;
/** Room for the longest retry number WeightedCh3 appends. */
const MAX_SALT_DIGITS = 20;

/** mcrouter's Ch3: furc_hash of `key[start, end)` over `n` destinations. */
export function ch3(key: Uint8Array, start: number, end: number, n: number): number {
  return furcHash(key, start, end, n);
}

/** mcrouter's Crc32HashFunc: the low 31 bits of the CRC-32 of `key[start, end)`, mod `n`. */
export function mcCrc32(key: Uint8Array, start: number, end: number, n: number): number {
  return (crc32a(key, start, end) & 0x7fffffff) % n;
}

/** mcrouter's ConstShard: the shard number a key names ("a:12:b"), when below `n`; else Ch3. */
export function constShard(key: Uint8Array, start: number, end: number, n: number): number {
  let first = start;
  while (first < end && key[first] !== 0x3a) first++;
  let second = first + 1;
  while (second < end && key[second] !== 0x3a) second++;
  if (second < end && second > first + 1) {
    let shard = 0;
    let i = first + 1;
    for (; i < second; i++) {
      const c = key[i]!;
      if (c < 0x30 || c > 0x39) break;
      shard = shard * 10 + (c - 0x30);
    }
    if (i === second && shard < n) return shard;
  }
  return furcHash(key, start, end, n);
}

let scratch: Uint8Array = new Uint8Array(512);

function scratchOf(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  return scratch;
}

/**
 * mcrouter's WeightedCh3 over `weights.length` destinations, `key[start, end)`. `key` may be
 * the shared scratch buffer (a salted key): retries write after `end` in it.
 */
export function weightedCh3(key: Uint8Array, start: number, end: number, weights: ArrayLike<number>): number {
  const n = weights.length;
  const keyLen = end - start;
  let buf = key;
  let from = start;
  let len = keyLen;
  let index = 0;
  let retry = 0;
  for (let i = 0; i < WEIGHTED_TRIES; i++) {
    index = furcHash(buf, from, from + len, n);
    const p = spookyHash32(buf, from, from + len, WEIGHTED_SEED);
    if (p < Math.floor(weights[index]! * 0xffffffff)) return index;
    if (buf !== scratch || from !== 0) {
      // First retry: the key moves to the front of the scratch buffer, the retry number goes after it.
      const into = scratchOf(keyLen + MAX_SALT_DIGITS);
      if (key === into) into.copyWithin(0, start, end);
      else for (let j = 0; j < keyLen; j++) into[j] = key[start + j]!;
      buf = into;
      from = 0;
    }
    let r = retry++;
    len = keyLen;
    do {
      buf[len++] = 0x30 + (r % 10);
      r = Math.floor(r / 10);
    } while (r > 0);
  }
  return index;
}

/** Options of `McrouterHash`. */
export interface McrouterHashOptions {
  /** Appended to each key before hashing (mcrouter's HashRoute `salt`). */
  readonly salt?: string | undefined;
  /** WeightedCh3's weights, one a destination, each in [0, 1] (mcrouter's rule: extra ones unread, missing ones 0.5). */
  readonly weights?: readonly number[] | undefined;
}

/** Picks one of `n` destinations for a key, as mcrouter's HashRoute / PoolRoute hashes it. Allocation-free. */
export class McrouterHash {
  readonly hash: McHashName;
  readonly n: number;
  readonly salt: string;
  /** WeightedCh3's weights as used: one a destination. */
  readonly weights: readonly number[] | undefined;
  private readonly saltBytes: Buffer;
  private readonly weightTable: Float64Array;

  constructor(hash: McHashName, n: number, options: McrouterHashOptions = {}) {
    if (!MC_HASH_NAMES.includes(hash)) {
      throw new TypeError(`hash: unknown hash function ${JSON.stringify(hash)}: use one of ${MC_HASH_NAMES.join(', ')}`);
    }
    // mcrouter's furc-based functions refuse pools beyond furc_maximum_pool_size; Crc32 takes any count.
    const most = hash === 'Crc32' ? 0xffffffff : FURC_MAX_POOL_SIZE;
    if (!Number.isSafeInteger(n) || n < 1 || n > most) {
      throw new TypeError(`hash: ${hash} needs 1..${most} destinations, got ${String(n)}`);
    }
    const { salt = '', weights } = options;
    if (typeof salt !== 'string') throw new TypeError(`hash: salt must be a string, got ${typeof salt}`);
    let table: number[] | undefined;
    if (hash === 'WeightedCh3') {
      if (!Array.isArray(weights)) throw new TypeError(`hash: WeightedCh3 needs weights, one a destination, got ${typeof weights}`);
      // mcrouter's rule: weights past the destinations are not read, missing ones are 0.5.
      table = Array.from({ length: n }, (_, i) => (i < weights.length ? checkWeight(weights[i], `destination ${i}`) : 0.5));
    } else if (weights !== undefined) {
      throw new TypeError(`hash: weights are for WeightedCh3, not ${hash}`);
    }
    this.hash = hash;
    this.n = n;
    this.salt = salt;
    this.weights = table === undefined ? undefined : Object.freeze(table);
    this.saltBytes = Buffer.from(salt, 'utf8');
    this.weightTable = Float64Array.from(table ?? []);
  }

  /** The destination, 0..n-1, of `key[start, end)`. */
  select(key: Uint8Array, start = 0, end: number = key.length): number {
    if (this.n === 1) return 0;
    // mcrouter's routing key: past a /region/cluster/ prefix, and only what comes before a "|#|" hash stop.
    if (start === 0) start = routingKeyStart(key);
    end = Math.min(end, routingKeyEnd(key, start));
    const salt = this.saltBytes;
    if (salt.length > 0) {
      const len = end - start;
      const buf = scratchOf(len + salt.length + MAX_SALT_DIGITS);
      for (let i = 0; i < len; i++) buf[i] = key[start + i]!;
      buf.set(salt, len);
      key = buf;
      start = 0;
      end = len + salt.length;
    }
    switch (this.hash) {
      case 'Ch3':
        return furcHash(key, start, end, this.n);
      case 'WeightedCh3':
        return weightedCh3(key, start, end, this.weightTable);
      case 'Crc32':
        return mcCrc32(key, start, end, this.n);
      case 'ConstShard':
        return constShard(key, start, end, this.n);
    }
  }
}

/** Throws unless `w` is a WeightedCh3 weight: a number in [0, 1]. */
export function checkWeight(w: unknown, what: string): number {
  if (typeof w !== 'number' || !(w >= 0 && w <= 1)) {
    throw new TypeError(`hash: ${what} has weight ${String(w)}: a WeightedCh3 weight is a number in [0, 1]`);
  }
  return w;
}
