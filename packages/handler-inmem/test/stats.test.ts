import { afterEach, describe, expect, it } from 'vitest';
import type { InMemoryHandler } from '../src/index.js';
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

const GENERAL = [
  'curr_items',
  'total_items',
  'bytes',
  'evictions',
  'evicted_unfetched',
  'expired_unfetched',
  'reclaimed',
  'get_expired',
  'get_flushed',
  'store_too_large',
  'store_no_memory',
  'limit_maxbytes',
];

/** Counter changes caused by `f`. */
function delta(h: InMemoryHandler, f: () => void): Record<string, number> {
  const before = h.stats('')!;
  f();
  const after = h.stats('')!;
  const out: Record<string, number> = {};
  for (const k of Object.keys(after)) {
    const d = Number(after[k]) - Number(before[k]);
    if (d !== 0 && k !== 'bytes') out[k] = d;
  }
  return out;
}

describe('stats', () => {
  it('general stats carry memcached names', () => {
    const { h } = fresh({ maxBytes: 1 << 20 });
    const s = h.stats('')!;
    for (const name of GENERAL) expect(s, name).toHaveProperty(name);
    expect(s.limit_maxbytes).toBe(1 << 20);
  });

  // The command counters (cmd_get, get_hits, ...) are the server's: packages/server/test/counters.test.ts.
  it('the store counts no command counters', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    get(h, 'k');
    h.touch({ key: b('k'), exptime: 10 });
    const s = h.stats('')!;
    for (const name of ['cmd_get', 'cmd_set', 'get_hits', 'get_misses', 'cmd_touch', 'touch_hits', 'cas_hits', 'delete_hits', 'incr_hits'])
      expect(s, name).not.toHaveProperty(name);
  });

  it('stores: total_items and curr_items count the items linked, whatever the outcome', () => {
    const { h } = fresh();
    expect(delta(h, () => set(h, 'k', '5'))).toEqual({ curr_items: 1, total_items: 1 });
    const cas = get(h, 'k')!.cas;
    expect(delta(h, () => store(h, 'set', 'k', '1', { compareCas: 999n }))).toEqual({});
    expect(delta(h, () => store(h, 'set', 'nope', '1', { compareCas: 999n }))).toEqual({});
    expect(delta(h, () => store(h, 'set', 'k', '1', { compareCas: cas }))).toEqual({ total_items: 1 });
    expect(delta(h, () => store(h, 'append', 'nope', '1'))).toEqual({});
    expect(delta(h, () => store(h, 'add', 'k', '1'))).toEqual({});
  });

  it('delete: a hit unlinks the item', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => h.delete({ key: b('k'), compareCas: 1234n }))).toEqual({});
    expect(delta(h, () => h.delete({ key: b('k') }))).toEqual({ curr_items: -1 });
    expect(delta(h, () => h.delete({ key: b('k') }))).toEqual({});
  });

  it('expired items found by a get: get_expired; flushed: get_flushed', () => {
    const { h, clock } = fresh();
    set(h, 'e', 'a', { exptime: 1 });
    clock.advance(2);
    expect(delta(h, () => get(h, 'e'))).toEqual({ get_expired: 1, curr_items: -1 });
    set(h, 's', 'a');
    expect(delta(h, () => h.flush(0))).toEqual({});
    expect(delta(h, () => get(h, 's'))).toEqual({ get_flushed: 1, curr_items: -1 });
  });

  it('bytes and curr_items follow the contents', () => {
    const { h } = fresh();
    set(h, 'ab', 'x'.repeat(10));
    set(h, 'cd', 'y'.repeat(1000));
    expect(stat(h, 'curr_items')).toBe(2);
    expect(stat(h, 'bytes')).toBe(h.itemSize(2, 10) + h.itemSize(2, 1000));
    expect(h.itemSize(2, 1000)).toBeGreaterThan(1000);
    h.delete({ key: b('ab') });
    expect(stat(h, 'bytes')).toBe(h.itemSize(2, 1000));
  });

  it('stats items reports each slab class in use, numbered from 1, with its count and tail age', () => {
    const { h, clock } = fresh();
    expect(h.stats('items')).toEqual({});
    set(h, 'a', 'x');
    clock.advance(7);
    set(h, 'b', 'y');
    set(h, 'c', 'z'.repeat(500));
    const s = h.stats('items')!;
    const classes = [...new Set(Object.keys(s).map((k) => k.split(':')[1]))];
    expect(classes.length).toBe(2);
    const small = classes.find((c) => s[`items:${c}:number`] === 2)!;
    expect(small).toBeDefined();
    expect(s[`items:${small}:age`]).toBe(7);
    expect(s[`items:${small}:evicted`]).toBe(0);
    const total = classes.reduce((n, c) => n + Number(s[`items:${c}:number`]), 0);
    expect(total).toBe(3);
  });

  it('stats slabs reports chunk sizes, pages and chunks per class and the memory in use', () => {
    const { h } = fresh({ maxBytes: 1 << 20 });
    set(h, 'a', 'x');
    set(h, 'b', 'x');
    const s = h.stats('slabs')!;
    const cls = Object.keys(s)
      .find((k) => k.endsWith(':used_chunks'))!
      .split(':')[0];
    expect(s[`${cls}:used_chunks`]).toBe(2);
    expect(s[`${cls}:total_pages`]).toBe(1);
    expect(s[`${cls}:total_chunks`]).toBe(Number(s[`${cls}:chunks_per_page`]));
    expect(Number(s[`${cls}:chunk_size`]) * Number(s[`${cls}:chunks_per_page`])).toBeLessThanOrEqual(h.pageSize);
    expect(s.active_slabs).toBe(1);
    expect(s.total_malloced).toBe(h.memoryUsed);
  });

  it('stats settings shows the limits; unknown groups are undefined', () => {
    const { h } = fresh({ maxBytes: 5 << 20, maxItemSize: 2 << 20 });
    const s = h.stats('settings')!;
    expect(s.maxbytes).toBe(5 << 20);
    expect(s.item_size_max).toBe(2 << 20);
    expect(s.evictions).toBe('on');
    expect(h.stats('bogus')).toBeUndefined();
    expect(h.stats('detail')).toBeUndefined();
  });

  it('stats reset zeroes the counters but not the contents', () => {
    const { h, clock } = fresh();
    set(h, 'a', 'x');
    set(h, 'e', 'x', { exptime: 1 });
    clock.advance(2);
    get(h, 'e');
    expect(stat(h, 'get_expired')).toBe(1);
    expect(h.stats('reset')).toEqual({});
    expect(stat(h, 'get_expired')).toBe(0);
    expect(stat(h, 'total_items')).toBe(0);
    expect(stat(h, 'curr_items')).toBe(1);
    expect(stat(h, 'bytes')).toBeGreaterThan(0);
  });
});
