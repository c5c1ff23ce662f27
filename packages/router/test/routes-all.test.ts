/**
 * AllSyncRoute, AllAsyncRoute, AllMajorityRoute, AllFastestRoute, AllInitialRoute and RandomRoute over scripted
 * children: every child gets every command in order, which answer the client gets and when, failures of children
 * the client does not wait for never surface, and those children get their own copy of the command's bytes.
 * Real memcached children: routes-memcached.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allAsync, allFastest, allInitial, allMajority, allSync, random } from '../src/index.js';
import { deleteCmd, errors, getCmd, incrCmd, item, outcome, ready, Scripted, setCmd, touchCmd, type Timing } from './scripted-child.js';

const hit = item('k', 'v');
const TIMINGS: Timing[] = ['sync', 'async'];

/** Unhandled rejections seen while a test ran: a child's failure must never leave one. */
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeEach(() => {
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
});
afterEach(async () => {
  await new Promise((r) => setTimeout(r, 10));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

const turn = () => new Promise((r) => setImmediate(r));

describe('AllSyncRoute', () => {
  for (const timing of TIMINGS) {
    it(`sends to every child and answers the worst answer (${timing})`, async () => {
      const found = Scripted.always(hit, timing);
      const miss = Scripted.always(undefined, timing);
      const failing = Scripted.always(errors.remote_error, timing);
      expect(await outcome(allSync([found, miss, failing]).get(getCmd('k')))).toBe(errors.remote_error);
      expect(await outcome(allSync([found, miss]).get(getCmd('k')))).toBeUndefined();
      expect(await outcome(allSync([found, found]).get(getCmd('k')))).toEqual(hit);
      // severity: client_error (9) > local_error (8) > remote_error (7) > a failed server (5) > NOT_STORED (4) > stored (1)
      const stored = Scripted.always(hit, timing);
      const notStored = Scripted.always('NOT_STORED', timing);
      const timeout = Scripted.always(errors.data_timeout, timing);
      expect(await outcome(allSync([stored, notStored]).store(setCmd('k', 'v')))).toBe('NOT_STORED');
      expect(await outcome(allSync([notStored, timeout, stored]).store(setCmd('k', 'v')))).toBe(errors.data_timeout);
      const bug = Scripted.always(errors.local_error, timing);
      const bad = Scripted.always(errors.client_error, timing);
      expect(await outcome(allSync([bug, failing, timeout]).store(setCmd('k', 'v')))).toBe(errors.local_error);
      expect(await outcome(allSync([bug, bad]).store(setCmd('k', 'v')))).toBe(errors.client_error);
      for (const c of [found, miss, failing]) expect(c.calls.length).toBeGreaterThan(0);
    });
  }

  it('of equally bad answers, the first child’s; waits for the slowest', async () => {
    const a = Scripted.always(errors.data_timeout, 'held');
    const b = Scripted.always(errors.connect_error, 'async');
    const p = allSync([a, b]).delete(deleteCmd('k'));
    let done = false;
    void Promise.resolve(p).then(
      () => (done = true),
      () => (done = true),
    );
    await turn();
    expect(done).toBe(false);
    a.release();
    expect(await outcome(p)).toBe(errors.data_timeout);
  });

  it('answers synchronously when every child does', () => {
    const out = allSync([Scripted.always('DELETED'), Scripted.always('NOT_FOUND')]).delete(deleteCmd('k'));
    expect(ready(out)).toBe(true);
    expect(out).toBe('NOT_FOUND');
  });
});

describe('AllAsyncRoute', () => {
  it("answers mcrouter's default reply at once, whatever the children answer", async () => {
    for (const a of [hit, undefined, errors.remote_error, errors.local_error]) {
      const children = [Scripted.always(a, 'held'), Scripted.always(a, 'async'), Scripted.always(a, 'sync')];
      const r = allAsync(children);
      const outs = [
        r.get(getCmd('k')),
        r.store(setCmd('k', 'v')),
        r.delete(deleteCmd('k')),
        r.arithmetic(incrCmd('k')),
        r.touch(touchCmd('k')),
      ];
      expect(outs.every(ready)).toBe(true);
      expect(outs).toEqual([undefined, 'NOT_STORED', 'NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND']);
      for (const c of children) expect(c.calls).toEqual(['get k', 'set k v', 'delete k', 'incr k', 'touch k']);
      children[0]!.release();
    }
  });

  it('children get their own copy of the key and value, kept after the client is answered', async () => {
    const held = Scripted.always(hit, 'held');
    const cmd = setCmd('key', 'value');
    allAsync([held]).store(cmd);
    cmd.key.fill(0x78);
    cmd.value.fill(0x78);
    expect(String(held.cmds[0]!.key)).toBe('key');
    expect(String(held.cmds[0]!.value)).toBe('value');
    held.release();
  });
});

describe('AllMajorityRoute', () => {
  it('answers once a majority agrees, without waiting for the rest', async () => {
    const a = Scripted.always(errors.remote_error, 'async');
    const b = Scripted.always(undefined, 'held');
    const c = Scripted.always(errors.remote_error, 'async');
    expect(await outcome(allMajority([a, b, c]).get(getCmd('k')))).toBe(errors.remote_error);
    expect(b.waiting).toBe(1);
    b.release();
    // Ready answers decide without a Promise.
    const out = allMajority([Scripted.always(hit), Scripted.always(hit), Scripted.always(undefined, 'held')]).get(getCmd('k'));
    expect(ready(out)).toBe(true);
    expect(out).toEqual(hit);
  });

  it('without a majority: the most common answer, of equally common ones the worse', async () => {
    for (const timing of TIMINGS) {
      const [a, b, c, d] = [errors.remote_error, undefined, undefined, errors.remote_error].map((x) => Scripted.always(x, timing));
      expect(await outcome(allMajority([a!, b!, c!, d!]).get(getCmd('k')))).toBe(errors.remote_error);
      const e = Scripted.always(undefined, timing);
      expect(await outcome(allMajority([a!, b!, c!, d!, e]).get(getCmd('k')))).toBeUndefined();
      // Errors of one kind count as one result.
      const t1 = Scripted.always(errors.data_timeout, timing);
      const t2 = Scripted.always(errors.data_timeout, timing);
      const found = Scripted.always(hit, timing);
      expect(await outcome(allMajority([found, t1, t2]).get(getCmd('k')))).toBe(errors.data_timeout);
    }
  });

  it('children it did not wait for keep their own copy of the command', async () => {
    const [a, b, c] = [Scripted.always(hit), Scripted.always(hit), Scripted.always(hit, 'held')];
    const cmd = getCmd('key');
    allMajority([a, b, c]).get(cmd);
    cmd.key.fill(0x78);
    expect(String(c.cmds[0]!.key)).toBe('key');
    c.release();
  });
});

describe('AllFastestRoute', () => {
  it('answers the first answer that is not a failover error', async () => {
    const a = Scripted.always(errors.remote_error, 'async');
    const b = Scripted.always(undefined, 'held');
    const c = Scripted.always(hit, 'async');
    expect(await allFastest([a, b, c]).get(getCmd('k'))).toEqual(hit);
    expect(b.waiting).toBe(1);
    b.release();
    // A miss is an answer; so is a client error.
    expect(await outcome(allFastest([a, Scripted.always(undefined, 'async')]).get(getCmd('k')))).toBeUndefined();
    expect(await outcome(allFastest([a, Scripted.always(errors.client_error, 'async')]).get(getCmd('k')))).toBe(errors.client_error);
    // A ready answer wins over a pending one.
    const out = allFastest([Scripted.always(hit, 'held'), Scripted.always(item('k', 'now'))]).get(getCmd('k'));
    expect(ready(out)).toBe(true);
    expect(out).toEqual(item('k', 'now'));
  });

  it('answers the last failure when every child fails', async () => {
    const a = Scripted.always(errors.remote_error, 'async');
    const b = Scripted.always(errors.data_timeout, 'held');
    const p = allFastest([a, b]).get(getCmd('k'));
    await turn();
    b.release();
    expect(await outcome(p)).toBe(errors.data_timeout);
  });
});

describe('AllInitialRoute', () => {
  it("answers the first child's answer; the others get the command and their failures are dropped", async () => {
    for (const timing of TIMINGS) {
      const a = Scripted.always(hit, timing);
      const b = Scripted.always(errors.remote_error, timing);
      const c = Scripted.always(undefined, 'held');
      expect(await allInitial([a, b, c]).get(getCmd('k'))).toEqual(hit);
      expect([a.calls, b.calls, c.calls]).toEqual([['get k'], ['get k'], ['get k']]);
      c.release();
      const failing = Scripted.always(errors.data_timeout, timing);
      expect(await outcome(allInitial([failing, a]).get(getCmd('k')))).toBe(errors.data_timeout);
    }
  });
});

describe('RandomRoute', () => {
  it('sends each command to one child, uniformly', () => {
    const children = [0, 1, 2, 3].map((i) => Scripted.always(item('k', String(i))));
    const r = random(children);
    for (let i = 0; i < 8000; i++) r.get(getCmd('k'));
    // 2000 each expected; the bounds are 11 standard deviations away.
    for (const c of children) {
      expect(c.calls.length).toBeGreaterThan(1500);
      expect(c.calls.length).toBeLessThan(2500);
    }
  });
});
