/**
 * Regressions for what the model-based tests (model.test.ts) found in the
 * handler. Where memcached's answer is deterministic, the test asks a real
 * memcached 1.6.18 first and holds the handler to the same answer.
 */
import { RawClient, binaryPacket, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ItemView } from '@cleave/protocol';
import { b, makeHandler, parsedArithmetic, parsedGet, parsedStore, set, val } from './helpers.js';

let mc: MemcachedProcess;
let client: RawClient;

beforeAll(async () => {
  mc = await startMemcached();
  client = await RawClient.connect({ port: mc.port });
});

afterAll(async () => {
  client?.close();
  await mc?.stop();
});

/** Send one binary request to memcached (on a connection of its own: memcached fixes a connection's protocol at its first byte). */
async function binary(c: RawClient, packet: Buffer): Promise<{ status: number; cas: bigint }> {
  c.write(packet);
  const head = await c.read(24);
  const body = head.readUInt32BE(8);
  if (body > 0) await c.read(body);
  return { status: head.readUInt16BE(6), cas: head.readBigUInt64BE(16) };
}

/** Remaining TTL memcached reports in a meta `t` flag of a reply line. */
function ttlOf(reply: Buffer): number {
  const m = / t(-?\d+)/.exec(reply.toString('latin1'));
  if (!m) throw new Error(`no t flag in ${reply.toString('latin1')}`);
  return Number(m[1]);
}

/** A value one byte longer than fits memcached's default 1 MiB item with a 1-byte key (59-byte header). */
const OVERSIZE = 1024 * 1024 - 59 - 1 + 1;

describe('found by the model: a store refused as too large', () => {
  it('text cas leaves the old item in place, as memcached does', async () => {
    await client.request('set tl 0 0 1\r\nA\r\n', '\r\n');
    const cas = /VALUE tl 0 1 (\d+)/.exec((await client.request('gets tl\r\n', 'END\r\n')).toString('latin1'))![1]!;
    const refused = await client.request(
      Buffer.concat([Buffer.from(`cas tl 0 0 ${OVERSIZE} ${cas}\r\n`), Buffer.alloc(OVERSIZE, 0x78), Buffer.from('\r\n')]),
      '\r\n',
    );
    expect(refused.toString('latin1')).toBe('SERVER_ERROR object too large for cache\r\n');
    const memcachedKeeps = (await client.request('get tl\r\n', 'END\r\n')).toString('latin1').startsWith('VALUE tl');

    const { h } = makeHandler();
    const stored = set(h, 'tl', 'A');
    const cmd = parsedStore(
      Buffer.concat([Buffer.from(`cas tl 0 0 ${OVERSIZE} ${stored.cas}\r\n`), Buffer.alloc(OVERSIZE, 0x78), Buffer.from('\r\n')]),
    );
    expect(h.store(cmd)).toBe('TOO_LARGE');
    expect(val(h, 'tl') !== undefined).toBe(memcachedKeeps);
    expect(val(h, 'tl')).toBe('A');
  });

  it('binary Set with a CAS drops the old item, as memcached does', async () => {
    const c = await RawClient.connect({ port: mc.port });
    const first = await binary(c, binaryPacket({ opcode: 0x01, key: 'tb', extras: Buffer.alloc(8), value: 'B' }));
    const refused = await binary(
      c,
      binaryPacket({ opcode: 0x01, key: 'tb', extras: Buffer.alloc(8), value: Buffer.alloc(OVERSIZE, 0x78), cas: first.cas }),
    );
    expect(refused.status).toBe(0x0003); // E2BIG
    const memcachedKeeps = (await binary(c, binaryPacket({ opcode: 0x00, key: 'tb' }))).status === 0;
    c.close();

    const { h } = makeHandler();
    const stored = set(h, 'tb', 'B');
    const cmd = parsedStore(
      binaryPacket({ opcode: 0x01, key: 'tb', extras: Buffer.alloc(8), value: Buffer.alloc(OVERSIZE, 0x78), cas: stored.cas }),
      true,
    );
    expect(h.store(cmd)).toBe('TOO_LARGE');
    expect(val(h, 'tb') !== undefined).toBe(memcachedKeeps);
    expect(memcachedKeeps).toBe(false);
  });
});

describe('found by the model: meta N with T creates the item with the exptime of the flag that comes last', () => {
  it('mg: N30 T100 keeps 100 s, T100 N30 keeps 30 s, as memcached', async () => {
    await client.request('mg vn1 N30 T100\r\nmg vn2 T100 N30\r\n', 'W\r\nHD W\r\n');
    const nFirst = ttlOf(await client.request('mg vn1 t\r\n', '\r\n'));
    const tFirst = ttlOf(await client.request('mg vn2 t\r\n', '\r\n'));
    const { h, clock } = makeHandler();
    const a = h.get(parsedGet('mg vn1 N30 T100 t\r\n')) as ItemView;
    const c = h.get(parsedGet('mg vn2 T100 N30 t\r\n')) as ItemView;
    expect(a.created && c.created).toBe(true);
    // memcached's TTLs may have ticked a second: compare to the nearer of 30 and 100.
    const nearer = (ttl: number) => (Math.abs(ttl - 100) < Math.abs(ttl - 30) ? 100 : 30);
    expect(a.exptime - clock.sec).toBe(nearer(nFirst));
    expect(c.exptime - clock.sec).toBe(nearer(tFirst));
    expect(nearer(nFirst)).not.toBe(nearer(tFirst));
    // A command built by code: vivify is the created item's exptime, touch applies to an existing one.
    const built = h.get({ key: b('vn3'), vivify: 30, touch: 100 }) as ItemView;
    expect(built.exptime - clock.sec).toBe(30);
  });

  it('ma: N30 T100 J5 keeps 100 s, T100 N30 J5 keeps 30 s, as memcached', async () => {
    await client.request('ma an1 N30 T100 J5\r\n', '\r\n');
    await client.request('ma an2 T100 N30 J5\r\n', '\r\n');
    const nFirst = ttlOf(await client.request('mg an1 t\r\n', '\r\n'));
    const tFirst = ttlOf(await client.request('mg an2 t\r\n', '\r\n'));
    const { h, clock } = makeHandler();
    const arith = (wire: string) => h.arithmetic(parsedArithmetic(wire)) as ItemView;
    const nearer = (ttl: number) => (Math.abs(ttl - 100) < Math.abs(ttl - 30) ? 100 : 30);
    expect(arith('ma an1 N30 T100 J5 t\r\n').exptime - clock.sec).toBe(nearer(nFirst));
    expect(arith('ma an2 T100 N30 J5 t\r\n').exptime - clock.sec).toBe(nearer(tFirst));
    expect(nearer(nFirst)).not.toBe(nearer(tFirst));
  });
});

describe('found by the model: flush_all thresholds', () => {
  it('items a delayed flush_all has flushed stay flushed when a newer delayed flush_all replaces it', () => {
    const { h, clock } = makeHandler();
    set(h, 'p', 'P');
    h.flush(10);
    clock.advance(10);
    // The first flush has come (nothing has looked at p since); a new one replaces its threshold.
    h.flush(100);
    expect(val(h, 'p')).toBeUndefined();
    // Items stored after the replacement live until the new threshold comes.
    set(h, 'q', 'Q');
    expect(val(h, 'q')).toBe('Q');
    clock.advance(99);
    expect(val(h, 'q')).toBeUndefined();
  });

  it('an item stored after an immediate flush_all replaced a "flush_all 1" is judged by the newer one', async () => {
    // memcached: flush_all 1 acts at once and hides items stored in the same second;
    // a flush_all 0 then replaces it and what is stored next is visible.
    const replies = (
      await client.request('flush_all 1\r\nset z1 0 0 1\r\nZ\r\nget z1\r\nflush_all 0\r\nset z1 0 0 1\r\nZ\r\nget z1\r\n', 'Z\r\nEND\r\n')
    ).toString('latin1');
    const { h } = makeHandler();
    h.flush(1);
    set(h, 'z1', 'Z');
    const hiddenFirst = val(h, 'z1') === undefined;
    h.flush(0);
    set(h, 'z1', 'Z');
    expect(val(h, 'z1')).toBe('Z');
    // memcached hides the first z1 unless its clock ticked between flush_all 1 and the set.
    expect(hiddenFirst).toBe(true);
    expect(replies.endsWith('VALUE z1 0 1\r\nZ\r\nEND\r\n')).toBe(true);
  });
});

describe('found by the model: recache tokens', () => {
  it('a text get of a stale item does not take its token: the next meta get still wins, as memcached', async () => {
    await client.request('set st1 0 0 1\r\nS\r\nmd st1 I\r\nget st1\r\n', 'END\r\n');
    const memcachedWins = / W\r\n/.test((await client.request('mg st1 v\r\n', 'S\r\n')).toString('latin1'));
    const { h } = makeHandler();
    set(h, 'st1', 'S');
    h.delete({ key: b('st1'), invalidate: true });
    const text = h.get(parsedGet('get st1\r\n'))!;
    expect(text.stale).toBe(true);
    expect(text.win).toBe(false);
    const meta = h.get(parsedGet('mg st1 v\r\n'))!;
    expect(meta.win).toBe(memcachedWins);
    expect(memcachedWins).toBe(true);
    // Binary gets leave it too; a later meta get sees the token taken.
    expect(h.get(parsedGet(binaryPacket({ opcode: 0x00, key: 'st1' }), true))!.win).toBe(false);
    expect(h.get(parsedGet('mg st1 v\r\n'))!.tokenSent).toBe(true);
  });
});

describe("found by the model: incr/decr checks in memcached's order", () => {
  it('an empty value is non-numeric before a wrong CAS is noticed; a non-numeric one with a wrong CAS is EXISTS', async () => {
    await client.request('ms ae1 0\r\n\r\nms ae2 3\r\nabc\r\n', 'HD\r\nHD\r\n');
    const empty = (await client.request('ma ae1 C999999 D1\r\n', '\r\n')).toString('latin1');
    const text = (await client.request('ma ae2 C999999 D1\r\n', '\r\n')).toString('latin1');
    const outcome = (line: string) =>
      line.startsWith('CLIENT_ERROR cannot increment') ? 'NON_NUMERIC' : line.startsWith('EX') ? 'EXISTS' : line.trim();
    const { h } = makeHandler();
    set(h, 'ae1', '');
    set(h, 'ae2', 'abc');
    expect(h.arithmetic({ key: b('ae1'), incr: true, delta: 1n, compareCas: 999999n })).toBe(outcome(empty));
    expect(h.arithmetic({ key: b('ae2'), incr: true, delta: 1n, compareCas: 999999n })).toBe(outcome(text));
    expect([outcome(empty), outcome(text)]).toEqual(['NON_NUMERIC', 'EXISTS']);
  });
});
