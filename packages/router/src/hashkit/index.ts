// nutcracker 0.5.0's twelve key hashes by their nutcracker.yml names, each as `(key, start, end) => uint32`
// over key[start, end), allocating nothing.
import type { HashName } from '../types.js';
import { crc16 } from './crc16.js';
import { crc32, crc32a } from './crc32.js';
import { fnv1_32, fnv1_64, fnv1a_32, fnv1a_64 } from './fnv.js';
import { hsieh } from './hsieh.js';
import { jenkins } from './jenkins.js';
import { md5, md5Words } from './md5.js';
import { murmur } from './murmur.js';
import { oneAtATime } from './one-at-a-time.js';

/** A key hash: `key[start, end)` to an unsigned 32-bit number. */
export type KeyHash = (key: Uint8Array, start: number, end: number) => number;

/** Each `hash:` value of nutcracker.yml and the function it names. */
export const KEY_HASHES: Readonly<Record<HashName, KeyHash>> = Object.freeze({
  one_at_a_time: oneAtATime,
  md5,
  crc16,
  crc32,
  crc32a,
  fnv1_64,
  fnv1a_64,
  fnv1_32,
  fnv1a_32,
  hsieh,
  murmur,
  jenkins,
});

export { crc16, crc32, crc32a, fnv1_32, fnv1_64, fnv1a_32, fnv1a_64, hsieh, jenkins, md5, md5Words, murmur, oneAtATime };

// mcrouter's placement: furc_hash, SpookyHash V2, and the HashRoute hash functions built on them.
export { furcHash, murmurHash64A, FURC_MAX_POOL_SIZE } from './furc.js';
export { spookyHash32 } from './spooky.js';
export { ch3, weightedCh3, mcCrc32, constShard, McrouterHash, MC_HASH_NAMES, type McrouterHashOptions } from './mcrouter.js';
