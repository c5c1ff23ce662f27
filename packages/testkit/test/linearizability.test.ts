/**
 * The linearizability checker: hand-written histories it must reject (a
 * stale read, a read of a value from nowhere or from the future, a stale
 * miss, lost counter updates) and ones it must accept (reads concurrent with
 * writes), then the concurrent load against a real memcached -t 4, whose
 * history must pass, and which must fail once one read in it is made stale.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkCounter,
  checkRegisterHistory,
  runConcurrentLoad,
  startMemcached,
  type MemcachedProcess,
  type RegisterOp,
} from '../src/index.js';

const w = (value: string, start: number, end: number | undefined, client = 1): RegisterOp => ({
  key: 'k',
  kind: 'write',
  value,
  start: BigInt(start),
  end: end === undefined ? undefined : BigInt(end),
  client,
});
const r = (value: string | undefined, start: number, end: number, client = 2): RegisterOp => ({
  key: 'k',
  kind: 'read',
  value,
  start: BigInt(start),
  end: BigInt(end),
  client,
});

describe('checkRegisterHistory', () => {
  it('rejects a read of a value overwritten by a write acknowledged before the read began', () => {
    const v = checkRegisterHistory([w('a', 0, 1), w('b', 2, 3), r('a', 4, 5)]);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatch(/stale/);
  });

  it('accepts a read of the older value while the newer write is in flight, and of either of two concurrent writes', () => {
    expect(checkRegisterHistory([w('a', 0, 1), w('b', 2, 6), r('a', 4, 5)])).toEqual([]);
    expect(checkRegisterHistory([w('a', 0, 1), w('b', 2, 6), r('b', 4, 5)])).toEqual([]);
    expect(checkRegisterHistory([w('a', 0, 5), w('b', 1, 4), r('a', 6, 7)])).toEqual([]);
  });

  it('rejects a read older than what an earlier read already saw', () => {
    // b is still unacknowledged, but a read answered with it before the second read began.
    const v = checkRegisterHistory([w('a', 0, 1), w('b', 2, 100), r('b', 3, 4), r('a', 5, 6, 3)]);
    expect(v).toHaveLength(1);
    expect(v[0]).toMatch(/"a" \(stale\)/);
  });

  it('rejects a value no write stored, and one read before its write was sent', () => {
    expect(checkRegisterHistory([w('a', 0, 1), r('x', 2, 3)])[0]).toMatch(/no write on this key stored/);
    expect(checkRegisterHistory([r('a', 0, 1), w('a', 2, 3)])[0]).toMatch(/before its write was sent/);
  });

  it('rejects a miss once a write took effect, accepts one concurrent with the first write', () => {
    expect(checkRegisterHistory([w('a', 0, 1), r(undefined, 2, 3)])[0]).toMatch(/missed/);
    expect(checkRegisterHistory([w('a', 0, 4), r(undefined, 2, 3)])).toEqual([]);
  });

  it('rejects two writes of one value (the rule needs unique values)', () => {
    expect(checkRegisterHistory([w('a', 0, 1), w('a', 2, 3)])[0]).toMatch(/unique/);
  });

  it('keeps keys apart', () => {
    expect(checkRegisterHistory([w('a', 0, 1), { ...w('b', 2, 3), key: 'other' }, r('a', 4, 5)])).toEqual([]);
  });
});

describe('checkCounter', () => {
  it('accepts 1..n in any order ending at n', () => {
    expect(checkCounter('c', [2n, 1n, 3n], 3n)).toEqual([]);
  });
  it('rejects a value produced twice, one out of range, and a wrong end', () => {
    expect(checkCounter('c', [1n, 1n], 2n)[0]).toMatch(/produced twice/);
    expect(checkCounter('c', [1n, 5n], 2n)[0]).toMatch(/outside 1\.\.2/);
    expect(checkCounter('c', [1n, 2n], 1n)[0]).toMatch(/ends at 1, after 2/);
  });
});

describe('the concurrent load against memcached -t 4', () => {
  let mc: MemcachedProcess;
  beforeAll(async () => {
    mc = await startMemcached({ threads: 4 });
  });
  afterAll(async () => {
    await mc?.stop();
  });

  it('records a history that passes, and fails once one read in it is made stale', async () => {
    const res = await runConcurrentLoad({ port: mc.port, connections: 16, keys: 8, durationMs: 1500 });
    expect(res.violations).toEqual([]);
    expect(res.counts.sets).toBeGreaterThan(100);
    expect(res.counts.gets).toBeGreaterThan(100);
    expect(res.counts.casStored).toBeGreaterThan(0);
    expect(res.counts.incrs).toBeGreaterThan(0);
    // Find a read preceded by two writes in sequence (w0 acknowledged before w1 began, w1 before the read began),
    // and make it return w0's value.
    const h = res.history;
    const mutated = (() => {
      for (let i = 0; i < h.length; i++) {
        const read = h[i]!;
        if (read.kind !== 'read') continue;
        const before = h.filter((o) => o.kind === 'write' && o.key === read.key && o.end! < read.start);
        const w1 = before.sort((a, b) => (a.start < b.start ? 1 : -1))[0];
        if (!w1) continue;
        const w0 = h.find((o) => o.kind === 'write' && o.key === read.key && o.end! < w1.start);
        if (!w0) continue;
        const copy = h.slice();
        copy[i] = { ...read, value: w0.value };
        return copy;
      }
      return undefined;
    })();
    expect(mutated).toBeDefined();
    expect(checkRegisterHistory(mutated!).some((v) => v.includes('(stale)'))).toBe(true);
  });
});
