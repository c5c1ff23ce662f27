/**
 * A remote L1 (memcached) that is unreachable for a while: writes reach L2,
 * and neither the L1 update nor the delete that should replace it gets
 * through. Once L1 answers again it must not serve the copy it kept from
 * before: L2 is the authority.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type Handler, type ItemView, type StoreCommand } from '@cleave/protocol';
import { L1L2 } from '../src/index.js';

const key = (s: string) => Buffer.from(s);
const set = (k: string, v: string): StoreCommand => ({ mode: 'set', key: key(k), value: Buffer.from(v), flags: 0, exptime: 0 });
const value = (r: unknown) => (r as ItemView | undefined)?.value.toString();

/** `inner` behind a switch: while down, every call fails as an unreachable backend's would. */
function switchable(inner: Handler): { handler: Handler; down: boolean } {
  const state = { down: false, handler: undefined as unknown as Handler };
  const unavailable = new HandlerError('backend unavailable');
  state.handler = new Proxy(inner, {
    get(t, p, r) {
      const v = Reflect.get(t, p, r);
      if (typeof v !== 'function' || p === 'stats' || p === 'close') return v;
      return (...args: unknown[]) =>
        state.down ? Promise.reject(unavailable) : Promise.resolve((v as (...a: unknown[]) => unknown).apply(t, args));
    },
  }) as Handler;
  return state;
}

describe('L1L2 after an L1 outage', () => {
  it('a key written while L1 was down is read from L2, not from the copy L1 kept', async () => {
    const l1 = new InMemoryHandler({ maxBytes: 1 << 20 });
    const l2 = new InMemoryHandler({ maxBytes: 1 << 20 });
    const sw = switchable(l1);
    const errors: unknown[] = [];
    const orch = new L1L2(sw.handler, l2, { onL1Error: (e) => errors.push(e) });
    await orch.store(set('k', 'old'));
    expect(value(await orch.get({ key: key('k') }))).toBe('old');
    sw.down = true;
    expect(value(await orch.store(set('k', 'new')))).toBe('new');
    expect(errors.length).toBeGreaterThan(0);
    sw.down = false;
    // L1 still holds 'old' (neither the update nor the delete reached it).
    expect(value(l1.get({ key: key('k') }))).toBe('old');
    expect(value(await orch.get({ key: key('k') }))).toBe('new');
    const [many] = await orch.getMany([{ key: key('k') }]);
    expect(value(many)).toBe('new');
    // Once repaired, L1 serves the key again.
    expect(value(l1.get({ key: key('k') }))).toBe('new');
  });

  it('a delete while L1 was down: the key stays deleted', async () => {
    const l1 = new InMemoryHandler({ maxBytes: 1 << 20 });
    const l2 = new InMemoryHandler({ maxBytes: 1 << 20 });
    const sw = switchable(l1);
    const orch = new L1L2(sw.handler, l2);
    await orch.store(set('d', 'v'));
    sw.down = true;
    expect(await orch.delete({ key: key('d') })).toBe('DELETED');
    sw.down = false;
    expect(await orch.get({ key: key('d') })).toBeUndefined();
  });
});

describe('L1L2 with more keys in doubt than it tracks', () => {
  it('reads nothing from L1 until L1 has been flushed, then uses it again', async () => {
    const l1 = new InMemoryHandler({ maxBytes: 16 << 20 });
    const l2 = new InMemoryHandler({ maxBytes: 16 << 20 });
    const sw = switchable(l1);
    const orch = new L1L2(sw.handler, l2);
    await orch.store(set('kept', 'old'));
    sw.down = true;
    // One more key than are tracked one by one, each rewritten while L1 is unreachable.
    await Promise.all(Array.from({ length: 10_001 }, (_, i) => orch.store(set(`k${i}`, 'new'))));
    await orch.store(set('kept', 'new'));
    sw.down = false;
    // L1 still holds the old copy, but is not read: L2 answers.
    expect(value(l1.get({ key: key('kept') }))).toBe('old');
    expect(value(await orch.get({ key: key('kept') }))).toBe('new');
    // The flush is retried until L1 takes it (once a second); then L1 is empty and read again.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && l1.get({ key: key('k0') }) === undefined && value(l1.get({ key: key('kept') })) !== 'new') {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 1200));
    expect(value(await orch.get({ key: key('kept') }))).toBe('new');
    expect(value(l1.get({ key: key('kept') }))).toBe('new');
    expect(l1.get({ key: key('k1') })).toBeUndefined();
  });
});
