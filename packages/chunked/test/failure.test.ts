import { describe, expect, it } from 'vitest';
import {
  HandlerError,
  type DeleteCommand,
  type DeleteOutcome,
  type MaybePromise,
  type StoreCommand,
  type StoreOutcome,
} from '@cleave/protocol';
import { ChunkedHandler, chunkKeysOf, parseChunkedHeader } from '../src/index.js';
import { Delayed, FakeClock, Faulty, Forwarding, Recording, isItem, memInner, randomBytes, rng } from './helpers.js';

const CS = 1000;
const K = Buffer.from('k');
const isChunk = (cmd: StoreCommand) => cmd.key.length > K.length;
const isMeta = (cmd: StoreCommand) => cmd.key.equals(K);

interface Rig {
  clock: FakeClock;
  rec: Recording;
  h: ChunkedHandler;
}

/** ChunkedHandler over `wrap(recording in-memory store)`, holding a 5-chunk value under `k` written before any fault. */
async function rig(wrap: (rec: Recording) => Forwarding | Recording): Promise<Rig & { old: Buffer }> {
  const clock = new FakeClock();
  const rec = new Recording(memInner({ clock: clock.now }));
  const old = randomBytes(5 * CS, rng(1));
  await new ChunkedHandler(rec, { chunkSize: CS }).store({ mode: 'set', key: K, value: old, flags: 1, exptime: 0 });
  const h = new ChunkedHandler(wrap(rec), { chunkSize: CS });
  return { clock, rec, h, old };
}

/** The old value is still served whole, the key names it, and nothing else is left in the store. */
async function expectOldIntact(r: Rig & { old: Buffer }): Promise<void> {
  const got = await r.h.get({ key: K });
  expect(got!.value.equals(r.old)).toBe(true);
  expect(got!.flags).toBe(1);
  await r.h.idle();
  const meta = (await r.rec.inner.get({ key: K, noBump: true }))!;
  const hdr = parseChunkedHeader(meta.value)!;
  expect(hdr.length).toBe(r.old.length);
  const keys = chunkKeysOf(meta.key, hdr).map((k) => k.toString('latin1'));
  expect(await r.rec.live()).toEqual(['k', ...keys].sort());
}

const set = (h: ChunkedHandler, value: Buffer) => h.store({ mode: 'set', key: K, value, flags: 2, exptime: 0 });

describe('ChunkedHandler when the inner store fails a write', () => {
  for (const how of ['throw', 'reject'] as const) {
    it(`a chunk write that fails (${how}) mid-set: the set errors, the old value stays, the new chunks are deleted`, async () => {
      let chunkWrites = 0;
      const r = await rig((rec) => new Faulty(rec, (cmd) => (isChunk(cmd) && ++chunkWrites === 3 ? how : undefined)));
      await expect(set(r.h, randomBytes(7 * CS, rng(2)))).rejects.toBeInstanceOf(HandlerError);
      expect(chunkWrites).toBe(7);
      await expectOldIntact(r);
      const s = (await r.h.stats(''))!;
      expect(s.chunked_write_errors).toBe(1);
      expect(s.chunked_orphan_cleanups).toBe(1);
      expect(s.chunked_chunk_deletes).toBe(6);
    });
  }

  it('a chunk write that fails after random delays, with readers running: none sees anything but the old value', async () => {
    let n = 0;
    const r = await rig((rec) => new Delayed(new Faulty(rec, (cmd) => (isChunk(cmd) && ++n % 4 === 0 ? 'reject' : undefined)), 3));
    // Readers in another process, so they run while the writes are in progress.
    const reader = new ChunkedHandler(new Delayed(r.rec, 4), { chunkSize: CS });
    const reads: Promise<unknown>[] = [];
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 5; i++) {
      writes.push(
        Promise.resolve(set(r.h, randomBytes(6 * CS, rng(10 + i)))).then(
          () => 'stored',
          (e: unknown) => e,
        ),
      );
      reads.push(Promise.resolve(reader.get({ key: K })).then((g) => expect(g!.value.equals(r.old)).toBe(true)));
    }
    const outcomes = await Promise.all(writes);
    await Promise.all(reads);
    // Every 6-chunk write meets a failing 4th write somewhere.
    expect(outcomes.every((o) => o instanceof HandlerError)).toBe(true);
    await expectOldIntact(r);
  });

  it('a chunk write answering OUT_OF_MEMORY makes the set answer OUT_OF_MEMORY, as memcached words it', async () => {
    let n = 0;
    const r = await rig((rec) => new Faulty(rec, (cmd) => (isChunk(cmd) && ++n === 5 ? 'OUT_OF_MEMORY' : undefined)));
    expect(await set(r.h, randomBytes(9 * CS, rng(3)))).toBe('OUT_OF_MEMORY');
    await expectOldIntact(r);
  });

  it('a chunk refused as TOO_LARGE by the inner store (chunks set larger than its limit) is a handler error', async () => {
    const r = await rig((rec) => new Faulty(rec, (cmd) => (isChunk(cmd) ? 'TOO_LARGE' : undefined)));
    await expect(set(r.h, randomBytes(2 * CS + 1, rng(4)))).rejects.toThrow(/TOO_LARGE/);
    await expectOldIntact(r);
  });

  it('a metadata switch that fails without landing: the set errors, the old value stays, the new chunks are deleted', async () => {
    const r = await rig((rec) => new Faulty(rec, (cmd) => (isMeta(cmd) ? 'reject' : undefined)));
    await expect(set(r.h, randomBytes(3 * CS, rng(5)))).rejects.toThrow(/injected/);
    await expectOldIntact(r);
  });

  it('a metadata switch that lands but reports an error (lost reply): the new value is whole and its chunks are kept', async () => {
    const v = randomBytes(4 * CS, rng(6));
    const r = await rig(
      (rec) =>
        new (class extends Forwarding {
          override store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
            const out = rec.store(cmd);
            if (isMeta(cmd)) return Promise.reject(new Error('connection lost after the write'));
            return out;
          }
        })(rec),
    );
    await expect(set(r.h, v)).rejects.toThrow(/connection lost/);
    await r.h.idle();
    expect((await r.h.get({ key: K }))!.value.equals(v)).toBe(true);
  });

  it('a set interrupted mid-way (a chunk write never answers) is never visible, and its chunks carry the exptime', async () => {
    let n = 0;
    const r = await rig(
      (rec) =>
        new (class extends Forwarding {
          override store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
            if (isChunk(cmd) && ++n === 2) return new Promise<StoreOutcome>(() => {});
            return rec.store(cmd);
          }
        })(rec),
    );
    // The write hangs after its first chunk (the process would die here).
    void r.h.store({ mode: 'set', key: K, value: randomBytes(4 * CS, rng(7)), flags: 0, exptime: 60 });
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Another process reading the key (this handler would hold the read behind the write it received first).
    const other = new ChunkedHandler(r.rec, { chunkSize: CS });
    expect((await other.get({ key: K }))!.value.equals(r.old)).toBe(true);
    const written = r.rec.storeCalls.filter((c) => isChunk(c) && c.exptime !== 0);
    expect(written.length).toBe(3);
    // Chunks outlive the metadata they were written for by one second.
    expect(written.every((c) => c.exptime === 61)).toBe(true);
    const orphanKeys = written.map((c) => c.key.toString('latin1'));
    expect((await r.rec.live()).filter((k) => orphanKeys.includes(k))).toHaveLength(3);
    r.clock.advance(62);
    expect((await r.rec.live()).filter((k) => orphanKeys.includes(k))).toEqual([]);
    expect((await other.get({ key: K }))!.value.equals(r.old)).toBe(true);
  });

  it('an append whose chunk write fails keeps the old value', async () => {
    let n = 0;
    const r = await rig((rec) => new Faulty(rec, (cmd) => (isChunk(cmd) && ++n === 2 ? 'throw' : undefined)));
    await expect(r.h.store({ mode: 'append', key: K, value: Buffer.from('tail'), flags: 0, exptime: 0 })).rejects.toBeInstanceOf(
      HandlerError,
    );
    await expectOldIntact(r);
  });

  it('a small set that fails in the inner store answers its error and changes nothing', async () => {
    const r = await rig((rec) => new Faulty(rec, (cmd) => (isMeta(cmd) ? 'throw' : undefined)));
    expect(() => set(r.h, Buffer.from('small'))).toThrow(/injected/);
    await expectOldIntact(r);
  });

  it('a delete whose chunk deletions fail still deletes the item: readers miss, and stats count no chunk deletes', async () => {
    const r = await rig(
      (rec) =>
        new (class extends Forwarding {
          override delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
            if (cmd.key.length > 1) throw new Error('chunk delete failed');
            return rec.delete(cmd);
          }
        })(rec),
    );
    expect(await r.h.delete({ key: K })).toBe('DELETED');
    expect(await r.h.get({ key: K })).toBeUndefined();
    expect((await r.h.stats(''))!.chunked_chunk_deletes).toBe(0);
    expect(isItem(await set(r.h, randomBytes(2 * CS + 5, rng(9))))).toBe(true);
  });
});
