/**
 * Reloadable: new commands go to the tree current when they arrive; swap resolves once the old tree's commands
 * settled; answers ready at once stay synchronous.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { isPromise } from '@cleave/core';
import type { GetCommand, Handler, ItemView, StoreCommand, StoreOutcome } from '@cleave/protocol';
import { Reloadable } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const set = (key: string, value: string): StoreCommand => ({ mode: 'set', key: k(key), value: k(value), flags: 0, exptime: 0 });
const get = (key: string): GetCommand => ({ key: k(key), want: 0 });

/** An in-memory store whose answers wait until the test releases them. */
class Held implements Handler {
  readonly mem = new InMemoryHandler({ maxBytes: 8 << 20 });
  private waiting: (() => void)[] = [];
  closed = false;
  get held(): number {
    return this.waiting.length;
  }
  release(): void {
    const w = this.waiting;
    this.waiting = [];
    for (const f of w) f();
  }
  private later<T>(f: () => T): Promise<T> {
    return new Promise((resolve, reject) =>
      this.waiting.push(() => {
        try {
          resolve(f());
        } catch (e) {
          reject(e);
        }
      }),
    );
  }
  get(cmd: GetCommand): Promise<ItemView | undefined> {
    return this.later(() => this.mem.get(cmd) as ItemView | undefined);
  }
  store(cmd: StoreCommand): Promise<StoreOutcome> {
    return this.later(() => this.mem.store(cmd) as StoreOutcome);
  }
  delete() {
    return this.later(() => 'NOT_FOUND' as const);
  }
  arithmetic() {
    return this.later(() => 'NOT_FOUND' as const);
  }
  touch() {
    return this.later(() => 'NOT_FOUND' as const);
  }
  flush() {
    return this.later(() => undefined);
  }
  close() {
    this.closed = true;
  }
}

const value = (it: ItemView | undefined) => (it === undefined ? undefined : Buffer.from(it.value).toString());

describe('Reloadable', () => {
  it('answers at once when the tree does (no Promise)', () => {
    const r = new Reloadable(new InMemoryHandler({ maxBytes: 8 << 20 }));
    expect(isPromise(r.store(set('a', '1')))).toBe(false);
    const got = r.get(get('a'));
    expect(isPromise(got)).toBe(false);
    expect(value(got as ItemView)).toBe('1');
    expect(r.pending).toBe(0);
  });

  it('sends new commands to the next tree at once and resolves swap once the old tree settled', async () => {
    const a = new Held();
    const b = new Held();
    const r = new Reloadable(a);
    const first = r.store(set('k', 'old'));
    const second = r.get(get('k'));
    expect(r.pending).toBe(2);
    let swapped = false;
    const swap = r.swap(b).then(() => {
      swapped = true;
    });
    expect(r.tree).toBe(b);
    const third = r.store(set('k', 'new'));
    expect(b.held).toBe(1);
    expect(a.held).toBe(2);
    await Promise.resolve();
    expect(swapped).toBe(false);
    a.release();
    expect(value((await first) as ItemView)).toBe('old');
    expect(value(await second)).toBe('old');
    await swap;
    expect(swapped).toBe(true);
    // The new tree's command is still pending: it does not hold up the swap, and is not lost.
    expect(r.pending).toBe(1);
    b.release();
    expect(value((await third) as ItemView)).toBe('new');
    expect(r.pending).toBe(0);
    expect(a.closed).toBe(false);
  });

  it('counts a failed command as settled', async () => {
    const failing: Handler = {
      get: () => Promise.reject(new Error('down')),
      store: () => Promise.reject(new Error('down')),
      delete: () => 'NOT_FOUND',
      arithmetic: () => 'NOT_FOUND',
      touch: () => 'NOT_FOUND',
      flush: () => undefined,
      close: () => undefined,
    };
    const r = new Reloadable(failing);
    const p = r.get(get('x'));
    const swap = r.swap(new InMemoryHandler({ maxBytes: 8 << 20 }));
    await expect(p).rejects.toThrow('down');
    await swap;
    expect(r.pending).toBe(0);
  });

  it('resolves swap at once when nothing is in flight, and serves multi-gets from the current tree', async () => {
    const a = new InMemoryHandler({ maxBytes: 8 << 20 });
    const b = new InMemoryHandler({ maxBytes: 8 << 20 });
    b.store(set('x', 'bx'));
    const r = new Reloadable(a);
    await r.swap(b);
    const items = (await r.getMany([get('x'), get('y')])) as (ItemView | undefined)[];
    expect(items.map(value)).toEqual(['bx', undefined]);
  });
});
