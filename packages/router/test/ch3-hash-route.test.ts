/**
 * hashRoute (mcrouter's HashRoute) over fake children that record what reaches them: each key reaches exactly
 * the child mcrouter's hash names, for every op; the child's answer or error is the answer, with no failover;
 * `serves` asks the key's own child.
 */
import { describe, expect, it } from 'vitest';
import {
  BinaryStatus,
  HandlerError,
  type ArithmeticCommand,
  type DeleteCommand,
  type GetCommand,
  type Handler,
  type ItemView,
  type StoreCommand,
  type TouchCommand,
} from '@cleave/protocol';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { McrouterHash, furcHash } from '../src/hashkit/index.js';
import { HashRoute, hashRoute } from '../src/routes/hash.js';

const k = (s: string): Buffer => Buffer.from(s);
const down = new HandlerError('backend unavailable', 'BACKEND_CLOSED', BinaryStatus.ETMPFAIL);

/** An in-memory child that records the keys it is sent, and can be made to fail (synchronously or not) or not serve. */
class Child implements Handler {
  readonly mem = new InMemoryHandler({ maxBytes: 1 << 20 });
  readonly seen: string[] = [];
  failing: 'async' | 'sync' | undefined;
  serving = true;
  private answer<T>(key: Buffer, f: () => T): T | Promise<T> {
    this.seen.push(key.toString());
    if (this.failing === 'sync') throw down;
    return this.failing === 'async' ? Promise.reject(down) : f();
  }
  get(cmd: GetCommand) {
    return this.answer(cmd.key, () => this.mem.get(cmd)) as Promise<ItemView | undefined>;
  }
  store(cmd: StoreCommand) {
    return this.answer(cmd.key, () => this.mem.store(cmd));
  }
  delete(cmd: DeleteCommand) {
    return this.answer(cmd.key, () => this.mem.delete(cmd));
  }
  arithmetic(cmd: ArithmeticCommand) {
    return this.answer(cmd.key, () => this.mem.arithmetic(cmd));
  }
  touch(cmd: TouchCommand) {
    return this.answer(cmd.key, () => this.mem.touch(cmd));
  }
  flush(delay: number) {
    return this.mem.flush(delay);
  }
  close() {
    return this.mem.close();
  }
  serves(_key: Buffer): boolean {
    return this.serving;
  }
}

const children = (n: number): Child[] => Array.from({ length: n }, () => new Child());
const store = (key: string, value = 'v'): StoreCommand => ({ key: k(key), mode: 'set', value: k(value), flags: 0, exptime: 0 });

describe('hashRoute', () => {
  it('sends each key to the child furc_hash names (Ch3 by default), for every op', async () => {
    const cs = children(5);
    const route = hashRoute(cs);
    expect(route).toBeInstanceOf(HashRoute);
    expect(route.kind).toBe('HashRoute');
    const keys = Array.from({ length: 200 }, (_, i) => `key:${i}`);
    for (const key of keys) {
      expect(((await route.store(store(key, key))) as ItemView).value.toString()).toBe(key);
      expect((await route.get({ key: k(key) }))?.value.toString()).toBe(key);
      expect(await route.touch({ key: k(key), exptime: 100 })).toBe('TOUCHED');
      expect(await route.arithmetic({ key: k(key), incr: true, delta: 1n })).toBe('NON_NUMERIC');
      expect(await route.delete({ key: k(key) })).toBe('DELETED');
    }
    cs.forEach((c, i) => {
      const mine = keys.filter((key) => furcHash(k(key), 0, key.length, 5) === i);
      expect(mine.length).toBeGreaterThan(0);
      expect(c.seen).toEqual(mine.flatMap((key) => [key, key, key, key, key]));
    });
  });

  it('hashes with the hash, weights and salt it is given', async () => {
    const cs = children(4);
    const weights = [1, 0, 0.5, 1];
    const route = hashRoute(cs, { hash: 'WeightedCh3', weights, salt: '#2' });
    const h = new McrouterHash('WeightedCh3', 4, { weights, salt: '#2' });
    const keys = Array.from({ length: 300 }, (_, i) => `w${i}`);
    for (const key of keys) await route.get({ key: k(key) });
    expect(cs[1]!.seen).toEqual([]);
    cs.forEach((c, i) => expect(c.seen).toEqual(keys.filter((key) => h.select(k(key)) === i)));

    const crc = children(3);
    const crcRoute = hashRoute(crc, { hash: 'Crc32' });
    await crcRoute.get({ key: k('sample') });
    expect(crc.map((c) => c.seen.length)).toEqual(
      [0, 0, 0].map((_, i) => (i === new McrouterHash('Crc32', 3).select(k('sample')) ? 1 : 0)),
    );

    const shards = children(4);
    const shardRoute = hashRoute(shards, { hash: 'ConstShard' });
    for (const key of ['b:3:meh', 'bl:2:meh', 'bla:1:meh', 'blah:0:meh']) await shardRoute.get({ key: k(key) });
    expect(shards.map((c) => c.seen)).toEqual([['blah:0:meh'], ['bla:1:meh'], ['bl:2:meh'], ['b:3:meh']]);
  });

  it("answers with the key's child's error, asking no other child, sync throw or rejection", async () => {
    const cs = children(3);
    const route = hashRoute(cs);
    const key = 'failing-key';
    const i = furcHash(k(key), 0, key.length, 3);
    for (const how of ['async', 'sync'] as const) {
      cs[i]!.failing = how;
      await expect(Promise.resolve().then(() => route.get({ key: k(key) }))).rejects.toBe(down);
      await expect(Promise.resolve().then(() => route.store(store(key)))).rejects.toBe(down);
    }
    expect(cs.filter((_, j) => j !== i).every((c) => c.seen.length === 0)).toBe(true);
    expect(cs[i]!.seen).toEqual([key, key, key, key]);
  });

  it("serves a key when the key's own child does", () => {
    const cs = children(3);
    const route = hashRoute(cs);
    const key = k('health');
    const i = furcHash(key, 0, key.length, 3);
    expect(route.serves(key)).toBe(true);
    cs[(i + 1) % 3]!.serving = false;
    expect(route.serves(key)).toBe(true);
    cs[i]!.serving = false;
    expect(route.serves(key)).toBe(false);
    expect(route.childFor(key)).toBe(cs[i]);
  });

  it('with one child sends everything to it; refuses no children and bad options', async () => {
    const [only] = children(1);
    const route = hashRoute([only!], { hash: 'WeightedCh3', weights: [0] });
    await route.get({ key: k('a') });
    await route.get({ key: k('b') });
    expect(only!.seen).toEqual(['a', 'b']);
    expect(() => hashRoute([])).toThrow(/at least one child/);
    expect(() => hashRoute(children(2), { hash: 'Md5' as 'Ch3' })).toThrow(/unknown hash function/);
    expect(() => hashRoute(children(2), { hash: 'WeightedCh3', weights: [1, 2] })).toThrow(/destination 1 has weight 2/);
    expect(() => hashRoute(children(2), { weights: [1, 1] })).toThrow(/weights are for WeightedCh3/);
  });
});
