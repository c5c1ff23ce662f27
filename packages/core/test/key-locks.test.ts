import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { nextMessage } from '@cleave/testkit';
import { describe, expect, it } from 'vitest';
import { KeyLocks, sharedKeyLocks } from '../src/key-locks.js';
import { isPromise } from '../src/maybe.js';

/** A Promise settled by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((res) => {
    resolve = res;
  });
  return { promise, resolve };
}

/** Let every pending reaction run. */
const settle = () => new Promise((r) => setImmediate(r));

describe('KeyLocks in one thread', () => {
  it('refuses a stripe count that is not a power of two', () => {
    expect(() => sharedKeyLocks(3)).toThrow(/power of two/);
    expect(() => sharedKeyLocks(0)).toThrow(/power of two/);
    expect(new KeyLocks(sharedKeyLocks(16)).stripes).toBe(16);
  });

  it('runs an uncontended change at once, with no Promise, and bumps the generation', () => {
    const locks = new KeyLocks(sharedKeyLocks(16));
    const s = locks.stripe(Buffer.from('k'));
    const g = locks.generation(s);
    expect(locks.change(s, () => 7)).toBe(7);
    expect(locks.generation(s)).toBe(g + 1);
    // Released: the next one is direct too.
    expect(locks.change(s, () => 8)).toBe(8);
  });

  it('puts every key on a stripe within the count, the same one in every view of the buffer', () => {
    const shared = sharedKeyLocks(64);
    const a = new KeyLocks(shared);
    const b = new KeyLocks(shared);
    for (let i = 0; i < 500; i++) {
      const key = Buffer.from(`key:${i}`);
      const s = a.stripe(key);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(64);
      expect(b.stripe(key)).toBe(s);
    }
  });

  it('makes a second change on the stripe wait for the first, which the same thread holds across a wait', async () => {
    const locks = new KeyLocks(sharedKeyLocks(1));
    const first = deferred();
    const order: string[] = [];
    const a = locks.change(0, () => first.promise.then(() => order.push('a')));
    const b = locks.change(0, () => order.push('b'));
    expect(isPromise(b)).toBe(true);
    await settle();
    expect(order).toEqual([]);
    first.resolve();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(locks.generation(0)).toBe(2);
    expect(locks.change(0, () => 'direct')).toBe('direct');
  });

  it('releases the lock when the call throws or rejects', async () => {
    const locks = new KeyLocks(sharedKeyLocks(1));
    expect(() =>
      locks.change(0, () => {
        throw new Error('sync');
      }),
    ).toThrow('sync');
    await expect(locks.change(0, () => Promise.reject(new Error('async')))).rejects.toThrow('async');
    expect(locks.change(0, () => 1)).toBe(1);
    expect(locks.generation(0)).toBe(3);
  });

  it('skips a copy once the stripe changed since its generation was read, and runs it otherwise without a bump', async () => {
    const locks = new KeyLocks(sharedKeyLocks(1));
    const g = locks.generation(0);
    expect(locks.ifUnchanged(0, g, () => 'filled', 'skipped')).toBe('filled');
    expect(locks.generation(0)).toBe(g);
    locks.change(0, () => undefined);
    expect(locks.ifUnchanged(0, g, () => 'filled', 'skipped')).toBe('skipped');
    // A change in progress when the copy comes: the copy waits for it, then sees the new generation.
    const g2 = locks.generation(0);
    const hold = deferred();
    const write = locks.change(0, () => hold.promise);
    const fill = locks.ifUnchanged(0, g2, () => 'filled', 'skipped');
    expect(isPromise(fill)).toBe(true);
    hold.resolve();
    await write;
    expect(await fill).toBe('skipped');
  });

  it('runs changeAll after the changes holding stripes, and holds every stripe while it runs', async () => {
    const locks = new KeyLocks(sharedKeyLocks(8));
    const hold = deferred();
    const order: string[] = [];
    const write = locks.change(5, () => hold.promise.then(() => order.push('write')));
    const flushHold = deferred();
    const flush = locks.changeAll(() => flushHold.promise.then(() => order.push('flush')));
    await settle();
    expect(order).toEqual([]);
    hold.resolve();
    await write;
    await settle();
    // The flush holds stripe 2 now: a change there waits for it.
    const later = locks.change(2, () => order.push('later'));
    expect(isPromise(later)).toBe(true);
    flushHold.resolve();
    await Promise.all([flush, later]);
    expect(order).toEqual(['write', 'flush', 'later']);
    for (let s = 0; s < 8; s++) expect(locks.generation(s)).toBe(s === 5 ? 2 : s === 2 ? 2 : 1);
  });
});

const coreDist = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** A worker that, over the same locks, adds 1 to a plain (non-atomic) counter `rounds` times, each read and write split by a turn of its event loop. */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.core).then(({ KeyLocks }) => {
  const locks = new KeyLocks(workerData.shared);
  const counter = new Int32Array(workerData.counter);
  const pause = () => new Promise((r) => setImmediate(r));
  parentPort.once('message', async () => {
    for (let i = 0; i < workerData.rounds; i++) {
      await locks.change(0, async () => {
        const v = counter[0];
        await pause();
        counter[0] = v + 1;
      });
    }
    parentPort.postMessage('done');
  });
  parentPort.postMessage('ready');
});
`;

describe('KeyLocks across threads', () => {
  it('orders changes made by several threads on one stripe: none is lost', async () => {
    expect(existsSync(coreDist), `${coreDist} is missing: run npx pnpm build first (a worker runs the built package)`).toBe(true);
    const shared = sharedKeyLocks(1);
    const counter = new SharedArrayBuffer(4);
    const rounds = 200;
    const workers = [0, 1].map(() => new Worker(WORKER, { eval: true, workerData: { core: coreDist, shared, counter, rounds } }));
    try {
      await Promise.all(workers.map(nextMessage));
      const done = workers.map(nextMessage);
      for (const w of workers) w.postMessage('go');
      // This thread takes part too, through its own view.
      const locks = new KeyLocks(shared);
      const view = new Int32Array(counter);
      for (let i = 0; i < rounds; i++) {
        await locks.change(0, async () => {
          const v = view[0]!;
          await settle();
          view[0] = v + 1;
        });
      }
      await Promise.all(done);
      expect(view[0]).toBe(3 * rounds);
      expect(locks.generation(0)).toBe(3 * rounds);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
  });
});
