import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '../src/index.js';
import { asItem, b, get, makeHandler, parsedStore, set, stat, store, val } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

describe('set/add/replace', () => {
  it('set stores the value, flags and a CAS, and get returns them', () => {
    const { h } = fresh();
    const r = set(h, 'k', 'hello', { flags: 0xdeadbeef });
    const it1 = get(h, 'k')!;
    expect(it1.value.toString()).toBe('hello');
    expect(it1.key.toString()).toBe('k');
    expect(it1.flags).toBe(0xdeadbeef);
    expect(it1.cas).toBe(r.cas);
    expect(it1.exptime).toBe(0);
  });

  it('set overwrites an existing item with a new CAS', () => {
    const { h } = fresh();
    const a = set(h, 'k', 'one');
    const c = set(h, 'k', 'two');
    expect(c.cas).toBeGreaterThan(a.cas);
    expect(val(h, 'k')).toBe('two');
    expect(h.size).toBe(1);
  });

  it('add stores only when the key is missing', () => {
    const { h } = fresh();
    expect(typeof store(h, 'add', 'k', 'one')).toBe('object');
    expect(store(h, 'add', 'k', 'two')).toBe('NOT_STORED');
    expect(val(h, 'k')).toBe('one');
  });

  it('add with a CAS ignores it (meta ms ME C semantics)', () => {
    const { h } = fresh();
    expect(typeof store(h, 'add', 'k', 'one', { compareCas: 999n })).toBe('object');
    expect(store(h, 'add', 'k', 'two', { compareCas: 999n })).toBe('NOT_STORED');
  });

  it('add succeeds over an expired item', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'old', { exptime: 5 });
    clock.advance(5);
    expect(typeof store(h, 'add', 'k', 'new')).toBe('object');
    expect(val(h, 'k')).toBe('new');
  });

  it('replace stores only when the key exists', () => {
    const { h } = fresh();
    expect(store(h, 'replace', 'k', 'x')).toBe('NOT_STORED');
    expect(get(h, 'k')).toBeUndefined();
    set(h, 'k', 'one');
    expect(typeof store(h, 'replace', 'k', 'two')).toBe('object');
    expect(val(h, 'k')).toBe('two');
  });

  it('an empty value is stored', () => {
    const { h } = fresh();
    set(h, 'k', '');
    expect(get(h, 'k')!.value.length).toBe(0);
  });

  it('keys are binary-safe byte strings', () => {
    const { h } = fresh();
    const k1 = Buffer.from([0xff, 0x00, 0x80]);
    const k2 = Buffer.from([0xff, 0x00, 0x81]);
    h.store({ mode: 'set', key: b(k1), value: b('a'), flags: 0, exptime: 0 });
    h.store({ mode: 'set', key: b(k2), value: b('b'), flags: 0, exptime: 0 });
    expect(h.get({ key: b(k1) })!.value.toString()).toBe('a');
    expect(h.get({ key: b(k2) })!.value.toString()).toBe('b');
    expect(Buffer.compare(h.get({ key: b(k1) })!.key, k1)).toBe(0);
  });
});

describe('copies and immutability', () => {
  it('copies the key and value: the request buffers may be reused afterwards', () => {
    const { h } = fresh();
    const key = b('key1');
    const value = b('value1');
    h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
    key.fill(0x41);
    value.fill(0x42);
    const it1 = get(h, 'key1')!;
    expect(it1.value.toString()).toBe('value1');
    expect(it1.key.toString()).toBe('key1');
  });

  it('a returned item keeps its bytes after its slab chunk is freed and reused', () => {
    const { h } = fresh();
    set(h, 'a', 'x'.repeat(100));
    const first = get(h, 'a')!;
    const stored = asItem(store(h, 'set', 'b', 'y'.repeat(100)));
    h.delete({ key: b('a') });
    // Same size class: 'c' takes the chunk 'a' had.
    set(h, 'c', 'z'.repeat(100));
    expect(first.value.toString()).toBe('x'.repeat(100));
    expect(first.key.toString()).toBe('a');
    expect(stored.value.toString()).toBe('y'.repeat(100));
    expect(val(h, 'c')).toBe('z'.repeat(100));
  });

  it('a returned large item (outside the slabs) keeps its bytes after an in-place incr', () => {
    const { h } = fresh();
    const big = Buffer.alloc(40_000, 0x20);
    big[0] = 0x35;
    set(h, 'n', big);
    const before = get(h, 'n')!;
    expect(asItem(h.arithmetic({ key: b('n'), incr: true, delta: 1n })).value.toString()).toBe('6');
    expect(before.value[0]).toBe(0x35);
    expect(get(h, 'n')!.value[0]).toBe(0x36);
    expect(get(h, 'n')!.value.length).toBe(40_000);
  });

  it('a returned item keeps its fields after later fetches, touches, stores and deletes', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'one', { exptime: 100 });
    const first = get(h, 'k')!;
    const snapshot = { ...first, value: Buffer.from(first.value) };
    clock.advance(61);
    get(h, 'k');
    h.touch({ key: b('k'), exptime: 500 });
    h.get({ key: b('k'), touch: 50 });
    h.delete({ key: b('k'), invalidate: true });
    get(h, 'k');
    store(h, 'append', 'k', 'more');
    set(h, 'k', 'two');
    h.delete({ key: b('k') });
    expect(first.value.toString()).toBe('one');
    expect({ ...first, value: Buffer.from(first.value) }).toEqual(snapshot);
  });

  it('a returned counter keeps its value after the next incr', () => {
    const { h } = fresh();
    set(h, 'n', '10');
    const r1 = asItem(h.arithmetic({ key: b('n'), incr: false, delta: 1n }));
    const r2 = asItem(h.arithmetic({ key: b('n'), incr: false, delta: 1n }));
    expect(r1.value.toString()).toBe('9');
    expect(r2.value.toString()).toBe('8');
  });
});

describe('append/prepend', () => {
  it('append and prepend join the data', () => {
    const { h } = fresh();
    set(h, 'k', 'mid');
    store(h, 'append', 'k', '>>');
    store(h, 'prepend', 'k', '<<');
    expect(val(h, 'k')).toBe('<<mid>>');
  });

  it('keep the flags and exptime of the existing item and get a new CAS', () => {
    const { h, clock } = fresh();
    const a = set(h, 'k', 'x', { flags: 7, exptime: 100 });
    const r = asItem(store(h, 'append', 'k', 'y', { flags: 99, exptime: 5000 }));
    expect(r.flags).toBe(7);
    expect(r.exptime).toBe(clock.sec + 100);
    expect(r.cas).toBeGreaterThan(a.cas);
    expect(get(h, 'k')!.flags).toBe(7);
  });

  it('on a missing key answer NOT_STORED', () => {
    const { h } = fresh();
    expect(store(h, 'append', 'k', 'x')).toBe('NOT_STORED');
    expect(store(h, 'prepend', 'k', 'x')).toBe('NOT_STORED');
    expect(store(h, 'append', 'k', 'x', { compareCas: 5n })).toBe('NOT_STORED');
  });

  it('with a CAS store on a match and answer EXISTS on a mismatch; CAS 0 means no check', () => {
    const { h } = fresh();
    const a = set(h, 'k', 'a');
    expect(store(h, 'append', 'k', 'b', { compareCas: a.cas + 1n })).toBe('EXISTS');
    const r = asItem(store(h, 'append', 'k', 'b', { compareCas: a.cas }));
    expect(store(h, 'append', 'k', 'c', { compareCas: 0n })).not.toBe('EXISTS');
    expect(val(h, 'k')).toBe('abc');
    expect(store(h, 'prepend', 'k', 'z', { compareCas: r.cas })).toBe('EXISTS');
  });

  it('a lower CAS with invalidate is still a mismatch for append', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    const c = set(h, 'k', 'b');
    expect(store(h, 'append', 'k', 'x', { compareCas: c.cas - 1n, invalidate: true })).toBe('EXISTS');
  });

  it('answer NOT_STORED when the joined item would exceed the item size limit (memcached keeps the old item)', () => {
    const { h } = fresh({ maxItemSize: 1024 * 1024 });
    // memcached: 59-byte header + key + value must fit item_size_max.
    set(h, 'k', Buffer.alloc(1_000_000, 0x31));
    expect(typeof store(h, 'append', 'k', Buffer.alloc(1024 * 1024 - 59 - 1 - 1_000_000, 0x32))).toBe('object');
    expect(store(h, 'append', 'k', Buffer.alloc(1, 0x33))).toBe('NOT_STORED');
    expect(get(h, 'k')!.value.length).toBe(1024 * 1024 - 60);
  });

  it('a stale item becomes fresh when appended to', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    h.delete({ key: b('k'), invalidate: true });
    expect(get(h, 'k')!.stale).toBe(true);
    store(h, 'append', 'k', 'b');
    expect(get(h, 'k')!.stale).toBe(false);
  });
});

describe('compare-and-swap', () => {
  it('stores on a matching CAS, EXISTS on a mismatch, NOT_FOUND when missing', () => {
    const { h } = fresh();
    expect(store(h, 'set', 'k', 'x', { compareCas: 1n })).toBe('NOT_FOUND');
    const a = set(h, 'k', 'one');
    expect(store(h, 'set', 'k', 'two', { compareCas: a.cas + 1n })).toBe('EXISTS');
    expect(val(h, 'k')).toBe('one');
    const r = asItem(store(h, 'set', 'k', 'two', { compareCas: a.cas }));
    expect(r.cas).toBeGreaterThan(a.cas);
    expect(val(h, 'k')).toBe('two');
    expect(store(h, 'set', 'k', 'three', { compareCas: a.cas })).toBe('EXISTS');
  });

  it('replace with a CAS behaves as cas', () => {
    const { h } = fresh();
    expect(store(h, 'replace', 'k', 'x', { compareCas: 3n })).toBe('NOT_FOUND');
    const a = set(h, 'k', 'one');
    expect(store(h, 'replace', 'k', 'x', { compareCas: a.cas + 5n })).toBe('EXISTS');
    expect(typeof store(h, 'replace', 'k', 'x', { compareCas: a.cas })).toBe('object');
  });

  it('CAS 0 never matches an existing item (memcached treats it as no CAS: EXISTS)', () => {
    const { h } = fresh();
    set(h, 'k', 'one');
    expect(store(h, 'set', 'k', 'x', { compareCas: 0n })).toBe('EXISTS');
  });

  it('CAS uniques increase with every store, from casStart', () => {
    const { h } = fresh({ casStart: 1000n });
    const a = set(h, 'a', '1');
    const c = set(h, 'b', '1');
    expect(a.cas).toBe(1000n);
    expect(c.cas).toBe(1001n);
  });

  it('newCas (meta E) sets the CAS unique explicitly', () => {
    const { h } = fresh();
    const r = set(h, 'k', 'x', { newCas: 123456789012345n });
    expect(r.cas).toBe(123456789012345n);
    expect(get(h, 'k')!.cas).toBe(123456789012345n);
    expect(typeof store(h, 'set', 'k', 'y', { compareCas: 123456789012345n, newCas: 5n })).toBe('object');
    expect(get(h, 'k')!.cas).toBe(5n);
  });

  it('CAS uniques are 64-bit and wrap past 2^64-1 to 1', () => {
    const { h } = fresh({ casStart: (1n << 64n) - 1n });
    expect(set(h, 'a', '1').cas).toBe((1n << 64n) - 1n);
    expect(set(h, 'b', '1').cas).toBe(1n);
  });
});

describe('size limits', () => {
  it('TOO_LARGE follows memcached: 59-byte header + key + value (+4 with flags) over item_size_max', () => {
    const { h } = fresh({ maxItemSize: 1024 * 1024 });
    // Values probed on memcached 1.6.18 -I 1m with key "k": 1048516 stores, 1048517 does not; with flags 1048512/1048513.
    expect(typeof store(h, 'set', 'k', Buffer.alloc(1048516))).toBe('object');
    expect(store(h, 'set', 'k', Buffer.alloc(1048517))).toBe('TOO_LARGE');
    expect(typeof store(h, 'set', 'k', Buffer.alloc(1048512), { flags: 5 })).toBe('object');
    expect(store(h, 'set', 'k', Buffer.alloc(1048513), { flags: 5 })).toBe('TOO_LARGE');
    expect(stat(h, 'store_too_large')).toBe(2);
  });

  it('a failed store with unlinkOnFailure drops the item it would have replaced; without it, keeps it', () => {
    const { h } = fresh({ maxItemSize: 2048 });
    set(h, 'x', 'a');
    expect(store(h, 'set', 'x', Buffer.alloc(4096), { unlinkOnFailure: true })).toBe('TOO_LARGE');
    expect(get(h, 'x')).toBeUndefined();
    set(h, 'y', 'a');
    for (const mode of ['set', 'add', 'replace', 'append', 'prepend'] as const) {
      expect(store(h, mode, 'y', Buffer.alloc(4096))).toBe('TOO_LARGE');
    }
    expect(val(h, 'y')).toBe('a');
  });

  it('parsed requests drop the old item as memcached does: text set and every meta ms; not text cas, add, replace, append or prepend', () => {
    const { h } = fresh({ maxItemSize: 2048 });
    const big = 'x'.repeat(4096);
    const cases: [string, boolean][] = [
      [`set k 0 0 4096\r\n${big}\r\n`, true],
      [`cas k 0 0 4096 1\r\n${big}\r\n`, false],
      [`add k 0 0 4096\r\n${big}\r\n`, false],
      [`replace k 0 0 4096\r\n${big}\r\n`, false],
      [`append k 0 0 4096\r\n${big}\r\n`, false],
      [`prepend k 0 0 4096\r\n${big}\r\n`, false],
      [`ms k 4096\r\n${big}\r\n`, true],
      [`ms k 4096 ME\r\n${big}\r\n`, true],
      [`ms k 4096 MA\r\n${big}\r\n`, true],
      [`ms k 4096 MR C1\r\n${big}\r\n`, true],
    ];
    for (const [wire, drops] of cases) {
      set(h, 'k', 'a');
      expect(h.store(parsedStore(wire))).toBe('TOO_LARGE');
      expect(get(h, 'k') === undefined, wire.slice(0, 20)).toBe(drops);
    }
  });

  it('an item bigger than the whole memory limit is OUT_OF_MEMORY (the server counts no cmd_set for it)', () => {
    const { h } = fresh({ maxBytes: 64 * 1024, maxItemSize: 1024 * 1024 });
    set(h, 'k', 'small');
    expect(store(h, 'set', 'k', Buffer.alloc(100 * 1024), { unlinkOnFailure: true })).toBe('OUT_OF_MEMORY');
    expect(get(h, 'k')).toBeUndefined();
    set(h, 'j', 'small');
    expect(store(h, 'set', 'j', Buffer.alloc(100 * 1024))).toBe('OUT_OF_MEMORY');
    expect(val(h, 'j')).toBe('small');
    expect(stat(h, 'store_no_memory')).toBe(2);
  });

  it('append that would make an item bigger than the memory limit answers NOT_STORED', () => {
    const { h } = fresh({ maxBytes: 64 * 1024, maxItemSize: 1024 * 1024 });
    set(h, 'k', Buffer.alloc(40 * 1024));
    expect(store(h, 'append', 'k', Buffer.alloc(40 * 1024))).toBe('NOT_STORED');
    expect(get(h, 'k')!.value.length).toBe(40 * 1024);
  });
});

describe('options', () => {
  it('rejects invalid options', () => {
    expect(() => new InMemoryHandler({ maxBytes: 0 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ maxBytes: 64 * 1024 - 1 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ maxBytes: 2 ** 36 + 1 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ maxBytes: 1.5 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ maxItemSize: -1 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ sweepIntervalMs: -5 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ sweepBatch: 0 })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ casStart: 0n })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ casStart: 1n << 64n })).toThrow(RangeError);
    expect(() => new InMemoryHandler({ clock: 5 as unknown as () => number })).toThrow(TypeError);
  });

  it('defaults to memcached -m 64 and -I 1m', () => {
    const h = new InMemoryHandler({ sweepIntervalMs: 0 });
    expect(h.maxBytes).toBe(64 * 1024 * 1024);
    expect(h.maxItemSize).toBe(1024 * 1024);
    expect(h.stats('settings')!.maxbytes).toBe(64 * 1024 * 1024);
    expect(h.stats('settings')!.item_size_max).toBe(1024 * 1024);
    h.close();
  });

  it('every method answers synchronously', () => {
    const { h } = fresh();
    const results: unknown[] = [
      h.store({ mode: 'set', key: b('k'), value: b('1'), flags: 0, exptime: 0 }),
      h.get({ key: b('k') }),
      h.getMany([{ key: b('k') }, { key: b('nope') }]),
      h.arithmetic({ key: b('k'), incr: true, delta: 1n }),
      h.touch({ key: b('k'), exptime: 10 }),
      h.delete({ key: b('k') }),
      h.flush(0),
      h.stats(''),
      h.close(),
    ];
    for (const r of results) expect(r instanceof Promise).toBe(false);
  });
});

describe('delete', () => {
  it('deletes an existing item and misses a missing one', () => {
    const { h } = fresh();
    set(h, 'k', 'x');
    expect(h.delete({ key: b('k') })).toBe('DELETED');
    expect(get(h, 'k')).toBeUndefined();
    expect(h.delete({ key: b('k') })).toBe('NOT_FOUND');
  });

  it('with a CAS deletes on a match only', () => {
    const { h } = fresh();
    const a = set(h, 'k', 'x');
    expect(h.delete({ key: b('k'), compareCas: a.cas + 1n })).toBe('EXISTS');
    expect(get(h, 'k')).toBeDefined();
    expect(h.delete({ key: b('k'), compareCas: a.cas })).toBe('DELETED');
    expect(h.delete({ key: b('k'), compareCas: a.cas })).toBe('NOT_FOUND');
  });

  it('frees the bytes of the item', () => {
    const { h } = fresh();
    set(h, 'k', 'x'.repeat(1000));
    expect(h.bytes).toBeGreaterThan(1000);
    h.delete({ key: b('k') });
    expect(h.bytes).toBe(0);
    expect(h.size).toBe(0);
  });
});

describe('getMany', () => {
  it('answers in command order with hits and misses', () => {
    const { h } = fresh();
    set(h, 'a', '1');
    set(h, 'c', '3');
    const r = h.getMany([{ key: b('a') }, { key: b('b') }, { key: b('c') }]);
    expect(r.map((x) => x?.value.toString())).toEqual(['1', undefined, '3']);
  });
});
