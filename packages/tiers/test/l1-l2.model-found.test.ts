/**
 * Regressions for what the model-based tests (l1-l2.model.test.ts) found in
 * L1L2: each case the shrunk counterexample pointed at, written out.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler, ItemView, MaybePromise } from '@cleave/protocol';
import { FakeClock } from '@cleave/testkit';
import { L1L2 } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const value = (r: unknown) => (r as ItemView | undefined)?.value.toString('latin1');

function tiers(l1Options: { maxItemSize?: number } = {}) {
  const clock = new FakeClock();
  const l1 = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0, ...l1Options });
  const l2 = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0 });
  return { clock, l1, l2 };
}

/**
 * `inner` behind a link the test drives: a call is applied to `inner` when
 * the test calls `apply()`, and its reply is delivered when it calls
 * `reply()` (a backend that has done the work while the reply is on its way).
 */
function link(inner: InMemoryHandler) {
  const toApply: (() => void)[] = [];
  const toReply: (() => void)[] = [];
  const call = <T>(f: () => MaybePromise<T>): Promise<T> =>
    new Promise<T>((resolve) => {
      toApply.push(() => {
        const r = f();
        toReply.push(() => resolve(r as T));
      });
    });
  const handler: Handler = {
    get: (c) => call(() => inner.get(c)),
    getMany: (c) => call(() => inner.getMany(c)),
    store: (c) => call(() => inner.store(c)),
    delete: (c) => call(() => inner.delete(c)),
    arithmetic: (c) => call(() => inner.arithmetic(c)),
    touch: (c) => call(() => inner.touch(c)),
    flush: (d) => call(() => inner.flush(d)),
    close: () => inner.close(),
  };
  const tick = () => new Promise((r) => setImmediate(r));
  return {
    handler,
    /** Apply every call waiting (after letting the orchestrator issue what it will). */
    async apply() {
      await tick();
      for (const f of toApply.splice(0)) f();
    },
    /** Deliver every reply waiting (`lastFirst`: the latest call's first, as over several connections). */
    async reply(lastFirst = false) {
      const replies = toReply.splice(0);
      if (lastFirst) replies.reverse();
      for (const f of replies) f();
      await tick();
    },
  };
}

describe('found by the model: L1L2', () => {
  it('a gat with a negative TTL (item expired at once) leaves no L1 copy alive', async () => {
    const { l1, l2, clock } = tiers();
    const orch = new L1L2(l1, l2, { clock: clock.now });
    await orch.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 0 });
    // L2 answers with the item, whose exptime is memcached's "long past" mark (1): not "1 s from now" for L1.
    expect(value(await orch.get({ key: k('a'), touch: -1 }))).toBe('v');
    expect(l1.get({ key: k('a') })).toBeUndefined();
    expect(await orch.get({ key: k('a') })).toBeUndefined();
  });

  it('a counter N creates already expired is not copied into L1 as a live one', async () => {
    const { l1, l2, clock } = tiers();
    const orch = new L1L2(l1, l2, { clock: clock.now });
    const created = (await orch.arithmetic({ key: k('n'), incr: true, delta: 1n, initial: 5n, exptime: -1 })) as ItemView;
    expect(created.created).toBe(true);
    expect(l1.get({ key: k('n') })).toBeUndefined();
    expect(await orch.get({ key: k('n') })).toBeUndefined();
  });

  it("decr that shortens a counter leaves L1 with L2's space-padded bytes, and keeps the counter in L1", async () => {
    const { l1, l2, clock } = tiers();
    const orch = new L1L2(l1, l2, { clock: clock.now });
    await orch.store({ mode: 'set', key: k('n'), value: k('10'), flags: 3, exptime: 0 });
    const r = (await orch.arithmetic({ key: k('n'), incr: false, delta: 1n })) as ItemView;
    expect(value(r)).toBe('9');
    expect(value(l2.get({ key: k('n') }))).toBe('9 ');
    const copy = l1.get({ key: k('n') })!;
    expect(value(copy)).toBe('9 ');
    expect(copy.cas).toBe(r.cas);
    expect(copy.flags).toBe(3);
    // The client reading it back (from L1) sees what memcached stores.
    expect(value(await orch.get({ key: k('n') }))).toBe('9 ');
  });

  it("a set refused as too large drops the L1 copy along with L2's old item", async () => {
    const { l1, l2, clock } = tiers();
    const orch = new L1L2(l1, l2, { clock: clock.now });
    await orch.store({ mode: 'set', key: k('a'), value: k('old'), flags: 0, exptime: 0 });
    // A client's set: memcached unlinks the old item when it refuses one (the parser says so in unlinkOnFailure).
    expect(await orch.store({ mode: 'set', key: k('a'), value: Buffer.alloc(2 << 20), flags: 0, exptime: 0, unlinkOnFailure: true })).toBe(
      'TOO_LARGE',
    );
    expect(l2.get({ key: k('a') })).toBeUndefined();
    expect(l1.get({ key: k('a') })).toBeUndefined();
    expect(await orch.get({ key: k('a') })).toBeUndefined();
  });

  it('an item L1 is too small to hold is simply left out of L1, without turning a synchronous call into a Promise', () => {
    const { l1, l2, clock } = tiers({ maxItemSize: 100 });
    const orch = new L1L2(l1, l2, { clock: clock.now });
    l1.store({ mode: 'set', key: k('a'), value: k('old'), flags: 0, exptime: 0 });
    const r = orch.store({ mode: 'set', key: k('a'), value: Buffer.alloc(200, 0x78), flags: 0, exptime: 0 });
    expect(r).not.toBeInstanceOf(Promise);
    expect(l1.get({ key: k('a') })).toBeUndefined();
    expect(value(orch.get({ key: k('a') }))).toBe('x'.repeat(200));
  });

  it("L1L2Batch: a gat's new TTL reaches the copy L1 holds", async () => {
    const { l1, l2, clock } = tiers();
    const main = new L1L2(l1, l2, { clock: clock.now });
    const batch = new L1L2(l1, l2, { batch: true, clock: clock.now });
    await main.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 100 });
    await batch.get({ key: k('a'), touch: 5 });
    expect(l1.get({ key: k('a') })!.exptime).toBe(l2.get({ key: k('a') })!.exptime);
    clock.advance(5);
    expect(await main.get({ key: k('a') })).toBeUndefined();
  });

  it("a multi-get issued before a write neither answers with the write's result nor leaves its older L2 copy in L1", async () => {
    const { l1, l2, clock } = tiers();
    l2.store({ mode: 'set', key: k('a'), value: k('old'), flags: 0, exptime: 0 });
    const slow = link(l2);
    const orch = new L1L2(l1, slow.handler, { clock: clock.now });
    const read = orch.getMany([{ key: k('a') }]);
    const write = orch.store({ mode: 'set', key: k('a'), value: k('new'), flags: 0, exptime: 0 });
    // L2 does the read, then (if the orchestrator sent it already) the write; the write's reply comes first.
    for (let i = 0; i < 4; i++) {
      await slow.apply();
      await slow.reply(true);
    }
    expect((await read).map(value)).toEqual(['old']);
    await write;
    expect(value(l2.get({ key: k('a') }))).toBe('new');
    expect(value(l1.get({ key: k('a') }))).toBe('new');
  });

  it("a write's TTL reaches L1 as fixed when the call was made: L1's copy never outlives L2's item", async () => {
    const { l1, l2, clock } = tiers();
    const slow = link(l2);
    const orch = new L1L2(l1, slow.handler, { clock: clock.now });
    const stored = orch.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 10 });
    await slow.apply();
    // L2 stored it; its reply arrives a second later, when L1 is written.
    clock.advance(1);
    await slow.reply();
    await stored;
    expect(l1.get({ key: k('a') })!.exptime).toBeLessThanOrEqual(l2.get({ key: k('a') })!.exptime);
    const touched = orch.touch({ key: k('a'), exptime: 20 });
    await slow.apply();
    clock.advance(1);
    await slow.reply();
    await touched;
    expect(l1.get({ key: k('a') })!.exptime).toBeLessThanOrEqual(l2.get({ key: k('a') })!.exptime);
  });

  it('a delayed flush_all reaches both tiers as one time, so no L1 copy outlives the flush in L2', async () => {
    const { l1, l2, clock } = tiers();
    const slow = link(l2);
    const orch = new L1L2(l1, slow.handler, { clock: clock.now });
    l2.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 0 });
    l1.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 0 });
    const flushed = orch.flush(10);
    await slow.apply();
    clock.advance(1);
    await slow.reply();
    await flushed;
    // L2's threshold comes one second before the time asked (memcached's oldest_live): 9 s on.
    clock.advance(8);
    expect(l2.get({ key: k('a') })).toBeUndefined();
    expect(l1.get({ key: k('a') })).toBeUndefined();
  });

  it("a multi-get naming a stale key twice hands the recache token to the first, however L1's misses come back", async () => {
    const { l1, l2, clock } = tiers();
    l2.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 0 });
    l2.delete({ key: k('a'), invalidate: true });
    const slowL1 = link(l1);
    const orch = new L1L2(slowL1.handler, l2, { clock: clock.now });
    // Meta mg fetches (`tokens`): only they take part in the recache token.
    const read = orch.getMany([
      { key: k('a'), tokens: true },
      { key: k('a'), tokens: true },
    ]);
    await slowL1.apply();
    // The second miss is reported first.
    await slowL1.reply(true);
    const [first, second] = await read;
    expect(first?.win).toBe(true);
    expect(second?.tokenSent).toBe(true);
  });

  it("a read whose L2 answer straddles a delayed flush_all's time leaves no copy in L1 to outlive the flush", async () => {
    const { l1, l2, clock } = tiers();
    const slow = link(l2);
    const orch = new L1L2(l1, slow.handler, { clock: clock.now });
    l2.store({ mode: 'set', key: k('a'), value: k('v'), flags: 0, exptime: 0 });
    const flushed = orch.flush(2);
    await slow.apply();
    await slow.reply();
    await flushed;
    // L2 reads the item before the flush's threshold (1 s on); its reply arrives a second after it,
    // when a copy L1 writes is newer than the threshold and would not be flushed.
    const read = orch.get({ key: k('a') });
    await slow.apply();
    clock.advance(2);
    await slow.reply();
    expect(value(await read)).toBe('v');
    expect(l2.get({ key: k('a') })).toBeUndefined();
    expect(l1.get({ key: k('a') })).toBeUndefined();
    const again = orch.get({ key: k('a') });
    await slow.apply();
    await slow.reply();
    expect(await again).toBeUndefined();
  });

  it("a write whose L2 store straddles a delayed flush_all's time leaves no copy in L1 either", async () => {
    const { l1, l2, clock } = tiers();
    const slow = link(l2);
    const orch = new L1L2(l1, slow.handler, { clock: clock.now });
    const flushed = orch.flush(2);
    await slow.apply();
    await slow.reply();
    await flushed;
    const write = orch.store({ mode: 'set', key: k('b'), value: k('v'), flags: 0, exptime: 0 });
    await slow.apply();
    clock.advance(2);
    await slow.reply();
    await write;
    expect(l2.get({ key: k('b') })).toBeUndefined();
    expect(l1.get({ key: k('b') })).toBeUndefined();
  });

  it("an asynchronous L1 that applies a copy after a delayed flush_all's time has it deleted before the key is read again", async () => {
    const { l1, l2, clock } = tiers();
    const slowL1 = link(l1);
    const orch = new L1L2(slowL1.handler, l2, { clock: clock.now });
    const flushed = orch.flush(2);
    await slowL1.apply();
    await slowL1.reply();
    await flushed;
    // L2 stores at once (before the threshold); L1 applies its copy two seconds later.
    const write = orch.store({ mode: 'set', key: k('c'), value: k('v'), flags: 0, exptime: 0 });
    const read = orch.get({ key: k('c') });
    clock.advance(2);
    for (let i = 0; i < 4; i++) {
      await slowL1.apply();
      await slowL1.reply();
    }
    await write;
    expect(l2.get({ key: k('c') })).toBeUndefined();
    expect(l1.get({ key: k('c') })).toBeUndefined();
    expect(await read).toBeUndefined();
  });
});
