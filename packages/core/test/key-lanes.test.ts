import { describe, expect, it } from 'vitest';
import { KeyLanes } from '../src/key-lanes.js';
import { isPromise } from '../src/maybe.js';

/** A Promise settled by hand. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Let every pending reaction run. */
const settle = () => new Promise((r) => setImmediate(r));

const k = (s: string) => Buffer.from(s);

describe('KeyLanes: direct path', () => {
  it('calls f at once and hands back a synchronous answer as is, tracking nothing', () => {
    const lanes = new KeyLanes();
    expect(lanes.run(k('a'), () => 1)).toBe(1);
    expect(lanes.read(k('a'), () => 2)).toBe(2);
    expect(lanes.readMany([{ key: k('a') }], () => 3)).toBe(3);
    expect(lanes.gate(() => 4)).toBe(4);
    expect(lanes.barrier(() => 5)).toBe(5);
    expect(lanes.idle).toBe(true);
    expect(lanes.size).toBe(0);
  });

  it('lets a synchronous throw through synchronously', () => {
    const lanes = new KeyLanes();
    expect(() =>
      lanes.run(k('a'), () => {
        throw new Error('sync');
      }),
    ).toThrow('sync');
    expect(lanes.idle).toBe(true);
  });

  it('stays direct for a key with nothing pending while other keys are busy', () => {
    const lanes = new KeyLanes();
    const d = deferred();
    void lanes.run(k('a'), () => d.promise);
    expect(lanes.run(k('b'), () => 'now')).toBe('now');
    d.resolve();
  });
});

describe('KeyLanes: order per key', () => {
  it('runs calls on one key in call order, each after the previous settled', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const d1 = deferred();
    const d2 = deferred();
    const r1 = lanes.run(k('a'), () => {
      log.push('1 start');
      return d1.promise.then(() => log.push('1 end'));
    });
    const r2 = lanes.run(k('a'), () => {
      log.push('2 start');
      return d2.promise.then(() => log.push('2 end'));
    });
    const r3 = lanes.run(k('a'), () => {
      log.push('3 ran');
      return 'three';
    });
    expect(isPromise(r2) && isPromise(r3)).toBe(true);
    await settle();
    expect(log).toEqual(['1 start']);
    d2.resolve(); // 2 has not started: resolving its Promise early changes nothing
    d1.resolve();
    expect(await r3).toBe('three');
    await Promise.all([r1, r2]);
    expect(log).toEqual(['1 start', '1 end', '2 start', '2 end', '3 ran']);
  });

  it('keeps keys independent', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const d = deferred();
    const ra = lanes.run(k('a'), () => d.promise.then(() => log.push('a')));
    const rb = lanes.run(k('b'), () => Promise.resolve().then(() => log.push('b')));
    await rb;
    expect(log).toEqual(['b']);
    d.resolve();
    await ra;
    expect(log).toEqual(['b', 'a']);
  });

  it('tells keys apart by every byte (binary keys)', async () => {
    const lanes = new KeyLanes();
    const d = deferred();
    void lanes.run(Buffer.from([0xff, 0x00]), () => d.promise);
    expect(lanes.has(Buffer.from([0xff, 0x00]))).toBe(true);
    expect(lanes.has(Buffer.from([0xff, 0x01]))).toBe(false);
    expect(lanes.run(Buffer.from([0xff, 0x01]), () => 'direct')).toBe('direct');
    d.resolve();
  });

  it('does not let a failed call poison its lane', async () => {
    const lanes = new KeyLanes();
    const d = deferred();
    const r1 = lanes.run(k('a'), () => d.promise);
    const r2 = lanes.run(k('a'), () => {
      throw new Error('thrown after waiting');
    });
    const r3 = lanes.run(k('a'), () => 'fine');
    d.reject(new Error('first failed'));
    await expect(r1).rejects.toThrow('first failed');
    await expect(r2).rejects.toThrow('thrown after waiting');
    expect(await r3).toBe('fine');
    expect(lanes.idle).toBe(true);
    expect(lanes.run(k('a'), () => 'direct again')).toBe('direct again');
  });

  it('removes a lane once its last call settled, before that call’s caller sees the answer', async () => {
    const lanes = new KeyLanes();
    const keys = Array.from({ length: 100 }, (_, i) => k(`key${i}`));
    const runs = keys.map((key) => lanes.run(key, () => Promise.resolve(key)));
    expect(lanes.size).toBe(100);
    let seenByCaller = -1;
    await (runs[99] as Promise<Buffer>).then(() => (seenByCaller = lanes.size));
    await Promise.all(runs);
    expect(seenByCaller).toBe(0);
    expect(lanes.size).toBe(0);
    expect(lanes.idle).toBe(true);
  });
});

describe('KeyLanes: shared reads', () => {
  it('runs reads between two writes together, and a write after all of them', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const w1 = deferred();
    const r1 = deferred();
    const r2 = deferred();
    void lanes.run(k('a'), () => w1.promise.then(() => log.push('w1')));
    void lanes.read(k('a'), () => (log.push('r1 start'), r1.promise.then(() => log.push('r1'))));
    void lanes.read(k('a'), () => (log.push('r2 start'), r2.promise.then(() => log.push('r2'))));
    const w2 = lanes.run(k('a'), () => log.push('w2'));
    w1.resolve();
    await settle();
    expect(log).toEqual(['w1', 'r1 start', 'r2 start']);
    r2.resolve();
    await settle();
    expect(log).toEqual(['w1', 'r1 start', 'r2 start', 'r2']);
    r1.resolve();
    await w2;
    expect(log).toEqual(['w1', 'r1 start', 'r2 start', 'r2', 'r1', 'w2']);
    await settle();
    expect(lanes.idle).toBe(true);
  });

  it('readMany waits for the writes on any of its keys, and later writes wait for it', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const wb = deferred();
    const many = deferred();
    void lanes.run(k('b'), () => wb.promise.then(() => log.push('write b')));
    const r = lanes.readMany([{ key: k('a') }, { key: k('b') }], () => (log.push('many start'), many.promise.then(() => log.push('many'))));
    const wa = lanes.run(k('a'), () => log.push('write a'));
    await settle();
    expect(log).toEqual([]);
    wb.resolve();
    await settle();
    expect(log).toEqual(['write b', 'many start']);
    many.resolve();
    await Promise.all([r, wa]);
    expect(log).toEqual(['write b', 'many start', 'many', 'write a']);
  });

  it('track counts a call started elsewhere on its key', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const batch = deferred();
    lanes.track(
      k('a'),
      batch.promise.then(() => log.push('batch')),
    );
    lanes.track(k('b'), batch.promise);
    const w = lanes.run(k('a'), () => log.push('write a'));
    expect(lanes.has(k('b'))).toBe(true);
    batch.resolve();
    await w;
    expect(log).toEqual(['batch', 'write a']);
    await settle();
    expect(lanes.size).toBe(0);
  });
});

describe('KeyLanes: barriers', () => {
  it("a call tracked while a barrier is pending still holds the key's later calls behind the barrier", async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const f = deferred();
    void lanes.barrier(() => f.promise.then(() => log.push('flush')));
    // Started elsewhere without waiting (it settles at once).
    lanes.track(
      k('a'),
      Promise.resolve().then(() => log.push('tracked')),
    );
    const after = lanes.run(k('a'), () => log.push('a after'));
    await settle();
    expect(log).toEqual(['tracked']);
    f.resolve();
    await after;
    expect(log).toEqual(['tracked', 'flush', 'a after']);
  });

  it('waits for every call before it, and holds every call after it', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const a = deferred();
    const b = deferred();
    const f = deferred();
    void lanes.run(k('a'), () => a.promise.then(() => log.push('a')));
    void lanes.read(k('b'), () => b.promise.then(() => log.push('b')));
    const flush = lanes.barrier(() => (log.push('flush start'), f.promise.then(() => log.push('flush'))));
    expect(lanes.blocked).toBe(true);
    const after = [
      lanes.run(k('c'), () => log.push('c after')),
      lanes.read(k('a'), () => log.push('a after')),
      lanes.readMany([{ key: k('d') }], () => log.push('d after')),
      lanes.gate(() => log.push('gated after')),
    ];
    for (const r of after) expect(isPromise(r)).toBe(true);
    b.resolve();
    await settle();
    expect(log).toEqual(['b']);
    a.resolve();
    await settle();
    expect(log).toEqual(['b', 'a', 'flush start']);
    f.resolve();
    await Promise.all([flush, ...after]);
    expect(log.slice(0, 4)).toEqual(['b', 'a', 'flush start', 'flush']);
    expect(log.slice(4).sort()).toEqual(['a after', 'c after', 'd after', 'gated after']);
    await settle();
    expect(lanes.idle).toBe(true);
  });

  it('a barrier with nothing before it runs at once; an asynchronous one still holds what follows', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const f = deferred();
    const flush = lanes.barrier(() => (log.push('flush start'), f.promise));
    expect(log).toEqual(['flush start']);
    const r = lanes.run(k('a'), () => log.push('a'));
    await settle();
    expect(log).toEqual(['flush start']);
    f.resolve();
    await Promise.all([flush, r]);
    expect(log).toEqual(['flush start', 'a']);
  });

  it('keeps per-key order for calls queued behind a barrier', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const f = deferred();
    const w = deferred();
    void lanes.barrier(() => f.promise);
    const r1 = lanes.run(k('a'), () => w.promise.then(() => log.push('1')));
    const r2 = lanes.run(k('a'), () => log.push('2'));
    f.resolve();
    await settle();
    expect(log).toEqual([]);
    w.resolve();
    await Promise.all([r1, r2]);
    expect(log).toEqual(['1', '2']);
  });

  it('chains barriers: the second waits for the first and for calls issued between them', async () => {
    const lanes = new KeyLanes();
    const log: string[] = [];
    const f1 = deferred();
    const mid = deferred();
    void lanes.barrier(() => f1.promise.then(() => log.push('flush 1')));
    void lanes.run(k('a'), () => mid.promise.then(() => log.push('a')));
    const f2 = lanes.barrier(() => log.push('flush 2'));
    const last = lanes.run(k('a'), () => log.push('a after'));
    f1.resolve();
    await settle();
    expect(log).toEqual(['flush 1']);
    mid.resolve();
    await Promise.all([f2, last]);
    expect(log).toEqual(['flush 1', 'a', 'flush 2', 'a after']);
  });

  it('is released by a failed barrier', async () => {
    const lanes = new KeyLanes();
    const flush = lanes.barrier(() => Promise.reject(new Error('flush failed')));
    const r = lanes.run(k('a'), () => 'after');
    await expect(flush).rejects.toThrow('flush failed');
    expect(await r).toBe('after');
    await settle();
    expect(lanes.idle).toBe(true);
  });
});
