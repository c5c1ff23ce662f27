import { afterEach, describe, expect, it } from 'vitest';
import { ITEM_UPDATE_INTERVAL, InMemoryHandler } from '../src/index.js';
import { EMPTY_TOP } from '../src/state.js';
import { b, get, makeHandler, set, stat, store } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

const MiB = 1024 * 1024;
const VALUE = 'v'.repeat(1000);
const key = (i: number) => `k${String(i).padStart(5, '0')}`;
const present = (h: InMemoryHandler, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (h.get({ key: b(key(i)), noBump: true }) !== undefined) out.push(i);
  return out;
};

/** Store k00000, k00001, ... until the first eviction; returns how many fit. */
function fillUntilEviction(h: InMemoryHandler): number {
  let i = 0;
  while (stat(h, 'evictions') === 0) set(h, key(i++), VALUE);
  return i - 1;
}

/** How many 1000-byte items a 1 MiB handler holds. */
function capacity(): number {
  const h = new InMemoryHandler({ maxBytes: MiB, sweepIntervalMs: 0 });
  const n = fillUntilEviction(h);
  h.close();
  return n;
}
const FIT = capacity();

describe('memory limit and LRU eviction', () => {
  it('never charges more than maxBytes; bytes is the sum of the items held', () => {
    const { h } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 3000; i++) {
      set(h, key(i), VALUE);
      expect(h.memoryUsed).toBeLessThanOrEqual(h.maxBytes);
    }
    expect(h.size).toBeLessThan(3000);
    expect(h.size).toBe(FIT);
    expect(h.bytes).toBe(h.size * h.itemSize(6, 1000));
    expect(stat(h, 'evictions')).toBe(3000 - h.size);
  });

  it('evicts the least recently stored items first', () => {
    const { h } = fresh({ maxBytes: MiB });
    const fit = fillUntilEviction(h);
    const total = fit + 300;
    for (let i = fit + 1; i < total; i++) set(h, key(i), VALUE);
    const left = present(h, total);
    // What is left is exactly the most recent items.
    expect(left.length).toBe(h.size);
    expect(left[0]).toBe(total - left.length);
    expect(left[left.length - 1]).toBe(total - 1);
    expect(stat(h, 'evictions')).toBe(total - left.length);
  });

  it('a fetch does not relink an item bumped less than 60 s ago (ITEM_UPDATE_INTERVAL)', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 100; i++) set(h, key(i), VALUE);
    clock.advance(ITEM_UPDATE_INTERVAL);
    expect(get(h, key(0))).toBeDefined();
    for (let i = 100; i < 3000; i++) set(h, key(i), VALUE);
    expect(present(h, 100)).toEqual([]);
  });

  it('a fetch more than 60 s after the last bump moves the item to the LRU head', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 100; i++) set(h, key(i), VALUE);
    clock.advance(ITEM_UPDATE_INTERVAL + 1);
    expect(get(h, key(0))).toBeDefined();
    // 99 evictions: keys 1..99 go, key 0 (bumped behind them) stays.
    for (let i = 100; i < FIT + 99; i++) set(h, key(i), VALUE);
    expect(stat(h, 'evictions')).toBeGreaterThan(0);
    expect(present(h, 100)).toEqual([0]);
    const items = h.stats('items')!;
    expect(Object.keys(items).some((k) => k.endsWith(':moves_within_lru') && items[k] === 1)).toBe(true);
  });

  it('a no-bump fetch (meta u, me) leaves the LRU position and the fetched marker alone', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 100; i++) set(h, key(i), VALUE);
    clock.advance(ITEM_UPDATE_INTERVAL + 1);
    expect(h.get({ key: b(key(0)), noBump: true })!.fetched).toBe(false);
    expect(h.get({ key: b(key(0)), noBump: true })!.fetched).toBe(false);
    for (let i = 100; i < FIT + 100; i++) set(h, key(i), VALUE);
    expect(present(h, 100)).toEqual([]);
  });

  it('storing over an existing key moves it to the head', () => {
    const { h } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 100; i++) set(h, key(i), VALUE);
    set(h, key(0), VALUE);
    for (let i = 100; i < FIT + 99; i++) set(h, key(i), VALUE);
    expect(present(h, 100)).toEqual([0]);
  });

  it('counts evicted_unfetched for items never fetched, and evicted_nonzero/evicted_time per class', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    set(h, key(0), VALUE, { exptime: 10_000 });
    set(h, key(1), VALUE);
    get(h, key(1));
    clock.advance(5);
    let i = 2;
    while (present(h, 2).length > 0) set(h, key(i++), VALUE);
    expect(stat(h, 'evictions')).toBe(2);
    expect(stat(h, 'evicted_unfetched')).toBe(1);
    const items = h.stats('items')!;
    const cls = Object.keys(items)
      .find((k) => k.endsWith(':evicted') && items[k] === 2)!
      .split(':')[1];
    expect(items[`items:${cls}:evicted_nonzero`]).toBe(1);
    expect(items[`items:${cls}:evicted_time`]).toBe(5);
  });

  it('reclaims an expired tail item rather than counting an eviction', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    set(h, 'dying', VALUE, { exptime: 5 });
    clock.advance(10);
    for (let i = 0; i < FIT; i++) set(h, key(i), VALUE);
    expect(stat(h, 'reclaimed')).toBe(1);
    expect(stat(h, 'expired_unfetched')).toBe(1);
    expect(stat(h, 'evictions')).toBe(0);
    expect(stat(h, 'get_expired')).toBe(0);
  });

  it('moves pages to a size class whose items are evicted much younger (slab rebalancing)', () => {
    const { h, clock } = fresh({ maxBytes: MiB });
    // Small items take every page.
    for (let i = 0; i < 20_000; i++) set(h, `s${i}`, 'x');
    const smallBefore = h.size;
    clock.advance(10 * ITEM_UPDATE_INTERVAL);
    // Now only 1000-byte items arrive: their class must get pages from the old small items.
    for (let i = 0; i < 2000; i++) set(h, key(i), VALUE);
    expect(stat(h, 'slabs_moved')).toBeGreaterThan(0);
    expect(present(h, 2000).length).toBeGreaterThan(300);
    expect(h.size).toBeLessThan(smallBefore);
    expect(h.memoryUsed).toBeLessThanOrEqual(h.maxBytes);
  });

  it('items larger than a slab chunk live outside the slabs and evict the oldest memory', () => {
    const { h } = fresh({ maxBytes: MiB });
    for (let i = 0; i < FIT; i++) set(h, key(i), VALUE);
    const big = Buffer.alloc(200_000, 0x62);
    for (let i = 0; i < 4; i++) set(h, `big${i}`, big);
    for (let i = 0; i < 4; i++) expect(get(h, `big${i}`)!.value.equals(big)).toBe(true);
    expect(h.memoryUsed).toBeLessThanOrEqual(h.maxBytes);
    // The oldest small items made room.
    expect(get(h, key(0))).toBeUndefined();
    expect(get(h, key(FIT - 1))).toBeDefined();
  });

  it('an item that needs more than the whole limit is OUT_OF_MEMORY; one that fits evicts everything else', () => {
    const { h } = fresh({ maxBytes: MiB, maxItemSize: 2 * MiB });
    for (let i = 0; i < 100; i++) set(h, key(i), VALUE);
    expect(store(h, 'set', 'huge', Buffer.alloc(MiB))).toBe('OUT_OF_MEMORY');
    expect(typeof store(h, 'set', 'most', Buffer.alloc(MiB - 64 * 1024))).toBe('object');
    expect(h.memoryUsed).toBeLessThanOrEqual(h.maxBytes);
    expect(get(h, 'most')!.value.length).toBe(MiB - 64 * 1024);
  });
});

describe('bookkeeping', () => {
  it('a page emptied again and again is listed once (no growth without memory pressure)', () => {
    const { h } = fresh({ maxBytes: MiB });
    for (let i = 0; i < 100_000; i++) {
      set(h, 'k', 'v');
      h.delete({ key: b('k') });
    }
    // The stack of empty pages, in the store's header.
    const header = (h as unknown as { header: { i32: Int32Array } }).header;
    expect(header.i32[EMPTY_TOP]).toBeLessThanOrEqual(1);
  });
});
