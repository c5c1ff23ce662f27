/**
 * memproxy on an LMDB store, as the only tier (--l1-lmdb) and as the L2 behind the in-memory L1 (--l2-lmdb),
 * stopped and started again on the same directory:
 * - after a graceful stop (SIGTERM) it serves what it held: values, flags, the remaining TTLs (mg `t`), CAS
 *   uniques a client read before (a `cas` with one still stores), new CAS uniques above every old one, and an
 *   item whose time passed is gone;
 * - after kill -9 under a load of pipelined sets, with -sync every acknowledged set is there (or a later set of
 *   that key); without it the store opens and every value read is one a set wrote for that key, intact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RawClient, encodeGet, encodeSet, flagsFor, makeValue, parseReply, readValue, sleep, type Reply } from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

const root = mkdtempSync(join(tmpdir(), 'memproxy-lmdb-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const running = new Set<Running>();
afterEach(async () => {
  for (const mp of running) await mp.stop();
  running.clear();
});

let stores = 0;
const newStore = () => join(root, `store-${++stores}`);

async function start(args: string[]): Promise<Running> {
  const mp = await startMemproxy(['-p', '0', ...args]);
  running.add(mp);
  return mp;
}

/** SIGTERM, and memproxy finishes its requests, closes the store and exits 0. */
async function stop(mp: Running): Promise<void> {
  expect(await mp.stop()).toBe(0);
  running.delete(mp);
}

/** kill -9 by PID while `load` has sets in flight, then wait for the process to be gone. */
async function kill9(mp: Running, load: AckedLoad): Promise<void> {
  const gone = new Promise<NodeJS.Signals | null>((resolve) => mp.child.once('exit', (_code, signal) => resolve(signal)));
  // Checked in the same turn as the kill: nothing can be answered in between.
  expect(load.inFlight).toBeGreaterThan(0);
  process.kill(mp.child.pid!, 'SIGKILL');
  expect(await gone).toBe('SIGKILL');
  running.delete(mp);
}

/** A checking load of sets on keys of its own, then kill -9 while some are in flight; the load as it ended. */
async function crashUnderLoad(mp: Running): Promise<AckedLoad> {
  const load = await AckedLoad.start(mp.port, 'k');
  await load.until(() => load.acks >= 300);
  await kill9(mp, load);
  await load.ended();
  expect(load.violations).toEqual([]);
  return load;
}

const SHAPES = [
  { name: 'a single LMDB tier (--l1-lmdb)', flag: '--l1-lmdb', size: '--l1-lmdb-size', sync: '--l1-lmdb-sync', stats: '' },
  { name: 'the in-memory L1 over an LMDB L2 (--l2-lmdb)', flag: '--l2-lmdb', size: '--l2-lmdb-size', sync: '--l2-lmdb-sync', stats: 'l2_' },
] as const;

/** Everything memproxy answers to `text` (complete requests). */
async function ask(port: number, text: string): Promise<string> {
  const c = await RawClient.connect({ port });
  try {
    return (await c.exchange(text)).toString('latin1');
  } finally {
    c.close();
  }
}

/** The CAS uniques of a text `gets` reply, by key. */
function uniques(reply: string): Map<string, bigint> {
  return new Map([...reply.matchAll(/^VALUE (\S+) \d+ \d+ (\d+)\r\n/gm)].map((m) => [m[1]!, BigInt(m[2]!)] as const));
}

/** The value of one `STAT name value` line. */
function stat(reply: string, name: string): string | undefined {
  return new RegExp(`^STAT ${name} (\\S+)\\r$`, 'm').exec(reply)?.[1];
}

describe.each(SHAPES)('memproxy on $name', (shape) => {
  it('a graceful restart serves what it held: values and flags, remaining TTLs, CAS uniques; the 3 s item expires on time', async () => {
    const dir = newStore();
    // Values up to --max-item-size are stored as they are (no chunks), and come back after the restart.
    const args = [shape.flag, dir, shape.size, '256m', '--max-item-size', '2m'];
    const big = Buffer.alloc(2_000_000, 'b');
    let mp = await start(args);
    const setAt = Date.now();
    expect(
      await ask(
        mp.port,
        'set never 11 0 5\r\nhello\r\nset long 22 100 4\r\nlong\r\nset short 33 3 5\r\nshort\r\n' +
          `set big 44 0 ${big.length}\r\n${big.toString('latin1')}\r\nset huge 0 0 ${2 * 1024 * 1024}\r\n${'h'.repeat(2 * 1024 * 1024)}\r\n`,
      ),
    ).toBe('STORED\r\nSTORED\r\nSTORED\r\nSTORED\r\nSERVER_ERROR object too large for cache\r\n');
    const before = uniques(await ask(mp.port, 'gets never long short big\r\n'));
    expect([...before.keys()]).toEqual(['never', 'long', 'short', 'big']);
    await stop(mp);

    mp = await start(args);
    const never = await ask(mp.port, `mg never v f t c\r\n`);
    expect(never).toBe(`VA 5 f11 t-1 c${before.get('never')}\r\nhello\r\n`);
    const long = /^VA 4 f22 t(\d+)\r\nlong\r\n$/.exec(await ask(mp.port, 'mg long v f t\r\n'));
    expect(long).not.toBeNull();
    // What is left of 100 s: no more than 100, and no less than 100 minus the whole seconds passed since the set.
    const ttl = Number(long![1]);
    expect(ttl).toBeLessThanOrEqual(100);
    expect(ttl).toBeGreaterThanOrEqual(100 - Math.ceil((Date.now() - setAt) / 1000) - 1);
    expect(await ask(mp.port, 'get big\r\n')).toBe(`VALUE big 44 ${big.length}\r\n${big.toString('latin1')}\r\nEND\r\n`);
    // Same items, same CAS uniques: a client's gets before the restart is good for a cas after it.
    const after = uniques(await ask(mp.port, 'gets never long big\r\n'));
    for (const key of ['never', 'long', 'big']) expect(after.get(key)).toBe(before.get(key));
    expect(await ask(mp.port, `cas never 11 0 5 ${before.get('never')}\r\nagain\r\n`)).toBe('STORED\r\n');
    expect(await ask(mp.port, 'set fresh 0 0 1\r\nx\r\n')).toBe('STORED\r\n');
    const fresh = uniques(await ask(mp.port, 'gets fresh never\r\n'));
    const oldest = [...before.values()].reduce((a, b) => (a > b ? a : b));
    expect(fresh.get('fresh')!).toBeGreaterThan(oldest);
    expect(fresh.get('never')!).toBeGreaterThan(oldest);
    // The store's figures: those of the only tier, or the L2's under l2_.
    const stats = await ask(mp.port, 'stats\r\n');
    expect(stat(stats, `${shape.stats}limit_maxbytes`)).toBe(String(256 * 1024 * 1024));
    expect(Number(stat(stats, `${shape.stats}curr_items`))).toBeGreaterThanOrEqual(4);

    // The 3 s item ends at its absolute time, not 3 s after the restart: memcached's clock counts whole seconds, so
    // it is gone at most 4 s after the set.
    const endsBy = setAt + 4_100;
    if (Date.now() < endsBy) await sleep(endsBy - Date.now());
    expect(await ask(mp.port, 'mg short v\r\n')).toBe('EN\r\n');
    await stop(mp);
  });

  it(`kill -9 under load with ${shape.sync}: every acknowledged set is there after the restart`, async () => {
    const dir = newStore();
    const args = [shape.flag, dir, shape.sync];
    let mp = await start(args);
    const load = await crashUnderLoad(mp);

    mp = await start(args);
    const problems: string[] = [];
    const read = await readAll(mp.port, [...load.keys.keys()]);
    let checked = 0;
    for (const [key, k] of load.keys) {
      const r = read.get(key)!;
      if (k.acked === 0) {
        // Never acknowledged: it may or may not have been committed.
        if (r.outcome === 'hit') problems.push(...load.check(key, r));
        continue;
      }
      checked++;
      if (r.outcome !== 'hit') problems.push(`${key}: acknowledged seq ${k.acked}, read ${r.outcome}`);
      else {
        problems.push(...load.check(key, r));
        const seq = readValue(r.value!);
        if (typeof seq !== 'string' && seq.seq < k.acked) problems.push(`${key}: acknowledged seq ${k.acked}, read the older ${seq.seq}`);
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(0);
    await stop(mp);
  });

  it('kill -9 under load without sync: the store opens, what was there before is there, every value read was written', async () => {
    const dir = newStore();
    const args = [shape.flag, dir];
    let mp = await start(args);
    // Items of a run that ended gracefully: a later crash must not lose or damage them.
    const base = await AckedLoad.start(mp.port, 'base', { keysPerConnection: 50 });
    await base.until(() => base.acks >= 200);
    await base.finish();
    expect(base.violations).toEqual([]);
    await stop(mp);

    mp = await start(args);
    const load = await crashUnderLoad(mp);

    mp = await start(args);
    const problems: string[] = [];
    const baseRead = await readAll(mp.port, [...base.keys.keys()]);
    for (const [key, k] of base.keys) {
      const r = baseRead.get(key)!;
      if (r.outcome !== 'hit') problems.push(`${key} (stored before a graceful stop): read ${r.outcome}`);
      else {
        problems.push(...base.check(key, r));
        const v = readValue(r.value!);
        if (typeof v !== 'string' && v.seq !== k.acked) problems.push(`${key}: the last set was seq ${k.acked}, read ${v.seq}`);
      }
    }
    const read = await readAll(mp.port, [...load.keys.keys()]);
    let hits = 0;
    for (const key of load.keys.keys()) {
      const r = read.get(key)!;
      if (r.outcome === 'hit') hits++;
      if (r.outcome !== 'hit' && r.outcome !== 'miss') problems.push(`${key}: read ${r.outcome} ${r.detail ?? ''}`);
      else if (r.outcome === 'hit') problems.push(...load.check(key, r));
    }
    expect(problems).toEqual([]);
    expect(hits + base.keys.size).toBeGreaterThan(0);
    await stop(mp);
  });
});

type Request = { kind: 'get' | 'set'; key: string; opaque: number };

/** One meta connection: requests pipelined, each reply matched to its request by testkit's reply parser. */
class Pipe {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ req: Request; done: (r: Reply | undefined) => void }> = [];
  private opaque = 0;
  /** Resolves when the connection has closed; requests unanswered then resolve undefined. */
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        for (const w of this.waiting.splice(0)) w.done(undefined);
        resolve();
      }),
    );
  }

  static open(port: number): Promise<Pipe> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => resolve(new Pipe(s)));
      s.once('error', reject);
    });
  }

  get inFlight(): number {
    return this.waiting.length;
  }

  send(kind: 'get' | 'set', key: string, value?: Buffer): Promise<Reply | undefined> {
    const req = { kind, key, opaque: ++this.opaque };
    return new Promise((done) => {
      this.waiting.push({ req, done });
      if (kind === 'get') this.socket.write(encodeGet('meta', key, req.opaque));
      else for (const b of encodeSet('meta', key, flagsFor(key), value!, req.opaque)) this.socket.write(b);
    });
  }

  private parse(): void {
    for (let head = this.waiting[0]; head !== undefined; head = this.waiting[0]) {
      const r = parseReply('meta', this.buf, head.req);
      if (r === undefined) return;
      this.buf = this.buf.subarray(r.used);
      this.waiting.shift()!.done(r);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Read every key (one pipelined connection): its reply, by key. */
async function readAll(port: number, keys: string[]): Promise<Map<string, Reply>> {
  const pipe = await Pipe.open(port);
  try {
    const replies = await Promise.all(keys.map((key) => pipe.send('get', key)));
    return new Map(keys.map((key, i) => [key, replies[i] ?? { used: 0, outcome: 'violation', detail: 'connection closed' }]));
  } finally {
    pipe.close();
  }
}

/**
 * Connections setting keys of their own, several sets in flight on each: every value names its key, its writer
 * (the connection) and a sequence number that grows with each set of the writer, so a key's later set has a
 * higher number. Per key: the highest number sent and the highest acknowledged.
 */
class AckedLoad {
  readonly keys = new Map<string, { writer: string; sent: number; acked: number }>();
  readonly violations: string[] = [];
  acks = 0;
  private stopped = false;
  private workers: Promise<void>[] = [];

  private constructor(private readonly pipes: Pipe[]) {}

  static async start(port: number, prefix: string, { connections = 4, depth = 8, keysPerConnection = 100 } = {}): Promise<AckedLoad> {
    const load = new AckedLoad(await Promise.all(Array.from({ length: connections }, () => Pipe.open(port))));
    load.pipes.forEach((pipe, c) => {
      const writer = `w${c}`;
      let next = 0;
      const worker = async () => {
        while (!load.stopped) {
          const seq = ++next;
          const key = `${prefix}-${c}-${seq % keysPerConnection}`;
          let k = load.keys.get(key);
          if (k === undefined) load.keys.set(key, (k = { writer, sent: 0, acked: 0 }));
          k.sent = seq;
          const r = await pipe.send('set', key, makeValue(key, writer, seq, 100 + Math.floor(Math.random() * 4000)));
          if (r === undefined) return; // the connection ended: memproxy was killed
          if (r.outcome !== 'stored') load.violations.push(`set ${key}: ${r.outcome} ${r.detail ?? ''}`);
          else {
            if (seq > k.acked) k.acked = seq;
            load.acks++;
          }
        }
      };
      for (let i = 0; i < depth; i++) load.workers.push(worker());
    });
    return load;
  }

  /** Poll until `done()` holds (the load still running), within 30 s. */
  async until(done: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (!done()) {
      if (Date.now() > deadline) throw new Error(`the load did not get there in 30 s: ${this.acks} sets acknowledged`);
      await sleep(10);
    }
  }

  /** Sets sent and not yet answered. */
  get inFlight(): number {
    return this.pipes.reduce((n, p) => n + p.inFlight, 0);
  }

  /** Every connection closed by the kill and every worker ended. */
  async ended(): Promise<void> {
    await Promise.all(this.pipes.map((p) => p.closed));
    await Promise.all(this.workers);
  }

  /** Stop sending, wait for every set in flight to be answered, close. */
  async finish(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.workers);
    for (const p of this.pipes) p.close();
  }

  /** Whether a value read for `key` is one of its sets: intact, its key, its writer, a number sent for it. */
  check(key: string, r: Reply): string[] {
    const v = readValue(r.value!);
    if (typeof v === 'string') return [`${key}: ${v}`];
    const k = this.keys.get(key)!;
    if (v.key !== key || v.writer !== k.writer || v.seq > k.sent)
      return [`${key}: read ${v.key}|${v.writer}|${v.seq}, never set for it (sent up to ${k.writer}|${k.sent})`];
    if (r.flags !== flagsFor(key)) return [`${key}: flags ${r.flags}, set with ${flagsFor(key)}`];
    return [];
  }
}
