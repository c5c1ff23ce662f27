import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler, ItemView } from '@cleave/protocol';
import { L1Only, l1Only } from '../src/index.js';

const key = (s: string) => Buffer.from(s);

describe('L1Only', () => {
  it('answers synchronously when L1 does: no Promise on the in-memory path', () => {
    const orch = l1Only(new InMemoryHandler({ maxBytes: 1 << 20 }));
    const stored = orch.store({ mode: 'set', key: key('a'), value: Buffer.from('1'), flags: 3, exptime: 0 });
    expect(stored).not.toBeInstanceOf(Promise);
    const got = orch.get({ key: key('a') }) as ItemView;
    expect(got).not.toBeInstanceOf(Promise);
    expect(got.value.toString()).toBe('1');
    expect(got.flags).toBe(3);
  });

  it('hands every command to L1 unchanged', async () => {
    const calls: string[] = [];
    const inner = new InMemoryHandler({ maxBytes: 1 << 20 });
    const spy = new Proxy(inner, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    }) as Handler;
    const orch = new L1Only(spy);
    orch.store({ mode: 'set', key: key('n'), value: Buffer.from('5'), flags: 0, exptime: 0 });
    expect((orch.arithmetic({ key: key('n'), incr: true, delta: 2n }) as ItemView).value.toString()).toBe('7');
    expect(orch.touch({ key: key('n'), exptime: 100 })).toBe('TOUCHED');
    expect(orch.delete({ key: key('n') })).toBe('DELETED');
    expect(orch.get({ key: key('n') })).toBeUndefined();
    await orch.flush(0);
    expect(orch.stats('')).toMatchObject({ curr_items: 0 });
    await orch.close();
    expect(calls).toEqual(['store', 'arithmetic', 'touch', 'delete', 'get', 'flush', 'stats', 'close']);
  });
});
