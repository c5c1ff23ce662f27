import { afterEach, describe, expect, it } from 'vitest';
import type { InMemoryHandler } from '../src/index.js';
import { b, get, makeHandler, parsedGet, set, stat, store } from './helpers.js';

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
  'get_hits',
  'get_misses',
  'get_expired',
  'get_flushed',
  'cmd_get',
  'cmd_set',
  'cmd_flush',
  'cmd_touch',
  'touch_hits',
  'touch_misses',
  'delete_hits',
  'delete_misses',
  'incr_hits',
  'incr_misses',
  'decr_hits',
  'decr_misses',
  'cas_hits',
  'cas_misses',
  'cas_badval',
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

  // Each expectation is what memcached 1.6.18 changed for the same command (probed with stats before/after).
  it('get hit/miss: cmd_get with get_hits/get_misses', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => get(h, 'k'))).toEqual({ cmd_get: 1, get_hits: 1 });
    expect(delta(h, () => get(h, 'nope'))).toEqual({ cmd_get: 1, get_misses: 1 });
  });

  it('gat hit/miss: cmd_touch with touch_hits/touch_misses, no cmd_get', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => h.get({ key: b('k'), touch: 100 }))).toEqual({ cmd_touch: 1, touch_hits: 1 });
    expect(delta(h, () => h.get({ key: b('nope'), touch: 100 }))).toEqual({ cmd_touch: 1, touch_misses: 1 });
  });

  it('meta mg with T: a hit counts as a touch, a miss as a get miss', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    const mg = (key: string) => parsedGet(`mg ${key} T30\r\n`);
    expect(delta(h, () => h.get(mg('k')))).toEqual({ cmd_touch: 1, touch_hits: 1 });
    expect(delta(h, () => h.get(mg('nope')))).toEqual({ cmd_get: 1, get_misses: 1 });
  });

  it('mg u counts a hit; me counts nothing', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => h.get({ key: b('k'), noBump: true }))).toEqual({ cmd_get: 1, get_hits: 1 });
    expect(delta(h, () => h.get(parsedGet('me k\r\n')))).toEqual({});
    expect(delta(h, () => h.get(parsedGet('me nope\r\n')))).toEqual({});
  });

  it('touch: cmd_touch with touch_hits/touch_misses', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => h.touch({ key: b('k'), exptime: 10 }))).toEqual({ cmd_touch: 1, touch_hits: 1 });
    expect(delta(h, () => h.touch({ key: b('nope'), exptime: 10 }))).toEqual({ cmd_touch: 1, touch_misses: 1 });
  });

  it('stores: cmd_set for every store, cas_* for CAS stores, total_items/curr_items for links', () => {
    const { h } = fresh();
    expect(delta(h, () => set(h, 'k', '5'))).toEqual({ cmd_set: 1, curr_items: 1, total_items: 1 });
    const cas = get(h, 'k')!.cas;
    expect(delta(h, () => store(h, 'set', 'k', '1', { compareCas: 999n }))).toEqual({ cmd_set: 1, cas_badval: 1 });
    expect(delta(h, () => store(h, 'set', 'nope', '1', { compareCas: 999n }))).toEqual({ cmd_set: 1, cas_misses: 1 });
    expect(delta(h, () => store(h, 'set', 'k', '1', { compareCas: cas }))).toEqual({ cmd_set: 1, cas_hits: 1, total_items: 1 });
    expect(delta(h, () => store(h, 'set', 'k', '1', { compareCas: 0n }))).toEqual({ cmd_set: 1, cas_badval: 1 });
    expect(delta(h, () => store(h, 'append', 'nope', '1'))).toEqual({ cmd_set: 1 });
    expect(delta(h, () => store(h, 'add', 'k', '1'))).toEqual({ cmd_set: 1 });
  });

  it('delete: delete_hits/delete_misses; a CAS mismatch is a miss', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    expect(delta(h, () => h.delete({ key: b('k'), compareCas: 1234n }))).toEqual({ delete_misses: 1 });
    expect(delta(h, () => h.delete({ key: b('k') }))).toEqual({ delete_hits: 1, curr_items: -1 });
    expect(delta(h, () => h.delete({ key: b('k') }))).toEqual({ delete_misses: 1 });
  });

  it('expired items found by a get: get_expired and get_misses; flushed: get_flushed', () => {
    const { h, clock } = fresh();
    set(h, 'e', 'a', { exptime: 1 });
    clock.advance(2);
    expect(delta(h, () => get(h, 'e'))).toEqual({ cmd_get: 1, get_misses: 1, get_expired: 1, curr_items: -1 });
    set(h, 's', 'a');
    expect(delta(h, () => h.flush(0))).toEqual({ cmd_flush: 1 });
    expect(delta(h, () => get(h, 's'))).toEqual({ cmd_get: 1, get_misses: 1, get_flushed: 1, curr_items: -1 });
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
    const { h } = fresh();
    set(h, 'a', 'x');
    get(h, 'a');
    get(h, 'b');
    expect(h.stats('reset')).toEqual({});
    expect(stat(h, 'get_hits')).toBe(0);
    expect(stat(h, 'get_misses')).toBe(0);
    expect(stat(h, 'cmd_set')).toBe(0);
    expect(stat(h, 'curr_items')).toBe(1);
    expect(stat(h, 'bytes')).toBeGreaterThan(0);
  });
});
