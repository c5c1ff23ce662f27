/**
 * The LMDB handler's own promises, beyond memcached's semantics (model.test.ts
 * and server.test.ts): a write is visible at once and answered without a
 * Promise unless `sync`; what it answers never changes afterwards; a store
 * reopened on the same path serves what it held with the right remaining
 * TTLs, CAS uniques above every earlier one and a pending flush_all still
 * pending; the background sweep reclaims expired and flushed items; bad
 * options and paths are named.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ItemView } from '@cleave/protocol';
import type { RootDatabase } from 'lmdb';
import { describe, expect, it } from 'vitest';
import { LmdbHandler, minimumMaxBytes } from '../src/index.js';
import { b, makeHandler, peek, tempStore } from './helpers.js';

const set = (key: string, value: string | Buffer, exptime = 0, flags = 0) => ({
  mode: 'set' as const,
  key: b(key),
  value: b(value),
  flags,
  exptime,
});

describe('writes and answers', () => {
  it('answers a write at once, without a Promise, and every later read sees it before its commit', async () => {
    const s = makeHandler();
    try {
      const out = s.h.store(set('a', 'one'));
      expect(out instanceof Promise).toBe(false);
      expect((s.h.get({ key: b('a') }) as ItemView).value.toString()).toBe('one');
      expect(s.h.store({ ...set('a', 'two'), mode: 'add' })).toBe('NOT_STORED');
      const incr = s.h.store(set('n', '41'));
      expect(typeof incr).toBe('object');
      expect((s.h.arithmetic({ key: b('n'), incr: true, delta: 1n }) as ItemView).value.toString()).toBe('42');
      expect((s.h.arithmetic({ key: b('n'), incr: true, delta: 1n }) as ItemView).value.toString()).toBe('43');
      await s.h.flushed();
      expect((s.h.get({ key: b('n') }) as ItemView).value.toString()).toBe('43');
    } finally {
      await s.dispose();
    }
  });

  it("an earlier removal's commit landing after a later removal of the key does not bring the item back", async () => {
    // A set after flush_all removes the flushed item and links the new one in one batch. When that batch's
    // commit is reported only after a refused set (or a delete) removed the new item again, and before that
    // removal's own commit, reads must still miss: the report is not the later removal's.
    const s = makeHandler();
    try {
      type Db = { put: unknown; remove: (key: Buffer) => Promise<boolean> };
      const disk = (s.h as unknown as { disk: { root: RootDatabase; headers: Db; values: Db } }).disk;
      s.h.store(set('a', 'old'));
      await s.h.flushed();
      expect(s.h.delete({ key: b('a') })).toBe('DELETED');
      s.h.store(set('a', 'x'));
      const firstBatch = new Promise((resolve) => void disk.root.committed.then(resolve));
      // The next removal's record and value removals wait to be written: its commit is still to come.
      const held: Array<() => Promise<boolean>> = [];
      let land!: (p: Promise<boolean>) => void;
      const landed = new Promise<boolean>((resolve) => (land = (p) => void p.then(resolve)));
      for (const db of [disk.headers, disk.values]) {
        const remove = db.remove.bind(db);
        db.remove = (key: Buffer) => {
          held.push(() => remove(key));
          return landed;
        };
      }
      expect(s.h.delete({ key: b('a') })).toBe('DELETED');
      await firstBatch;
      expect(s.h.get({ key: b('a') })).toBeUndefined();
      // Its commit lands.
      for (const db of [disk.headers, disk.values]) delete (db as { remove?: unknown }).remove;
      land(Promise.all(held.map((write) => write())).then(() => true));
      await landed;
      await s.h.flushed();
      expect(s.h.get({ key: b('a') })).toBeUndefined();
    } finally {
      await s.dispose();
    }
  });

  it('with sync, a write is answered once its commit is on disk', async () => {
    const s = makeHandler({ sync: true });
    try {
      const out = s.h.store(set('a', 'one'));
      expect(out instanceof Promise).toBe(true);
      expect(typeof (await out)).toBe('object');
      // A read is answered from the mapped file at once.
      expect(s.h.get({ key: b('a') }) instanceof Promise).toBe(false);
    } finally {
      await s.dispose();
    }
  });

  it('keeps the bytes it answered: the request buffers it read may be reused, and later writes change nothing already answered', async () => {
    const s = makeHandler();
    try {
      const key = b('key');
      const value = b('original');
      s.h.store({ mode: 'set', key, value, flags: 5, exptime: 0 });
      // The server reuses its read buffer for the next requests.
      key.fill(0x21);
      value.fill(0x21);
      const got = s.h.get({ key: b('key') }) as ItemView;
      expect(got.value.toString()).toBe('original');
      s.h.store(set('key', 'replaced'));
      s.h.store({ mode: 'append', key: b('key'), value: b('+more'), flags: 0, exptime: 0 });
      s.h.delete({ key: b('key') });
      expect(got.value.toString()).toBe('original');
      expect(got.flags).toBe(5);
      await s.h.flushed();
      expect(got.value.toString()).toBe('original');
    } finally {
      await s.dispose();
    }
  });
});

describe('a store reopened on the same path', () => {
  it('serves what it held, with the right remaining TTLs, flags and CAS uniques above every earlier one', async () => {
    const s = makeHandler();
    try {
      const never = s.h.store(set('never', 'v1', 0, 7)) as ItemView;
      s.h.store(set('hundred', 'v2', 100, 8));
      s.h.store(set('three', 'v3', 3));
      s.h.get({ key: b('never') });
      s.clock.advance(10);
      await s.reopen();
      const h = s.h;
      const n = h.get(peek('never')) as ItemView;
      expect(n.value.toString()).toBe('v1');
      expect(n.flags).toBe(7);
      expect(n.cas).toBe(never.cas);
      expect(n.fetched).toBe(true);
      const hundred = h.get(peek('hundred')) as ItemView;
      expect(hundred.flags).toBe(8);
      expect(hundred.exptime - s.clock.sec).toBe(90);
      expect(h.get(peek('three'))).toBeUndefined();
      const fresh = h.store(set('fresh', 'x')) as ItemView;
      expect(fresh.cas > never.cas).toBe(true);
      expect(h.stats('')!.curr_items).toBe(3);
    } finally {
      await s.dispose();
    }
  });

  it('keeps a delayed flush_all pending, and one that has come keeps what it flushed flushed', async () => {
    const s = makeHandler();
    try {
      s.h.store(set('before', 'x'));
      s.h.flush(30);
      s.clock.advance(5);
      await s.reopen();
      expect(s.h.get(peek('before'))).toBeDefined();
      s.clock.advance(30);
      expect(s.h.get(peek('before'))).toBeUndefined();
      s.h.store(set('after', 'y'));
      await s.reopen();
      expect(s.h.get(peek('after'))).toBeDefined();
      expect(s.h.get(peek('before'))).toBeUndefined();
    } finally {
      await s.dispose();
    }
  });

  it('counts its items and bytes as before', async () => {
    const s = makeHandler();
    try {
      for (let i = 0; i < 50; i++) s.h.store(set(`k${i}`, 'v'.repeat(i * 100)));
      const before = s.h.stats('')!;
      await s.reopen();
      const after = s.h.stats('')!;
      expect(after.curr_items).toBe(50);
      expect(after.bytes).toBe(before.bytes);
    } finally {
      await s.dispose();
    }
  });
});

describe('background reclaim', () => {
  it('reclaims expired items and, after a flush_all, flushed ones, without a read', async () => {
    const s = makeHandler();
    try {
      for (let i = 0; i < 100; i++) s.h.store(set(`e${i}`, 'x', 5));
      for (let i = 0; i < 100; i++) s.h.store(set(`k${i}`, 'x'));
      await s.h.flushed();
      s.clock.advance(6);
      expect(s.h.sweep()).toBe(100);
      await s.h.flushed();
      let st = s.h.stats('')!;
      expect(st.curr_items).toBe(100);
      expect(st.reclaimed).toBe(100);
      expect(st.expired_unfetched).toBe(100);
      s.h.flush(0);
      s.clock.advance(1);
      s.h.store(set('kept', 'y'));
      await s.h.flushed();
      expect(s.h.sweep()).toBe(100);
      await s.h.flushed();
      st = s.h.stats('')!;
      expect(st.curr_items).toBe(1);
      expect((s.h.get({ key: b('kept') }) as ItemView).value.toString()).toBe('y');
    } finally {
      await s.dispose();
    }
  });
});

describe('options', () => {
  it('names a wrong option and a path that cannot hold a store', () => {
    const { path, cleanup } = tempStore();
    try {
      expect(() => new LmdbHandler({ path, maxBytes: 1024 })).toThrow(
        `LmdbHandler: maxBytes must be an integer >= ${minimumMaxBytes(1024 * 1024)}, got 1024`,
      );
      expect(() => new LmdbHandler({ path: '' })).toThrow('LmdbHandler: path must be the directory of the store');
      const file = join(path, 'a-file');
      writeFileSync(file, 'x');
      expect(() => new LmdbHandler({ path: join(file, 'store') })).toThrow(`LmdbHandler: cannot open a store at ${join(file, 'store')}: `);
      // A data file that is not LMDB's (here: zeros) is refused, not opened.
      const other = join(path, 'other');
      mkdirSync(other);
      writeFileSync(join(other, 'data.mdb'), Buffer.alloc(64 * 1024));
      expect(() => new LmdbHandler({ path: other })).toThrow(
        `LmdbHandler: cannot open a store at ${other}: ${join(other, 'data.mdb')} is not an LMDB data file`,
      );
    } finally {
      cleanup();
    }
  });

  it('shows its settings in memcached names', async () => {
    const s = makeHandler({ maxBytes: 64 * 1024 * 1024, sync: true });
    try {
      expect(s.h.stats('settings')).toMatchObject({
        maxbytes: 64 * 1024 * 1024,
        item_size_max: 1024 * 1024,
        lmdb_path: s.path,
        lmdb_sync: 'yes',
      });
      expect(s.h.stats('')).toMatchObject({ limit_maxbytes: 64 * 1024 * 1024, curr_items: 0, bytes: 0 });
    } finally {
      await s.dispose();
    }
  });
});
