import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type Handler, type ItemView, type StoreCommand } from '@cleave/protocol';
import { L1L2, l1l2, l1l2Batch } from '../src/index.js';

const key = (s: string) => Buffer.from(s);
const val = (s: string) => Buffer.from(s);
const set = (k: string, v: string, extra: Partial<StoreCommand> = {}): StoreCommand => ({
  mode: 'set',
  key: key(k),
  value: val(v),
  flags: 0,
  exptime: 0,
  ...extra,
});

/** Every call of `inner` answers through a Promise after `ms` milliseconds. */
function slow(inner: Handler, ms = 5): Handler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || prop === 'stats') return v;
      return (...args: unknown[]) =>
        new Promise((resolve, reject) =>
          setTimeout(() => {
            try {
              resolve((v as (...a: unknown[]) => unknown).apply(target, args));
            } catch (e) {
              reject(e);
            }
          }, ms),
        );
    },
  }) as Handler;
}

function tiers() {
  const l1 = new InMemoryHandler({ maxBytes: 1 << 22 });
  const l2 = new InMemoryHandler({ maxBytes: 1 << 22 });
  return { l1, l2 };
}

const value = (r: unknown) => (r as ItemView | undefined)?.value.toString();

describe('L1L2', () => {
  it("writes go to L2 first, then to L1 with L2's CAS unique", async () => {
    const { l1, l2 } = tiers();
    const orch = new L1L2(l1, slow(l2));
    const stored = (await orch.store(set('a', 'v1', { flags: 9 }))) as ItemView;
    const in1 = l1.get({ key: key('a') })!;
    const in2 = l2.get({ key: key('a') })!;
    expect(in1.value.toString()).toBe('v1');
    expect(in1.flags).toBe(9);
    expect(in2.cas).toBe(stored.cas);
    expect(in1.cas).toBe(in2.cas);
  });

  it('a failed L2 write leaves L1 untouched and answers the L2 outcome', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('a', 'old'));
    expect(await orch.store(set('a', 'new', { mode: 'add' }))).toBe('NOT_STORED');
    expect(l1.get({ key: key('a') })!.value.toString()).toBe('old');
    expect(await orch.store(set('a', 'x', { compareCas: 424242n }))).toBe('EXISTS');
  });

  it('an L1 failure after an L2 success deletes the L1 copy rather than leaving it stale', async () => {
    const { l1, l2 } = tiers();
    const orch = new L1L2(l1, l2);
    await orch.store(set('a', 'v1'));
    const failingL1 = new Proxy(l1, {
      get(t, p, r) {
        if (p === 'store')
          return () => {
            throw new HandlerError('L1 full');
          };
        return Reflect.get(t, p, r);
      },
    });
    const orch2 = new L1L2(failingL1, l2);
    expect(value(await orch2.store(set('a', 'v2')))).toBe('v2');
    expect(l1.get({ key: key('a') })).toBeUndefined();
    expect(l2.get({ key: key('a') })!.value.toString()).toBe('v2');
  });

  it("reads try L1, send misses to L2 and refill L1 with L2's TTL and CAS", async () => {
    const { l1, l2 } = tiers();
    const exptime = Math.floor(Date.now() / 1000) + 500;
    const inL2 = l2.store(set('a', 'from-l2', { exptime, flags: 4 })) as ItemView;
    const orch = l1l2(l1, slow(l2));
    expect(l1.get({ key: key('a') })).toBeUndefined();
    expect(value(await orch.get({ key: key('a') }))).toBe('from-l2');
    const copy = l1.get({ key: key('a') })!;
    expect(copy.exptime).toBe(exptime);
    expect(copy.cas).toBe(inL2.cas);
    expect(copy.flags).toBe(4);
    // Now served by L1 without a Promise.
    expect(orch.get({ key: key('a') })).not.toBeInstanceOf(Promise);
  });

  it('multi-get batches the L1 misses into one L2 round', async () => {
    const { l1, l2 } = tiers();
    l1.store(set('a', '1'));
    l2.store(set('b', '2'));
    let l2Calls = 0;
    const countingL2 = new Proxy(l2, {
      get(t, p, r) {
        if (p === 'getMany') return (cmds: never[]) => (l2Calls++, Promise.resolve(cmds.map((c) => t.get(c))));
        return Reflect.get(t, p, r);
      },
    });
    const orch = new L1L2(l1, countingL2 as Handler);
    const items = await orch.getMany([{ key: key('a') }, { key: key('b') }, { key: key('c') }]);
    expect(items.map(value)).toEqual(['1', '2', undefined]);
    expect(l2Calls).toBe(1);
    expect(value(l1.get({ key: key('b') }))).toBe('2');
  });

  it('a pipeline reads its own write even while L2 is slow', async () => {
    const { l1, l2 } = tiers();
    l1.store(set('a', 'old'));
    l2.store(set('a', 'old'));
    const orch = l1l2(l1, slow(l2, 20));
    const w = orch.store(set('a', 'new'));
    const r = orch.get({ key: key('a') });
    expect(value(await r)).toBe('new');
    await w;
  });

  it("one key's calls take effect in call order: a read between two writes sees the first", async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, slow(l2, 10));
    const w1 = orch.store(set('a', '1'));
    const r = orch.get({ key: key('a') });
    const w2 = orch.store(set('a', '3'));
    expect(value(await r)).toBe('1');
    await Promise.all([w1, w2]);
    expect(value(await orch.get({ key: key('a') }))).toBe('3');
  });

  it('reads issued after a flush_all wait for it, even those L1 could answer at once', async () => {
    const { l1, l2 } = tiers();
    l1.store(set('a', 'cached'));
    l2.store(set('a', 'cached'));
    const orch = l1l2(l1, slow(l2, 10));
    const f = orch.flush(0);
    const r = orch.get({ key: key('a') });
    expect(await r).toBeUndefined();
    await f;
  });

  it('delete and touch go to both tiers; an L2 miss answers NOT_FOUND and clears L1', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('a', '1'));
    expect(await orch.touch({ key: key('a'), exptime: 100 })).toBe('TOUCHED');
    expect(l1.get({ key: key('a') })!.exptime).toBe(l2.get({ key: key('a') })!.exptime);
    expect(await orch.delete({ key: key('a') })).toBe('DELETED');
    expect(l1.get({ key: key('a') })).toBeUndefined();
    // Only in L1 (e.g. L2 lost it): L2's NOT_FOUND wins and L1 is cleared.
    l1.store(set('ghost', 'x'));
    expect(await orch.touch({ key: key('ghost'), exptime: 10 })).toBe('NOT_FOUND');
    expect(l1.get({ key: key('ghost') })).toBeUndefined();
    l1.store(set('ghost', 'x'));
    expect(await orch.delete({ key: key('ghost') })).toBe('NOT_FOUND');
    expect(l1.get({ key: key('ghost') })).toBeUndefined();
  });

  it("gat keeps both tiers' TTLs in step", async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('a', '1', { exptime: 100 }));
    const hit = (await orch.get({ key: key('a'), touch: 1000 }))!;
    expect(hit.value.toString()).toBe('1');
    expect(l1.get({ key: key('a') })!.exptime).toBe(l2.get({ key: key('a') })!.exptime);
    expect(l2.get({ key: key('a') })!.exptime).toBeGreaterThan(Math.floor(Date.now() / 1000) + 900);
  });

  it('incr/decr and append/prepend update L2 and carry the result into L1', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('n', '10'));
    expect(value(await orch.arithmetic({ key: key('n'), incr: true, delta: 5n }))).toBe('15');
    expect(value(l1.get({ key: key('n') }))).toBe('15');
    await orch.store(set('s', 'b'));
    await orch.store(set('s', 'c', { mode: 'append' }));
    await orch.store(set('s', 'a', { mode: 'prepend' }));
    expect(value(l1.get({ key: key('s') }))).toBe('abc');
    expect(value(l2.get({ key: key('s') }))).toBe('abc');
    expect(await orch.arithmetic({ key: key('missing'), incr: true, delta: 1n })).toBe('NOT_FOUND');
  });

  it('meta invalidation keeps stale items out of L1', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('a', '1'));
    expect(await orch.delete({ key: key('a'), invalidate: true })).toBe('DELETED');
    expect(l1.get({ key: key('a') })).toBeUndefined();
    const stale = (await orch.get({ key: key('a'), recache: 30 }))!;
    expect(stale.stale).toBe(true);
    expect(l1.get({ key: key('a') })).toBeUndefined();
  });

  it('flush empties both tiers', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2(l1, l2);
    await orch.store(set('a', '1'));
    await orch.flush(0);
    expect(l1.get({ key: key('a') })).toBeUndefined();
    expect(l2.get({ key: key('a') })).toBeUndefined();
  });
});

describe('L1L2Batch', () => {
  it('writes go to L2 and only replace in L1; reads do not fill L1', async () => {
    const { l1, l2 } = tiers();
    const orch = l1l2Batch(l1, l2);
    await orch.store(set('new', 'x'));
    expect(l1.get({ key: key('new') })).toBeUndefined();
    expect(value(l2.get({ key: key('new') }))).toBe('x');
    l1.store(set('cached', 'old'));
    await orch.store(set('cached', 'fresh'));
    expect(value(l1.get({ key: key('cached') }))).toBe('fresh');
    expect(value(await orch.get({ key: key('new') }))).toBe('x');
    expect(l1.get({ key: key('new') })).toBeUndefined();
  });
});
