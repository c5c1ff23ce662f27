/**
 * Model-based tests: random command sequences (with clock moves) run against
 * the handler and against a plain reference model of memcached's semantics;
 * every reply must agree. A second property squeezes the handler into a tiny
 * memory limit and checks the accounting invariants.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ItemView, StoreMode } from '@cleave/protocol';
import { InMemoryHandler } from '../src/index.js';
import { FakeClock } from './helpers.js';

const KEYS = ['a', 'b', 'c', 'dd', 'k\u00ff'];
const U64 = (1n << 64n) - 1n;

interface ModelItem {
  value: Buffer;
  flags: number;
  cas: bigint;
  exptime: number;
  stale: boolean;
  tokenSent: boolean;
}

/** The reference: a Map, no LRU, no memory limit, memcached's rules written plainly. */
class Model {
  items = new Map<string, ModelItem>();
  cas = 1n;
  constructor(private readonly clock: FakeClock) {}
  private now(): number {
    return this.clock.sec;
  }
  private abs(e: number): number {
    if (e === 0) return 0;
    if (e < 0) return 1;
    return e > 2592000 ? e : this.now() + e;
  }
  private next(): bigint {
    return this.cas++;
  }
  live(key: string): ModelItem | undefined {
    const it = this.items.get(key);
    if (it && it.exptime !== 0 && it.exptime <= this.now()) {
      this.items.delete(key);
      return undefined;
    }
    return it;
  }
  private put(key: string, it: Omit<ModelItem, 'cas'>): ModelItem {
    const full = { ...it, cas: this.next() };
    if (full.exptime !== 0 && full.exptime <= this.now()) this.items.delete(key);
    else this.items.set(key, full);
    return full;
  }
  store(mode: StoreMode, key: string, value: Buffer, flags: number, exptime: number, compareCas?: bigint): ModelItem | string {
    const old = this.live(key);
    const casMode = compareCas !== undefined && (mode === 'set' || mode === 'replace');
    if (!old) {
      if (casMode) return 'NOT_FOUND';
      if (mode === 'replace' || mode === 'append' || mode === 'prepend') return 'NOT_STORED';
      return this.put(key, { value, flags, exptime: this.abs(exptime), stale: false, tokenSent: false });
    }
    if (mode === 'add') return 'NOT_STORED';
    if (mode === 'append' || mode === 'prepend') {
      if (compareCas !== undefined && compareCas !== 0n && compareCas !== old.cas) return 'EXISTS';
      const v = mode === 'append' ? Buffer.concat([old.value, value]) : Buffer.concat([value, old.value]);
      return this.put(key, { value: v, flags: old.flags, exptime: old.exptime, stale: false, tokenSent: false });
    }
    if (casMode && (compareCas === 0n || compareCas !== old.cas)) return 'EXISTS';
    return this.put(key, { value, flags, exptime: this.abs(exptime), stale: false, tokenSent: false });
  }
  get(key: string, touch?: number): ModelItem | undefined {
    const it = this.live(key);
    if (!it) return undefined;
    if (touch !== undefined) it.exptime = this.abs(touch);
    return it;
  }
  delete(key: string, compareCas?: bigint, invalidate?: boolean): string {
    const it = this.live(key);
    if (!it) return 'NOT_FOUND';
    if (compareCas !== undefined && compareCas !== it.cas) return 'EXISTS';
    if (invalidate) {
      it.stale = true;
      it.tokenSent = false;
      it.cas = this.next();
    } else this.items.delete(key);
    return 'DELETED';
  }
  touch(key: string, exptime: number): string {
    const it = this.live(key);
    if (!it) return 'NOT_FOUND';
    it.exptime = this.abs(exptime);
    return 'TOUCHED';
  }
  arith(key: string, incr: boolean, delta: bigint): string {
    const it = this.live(key);
    if (!it) return 'NOT_FOUND';
    const s = it.value.toString('latin1');
    const m = /^[ \t\n\v\f\r]*\+?([0-9]+)(?:[ \t\n\v\f\r\0]|$)/.exec(s);
    if (!m || BigInt(m[1]!) > U64) return 'NON_NUMERIC';
    const cur = BigInt(m[1]!);
    const r = incr ? (cur + delta) & U64 : delta > cur ? 0n : cur - delta;
    const digits = r.toString();
    if (digits.length <= it.value.length) {
      it.value = Buffer.from(digits.padEnd(it.value.length, ' '), 'latin1');
      it.cas = this.next();
    } else {
      this.put(key, { value: Buffer.from(digits, 'latin1'), flags: it.flags, exptime: it.exptime, stale: false, tokenSent: false });
    }
    return digits;
  }
  flush(): void {
    // Everything stored so far is gone; flush_all consumes a CAS unique.
    this.items.clear();
    this.next();
  }
}

type Op =
  | { op: 'store'; mode: StoreMode; key: string; value: string; flags: number; exptime: number; cas?: 'match' | 'wrong' | 'zero' }
  | { op: 'get'; key: string; touch?: number }
  | { op: 'delete'; key: string; cas?: 'match' | 'wrong'; invalidate: boolean }
  | { op: 'touch'; key: string; exptime: number }
  | { op: 'arith'; key: string; incr: boolean; delta: bigint }
  | { op: 'flush' }
  | { op: 'advance'; seconds: number };

const key = fc.constantFrom(...KEYS);
const exptime = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 120 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: -1 }) },
  { weight: 1, arbitrary: fc.constantFrom(2592000, 2592001) },
  // Absolute Unix times around the clock's start (1_700_000_000).
  { weight: 1, arbitrary: fc.integer({ min: 1_699_999_990, max: 1_700_000_300 }) },
);
const value = fc.oneof(
  fc.constantFrom('', '0', '9', '10', '99', ' 5', '007', '18446744073709551615', 'abc', '12 x'),
  fc.string({ maxLength: 12 }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        op: fc.constant('store' as const),
        mode: fc.constantFrom<StoreMode>('set', 'add', 'replace', 'append', 'prepend'),
        key,
        value,
        flags: fc.constantFrom(0, 1, 0xffffffff),
        exptime,
        cas: fc.constantFrom('match' as const, 'wrong' as const, 'zero' as const),
      },
      { requiredKeys: ['op', 'mode', 'key', 'value', 'flags', 'exptime'] },
    ),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('get' as const), key, touch: exptime }, { requiredKeys: ['op', 'key'] }) },
  {
    weight: 2,
    arbitrary: fc.record(
      { op: fc.constant('delete' as const), key, cas: fc.constantFrom('match' as const, 'wrong' as const), invalidate: fc.boolean() },
      { requiredKeys: ['op', 'key', 'invalidate'] },
    ),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('touch' as const), key, exptime }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('arith' as const),
      key,
      incr: fc.boolean(),
      delta: fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: U64 })),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'flush' as const }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('advance' as const), seconds: fc.integer({ min: 0, max: 90 }) }) },
);

function view(it: ItemView | undefined) {
  return it === undefined ? undefined : { value: it.value.toString('latin1'), flags: it.flags, cas: it.cas, exptime: it.exptime, stale: it.stale === true };
}
function modelView(it: ModelItem | undefined) {
  return it === undefined ? undefined : { value: it.value.toString('latin1'), flags: it.flags, cas: it.cas, exptime: it.exptime, stale: it.stale };
}

describe('model-based', () => {
  it('agrees with the reference model on every reply for random command sequences', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const clock = new FakeClock();
        const h = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0, maxBytes: 1 << 30 });
        const m = new Model(clock);
        try {
          for (const o of ops) {
            const kb = o.op === 'flush' || o.op === 'advance' ? Buffer.alloc(0) : Buffer.from(o.key, 'latin1');
            switch (o.op) {
              case 'store': {
                const cur = m.live(o.key);
                const compareCas = o.cas === undefined ? undefined : o.cas === 'zero' ? 0n : o.cas === 'match' ? (cur?.cas ?? 424242n) : (cur?.cas ?? 0n) + 7n;
                const v = Buffer.from(o.value, 'latin1');
                const got = h.store({ mode: o.mode, key: kb, value: v, flags: o.flags, exptime: o.exptime, ...(compareCas !== undefined ? { compareCas } : {}) });
                const want = m.store(o.mode, o.key, v, o.flags, o.exptime, compareCas);
                if (typeof want === 'string') expect(got).toBe(want);
                else expect(typeof got === 'string' ? got : got.cas).toBe(want.cas);
                break;
              }
              case 'get': {
                const got = h.get({ key: kb, ...(o.touch !== undefined ? { touch: o.touch } : {}) });
                const want = m.get(o.key, o.touch);
                expect(view(got)).toEqual(modelView(want));
                break;
              }
              case 'delete': {
                const cur = m.live(o.key);
                const compareCas = o.cas === undefined ? undefined : o.cas === 'match' ? (cur?.cas ?? 1n) : (cur?.cas ?? 0n) + 3n;
                const got = h.delete({ key: kb, invalidate: o.invalidate, ...(compareCas !== undefined ? { compareCas } : {}) });
                expect(got).toBe(m.delete(o.key, compareCas, o.invalidate));
                break;
              }
              case 'touch':
                expect(h.touch({ key: kb, exptime: o.exptime })).toBe(m.touch(o.key, o.exptime));
                break;
              case 'arith': {
                const got = h.arithmetic({ key: kb, incr: o.incr, delta: o.delta });
                const want = m.arith(o.key, o.incr, o.delta);
                expect(typeof got === 'string' ? got : got.value.toString('latin1')).toBe(want);
                break;
              }
              case 'flush':
                h.flush(0);
                m.flush();
                break;
              case 'advance':
                clock.advance(o.seconds);
                break;
            }
          }
          // Final state: every key agrees, and the counts match the model.
          for (const k of KEYS) expect(view(h.get({ key: Buffer.from(k, 'latin1'), noBump: true }))).toEqual(modelView(m.live(k)));
          expect(h.size).toBe(m.items.size);
        } finally {
          h.close();
        }
      }),
      { numRuns: 400 },
    );
  });

  it('under a small memory limit, memory never exceeds maxBytes and bytes always equals the size of the contents', () => {
    const keyArb = fc.integer({ min: 0, max: 40 }).map((i) => `key${i}`);
    const smallOp = fc.oneof(
      fc.record({ t: fc.constant('set' as const), k: keyArb, len: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 3000, max: 40_000 })), exp: fc.constantFrom(0, 0, 5, 30, -1) }),
      fc.record({ t: fc.constant('append' as const), k: keyArb, len: fc.integer({ min: 0, max: 2000 }) }),
      fc.record({ t: fc.constant('get' as const), k: keyArb }),
      fc.record({ t: fc.constant('del' as const), k: keyArb }),
      fc.record({ t: fc.constant('incr' as const), k: keyArb }),
      fc.record({ t: fc.constant('vivify' as const), k: keyArb }),
      fc.record({ t: fc.constant('tick' as const), s: fc.integer({ min: 0, max: 70 }) }),
      fc.record({ t: fc.constant('sweep' as const), n: fc.integer({ min: 1, max: 10 }) }),
    );
    fc.assert(
      fc.property(fc.array(smallOp, { maxLength: 300 }), fc.integer({ min: 64 * 1024, max: 256 * 1024 }), (ops, maxBytes) => {
        const clock = new FakeClock();
        const h = new InMemoryHandler({ clock: clock.now, sweepIntervalMs: 0, maxBytes, maxItemSize: 64 * 1024 });
        try {
          for (const o of ops) {
            const key = 'k' in o ? Buffer.from(o.k) : Buffer.alloc(0);
            switch (o.t) {
              case 'set':
                h.store({ mode: 'set', key, value: Buffer.alloc(o.len, 0x31), flags: 0, exptime: o.exp });
                break;
              case 'append':
                h.store({ mode: 'append', key, value: Buffer.alloc(o.len, 0x32), flags: 0, exptime: 0 });
                break;
              case 'get':
                h.get({ key });
                break;
              case 'del':
                h.delete({ key });
                break;
              case 'incr':
                h.arithmetic({ key, incr: true, delta: 99999n, initial: 1n });
                break;
              case 'vivify':
                h.get({ key, vivify: 10 });
                break;
              case 'tick':
                clock.advance(o.s);
                break;
              case 'sweep':
                h.sweep(o.n);
                break;
            }
            expect(h.memoryUsed).toBeLessThanOrEqual(maxBytes);
            expect(h.bytes).toBeLessThanOrEqual(h.memoryUsed);
            expect(h.bytes).toBeGreaterThanOrEqual(0);
            expect(h.stats('')!.curr_items).toBe(h.size);
          }
          // Looking every key up drops the expired ones; then bytes is exactly the sum of what is left.
          let sum = 0;
          let n = 0;
          for (let i = 0; i <= 40; i++) {
            const k = Buffer.from(`key${i}`);
            const it = h.get({ key: k, noBump: true });
            if (it) {
              sum += h.itemSize(k.length, it.value.length);
              n++;
            }
          }
          expect(h.size).toBe(n);
          expect(h.bytes).toBe(sum);
        } finally {
          h.close();
        }
      }),
      { numRuns: 300 },
    );
  });
});
