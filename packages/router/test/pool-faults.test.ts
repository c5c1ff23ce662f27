/**
 * A pool of 4 real memcached (two over TCP, two over unix sockets) behind a
 * server, under the checking load (testkit's CheckedLoad: text, meta and
 * binary clients, every reply checked against its request), while members
 * fail: killed (SIGKILL) and started again on the same address, stopped
 * (SIGSTOP) and continued, all of them at once. Each case runs with
 * auto_eject_hosts on and off and checks:
 * - no wrong reply, every request answered, no client connection closed;
 * - errors come promptly (within the backend timeout), nothing hangs;
 * - keys of the members that stay up never fail;
 * - ejecting: after serverFailureLimit failures the member is 'ejected' and
 *   its keys move to the others (and are stored there); not ejecting: it is
 *   'down', its keys fail at once (no wait for a timeout) and do not move;
 * - once the member is back, the background probe alone brings it back
 *   ('up'), its keys are served by it again, and no request fails after.
 * States are polled with deadlines; each fault holds until what it checks
 * has been seen.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe } from '@cleave/server';
import { CheckedLoad, FixedMemcached, RawClient, binaryPacket, freePort, until, type ClientProtocol, type Reply } from '@cleave/testkit';
import { ringName } from '../src/placement.js';
import { pool, type Pool } from '../src/pool.js';
import type { PoolMember } from '../src/member.js';

/** Each member handler's timeoutMs: well above a healthy reply's time on a busy machine, well below the test's span. */
const TIMEOUT = 500;
/** Each member handler's connectTimeoutMs. */
const CONNECT_TIMEOUT = 1000;
/** The pool's serverFailureLimit, serverRetryTimeoutMs and probeIntervalMs. */
const LIMIT = 3;
const RETRY = 500;
const PROBE = 100;
/**
 * Backend connections per member: more than one, so a member that comes back
 * must serve on each connection its requests may go to (the least loaded).
 */
const CONNECTIONS = 2;
/**
 * Slack for timers and a busy 2-core machine, where the load, the server and
 * the starts of memcached share one process: stalls of a second and more happen.
 */
const MARGIN = 2000;

const CLIENTS: ClientProtocol[] = ['text', 'text', 'meta', 'binary', 'binary'];
/** The errors a pool answers for a failed or missing server. */
const POOL_ERROR = /^SERVER_ERROR (backend (timeout|unavailable)|no server available)$/;

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});
const dir = mkdtempSync(join(tmpdir(), 'cleave-pool-faults-'));
cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

interface Rig {
  readonly mcs: FixedMemcached[];
  readonly pool: Pool;
  readonly port: number;
  /** Keys of the load, 6 on each member, by member. */
  readonly keysOf: string[][];
}

/** Four memcached (TCP, unix, TCP, unix), a pool over them, a server in front. */
async function rig(autoEjectHosts: boolean, connections = CONNECTIONS): Promise<Rig> {
  const mcs: FixedMemcached[] = [];
  for (let i = 0; i < 4; i++) {
    const mc = new FixedMemcached(
      i % 2 === 1 ? { path: join(dir, `mc-${Math.random().toString(36).slice(2)}.sock`) } : { port: await freePort() },
    );
    cleanup.push(() => mc.kill());
    mcs.push(mc);
  }
  await Promise.all(mcs.map((m) => m.start()));
  const p = pool({
    autoEjectHosts,
    serverFailureLimit: LIMIT,
    serverRetryTimeoutMs: RETRY,
    probeIntervalMs: PROBE,
    servers: mcs.map((m) => {
      const t = m.target;
      const address = 'path' in t ? { path: t.path } : { host: '127.0.0.1', port: t.port };
      return {
        handler: new MemcachedHandler({ address, timeoutMs: TIMEOUT, connectTimeoutMs: CONNECT_TIMEOUT, connections }),
        name: 'path' in t ? ringName(t.path, undefined) : ringName('127.0.0.1', t.port),
      };
    }),
  });
  const server = await listenAndServe({ listen: { port: 0 }, handler: p });
  cleanup.push(() => server.close());
  // Every backend connection open before anything is asked (a first connection attempt may time out on a busy machine).
  await until(
    'every backend connection ready',
    () => p.members.every((m) => (m.handler as MemcachedHandler).ownStats().backend_connections_ready === connections),
    10_000,
  );
  const keysOf: string[][] = [[], [], [], []];
  for (let i = 0; keysOf.some((k) => k.length < 6); i++) {
    const k = `pf${i}`;
    const at = p.members.indexOf(p.serverFor(Buffer.from(k))!);
    if (keysOf[at]!.length < 6) keysOf[at]!.push(k);
  }
  return { mcs, pool: p, port: (server.addresses[0] as { port: number }).port, keysOf };
}

interface Counts {
  ok: number;
  errors: number;
  stored: number;
  maxErrorMs: number;
  maxMs: number;
  /** How long each error took. */
  errorMs: number[];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

/** Replies per key and phase, as the load settles them. */
class Tally {
  private readonly counts = new Map<string, Counts>();
  readonly onReply = (key: string, kind: 'get' | 'set', outcome: Reply['outcome'], ms: number, phase: string): void => {
    const id = `${phase} ${key}`;
    let c = this.counts.get(id);
    if (c === undefined) {
      c = { ok: 0, errors: 0, stored: 0, maxErrorMs: 0, maxMs: 0, errorMs: [] };
      this.counts.set(id, c);
    }
    c.maxMs = Math.max(c.maxMs, ms);
    if (outcome === 'error') {
      c.errors++;
      c.maxErrorMs = Math.max(c.maxErrorMs, ms);
      c.errorMs.push(ms);
    } else if (outcome !== 'violation') {
      c.ok++;
      if (kind === 'set') c.stored++;
    }
  };

  /** Sums over `keys` in `phases`. */
  of(keys: readonly string[], phases: readonly string[]): Counts {
    const sum: Counts = { ok: 0, errors: 0, stored: 0, maxErrorMs: 0, maxMs: 0, errorMs: [] };
    for (const p of phases) {
      for (const k of keys) {
        const c = this.counts.get(`${p} ${k}`);
        if (c === undefined) continue;
        sum.ok += c.ok;
        sum.errors += c.errors;
        sum.stored += c.stored;
        sum.maxErrorMs = Math.max(sum.maxErrorMs, c.maxErrorMs);
        sum.maxMs = Math.max(sum.maxMs, c.maxMs);
        sum.errorMs.push(...c.errorMs);
      }
    }
    return sum;
  }

  /** Keys of `keys` stored in `phase`. */
  storedIn(keys: readonly string[], phase: string): string[] {
    return keys.filter((k) => (this.counts.get(`${phase} ${k}`)?.stored ?? 0) > 0);
  }
}

const PHASES = ['before', 'fault', 'out', 'return', 'after'];

/** Which of `keys` a memcached holds. */
async function holding(mc: FixedMemcached, keys: readonly string[]): Promise<Set<string>> {
  const c = await RawClient.connect(mc.target);
  try {
    const reply = await c.exchange(keys.map((k) => `mg ${k} k q\r\n`).join(''));
    return new Set([...reply.toString('latin1').matchAll(/^HD k(\S+)\r$/gm)].map((m) => m[1]!));
  } finally {
    c.close();
  }
}

/** A text request through the pool on a connection of its own, the whole reply. */
async function ask(port: number, bytes: string, end: string): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    return (await c.request(bytes, end, 5000)).toString('latin1');
  } finally {
    c.close();
  }
}

type Fault = 'kill' | 'stop';

/** A key the load does not use, placed on member `at`. */
function keyOn(r: Rig, at: number, tag: string): string {
  for (let i = 0; ; i++) if (r.pool.serverFor(Buffer.from(`${tag}${i}`)) === r.pool.members[at]) return `${tag}${i}`;
}

interface MultiKeys {
  /** On two members that stay up, and on the victim; stored before the fault with these values. */
  live1: string;
  live2: string;
  onVictim: string;
  /** Never stored, on a member that stays up. */
  absent: string;
}

async function multiKeySetup(r: Rig, victim: number): Promise<MultiKeys> {
  const mk = {
    live1: keyOn(r, (victim + 1) % 4, 'mk-a'),
    live2: keyOn(r, (victim + 2) % 4, 'mk-b'),
    onVictim: keyOn(r, victim, 'mk-v'),
    absent: keyOn(r, (victim + 3) % 4, 'mk-x'),
  };
  for (const k of [mk.live1, mk.live2, mk.onVictim])
    expect(await ask(r.port, `set ${k} 0 0 ${k.length}\r\n${k}\r\n`, '\r\n')).toBe('STORED\r\n');
  return mk;
}

/** A binary response's opcode, status, opaque and key. */
function binaryReplies(b: Buffer): string[] {
  const out: string[] = [];
  for (let p = 0; p + 24 <= b.length; p += 24 + b.readUInt32BE(p + 8)) {
    const keyLen = b.readUInt16BE(p + 2);
    const ext = b[p + 4]!;
    out.push(
      `op ${b[p + 1]} status ${b.readUInt16BE(p + 6).toString(16)} opaque ${b.readUInt32BE(p + 12)} key ${b.toString('latin1', p + 24 + ext, p + 24 + ext + keyLen)}`,
    );
  }
  return out;
}

/**
 * Multi-key requests with a key on the member that is out of service, text,
 * binary and meta. Ejected: its key has moved (to a server that lacks it: a
 * miss) and the rest is served. Down: a text multi-get fails as a whole (one
 * SERVER_ERROR: the text protocol has no per-key error), while binary and
 * meta pipelines, one request per key, fail that key alone.
 */
async function multiKey(port: number, mk: MultiKeys, ejected: boolean): Promise<void> {
  const { live1, live2, onVictim, absent } = mk;
  // (Not RawClient.exchange: its marker's key may live on the member that is out.)
  const value = (k: string) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`;
  const both = `${value(live1)}${value(live2)}END\r\n`;
  expect(await ask(port, `get ${live1} ${onVictim} ${live2}\r\nget ${live1} ${live2}\r\n`, `\r\n${both}`)).toBe(
    ejected ? both + both : `SERVER_ERROR backend unavailable\r\n${both}`,
  );
  const GETKQ = 0x0d;
  const noop = binaryPacket({ opcode: 0x0a, opaque: 5 });
  const noopReply = Buffer.from(noop);
  noopReply[0] = 0x81;
  const bin = await RawClient.connect({ port });
  try {
    const request = Buffer.concat([
      binaryPacket({ opcode: GETKQ, key: live1, opaque: 1 }),
      binaryPacket({ opcode: GETKQ, key: onVictim, opaque: 2 }),
      binaryPacket({ opcode: GETKQ, key: live2, opaque: 3 }),
      binaryPacket({ opcode: GETKQ, key: absent, opaque: 4 }),
      noop,
    ]);
    expect(binaryReplies(await bin.request(request, noopReply, 5000))).toEqual([
      `op ${GETKQ} status 0 opaque 1 key ${live1}`,
      ...(ejected ? [] : [`op ${GETKQ} status 86 opaque 2 key `]),
      `op ${GETKQ} status 0 opaque 3 key ${live2}`,
      'op 10 status 0 opaque 5 key ',
    ]);
  } finally {
    bin.close();
  }
  const va = (k: string, o: number) => `VA ${k.length} O${o}\r\n${k}\r\n`;
  expect(await ask(port, `mg ${live1} v q O1\r\nmg ${onVictim} v q O2\r\nmg ${live2} v q O3\r\nmn\r\n`, 'MN\r\n')).toBe(
    `${va(live1, 1)}${ejected ? '' : 'SERVER_ERROR backend unavailable\r\n'}${va(live2, 3)}MN\r\n`,
  );
}

/**
 * One member fails under the load and comes back. Phases, by when a request
 * was sent: 'before'; 'fault' (the member has failed, the pool may not know
 * yet); 'out' (the pool has taken it out of service); 'return' (it is back,
 * the pool may not know yet); 'after' (the probe has brought it back).
 */
async function memberFails(autoEject: boolean, fault: Fault, victim: number): Promise<void> {
  const r = await rig(autoEject);
  const tally = new Tally();
  const keys = r.keysOf.flat();
  const victimKeys = r.keysOf[victim]!;
  const liveKeys = r.keysOf.filter((_, i) => i !== victim).flat();
  const member: PoolMember = r.pool.members[victim]!;
  const mc = r.mcs[victim]!;
  const load = new CheckedLoad({
    port: r.port,
    clients: CLIENTS,
    keys,
    depth: 3,
    acceptError: (l) => POOL_ERROR.test(l),
    onReply: tally.onReply,
  });
  const report = () => `${expect.getState().currentTestName}\n${load.summary()}`;
  await load.start();
  await until('replies before the fault', () => tally.of(keys, ['before']).ok >= 100, 10_000);
  const mk = await multiKeySetup(r, victim);

  load.phase = 'fault';
  if (fault === 'kill') await mc.kill();
  else await mc.pause();
  const outState = autoEject ? 'ejected' : 'down';
  await until(`member ${victim} ${outState}`, () => member.state === outState, LIMIT * TIMEOUT + MARGIN * 2);
  load.phase = 'out';
  const takenOutAt = member.ejectedAt;
  const requestsWhenOut = member.counters.requests;
  // Taken out after serverFailureLimit failures of the server itself.
  expect(member.counters.errors).toBeGreaterThanOrEqual(LIMIT);
  expect(r.pool.counters.serverEjects).toBe(autoEject ? 1 : 0);
  const elsewhere = victimKeys.map((k) => r.pool.serverFor(Buffer.from(k)));
  if (autoEject) for (const m of elsewhere) expect(m === undefined || m === member).toBe(false);
  else for (const m of elsewhere) expect(m).toBe(member);

  await multiKey(r.port, mk, autoEject);

  // Out of service past the retry timeout, with probes failing: it must stay out, and its keys get answers.
  const outAt = Date.now();
  await until(
    'the victim’s keys answered while it is out',
    () => tally.of(victimKeys, ['out']).ok + tally.of(victimKeys, ['out']).errors >= 30 && Date.now() - outAt >= RETRY + 3 * PROBE,
    10_000,
  );
  expect(member.state).toBe(outState);

  load.phase = 'return';
  // Its request count, last seen while it was out of service (requests count as they are sent to it). Read
  // before the restart: on a busy machine the probe can bring it back before `mc.start()` has resolved.
  let requestsWhileOut = member.counters.requests;
  if (fault === 'kill') await mc.start();
  else mc.resume();
  const isUp = () => {
    if (member.state !== 'up') requestsWhileOut = member.counters.requests;
    return member.state === 'up';
  };
  await until(`member ${victim} up again`, isUp, RETRY + TIMEOUT + MARGIN * 2);
  load.phase = 'after';
  // Back once, not back, out again, back (between two looks at its state) ...
  expect(member.ejectedAt, `taken out of service again as it came back\n${report()}`).toBe(takenOutAt);
  // ... by the probe: no client request was sent to it to find out.
  expect(requestsWhileOut, 'client requests sent to the member while it was out of service').toBe(requestsWhenOut);
  expect(victimKeys.map((k) => r.pool.serverFor(Buffer.from(k)))).toEqual(victimKeys.map(() => member));
  // Served by it again: a new key of its own written through the pool now is in the victim's memcached.
  let back = '';
  for (let i = 0; back === ''; i++) if (r.pool.serverFor(Buffer.from(`back${i}`)) === member) back = `back${i}`;
  expect(await ask(r.port, `set ${back} 0 0 2\r\nok\r\n`, '\r\n'), 'the first write to the member once it is back').toBe('STORED\r\n');
  await until('replies after the return', () => tally.of(victimKeys, ['after']).ok >= 30 && tally.of(liveKeys, ['after']).ok >= 30, 10_000);
  await load.stop(TIMEOUT + MARGIN * 2);

  const summary = report();
  expect(load.violations, summary).toEqual([]);
  // Keys of the members that stayed up never failed.
  expect(tally.of(liveKeys, PHASES).errors, `errors on keys of members that stayed up\n${summary}`).toBe(0);
  // Nothing hung: every reply within one backend timeout (plus slack).
  expect(tally.of(keys, PHASES).maxMs, summary).toBeLessThanOrEqual(TIMEOUT + MARGIN);
  // The fault was seen, as prompt errors.
  const during = tally.of(victimKeys, ['before', 'fault']);
  expect(during.errors, summary).toBeGreaterThan(0);
  expect(during.maxErrorMs, summary).toBeLessThanOrEqual(TIMEOUT + MARGIN);
  const out = tally.of(victimKeys, ['out']);
  if (autoEject) {
    // Moved: every request sent while it was out was served by another server.
    expect(out.errors, summary).toBe(0);
    expect(out.ok, summary).toBeGreaterThan(0);
    // ... and what was stored then is on the server that took the key over.
    const stored = tally.storedIn(victimKeys, 'out');
    expect(stored.length, summary).toBeGreaterThan(0);
    for (const k of stored) {
      const took = elsewhere[victimKeys.indexOf(k)]!;
      expect((await holding(r.mcs[r.pool.members.indexOf(took)]!, [k])).has(k), `${k} on ${took.label}`).toBe(true);
    }
  } else {
    // Failed fast and did not move: no wait for a timeout, and no other server ever stored them. (Fast
    // by the median: an error is written after the replies to requests sent before it on its client
    // connection, which may still be waiting for the stopped server, and a busy machine stalls now and then.)
    expect(out.ok, summary).toBe(0);
    expect(out.errors, summary).toBeGreaterThan(0);
    expect(median(out.errorMs), summary).toBeLessThan(TIMEOUT / 3);
    for (const [i, other] of r.mcs.entries())
      if (i !== victim) expect([...(await holding(other, victimKeys))], `on member ${i}`).toEqual([]);
  }
  // Once the probe had brought it back, it stayed in service ...
  expect(member.ejectedAt, `taken out of service again after it was back\n${summary}`).toBe(takenOutAt);
  expect(r.pool.counters.serverEjects, summary).toBe(autoEject ? 1 : 0);
  // ... and not one request failed (ejecting, no request sent while it came back failed either: its keys were elsewhere).
  if (autoEject) expect(tally.of(keys, ['return']).errors, `errors while the member came back\n${summary}`).toBe(0);
  const after = tally.of(keys, ['after']);
  expect(after.errors, `errors after the member was back\n${summary}`).toBe(0);
  expect(tally.of(victimKeys, ['after']).stored, summary).toBeGreaterThan(0);
  expect([...(await holding(mc, [back]))], summary).toEqual([back]);
  expect(member.state).toBe('up');
}

/**
 * Every member fails at once: ejecting, the ring is empty ('no server
 * available'); not ejecting, every key's member is down ('backend
 * unavailable'). Both at once, not after a timeout. Then all come back.
 */
async function allFail(autoEject: boolean): Promise<void> {
  const r = await rig(autoEject);
  const tally = new Tally();
  const keys = r.keysOf.flat();
  const load = new CheckedLoad({
    port: r.port,
    clients: CLIENTS,
    keys,
    depth: 3,
    acceptError: (l) => POOL_ERROR.test(l),
    onReply: tally.onReply,
  });
  await load.start();
  await until('replies before the fault', () => tally.of(keys, ['before']).ok >= 100, 10_000);
  load.phase = 'fault';
  await Promise.all(r.mcs.map((m) => m.kill()));
  const outState = autoEject ? 'ejected' : 'down';
  await until('every member out of service', () => r.pool.members.every((m) => m.state === outState), LIMIT * TIMEOUT + MARGIN * 2);
  load.phase = 'out';
  expect(r.pool.counters.serverEjects).toBe(autoEject ? 4 : 0);
  const words = autoEject ? 'no server available' : 'backend unavailable';
  expect(await ask(r.port, 'get a b c\r\n', '\r\n')).toBe(`SERVER_ERROR ${words}\r\n`);
  expect(await ask(r.port, 'mg a v O7\r\n', '\r\n')).toBe(`SERVER_ERROR ${words}\r\n`);
  await until('requests answered while every member is out', () => tally.of(keys, ['out']).errors >= 60, 10_000);
  load.phase = 'return';
  await Promise.all(r.mcs.map((m) => m.start()));
  await until('every member up again', () => r.pool.members.every((m) => m.state === 'up'), RETRY + TIMEOUT + MARGIN * 2);
  load.phase = 'after';
  await until('replies after the return', () => tally.of(keys, ['after']).ok >= 100, 10_000);
  await load.stop(TIMEOUT + MARGIN * 2);

  const summary = `${expect.getState().currentTestName}\n${load.summary()}`;
  expect(load.violations, summary).toEqual([]);
  const out = load.stats('out');
  expect(out.stored + out.hits + out.misses, summary).toBe(0);
  expect([...out.errorKinds.keys()].sort(), summary).toEqual([`SERVER_ERROR ${words}`, `status 0x86 ${words}`]);
  expect(median(tally.of(keys, ['out']).errorMs), summary).toBeLessThan(TIMEOUT / 3);
  expect(tally.of(keys, PHASES).maxMs, summary).toBeLessThanOrEqual(TIMEOUT + MARGIN);
  expect(tally.of(keys, ['after']).errors, `errors after every member was back\n${summary}`).toBe(0);
}

for (const autoEject of [true, false]) {
  describe(`a pool of 4 memcached under a checking load, auto_eject_hosts ${autoEject}`, () => {
    // The victim is a TCP member in one mode and a unix socket member in the other, for each fault.
    it('a member killed (SIGKILL), then started again on the same address', () => memberFails(autoEject, 'kill', autoEject ? 0 : 1));
    it('a member stopped (SIGSTOP), then continued (SIGCONT)', () => memberFails(autoEject, 'stop', autoEject ? 3 : 2));
    it('every member killed, then started again', () => allFail(autoEject));
  });
}

/** Take member `at` out of service: stop its memcached and send requests for its key until the pool gives up on it. */
async function stopAndTakeOut(r: Rig, at: number, key: string, outState: 'ejected' | 'down'): Promise<void> {
  await r.mcs[at]!.pause();
  // Each times out (SERVER_ERROR backend timeout): serverFailureLimit of them take the member out.
  const replies = await Promise.all(Array.from({ length: LIMIT }, () => ask(r.port, `get ${key}\r\n`, '\r\n')));
  expect(replies).toEqual(replies.map(() => 'SERVER_ERROR backend timeout\r\n'));
  await until(`member ${at} ${outState}`, () => r.pool.members[at]!.state === outState, MARGIN);
}

describe('flush_all while a member is out of service', () => {
  // One backend connection per member: these cases are about flush_all, not about a member's
  // connections coming back one by one (the load cases above cover that).
  it('ejected: once the member is back, nothing stored before the flush_all is served again', async () => {
    const r = await rig(true, 1);
    const victim = 2;
    const k = keyOn(r, victim, 'stale');
    expect(await ask(r.port, `set ${k} 0 0 3\r\nold\r\n`, '\r\n')).toBe('STORED\r\n');
    await stopAndTakeOut(r, victim, k, 'ejected');
    expect(await ask(r.port, 'flush_all\r\n', '\r\n')).toBe('OK\r\n');
    r.mcs[victim]!.resume();
    await until(`member ${victim} up again`, () => r.pool.members[victim]!.state === 'up', RETRY + TIMEOUT + MARGIN * 2);
    expect(r.pool.serverFor(Buffer.from(k))).toBe(r.pool.members[victim]);
    // memcached's flush_all: every item that existed when it was answered OK is gone.
    expect(await ask(r.port, `get ${k}\r\nmn\r\n`, 'MN\r\n')).toBe('END\r\nMN\r\n');
  });

  it('down: flush_all fails (the client learns it did not reach every server); once the member is back it reaches all', async () => {
    const r = await rig(false, 1);
    const victim = 1;
    const keys = [0, 1, 2, 3].map((i) => keyOn(r, i, 'fl'));
    for (const k of keys) expect(await ask(r.port, `set ${k} 0 0 1\r\nx\r\n`, '\r\n')).toBe('STORED\r\n');
    await stopAndTakeOut(r, victim, keys[victim]!, 'down');
    expect(await ask(r.port, 'flush_all\r\n', '\r\n')).toBe('SERVER_ERROR backend unavailable\r\n');
    r.mcs[victim]!.resume();
    await until(`member ${victim} up again`, () => r.pool.members[victim]!.state === 'up', TIMEOUT + MARGIN * 2);
    expect(await ask(r.port, 'flush_all\r\n', '\r\n')).toBe('OK\r\n');
    for (const [i, mc] of r.mcs.entries()) expect([...(await holding(mc, keys))], `member ${i}`).toEqual([]);
  });
});
