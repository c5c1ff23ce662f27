import { describe, expect, it } from 'vitest';
import { REALTIME_MAXDELTA, absoluteExptime, remainingExptime } from '../src/index.js';

describe('remainingExptime', () => {
  const now = 1_800_000_000;
  it('gives a copy the same expiry, in the wire form memcached reads back to it', () => {
    expect(remainingExptime(0, now)).toBe(0);
    for (const left of [1, 60, REALTIME_MAXDELTA, REALTIME_MAXDELTA + 1, 40 * 86_400]) {
      const wire = remainingExptime(now + left, now)!;
      expect(absoluteExptime(wire, now)).toBe(now + left);
    }
    // Beyond 30 days seconds would read as a date in 1970: the absolute time goes instead.
    expect(remainingExptime(now + REALTIME_MAXDELTA + 1, now)).toBe(now + REALTIME_MAXDELTA + 1);
  });
  it('has nothing to give an item already expired', () => {
    expect(remainingExptime(now, now)).toBeUndefined();
    expect(remainingExptime(now - 5, now)).toBeUndefined();
  });
});
