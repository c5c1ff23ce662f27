/**
 * FailoverRoute, MissFailoverRoute and LatestRoute over scripted children: which child gets each command, which
 * answer the client gets, for every error kind, with synchronous, asynchronous and held answers.
 * Real memcached children: routes-memcached.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { FAILOVER_KINDS, failover, latest, missFailover, type FailoverKind } from '../src/index.js';
import { deleteCmd, errors, getCmd, incrCmd, item, outcome, ready, Scripted, setCmd, touchCmd, type Timing } from './scripted-child.js';

const TIMINGS: Timing[] = ['sync', 'async'];
const hit = item('k', 'v');

describe('FailoverRoute', () => {
  for (const timing of TIMINGS) {
    describe(`children answering ${timing}`, () => {
      it('answers from the first child when it answers, a miss included, and asks no other', async () => {
        for (const first of [hit, undefined]) {
          const a = Scripted.always(first, timing);
          const b = Scripted.always(item('k', 'b'), timing);
          const r = failover([a, b]);
          const out = r.get(getCmd('k'));
          expect(ready(out)).toBe(timing === 'sync');
          expect(await out).toEqual(first);
          expect(b.calls).toEqual([]);
        }
      });

      it('fails over on every default kind, and answers client_error at once', async () => {
        for (const kind of FAILOVER_KINDS) {
          const a = Scripted.always(errors[kind], timing);
          const b = Scripted.always(hit, timing);
          const out = await outcome(failover([a, b]).get(getCmd('k')));
          if (kind === 'client_error') {
            expect(out).toBe(errors.client_error);
            expect(b.calls).toEqual([]);
          } else {
            expect(out).toEqual(hit);
            expect(b.calls).toEqual(['get k']);
          }
        }
      });

      it('answers the last error when every child fails', async () => {
        const a = Scripted.always(errors.data_timeout, timing);
        const b = Scripted.always(errors.remote_error, timing);
        const c = Scripted.always(errors.busy, timing);
        expect(await outcome(failover([a, b, c]).get(getCmd('k')))).toBe(errors.busy);
        expect([a.calls, b.calls, c.calls]).toEqual([['get k'], ['get k'], ['get k']]);
      });
    });
  }

  it('fails over writes, deletes, incr and touch alike', async () => {
    const a = Scripted.always(errors.data_timeout, 'async');
    const b = new Scripted((op) => (op === 'store' || op === 'arithmetic' ? hit : op === 'delete' ? 'DELETED' : 'TOUCHED'));
    const r = failover([a, b]);
    expect(await r.store(setCmd('k', 'v'))).toEqual(hit);
    expect(await r.delete(deleteCmd('k'))).toBe('DELETED');
    expect(await r.arithmetic(incrCmd('k'))).toEqual(hit);
    expect(await r.touch(touchCmd('k'))).toBe('TOUCHED');
    expect(b.calls).toEqual(['set k v', 'delete k', 'incr k', 'touch k']);
  });

  it('fails over only on the kinds given, per class of command as mcrouter', async () => {
    const only: FailoverKind[] = ['remote_error'];
    const a = Scripted.always(errors.data_timeout, 'async');
    const b = Scripted.always(hit);
    const r = failover([a, b], { failoverErrors: only });
    expect(await outcome(r.get(getCmd('k')))).toBe(errors.data_timeout);
    expect(await outcome(r.store(setCmd('k', 'v')))).toBe(errors.data_timeout);
    // incr, decr and touch keep mcrouter's default kinds, whatever the list.
    expect(await outcome(r.arithmetic(incrCmd('k')))).toEqual(hit);
    expect(b.calls).toEqual(['incr k']);

    const perClass = failover([a, b], { failoverErrors: { gets: ['data_timeout'], updates: ['remote_error'] } });
    expect(await outcome(perClass.get(getCmd('k')))).toEqual(hit);
    expect(await outcome(perClass.store(setCmd('k', 'v')))).toBe(errors.data_timeout);
    expect(await outcome(perClass.delete(deleteCmd('k')))).toEqual(hit); // deletes: the default kinds
  });

  it('tries at most failoverLimit children that answer with an error; tko and connect errors do not count', async () => {
    const timeout = () => Scripted.always(errors.data_timeout, 'async');
    const [a, b, c] = [timeout(), timeout(), Scripted.always(hit)];
    expect(await outcome(failover([a, b, c], { failoverLimit: 2 }).get(getCmd('k')))).toBe(errors.data_timeout);
    expect(c.calls).toEqual([]);
    expect(await outcome(failover([a, b, c], { failoverLimit: 1 }).get(getCmd('k')))).toBe(errors.data_timeout);
    expect(b.calls).toEqual(['get k']);

    const refused = Scripted.always(errors.connect_error, 'async');
    const out = Scripted.always(errors.tko, 'async');
    const d = Scripted.always(hit);
    expect(await outcome(failover([refused, out, timeout(), d], { failoverLimit: 2 }).get(getCmd('k')))).toEqual(hit);
    expect(() => failover([a], { failoverLimit: 0 })).toThrow(RangeError);
  });

  it('skips a child that does not serve the key, without sending; the last child is always asked', async () => {
    const a = Scripted.always(hit);
    const b = Scripted.always(item('k', 'b'));
    a.servesKeys = false;
    const r = failover([a, b]);
    expect(r.get(getCmd('k'))).toEqual(item('k', 'b'));
    expect(a.calls).toEqual([]);
    expect(r.serves(Buffer.from('k'))).toBe(true);

    b.servesKeys = false;
    b.answer = () => errors.tko;
    expect(await outcome(r.get(getCmd('k')))).toBe(errors.tko);
    expect(a.calls).toEqual([]);
    expect(b.calls).toEqual(['get k', 'get k']);
    expect(r.serves(Buffer.from('k'))).toBe(false);

    // Without tko among the kinds, a child out of service is asked and its error answered, as mcrouter.
    const strict = failover([a, Scripted.always(hit)], { failoverErrors: ['data_timeout'] });
    a.answer = () => errors.tko;
    a.timing = 'async';
    expect(await outcome(strict.get(getCmd('k')))).toBe(errors.tko);
  });

  it('a child that throws synchronously fails over like one that rejects', async () => {
    const a = Scripted.always(errors.connect_error, 'sync');
    const b = Scripted.always(hit);
    expect(await failover([a, b]).get(getCmd('k'))).toEqual(hit);
  });

  it('a held first child holds the answer until it fails, then the next answers', async () => {
    const a = Scripted.always(errors.data_timeout, 'held');
    const b = Scripted.always(hit, 'held');
    const p = failover([a, b]).get(getCmd('k'));
    await Promise.resolve();
    expect(b.calls).toEqual([]);
    a.release();
    await new Promise((r) => setImmediate(r));
    expect(b.waiting).toBe(1);
    b.release();
    expect(await p).toEqual(hit);
  });
});

describe('MissFailoverRoute', () => {
  for (const timing of TIMINGS) {
    it(`gets go on past misses and errors to the first hit (${timing})`, async () => {
      const a = Scripted.always(undefined, timing);
      const b = Scripted.always(errors.data_timeout, timing);
      const c = Scripted.always(hit, timing);
      const d = Scripted.always(item('k', 'd'), timing);
      expect(await missFailover([a, b, c, d]).get(getCmd('k'))).toEqual(hit);
      expect([a.calls, b.calls, c.calls, d.calls]).toEqual([['get k'], ['get k'], ['get k'], []]);
    });

    it(`answers the last child's answer when none hits (${timing})`, async () => {
      const miss = Scripted.always(undefined, timing);
      const failing = Scripted.always(errors.remote_error, timing);
      expect(await outcome(missFailover([miss, failing]).get(getCmd('k')))).toBe(errors.remote_error);
      expect(await outcome(missFailover([failing, miss]).get(getCmd('k')))).toBeUndefined();
      // return_best_on_error: the miss of a healthy child rather than the error of the last.
      expect(await outcome(missFailover([miss, failing], { returnBestOnError: true }).get(getCmd('k')))).toBeUndefined();
    });
  }

  it('deletes go on until one deletes; other commands go to the first child only', async () => {
    const a = new Scripted((op) => (op === 'delete' ? 'NOT_FOUND' : op === 'touch' ? 'NOT_FOUND' : errors.data_timeout));
    const b = new Scripted((op) => (op === 'delete' ? 'DELETED' : hit));
    const r = missFailover([a, b]);
    expect(await r.delete(deleteCmd('k'))).toBe('DELETED');
    expect(await outcome(r.store(setCmd('k', 'v')))).toBe(errors.data_timeout);
    expect(await outcome(r.arithmetic(incrCmd('k')))).toBe(errors.data_timeout);
    expect(r.touch(touchCmd('k'))).toBe('NOT_FOUND');
    expect(a.calls).toEqual(['delete k', 'set k v', 'incr k', 'touch k']);
    expect(b.calls).toEqual(['delete k']);
  });

  it('answers synchronously when every child does', () => {
    const out = missFailover([Scripted.always(undefined), Scripted.always(hit)]).get(getCmd('k'));
    expect(ready(out)).toBe(true);
    expect(out).toEqual(hit);
  });
});

describe('LatestRoute', () => {
  const ten = () => Array.from({ length: 10 }, (_, i) => Scripted.always(item('k', String(i)), 'async'));

  it('fails over across failoverCount children picked once from its seed', async () => {
    const children = ten();
    const r = latest(children, { failoverCount: 3, seed: 42 });
    expect(r.kind).toBe('LatestRoute');
    const first = (await r.get(getCmd('k'))) as { value: Buffer };
    for (let i = 0; i < 20; i++) expect(((await r.get(getCmd('k'))) as { value: Buffer }).value).toEqual(first.value);
    const chosen = children.filter((c) => c.calls.length > 0);
    expect(chosen.length).toBe(1);

    // The same seed picks the same children in the same order; failing them one by one walks that order.
    const again = ten();
    const order: number[] = [];
    const route = latest(again, { failoverCount: 3, seed: 42 });
    for (let n = 0; n < 3; n++) {
      const v = (await route.get(getCmd('k'))) as { value: Buffer };
      const i = Number(String(v.value));
      order.push(i);
      again[i]!.answer = () => errors.data_timeout;
    }
    expect(order[0]).toBe(Number(String(first.value)));
    expect(new Set(order).size).toBe(3);
    expect(await outcome(route.get(getCmd('k')))).toBe(errors.data_timeout);
    expect(again.filter((c) => c.calls.length > 0).length).toBe(3);
  });

  it('different seeds spread the first choice; every child is still flushed and closed', async () => {
    const firsts = new Set<number>();
    for (let seed = 0; seed < 50; seed++) {
      const children = ten();
      const v = (await latest(children, { seed }).get(getCmd('k'))) as { value: Buffer };
      firsts.add(Number(String(v.value)));
    }
    expect(firsts.size).toBeGreaterThan(5);

    const children = ten();
    const r = latest(children, { failoverCount: 2, seed: 7 });
    await r.flush(0);
    await r.close();
    expect(children.every((c) => c.flushed === 1 && c.closed === 1)).toBe(true);
    expect(() => latest(children, { failoverCount: 0 })).toThrow(RangeError);
  });
});
