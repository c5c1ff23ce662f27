import { afterEach, describe, expect, it } from 'vitest';
import { type InMemoryHandler, parseCounter } from '../src/index.js';
import { asItem, b, decr, get, incr, makeHandler, set, stat, val } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

const U64_MAX = (1n << 64n) - 1n;

describe('parseCounter (memcached safe_strtoull on the item data)', () => {
  // Each case was answered by memcached 1.6.18 (see the differential test for the live check).
  const cases: Array<[string, bigint | undefined]> = [
    ['5', 5n],
    [' 5', 5n],
    ['\t\n\v\f\r 5', 5n],
    ['5 ', 5n],
    ['5 abc', 5n],
    ['5\0x', 5n],
    ['+5', 5n],
    ['-0', 0n],
    ['0000000000000000000000007', 7n],
    ['18446744073709551615', U64_MAX],
    ['-18446744073709551615', 1n],
    ['-9223372036854775809', 9223372036854775807n],
    ['', undefined],
    ['   ', undefined],
    ['+', undefined],
    ['-', undefined],
    ['5x', undefined],
    ['x5', undefined],
    ['-1', undefined],
    ['-5', undefined],
    ['-9223372036854775808', undefined],
    ['18446744073709551616', undefined],
    ['99999999999999999999999', undefined],
    ['18446744073709551615 -', undefined],
    ['9223372036854775807 -', 9223372036854775807n],
    ['0x10', undefined],
    ['1.5', undefined],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected ?? 'non-numeric'}`, () => {
      expect(parseCounter(Buffer.from(text, 'latin1'))).toBe(expected);
    });
  }
});

describe('incr/decr', () => {
  it('incr adds and returns the new value as decimal digits', () => {
    const { h } = fresh();
    set(h, 'n', '5');
    const r = asItem(incr(h, 'n', 10n));
    expect(r.value.toString()).toBe('15');
    expect(val(h, 'n')).toBe('15');
  });

  it('incr wraps around 2^64', () => {
    const { h } = fresh();
    set(h, 'n', '18446744073709551615');
    expect(asItem(incr(h, 'n', 2n)).value.toString()).toBe('1');
    // In place: the 20-byte value keeps its length, space padded (memcached 1.6.18: "1" + 19 spaces).
    expect(val(h, 'n')).toBe('1' + ' '.repeat(19));
  });

  it('decr stops at 0', () => {
    const { h } = fresh();
    set(h, 'n', '5');
    expect(asItem(decr(h, 'n', 100n)).value.toString()).toBe('0');
    expect(asItem(decr(h, 'n', 1n)).value.toString()).toBe('0');
  });

  it('a shorter result keeps the stored length, space padded; the reply has the digits only', () => {
    const { h } = fresh();
    set(h, 'n', '10');
    const r = asItem(decr(h, 'n', 1n));
    expect(r.value.toString()).toBe('9');
    expect(val(h, 'n')).toBe('9 ');
    expect(asItem(incr(h, 'n', 1n)).value.toString()).toBe('10');
    expect(val(h, 'n')).toBe('10');
    set(h, 'z', '0000000000000000000000007');
    expect(asItem(incr(h, 'z', 1n)).value.toString()).toBe('8');
    expect(val(h, 'z')).toBe('8' + ' '.repeat(24));
  });

  it('a longer result grows the item', () => {
    const { h } = fresh();
    set(h, 'n', '999');
    expect(asItem(incr(h, 'n', 1n)).value.toString()).toBe('1000');
    expect(val(h, 'n')).toBe('1000');
  });

  it('keeps flags and exptime, and gives a new CAS each time', () => {
    const { h, clock } = fresh();
    const a = set(h, 'n', '9', { flags: 42, exptime: 100 });
    const r1 = asItem(incr(h, 'n', 1n)); // grows: new item
    const r2 = asItem(decr(h, 'n', 1n)); // in place
    for (const r of [r1, r2, get(h, 'n')!]) {
      expect(r.flags).toBe(42);
      expect(r.exptime).toBe(clock.sec + 100);
    }
    expect(r1.cas).toBeGreaterThan(a.cas);
    expect(r2.cas).toBeGreaterThan(r1.cas);
    expect(get(h, 'n')!.cas).toBe(r2.cas);
  });

  it('a non-numeric value is NON_NUMERIC and left untouched', () => {
    const { h } = fresh();
    for (const v of ['abc', '', '-1', '18446744073709551616', '12x']) {
      set(h, 'n', v);
      expect(incr(h, 'n', 1n)).toBe('NON_NUMERIC');
      expect(decr(h, 'n', 1n)).toBe('NON_NUMERIC');
      expect(val(h, 'n')).toBe(v);
    }
  });

  it('a numeric value too large for one slab chunk (512 KiB item) is NON_NUMERIC, as memcached', () => {
    const { h } = fresh();
    // memcached 1.6.18, key "k": a 524228-byte value still counts, 524229 does not.
    const fits = Buffer.alloc(524228, 0x20);
    fits[0] = 0x35;
    set(h, 'k', fits);
    expect(asItem(incr(h, 'k', 1n)).value.toString()).toBe('6');
    const chunked = Buffer.alloc(524229, 0x20);
    chunked[0] = 0x35;
    set(h, 'k', chunked);
    expect(incr(h, 'k', 1n)).toBe('NON_NUMERIC');
  });

  it('a miss is NOT_FOUND and does not create the item', () => {
    const { h } = fresh();
    expect(incr(h, 'n', 1n)).toBe('NOT_FOUND');
    expect(decr(h, 'n', 1n)).toBe('NOT_FOUND');
    expect(get(h, 'n')).toBeUndefined();
  });

  it('a miss with an initial value creates the counter with it, flags 0 and the given exptime', () => {
    const { h, clock } = fresh();
    const r = asItem(incr(h, 'n', 5n, { initial: 100n, exptime: 60 }));
    expect(r.value.toString()).toBe('100');
    expect(r.flags).toBe(0);
    expect(r.exptime).toBe(clock.sec + 60);
    expect(val(h, 'n')).toBe('100');
    expect(asItem(incr(h, 'n', 5n, { initial: 100n })).value.toString()).toBe('105');
    expect(asItem(incr(h, 'm', 5n, { incr: false, initial: 0n })).value.toString()).toBe('0');
  });

  it('with a CAS: EXISTS on a mismatch, applies on a match; CAS 0 means no check', () => {
    const { h } = fresh();
    const a = set(h, 'n', '1');
    expect(incr(h, 'n', 1n, { compareCas: a.cas + 1n })).toBe('EXISTS');
    const r = asItem(incr(h, 'n', 1n, { compareCas: a.cas }));
    expect(r.value.toString()).toBe('2');
    expect(asItem(incr(h, 'n', 1n, { compareCas: 0n })).value.toString()).toBe('3');
  });

  it('newCas sets the counter CAS', () => {
    const { h } = fresh();
    set(h, 'n', '1');
    expect(asItem(h.arithmetic({ key: b('n'), incr: true, delta: 1n, newCas: 77n })).cas).toBe(77n);
    expect(get(h, 'n')!.cas).toBe(77n);
  });

  it('growing a counter counts a new item in total_items, rewriting in place does not', () => {
    const { h } = fresh();
    set(h, 'n', '9');
    expect(stat(h, 'total_items')).toBe(1);
    incr(h, 'n', 1n);
    expect(stat(h, 'total_items')).toBe(2);
    decr(h, 'n', 1n);
    expect(stat(h, 'total_items')).toBe(2);
  });
});
