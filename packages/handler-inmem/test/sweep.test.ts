import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '../src/index.js';
import { FakeClock, get, makeHandler, set, stat } from './helpers.js';

const handlers: InMemoryHandler[] = [];
function fresh(...args: Parameters<typeof makeHandler>) {
  const r = makeHandler(...args);
  handlers.push(r.h);
  return r;
}
afterEach(() => {
  for (const h of handlers.splice(0)) h.close();
});

describe('background expiry sweep', () => {
  it('frees the bytes of expired items without any read', () => {
    const { h, clock } = fresh();
    for (let i = 0; i < 100; i++) set(h, `e${i}`, 'x'.repeat(100), { exptime: 10 });
    for (let i = 0; i < 50; i++) set(h, `p${i}`, 'x'.repeat(100));
    const full = h.bytes;
    clock.advance(10);
    expect(h.sweep()).toBe(100);
    expect(h.size).toBe(50);
    expect(h.bytes).toBeLessThan(full / 2);
    expect(stat(h, 'reclaimed')).toBe(100);
    expect(stat(h, 'expired_unfetched')).toBe(100);
    expect(stat(h, 'get_expired')).toBe(0);
    const items = h.stats('items')!;
    const crawled = Object.keys(items)
      .filter((k) => k.endsWith(':crawler_reclaimed'))
      .reduce((n, k) => n + Number(items[k]), 0);
    expect(crawled).toBe(100);
  });

  it('does bounded work per call and resumes where it stopped', () => {
    const { h, clock } = fresh();
    for (let i = 0; i < 100; i++) set(h, `e${i}`, 'v', { exptime: 5 });
    clock.advance(5);
    expect(h.sweep(30)).toBe(30);
    expect(h.size).toBe(70);
    expect(h.sweep(30)).toBe(30);
    expect(h.sweep(1000)).toBe(40);
    expect(h.size).toBe(0);
    expect(h.sweep(1000)).toBe(0);
  });

  it('counts fetched items as reclaimed but not unfetched', () => {
    const { h, clock } = fresh();
    set(h, 'a', 'v', { exptime: 5 });
    set(h, 'b', 'v', { exptime: 5 });
    get(h, 'a');
    clock.advance(5);
    h.sweep();
    expect(stat(h, 'reclaimed')).toBe(2);
    expect(stat(h, 'expired_unfetched')).toBe(1);
  });

  it('survives items deleted, replaced and added between calls', () => {
    const { h, clock } = fresh();
    for (let i = 0; i < 50; i++) set(h, `e${i}`, 'v', { exptime: 5 });
    h.sweep(10);
    for (let i = 0; i < 50; i += 3) h.delete({ key: Buffer.from(`e${i}`) });
    for (let i = 1; i < 50; i += 3) set(h, `e${i}`, 'w');
    for (let i = 0; i < 20; i++) set(h, `n${i}`, 'v', { exptime: 5 });
    clock.advance(5);
    let total = 0;
    for (let i = 0; i < 10; i++) total += h.sweep(15);
    const live = 17; // e1, e4, ... e49 were re-set without exptime
    expect(h.size).toBe(live);
    expect(total).toBe(50 - 17 - 17 + 20);
  });

  it('runs on a timer that does not keep the process alive and stops on close', async () => {
    const clock = new FakeClock();
    const h = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 10 });
    handlers.push(h);
    set(h, 'a', 'v', { exptime: 1 });
    clock.advance(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(h.size).toBe(0);
    h.close();
    set(h, 'b', 'v', { exptime: 1 });
    clock.advance(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(h.size).toBe(1);
    expect(h.stats('settings')!.lru_crawler).toBe('no');
  });
});
