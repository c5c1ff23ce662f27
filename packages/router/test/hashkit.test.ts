/**
 * The twelve key hashes against nutcracker 0.5.0's own C functions. The
 * vectors in fixtures/hashkit-vectors.json were printed by
 * fixtures/hashkit-vectors.c built with nutcracker's src/hashkit/*.c
 * (`fixtures/make-hashkit-vectors.sh <twemproxy tree>`): ASCII keys, one-byte
 * keys either side of 0x80 (where the C code's signed `char` sign-extends),
 * and random bytes of every length across MD5's block edges, at every word
 * alignment (jenkins reads words when the key is aligned). The placement test
 * proves the same functions end to end against the nutcracker binary.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KEY_HASHES, md5Words } from '../src/hashkit/index.js';
import { HASH_NAMES, type HashName } from '../src/types.js';

type Vector = { key: string; md5_digest: string } & Record<HashName, number>;
const vectors: Vector[] = JSON.parse(readFileSync(new URL('./fixtures/hashkit-vectors.json', import.meta.url), 'utf8'));

describe('hashkit', () => {
  it('has a vector set that covers what matters', () => {
    expect(vectors.length).toBeGreaterThan(100);
    expect(vectors.some((v) => v.key === '')).toBe(true);
    expect(vectors.some((v) => v.key.length / 2 > 128)).toBe(true);
    expect(vectors.some((v) => v.key === 'ff')).toBe(true);
  });

  it('names a function for every nutcracker hash', () => {
    expect(Object.keys(KEY_HASHES).sort()).toEqual([...HASH_NAMES].sort());
  });

  for (const name of HASH_NAMES) {
    it(`${name} equals nutcracker's on every vector`, () => {
      const hash = KEY_HASHES[name];
      const wrong: string[] = [];
      for (const v of vectors) {
        const key = Buffer.from(v.key, 'hex');
        const got = hash(key, 0, key.length);
        if (got !== v[name]) wrong.push(`${v.key}: ${got} != ${v[name]}`);
      }
      expect(wrong).toEqual([]);
    });

    it(`${name} hashes only key[start, end) of a larger buffer`, () => {
      const hash = KEY_HASHES[name];
      for (const v of vectors) {
        const key = Buffer.from(v.key, 'hex');
        // Bytes around the range that would change the hash if it were read.
        const framed = Buffer.concat([Buffer.from([0xff, 0x80, 0x01]), key, Buffer.from([0x80, 0xff, 0x7f, 0x00])]);
        expect(hash(framed, 3, 3 + key.length)).toBe(v[name]);
      }
    });
  }

  it('known answers from nutcracker 0.5.0 test_all.c for "apple"', () => {
    const apple = Buffer.from('apple');
    const expected: Record<HashName, number> = {
      one_at_a_time: 2297466611,
      md5: 3195025439,
      crc16: 3662830516,
      crc32: 10542,
      crc32a: 2838417488,
      fnv1_32: 67176023,
      fnv1a_32: 280767167,
      fnv1_64: 473199127,
      fnv1a_64: 1488911807,
      hsieh: 3738850110,
      jenkins: 1442444624,
      murmur: 4142305122,
    };
    for (const name of HASH_NAMES) expect([name, KEY_HASHES[name](apple, 0, apple.length)]).toEqual([name, expected[name]]);
  });

  it('md5Words gives the whole digest, word i little-endian (ketama_hash with alignment i)', () => {
    const out = new Uint32Array(4);
    for (const v of vectors) {
      const key = Buffer.from(v.key, 'hex');
      md5Words(key, 0, key.length, out);
      const digest = Buffer.from(v.md5_digest, 'hex');
      expect([...out]).toEqual([0, 1, 2, 3].map((i) => digest.readUInt32LE(4 * i)));
    }
    // nutcracker's test_all.c: ketama_hash("server1-8", 9, 0) and (…, 3).
    md5Words(Buffer.from('server1-8'), 0, 9, out);
    expect([out[0], out[3]]).toEqual([3853726576, 2667054752]);
  });
});
