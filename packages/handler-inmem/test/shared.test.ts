/**
 * One store shared by threads: real worker threads (fixtures/shared-worker.mjs,
 * running a bundle of the handler's sources) and this thread, each with its
 * own InMemoryHandler over one `sharedStore`, on overlapping keys. Every
 * handler reads the time from one shared clock the test moves.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type * as Inmem from '../src/index.js';
import { nextMessage } from '@cleave/testkit';
import { asItem, bundleSources } from './helpers.js';

const WORKERS = 4;
const START_MS = 1_700_000_000_000;
const worker = fileURLToPath(new URL('./fixtures/shared-worker.mjs', import.meta.url));
const key = (s: string) => Buffer.from(s, 'latin1');

let bundle: { file: string; remove(): void } | undefined;
/** The bundle this thread uses too, so every thread runs the same code. */
let mod: typeof Inmem;

beforeAll(async () => {
  bundle = bundleSources('shared');
  mod = (await import(bundle.file)) as typeof Inmem;
}, 60_000);

afterAll(() => {
  bundle?.remove();
});

/** Worker threads over one store, each running the tasks it is sent. */
class Threads {
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private nextId = 0;

  private constructor(readonly workers: Worker[]) {
    for (const w of workers) {
      w.on('message', (m: { id: number; result?: unknown; error?: string }) => {
        const p = this.pending.get(m.id);
        if (p === undefined) return;
        this.pending.delete(m.id);
        if (m.error !== undefined) p.reject(new Error(m.error));
        else p.resolve(m.result);
      });
    }
  }

  static async start(n: number, store: Inmem.SharedStore, clock: Float64Array): Promise<Threads> {
    const workers = Array.from({ length: n }, () => new Worker(worker, { workerData: { bundle: bundle!.file, store, clock } }));
    // Each worker says it is ready once its handler exists.
    await Promise.all(workers.map(nextMessage));
    return new Threads(workers);
  }

  run<T>(i: number, task: string, args: object): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.workers[i]!.postMessage({ id, task, args });
    });
  }

  /** The same task in every worker, `args(i)` for worker i. */
  all<T>(task: string, args: (i: number) => object): Promise<T[]> {
    return Promise.all(this.workers.map((_, i) => this.run<T>(i, task, args(i))));
  }

  async stop(): Promise<void> {
    // Called with no task running, so no worker can be stopped while it holds the store lock.
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

interface Setup {
  store: Inmem.SharedStore;
  /** This thread's handler, the one that reports the store's stats. */
  h: Inmem.InMemoryHandler;
  clock: Float64Array;
  threads: Threads;
}

let running: Setup | undefined;

async function setup(options: Inmem.InMemoryHandlerOptions = {}): Promise<Setup> {
  const store = mod.sharedStore({ sweepIntervalMs: 0, ...options });
  const clock = new Float64Array(new SharedArrayBuffer(8));
  clock[0] = START_MS;
  const h = new mod.InMemoryHandler({ shared: store, clock: () => clock[0]! });
  const threads = await Threads.start(WORKERS, store, clock);
  running = { store, h, clock, threads };
  return running;
}

afterEach(async () => {
  await running?.threads.stop();
  running?.h.close();
  running = undefined;
});

const value = (h: Inmem.InMemoryHandler, k: string) => h.get({ key: key(k) })?.value.toString('latin1');
const stat = (h: Inmem.InMemoryHandler, name: string) => h.stats('')![name];

describe('a store shared by threads', () => {
  it('incr from every thread at once sums exactly', async () => {
    const { h, threads } = await setup();
    h.store({ mode: 'set', key: key('n'), value: key('0'), flags: 0, exptime: 0 });
    const N = 20_000;
    const done = threads.all<number>('incr', () => ({ k: 'n', n: N }));
    // This thread too, while the workers run: it waits on the lock like they do.
    let mine = 0;
    for (let i = 0; i < N; i++) if (typeof h.arithmetic({ key: key('n'), incr: true, delta: 1n }) === 'object') mine++;
    const theirs = await done;
    expect([mine, ...theirs]).toEqual(Array(WORKERS + 1).fill(N));
    expect(value(h, 'n')).toBe(String((WORKERS + 1) * N));
  });

  it('gets + cas from every thread never loses an update: the counter equals the cas stores that succeeded', async () => {
    const { h, threads } = await setup();
    h.store({ mode: 'set', key: key('c'), value: key('0'), flags: 0, exptime: 0 });
    const stored = await threads.all<number>('casLoop', () => ({ k: 'c', n: 5000 }));
    const total = stored.reduce((a, b) => a + b, 0);
    expect(total).toBeGreaterThan(0);
    expect(value(h, 'c')).toBe(String(total));
    // Every failed cas counted as a mismatch, every success as a hit (stats slabs, per class).
    const slabs = h.stats('slabs')!;
    const sum = (suffix: string) =>
      Object.entries(slabs)
        .filter(([k]) => k.endsWith(suffix))
        .reduce((a, [, v]) => a + Number(v), 0);
    expect(sum(':cas_hits')).toBe(total);
    expect(sum(':cas_badval')).toBe(WORKERS * 5000 - total);
  });

  it('a set in one thread is seen at once by a get in another', async () => {
    const { threads } = await setup();
    const seq = new Int32Array(new SharedArrayBuffer(4));
    const rounds = 2000;
    const [written, missed] = await Promise.all([
      threads.run<number>(0, 'pingPong', { role: 'writer', k: 'v', rounds, seq }),
      threads.run<number>(1, 'pingPong', { role: 'reader', k: 'v', rounds, seq }),
    ]);
    expect(written).toBe(0);
    expect(missed).toBe(0);
  });

  it('runBatch runs its commands as one unit: a get and a set of the value plus one, from every thread, lose no update', async () => {
    const { h, threads } = await setup();
    h.store({ mode: 'set', key: key('b'), value: key('0'), flags: 0, exptime: 0 });
    const n = 3000;
    const sets = await threads.all<number>('batchIncrement', () => ({ k: 'b', n }));
    expect(sets).toEqual(Array(WORKERS).fill(n));
    expect(value(h, 'b')).toBe(String(WORKERS * n));
  });

  it('a long runBatch lets the other threads in: a set made while it runs is seen by its later gets', async () => {
    const { h, threads } = await setup();
    h.store({ mode: 'set', key: key('w'), value: key('a'), flags: 0, exptime: 0 });
    const seq = new Int32Array(new SharedArrayBuffer(4));
    const [seenAfter] = await Promise.all([
      threads.run<number>(0, 'batchWatch', { k: 'w', want: 'b', ms: 10_000, after: 10, seq }),
      threads.run<boolean>(1, 'setWhenSignalled', { k: 'w', value: 'b', seq }),
    ]);
    // Holding the lock for the whole batch, the set would wait for its end and the batch would never see 'b'.
    expect(seenAfter).toBeGreaterThan(10);
    expect(value(h, 'w')).toBe('b');
  });

  it('counts exactly with more handlers than counter slices', async () => {
    const { store, h } = await setup();
    h.store({ mode: 'set', key: key('k'), value: key('x'), flags: 0, exptime: 0 });
    // 4 workers, this thread and sharedStore's own first handler hold slices already.
    const more = Array.from({ length: 70 }, () => new mod.InMemoryHandler({ shared: store, statsReporter: false, sweepIntervalMs: 0 }));
    try {
      for (const o of more) for (let i = 0; i < 3; i++) expect(value(o, 'k')).toBe('x');
      const slabs = h.stats('slabs')!;
      const hits = Object.entries(slabs)
        .filter(([k]) => k.endsWith(':get_hits'))
        .reduce((a, [, v]) => a + Number(v), 0);
      expect(hits).toBe(70 * 3);
      h.stats('reset');
      expect(h.stats('slabs')!['1:get_hits']).toBe(0);
    } finally {
      for (const o of more) o.close();
    }
  });

  it('CAS uniques never repeat across threads', async () => {
    const { h, threads } = await setup();
    const n = 5000;
    const done = threads.all<bigint[]>('setMany', (i) => ({ prefix: `w${i}:`, n }));
    const mine: bigint[] = [];
    for (let i = 0; i < n; i++) mine.push(asItem(h.store({ mode: 'set', key: key(`m:${i}`), value: key('x'), flags: 0, exptime: 0 })).cas);
    const all = [...mine, ...(await done).flat()];
    expect(all.length).toBe((WORKERS + 1) * n);
    expect(new Set(all).size).toBe(all.length);
    expect(stat(h, 'curr_items')).toBe((WORKERS + 1) * n);
  });

  it('eviction keeps the byte cap, with items from every thread', async () => {
    const maxBytes = 8 * 1024 * 1024;
    const { h, threads } = await setup({ maxBytes, maxItemSize: 64 * 1024 });
    const n = 20_000;
    // About 80 MiB through an 8 MiB store; each thread checks the cap after every set.
    const over = await threads.all<number>('fill', (i) => ({ prefix: `t${i}:`, n, min: 100, max: 2000, seed: i + 1 }));
    expect(over).toEqual(Array(WORKERS).fill(0));
    expect(h.memoryUsed).toBeLessThanOrEqual(maxBytes);
    expect(stat(h, 'evictions')).toBeGreaterThan(0);
    expect(stat(h, 'bytes')).toBeLessThanOrEqual(h.memoryUsed);
    // The newest items of every thread are held.
    for (let i = 0; i < WORKERS; i++) {
      let held = 0;
      for (let j = n - 200; j < n; j++) if (h.get({ key: key(`t${i}:${j}`), noBump: true }) !== undefined) held++;
      expect(held, `thread ${i}`).toBeGreaterThan(0);
    }
    expect(stat(h, 'curr_items')).toBe(h.size);
  });

  it('expiry applies across threads', async () => {
    const { h, clock, threads } = await setup();
    await threads.run(0, 'setMany', { prefix: 'e', n: 100, exptime: 10 });
    expect(await threads.run(1, 'hits', { prefix: 'e', n: 100 })).toBe(100);
    clock[0] = START_MS + 11_000;
    expect(await threads.run(2, 'hits', { prefix: 'e', n: 100 })).toBe(0);
    expect(stat(h, 'get_expired')).toBe(100);
    expect(h.size).toBe(0);
  });

  it('flush_all, now and delayed, applies across threads', async () => {
    const { h, clock, threads } = await setup();
    await threads.run(0, 'setMany', { prefix: 'f', n: 100 });
    await threads.run(1, 'flush', { delay: 0 });
    expect(await threads.run(2, 'hits', { prefix: 'f', n: 100 })).toBe(0);
    expect(stat(h, 'get_flushed')).toBe(100);
    // Items stored after the flush live; a delayed flush_all from another thread ends them when it comes.
    clock[0] = START_MS + 1000;
    await threads.run(3, 'setMany', { prefix: 'g', n: 100 });
    expect(await threads.run(0, 'hits', { prefix: 'g', n: 100 })).toBe(100);
    await threads.run(1, 'flush', { delay: 5 });
    expect(await threads.run(2, 'hits', { prefix: 'g', n: 100 })).toBe(100);
    clock[0] = START_MS + 7000;
    expect(await threads.run(3, 'hits', { prefix: 'g', n: 100 })).toBe(0);
    h.store({ mode: 'set', key: key('after'), value: key('x'), flags: 0, exptime: 0 });
    expect(value(h, 'after')).toBe('x');
  });

  it('only the reporter answers the store groups, so stats summed over threads count the store once', async () => {
    const { store, h } = await setup();
    h.store({ mode: 'set', key: key('s'), value: key('x'), flags: 0, exptime: 0 });
    const other = new mod.InMemoryHandler({ shared: store, statsReporter: false, sweepIntervalMs: 0 });
    try {
      expect(stat(h, 'curr_items')).toBe(1);
      for (const group of ['', 'items', 'slabs', 'sizes']) expect(other.stats(group), group).toEqual({});
      expect(other.stats('settings')).toEqual(h.stats('settings'));
      expect(value(other, 's')).toBe('x');
    } finally {
      other.close();
    }
  });

  it('cache_memlimit: shrinks within the reserved store; above it, MEMLIMIT_ADJUST_FAILED as memcached with preallocated memory', async () => {
    const { h } = await setup({ maxBytes: 16 * 1024 * 1024 });
    const admin = (args: string[]) => h.admin({ name: 'cache_memlimit', args })?.toString('latin1');
    expect(admin(['8'])).toBe('OK\r\n');
    expect(h.maxBytes).toBe(8 * 1024 * 1024);
    expect(admin(['16'])).toBe('OK\r\n');
    expect(admin(['17'])).toBe('MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n');
    expect(h.maxBytes).toBe(16 * 1024 * 1024);
  });
});
