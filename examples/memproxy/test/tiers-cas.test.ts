/**
 * gets then cas through memproxy with two tiers: the CAS unique a client
 * sees is the one L2 (the authority) holds, as `mg <key> c` asked of L2
 * directly reports, so a `cas` with it stores and a stale one is refused.
 * With memcached as L1 too (it numbers its own items: memcached 1.6.18
 * refuses meta `E`), fetches that show the CAS are answered by L2; with the
 * in-memory L1 (which keeps L2's CAS) L1 answers them. Text, meta and binary.
 */
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RawClient, binaryPacket, extras, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { ask, startMemproxy, stopAfterAll, type Running } from './spawn.js';

const track = stopAfterAll();

type Target = { port: number } | { path: string };
const target = (mc: MemcachedProcess): Target => (mc.socketPath ? { path: mc.socketPath } : { port: mc.port });

/** The CAS unique a memcached holds for `key`, asked directly (`mg <key> c`). */
async function casIn(mc: MemcachedProcess, key: string): Promise<bigint> {
  const reply = await ask(target(mc), `mg ${key} c\r\n`, '\r\n');
  const m = /^HD c(\d+)\r\n$/.exec(reply);
  if (!m) throw new Error(`${key} is not in the backend: ${JSON.stringify(reply)}`);
  return BigInt(m[1]!);
}

/** The unique in a text `gets` reply for one key. */
function uniqueOf(reply: string): bigint {
  const m = /^VALUE \S+ \d+ \d+ (\d+)\r\n/.exec(reply);
  if (!m) throw new Error(`not a gets hit: ${JSON.stringify(reply)}`);
  return BigInt(m[1]!);
}

interface BinaryReply {
  status: number;
  cas: bigint;
  value: string;
}

/** One binary request and its reply. */
async function binary(port: number, spec: Parameters<typeof binaryPacket>[0]): Promise<BinaryReply> {
  const c = await RawClient.connect({ port });
  try {
    c.write(binaryPacket(spec));
    const h = await c.read(24, 5000);
    if (h.length < 24 || h[0] !== 0x81) throw new Error(`no binary reply: ${h.toString('hex')}`);
    const body = await c.read(h.readUInt32BE(8), 5000);
    return { status: h.readUInt16BE(6), cas: h.readBigUInt64BE(16), value: body.subarray(h[4]! + h.readUInt16BE(2)).toString('latin1') };
  } finally {
    c.close();
  }
}

const GET = 0x00;
const SET = 0x01;
const KEY_EXISTS = 0x0002;

/** The checks every two-tier setup must pass; `l2` is the L2 memcached, `l1Direct` lets a test write L1 behind the proxy. */
function casChecks(ctx: () => { proxy: number; l2: MemcachedProcess }) {
  it("text: gets shows L2's unique, before and after L1 holds a copy; cas with it stores, a stale one EXISTS", async () => {
    const { proxy, l2 } = ctx();
    expect(await ask({ port: proxy }, 'set t 5 0 2\r\nv1\r\n', '\r\n')).toBe('STORED\r\n');
    // A plain get first, so L1 surely holds a copy.
    expect(await ask({ port: proxy }, 'get t\r\n', 'END\r\n')).toBe('VALUE t 5 2\r\nv1\r\nEND\r\n');
    const first = await ask({ port: proxy }, 'gets t\r\n', 'END\r\n');
    const unique = uniqueOf(first);
    expect(first).toBe(`VALUE t 5 2 ${unique}\r\nv1\r\nEND\r\n`);
    expect(unique).toBe(await casIn(l2, 't'));
    expect(await ask({ port: proxy }, `cas t 5 0 2 ${unique}\r\nv2\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await ask({ port: proxy }, `cas t 5 0 2 ${unique}\r\nv3\r\n`, '\r\n')).toBe('EXISTS\r\n');
    const again = await ask({ port: proxy }, 'gets t\r\n', 'END\r\n');
    expect(uniqueOf(again)).toBe(await casIn(l2, 't'));
    expect(again).toContain('\r\nv2\r\n');
    expect(await ask({ port: proxy }, `cas t 5 0 2 ${uniqueOf(again)}\r\nv4\r\n`, '\r\n')).toBe('STORED\r\n');
    expect(await ask({ port: proxy }, 'get t\r\n', 'END\r\n')).toBe('VALUE t 5 2\r\nv4\r\nEND\r\n');
  });

  it("text multi-key gets: every key shows L2's unique", async () => {
    const { proxy, l2 } = ctx();
    await ask({ port: proxy }, 'set g1 0 0 1\r\na\r\nset g2 0 0 1\r\nb\r\n', 'STORED\r\nSTORED\r\n');
    expect(await ask({ port: proxy }, 'get g1 g2\r\n', 'END\r\n')).toBe('VALUE g1 0 1\r\na\r\nVALUE g2 0 1\r\nb\r\nEND\r\n');
    const reply = await ask({ port: proxy }, 'gets g1 nothing g2\r\n', 'END\r\n');
    expect(reply).toBe(`VALUE g1 0 1 ${await casIn(l2, 'g1')}\r\na\r\nVALUE g2 0 1 ${await casIn(l2, 'g2')}\r\nb\r\nEND\r\n`);
  });

  it("meta: mg c shows L2's unique; ms C with it stores (HD), a stale one EX; ms c reports L2's new unique", async () => {
    const { proxy, l2 } = ctx();
    expect(await ask({ port: proxy }, 'ms m 2 T0\r\nv1\r\n', '\r\n')).toBe('HD\r\n');
    expect(await ask({ port: proxy }, 'mg m v\r\n', 'v1\r\n')).toBe('VA 2\r\nv1\r\n');
    const got = await ask({ port: proxy }, 'mg m c v\r\n', 'v1\r\n');
    const m = /^VA 2 c(\d+)\r\nv1\r\n$/.exec(got);
    expect(m, got).not.toBeNull();
    const unique = BigInt(m![1]!);
    expect(unique).toBe(await casIn(l2, 'm'));
    const stored = await ask({ port: proxy }, `ms m 2 C${unique} c\r\nv2\r\n`, '\r\n');
    expect(stored).toMatch(/^HD c\d+\r\n$/);
    expect(BigInt(/c(\d+)/.exec(stored)![1]!)).toBe(await casIn(l2, 'm'));
    expect(await ask({ port: proxy }, `ms m 2 C${unique}\r\nv3\r\n`, '\r\n')).toBe('EX\r\n');
    const after = await ask({ port: proxy }, 'mg m c v\r\n', 'v2\r\n');
    expect(BigInt(/c(\d+)/.exec(after)![1]!)).toBe(await casIn(l2, 'm'));
  });

  it("binary: Get carries L2's CAS; Set with it succeeds, with a stale one answers key exists", async () => {
    const { proxy, l2 } = ctx();
    expect((await binary(proxy, { opcode: SET, key: 'b', extras: extras.store(0, 0), value: 'v1' })).status).toBe(0);
    const got = await binary(proxy, { opcode: GET, key: 'b' });
    expect(got.status).toBe(0);
    expect(got.value).toBe('v1');
    expect(got.cas).toBe(await casIn(l2, 'b'));
    const swapped = await binary(proxy, { opcode: SET, key: 'b', extras: extras.store(0, 0), value: 'v2', cas: got.cas });
    expect(swapped.status).toBe(0);
    expect(swapped.cas).toBe(await casIn(l2, 'b'));
    expect((await binary(proxy, { opcode: SET, key: 'b', extras: extras.store(0, 0), value: 'v3', cas: got.cas })).status).toBe(KEY_EXISTS);
    expect((await binary(proxy, { opcode: GET, key: 'b' })).value).toBe('v2');
  });
}

describe('memproxy --l1-addr (memcached) --l2-enabled --l2-sock (memcached)', () => {
  let l1: MemcachedProcess;
  let l2: MemcachedProcess;
  let mp: Running;
  beforeAll(async () => {
    [l1, l2] = await Promise.all([startMemcached(), startMemcached({ unixSocket: true })]);
    track(l1);
    track(l2);
    mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${l1.port}`, '--l2-enabled', '--l2-sock', l2.socketPath!]);
    track(mp);
  });
  beforeEach(async () => {
    // L1 numbers its items ahead of L2, so an L1 unique cannot pass for L2's by chance.
    await ask(target(l1), 'set pad 0 0 1\r\nx\r\n'.repeat(9), 'STORED\r\n'.repeat(9));
  });

  casChecks(() => ({ proxy: mp.port, l2 }));

  it('plain gets are still answered by L1', async () => {
    expect(await ask({ port: mp.port }, 'set p 0 0 6\r\nfromL2\r\n', '\r\n')).toBe('STORED\r\n');
    // Changed in L1 behind the proxy's back: a plain get shows L1's copy, a gets L2's item.
    await ask(target(l1), 'set p 0 0 6\r\nfromL1\r\n', 'STORED\r\n');
    expect(await ask({ port: mp.port }, 'get p\r\n', 'END\r\n')).toBe('VALUE p 0 6\r\nfromL1\r\nEND\r\n');
    expect(await ask({ port: mp.port }, 'gets p\r\n', 'END\r\n')).toContain('\r\nfromL2\r\n');
  });
});

describe('memproxy with the in-memory L1 --l2-enabled --l2-sock (memcached)', () => {
  let l2: MemcachedProcess;
  let mp: Running;
  beforeAll(async () => {
    l2 = await startMemcached({ unixSocket: true });
    track(l2);
    mp = await startMemproxy(['-p', '0', '--l2-enabled', '--l2-sock', l2.socketPath!]);
    track(mp);
  });

  casChecks(() => ({ proxy: mp.port, l2 }));
});
