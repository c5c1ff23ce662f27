import { afterEach, describe, expect, it } from 'vitest';
import { type InMemoryHandler, REALTIME_MAXDELTA, absoluteExptime } from '../src/index.js';
import { b, get, makeHandler, set, stat, store, val } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

describe('absoluteExptime', () => {
  const now = 1_700_000_000;
  it('maps memcached wire exptimes to absolute Unix seconds', () => {
    expect(absoluteExptime(0, now)).toBe(0);
    expect(absoluteExptime(1, now)).toBe(now + 1);
    expect(absoluteExptime(REALTIME_MAXDELTA, now)).toBe(now + 2592000);
    expect(absoluteExptime(REALTIME_MAXDELTA + 1, now)).toBe(2592001);
    expect(absoluteExptime(now + 100, now)).toBe(now + 100);
    expect(absoluteExptime(-1, now)).toBeLessThanOrEqual(now);
    expect(absoluteExptime(-1, now)).toBeGreaterThan(0);
  });
});

describe('expiry', () => {
  it('exptime 0 never expires', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 0 });
    clock.advance(10 * 365 * 86400);
    expect(val(h, 'k')).toBe('v');
    expect(get(h, 'k')!.exptime).toBe(0);
  });

  it('a relative exptime expires that many seconds later, not before', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 10 });
    expect(get(h, 'k')!.exptime).toBe(clock.sec + 10);
    clock.advance(9.999);
    expect(val(h, 'k')).toBe('v');
    clock.ms += 1;
    expect(get(h, 'k')).toBeUndefined();
  });

  it('30 days is still relative; one second more is an absolute time (1970: already expired)', () => {
    const { h, clock } = fresh();
    set(h, 'rel', 'v', { exptime: 2592000 });
    set(h, 'abs', 'v', { exptime: 2592001 });
    expect(get(h, 'rel')!.exptime).toBe(clock.sec + 2592000);
    expect(get(h, 'abs')).toBeUndefined();
    clock.advance(2592000 - 1);
    expect(val(h, 'rel')).toBe('v');
    clock.advance(1);
    expect(get(h, 'rel')).toBeUndefined();
  });

  it('an absolute exptime in the future expires at that time', () => {
    const { h, clock } = fresh();
    const at = clock.sec + 100;
    set(h, 'k', 'v', { exptime: at });
    expect(get(h, 'k')!.exptime).toBe(at);
    clock.advance(99);
    expect(val(h, 'k')).toBe('v');
    clock.advance(1);
    expect(get(h, 'k')).toBeUndefined();
  });

  it('an absolute exptime of now or in the past stores an invisible item', () => {
    const { h, clock } = fresh();
    expect(typeof store(h, 'set', 'a', 'v', { exptime: clock.sec })).toBe('object');
    expect(typeof store(h, 'set', 'b', 'v', { exptime: clock.sec - 1000 })).toBe('object');
    expect(get(h, 'a')).toBeUndefined();
    expect(get(h, 'b')).toBeUndefined();
  });

  it('a negative exptime stores (STORED, counted) then the item is invisible and reclaimed at once, as memcached', () => {
    const { h } = fresh();
    set(h, 'k', 'old');
    const r = store(h, 'set', 'k', 'v', { exptime: -1 });
    expect(typeof r).toBe('object');
    // memcached 1.6.18: cmd_set 1, total_items 1, curr_items 0, reclaimed 1, expired_unfetched 1, then get misses.
    expect(h.size).toBe(0);
    expect(h.bytes).toBe(0);
    expect(stat(h, 'total_items')).toBe(2);
    expect(stat(h, 'reclaimed')).toBe(1);
    expect(stat(h, 'expired_unfetched')).toBe(1);
    expect(get(h, 'k')).toBeUndefined();
  });

  it('an expired item is reclaimed lazily on access and counted as get_expired', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 1 });
    const bytes = h.bytes;
    expect(bytes).toBeGreaterThan(0);
    clock.advance(1);
    expect(h.size).toBe(1);
    expect(get(h, 'k')).toBeUndefined();
    expect(h.size).toBe(0);
    expect(h.bytes).toBe(0);
    expect(stat(h, 'get_expired')).toBe(1);
  });

  it('any command that looks up an expired item counts get_expired (memcached do_item_get)', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 1 });
    clock.advance(2);
    set(h, 'k', 'v2', { exptime: 1 });
    expect(stat(h, 'get_expired')).toBe(1);
    clock.advance(2);
    expect(h.delete({ key: b('k') })).toBe('NOT_FOUND');
    expect(stat(h, 'get_expired')).toBe(2);
  });
});

describe('touch and gat', () => {
  it('touch replaces the exptime of an existing item', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 10 });
    expect(h.touch({ key: b('k'), exptime: 100 })).toBe('TOUCHED');
    expect(get(h, 'k')!.exptime).toBe(clock.sec + 100);
    clock.advance(50);
    expect(val(h, 'k')).toBe('v');
    expect(h.touch({ key: b('k'), exptime: 0 })).toBe('TOUCHED');
    clock.advance(10_000);
    expect(val(h, 'k')).toBe('v');
  });

  it('touch on a missing or expired item is NOT_FOUND', () => {
    const { h, clock } = fresh();
    expect(h.touch({ key: b('k'), exptime: 100 })).toBe('NOT_FOUND');
    set(h, 'k', 'v', { exptime: 1 });
    clock.advance(1);
    expect(h.touch({ key: b('k'), exptime: 100 })).toBe('NOT_FOUND');
  });

  it('touch with a negative exptime expires the item', () => {
    const { h } = fresh();
    set(h, 'k', 'v');
    expect(h.touch({ key: b('k'), exptime: -1 })).toBe('TOUCHED');
    expect(get(h, 'k')).toBeUndefined();
  });

  it('gat returns the item with its new exptime and updates it', () => {
    const { h, clock } = fresh();
    set(h, 'k', 'v', { exptime: 10 });
    const r = h.get({ key: b('k'), touch: 300 })!;
    expect(r.value.toString()).toBe('v');
    expect(r.exptime).toBe(clock.sec + 300);
    expect(get(h, 'k')!.exptime).toBe(clock.sec + 300);
    expect(h.get({ key: b('nope'), touch: 300 })).toBeUndefined();
  });
});
