/**
 * Every Handler method against a real memcached, over TCP and over a unix
 * socket. What the handler reports is checked against what memcached then
 * holds, read with a raw `mg` that bypasses the handler.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BinaryStatus, ItemFacts, type ItemView } from '@cleave/protocol';
import { startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';
import { k, peek, raw, rejection, sleep, unixSeconds, type Target } from './helpers.js';

const isItem = (v: unknown): v is ItemView => typeof v === 'object' && v !== null;

function item(v: unknown): ItemView {
  if (!isItem(v)) throw new Error(`expected an item, got ${String(v)}`);
  return v;
}

for (const transport of ['tcp', 'unix'] as const) {
  describe(`MemcachedHandler over ${transport}`, () => {
    let mc: MemcachedProcess;
    let target: Target;
    let h: MemcachedHandler;

    beforeAll(async () => {
      mc = await startMemcached({ unixSocket: transport === 'unix' });
      target = transport === 'unix' ? { path: mc.socketPath! } : { port: mc.port };
      h = new MemcachedHandler({ address: transport === 'unix' ? { path: mc.socketPath! } : { host: '127.0.0.1', port: mc.port } });
    });
    afterAll(async () => {
      await h?.close();
      await mc?.stop();
    });
    beforeEach(async () => {
      await raw(target, 'flush_all\r\n', 'OK\r\n');
    });

    describe('store', () => {
      it('set stores value, flags and TTL, and reports the CAS memcached assigned', async () => {
        const out = item(await h.store({ mode: 'set', key: k('a'), value: k('hello'), flags: 0xfffffffe, exptime: 100 }));
        const s = await peek(target, 'a');
        expect(s).toMatchObject({ value: 'hello', flags: 0xfffffffe });
        expect(s!.ttl).toBeGreaterThanOrEqual(99);
        expect(s!.ttl).toBeLessThanOrEqual(100);
        expect(out.cas).toBe(s!.cas);
        expect(out.cas).toBeGreaterThan(0n);
        expect(Math.abs(out.exptime - (unixSeconds() + 100))).toBeLessThanOrEqual(1);
      });

      it('set with exptime 0 never expires, a negative exptime expires at once', async () => {
        await h.store({ mode: 'set', key: k('forever'), value: k('x'), flags: 0, exptime: 0 });
        expect((await peek(target, 'forever'))!.ttl).toBe(-1);
        expect(await h.store({ mode: 'set', key: k('gone'), value: k('x'), flags: 0, exptime: -1 })).toSatisfy(isItem);
        expect(await peek(target, 'gone')).toBeUndefined();
      });

      it('add stores only a missing item', async () => {
        expect(await h.store({ mode: 'add', key: k('a'), value: k('1'), flags: 0, exptime: 0 })).toSatisfy(isItem);
        expect(await h.store({ mode: 'add', key: k('a'), value: k('2'), flags: 0, exptime: 0 })).toBe('NOT_STORED');
        expect((await peek(target, 'a'))!.value).toBe('1');
      });

      it('replace stores only an existing item', async () => {
        expect(await h.store({ mode: 'replace', key: k('a'), value: k('1'), flags: 0, exptime: 0 })).toBe('NOT_STORED');
        expect(await peek(target, 'a')).toBeUndefined();
        await raw(target, 'set a 3 0 1\r\n0\r\n', 'STORED\r\n');
        expect(await h.store({ mode: 'replace', key: k('a'), value: k('2'), flags: 4, exptime: 0 })).toSatisfy(isItem);
        expect(await peek(target, 'a')).toMatchObject({ value: '2', flags: 4 });
      });

      it('append and prepend extend an existing item and keep its flags', async () => {
        expect(await h.store({ mode: 'append', key: k('a'), value: k('x'), flags: 0, exptime: 0 })).toBe('NOT_STORED');
        await raw(target, 'set a 7 0 2\r\nbc\r\n', 'STORED\r\n');
        expect(await h.store({ mode: 'append', key: k('a'), value: k('d'), flags: 0, exptime: 0 })).toSatisfy(isItem);
        expect(await h.store({ mode: 'prepend', key: k('a'), value: k('a'), flags: 0, exptime: 0 })).toSatisfy(isItem);
        expect(await peek(target, 'a')).toMatchObject({ value: 'abcd', flags: 7 });
      });

      it('compare-and-swap: a match stores, a mismatch is EXISTS, a missing item NOT_FOUND', async () => {
        expect(await h.store({ mode: 'set', key: k('a'), value: k('1'), flags: 0, exptime: 0, compareCas: 5n })).toBe('NOT_FOUND');
        const first = item(await h.store({ mode: 'set', key: k('a'), value: k('1'), flags: 0, exptime: 0 }));
        expect(await h.store({ mode: 'set', key: k('a'), value: k('2'), flags: 0, exptime: 0, compareCas: first.cas + 1000n })).toBe(
          'EXISTS',
        );
        const second = item(await h.store({ mode: 'set', key: k('a'), value: k('3'), flags: 0, exptime: 0, compareCas: first.cas }));
        expect(second.cas).not.toBe(first.cas);
        expect(await peek(target, 'a')).toMatchObject({ value: '3', cas: second.cas });
      });

      it('invalidate with an older CAS stores the item as stale', async () => {
        const first = item(await h.store({ mode: 'set', key: k('a'), value: k('1'), flags: 0, exptime: 0 }));
        await h.store({ mode: 'set', key: k('a'), value: k('2'), flags: 0, exptime: 0 });
        expect(
          await h.store({ mode: 'set', key: k('a'), value: k('3'), flags: 0, exptime: 0, compareCas: first.cas, invalidate: true }),
        ).toSatisfy(isItem);
        expect(await peek(target, 'a')).toMatchObject({ value: '3', stale: true });
      });

      it('newCas is not sent (memcached 1.6.18 refuses meta E): the backend assigns the CAS', async () => {
        const out = item(await h.store({ mode: 'set', key: k('a'), value: k('1'), flags: 0, exptime: 0, newCas: 777_777n }));
        const s = await peek(target, 'a');
        expect(s!.value).toBe('1');
        expect(out.cas).toBe(s!.cas);
        expect(out.cas).not.toBe(777_777n);
      });

      it('a value memcached refuses is TOO_LARGE, and a refused set drops the old item', async () => {
        const big = new MemcachedHandler({ address: h.address, maxItemSize: 4 * 1024 * 1024 });
        try {
          await raw(target, 'set a 0 0 3\r\nold\r\n', 'STORED\r\n');
          const value = Buffer.alloc(1024 * 1024 + 1, 0x61);
          expect(await big.store({ mode: 'set', key: k('a'), value, flags: 0, exptime: 0 })).toBe('TOO_LARGE');
          expect(await peek(target, 'a')).toBeUndefined();
          // The connection stays in sync: memcached swallowed the data block.
          expect(await big.store({ mode: 'set', key: k('a'), value: k('new'), flags: 0, exptime: 0 })).toSatisfy(isItem);
          expect((await peek(target, 'a'))!.value).toBe('new');
        } finally {
          big.close();
        }
      });

      it('an item over maxItemSize (as memcached counts it) never reaches the backend; unlinkOnFailure still drops the old item', async () => {
        // 59 bytes of item overhead + a 1-byte key + 10 value bytes (4 more with flags).
        const small = new MemcachedHandler({ address: h.address, maxItemSize: 70 });
        try {
          await raw(target, 'set a 0 0 3\r\nold\r\nset b 0 0 3\r\nold\r\nset c 0 0 3\r\nold\r\n', 'STORED\r\nSTORED\r\nSTORED\r\n');
          const before = small.ownStats().backend_bytes_written as number;
          expect(await small.store({ mode: 'add', key: k('b'), value: Buffer.alloc(11), flags: 0, exptime: 0 })).toBe('TOO_LARGE');
          expect(await small.store({ mode: 'set', key: k('b'), value: Buffer.alloc(7), flags: 1, exptime: 0 })).toBe('TOO_LARGE');
          expect(small.ownStats().backend_bytes_written).toBe(before);
          expect((await peek(target, 'b'))!.value).toBe('old');
          expect(
            await small.store({ mode: 'set', key: k('a'), value: Buffer.alloc(11), flags: 0, exptime: 0, unlinkOnFailure: true }),
          ).toBe('TOO_LARGE');
          expect(await peek(target, 'a')).toBeUndefined();
          expect(item(await small.store({ mode: 'set', key: k('c'), value: Buffer.alloc(10), flags: 0, exptime: 0 })).value.length).toBe(
            10,
          );
          expect(item(await small.store({ mode: 'set', key: k('c'), value: Buffer.alloc(6), flags: 1, exptime: 0 })).flags).toBe(1);
        } finally {
          small.close();
        }
      });

      it('values of every size up to the limit round-trip byte for byte', async () => {
        for (const n of [0, 1, 2047, 2048, 65535, 65536, 200_000, 1024 * 1024 - 100]) {
          const value = Buffer.alloc(n);
          for (let i = 0; i < n; i++) value[i] = (i * 31 + n) & 0xff;
          expect(await h.store({ mode: 'set', key: k(`v${n}`), value, flags: n, exptime: 0 })).toSatisfy(isItem);
          const got = item(await h.get({ key: k(`v${n}`) }));
          expect(got.value.equals(value)).toBe(true);
          expect(got.flags).toBe(n);
        }
      });
    });

    describe('get', () => {
      it('a hit carries value, flags, CAS and the absolute exptime; a miss is undefined', async () => {
        await raw(target, 'set a 9 1000 3\r\nabc\r\nset b 0 0 1\r\nz\r\n', 'STORED\r\nSTORED\r\n');
        const s = await peek(target, 'a');
        const got = item(await h.get({ key: k('a') }));
        expect(got.value.toString()).toBe('abc');
        expect(got.flags).toBe(9);
        expect(got.cas).toBe(s!.cas);
        expect(Math.abs(got.exptime - (unixSeconds() + 1000))).toBeLessThanOrEqual(1);
        expect(item(await h.get({ key: k('b') })).exptime).toBe(0);
        expect(await h.get({ key: k('missing') })).toBeUndefined();
      });

      it('getMany answers in request order across connections', async () => {
        const keys = Array.from({ length: 40 }, (_, i) => `key${i}`);
        for (const key of keys.filter((_, i) => i % 3 !== 0)) await raw(target, `set ${key} 0 0 ${key.length}\r\n${key}\r\n`, 'STORED\r\n');
        const got = await h.getMany(keys.map((key) => ({ key: k(key) })));
        expect(got.map((it) => it?.value.toString())).toEqual(keys.map((key, i) => (i % 3 !== 0 ? key : undefined)));
        expect(await h.getMany([])).toEqual([]);
      });

      it('touch (gat) sets the new TTL and reports the one before', async () => {
        await raw(target, 'set a 0 1000 1\r\nx\r\n', 'STORED\r\n');
        const got = item(await h.get({ key: k('a'), touch: 50 }));
        expect(Math.abs(got.exptime - (unixSeconds() + 50))).toBeLessThanOrEqual(1);
        expect(Math.abs(got.previousExptime! - (unixSeconds() + 1000))).toBeLessThanOrEqual(1);
        const s = await peek(target, 'a');
        expect(s!.ttl).toBeGreaterThanOrEqual(49);
        expect(s!.ttl).toBeLessThanOrEqual(50);
        expect(await h.get({ key: k('nope'), touch: 50 })).toBeUndefined();
      });

      it('vivify creates an empty item and wins the token; the next fetch sees the token taken', async () => {
        const first = item(await h.get({ key: k('v'), vivify: 30 }));
        expect(first.created).toBe(true);
        expect(first.win).toBe(true);
        expect(first.value.length).toBe(0);
        expect(Math.abs(first.exptime - (unixSeconds() + 30))).toBeLessThanOrEqual(1);
        const second = item(await h.get({ key: k('v'), vivify: 30 }));
        expect(second.created).toBeUndefined();
        expect(second.win).toBeUndefined();
        expect(second.tokenSent).toBe(true);
        const s = await peek(target, 'v');
        expect(s!.value).toBe('');
        expect(s!.ttl).toBeGreaterThanOrEqual(29);
      });

      it('vivify on an existing never-expiring item does not report it created', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        const got = item(await h.get({ key: k('a'), vivify: 30 }));
        expect(got.created).toBeUndefined();
        expect(got.win).toBeUndefined();
        expect(got.value.toString()).toBe('x');
      });

      it('recache wins the token when the TTL is below the threshold, once', async () => {
        await raw(target, 'set a 0 100 1\r\nx\r\n', 'STORED\r\n');
        expect(item(await h.get({ key: k('a'), recache: 50 })).win).toBeUndefined();
        expect(item(await h.get({ key: k('a'), recache: 200 })).win).toBe(true);
        expect(item(await h.get({ key: k('a'), recache: 200 })).tokenSent).toBe(true);
      });

      it('an invalidated item is stale, and the first fetch wins the recache', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        expect(await h.delete({ key: k('a'), invalidate: true, exptime: 30 })).toBe('DELETED');
        const got = item(await h.get({ key: k('a') }));
        expect(got.stale).toBe(true);
        expect(got.win).toBe(true);
        const again = item(await h.get({ key: k('a') }));
        expect(again.stale).toBe(true);
        expect(again.tokenSent).toBe(true);
      });

      it('noBump does not mark the item fetched; a plain get does', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        await h.get({ key: k('a'), noBump: true });
        expect((await peek(target, 'a'))!.hit).toBe(false);
        await h.get({ key: k('a') });
        expect((await peek(target, 'a'))!.hit).toBe(true);
      });

      it('reports fetched, last access and whether the key is stored binary when the command wants them', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        await raw(target, `ms ${k('b b').toString('base64')} 1 b\r\ny\r\n`, 'HD\r\n');
        const first = item(await h.get({ key: k('a'), want: ItemFacts.ACCESS | ItemFacts.KEY_FORM }));
        expect(first.fetched).toBe(false);
        expect(first.keyBinary).toBe(false);
        expect(Math.abs(first.lastAccess! - unixSeconds())).toBeLessThanOrEqual(1);
        expect(item(await h.get({ key: k('a'), want: ItemFacts.ACCESS })).fetched).toBe(true);
        // Not wanted: not asked for.
        const plain = item(await h.get({ key: k('a') }));
        expect([plain.fetched, plain.keyBinary]).toEqual([false, undefined]);
        // Stored with b: memcached remembers the key as binary.
        const bin = item(await h.get({ key: k('b b'), keyBinary: true, want: ItemFacts.KEY_FORM }));
        expect(bin.value.toString()).toBe('y');
        expect(bin.keyBinary).toBe(true);
      });

      it('debug (me) reads the key form and access facts without bumping the item', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        const got = item(await h.get({ key: k('a'), debug: true, noBump: true }));
        expect([got.fetched, got.keyBinary]).toEqual([false, false]);
        expect((await peek(target, 'a'))!.hit).toBe(false);
      });

      it('vivify with touch: a miss creates the item with the vivify exptime, a hit gets the touch', async () => {
        const created = item(await h.get({ key: k('vt'), touch: 50, vivify: 100 }));
        expect(created.created).toBe(true);
        expect(Math.abs(created.exptime - (unixSeconds() + 100))).toBeLessThanOrEqual(1);
        expect((await peek(target, 'vt'))!.ttl).toBeGreaterThanOrEqual(99);
        const hit = item(await h.get({ key: k('vt'), touch: 50, vivify: 100 }));
        expect(hit.created).toBeUndefined();
        expect(Math.abs(hit.exptime - (unixSeconds() + 50))).toBeLessThanOrEqual(1);
        expect(Math.abs(hit.previousExptime! - (unixSeconds() + 100))).toBeLessThanOrEqual(1);
        const s = await peek(target, 'vt');
        expect(s!.ttl).toBeGreaterThanOrEqual(49);
        expect(s!.ttl).toBeLessThanOrEqual(50);
      });
    });

    describe('keys', () => {
      it('keys with space, CR, LF or NUL travel base64 and stay distinct', async () => {
        const keys = ['a b', 'a\r\nb', 'a\0b', ' ', '\r', 'ab'];
        for (const key of keys) await h.store({ mode: 'set', key: k(key), value: k(`v:${key}`), flags: 0, exptime: 0 });
        for (const key of keys) {
          expect(item(await h.get({ key: k(key) })).value.toString('latin1')).toBe(`v:${key}`);
          expect((await peek(target, key))!.value).toBe(`v:${key}`);
        }
        expect(await h.delete({ key: k('a b') })).toBe('DELETED');
        expect(await h.get({ key: k('a b') })).toBeUndefined();
        expect(item(await h.get({ key: k('ab') })).value.toString()).toBe('v:ab');
      });

      it('other bytes (tab, DEL, high bytes) travel raw', async () => {
        const key = Buffer.from([0x61, 0x09, 0x7f, 0xff, 0x01]);
        await h.store({ mode: 'set', key, value: k('raw'), flags: 0, exptime: 0 });
        const r = await raw(target, `mg ${key.toString('latin1')} v\r\nmn\r\n`, 'MN\r\n');
        expect(r).toBe('VA 3\r\nraw\r\nMN\r\n');
      });

      it('a 250-byte text key works; a binary key too long for base64 fails with a HandlerError', async () => {
        const long = k('k'.repeat(250));
        expect(await h.store({ mode: 'set', key: long, value: k('x'), flags: 0, exptime: 0 })).toSatisfy(isItem);
        expect(item(await h.get({ key: long })).value.toString()).toBe('x');
        // 186 bytes make 248 base64 characters; 187 would make 252.
        const binary186 = Buffer.alloc(186, 0x20);
        expect(await h.store({ mode: 'set', key: binary186, value: k('y'), flags: 0, exptime: 0 })).toSatisfy(isItem);
        const err = await rejection(h.get({ key: Buffer.alloc(187, 0x20) }));
        expect(err.message).toBe('key cannot be sent to the backend');
        expect(err.status).toBe(BinaryStatus.EINVAL);
        await rejection(h.get({ key: Buffer.alloc(0) }));
        // The connection is unharmed.
        expect(item(await h.get({ key: binary186 })).value.toString()).toBe('y');
      });
    });

    describe('delete', () => {
      it('DELETED, then NOT_FOUND; the item is gone from memcached', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        expect(await h.delete({ key: k('a') })).toBe('DELETED');
        expect(await peek(target, 'a')).toBeUndefined();
        expect(await h.delete({ key: k('a') })).toBe('NOT_FOUND');
      });

      it('with a CAS: a mismatch is EXISTS and keeps the item', async () => {
        const it0 = item(await h.store({ mode: 'set', key: k('a'), value: k('x'), flags: 0, exptime: 0 }));
        expect(await h.delete({ key: k('a'), compareCas: it0.cas + 1n })).toBe('EXISTS');
        expect(await peek(target, 'a')).toBeDefined();
        expect(await h.delete({ key: k('a'), compareCas: it0.cas })).toBe('DELETED');
        expect(await peek(target, 'a')).toBeUndefined();
      });

      it('invalidate keeps the item, stale, with the new TTL', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        expect(await h.delete({ key: k('a'), invalidate: true, exptime: 40 })).toBe('DELETED');
        const s = await peek(target, 'a');
        expect(s).toMatchObject({ value: 'x', stale: true });
        expect(s!.ttl).toBeGreaterThanOrEqual(39);
      });
    });

    describe('arithmetic', () => {
      it('incr and decr update the decimal value; decr stops at 0; incr wraps at 2^64', async () => {
        await raw(target, 'set n 5 0 2\r\n10\r\n', 'STORED\r\n');
        const up = item(await h.arithmetic({ key: k('n'), incr: true, delta: 5n }));
        expect(up.value.toString()).toBe('15');
        expect(up.flags).toBe(5);
        expect(up.cas).toBe((await peek(target, 'n'))!.cas);
        expect(item(await h.arithmetic({ key: k('n'), incr: false, delta: 100n })).value.toString()).toBe('0');
        await raw(target, 'set w 0 0 20\r\n18446744073709551615\r\n', 'STORED\r\n');
        expect(item(await h.arithmetic({ key: k('w'), incr: true, delta: 2n })).value.toString()).toBe('1');
        expect(item(await h.arithmetic({ key: k('w'), incr: true, delta: 18446744073709551615n })).value.toString()).toBe('0');
        expect((await peek(target, 'n'))!.value.trim()).toBe('0');
      });

      it('a missing counter is NOT_FOUND, a non-numeric value NON_NUMERIC', async () => {
        expect(await h.arithmetic({ key: k('nope'), incr: true, delta: 1n })).toBe('NOT_FOUND');
        await raw(target, 'set s 0 0 3\r\nabc\r\n', 'STORED\r\n');
        expect(await h.arithmetic({ key: k('s'), incr: true, delta: 1n })).toBe('NON_NUMERIC');
        expect((await peek(target, 's'))!.value).toBe('abc');
      });

      it('an initial value creates the counter with its exptime', async () => {
        const made = item(await h.arithmetic({ key: k('c'), incr: true, delta: 5n, initial: 10n, exptime: 100 }));
        expect(made.value.toString()).toBe('10');
        expect(Math.abs(made.exptime - (unixSeconds() + 100))).toBeLessThanOrEqual(1);
        const s = await peek(target, 'c');
        expect(s!.value).toBe('10');
        expect(s!.ttl).toBeGreaterThanOrEqual(99);
        const next = item(await h.arithmetic({ key: k('c'), incr: true, delta: 5n, initial: 10n, exptime: 100 }));
        expect(next.value.toString()).toBe('15');
      });

      it("reports the counter's client flags, learned by a probe after the ma", async () => {
        await raw(target, 'set n 77 0 1\r\n1\r\n', 'STORED\r\n');
        expect(item(await h.arithmetic({ key: k('n'), incr: true, delta: 1n })).flags).toBe(77);
        const made = item(await h.arithmetic({ key: k('fresh'), incr: true, delta: 1n, initial: 3n }));
        expect(made.flags).toBe(0);
        // Several counters of one key in one batch each get their own answer.
        const burst = await Promise.all([1, 2, 3].map(() => h.arithmetic({ key: k('n'), incr: true, delta: 1n })));
        expect(burst.map((o) => item(o).value.toString())).toEqual(['3', '4', '5']);
        expect(burst.every((o) => item(o).flags === 77)).toBe(true);
        const noProbe = new MemcachedHandler({ address: h.address, counterFlags: false, connections: 1 });
        try {
          const before = noProbe.ownStats().backend_requests as number;
          expect(item(await noProbe.arithmetic({ key: k('n'), incr: true, delta: 1n })).flags).toBe(0);
          expect((noProbe.ownStats().backend_requests as number) - before).toBe(1);
        } finally {
          noProbe.close();
        }
      });

      it('an ma N that wants CREATED learns whether it created the counter from a probe before it', async () => {
        const counter = (key: string) => ({ key: k(key), incr: true, delta: 2n, initial: 7n, exptime: 0, want: ItemFacts.CREATED });
        const made = item(await h.arithmetic(counter('q1')));
        expect(made.created).toBe(true);
        expect(made.value.toString()).toBe('7');
        const next = item(await h.arithmetic(counter('q1')));
        expect(next.created).toBeUndefined();
        expect(next.value.toString()).toBe('9');
        await raw(target, 'set q2 5 0 1\r\n1\r\n', 'STORED\r\n');
        expect(item(await h.arithmetic(counter('q2'))).flags).toBe(5);
      });

      it('an ma N with T: a created counter ends with its exptime, an existing one gets the touch', async () => {
        const counter = { key: k('nt'), incr: true, delta: 1n, initial: 1n, exptime: 100, touch: 50 };
        expect(Math.abs(item(await h.arithmetic(counter)).exptime - (unixSeconds() + 100))).toBeLessThanOrEqual(1);
        expect((await peek(target, 'nt'))!.ttl).toBeGreaterThanOrEqual(99);
        expect(Math.abs(item(await h.arithmetic(counter)).exptime - (unixSeconds() + 50))).toBeLessThanOrEqual(1);
        expect((await peek(target, 'nt'))!.ttl).toBeLessThanOrEqual(50);
      });

      it('compare-and-swap on a counter, and touch setting its TTL', async () => {
        const base = item(await h.store({ mode: 'set', key: k('n'), value: k('1'), flags: 0, exptime: 0 }));
        expect(await h.arithmetic({ key: k('n'), incr: true, delta: 1n, compareCas: base.cas + 9n })).toBe('EXISTS');
        const ok = item(await h.arithmetic({ key: k('n'), incr: true, delta: 1n, compareCas: base.cas, touch: 60 }));
        expect(ok.value.toString()).toBe('2');
        expect(Math.abs(ok.exptime - (unixSeconds() + 60))).toBeLessThanOrEqual(1);
        expect((await peek(target, 'n'))!.ttl).toBeGreaterThanOrEqual(59);
      });
    });

    describe('touch', () => {
      it('TOUCHED sets the TTL; a missing item is NOT_FOUND', async () => {
        expect(await h.touch({ key: k('a'), exptime: 10 })).toBe('NOT_FOUND');
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        expect(await h.touch({ key: k('a'), exptime: 10 })).toBe('TOUCHED');
        const s = await peek(target, 'a');
        expect(s!.ttl).toBeGreaterThanOrEqual(9);
        expect(s!.ttl).toBeLessThanOrEqual(10);
      });
    });

    describe('flush', () => {
      it('flush(0) empties the cache now', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n', 'STORED\r\nSTORED\r\n');
        await h.flush(0);
        expect(await peek(target, 'a')).toBeUndefined();
        expect(await peek(target, 'b')).toBeUndefined();
      });

      it('flush with a delay empties it when the delay has passed', async () => {
        await raw(target, 'set a 0 0 1\r\nx\r\n', 'STORED\r\n');
        await h.flush(2);
        expect(await peek(target, 'a')).toBeDefined();
        await sleep(3100);
        expect(await peek(target, 'a')).toBeUndefined();
      });

      it('flush is ordered with the requests around it on every connection', async () => {
        const keys = Array.from({ length: 20 }, (_, i) => k(`f${i}`));
        const before = keys.map((key) => h.store({ mode: 'set', key, value: k('old'), flags: 0, exptime: 0 }));
        const flushed = h.flush(0);
        const after = keys.map((key, i) =>
          i % 2 === 0 ? h.store({ mode: 'set', key, value: k('new'), flags: 0, exptime: 0 }) : h.get({ key }),
        );
        const reads = keys.map((key) => h.get({ key }));
        await Promise.all([...before, flushed, ...after]);
        const got = await Promise.all(reads);
        expect(got.map((it) => it?.value.toString())).toEqual(keys.map((_, i) => (i % 2 === 0 ? 'new' : undefined)));
        for (let i = 1; i < keys.length; i += 2) expect(await after[i]).toBeUndefined();
      });
    });

    describe('stats and close', () => {
      it('ownStats counts requests and connections without asking memcached', async () => {
        const s0 = h.ownStats();
        await h.get({ key: k('a') });
        const s1 = h.ownStats();
        expect((s1.backend_requests as number) - (s0.backend_requests as number)).toBe(1);
        expect(s1.backend_connections).toBe(2);
        expect(s1.backend_connections_ready).toBe(2);
        expect(s1.backend_in_flight).toBe(0);
        expect((await h.stats('settings'))!.backend_connections).toBe(2);
        expect(await h.stats('nonsense')).toBeUndefined();
      });

      it('close fails requests in flight and every later one', async () => {
        const other = new MemcachedHandler({ address: h.address, connections: 1 });
        await other.get({ key: k('warm') });
        const pending = other.get({ key: k('a') });
        other.close();
        expect((await rejection(pending)).message).toBe('backend unavailable');
        expect((await rejection(other.store({ mode: 'set', key: k('a'), value: k('x'), flags: 0, exptime: 0 }))).message).toBe(
          'backend unavailable',
        );
      });
    });
  });
}

describe('MemcachedHandler options', () => {
  it('accepts "host:port" and socket path strings, rejects nonsense', () => {
    const a = new MemcachedHandler({ address: '127.0.0.1:1', connections: 1 });
    expect(a.address).toEqual({ host: '127.0.0.1', port: 1 });
    a.close();
    const b = new MemcachedHandler({ address: '/tmp/nothing-here.sock', connections: 1 });
    expect(b.address).toEqual({ path: '/tmp/nothing-here.sock' });
    b.close();
    expect(() => new MemcachedHandler({ address: 'nohost' })).toThrow(TypeError);
    expect(() => new MemcachedHandler({ address: { host: 'x', port: 0 } })).toThrow(TypeError);
    expect(() => new MemcachedHandler({ address: '127.0.0.1:1', connections: 0 })).toThrow(RangeError);
    expect(() => new MemcachedHandler({ address: '127.0.0.1:1', timeoutMs: -5 })).toThrow(RangeError);
  });
});
