/**
 * stats and admin commands through L1L2 and L1L2Batch: every group shows L1
 * as it is and L2 under `l2_`; admin commands reach L2 only. (Over a real
 * memcached L2: handler-memcached's test/stats.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type AdminCommand, type Handler, type StatsGroup } from '@cleave/protocol';
import { l1l2, l1l2Batch } from '../src/index.js';

const set = (h: Handler, k: string, v: string) =>
  h.store({ mode: 'set', key: Buffer.from(k), value: Buffer.from(v), flags: 0, exptime: 0 });

/** `inner` with admin commands that answer with their own name, and stats that can be made to fail. */
function administered(inner: Handler, tag: string) {
  const seen: AdminCommand[] = [];
  const state = { failStats: false, seen };
  const h = new Proxy(inner, {
    get(t, p, r) {
      if (p === 'admin') {
        return (cmd: AdminCommand) => {
          seen.push(cmd);
          return Promise.resolve(Buffer.from(`${tag} ${cmd.name}\r\n`));
        };
      }
      if (p === 'stats') {
        return (group: string) => {
          if (state.failStats) throw new HandlerError('backend unavailable');
          return t.stats?.(group);
        };
      }
      return Reflect.get(t, p, r);
    },
  }) as Handler;
  return { h, state };
}

describe.each([
  ['l1l2', l1l2],
  ['l1l2Batch', l1l2Batch],
])('%s stats and admin', (_, make) => {
  function rig() {
    const l1 = new InMemoryHandler({ maxBytes: 8 << 20 });
    const l2 = new InMemoryHandler({ maxBytes: 16 << 20 });
    const a1 = administered(l1, 'L1');
    const a2 = administered(l2, 'L2');
    return { l1, l2, a1, a2, tiers: make(a1.h, a2.h) };
  }

  it("every group: L1's figures as they are, L2's under l2_", async () => {
    const { l1, l2, tiers } = rig();
    // Written through the tiers: in L2, and (not for a batch tier, which only replaces) in L1.
    await set(tiers, 'a', 'x');
    await set(l2, 'only-l2', 'y'.repeat(3000));
    const general = (await tiers.stats(''))!;
    expect(general.curr_items).toBe(l1.stats('')!.curr_items);
    expect(general.l2_curr_items).toBe(2);
    expect(general.l2_bytes).toBe(l2.stats('')!.bytes);
    const settings = (await tiers.stats('settings'))!;
    expect(settings.maxbytes).toBe(8 << 20);
    expect(settings.l2_maxbytes).toBe(16 << 20);
    const items = (await tiers.stats('items'))!;
    const l2items = l2.stats('items')!;
    for (const k in l2items) expect(items[`l2_${k}`], k).toEqual(l2items[k]);
    for (const k in l1.stats('items')!) expect(items).toHaveProperty([k]);
    const slabs = (await tiers.stats('slabs'))!;
    expect(slabs.l2_active_slabs).toBe(2);
    expect(await tiers.stats('nonsense')).toBeUndefined();
  });

  it('a tier whose stats fail is left out, not the whole reply', async () => {
    const { tiers, a2, a1 } = rig();
    await set(tiers, 'a', 'x');
    a2.state.failStats = true;
    const general = (await tiers.stats(''))!;
    expect(general).toHaveProperty('curr_items');
    expect(Object.keys(general).some((k) => k.startsWith('l2_'))).toBe(false);
    a1.state.failStats = true;
    expect(await tiers.stats('')).toBeUndefined();
  });

  it('reset reaches both tiers', async () => {
    const { tiers, l1, l2 } = rig();
    await set(tiers, 'a', 'x');
    await tiers.get({ key: Buffer.from('a') });
    await tiers.stats('reset');
    const zero = (g: StatsGroup) => Object.keys(g).filter((k) => /^(total_items|evictions|reclaimed)$/.test(k) && g[k] !== 0);
    expect(zero(l1.stats('')!)).toEqual([]);
    expect(zero(l2.stats('')!)).toEqual([]);
  });

  it('admin commands go to L2, the store of record, alone', async () => {
    const { tiers, a1, a2 } = rig();
    const cmd = { name: 'lru_crawler', args: ['metadump', 'all'] };
    expect((await tiers.admin!(cmd))!.toString()).toBe('L2 lru_crawler\r\n');
    expect(a2.state.seen).toEqual([cmd]);
    expect(a1.state.seen).toEqual([]);
  });

  it('without admin commands in L2: undefined (the server answers as memcached without them)', () => {
    const { a1 } = rig();
    const inmem = new InMemoryHandler({ maxBytes: 1 << 20 });
    const none = new Proxy(inmem, { get: (t, p, r) => (p === 'admin' ? undefined : Reflect.get(t, p, r)) }) as Handler;
    expect(make(a1.h, none).admin!({ name: 'lru', args: ['mode', 'flat'] })).toBeUndefined();
  });
});
