/**
 * mcrouter's placement against mcrouter's own expected numbers:
 * - furc_hash: fixtures/furc-vectors.json, copied from mcrouter/lib/fbi/test/hash_test.cpp
 *   (fixtures/make-furc-vectors.mjs): its golden table, its power-of-two table, its bulk checksums.
 * - Ch3: mcrouter/lib/test/Ch3HashTest.cpp; WeightedCh3: mcrouter/lib/test/WeightedCh3HashFuncTest.cpp;
 *   Crc32: mcrouter/lib/test/Crc32HashTest.cpp; ConstShard: mcrouter/routes/test/ConstShardHashFuncTest.cpp;
 *   weights as a config gives them: mcrouter/test/test_wch3.json.
 * - SpookyHash V2 (WeightedCh3's p): fixtures/spooky-v2-vectors.json, from folly/hash/test/SpookyHashV2Test.cpp.
 * A checksum is mcrouter's: acc = acc * 31 + index (mod 2^32) over keys "k0", "k1", ...
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FURC_MAX_POOL_SIZE, McrouterHash, furcHash, spookyHash32, weightedCh3 } from '../src/hashkit/index.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8'));
const furcVectors = fixture('furc-vectors.json') as {
  golden: { key: string; m: number; expected: number }[];
  powersOfTwo: { key: string; m: number; expected: number }[];
  bulkChecksums: { m: number; checksum: number }[];
};
const spookyVectors = fixture('spooky-v2-vectors.json') as { hash32: string[] };

const bytes = (key: string): Buffer => Buffer.from(key, 'latin1');
const furc = (key: string | Uint8Array, m: number): number => {
  const k = typeof key === 'string' ? bytes(key) : key;
  return furcHash(k, 0, k.length, m);
};
const select = (h: McrouterHash, key: string | Uint8Array): number => h.select(typeof key === 'string' ? bytes(key) : key);

/** mcrouter's order-sensitive checksum of `pick(prefix + i)` for i in [0, count). */
function checksum(count: number, prefix: string, pick: (key: Buffer) => number): number {
  let acc = 0;
  for (let i = 0; i < count; i++) acc = (Math.imul(acc, 31) + pick(bytes(prefix + i))) >>> 0;
  return acc;
}

/** The 256 bytes -128 .. 127 (as signed chars), and the same reversed: mcrouter's "max key". */
const maxKey = Buffer.from(Array.from({ length: 256 }, (_, i) => (i - 128) & 0xff));
const maxKeyReversed = Buffer.from(maxKey).reverse();

const weighted = (weights: readonly number[]): McrouterHash => new McrouterHash('WeightedCh3', weights.length, { weights });

describe('furc_hash (mcrouter/lib/fbi/test/hash_test.cpp)', () => {
  it('has the vector set', () => {
    expect(furcVectors.golden.length).toBeGreaterThan(250);
    expect(furcVectors.powersOfTwo).toHaveLength(11);
    expect(furcVectors.bulkChecksums).toHaveLength(19);
  });

  it('gives every golden value, pools of 1 to 2^32 - 1', () => {
    const wrong = furcVectors.golden.filter((v) => furc(v.key, v.m) !== v.expected);
    expect(wrong).toEqual([]);
  });

  it('gives every power-of-two boundary value for "key0"', () => {
    const wrong = furcVectors.powersOfTwo.filter((v) => furc(v.key, v.m) !== v.expected);
    expect(wrong).toEqual([]);
  });

  it('matches every bulk checksum over k0..k99999', () => {
    const got = furcVectors.bulkChecksums.map(({ m }) => ({ m, checksum: checksum(100_000, 'k', (k) => furcHash(k, 0, k.length, m)) }));
    expect(got).toEqual(furcVectors.bulkChecksums);
  }, 60_000);

  it('gives 0 for a pool of 0 or 1 and hashes embedded NULs', () => {
    expect(furc('key', 0)).toBe(0);
    expect(furc('key', 1)).toBe(0);
    expect(furc(Buffer.from('abc\0def', 'latin1'), 1_000_000)).not.toBe(furc(Buffer.from('abc\0xyz', 'latin1'), 1_000_000));
    expect(FURC_MAX_POOL_SIZE).toBe(8388608);
  });

  it('hashes the key where it lies in a larger buffer', () => {
    const inside = bytes('xxuser:12345:profileyy');
    expect(furcHash(inside, 2, inside.length - 2, 1_000_000)).toBe(368844);
  });
});

describe('SpookyHashV2::Hash32 (folly/hash/test/SpookyHashV2Test.cpp)', () => {
  it('gives every expected value, lengths 0..511 (short and long paths)', () => {
    const message = Buffer.from(Array.from({ length: 512 }, (_, i) => (i + 128) & 0xff));
    const wrong: string[] = [];
    spookyVectors.hash32.forEach((hex, length) => {
      const got = spookyHash32(message, 0, length, 0);
      if (got !== Number(hex)) wrong.push(`${length}: ${got.toString(16)} != ${hex}`);
    });
    expect(spookyVectors.hash32).toHaveLength(512);
    expect(wrong).toEqual([]);
  });
});

describe('Ch3 (mcrouter/lib/test/Ch3HashTest.cpp)', () => {
  const ch3 = (n: number): McrouterHash => new McrouterHash('Ch3', n);

  it('basic', () => {
    expect(select(ch3(100), 'sample')).toBe(97);
    expect(select(ch3(1), 'sample')).toBe(0);
    expect(select(ch3(100), '')).toBe(72);
    expect(select(ch3(1), '')).toBe(0);
    expect(select(ch3(FURC_MAX_POOL_SIZE), '')).toBe(6173600);
    expect(select(ch3(FURC_MAX_POOL_SIZE), 'sample')).toBe(5167780);
    expect(select(ch3(99999), maxKey)).toBe(31015);
    expect(select(ch3(99999), maxKeyReversed)).toBe(67101);
  });

  it('spreads "0".."999" over 3 and "0".."9999" over 10 as mcrouter does', () => {
    const counts = (n: number, keys: number): number[] => {
      const h = ch3(n);
      const c = new Array<number>(n).fill(0);
      for (let i = 0; i < keys; i++) c[select(h, String(i))]!++;
      return c;
    };
    expect(counts(3, 1000)).toEqual([307, 342, 351]);
    expect(counts(10, 10000)).toEqual([995, 955, 1046, 968, 1032, 972, 1016, 1038, 1010, 968]);
  });

  it('refuses pools beyond furc_maximum_pool_size', () => {
    expect(() => ch3(0)).toThrow(TypeError);
    expect(() => ch3(FURC_MAX_POOL_SIZE + 1)).toThrow(/1\.\.8388608/);
  });
});

describe('WeightedCh3 (mcrouter/lib/test/WeightedCh3HashFuncTest.cpp)', () => {
  const wch3 = (weights: ArrayLike<number>, key: string | Uint8Array): number => {
    const k = typeof key === 'string' ? bytes(key) : key;
    return weightedCh3(k, 0, k.length, weights);
  };

  it('basic: with unit weights it is Ch3', () => {
    const max = new Float64Array(FURC_MAX_POOL_SIZE).fill(1);
    expect(select(weighted(new Array<number>(100).fill(1)), 'sample')).toBe(97);
    expect(select(weighted([1]), 'sample')).toBe(0);
    expect(select(weighted(new Array<number>(100).fill(1)), '')).toBe(72);
    expect(select(weighted([1]), '')).toBe(0);
    expect(wch3(max, '')).toBe(6173600);
    expect(wch3(max, 'sample')).toBe(5167780);
    const n99999 = new Float64Array(99999).fill(1);
    expect(wch3(n99999, maxKey)).toBe(31015);
    expect(wch3(n99999, maxKeyReversed)).toBe(67101);
  });

  it('zeroWeight', () => {
    expect(select(weighted([0]), 'sample')).toBe(0);
    expect(select(weighted([0]), '')).toBe(0);
    expect(select(weighted(new Array<number>(100).fill(0)), 'sample')).toBe(59);
    expect(select(weighted(new Array<number>(100).fill(0)), '')).toBe(45);
  });

  it('reducedWeight: servers of weight 1 keep all their keys', () => {
    const ch3 = new McrouterHash('Ch3', 3);
    const w = weighted([1, 1, 0.7]);
    const ch3Counts = [0, 0, 0];
    const wCounts = [0, 0, 0];
    const moved: string[] = [];
    for (let i = 0; i < 1000; i++) {
      const a = select(ch3, String(i));
      const b = select(w, String(i));
      if (a !== 2 && a !== b) moved.push(String(i));
      ch3Counts[a]!++;
      wCounts[b]!++;
    }
    expect(moved).toEqual([]);
    expect(ch3Counts).toEqual([307, 342, 351]);
    expect(wCounts).toEqual([341, 371, 288]);
  });

  it('randomWeights', () => {
    const w = weighted([0.429, 0.541, 0.117, 0.998, 0.283, 0.065, 0.109, 0.042, 0.676, 0.943]);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 10000; i++) counts[select(w, String(i))]!++;
    expect(counts).toEqual([1016, 1252, 288, 2354, 661, 195, 247, 122, 1668, 2197]);
  });

  it('unitWeightsMatchFurcHash', () => {
    const wrong: string[] = [];
    for (const n of [2, 3, 5, 10, 100, 1000, 10000, 100000, 1000000]) {
      const w = new Float64Array(n).fill(1);
      for (let i = 0; i < 10000; i++) {
        const key = bytes(`eq_${i}`);
        if (weightedCh3(key, 0, key.length, w) !== furcHash(key, 0, key.length, n)) wrong.push(`eq_${i} n=${n}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 60_000);

  const bulk = (weight: number, sizes: number[], count: number, prefix: string): number[] =>
    sizes.map((n) => {
      const w = new Float64Array(n).fill(weight);
      return checksum(count, prefix, (k) => weightedCh3(k, 0, k.length, w));
    });

  it('bulkChecksumUnitWeights', () => {
    expect(bulk(1, [2, 3, 7, 10, 16, 100, 1000, 10000, 100000], 100_000, 'k')).toEqual([
      1346413954, 914505363, 4252552508, 2894016351, 2995729350, 2289223413, 2251851331, 1328492545, 1053928120,
    ]);
  }, 60_000);

  it('bulkChecksumHalfWeights', () => {
    expect(bulk(0.5, [2, 10, 100, 1000, 10000], 10_000, 'k')).toEqual([2395690262, 547444706, 2951198297, 1336857622, 3378951161]);
  });

  it('bulkChecksumZeroWeights', () => {
    expect(bulk(0, [2, 10, 100, 1000], 10_000, 'k')).toEqual([3431444300, 1290067504, 2604325093, 337394182]);
  });

  it('mixedWeightsDistribution', () => {
    const w = weighted([1, 0.5, 0, 0.75, 1]);
    const counts = [0, 0, 0, 0, 0];
    const acc = checksum(10_000, 'd', (k) => {
      const i = select(w, k);
      counts[i]!++;
      return i;
    });
    expect(counts[2]).toBe(0);
    expect(acc).toBe(2309057571);
  });

  it('weightReductionConsistency: only the reduced server loses keys', () => {
    const full = weighted(new Array<number>(100).fill(1));
    const reducedWeights = new Array<number>(100).fill(1);
    reducedWeights[42] = 0.3;
    const reduced = weighted(reducedWeights);
    let redirected = 0;
    const moved: string[] = [];
    for (let i = 0; i < 10000; i++) {
      const a = select(full, `cons_${i}`);
      const b = select(reduced, `cons_${i}`);
      if (a !== 42 && a !== b) moved.push(`cons_${i}`);
      else if (a === 42 && b !== 42) redirected++;
    }
    expect(moved).toEqual([]);
    expect(redirected).toBeGreaterThan(0);
  });

  it('singleServer', () => {
    for (const w of [0, 0.5, 1]) for (let i = 0; i < 100; i++) expect(select(weighted([w]), `s${i}`)).toBe(0);
  });

  const longBase = Array.from({ length: 128 }, (_, i) => String.fromCharCode(65 + (i % 26))).join('');

  it('longKeyBulkChecksumHalfWeights', () => {
    expect(bulk(0.5, [2, 10, 100, 1000], 10_000, longBase)).toEqual([3784301429, 707485837, 4273108085, 954106693]);
  });

  it('longKeyBulkChecksumZeroWeights', () => {
    expect(bulk(0, [2, 10, 100], 10_000, longBase)).toEqual([2171781178, 2937312667, 532711027]);
  });

  it("reads weights as mcrouter's config does (mcrouter/test/test_wch3.json)", () => {
    const a = [0, 1, 1.0, 0.0, 0.5, 1.0, 0.3, 0.5];
    const longer = new McrouterHash('WeightedCh3', 8, { weights: [...a, 0, 5, 100, 0] });
    const shorter = new McrouterHash('WeightedCh3', 8, { weights: a.slice(0, 7) });
    expect(longer.weights).toEqual(a);
    expect(shorter.weights).toEqual(a);
    const h = weighted(a);
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 2000; i++) {
      const k = `key:${i}`;
      counts[select(h, k)]!++;
      expect(select(longer, k)).toBe(select(h, k));
      expect(select(shorter, k)).toBe(select(h, k));
    }
    expect(counts[0]).toBe(0);
    expect(counts[3]).toBe(0);
  });

  it('refuses a weight outside [0, 1], naming the destination', () => {
    expect(() => weighted([1, 1.5])).toThrow(/destination 1 has weight 1\.5/);
    expect(() => weighted([Number.NaN])).toThrow(TypeError);
    expect(() => new McrouterHash('Ch3', 2, { weights: [1, 1] })).toThrow(/weights are for WeightedCh3/);
  });
});

describe('Crc32 (mcrouter/lib/test/Crc32HashTest.cpp)', () => {
  const crc = (n: number): McrouterHash => new McrouterHash('Crc32', n);
  it('basic', () => {
    expect(select(crc(100), 'sample')).toBe(7);
    expect(select(crc(1), 'sample')).toBe(0);
    expect(select(crc(100), '')).toBe(0);
    expect(select(crc(1), '')).toBe(0);
    expect(select(crc(2 ** 30 - 1), '')).toBe(0);
    expect(select(crc(2 ** 30 - 1), 'sample')).toBe(822834884);
    expect(select(crc(99999), maxKey)).toBe(11697);
    expect(select(crc(99999), maxKeyReversed)).toBe(97630);
  });
});

describe('ConstShard (mcrouter/routes/test/ConstShardHashFuncTest.cpp)', () => {
  const shard = new McrouterHash('ConstShard', 4);
  it('picksRightShard', () => {
    expect(['b:3:meh', 'bl:2:meh', 'bla:1:meh', 'blah:0:meh'].map((k) => select(shard, k))).toEqual([3, 2, 1, 0]);
  });
  it('ch3Fallback', () => {
    expect(['blahmeh', 'blah:meh', 'blah::meh', 'blah:12c34:meh', 'blah:4:meh'].map((k) => select(shard, k))).toEqual([2, 0, 1, 0, 3]);
  });
});

describe("mcrouter's key rules (lib/HashUtil.h, lib/carbon/Keys-inl.h)", () => {
  it('appends the salt to the key before hashing', () => {
    const salted = new McrouterHash('Ch3', 1000, { salt: ':s1' });
    const moved = ['a', 'user:12345:profile', ''].filter((k) => select(salted, k) !== furc(`${k}:s1`, 1000));
    expect(moved).toEqual([]);
    expect(new McrouterHash('WeightedCh3', 100, { salt: 'x', weights: new Array<number>(100).fill(0.5) }).select(bytes('k1'))).toBe(
      select(weighted(new Array<number>(100).fill(0.5)), 'k1x'),
    );
    expect(salted.select(bytes('zzuser:1zz'), 2, 8)).toBe(furc('user:1:s1', 1000));
  });

  it('hashes only what comes before the hash stop "|#|"', () => {
    for (const hash of ['Ch3', 'Crc32', 'ConstShard'] as const) {
      const h = new McrouterHash(hash, 97, { salt: hash === 'Crc32' ? 'salt' : undefined });
      for (let i = 0; i < 50; i++) expect(select(h, `key${i}|#|tail${i * 7}`)).toBe(select(h, `key${i}`));
    }
    const h = new McrouterHash('Ch3', 1000);
    expect(select(h, 'a|b#|c')).toBe(furc('a|b#|c', 1000));
  });
});
