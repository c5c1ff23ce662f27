import { describe, expect, it } from 'vitest';
import type { ItemView, StoreCommand, StoreMode } from '@cleave/protocol';
import { MAX_RELATIVE_EXPTIME, TtlMapHandler, absoluteExptime } from '../src/ttl-map-handler.js';

/** A clock the test moves by hand, starting at a realistic Unix time. */
function testClock(start = 1_700_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(seconds: number) {
      now += seconds;
    },
  };
}

function setup(options: { maxItems?: number; maxItemSize?: number } = {}) {
  const clock = testClock();
  const h = new TtlMapHandler({ ...options, clock: clock.now });
  return { h, clock };
}

const buf = (s: string) => Buffer.from(s, 'latin1');

function store(
  h: TtlMapHandler,
  mode: StoreMode,
  key: string,
  value: string,
  extra: Partial<Omit<StoreCommand, 'mode' | 'key' | 'value'>> = {},
) {
  return h.store({ mode, key: buf(key), value: buf(value), flags: 0, exptime: 0, ...extra });
}

/** The stored item, or fails the test with the failure outcome. */
function stored(outcome: ItemView | string): ItemView {
  if (typeof outcome === 'string') throw new Error(`expected an item, got ${outcome}`);
  return outcome;
}

const value = (h: TtlMapHandler, key: string) => h.get({ key: buf(key), noBump: true })?.value.toString('latin1');

describe('absoluteExptime', () => {
  const now = 1_700_000_000;
  it('keeps 0 as never expires', () => {
    expect(absoluteExptime(0, now)).toBe(0);
  });
  it('reads up to 30 days as seconds from now, the 30 days included', () => {
    expect(absoluteExptime(1, now)).toBe(now + 1);
    expect(absoluteExptime(MAX_RELATIVE_EXPTIME, now)).toBe(now + MAX_RELATIVE_EXPTIME);
  });
  it('reads anything above 30 days as a Unix time', () => {
    expect(absoluteExptime(MAX_RELATIVE_EXPTIME + 1, now)).toBe(MAX_RELATIVE_EXPTIME + 1);
    expect(absoluteExptime(now + 5, now)).toBe(now + 5);
  });
  it('turns a negative exptime into a time already past', () => {
    const t = absoluteExptime(-1, now);
    expect(t).not.toBe(0);
    expect(t).toBeLessThanOrEqual(now);
  });
});

describe('get', () => {
  it('misses a key never stored', () => {
    const { h } = setup();
    expect(h.get({ key: buf('nope') })).toBeUndefined();
  });

  it('returns value, flags, exptime and a bigint CAS unique as stored', () => {
    const { h, clock } = setup();
    const s = stored(store(h, 'set', 'k', 'hello', { flags: 0xfffffffe, exptime: 100 }));
    const got = h.get({ key: buf('k') })!;
    expect(got.key.toString()).toBe('k');
    expect(got.value.toString()).toBe('hello');
    expect(got.flags).toBe(0xfffffffe);
    expect(got.exptime).toBe(clock.now() + 100);
    expect(typeof got.cas).toBe('bigint');
    expect(got.cas).toBe(s.cas);
  });

  it('answers synchronously, never with a Promise', () => {
    const { h } = setup();
    const outcomes: unknown[] = [
      store(h, 'set', 'n', '1'),
      h.get({ key: buf('n') }),
      h.arithmetic({ key: buf('n'), incr: true, delta: 1n }),
      h.touch({ key: buf('n'), exptime: 10 }),
      h.delete({ key: buf('n') }),
      h.flush(0),
      h.close(),
    ];
    for (const o of outcomes) expect(o).not.toBeInstanceOf(Promise);
  });

  it('keeps binary keys apart byte for byte', () => {
    const { h } = setup();
    const a = Buffer.from([0xff]);
    const b = Buffer.from('\u00ff', 'utf8'); // 0xc3 0xbf
    h.store({ mode: 'set', key: a, value: buf('A'), flags: 0, exptime: 0 });
    h.store({ mode: 'set', key: b, value: buf('B'), flags: 0, exptime: 0 });
    expect(h.get({ key: a })!.value.toString()).toBe('A');
    expect(h.get({ key: b })!.value.toString()).toBe('B');
  });

  it('copies key and value: the request buffers may be reused after the call', () => {
    const { h } = setup();
    const key = buf('kk');
    const val = buf('vvvv');
    h.store({ mode: 'set', key, value: val, flags: 0, exptime: 0 });
    key.fill(0x78);
    val.fill(0x78);
    const got = h.get({ key: buf('kk') })!;
    expect(got.key.toString()).toBe('kk');
    expect(got.value.toString()).toBe('vvvv');
  });

  it('reports the previous access: fetched and lastAccess describe the item before this fetch', () => {
    const { h, clock } = setup();
    const t0 = clock.now();
    store(h, 'set', 'k', 'v');
    const first = h.get({ key: buf('k') })!;
    expect(first.fetched).toBe(false);
    expect(first.lastAccess).toBe(t0);
    clock.advance(7);
    const second = h.get({ key: buf('k') })!;
    expect(second.fetched).toBe(true);
    expect(second.lastAccess).toBe(t0);
    clock.advance(3);
    expect(h.get({ key: buf('k') })!.lastAccess).toBe(t0 + 7);
  });

  it('with noBump leaves fetched and lastAccess alone', () => {
    const { h, clock } = setup();
    const t0 = clock.now();
    store(h, 'set', 'k', 'v');
    clock.advance(5);
    h.get({ key: buf('k'), noBump: true });
    const next = h.get({ key: buf('k') })!;
    expect(next.fetched).toBe(false);
    expect(next.lastAccess).toBe(t0);
  });

  it('with noBump and touch sets the exptime without marking the item fetched', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: 10 });
    expect(h.get({ key: buf('k'), touch: 100, noBump: true })!.exptime).toBe(clock.now() + 100);
    clock.advance(50);
    const next = h.get({ key: buf('k') })!;
    expect(next.fetched).toBe(false);
    expect(next.exptime).toBe(clock.now() + 50);
  });

  it('with touch (gat) sets the new exptime and returns the item with it', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: 10 });
    const got = h.get({ key: buf('k'), touch: 100 })!;
    expect(got.exptime).toBe(clock.now() + 100);
    expect(got.previousExptime).toBe(clock.now() + 10);
    expect(h.get({ key: buf('k') })!.previousExptime).toBeUndefined();
    clock.advance(50);
    expect(value(h, 'k')).toBe('v');
    clock.advance(50);
    expect(value(h, 'k')).toBeUndefined();
  });

  it('with a negative touch returns the item one last time', () => {
    const { h } = setup();
    store(h, 'set', 'k', 'v');
    expect(h.get({ key: buf('k'), touch: -1 })!.value.toString()).toBe('v');
    expect(h.get({ key: buf('k') })).toBeUndefined();
  });
});

describe('expiry', () => {
  it('never expires an item with exptime 0', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: 0 });
    clock.advance(10 * 365 * 86400);
    expect(value(h, 'k')).toBe('v');
  });

  it('expires a relative exptime exactly that many seconds later', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: 10 });
    clock.advance(9);
    expect(value(h, 'k')).toBe('v');
    clock.advance(1);
    expect(value(h, 'k')).toBeUndefined();
  });

  it('treats 30 days as relative and one second more as an absolute time', () => {
    const { h, clock } = setup();
    store(h, 'set', 'rel', 'v', { exptime: MAX_RELATIVE_EXPTIME });
    store(h, 'set', 'abs', 'v', { exptime: MAX_RELATIVE_EXPTIME + 1 }); // 1970: long gone
    expect(value(h, 'rel')).toBe('v');
    expect(value(h, 'abs')).toBeUndefined();
    clock.advance(MAX_RELATIVE_EXPTIME);
    expect(value(h, 'rel')).toBeUndefined();
  });

  it('expires an absolute exptime at that Unix time', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: clock.now() + 60 });
    clock.advance(59);
    expect(value(h, 'k')).toBe('v');
    clock.advance(1);
    expect(value(h, 'k')).toBeUndefined();
  });

  it('stores an item with a negative exptime that nobody can read', () => {
    const { h } = setup();
    store(h, 'set', 'k', 'old');
    expect(typeof store(h, 'set', 'k', 'v', { exptime: -1 })).toBe('object');
    expect(value(h, 'k')).toBeUndefined();
  });

  it('drops expired items lazily, when they are accessed', () => {
    const { h, clock } = setup();
    store(h, 'set', 'a', 'v', { exptime: 5 });
    store(h, 'set', 'b', 'v', { exptime: 5 });
    clock.advance(5);
    expect(h.stats('')!.curr_items).toBe(2);
    h.get({ key: buf('a') });
    expect(h.stats('')!.curr_items).toBe(1);
  });
});

describe('store', () => {
  it('gives every new version of an item a larger CAS unique', () => {
    const { h } = setup();
    const a = stored(store(h, 'set', 'k', '1'));
    const b = stored(store(h, 'set', 'k', '2'));
    const c = stored(store(h, 'set', 'other', '3'));
    expect(b.cas).toBeGreaterThan(a.cas);
    expect(c.cas).toBeGreaterThan(b.cas);
  });

  it("uses newCas as the CAS unique when given (meta E; l1l2 copying L2's CAS)", () => {
    const { h } = setup();
    expect(stored(store(h, 'set', 'k', 'v', { newCas: 12345678901234567890n })).cas).toBe(12345678901234567890n);
    expect(h.get({ key: buf('k') })!.cas).toBe(12345678901234567890n);
  });

  it('set stores whether or not the key exists, replacing flags and exptime', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'a', { flags: 1, exptime: 10 });
    const s = stored(store(h, 'set', 'k', 'b', { flags: 2, exptime: 0 }));
    expect(s.flags).toBe(2);
    clock.advance(20);
    expect(value(h, 'k')).toBe('b');
  });

  it('add stores a missing key only', () => {
    const { h } = setup();
    expect(stored(store(h, 'add', 'k', 'a')).value.toString()).toBe('a');
    expect(store(h, 'add', 'k', 'b')).toBe('NOT_STORED');
    expect(value(h, 'k')).toBe('a');
  });

  it('add stores over an expired item', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'a', { exptime: 1 });
    clock.advance(1);
    expect(typeof store(h, 'add', 'k', 'b')).toBe('object');
    expect(value(h, 'k')).toBe('b');
  });

  it('replace stores an existing key only', () => {
    const { h } = setup();
    expect(store(h, 'replace', 'k', 'a')).toBe('NOT_STORED');
    expect(value(h, 'k')).toBeUndefined();
    store(h, 'set', 'k', 'a');
    expect(stored(store(h, 'replace', 'k', 'b')).value.toString()).toBe('b');
  });

  it('append and prepend need an existing item', () => {
    const { h } = setup();
    expect(store(h, 'append', 'k', 'x')).toBe('NOT_STORED');
    expect(store(h, 'prepend', 'k', 'x')).toBe('NOT_STORED');
    expect(value(h, 'k')).toBeUndefined();
  });

  it('append and prepend concatenate, keeping flags and exptime, with a new CAS unique', () => {
    const { h, clock } = setup();
    const s = stored(store(h, 'set', 'k', 'mid', { flags: 42, exptime: 100 }));
    const a = stored(store(h, 'append', 'k', '>>', { flags: 7, exptime: 5 }));
    const p = stored(store(h, 'prepend', 'k', '<<', { flags: 7, exptime: 5 }));
    expect(a.value.toString()).toBe('mid>>');
    expect(p.value.toString()).toBe('<<mid>>');
    expect(p.flags).toBe(42);
    expect(p.exptime).toBe(clock.now() + 100);
    expect(a.cas).toBeGreaterThan(s.cas);
    expect(p.cas).toBeGreaterThan(a.cas);
    clock.advance(50);
    expect(value(h, 'k')).toBe('<<mid>>');
  });

  it('answers TOO_LARGE for a value over maxItemSize, and leaves the item alone', () => {
    const { h } = setup({ maxItemSize: 8 });
    store(h, 'set', 'k', 'old');
    expect(typeof store(h, 'set', 'k', '12345678')).toBe('object');
    expect(store(h, 'set', 'k', '123456789')).toBe('TOO_LARGE');
    expect(value(h, 'k')).toBe('12345678');
  });

  it('does not store an append that would grow the item past maxItemSize', () => {
    const { h } = setup({ maxItemSize: 8 });
    store(h, 'set', 'k', '12345');
    expect(store(h, 'append', 'k', '6789')).toBe('NOT_STORED');
    expect(value(h, 'k')).toBe('12345');
  });
});

describe('store with compareCas (cas)', () => {
  it('stores when the CAS unique still matches', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'k', 'a'));
    const c = stored(store(h, 'set', 'k', 'b', { compareCas: s.cas }));
    expect(c.value.toString()).toBe('b');
    expect(c.cas).toBeGreaterThan(s.cas);
  });

  it('answers EXISTS when the item changed since it was read', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'k', 'a'));
    store(h, 'set', 'k', 'b');
    expect(store(h, 'set', 'k', 'c', { compareCas: s.cas })).toBe('EXISTS');
    expect(store(h, 'replace', 'k', 'c', { compareCas: s.cas })).toBe('EXISTS');
    expect(value(h, 'k')).toBe('b');
  });

  it('answers NOT_FOUND when the item is gone', () => {
    const { h, clock } = setup();
    const s = stored(store(h, 'set', 'k', 'a', { exptime: 1 }));
    expect(store(h, 'set', 'missing', 'c', { compareCas: 1n })).toBe('NOT_FOUND');
    clock.advance(1);
    expect(store(h, 'set', 'k', 'c', { compareCas: s.cas })).toBe('NOT_FOUND');
    expect(value(h, 'k')).toBeUndefined();
  });

  it('never matches CAS unique 0', () => {
    const { h } = setup();
    store(h, 'set', 'k', 'a');
    expect(store(h, 'set', 'k', 'b', { compareCas: 0n })).toBe('EXISTS');
  });

  it('makes add act as cas (binary Add with a CAS)', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'k', 'a'));
    expect(store(h, 'add', 'k', 'b', { compareCas: s.cas + 100n })).toBe('EXISTS');
    expect(stored(store(h, 'add', 'k', 'b', { compareCas: s.cas })).value.toString()).toBe('b');
    expect(store(h, 'add', 'gone', 'b', { compareCas: s.cas })).toBe('NOT_FOUND');
  });

  it('checks append and prepend too, answering NOT_STORED for a missing item', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'k', 'a'));
    expect(store(h, 'append', 'k', 'x', { compareCas: s.cas + 1n })).toBe('EXISTS');
    expect(store(h, 'append', 'nope', 'x', { compareCas: s.cas })).toBe('NOT_STORED');
    const a = stored(store(h, 'append', 'k', 'x', { compareCas: s.cas }));
    expect(stored(store(h, 'prepend', 'k', 'y', { compareCas: a.cas })).value.toString()).toBe('yax');
  });
});

describe('delete', () => {
  it('deletes an item and answers NOT_FOUND the second time', () => {
    const { h } = setup();
    store(h, 'set', 'k', 'v');
    expect(h.delete({ key: buf('k') })).toBe('DELETED');
    expect(value(h, 'k')).toBeUndefined();
    expect(h.delete({ key: buf('k') })).toBe('NOT_FOUND');
  });

  it('answers NOT_FOUND for an expired item', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', 'v', { exptime: 2 });
    clock.advance(2);
    expect(h.delete({ key: buf('k') })).toBe('NOT_FOUND');
  });

  it('with compareCas deletes only the version the client read', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'k', 'v'));
    expect(h.delete({ key: buf('k'), compareCas: s.cas + 1n })).toBe('EXISTS');
    expect(value(h, 'k')).toBe('v');
    expect(h.delete({ key: buf('k'), compareCas: s.cas })).toBe('DELETED');
  });
});

describe('arithmetic', () => {
  const incr = (h: TtlMapHandler, key: string, delta: bigint, extra = {}) => h.arithmetic({ key: buf(key), incr: true, delta, ...extra });
  const decr = (h: TtlMapHandler, key: string, delta: bigint, extra = {}) => h.arithmetic({ key: buf(key), incr: false, delta, ...extra });
  const digits = (o: ItemView | string) => stored(o).value.toString();

  it('increments and decrements a decimal value', () => {
    const { h } = setup();
    store(h, 'set', 'n', '10');
    expect(digits(incr(h, 'n', 5n))).toBe('15');
    expect(digits(decr(h, 'n', 3n))).toBe('12');
    expect(value(h, 'n')).toBe('12');
  });

  it('wraps incr around at 2^64', () => {
    const { h } = setup();
    store(h, 'set', 'n', '18446744073709551615');
    expect(digits(incr(h, 'n', 2n))).toBe('1');
  });

  it('stops decr at 0', () => {
    const { h } = setup();
    store(h, 'set', 'n', '5');
    expect(digits(decr(h, 'n', 6n))).toBe('0');
    expect(digits(decr(h, 'n', 1n))).toBe('0');
  });

  it('keeps flags and exptime, and gives a new CAS unique', () => {
    const { h, clock } = setup();
    const s = stored(store(h, 'set', 'n', '1', { flags: 9, exptime: 30 }));
    const r = stored(incr(h, 'n', 1n));
    expect(r.flags).toBe(9);
    expect(r.exptime).toBe(clock.now() + 30);
    expect(r.cas).toBeGreaterThan(s.cas);
  });

  it('reads numbers as memcached does: leading blanks, a plus sign, anything after a blank', () => {
    const { h } = setup();
    for (const [raw, expected] of [
      [' 12', '13'],
      ['+1', '2'],
      ['12 x', '13'],
      ['000000000000000000001', '2'],
    ] as const) {
      store(h, 'set', 'n', raw);
      expect(digits(incr(h, 'n', 1n))).toBe(expected);
    }
  });

  it('answers NON_NUMERIC for values that are not an unsigned 64-bit number', () => {
    const { h } = setup();
    for (const raw of ['', 'abc', '1x', '-1', '18446744073709551616', ' ']) {
      store(h, 'set', 'n', raw);
      expect(incr(h, 'n', 1n)).toBe('NON_NUMERIC');
      expect(decr(h, 'n', 1n)).toBe('NON_NUMERIC');
      expect(value(h, 'n')).toBe(raw);
    }
  });

  it('answers NOT_FOUND for a missing counter without an initial value', () => {
    const { h } = setup();
    expect(incr(h, 'n', 1n)).toBe('NOT_FOUND');
    expect(value(h, 'n')).toBeUndefined();
  });

  it('creates a missing counter with the initial value, without applying the delta', () => {
    const { h, clock } = setup();
    const r = stored(incr(h, 'n', 5n, { initial: 100n, exptime: 10 }));
    expect(r.value.toString()).toBe('100');
    expect(r.flags).toBe(0);
    expect(r.created).toBe(true);
    const again = stored(incr(h, 'n', 5n, { initial: 100n }));
    expect(again.value.toString()).toBe('105');
    expect(again.created).toBeUndefined();
    clock.advance(10);
    expect(value(h, 'n')).toBeUndefined();
  });

  it('with touch (meta T) sets a new exptime along with the update', () => {
    const { h, clock } = setup();
    store(h, 'set', 'n', '1', { exptime: 10 });
    const r = stored(incr(h, 'n', 1n, { touch: 100 }));
    expect(r.exptime).toBe(clock.now() + 100);
    expect(r.previousExptime).toBe(clock.now() + 10);
    clock.advance(50);
    expect(value(h, 'n')).toBe('2');
    expect(stored(incr(h, 'n', 1n)).previousExptime).toBeUndefined();
  });

  it('with compareCas changes only the version the client read', () => {
    const { h } = setup();
    const s = stored(store(h, 'set', 'n', '1'));
    expect(incr(h, 'n', 1n, { compareCas: s.cas + 1n })).toBe('EXISTS');
    expect(digits(incr(h, 'n', 1n, { compareCas: s.cas }))).toBe('2');
  });

  it("uses newCas as the CAS unique when given (meta E; l1l2 copying L2's CAS)", () => {
    const { h } = setup();
    store(h, 'set', 'n', '1');
    expect(stored(incr(h, 'n', 1n, { newCas: 777n })).cas).toBe(777n);
  });
});

describe('touch', () => {
  it('sets a new exptime and keeps the CAS unique', () => {
    const { h, clock } = setup();
    const s = stored(store(h, 'set', 'k', 'v', { exptime: 5 }));
    expect(h.touch({ key: buf('k'), exptime: 100 })).toBe('TOUCHED');
    const got = h.get({ key: buf('k') })!;
    expect(got.cas).toBe(s.cas);
    expect(got.exptime).toBe(clock.now() + 100);
    clock.advance(50);
    expect(value(h, 'k')).toBe('v');
  });

  it('can make an item live forever (exptime 0) or expire it (negative)', () => {
    const { h, clock } = setup();
    store(h, 'set', 'a', 'v', { exptime: 5 });
    store(h, 'set', 'b', 'v');
    h.touch({ key: buf('a'), exptime: 0 });
    h.touch({ key: buf('b'), exptime: -1 });
    clock.advance(1000);
    expect(value(h, 'a')).toBe('v');
    expect(value(h, 'b')).toBeUndefined();
  });

  it('answers NOT_FOUND for a missing or expired item', () => {
    const { h, clock } = setup();
    expect(h.touch({ key: buf('k'), exptime: 10 })).toBe('NOT_FOUND');
    store(h, 'set', 'k', 'v', { exptime: 1 });
    clock.advance(1);
    expect(h.touch({ key: buf('k'), exptime: 10 })).toBe('NOT_FOUND');
  });
});

describe('flush', () => {
  it('with no delay invalidates every item at once', () => {
    const { h } = setup();
    store(h, 'set', 'a', '1');
    store(h, 'set', 'b', '2');
    h.flush(0);
    expect(value(h, 'a')).toBeUndefined();
    expect(value(h, 'b')).toBeUndefined();
    store(h, 'set', 'c', '3');
    expect(value(h, 'c')).toBe('3');
  });

  it('with a delay invalidates, when it comes, everything stored before it', () => {
    const { h, clock } = setup();
    store(h, 'set', 'a', '1');
    h.flush(10);
    expect(value(h, 'a')).toBe('1');
    clock.advance(5);
    store(h, 'set', 'b', '2');
    clock.advance(4);
    expect(value(h, 'a')).toBe('1');
    expect(value(h, 'b')).toBe('2');
    clock.advance(1);
    expect(value(h, 'a')).toBeUndefined();
    expect(value(h, 'b')).toBeUndefined();
    store(h, 'set', 'c', '3');
    clock.advance(100);
    expect(value(h, 'c')).toBe('3');
  });

  it('reads a delay past 30 days as a Unix time', () => {
    const { h, clock } = setup();
    store(h, 'set', 'a', '1');
    h.flush(clock.now() + 20);
    clock.advance(19);
    expect(value(h, 'a')).toBe('1');
    clock.advance(1);
    expect(value(h, 'a')).toBeUndefined();
  });

  it('replaces a pending delayed flush with a later one', () => {
    const { h, clock } = setup();
    store(h, 'set', 'a', '1');
    h.flush(10);
    h.flush(20);
    clock.advance(15);
    expect(value(h, 'a')).toBe('1');
    clock.advance(5);
    expect(value(h, 'a')).toBeUndefined();
  });

  it('flushes at once for a negative delay, cancelling a pending one', () => {
    const { h, clock } = setup();
    h.flush(10);
    store(h, 'set', 'a', '1');
    h.flush(-1);
    expect(value(h, 'a')).toBeUndefined();
    store(h, 'set', 'b', '2');
    clock.advance(30);
    expect(value(h, 'b')).toBe('2');
  });
});

describe('item views', () => {
  it('are never changed once returned: later writes make new versions', () => {
    const { h, clock } = setup();
    store(h, 'set', 'k', '1', { flags: 3, exptime: 50 });
    const seen = h.get({ key: buf('k') })!;
    const snapshot = { value: seen.value.toString(), flags: seen.flags, cas: seen.cas, exptime: seen.exptime, fetched: seen.fetched };
    clock.advance(1);
    h.arithmetic({ key: buf('k'), incr: true, delta: 1n });
    store(h, 'append', 'k', '0');
    h.touch({ key: buf('k'), exptime: 0 });
    h.get({ key: buf('k') });
    store(h, 'set', 'k', 'other', { flags: 1 });
    h.delete({ key: buf('k') });
    expect({ value: seen.value.toString(), flags: seen.flags, cas: seen.cas, exptime: seen.exptime, fetched: seen.fetched }).toEqual(
      snapshot,
    );
  });
});

describe('stats', () => {
  it('reports current items and evictions (the server counts the commands)', () => {
    const { h } = setup({ maxItems: 2 });
    store(h, 'set', 'a', '1');
    store(h, 'add', 'a', '1');
    store(h, 'set', 'b', '2');
    h.get({ key: buf('a') });
    h.get({ key: buf('zz') });
    expect(h.stats('')).toEqual({ curr_items: 2, evictions: 0 });
    store(h, 'set', 'c', '3');
    expect(h.stats('')).toEqual({ curr_items: 2, evictions: 1 });
  });

  it('zeroes evictions on reset, but not curr_items', () => {
    const { h } = setup({ maxItems: 1 });
    store(h, 'set', 'a', '1');
    store(h, 'set', 'b', '2');
    expect(h.stats('')).toEqual({ curr_items: 1, evictions: 1 });
    expect(h.stats('reset')).toEqual({});
    expect(h.stats('')).toEqual({ curr_items: 1, evictions: 0 });
  });

  it('knows no other stats group', () => {
    const { h } = setup();
    expect(h.stats('items')).toBeUndefined();
    expect(h.stats('slabs')).toBeUndefined();
  });
});

describe('maxItems', () => {
  it('evicts the least recently stored item first', () => {
    const { h } = setup({ maxItems: 3 });
    for (const k of ['a', 'b', 'c', 'd']) store(h, 'set', k, k);
    expect(value(h, 'a')).toBeUndefined();
    expect(['b', 'c', 'd'].map((k) => value(h, k))).toEqual(['b', 'c', 'd']);
    expect(h.stats('')!.evictions).toBe(1);
    expect(h.stats('')!.curr_items).toBe(3);
  });

  it('counts a fetch as a use, unless it is a noBump fetch', () => {
    const { h } = setup({ maxItems: 3 });
    for (const k of ['a', 'b', 'c']) store(h, 'set', k, k);
    h.get({ key: buf('a') }); // a is now the most recently used
    h.get({ key: buf('b'), noBump: true }); // b stays the oldest
    store(h, 'set', 'd', 'd');
    expect(value(h, 'b')).toBeUndefined();
    expect(value(h, 'a')).toBe('a');
  });

  it('does not count dropping an expired item as an eviction', () => {
    const { h, clock } = setup({ maxItems: 2 });
    store(h, 'set', 'a', 'a', { exptime: 1 });
    store(h, 'set', 'b', 'b');
    clock.advance(1);
    store(h, 'set', 'c', 'c');
    expect(h.stats('')!.evictions).toBe(0);
    expect(value(h, 'b')).toBe('b');
    expect(value(h, 'c')).toBe('c');
  });

  it('rejects a bound below one item', () => {
    expect(() => new TtlMapHandler({ maxItems: 0 })).toThrow(RangeError);
  });
});

describe('close', () => {
  it('drops every item', () => {
    const { h } = setup();
    store(h, 'set', 'a', '1');
    h.close();
    expect(h.stats('')!.curr_items).toBe(0);
  });
});
