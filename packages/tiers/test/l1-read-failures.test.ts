/**
 * L2 is the authority: an L1 that fails (a memcached L1 that is down) must
 * not fail reads that L2 can answer, as it already does not fail writes.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { HandlerError, type Handler, type ItemView } from '@cleave/protocol';
import { L1L2 } from '../src/index.js';

const key = (s: string) => Buffer.from(s);
const value = (r: unknown) => (r as ItemView | undefined)?.value.toString();

/** `inner` whose reads fail: by rejecting (a backend that is down), or by throwing. */
function failingReads(inner: Handler, how: 'reject' | 'throw'): Handler {
  const down = new HandlerError('backend unavailable');
  return new Proxy(inner, {
    get(t, p, r) {
      if (p === 'get') {
        return () => {
          if (how === 'throw') throw down;
          return Promise.reject(down);
        };
      }
      return Reflect.get(t, p, r);
    },
  });
}

describe('L1L2 with an L1 whose reads fail', () => {
  for (const how of ['reject', 'throw'] as const) {
    it(`get and getMany are answered by L2 (L1 ${how}s), and the failures are reported`, async () => {
      const l1 = new InMemoryHandler({ maxBytes: 1 << 20 });
      const l2 = new InMemoryHandler({ maxBytes: 1 << 20 });
      l2.store({ mode: 'set', key: key('a'), value: Buffer.from('from-l2'), flags: 3, exptime: 0 });
      l2.store({ mode: 'set', key: key('b'), value: Buffer.from('b2'), flags: 0, exptime: 0 });
      const reported: unknown[] = [];
      const orch = new L1L2(failingReads(l1, how), l2, { onL1Error: (e) => reported.push(e) });
      const one = (await orch.get({ key: key('a') })) as ItemView;
      expect(value(one)).toBe('from-l2');
      expect(one.flags).toBe(3);
      expect(await orch.get({ key: key('missing') })).toBeUndefined();
      const many = await orch.getMany([{ key: key('a') }, { key: key('missing') }, { key: key('b') }]);
      expect(many.map(value)).toEqual(['from-l2', undefined, 'b2']);
      expect(reported.length).toBe(5);
      expect(reported.every((e) => e instanceof HandlerError)).toBe(true);
    });
  }
});
