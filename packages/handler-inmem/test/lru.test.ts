import { afterEach, describe, expect, it } from 'vitest';
import { ITEM_UPDATE_INTERVAL, InMemoryHandler, itemFootprint } from '../src/index.js';
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

/** A cap that holds exactly `n` items with 2-byte keys and `vlen`-byte values. */
function capFor(n: number, vlen: number): number {
  return n * itemFootprint(2, vlen);
}

const keysPresent = (h: InMemoryHandler, keys: string[]) => keys.filter((k) => get(h, k) !== undefined);

describe('LRU eviction', () => {
  it('charges each item its footprint and never exceeds maxBytes', () => {
    const { h } = fresh({ maxBytes: capFor(3, 100) });
    set(h, 'k0', 'x'.repeat(100));
    expect(h.bytes).toBe(itemFootprint(2, 100));
    for (let i = 1; i < 10; i++) {
      set(h, `k${i}`, 'x'.repeat(100));
      expect(h.bytes).toBeLessThanOrEqual(h.maxBytes);
    }
    expect(h.size).toBe(3);
    expect(h.bytes).toBe(3 * itemFootprint(2, 100));
  });

  it('evicts the least recently stored item first', () => {
    const { h } = fresh({ maxBytes: capFor(3, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    set(h, 'k4', '0123456789');
    expect(h.size).toBe(3);
    const present = ['k2', 'k3', 'k4'];
    for (const k of present) expect(get(h, k), k).toBeDefined();
    expect(get(h, 'k1')).toBeUndefined();
    expect(stat(h, 'evictions')).toBe(1);
  });

  it('evicts as many items as the new one needs', () => {
    const { h } = fresh({ maxBytes: capFor(4, 10) });
    for (const k of ['k1', 'k2', 'k3', 'k4']) set(h, k, '0123456789');
    // Needs the room of three small items.
    const bigLen = capFor(3, 10) - itemFootprint(2, 0) - 600;
    set(h, 'kb', Buffer.alloc(bigLen));
    expect(keysPresent(h, ['k1', 'k2', 'k3', 'k4'])).toEqual(['k4']);
    expect(stat(h, 'evictions')).toBe(3);
    expect(h.bytes).toBeLessThanOrEqual(h.maxBytes);
  });

  it('a fetch does not relink an item bumped less than 60 s ago (ITEM_UPDATE_INTERVAL)', () => {
    const { h, clock } = fresh({ maxBytes: capFor(3, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    clock.advance(ITEM_UPDATE_INTERVAL);
    get(h, 'k1'); // 60 s: not more than the interval, no relink
    set(h, 'k4', '0123456789');
    expect(get(h, 'k1')).toBeUndefined();
    expect(keysPresent(h, ['k2', 'k3', 'k4'])).toEqual(['k2', 'k3', 'k4']);
  });

  it('a fetch more than 60 s after the last bump moves the item to the head', () => {
    const { h, clock } = fresh({ maxBytes: capFor(3, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    clock.advance(ITEM_UPDATE_INTERVAL + 1);
    expect(get(h, 'k1')).toBeDefined();
    set(h, 'k4', '0123456789');
    expect(get(h, 'k2')).toBeUndefined();
    expect(get(h, 'k1')).toBeDefined();
    expect(h.stats('items')!['items:1:moves_within_lru']).toBe(1);
  });

  it('a no-bump fetch (meta u, me) leaves the LRU and the fetched marker alone', () => {
    const { h, clock } = fresh({ maxBytes: capFor(3, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    clock.advance(ITEM_UPDATE_INTERVAL + 1);
    expect(h.get({ key: b('k1'), noBump: true })!.fetched).toBe(false);
    expect(h.get({ key: b('k1'), noBump: true })!.fetched).toBe(false);
    set(h, 'k4', '0123456789');
    expect(h.get({ key: b('k1'), noBump: true })).toBeUndefined();
  });

  it('storing over an existing key moves it to the head', () => {
    const { h } = fresh({ maxBytes: capFor(3, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    set(h, 'k1', '9876543210');
    set(h, 'k4', '0123456789');
    expect(keysPresent(h, ['k1', 'k2', 'k3', 'k4'])).toEqual(['k1', 'k3', 'k4']);
  });

  it('counts evicted_unfetched for items never fetched, and evicted_nonzero/evicted_time', () => {
    const { h, clock } = fresh({ maxBytes: capFor(2, 10) });
    set(h, 'k1', '0123456789', { exptime: 1000 });
    set(h, 'k2', '0123456789');
    get(h, 'k2');
    clock.advance(5);
    set(h, 'k3', '0123456789'); // evicts k1: unfetched, with an exptime
    set(h, 'k4', '0123456789'); // evicts k2: fetched
    expect(stat(h, 'evictions')).toBe(2);
    expect(stat(h, 'evicted_unfetched')).toBe(1);
    const items = h.stats('items')!;
    expect(items['items:1:evicted']).toBe(2);
    expect(items['items:1:evicted_nonzero']).toBe(1);
    expect(items['items:1:evicted_time']).toBe(5);
  });

  it('reclaims an expired tail item rather than counting an eviction', () => {
    const { h, clock } = fresh({ maxBytes: capFor(2, 10) });
    set(h, 'k1', '0123456789', { exptime: 5 });
    set(h, 'k2', '0123456789');
    clock.advance(10);
    set(h, 'k3', '0123456789');
    expect(stat(h, 'evictions')).toBe(0);
    expect(stat(h, 'reclaimed')).toBe(1);
    expect(stat(h, 'expired_unfetched')).toBe(1);
  });

  it('an item that needs the whole cache evicts everything else', () => {
    const { h } = fresh({ maxBytes: capFor(4, 10) });
    for (const k of ['k1', 'k2', 'k3']) set(h, k, '0123456789');
    const exact = capFor(4, 10) - itemFootprint(2, 0) + 0;
    // Largest value whose footprint still fits the cap.
    let len = exact;
    while (itemFootprint(2, len) > h.maxBytes) len--;
    expect(typeof store(h, 'set', 'kb', Buffer.alloc(len))).toBe('object');
    expect(h.size).toBe(1);
    expect(store(h, 'set', 'kc', Buffer.alloc(len + 8))).toBe('OUT_OF_MEMORY');
  });
});
