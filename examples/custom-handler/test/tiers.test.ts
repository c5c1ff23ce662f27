/** TtlMapHandler in both tiers of the l1l2 orchestrator, called directly. */
import { describe, expect, it } from 'vitest';
import type { ItemView } from '@cleave/protocol';
import { l1l2 } from '@cleave/tiers';
import { TtlMapHandler } from '../src/ttl-map-handler.js';

const buf = (s: string) => Buffer.from(s, 'latin1');

function tiers() {
  let now = 1_700_000_000;
  const clock = () => now;
  const l1 = new TtlMapHandler({ clock });
  const l2 = new TtlMapHandler({ clock });
  // Every method of TtlMapHandler answers synchronously, and l1l2 keeps it that way.
  const o = l1l2(l1, l2);
  return { l1, l2, o, advance: (s: number) => (now += s) };
}

describe('TtlMapHandler under l1l2', () => {
  it("holds L2's CAS unique and exptime in L1 after a write", () => {
    const { l1, l2, o } = tiers();
    l2.store({ mode: 'set', key: buf('other'), value: buf('x'), flags: 0, exptime: 0 }); // L2's CAS counter runs ahead
    const stored = o.store({ mode: 'set', key: buf('k'), value: buf('v'), flags: 7, exptime: 100 }) as ItemView;
    const inL1 = l1.get({ key: buf('k'), noBump: true })!;
    const inL2 = l2.get({ key: buf('k'), noBump: true })!;
    expect(inL2.cas).toBe(stored.cas);
    expect(inL1.cas).toBe(inL2.cas);
    expect(inL1.exptime).toBe(inL2.exptime);
    expect(inL1.flags).toBe(7);
  });

  it('copies an L2 hit into L1 with its CAS unique, so a later gets from L1 can be used for cas', () => {
    const { l1, l2, o, advance } = tiers();
    const direct = l2.store({ mode: 'set', key: buf('k'), value: buf('v'), flags: 0, exptime: 60 }) as ItemView;
    expect(l1.get({ key: buf('k') })).toBeUndefined();
    expect((o.get({ key: buf('k') }) as ItemView).cas).toBe(direct.cas);
    const cached = l1.get({ key: buf('k'), noBump: true })!;
    expect(cached.cas).toBe(direct.cas);
    expect(cached.exptime).toBe(direct.exptime);
    expect(typeof o.store({ mode: 'set', key: buf('k'), value: buf('w'), flags: 0, exptime: 0, compareCas: cached.cas })).toBe('object');
    advance(60);
    expect(l2.get({ key: buf('k') })!.value.toString()).toBe('w');
  });
});
