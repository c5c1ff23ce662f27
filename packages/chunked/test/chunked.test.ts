import { describe, expect, it } from 'vitest';
import type { ItemView, StoreOutcome } from '@cleave/protocol';
import type { InMemoryHandler } from '@cleave/handler-inmem';
import { CHUNKED_HEADER_BYTES, ChunkedHandler, chunkKeysOf, chunked, parseChunkedHeader } from '../src/index.js';
import { FakeClock, Recording, isItem, memInner, randomBytes, rng, storeCmd, view } from './helpers.js';

const CS = 1000;

interface Rig {
  clock: FakeClock;
  mem: InMemoryHandler;
  rec: Recording;
  h: ChunkedHandler;
}

/** ChunkedHandler (1000-byte chunks) over a recording wrapper of a fake-clocked InMemoryHandler. */
function rig(opts: ConstructorParameters<typeof ChunkedHandler>[1] = {}): Rig {
  const clock = new FakeClock();
  const mem = memInner({ clock: clock.now });
  const rec = new Recording(mem);
  const h = new ChunkedHandler(rec, { chunkSize: CS, maxItemSize: 1 << 20, ...opts });
  return { clock, mem, rec, h };
}

async function get(h: ChunkedHandler, key: string, extra: Record<string, unknown> = {}): Promise<ItemView | undefined> {
  return h.get({ key: view(key), ...extra });
}

async function set(h: ChunkedHandler, key: string, value: Buffer | string, o: Parameters<typeof storeCmd>[3] = {}): Promise<StoreOutcome> {
  return h.store(storeCmd('set', key, value, o));
}

/** What the inner store holds under a key. */
function raw(r: Rig, key: string): ItemView | undefined {
  return r.mem.get({ key: Buffer.from(key, 'latin1'), noBump: true });
}

/** Every key the inner store holds, after background cleanups finished. */
async function liveKeys(r: Rig): Promise<string[]> {
  await r.h.idle();
  return r.rec.live();
}

/** The chunk keys the metadata under `key` names. */
function chunkKeys(r: Rig, key: string): string[] {
  const m = raw(r, key)!;
  const hdr = parseChunkedHeader(m.value)!;
  return chunkKeysOf(m.key, hdr).map((k) => k.toString('latin1'));
}

const SIZES = [0, 1, CS - 1, CS, CS + 1, 2 * CS - 1, 2 * CS, 2 * CS + 1, 7 * CS + 3, 100 * CS, 1000 * CS - 100];

describe('ChunkedHandler: set and get', () => {
  it.each(SIZES)('round-trips %i random bytes exactly, with flags and the item CAS', async (n) => {
    const r = rig();
    const value = randomBytes(n, rng(n + 1));
    const stored = await set(r.h, 'k', value, { flags: 0xdeadbeef });
    expect(isItem(stored)).toBe(true);
    const got = await get(r.h, 'k');
    expect(got).toBeDefined();
    expect(got!.value.equals(value)).toBe(true);
    expect(got!.flags).toBe(0xdeadbeef);
    // The item's CAS is the CAS of what sits under the client's key.
    expect(got!.cas).toBe(raw(r, 'k')!.cas);
    expect((stored as ItemView).cas).toBe(got!.cas);
    expect((stored as ItemView).value.equals(value)).toBe(true);
    expect((stored as ItemView).flags).toBe(0xdeadbeef);
  });

  it('stores a value of at most one chunk as a plain item: same bytes and flags under the key, nothing else', async () => {
    const r = rig();
    const value = randomBytes(CS, rng(7));
    await set(r.h, 'small', value, { flags: 42 });
    const m = raw(r, 'small')!;
    expect(m.value.equals(value)).toBe(true);
    expect(m.flags).toBe(42);
    expect(await liveKeys(r)).toEqual(['small']);
  });

  it('stores a larger value as a 32-byte metadata item plus ceil(n / chunkSize) chunk items of chunkSize bytes', async () => {
    const r = rig();
    const value = randomBytes(5 * CS + 17, rng(8));
    await set(r.h, 'big', value, { flags: 9 });
    const m = raw(r, 'big')!;
    expect(m.value.length).toBe(CHUNKED_HEADER_BYTES);
    expect(m.flags).toBe(0);
    const hdr = parseChunkedHeader(m.value)!;
    expect(hdr).toMatchObject({ flags: 9, length: 5 * CS + 17, chunkSize: CS, chunks: 6, hashed: false });
    const keys = chunkKeys(r, 'big');
    expect(keys).toHaveLength(6);
    for (const [i, k] of keys.entries()) {
      expect(k).toMatch(/^big\|[0-9a-f]{16}:[0-9a-f]{4}$/);
      expect(k.endsWith(i.toString(16).padStart(4, '0'))).toBe(true);
      const c = raw(r, k)!;
      expect(c.value.equals(value.subarray(i * CS, (i + 1) * CS))).toBe(true);
      expect(c.flags).toBe(0);
    }
    expect(await liveKeys(r)).toEqual(['big', ...keys].sort());
  });

  it('serves a value that begins with the metadata marker byte-exact, stored escaped, never read as metadata', async () => {
    const r = rig();
    const header = Buffer.alloc(CHUNKED_HEADER_BYTES);
    await set(r.h, 'big', randomBytes(3 * CS, rng(1)));
    // A client value identical to a real metadata item, and one that is just the marker.
    header.set(raw(r, 'big')!.value);
    for (const v of [header, Buffer.from([0xc7, 0x4c, 0x56]), Buffer.from([0xc7, 0x4c, 0x56, 3, 1, 2])]) {
      await set(r.h, 'm', v, { flags: 5 });
      const got = await get(r.h, 'm');
      expect(got!.value.equals(v)).toBe(true);
      expect(got!.flags).toBe(5);
      expect(raw(r, 'm')!.value.length).toBe(v.length + 4);
    }
  });

  it('overwriting deletes the chunks of the value it replaced: large→large, large→small, small→large', async () => {
    const r = rig();
    const a = randomBytes(4 * CS, rng(1));
    const b = randomBytes(3 * CS + 5, rng(2));
    await set(r.h, 'k', a);
    const keysA = chunkKeys(r, 'k');
    await set(r.h, 'k', b);
    const keysB = chunkKeys(r, 'k');
    expect(keysB.some((k) => keysA.includes(k))).toBe(false);
    expect(await liveKeys(r)).toEqual(['k', ...keysB].sort());
    expect((await get(r.h, 'k'))!.value.equals(b)).toBe(true);
    await set(r.h, 'k', 'tiny');
    expect(await liveKeys(r)).toEqual(['k']);
    await set(r.h, 'k', a);
    expect(await liveKeys(r)).toEqual(['k', ...chunkKeys(r, 'k')].sort());
    expect((await get(r.h, 'k'))!.value.equals(a)).toBe(true);
  });

  it('with trackReplacedChunks off, a small set goes straight to the inner store and leaves replaced chunks behind', async () => {
    const r = rig({ trackReplacedChunks: false });
    await set(r.h, 'k', randomBytes(3 * CS, rng(1)));
    const keys = chunkKeys(r, 'k');
    await set(r.h, 'k', 'small');
    expect((await get(r.h, 'k'))!.value.toString()).toBe('small');
    expect(await liveKeys(r)).toEqual(['k', ...keys].sort());
  });

  it('answers a miss for a key never written, and for a key with a 250-byte name its chunks derive from a hash', async () => {
    const r = rig();
    expect(await get(r.h, 'nope')).toBeUndefined();
    const long = 'L'.repeat(250);
    const v = randomBytes(4 * CS + 1, rng(3));
    await set(r.h, long, v);
    const keys = chunkKeys(r, long);
    for (const k of keys) {
      expect(k.length).toBeLessThanOrEqual(250);
      expect(k).toMatch(/^#[0-9a-f]{32}\|[0-9a-f]{16}:[0-9a-f]{4}$/);
    }
    expect(parseChunkedHeader(raw(r, long)!.value)!.hashed).toBe(true);
    expect((await get(r.h, long))!.value.equals(v)).toBe(true);
    // The longest key that keeps its own name as chunk key base: 250 - 22.
    const edge = 'E'.repeat(228);
    await set(r.h, edge, v);
    expect(chunkKeys(r, edge)[0]!.startsWith(edge + '|')).toBe(true);
    expect(chunkKeys(r, edge)[0]!.length).toBe(250);
  });

  it('refuses a value over maxItemSize as memcached counts it (59 + key + value + 4 with flags); unlinkOnFailure drops the old item', async () => {
    const r = rig({ maxItemSize: 20_000 });
    const fits = 20_000 - 59 - 1;
    expect(isItem(await set(r.h, 'k', randomBytes(fits, rng(1))))).toBe(true);
    // A set built by code (no unlinkOnFailure) keeps the old item...
    expect(await set(r.h, 'k', randomBytes(fits, rng(1)), { flags: 1 })).toBe('TOO_LARGE');
    expect((await get(r.h, 'k'))!.value.length).toBe(fits);
    // ...a text set (unlinkOnFailure) drops it, chunks and all.
    expect(await set(r.h, 'k', randomBytes(fits, rng(1)), { flags: 1, unlinkOnFailure: true })).toBe('TOO_LARGE');
    expect(await get(r.h, 'k')).toBeUndefined();
    expect(await liveKeys(r)).toEqual([]);
    // add/replace refused for size keep the old item, as in memcached's text protocol...
    await set(r.h, 'k', 'old');
    expect(await r.h.store(storeCmd('replace', 'k', randomBytes(fits + 1, rng(2))))).toBe('TOO_LARGE');
    expect((await get(r.h, 'k'))!.value.toString()).toBe('old');
    // ...but a meta ms of any mode drops it (the meta parser sets unlinkOnFailure).
    expect(await r.h.store(storeCmd('replace', 'k', randomBytes(fits + 1, rng(2)), { unlinkOnFailure: true }))).toBe('TOO_LARGE');
    expect(await get(r.h, 'k')).toBeUndefined();
  });

  it('stores values far over the inner item limit with default chunks: 16 MiB over a 1 MiB InMemoryHandler', async () => {
    const mem = memInner();
    const h = chunked(mem);
    const key = Buffer.from('huge');
    const v = randomBytes(16 * 1024 * 1024 - 59 - 4 - key.length, rng(16));
    expect(isItem(await h.store({ mode: 'set', key, value: v, flags: 3, exptime: 0 }))).toBe(true);
    const got = await h.get({ key });
    expect(got!.value.equals(v)).toBe(true);
    const hdr = parseChunkedHeader(mem.get({ key, noBump: true })!.value)!;
    expect(hdr.chunkSize).toBe(h.chunkSizeFor(key.length));
    expect(hdr.chunks).toBe(Math.ceil(v.length / hdr.chunkSize));
    expect(await h.store({ mode: 'set', key, value: Buffer.alloc(v.length + 1), flags: 3, exptime: 0 })).toBe('TOO_LARGE');
  });
});

describe('ChunkedHandler: add, replace, cas', () => {
  for (const size of [10, 3 * CS]) {
    it(`add stores on a miss and refuses an existing item (${size} bytes), leaving no chunks behind`, async () => {
      const r = rig();
      const a = randomBytes(size, rng(1));
      expect(isItem(await r.h.store(storeCmd('add', 'k', a)))).toBe(true);
      const before = await liveKeys(r);
      expect(await r.h.store(storeCmd('add', 'k', randomBytes(size, rng(2))))).toBe('NOT_STORED');
      expect(await r.h.store(storeCmd('add', 'k', randomBytes(5 * CS, rng(3))))).toBe('NOT_STORED');
      expect((await get(r.h, 'k'))!.value.equals(a)).toBe(true);
      expect(await liveKeys(r)).toEqual(before);
    });

    it(`replace refuses a miss and replaces an existing item (${size} bytes)`, async () => {
      const r = rig();
      const a = randomBytes(size, rng(1));
      expect(await r.h.store(storeCmd('replace', 'k', a))).toBe('NOT_STORED');
      expect(await liveKeys(r)).toEqual([]);
      await set(r.h, 'k', 'x');
      expect(isItem(await r.h.store(storeCmd('replace', 'k', a)))).toBe(true);
      expect((await get(r.h, 'k'))!.value.equals(a)).toBe(true);
    });

    it(`cas stores on the item's CAS, EXISTS on another, NOT_FOUND on a miss (${size} bytes)`, async () => {
      const r = rig();
      const a = randomBytes(size, rng(1));
      const b = randomBytes(size + CS, rng(2));
      expect(await r.h.store(storeCmd('set', 'k', a, { compareCas: 5n }))).toBe('NOT_FOUND');
      const s1 = (await set(r.h, 'k', a)) as ItemView;
      expect(await r.h.store(storeCmd('set', 'k', b, { compareCas: s1.cas + 100n }))).toBe('EXISTS');
      expect((await get(r.h, 'k'))!.value.equals(a)).toBe(true);
      const s2 = (await r.h.store(storeCmd('set', 'k', b, { compareCas: s1.cas }))) as ItemView;
      expect(isItem(s2)).toBe(true);
      expect(s2.cas).not.toBe(s1.cas);
      const got = (await get(r.h, 'k'))!;
      expect(got.value.equals(b)).toBe(true);
      expect(got.cas).toBe(s2.cas);
      // The old CAS no longer matches.
      expect(await r.h.store(storeCmd('set', 'k', a, { compareCas: s1.cas }))).toBe('EXISTS');
      expect(await liveKeys(r)).toEqual(['k', ...chunkKeys(r, 'k')].sort());
    });
  }

  it('meta ms I with an older CAS stores the new large value marked stale', async () => {
    const r = rig();
    const s1 = (await set(r.h, 'k', randomBytes(2 * CS, rng(1)))) as ItemView;
    const v = randomBytes(3 * CS, rng(2));
    expect(isItem(await r.h.store(storeCmd('set', 'k', v, { compareCas: s1.cas - 1n, invalidate: true })))).toBe(true);
    const got = (await get(r.h, 'k'))!;
    expect(got.value.equals(v)).toBe(true);
    expect(got.stale).toBe(true);
    expect(await liveKeys(r)).toEqual(['k', ...chunkKeys(r, 'k')].sort());
  });
});

describe('ChunkedHandler: append and prepend', () => {
  const cases: Array<[string, number, number]> = [
    ['small + small stays small', 10, 20],
    ['small + small crossing one chunk', CS - 5, 10],
    ['empty + large', 0, 3 * CS],
    ['large + small', 3 * CS + 1, 7],
    ['large + large', 4 * CS, 5 * CS + 3],
  ];
  for (const mode of ['append', 'prepend'] as const) {
    for (const [name, a, b] of cases) {
      it(`${mode}: ${name} (${a} + ${b} bytes) joins byte-exact, keeps flags and exptime, and cleans old chunks`, async () => {
        const r = rig();
        const va = randomBytes(a, rng(a));
        const vb = randomBytes(b, rng(b + 1));
        await set(r.h, 'k', va, { flags: 77, exptime: 100 });
        const expExptime = raw(r, 'k')!.exptime;
        const out = await r.h.store(storeCmd(mode, 'k', vb, { flags: 1, exptime: 5 }));
        expect(isItem(out)).toBe(true);
        const want = mode === 'append' ? Buffer.concat([va, vb]) : Buffer.concat([vb, va]);
        const got = (await get(r.h, 'k'))!;
        expect(got.value.equals(want)).toBe(true);
        expect((out as ItemView).value.equals(want)).toBe(true);
        expect(got.flags).toBe(77);
        expect(got.exptime).toBe(expExptime);
        const live = await liveKeys(r);
        expect(live).toEqual(want.length > CS ? ['k', ...chunkKeys(r, 'k')].sort() : ['k']);
        r.clock.advance(101);
        expect(await get(r.h, 'k')).toBeUndefined();
      });
    }

    it(`${mode} answers NOT_STORED on a miss, EXISTS on another CAS, and stores on the item's CAS`, async () => {
      const r = rig();
      expect(await r.h.store(storeCmd(mode, 'k', 'x'))).toBe('NOT_STORED');
      const s = (await set(r.h, 'k', randomBytes(2 * CS, rng(1)))) as ItemView;
      expect(await r.h.store(storeCmd(mode, 'k', 'x', { compareCas: s.cas + 1n }))).toBe('EXISTS');
      expect(isItem(await r.h.store(storeCmd(mode, 'k', 'x', { compareCas: s.cas })))).toBe(true);
      expect((await get(r.h, 'k'))!.value.length).toBe(2 * CS + 1);
    });

    it(`${mode} refuses with NOT_STORED when the joined item would exceed maxItemSize`, async () => {
      const r = rig({ maxItemSize: 10_000 });
      const v = randomBytes(10_000 - 60 - 10, rng(1));
      await set(r.h, 'k', v);
      expect(await r.h.store(storeCmd(mode, 'k', randomBytes(11, rng(2))))).toBe('NOT_STORED');
      expect((await get(r.h, 'k'))!.value.equals(v)).toBe(true);
    });
  }

  it('a prepend that would make a small value start with the marker escapes it', async () => {
    const r = rig();
    await set(r.h, 'k', Buffer.from([0x56, 1, 2]));
    await r.h.store(storeCmd('prepend', 'k', Buffer.from([0xc7, 0x4c])));
    expect((await get(r.h, 'k'))!.value).toEqual(Buffer.from([0xc7, 0x4c, 0x56, 1, 2]));
    await set(r.h, 'e', '');
    await r.h.store(storeCmd('append', 'e', Buffer.from([0xc7, 0x4c, 0x56])));
    await r.h.store(storeCmd('append', 'e', 'z'));
    expect((await get(r.h, 'e'))!.value).toEqual(Buffer.from([0xc7, 0x4c, 0x56, 0x7a]));
  });
});

describe('ChunkedHandler: incr/decr, delete, touch, flush', () => {
  it('incr/decr run on plain counters with memcached rules; a chunked value is NON_NUMERIC', async () => {
    const r = rig();
    await set(r.h, 'n', '10');
    expect(((await r.h.arithmetic({ key: view('n'), incr: true, delta: 5n })) as ItemView).value.toString()).toBe('15');
    expect(((await r.h.arithmetic({ key: view('n'), incr: false, delta: 100n })) as ItemView).value.toString()).toBe('0');
    const created = (await r.h.arithmetic({ key: view('c'), incr: true, delta: 1n, initial: 7n })) as ItemView;
    expect(created.value.toString()).toBe('7');
    await set(r.h, 'big', Buffer.alloc(3 * CS, 0x31));
    expect(await r.h.arithmetic({ key: view('big'), incr: true, delta: 1n })).toBe('NON_NUMERIC');
    expect(await r.h.arithmetic({ key: view('none'), incr: true, delta: 1n })).toBe('NOT_FOUND');
    expect((await get(r.h, 'n'))!.value.toString().trim()).toBe('0');
  });

  for (const size of [10, 5 * CS]) {
    it(`delete removes the item and its chunks (${size} bytes); CAS mismatch is EXISTS and keeps it`, async () => {
      const r = rig();
      const v = randomBytes(size, rng(1));
      const s = (await set(r.h, 'k', v)) as ItemView;
      expect(await r.h.delete({ key: view('k'), compareCas: s.cas + 1n })).toBe('EXISTS');
      expect((await get(r.h, 'k'))!.value.equals(v)).toBe(true);
      expect(await r.h.delete({ key: view('k'), compareCas: s.cas })).toBe('DELETED');
      expect(await get(r.h, 'k')).toBeUndefined();
      expect(await liveKeys(r)).toEqual([]);
      expect(await r.h.delete({ key: view('k') })).toBe('NOT_FOUND');
      await set(r.h, 'k', v);
      expect(await r.h.delete({ key: view('k') })).toBe('DELETED');
      expect(await liveKeys(r)).toEqual([]);
    });

    it(`touch sets the exptime of the item and its chunks (${size} bytes)`, async () => {
      const r = rig();
      const v = randomBytes(size, rng(1));
      await set(r.h, 'k', v, { exptime: 10 });
      expect(await r.h.touch({ key: view('k'), exptime: 100 })).toBe('TOUCHED');
      expect(await r.h.touch({ key: view('nope'), exptime: 100 })).toBe('NOT_FOUND');
      r.clock.advance(50);
      expect((await get(r.h, 'k'))!.value.equals(v)).toBe(true);
      expect(raw(r, 'k')!.exptime).toBe(r.clock.sec - 50 + 100);
      if (size > CS) for (const c of chunkKeys(r, 'k')) expect(raw(r, c)!.exptime).toBe(r.clock.sec - 50 + 101);
      r.clock.advance(51);
      expect(await get(r.h, 'k')).toBeUndefined();
    });

    it(`gat fetches and sets the exptime of the item and its chunks (${size} bytes)`, async () => {
      const r = rig();
      const v = randomBytes(size, rng(2));
      await set(r.h, 'k', v, { exptime: 10 });
      const got = (await get(r.h, 'k', { touch: 1000 }))!;
      expect(got.value.equals(v)).toBe(true);
      expect(got.exptime).toBe(r.clock.sec + 1000);
      r.clock.advance(500);
      expect((await get(r.h, 'k'))!.value.equals(v)).toBe(true);
    });

    it(`exptime applies to the whole value (${size} bytes): readable before, a miss after`, async () => {
      const r = rig();
      const v = randomBytes(size, rng(3));
      await set(r.h, 'k', v, { exptime: 10 });
      r.clock.advance(9);
      expect((await get(r.h, 'k'))!.value.equals(v)).toBe(true);
      r.clock.advance(2);
      expect(await get(r.h, 'k')).toBeUndefined();
      r.clock.advance(1);
      expect(await liveKeys(r)).toEqual([]);
    });
  }

  it('a set with a negative exptime makes the key a miss and leaves nothing live', async () => {
    const r = rig();
    await set(r.h, 'k', randomBytes(3 * CS, rng(1)));
    await set(r.h, 'k', randomBytes(3 * CS, rng(2)), { exptime: -1 });
    expect(await get(r.h, 'k')).toBeUndefined();
    expect(await liveKeys(r)).toEqual([]);
  });

  it('flush_all invalidates chunked and plain items alike', async () => {
    const r = rig();
    await set(r.h, 'a', randomBytes(3 * CS, rng(1)));
    await set(r.h, 'b', 'small');
    await r.h.flush(0);
    expect(await get(r.h, 'a')).toBeUndefined();
    expect(await get(r.h, 'b')).toBeUndefined();
    expect(await liveKeys(r)).toEqual([]);
  });
});

describe('ChunkedHandler: multi-get and meta flags', () => {
  it('getMany answers misses, plain, escaped and chunked items in request order, fetching all chunks in one inner batch', async () => {
    const clock = new FakeClock();
    const mem = memInner({ clock: clock.now });
    let batches = 0;
    const inner = Object.assign(Object.create(mem) as InMemoryHandler, {
      getMany(cmds: Parameters<InMemoryHandler['getMany']>[0]) {
        batches++;
        return mem.getMany(cmds);
      },
    });
    const h = new ChunkedHandler(inner, { chunkSize: CS });
    const vals = new Map<string, Buffer>([
      ['small', Buffer.from('hello')],
      ['esc', Buffer.from([0xc7, 0x4c, 0x56, 0])],
      ['big1', randomBytes(3 * CS + 1, rng(1))],
      ['big2', randomBytes(10 * CS, rng(2))],
    ]);
    for (const [k, v] of vals) await h.store(storeCmd('set', k, v, { flags: k.length }));
    const keys = ['big1', 'missing', 'small', 'esc', 'big2', 'big1'];
    batches = 0;
    const got = await h.getMany(keys.map((k) => ({ key: view(k) })));
    expect(batches).toBe(2);
    expect(got.map((g) => g?.value.toString('hex'))).toEqual(keys.map((k) => vals.get(k)?.toString('hex')));
    expect(got.map((g) => g?.flags)).toEqual(keys.map((k) => (vals.has(k) ? k.length : undefined)));
  });

  it('getMany works over an inner store without getMany', async () => {
    const r = rig();
    const v = randomBytes(4 * CS, rng(1));
    await set(r.h, 'a', v);
    await set(r.h, 'b', 'b');
    const got = await r.h.getMany([{ key: view('a') }, { key: view('b') }, { key: view('c') }]);
    expect(got[0]!.value.equals(v)).toBe(true);
    expect(got[1]!.value.toString()).toBe('b');
    expect(got[2]).toBeUndefined();
  });

  it('meta N vivifies a miss as an empty plain item and the fetch wins; the next fetch sees the token taken', async () => {
    const r = rig();
    const first = (await get(r.h, 'k', { vivify: 30, tokens: true }))!;
    expect(first.value.length).toBe(0);
    expect(first.win).toBe(true);
    const second = (await get(r.h, 'k', { vivify: 30, tokens: true }))!;
    expect(second.win).not.toBe(true);
    expect(second.tokenSent).toBe(true);
  });

  it('meta R hands the recache token of a chunked value to one fetcher', async () => {
    const r = rig();
    const v = randomBytes(3 * CS, rng(1));
    await set(r.h, 'k', v, { exptime: 10 });
    const a = (await get(r.h, 'k', { recache: 30, tokens: true }))!;
    const b = (await get(r.h, 'k', { recache: 30, tokens: true }))!;
    expect(a.value.equals(v) && b.value.equals(v)).toBe(true);
    expect(a.win).toBe(true);
    expect(b.win).not.toBe(true);
    expect(b.tokenSent).toBe(true);
  });

  it('meta md I marks a chunked value stale and keeps its chunks, with the new exptime', async () => {
    const r = rig();
    const v = randomBytes(3 * CS, rng(1));
    await set(r.h, 'k', v);
    expect(await r.h.delete({ key: view('k'), invalidate: true, exptime: 30 })).toBe('DELETED');
    const got = (await get(r.h, 'k', { tokens: true }))!;
    expect(got.value.equals(v)).toBe(true);
    expect(got.stale).toBe(true);
    expect(got.win).toBe(true);
    for (const c of chunkKeys(r, 'k')) expect(raw(r, c)!.exptime).toBe(r.clock.sec + 31);
    r.clock.advance(31);
    expect(await get(r.h, 'k')).toBeUndefined();
  });

  it('meta noBump reads do not mark a chunked value fetched', async () => {
    const r = rig();
    await set(r.h, 'k', randomBytes(3 * CS, rng(1)));
    expect((await get(r.h, 'k', { noBump: true }))!.fetched).toBe(false);
    expect((await get(r.h, 'k'))!.fetched).toBe(false);
    expect((await get(r.h, 'k'))!.fetched).toBe(true);
  });
});

describe('ChunkedHandler: lost chunks and stats', () => {
  it('a value whose chunk was evicted reads as a miss, and its metadata and other chunks are removed', async () => {
    const r = rig();
    await set(r.h, 'k', randomBytes(4 * CS, rng(1)));
    const keys = chunkKeys(r, 'k');
    r.mem.delete({ key: Buffer.from(keys[2]!) });
    expect(await get(r.h, 'k')).toBeUndefined();
    expect(await liveKeys(r)).toEqual([]);
    expect((await r.h.stats(''))!.chunked_lost).toBe(1);
  });

  it('stats adds chunked counters to the inner store stats; stats reset zeroes them', async () => {
    const r = rig({ maxItemSize: 2 << 20 });
    await set(r.h, 'k', randomBytes(3 * CS, rng(1)));
    await set(r.h, 'k', randomBytes(2 * CS + 1, rng(2)));
    await get(r.h, 'k');
    await set(r.h, 's', 'x');
    await r.h.idle();
    const s = (await r.h.stats(''))!;
    expect(s).toMatchObject({
      chunked_stores: 2,
      chunked_chunk_writes: 6,
      chunked_fetches: 1,
      chunked_chunk_reads: 3,
      chunked_versions_retired: 1,
      chunked_chunk_deletes: 3,
      chunked_orphan_cleanups: 0,
      chunked_read_retries: 0,
      chunked_write_retries: 0,
      chunked_lost: 0,
    });
    // The inner store's figures come along (the command counters are the server's).
    expect(s.curr_items).toBeGreaterThan(0);
    // item_size_max is the limit of the composed handler, not the inner store's.
    expect(r.mem.stats('settings')!.item_size_max).toBe(1 << 20);
    expect(r.h.stats('settings')).toEqual({
      ...r.mem.stats('settings'),
      item_size_max: 2 << 20,
      chunked_item_size_max: 2 << 20,
      chunked_chunk_item_size: 524288,
      chunked_chunk_size: CS,
      chunked_track_replaced: 'yes',
    });
    expect(r.h.stats('items')).toEqual(r.mem.stats('items'));
    r.h.stats('reset');
    expect((await r.h.stats(''))!.chunked_stores).toBe(0);
  });

  it('rejects options that cannot work', () => {
    const mem = memInner();
    expect(() => new ChunkedHandler(mem, { chunkSize: 0 })).toThrow(RangeError);
    expect(() => new ChunkedHandler(mem, { chunkItemSize: 200 })).toThrow(RangeError);
    expect(() => new ChunkedHandler(mem, { chunkSize: 10, maxItemSize: 1 << 20 })).toThrow(/chunks/);
  });
});
