/**
 * Replicas, warm-up, shadow and the selectors over in-process children whose answers a test controls (synchronous or
 * not, failing, held back, out of service). Real memcached: routes-b-memcached.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { until } from '@cleave/testkit';
import {
  HandlerError,
  ItemFacts,
  type ArithmeticCommand,
  type DeleteCommand,
  type GetCommand,
  type Handler,
  type ItemView,
  type MaybePromise,
  type StoreCommand,
  type TouchCommand,
} from '@cleave/protocol';
import { operationSelector, prefixSelector, replicas, routingKeyHash, shadow, warmUp, type McOperation } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const closed = () => new HandlerError('backend closed the connection', 'BACKEND_CLOSED');
const badKey = () => new HandlerError('bad key', 'BAD_KEY');
const now = () => Math.floor(Date.now() / 1000);

/** A child over an in-memory store: logs each command, answers now or later, fails or holds its answers on demand. */
class Fake implements Handler {
  readonly mem = new InMemoryHandler({ maxBytes: 8 << 20 });
  readonly keepsNewCas = true;
  readonly log: string[] = [];
  async = false;
  failing: (() => HandlerError) | undefined;
  serving = true;
  private held: Array<() => void> | undefined;

  constructor(readonly name = '') {}

  serves(_key: Buffer): boolean {
    return this.serving;
  }

  /** Hold every answer until `release`. */
  hold(): void {
    this.held = [];
  }

  release(): void {
    const h = this.held ?? [];
    this.held = undefined;
    for (const f of h) f();
  }

  private answer<T>(what: string, f: () => MaybePromise<T>): MaybePromise<T> {
    this.log.push(what);
    const failing = this.failing;
    if (failing !== undefined && !this.async) throw failing();
    const run = () => (failing !== undefined ? Promise.reject(failing()) : Promise.resolve(f()));
    if (this.held !== undefined) {
      const held = this.held;
      return new Promise<T>((resolve, reject) => held.push(() => run().then(resolve, reject)));
    }
    return this.async || failing !== undefined ? run() : f();
  }

  get(cmd: GetCommand) {
    const op = cmd.touch !== undefined ? 'gat' : ((cmd.want ?? 0) & ItemFacts.CAS) !== 0 ? 'gets' : 'get';
    return this.answer(`${op} ${cmd.key}`, () => this.mem.get(cmd));
  }
  store(cmd: StoreCommand) {
    const value = Buffer.from(cmd.value);
    return this.answer(`${cmd.mode} ${cmd.key}`, () => this.mem.store({ ...cmd, value }));
  }
  delete(cmd: DeleteCommand) {
    return this.answer(`delete ${cmd.key}`, () => this.mem.delete(cmd));
  }
  arithmetic(cmd: ArithmeticCommand) {
    return this.answer(`${cmd.incr ? 'incr' : 'decr'} ${cmd.key}`, () => this.mem.arithmetic(cmd));
  }
  touch(cmd: TouchCommand) {
    return this.answer(`touch ${cmd.key}`, () => this.mem.touch(cmd));
  }
  flush(delay: number) {
    return this.answer('flush_all', () => this.mem.flush(delay));
  }
  stats(group: string) {
    return this.mem.stats(group);
  }
  close() {
    return this.mem.close();
  }
}

const set = (key: string, value = 'v', exptime = 0): StoreCommand => ({ key: k(key), mode: 'set', value: k(value), flags: 0, exptime });
const get = (key: string): GetCommand => ({ key: k(key) });
const valueOf = (v: unknown) => (v as ItemView | undefined)?.value.toString();

// ---------------------------------------------------------------------------
// replicas
// ---------------------------------------------------------------------------

describe('replicas', () => {
  it('writes reach every replica; synchronous replicas answer synchronously', () => {
    const [a, b] = [new Fake(), new Fake()];
    const r = replicas([a, b]);
    const out = r.store(set('x', '1'));
    expect(out instanceof Promise).toBe(false);
    expect(a.log).toEqual(['set x']);
    expect(b.log).toEqual(['set x']);
    expect(valueOf(a.mem.get(get('x')))).toBe('1');
    expect(valueOf(b.mem.get(get('x')))).toBe('1');
    for (const cmd of [{ key: k('x'), exptime: 10 }]) r.touch(cmd);
    r.delete({ key: k('x') });
    expect(a.log).toEqual(['set x', 'touch x', 'delete x']);
    expect(b.log).toEqual(a.log);
  });

  it('a write answers the worst reply: NOT_STORED over STORED, an error over both', async () => {
    const [a, b] = [new Fake(), new Fake()];
    b.mem.store(set('x', 'old'));
    const r = replicas([a, b]);
    expect(await r.store({ ...set('x', 'new'), mode: 'add' })).toBe('NOT_STORED');
    expect(valueOf(a.mem.get(get('x')))).toBe('new');
    b.async = true;
    b.failing = closed;
    await expect(r.store(set('y'))).rejects.toThrow(/closed/);
    // The healthy replica got the write all the same.
    expect(valueOf(a.mem.get(get('y')))).toBe('v');
  });

  it('writes to one key reach each replica in the order the client sent them, even when answers come late', async () => {
    const [a, b] = [new Fake(), new Fake()];
    a.async = true;
    b.hold();
    const r = replicas([a, b]);
    const first = r.store(set('k', '1'));
    const second = r.store(set('k', '2'));
    const third = r.delete({ key: k('k') });
    const fourth = r.store(set('k', '4'));
    expect(a.log).toEqual(['set k', 'set k', 'delete k', 'set k']);
    expect(b.log).toEqual(a.log);
    b.release();
    await Promise.all([first, second, third, fourth]);
    expect(valueOf(a.mem.get(get('k')))).toBe('4');
    expect(valueOf(b.mem.get(get('k')))).toBe('4');
  });

  it('gat changes the TTL: a write to every replica', async () => {
    const [a, b] = [new Fake(), new Fake()];
    const r = replicas([a, b]);
    await r.store(set('x'));
    await r.get({ key: k('x'), touch: 100 });
    expect(a.log).toEqual(['set x', 'gat x']);
    expect(b.log).toEqual(['set x', 'gat x']);
  });

  it('primary-first reads the first replica; a miss there is the answer', async () => {
    const [a, b] = [new Fake(), new Fake()];
    b.mem.store(set('x', 'only-b'));
    const r = replicas([a, b], { read: 'primary-first' });
    expect(await r.get(get('x'))).toBeUndefined();
    expect(a.log).toEqual(['get x']);
    expect(b.log).toEqual([]);
  });

  it('a replica that does not serve the key is skipped without sending; one that fails is failed over', async () => {
    const [a, b, c] = [new Fake('a'), new Fake('b'), new Fake('c')];
    const r = replicas([a, b, c]);
    await r.store(set('x', 'v'));
    for (const f of [a, b, c]) f.log.length = 0;
    a.serving = false;
    expect(valueOf(await r.get(get('x')))).toBe('v');
    expect(a.log).toEqual([]);
    expect(b.log).toEqual(['get x']);
    // b fails (synchronously, then later): c answers.
    b.failing = closed;
    expect(valueOf(await r.get(get('x')))).toBe('v');
    b.async = true;
    expect(valueOf(await r.get(get('x')))).toBe('v');
    expect(c.log).toEqual(['get x', 'get x']);
    expect(r.readFailovers).toBe(2);
    expect(r.readSkips).toBe(3);
    const st = await r.stats('');
    expect(st?.replicas_read_failovers).toBe(2);
    expect(st?.replicas).toBe(3);
    expect(st?.['replica:2:curr_items']).toBe(1);
    // Every replica down: the last failure; none serving: out of service.
    c.failing = closed;
    c.async = true;
    await expect(r.get(get('x'))).rejects.toThrow(/closed/);
    for (const f of [a, b, c]) f.serving = false;
    await expect(Promise.resolve().then(() => r.get(get('x')))).rejects.toMatchObject({ code: 'BACKEND_UNAVAILABLE' });
  });

  it('a client error is not failed over', async () => {
    const [a, b] = [new Fake(), new Fake()];
    a.failing = badKey;
    a.async = true;
    const r = replicas([a, b]);
    await expect(r.get(get('x'))).rejects.toMatchObject({ code: 'BAD_KEY' });
    expect(b.log).toEqual([]);
  });

  it('round-robin takes the replicas in turn; random reaches each, one per read', async () => {
    const fs = [new Fake(), new Fake(), new Fake()];
    const rr = replicas(fs, { read: 'round-robin' });
    for (let i = 0; i < 6; i++) await rr.get(get(`k${i}`));
    expect(fs.map((f) => f.log)).toEqual([
      ['get k0', 'get k3'],
      ['get k1', 'get k4'],
      ['get k2', 'get k5'],
    ]);
    const gs = [new Fake(), new Fake(), new Fake()];
    const rnd = replicas(gs, { read: 'random' });
    for (let i = 0; i < 300; i++) await rnd.get(get('x'));
    expect(gs.reduce((n, f) => n + f.log.length, 0)).toBe(300);
    for (const f of gs) expect(f.log.length).toBeGreaterThan(50);
  });

  it('refuses no replicas and an unknown read policy', () => {
    expect(() => replicas([])).toThrow(TypeError);
    expect(() => replicas([new Fake()], { read: 'nearest' as never })).toThrow(/read must be one of/);
  });
});

// ---------------------------------------------------------------------------
// warm-up
// ---------------------------------------------------------------------------

describe('warmUp', () => {
  it('a cold hit is the answer; warm is not asked', async () => {
    const [cold, warm] = [new Fake('cold'), new Fake('warm')];
    cold.mem.store(set('x', 'cold'));
    expect(valueOf(await warmUp(cold, warm).get(get('x')))).toBe('cold');
    expect(warm.log).toEqual([]);
  });

  it("a cold miss is answered from warm and added to cold with warm's remaining TTL", async () => {
    const [cold, warm] = [new Fake('cold'), new Fake('warm')];
    warm.async = true;
    warm.mem.store(set('x', 'warm', 1000));
    warm.mem.store(set('forever', 'warm', 0));
    const w = warmUp(cold, warm);
    const item = (await w.get(get('x'))) as ItemView;
    expect(item.value.toString()).toBe('warm');
    await until('the copy in cold', () => cold.mem.get(get('x')) !== undefined);
    expect(cold.log).toEqual(['get x', 'add x']);
    const copied = cold.mem.get(get('x')) as ItemView;
    expect(copied.value.toString()).toBe('warm');
    expect(Math.abs(copied.exptime - item.exptime)).toBeLessThanOrEqual(1);
    await w.get(get('forever'));
    await until('the copy in cold', () => cold.mem.get(get('forever')) !== undefined);
    expect((cold.mem.get(get('forever')) as ItemView).exptime).toBe(0);
    expect(w.copies).toBe(2);
  });

  it('the configured exptime replaces the remaining TTL', async () => {
    const [cold, warm] = [new Fake(), new Fake()];
    warm.mem.store(set('x', 'warm', 1000));
    await warmUp(cold, warm, { exptime: 50 }).get(get('x'));
    await until('the copy in cold', () => cold.mem.get(get('x')) !== undefined);
    const e = (cold.mem.get(get('x')) as ItemView).exptime;
    expect(e).toBeGreaterThanOrEqual(now() + 49);
    expect(e).toBeLessThanOrEqual(now() + 51);
  });

  it('an item about to expire is answered but not copied', async () => {
    const cold = new Fake();
    const item: ItemView = { key: k('x'), value: k('w'), flags: 3, cas: 1n, exptime: now() };
    const warm = { ...new Fake(), get: () => item } as unknown as Handler;
    const w = warmUp(cold, warm);
    expect(await w.get(get('x'))).toBe(item);
    expect(cold.log).toEqual(['get x']);
    expect(w.copies).toBe(0);
  });

  it('a copy never overwrites a newer write, and its failure never reaches the client', async () => {
    const [cold, warm] = [new Fake(), new Fake()];
    warm.mem.store(set('x', 'old', 1000));
    cold.async = true;
    cold.hold();
    const w = warmUp(cold, warm);
    const reply = w.get(get('x'));
    cold.release(); // the miss; the copy is held
    cold.hold();
    await until('two commands in cold', () => cold.log.length === 2);
    // A client's set lands before the copy is answered: the copy is an add and leaves it.
    cold.mem.store(set('x', 'new'));
    cold.release();
    expect(valueOf(await reply)).toBe('old');
    await until('the add in cold', () => cold.log.includes('add x'));
    expect(valueOf(cold.mem.get(get('x')))).toBe('new');
    // The add fails: the client still gets warm's hit.
    warm.mem.store(set('y', 'w', 1000));
    const failingCold = { ...cold, get: (c: GetCommand) => cold.mem.get(c), store: () => Promise.reject(closed()) } as unknown as Handler;
    const w2 = warmUp(failingCold, warm);
    expect(valueOf(await w2.get(get('y')))).toBe('w');
    await until('a copy error counted', () => w2.copyErrors === 1);
  });

  it("gets and gat: a warm hit is added to cold, then cold answers (its CAS, the gat's TTL)", async () => {
    const [cold, warm] = [new Fake('cold'), new Fake('warm')];
    warm.mem.store(set('x', 'warm', 1000));
    warm.mem.store(set('y', 'warm', 1000));
    const w = warmUp(cold, warm);
    const gets = (await w.get({ key: k('x'), want: ItemFacts.CAS })) as ItemView;
    expect(cold.log).toEqual(['gets x', 'add x', 'gets x']);
    expect(warm.log).toEqual(['get x']);
    expect(gets.cas).toBe((cold.mem.get(get('x')) as ItemView).cas);
    const gat = (await w.get({ key: k('y'), touch: 30 })) as ItemView;
    expect(gat.value.toString()).toBe('warm');
    expect(cold.log.slice(3)).toEqual(['gat y', 'add y', 'gat y']);
    expect(warm.log).toEqual(['get x', 'get y']);
    expect(gat.exptime).toBeLessThanOrEqual(now() + 31);
    // Neither a hit in warm: cold's miss.
    expect(await w.get({ key: k('z'), touch: 30 })).toBeUndefined();
    expect(cold.log.slice(6)).toEqual(['gat z']);
  });

  it('a cold error goes to warm, whose answer (miss or error) the client gets', async () => {
    const [cold, warm] = [new Fake(), new Fake()];
    cold.failing = closed;
    warm.mem.store(set('x', 'w'));
    const w = warmUp(cold, warm);
    expect(valueOf(await w.get(get('x')))).toBe('w');
    expect(await w.get(get('nothing'))).toBeUndefined();
    warm.failing = badKey;
    await expect(Promise.resolve().then(() => w.get(get('x')))).rejects.toMatchObject({ code: 'BAD_KEY' });
  });

  it('stores, deletes, incr and touch go to cold only', async () => {
    const [cold, warm] = [new Fake(), new Fake()];
    const w = warmUp(cold, warm);
    await w.store(set('n', '1'));
    await w.arithmetic({ key: k('n'), incr: true, delta: 1n });
    await w.touch({ key: k('n'), exptime: 10 });
    await w.delete({ key: k('n') });
    expect(cold.log).toEqual(['set n', 'incr n', 'touch n', 'delete n']);
    expect(warm.log).toEqual([]);
  });
});

// ---------------------------------------------------------------------------
// shadow
// ---------------------------------------------------------------------------

describe('shadow', () => {
  it("every command reaches main and the shadow; the client gets main's answer", async () => {
    const [main, sh] = [new Fake('main'), new Fake('shadow')];
    sh.mem.store(set('x', 'shadow'));
    const s = shadow(main, [{ handler: sh }]);
    await s.store(set('y', 'main'));
    main.mem.store(set('x', 'main'));
    expect(valueOf(await s.get(get('x')))).toBe('main');
    await s.delete({ key: k('y') });
    await s.arithmetic({ key: k('n'), incr: true, delta: 1n });
    await s.touch({ key: k('x'), exptime: 5 });
    await until('five commands in the shadow', () => sh.log.length === 5);
    expect(sh.log).toEqual(['set y', 'get x', 'delete y', 'incr n', 'touch x']);
    expect(s.shadowed).toBe(5);
  });

  it('a failing or silent shadow never hurts the client', async () => {
    const [main, sh] = [new Fake(), new Fake()];
    const s = shadow(main, [{ handler: sh }]);
    sh.failing = closed;
    expect(await s.store(set('x', 'v'))).toMatchObject({ value: k('v') });
    sh.async = true;
    expect(valueOf(await s.get(get('x')))).toBe('v');
    await until('two shadow errors counted', () => s.shadowErrors === 2);
    // A shadow that does not answer: main's answer comes at once.
    sh.failing = undefined;
    sh.hold();
    expect(s.get(get('x'))).toMatchObject({ value: k('v') });
    await s.flush(0);
    expect(main.log).toContain('flush_all');
    sh.release();
    // flush_all: main answers, a failing shadow does not fail it.
    sh.failing = closed;
    await expect(Promise.resolve(s.flush(0))).resolves.toBeUndefined();
  });

  it('the shadow gets its own copy of the key and value', async () => {
    const [main, sh] = [new Fake(), new Fake()];
    sh.async = true;
    sh.hold();
    const s = shadow(main, [{ handler: sh }]);
    const cmd = set('orig', 'value');
    await s.store(cmd);
    // The client's buffers are the connection's again once answered: overwrite them, as a next read would.
    cmd.key.write('XXXX');
    cmd.value.write('XXXXX');
    sh.release();
    await until('the shadow copy', () => sh.mem.get(get('orig')) !== undefined);
    expect(valueOf(sh.mem.get(get('orig')))).toBe('value');
  });

  it("keyFraction shadows exactly the keys whose routing-key hash is in mcrouter's range", async () => {
    const [main, low, high] = [new Fake(), new Fake(), new Fake()];
    const s = shadow(main, [
      { handler: low, keyFraction: [0, 0.3] },
      { handler: high, keyFraction: [0.3, 1] },
    ]);
    const cut = Math.floor(0.3 * 0xffffffff);
    const keys = Array.from({ length: 400 }, (_, i) => `key:${i}`);
    for (const key of keys) await s.get(get(key));
    const want = keys.filter((key) => routingKeyHash(k(key)) <= cut);
    expect(low.log).toEqual(want.map((key) => `get ${key}`));
    expect(high.log).toEqual(keys.filter((key) => routingKeyHash(k(key)) >= cut).map((key) => `get ${key}`));
    // SpookyHash spreads keys: about 30% fall in [0, 0.3].
    expect(want.length).toBeGreaterThan(80);
    expect(want.length).toBeLessThan(160);
  });

  it('the hash is of the routing key: no /region/cluster/ prefix, nothing after |#|', () => {
    expect(routingKeyHash(k('/a/b/foo|#|bar'))).toBe(routingKeyHash(k('foo')));
    expect(routingKeyHash(k('foo|#|x'))).toBe(routingKeyHash(k('foo')));
    expect(routingKeyHash(k('/a/foo'))).not.toBe(routingKeyHash(k('foo')));
  });

  it('requestFraction draws that share of requests', async () => {
    const [main, none, half] = [new Fake(), new Fake(), new Fake()];
    const s = shadow(main, [
      { handler: none, requestFraction: 0 },
      { handler: half, requestFraction: 0.5 },
    ]);
    for (let i = 0; i < 1000; i++) await s.get(get('x'));
    expect(none.log.length).toBe(0);
    expect(half.log.length).toBeGreaterThan(400);
    expect(half.log.length).toBeLessThan(600);
  });

  it('refuses ranges outside [0, 1]', () => {
    expect(() => shadow(new Fake(), [{ handler: new Fake(), keyFraction: [0.5, 0.2] }])).toThrow(/keyFraction/);
    expect(() => shadow(new Fake(), [{ handler: new Fake(), requestFraction: 2 }])).toThrow(/requestFraction/);
  });
});

// ---------------------------------------------------------------------------
// selectors
// ---------------------------------------------------------------------------

describe('prefixSelector', () => {
  it('the longest matching prefix wins, else the wildcard', async () => {
    const [a, ab, w] = [new Fake(), new Fake(), new Fake()];
    const p = prefixSelector({ 'a:': a, 'a:b:': ab }, w);
    for (const key of ['a:b:1', 'a:1', 'a', 'c:b:1', '/r/c/a:b:2', 'a:b|#|:x']) await p.get(get(key));
    expect(ab.log).toEqual(['get a:b:1', 'get /r/c/a:b:2']);
    expect(a.log).toEqual(['get a:1', 'get a:b|#|:x']);
    expect(w.log).toEqual(['get a', 'get c:b:1']);
  });

  it('no match and no wildcard: an error naming the reason', () => {
    const p = prefixSelector({ 'a:': new Fake() });
    expect(() => p.get(get('b:1'))).toThrow(/no route for this key/);
  });
});

describe('operationSelector', () => {
  it("routes by mcrouter's operation names, the rest to the default", async () => {
    const ops: McOperation[] = ['get', 'gets', 'set', 'cas', 'delete', 'incr'];
    const by = Object.fromEntries(ops.map((op) => [op, new Fake(op)])) as Record<string, Fake>;
    const def = new Fake('default');
    const o = operationSelector(by, def);
    await o.get(get('x'));
    await o.get({ key: k('x'), want: ItemFacts.CAS });
    await o.get({ key: k('x'), touch: 5 });
    await o.store(set('x'));
    await o.store({ ...set('x'), compareCas: 1n });
    await o.store({ ...set('x'), mode: 'add' });
    await o.delete({ key: k('x') });
    await o.arithmetic({ key: k('x'), incr: true, delta: 1n });
    await o.arithmetic({ key: k('x'), incr: false, delta: 1n });
    await o.touch({ key: k('x'), exptime: 1 });
    expect(by.get!.log).toEqual(['get x']);
    expect(by.gets!.log).toEqual(['gets x']);
    expect(by.set!.log).toEqual(['set x']);
    expect(by.cas!.log).toEqual(['set x']);
    expect(by.delete!.log).toEqual(['delete x']);
    expect(by.incr!.log).toEqual(['incr x']);
    expect(def.log).toEqual(['gat x', 'add x', 'decr x', 'touch x']);
  });

  it('refuses an operation mcrouter does not name', () => {
    expect(() => operationSelector({ fetch: new Fake() } as never, new Fake())).toThrow(/unknown operation fetch/);
  });
});
