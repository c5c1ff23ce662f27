import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { turnClock } from '../src/clock.js';

describe('turnClock', () => {
  it('stands still within one turn of the event loop and follows Date.now() across turns', async () => {
    const first = turnClock();
    const spinUntil = Date.now() + 5;
    while (Date.now() < spinUntil) {
      /* the same turn */
    }
    expect(turnClock()).toBe(first);
    await sleep(5);
    const later = turnClock();
    expect(later).toBeGreaterThanOrEqual(first + 5);
    expect(Math.abs(later - Date.now())).toBeLessThan(50);
  });
});
