/**
 * Replicas under faults, end to end: memproxy --routes over two real memcached replicas (cleave's ReplicaRoute:
 * every write to both, all-sync; reads primary first), a checking load on text, meta and binary connections and a
 * writer that records every write acknowledged to it, while one replica is killed and restarted empty, stopped and
 * continued, or restarted. What must hold:
 *
 * - zero wrong values (the checking load's rules: every value read is one written for that key, never torn);
 * - reads keep succeeding from the other replica: no get fails once the pool has had time to notice the fault
 *   (its failure limit times the backend timeout);
 * - no acknowledged write is lost: after `memproxy recover` refilled the restarted replica, both replicas hold
 *   the last acknowledged value of every key, and the refilled one every key the healthy one holds;
 * - recovery leaves keys written during the copy at their newer values (the writer rewrites its keys during the
 *   copy: a copy that overwrote one would leave an older value than the acknowledged one).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckedLoad, FixedMemcached, RawClient, freePort, sleep, type ClientProtocol } from '@cleave/testkit';
import { MEMPROXY, startMemproxy, type Running } from './spawn.js';

const TIMEOUT = 300;
/** Failures in a row that take a server out of service (the pool's default) times the timeout, plus slack. */
const DETECTION_MS = 2 * TIMEOUT + 1500;
const HOLD = 1500;

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});
const dir = mkdtempSync(join(tmpdir(), 'cleave-replicas-'));
cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

async function replica(): Promise<FixedMemcached> {
  const mc = new FixedMemcached({ port: await freePort() });
  cleanup.push(() => mc.kill());
  await mc.start();
  return mc;
}

const addr = (mc: FixedMemcached) => `127.0.0.1:${(mc.target as { port: number }).port}`;

async function replicated(a: FixedMemcached, b: FixedMemcached): Promise<Running> {
  const file = join(dir, `routes-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      pools: { A: { servers: [addr(a)] }, B: { servers: [addr(b)] } },
      route: { type: 'ReplicaRoute', read: 'primary-first', children: ['PoolRoute|A', 'PoolRoute|B'] },
    }),
  );
  const mp = await startMemproxy(['-p', '0', '--backend-timeout', `${TIMEOUT}ms`, '--routes', file]);
  cleanup.push(() => mp.stop());
  return mp;
}

/**
 * One connection writing keys one after another, round a key space, each write a new value. Keeps the last
 * acknowledged value of each key (STORED), and which keys' last write failed (its outcome on each replica is
 * unknown: one may hold it, so those keys are not checked until written again).
 */
class AckWriter {
  readonly acknowledged = new Map<string, string>();
  readonly unsure = new Set<string>();
  errors = 0;
  private running = true;
  private done: Promise<void> | undefined;

  start(port: number): void {
    this.done = (async () => {
      const c = await RawClient.connect({ port });
      try {
        for (let i = 0; this.running; i++) {
          const key = `ack${i % 1500}`;
          const value = `v${i}`;
          const reply = (await c.request(`set ${key} 7 0 ${value.length}\r\n${value}\r\n`, '\r\n', 10_000)).toString();
          if (reply === 'STORED\r\n') {
            this.acknowledged.set(key, value);
            this.unsure.delete(key);
          } else if (reply.startsWith('SERVER_ERROR ')) {
            this.errors++;
            this.unsure.add(key);
          } else throw new Error(`set ${key} answered ${JSON.stringify(reply)}`);
          if (i % 16 === 15) await sleep(2);
        }
      } finally {
        c.close();
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/** Every key a memcached holds (lru_crawler metadump), decoded. */
async function keysOf(mc: FixedMemcached): Promise<string[]> {
  const c = await RawClient.connect(mc.target);
  try {
    const dump = (await c.request('lru_crawler metadump hash\r\n', 'END\r\n', 10_000)).toString('latin1');
    return [...dump.matchAll(/^key=(\S+)/gm)].map((m) => decodeURIComponent(m[1]!));
  } finally {
    c.close();
  }
}

/** Value and flags of each key straight from a memcached (`undefined`: a miss). */
async function valuesOf(mc: FixedMemcached, keys: readonly string[]): Promise<Map<string, string | undefined>> {
  const c = await RawClient.connect(mc.target);
  const out = new Map<string, string | undefined>();
  try {
    for (const key of keys) {
      const r = (await c.request(`mg ${key} v f\r\nmn\r\n`, 'MN\r\n', 5000)).toString('latin1');
      const m = /^VA (\d+) f(\d+)\r\n/.exec(r);
      out.set(key, m ? `${m[2]}:${r.slice(m[0].length, m[0].length + Number(m[1]))}` : undefined);
    }
  } finally {
    c.close();
  }
  return out;
}

/** `memproxy recover --from --to`, run to its end. */
function recover(from: FixedMemcached, to: FixedMemcached): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MEMPROXY, 'recover', '--from', addr(from), '--to', addr(to)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

const CLIENTS: ClientProtocol[] = ['text', 'text', 'meta', 'binary'];
const KEYS = Array.from({ length: 24 }, (_, i) => `rk${i}`);

interface Fault {
  begin(a: FixedMemcached): Promise<void>;
  end(a: FixedMemcached): Promise<void>;
  /** The replica comes back empty and is refilled with `memproxy recover`. */
  refill: boolean;
}

async function throughFault(fault: Fault): Promise<void> {
  const a = await replica();
  const b = await replica();
  const mp = await replicated(a, b);
  let faultAt = Number.POSITIVE_INFINITY;
  const lateGetErrors: string[] = [];
  const load = new CheckedLoad({
    port: mp.port,
    clients: CLIENTS,
    keys: KEYS,
    depth: 2,
    onReply: (key, kind, outcome, ms, phase) => {
      const sentAt = Date.now() - ms;
      if (kind === 'get' && outcome === 'error' && sentAt > faultAt + DETECTION_MS)
        lateGetErrors.push(`get ${key} sent ${sentAt - faultAt} ms into the fault (${phase})`);
    },
  });
  const writer = new AckWriter();
  await load.start();
  writer.start(mp.port);
  await load.runPhase(400);
  await fault.begin(a);
  faultAt = Date.now();
  load.phase = 'fault';
  await sleep(HOLD);
  await fault.end(a);
  load.phase = 'recovery';
  faultAt = Number.POSITIVE_INFINITY;
  const healthy = await load.untilHealthy(15_000, 'after');
  let copied = '';
  if (fault.refill) {
    const r = await recover(b, a);
    expect(r.code, r.out).toBe(0);
    copied = r.out.trim().split('\n').slice(-6).join('\n');
  }
  await load.runPhase(300);
  await writer.stop();
  await load.stop(TIMEOUT * 4 + 3000);
  const report = `${expect.getState().currentTestName}\n${load.summary()}\nacknowledged ${writer.acknowledged.size}, write errors ${writer.errors}\n${copied}`;
  if (process.env.CLEAVE_FAULT_REPORT) console.log(report);
  expect(load.violations, report).toEqual([]);
  expect(healthy, `service did not come back\n${report}`).toBe(true);
  expect(lateGetErrors, report).toEqual([]);
  expect(writer.acknowledged.size, report).toBeGreaterThan(0);
  // Both replicas hold the last acknowledged value of every key (a copy that overwrote a newer write would show here).
  const ackKeys = [...writer.acknowledged.keys()].filter((k) => !writer.unsure.has(k));
  const [onA, onB] = await Promise.all([valuesOf(a, ackKeys), valuesOf(b, ackKeys)]);
  const want = (k: string) => `7:${writer.acknowledged.get(k)}`;
  const lost = ackKeys.filter((k) => onA.get(k) !== want(k) || onB.get(k) !== want(k));
  expect(
    lost.slice(0, 10).map((k) => `${k}: acknowledged ${want(k)}, A ${onA.get(k)}, B ${onB.get(k)}`),
    `${lost.length} acknowledged writes missing or changed on a replica\n${report}`,
  ).toEqual([]);
  if (fault.refill) {
    // The copy reached every key the healthy replica holds.
    const all = await keysOf(b);
    const onARefilled = await valuesOf(a, all);
    const missing = all.filter((k) => onARefilled.get(k) === undefined);
    expect(missing.slice(0, 10), `${missing.length} of ${all.length} keys not copied\n${report}`).toEqual([]);
  }
}

describe('memproxy --routes: two replicas (all-sync writes, primary-first reads) under faults', () => {
  it('the primary killed, restarted empty and refilled with memproxy recover', () =>
    throughFault({ begin: (a) => a.kill(), end: (a) => a.start(), refill: true }));

  it('the primary stopped (SIGSTOP), then continued', () =>
    throughFault({ begin: (a) => a.pause(), end: async (a) => a.resume(), refill: false }));

  it('the primary restarted at once (its data gone), then refilled', () =>
    throughFault({
      begin: async (a) => {
        await a.kill('SIGTERM');
        await a.start();
      },
      end: async () => {},
      refill: true,
    }));
});
