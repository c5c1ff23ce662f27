import { afterEach, describe, expect, it } from 'vitest';
import type { GetCommand, ItemView } from '@cleave/protocol';
import { ITEM_UPDATE_INTERVAL, type InMemoryHandler } from '../src/index.js';
import { asItem, b, get, makeHandler, parsedGet, parsedStore, set, stat, store } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

/** A meta get (mg): it takes part in the recache token. */
function mg(h: InMemoryHandler, key: string, extra: Omit<GetCommand, 'key'> = {}): ItemView | undefined {
  return h.get({ key: b(key), tokens: true, ...extra }) as ItemView | undefined;
}

/** The W/Z/X letters memcached would print for this fetch result. */
function flagsOf(it: { win?: boolean; tokenSent?: boolean; stale?: boolean } | undefined): string {
  if (!it) return 'EN';
  return (it.tokenSent ? 'Z' : '') + (it.stale ? 'X' : '') + (it.win ? 'W' : '');
}

describe('fetched marker and last access (meta h, l)', () => {
  it('reports the state from before this fetch', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v');
    const stored = clock.sec;
    clock.advance(5);
    const first = get(h, 'k')!;
    expect(first.fetched).toBe(false);
    expect(first.lastAccess).toBe(stored);
    const second = get(h, 'k')!;
    expect(second.fetched).toBe(true);
    // No relink within 60 s: memcached keeps it->time until the next bump.
    expect(second.lastAccess).toBe(stored);
  });

  it('lastAccess moves when the item is bumped, more than 60 s after the previous bump', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v');
    const stored = clock.sec;
    clock.advance(ITEM_UPDATE_INTERVAL + 1);
    expect(get(h, 'k')!.lastAccess).toBe(stored);
    const bumped = clock.sec;
    clock.advance(3);
    expect(get(h, 'k')!.lastAccess).toBe(bumped);
  });

  it('each fetch returns its own snapshot; an earlier one keeps the values it had', () => {
    const { h } = fresh();
    set(h, 'k', 'v');
    const a = get(h, 'k')!;
    const c = get(h, 'k')!;
    expect(a).not.toBe(c);
    expect(a.fetched).toBe(false);
    expect(c.fetched).toBe(true);
  });
});

describe('meta invalidation (md I, ms I)', () => {
  it('md I marks the item stale with a new CAS; the first fetch wins, later ones see the token sent', () => {
    const { h } = fresh();
    const a = set(h, 'k', 'q');
    expect(h.delete({ key: b('k'), invalidate: true })).toBe('DELETED');
    const w = mg(h, 'k')!;
    expect(w.value.toString()).toBe('q');
    expect(w.cas).toBeGreaterThan(a.cas);
    // memcached 1.6.18: "VA 1 c2 t29 X W" then "VA 1 c2 t29 Z X".
    expect(flagsOf(w)).toBe('XW');
    expect(flagsOf(mg(h, 'k'))).toBe('ZX');
    expect(flagsOf(mg(h, 'k'))).toBe('ZX');
  });

  it('md I keeps the item (memcached counts only real deletes: the server counts no delete_hits for it)', () => {
    const { h } = fresh();
    set(h, 'k', 'q');
    expect(h.delete({ key: b('k'), invalidate: true })).toBe('DELETED');
    expect(stat(h, 'curr_items')).toBe(1);
    h.delete({ key: b('k') });
    expect(stat(h, 'curr_items')).toBe(0);
  });

  it('md I with T sets the new exptime; without T keeps it', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'q', { exptime: 100 });
    h.delete({ key: b('k'), invalidate: true, exptime: 30 });
    expect(mg(h, 'k')!.exptime).toBe(clock.sec + 30);
    h.delete({ key: b('k'), invalidate: true });
    expect(mg(h, 'k')!.exptime).toBe(clock.sec + 30);
  });

  it('me (debug) reads a stale item without taking its token', () => {
    const { h } = fresh();
    set(h, 'k', 'q');
    h.delete({ key: b('k'), invalidate: true });
    const me = h.get(parsedGet('me k\r\n'))!;
    expect(me.stale).toBe(true);
    expect(me.win).toBe(false);
    expect(flagsOf(mg(h, 'k'))).toBe('XW');
  });

  it('md I again clears the token so the next fetcher wins again', () => {
    const { h } = fresh();
    set(h, 'k', 'q');
    h.delete({ key: b('k'), invalidate: true });
    expect(flagsOf(mg(h, 'k'))).toBe('XW');
    h.delete({ key: b('k'), invalidate: true });
    // memcached 1.6.18: "HD c3 t29 X W"
    expect(flagsOf(mg(h, 'k'))).toBe('XW');
    expect(flagsOf(mg(h, 'k'))).toBe('ZX');
  });

  it('a store clears the stale and token state', () => {
    const { h } = fresh();
    set(h, 'k', 'q');
    h.delete({ key: b('k'), invalidate: true });
    mg(h, 'k');
    set(h, 'k', 'fresh');
    expect(flagsOf(mg(h, 'k'))).toBe('');
  });

  it('ms I with a CAS lower than the item stores but marks stale, keeping the TTL (memcached: HD, then X W)', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'a');
    const c2 = set(h, 'k', 'b', { exptime: 100 });
    const r = asItem(store(h, 'set', 'k', 'z', { compareCas: c2.cas - 1n, invalidate: true, exptime: 0 }));
    expect(r.cas).toBeGreaterThan(c2.cas);
    expect(r.stale).toBe(true);
    const w = mg(h, 'k')!;
    expect(w.value.toString()).toBe('z');
    expect(w.exptime).toBe(clock.sec + 100);
    expect(flagsOf(w)).toBe('XW');
    expect(flagsOf(mg(h, 'k'))).toBe('ZX');
  });

  it('ms I over a stale item whose token was sent keeps the token sent', () => {
    const { h } = fresh();
    const c = set(h, 'k', 'a');
    h.delete({ key: b('k'), invalidate: true });
    mg(h, 'k'); // wins
    const stale = mg(h, 'k')!;
    asItem(store(h, 'set', 'k', 'y', { compareCas: c.cas, invalidate: true }));
    expect(flagsOf(mg(h, 'k'))).toBe('ZX');
    expect(stale.cas).toBeGreaterThan(c.cas);
  });

  it('ms I with an equal CAS is a plain match (fresh item); with a higher CAS is EXISTS', () => {
    const { h } = fresh();
    const c = set(h, 'k', 'a');
    expect(store(h, 'set', 'k', 'b', { compareCas: c.cas + 10n, invalidate: true })).toBe('EXISTS');
    const r = asItem(store(h, 'set', 'k', 'b', { compareCas: c.cas, invalidate: true }));
    expect(r.stale).toBe(false);
  });

  it('without I a lower CAS is EXISTS', () => {
    const { h } = fresh();
    set(h, 'k', 'a');
    const c = set(h, 'k', 'b');
    expect(store(h, 'set', 'k', 'z', { compareCas: c.cas - 1n })).toBe('EXISTS');
  });

  it('md with a CAS mismatch is EXISTS and leaves the item alone', () => {
    const { h } = fresh();
    const c = set(h, 'k', 'a');
    expect(h.delete({ key: b('k'), compareCas: c.cas + 1n, invalidate: true })).toBe('EXISTS');
    expect(mg(h, 'k')!.stale).toBe(false);
  });
});

describe('vivify (mg N)', () => {
  it('a miss creates an empty item and wins; the next fetcher sees the token sent', () => {
    const { h, clock } = fresh();
    const w = mg(h, 'v', { vivify: 30 })!;
    expect(w).toBeDefined();
    expect(w.value.length).toBe(0);
    expect(w.flags).toBe(0);
    expect(w.exptime).toBe(clock.sec + 30);
    expect(w.fetched).toBe(false);
    expect(flagsOf(w)).toBe('W');
    // memcached 1.6.18: "VA 0 c6 t30 h1 l0 Z"
    const z = mg(h, 'v', { vivify: 60 })!;
    expect(flagsOf(z)).toBe('Z');
    expect(z.fetched).toBe(true);
    expect(z.exptime).toBe(clock.sec + 30);
    expect(z.cas).toBe(w.cas);
  });

  it('counts the vivified item as a new item (the server counts the fetch as a hit: it returns an item)', () => {
    const { h } = fresh();
    expect(mg(h, 'v', { vivify: 30 })?.created).toBe(true);
    expect(stat(h, 'curr_items')).toBe(1);
    expect(stat(h, 'total_items')).toBe(1);
  });

  it("with touch too, a created item takes vivify's exptime and an existing one touch's", () => {
    const { h, clock } = fresh();
    const created = mg(h, 'v', { vivify: 30, touch: 100 })!;
    expect(created.created).toBe(true);
    expect(created.exptime).toBe(clock.sec + 30);
    const touched = mg(h, 'v', { vivify: 30, touch: 100 })!;
    expect(touched.created).toBe(false);
    expect(touched.previousExptime).toBe(clock.sec + 30);
    expect(touched.exptime).toBe(clock.sec + 100);
  });

  it('a hit ignores N', () => {
    const { h } = fresh();
    set(h, 'k', 'v');
    expect(flagsOf(mg(h, 'k', { vivify: 30 }))).toBe('');
  });

  it('a store replacing the vivified item clears the token', () => {
    const { h } = fresh();
    mg(h, 'v', { vivify: 30 });
    set(h, 'v', 'real');
    expect(flagsOf(mg(h, 'v', { vivify: 30 }))).toBe('');
  });
});

describe('recache (mg R)', () => {
  it('wins when the remaining TTL is below the threshold, once; later fetches see Z', () => {
    const { h } = fresh();
    set(h, 'v', 'q', { exptime: 100 });
    // memcached 1.6.18: R30 with t100 → no W; R200 → W; then Z.
    expect(flagsOf(mg(h, 'v', { recache: 30 }))).toBe('');
    expect(flagsOf(mg(h, 'v', { recache: 200 }))).toBe('W');
    expect(flagsOf(mg(h, 'v', { recache: 200 }))).toBe('Z');
    expect(flagsOf(mg(h, 'v'))).toBe('Z');
  });

  it('compares strictly: a TTL equal to the threshold does not win', () => {
    const { h, clock } = fresh();
    set(h, 'v', 'q', { exptime: 100 });
    clock.advance(50);
    expect(flagsOf(mg(h, 'v', { recache: 50 }))).toBe('');
    expect(flagsOf(mg(h, 'v', { recache: 51 }))).toBe('W');
  });

  it('never wins on an item without exptime', () => {
    const { h } = fresh();
    set(h, 'v', 'q');
    expect(flagsOf(mg(h, 'v', { recache: 1_000_000 }))).toBe('');
  });
});

describe('reply refinements (previousExptime, created, keyBinary) and ma T', () => {
  it('a fetch with touch reports the exptime it replaced; a plain fetch reports none', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 100 });
    const r = mg(h, 'k', { touch: 300 })!;
    expect(r.previousExptime).toBe(clock.sec + 100);
    expect(r.exptime).toBe(clock.sec + 300);
    expect(mg(h, 'k')!.previousExptime).toBeUndefined();
  });

  it('vivify and counters created from initial are marked created, only on that answer', () => {
    const { h } = fresh();
    expect(mg(h, 'v', { vivify: 30 })!.created).toBe(true);
    expect(mg(h, 'v', { vivify: 30 })!.created).toBe(false);
    expect(asItem(h.arithmetic({ key: b('n'), incr: true, delta: 1n, initial: 5n })).created).toBe(true);
    expect(asItem(h.arithmetic({ key: b('n'), incr: true, delta: 1n, initial: 5n })).created).toBe(false);
  });

  it('ma T sets the counter exptime along with the update and reports the old one', () => {
    const { h, clock } = fresh();
    set(h, 'n', '9', { exptime: 100 });
    const r = asItem(h.arithmetic({ key: b('n'), incr: true, delta: 1n, touch: 500 }));
    expect(r.value.toString()).toBe('10');
    expect(r.exptime).toBe(clock.sec + 500);
    expect(r.previousExptime).toBe(clock.sec + 100);
    expect(mg(h, 'n')!.exptime).toBe(clock.sec + 500);
    const r2 = asItem(h.arithmetic({ key: b('n'), incr: false, delta: 1n, touch: 0 }));
    expect(r2.exptime).toBe(0);
    expect(mg(h, 'n')!.exptime).toBe(0);
  });

  it('remembers a key stored through meta with b (base64) and reports it on every later read', () => {
    const { h } = fresh();
    // ms/mg with b: the keys are base64 ("bin", "viv").
    expect(asItem(h.store(parsedStore('ms Ymlu 1 b\r\nx\r\n'))).keyBinary).toBe(true);
    set(h, 'txt', 'x');
    expect(mg(h, 'bin')!.keyBinary).toBe(true);
    expect(mg(h, 'txt')!.keyBinary).toBe(false);
    expect(h.get(parsedGet('mg dml2 N10 b\r\n'))!.keyBinary).toBe(true);
    expect(mg(h, 'viv')!.keyBinary).toBe(true);
    set(h, 'bin', 'y');
    expect(mg(h, 'bin')!.keyBinary).toBe(false);
  });
});
