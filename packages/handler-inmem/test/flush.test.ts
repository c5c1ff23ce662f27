import { afterEach, describe, expect, it } from 'vitest';
import type { InMemoryHandler } from '../src/index.js';
import { get, makeHandler, set, stat, store, val } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

describe('flush_all', () => {
  it('without delay invalidates every item, including ones stored in the same second', () => {
    const { h, clock } = fresh();
    set(h, 'old', 'v');
    clock.advance(3);
    set(h, 'same', 'v');
    h.flush(0);
    expect(get(h, 'old')).toBeUndefined();
    expect(get(h, 'same')).toBeUndefined();
    expect(stat(h, 'get_flushed')).toBe(2);
  });

  it('items stored after the flush, in the same second, survive', () => {
    const { h } = fresh();
    set(h, 'a', 'v');
    h.flush(0);
    set(h, 'b', 'v');
    expect(get(h, 'a')).toBeUndefined();
    expect(val(h, 'b')).toBe('v');
  });

  it('flushes items whose CAS came from newCas (an L1 holding L2 CAS uniques), whatever their value', () => {
    const { h } = fresh({ casStart: 1000n });
    set(h, 'low', 'v', { newCas: 1n });
    set(h, 'high', 'v', { newCas: 1n << 60n });
    h.flush(0);
    expect(get(h, 'low')).toBeUndefined();
    expect(get(h, 'high')).toBeUndefined();
    set(h, 'after', 'v', { newCas: 2n });
    expect(val(h, 'after')).toBe('v');
  });

  it('a flush now replaces a pending delayed one', () => {
    const { h, clock } = fresh();
    h.flush(100);
    h.flush(0);
    set(h, 'a', 'v');
    clock.advance(200);
    expect(val(h, 'a')).toBe('v');
  });

  it('a negative delay flushes now, like memcached', () => {
    const { h } = fresh();
    set(h, 'a', 'v');
    h.flush(-5);
    expect(get(h, 'a')).toBeUndefined();
  });

  it('with a delay leaves items alone until the time comes', () => {
    const { h, clock } = fresh();
    set(h, 'a', 'v');
    h.flush(10);
    expect(val(h, 'a')).toBe('v');
    clock.advance(8);
    expect(val(h, 'a')).toBe('v');
    clock.advance(1);
    // memcached sets oldest_live = flush time - 1: from then on items updated up to it are gone.
    expect(get(h, 'a')).toBeUndefined();
  });

  it('items stored after a delayed flush_all but before it fires are flushed too; later ones survive', () => {
    const { h, clock } = fresh();
    h.flush(10);
    clock.advance(5);
    set(h, 'before', 'v');
    clock.advance(5);
    set(h, 'after', 'v');
    clock.advance(1);
    expect(get(h, 'before')).toBeUndefined();
    expect(val(h, 'after')).toBe('v');
  });

  it('accepts an absolute flush time', () => {
    const { h, clock } = fresh();
    set(h, 'a', 'v');
    h.flush(clock.sec + 20);
    clock.advance(18);
    expect(val(h, 'a')).toBe('v');
    clock.advance(2);
    expect(get(h, 'a')).toBeUndefined();
  });

  it('flushed items still count in curr_items and bytes until reclaimed, like memcached', () => {
    const { h } = fresh();
    set(h, 'a', 'v');
    set(h, 'b', 'v');
    h.flush(0);
    expect(stat(h, 'curr_items')).toBe(2);
    expect(h.sweep()).toBe(2);
    expect(stat(h, 'curr_items')).toBe(0);
    expect(h.bytes).toBe(0);
  });

  it('add, replace, incr and touch treat a flushed item as missing', () => {
    const { h } = fresh();
    set(h, 'a', '1');
    set(h, 'b', '1');
    set(h, 'c', '1');
    set(h, 'd', '1');
    h.flush(0);
    expect(typeof store(h, 'add', 'a', 'x')).toBe('object');
    expect(store(h, 'replace', 'b', 'x')).toBe('NOT_STORED');
    expect(h.arithmetic({ key: Buffer.from('c'), incr: true, delta: 1n })).toBe('NOT_FOUND');
    expect(h.touch({ key: Buffer.from('d'), exptime: 10 })).toBe('NOT_FOUND');
  });
});
