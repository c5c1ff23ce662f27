import { describe, expect, it } from 'vitest';
import { all, andThen, attempt, call, isPromise } from '../src/maybe.js';

describe('isPromise', () => {
  it('tells thenables from ready values', () => {
    expect(isPromise(Promise.resolve(1))).toBe(true);
    // biome-ignore lint/suspicious/noThenProperty: isPromise must tell a thenable from every other value
    expect(isPromise({ then: () => {} })).toBe(true);
    // biome-ignore lint/suspicious/noThenProperty: isPromise must tell a thenable from every other value
    for (const v of [undefined, null, 0, 'x', { then: 1 }, Buffer.alloc(1), [1]]) expect(isPromise(v)).toBe(false);
  });
});

describe('andThen', () => {
  it('applies f at once to a ready value, with no Promise', () => {
    expect(andThen(2, (x) => x * 3)).toBe(6);
    expect(andThen(undefined, () => 'miss')).toBe('miss');
  });
  it('applies f once a Promise resolves', async () => {
    const r = andThen(Promise.resolve(2), (x) => x * 3);
    expect(isPromise(r)).toBe(true);
    expect(await r).toBe(6);
  });
  it('passes a rejection through without calling f', async () => {
    let called = false;
    await expect(
      andThen(Promise.reject(new Error('no')), () => {
        called = true;
      }),
    ).rejects.toThrow('no');
    expect(called).toBe(false);
  });
});

describe('attempt', () => {
  it('returns a synchronous result or the synchronous onError result, with no Promise', () => {
    expect(
      attempt(
        () => 1,
        () => 2,
      ),
    ).toBe(1);
    expect(
      attempt(
        () => {
          throw new Error('x');
        },
        (e) => (e as Error).message,
      ),
    ).toBe('x');
  });
  it('routes a rejection to onError', async () => {
    expect(
      await attempt(
        () => Promise.reject(new Error('late')),
        (e) => `caught ${(e as Error).message}`,
      ),
    ).toBe('caught late');
  });
});

describe('call', () => {
  it('returns what f returns', () => {
    expect(call(() => 5)).toBe(5);
  });
  it('turns a synchronous throw into a rejected Promise', async () => {
    const r = call(() => {
      throw new Error('sync');
    });
    expect(isPromise(r)).toBe(true);
    await expect(r).rejects.toThrow('sync');
  });
});

describe('all', () => {
  it('returns the same array when every value is ready', () => {
    const values = [1, 2, 3];
    expect(all(values)).toBe(values);
    expect(all([])).toEqual([]);
  });
  it('waits for the Promises among them, in order', async () => {
    const r = all([1, Promise.resolve(2), 3]);
    expect(isPromise(r)).toBe(true);
    expect(await r).toEqual([1, 2, 3]);
  });
  it('rejects when one rejects', async () => {
    await expect(all([1, Promise.reject(new Error('bad'))])).rejects.toThrow('bad');
  });
});
