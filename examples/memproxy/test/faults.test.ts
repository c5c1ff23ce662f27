/**
 * memproxy in front of real memcached processes that fail: killed (SIGKILL),
 * stopped (SIGSTOP) and resumed, restarted on the same address, refusing
 * connections, answering slowly. In every mode (plain over TCP and a unix
 * socket, chunked, L1L2) a checking load runs through the fault on text,
 * meta and binary connections: during the fault clients get prompt errors,
 * after it correct service, with the same memproxy process throughout; no
 * reply ever answers another request, and no value is ever torn.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import memjs from 'memjs';
import Memcached from 'memcached';
import {
  CheckedLoad,
  FixedMemcached as BaseFixedMemcached,
  RawClient,
  encodeGet,
  freePort,
  sleep,
  startSlowRelay,
  type ClientProtocol,
  type LoadOptions,
  type SlowRelay,
} from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

/** A real memcached on a fixed port or socket path, with the memproxy flags that name it as L1. */
class FixedMemcached extends BaseFixedMemcached {
  constructor(override readonly target: { port: number } | { path: string }) {
    super(target);
  }

  get address(): string[] {
    return 'path' in this.target ? ['--l1-sock', this.target.path] : ['--l1-addr', `127.0.0.1:${this.target.port}`];
  }
}

/** --backend-timeout for every memproxy here. */
const TIMEOUT = 300;
/** Slack for timers, event-loop turns and a busy 2-core machine. */
const MARGIN = 1500;
/** How long each fault lasts. */
const HOLD = 700;

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

const dir = mkdtempSync(join(tmpdir(), 'cleave-faults-'));
cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

async function backend(kind: 'tcp' | 'unix' = 'tcp', start = true): Promise<FixedMemcached> {
  const mc = new FixedMemcached(
    kind === 'unix' ? { path: join(dir, `mc-${Math.random().toString(36).slice(2)}.sock`) } : { port: await freePort() },
  );
  cleanup.push(() => mc.kill());
  if (start) await mc.start();
  return mc;
}

async function memproxy(args: string[], timeoutMs = TIMEOUT): Promise<Running> {
  const mp = await startMemproxy(['-p', '0', '--backend-timeout', `${timeoutMs}ms`, ...args]);
  cleanup.push(() => mp.stop());
  return mp;
}

const CLIENTS: ClientProtocol[] = ['text', 'text', 'meta', 'binary', 'binary'];
const KEYS = Array.from({ length: 16 }, (_, i) => `fk${i}`);

interface Fault {
  /** Start the fault (the load is running). */
  begin(): Promise<void> | void;
  /** End it. */
  end(): Promise<void> | void;
  /**
   * What requests sent during the fault get: 'all' errors; 'some' errors
   * (a tier in front keeps answering, or the fault is brief); 'none' (the
   * other tier answers every request).
   */
  errors: 'all' | 'some' | 'none';
  /** The fault is on from the start (nothing to compare against). */
  fromStart?: boolean;
  /** Every error comes at once, long before a timeout could pass (nothing listens). */
  immediate?: boolean;
  /** Runs after the healthy phase and before the fault (e.g. a slow phase with its own checks). */
  prelude?(load: CheckedLoad): Promise<void>;
  /** The fault is over once begin() returns (a quick restart): requests sent during begin() count as the fault's. */
  brief?: boolean;
  /** How long the fault lasts (default HOLD). */
  holdMs?: number;
}

/**
 * Run the checking load against memproxy: a healthy phase, the fault for
 * HOLD ms, recovery, and a healthy phase after. `rounds` is how many backend
 * round trips one request may take one after another (a reply may take that
 * many timeouts during a stall).
 */
async function underLoad(
  mp: Running,
  fault: Fault,
  rounds: number,
  extra: Partial<LoadOptions> = {},
  timeoutMs = TIMEOUT,
): Promise<CheckedLoad> {
  const bound = rounds * timeoutMs + MARGIN;
  const load = new CheckedLoad({ port: mp.port, clients: CLIENTS, keys: KEYS, depth: 3, ...extra });
  if (fault.fromStart) {
    await fault.begin();
    load.phase = 'fault';
    load.faulty = true;
    await load.start();
  } else {
    await load.start();
    await load.runPhase(250);
    await fault.prelude?.(load);
    if (fault.brief) {
      load.phase = 'fault';
      await fault.begin();
    } else {
      // Requests sent from now on meet the fault (those sent before may have been answered before it).
      await fault.begin();
      load.phase = 'fault';
      load.faulty = true;
    }
  }
  await sleep(fault.holdMs ?? HOLD);
  load.phase = 'recovery';
  load.faulty = false;
  await fault.end();
  const healthy = await load.untilHealthy(10_000, 'after');
  await sleep(300);
  await load.stop(bound + 1000);
  const report = `${expect.getState().currentTestName}\n${load.summary()}`;
  if (process.env.CLEAVE_FAULT_REPORT) console.log(report);
  expect(load.violations, report).toEqual([]);
  expect(healthy, `service did not come back\n${report}`).toBe(true);
  const during = load.stats('fault');
  // 'all': no request succeeded while the fault lasted (one sent during a stall may still succeed after it, within its deadline).
  if (fault.errors === 'all') expect(load.okWhileFaulty, report).toBe(0);
  if (fault.errors === 'none') expect(during.errors, report).toBe(0);
  else expect(during.errors, report).toBeGreaterThan(0);
  if (fault.immediate) expect(during.maxErrorMs, report).toBeLessThan(TIMEOUT);
  let slowest = 0;
  for (const phase of ['before', 'slow', 'fault', 'recovery', 'after']) slowest = Math.max(slowest, load.stats(phase).maxMs);
  expect(slowest, report).toBeLessThanOrEqual(bound);
  const after = load.stats('after');
  expect(after.errors, report).toBe(0);
  expect(after.stored + after.hits, report).toBeGreaterThan(0);
  return load;
}

/** Fresh keys stored and read back exactly over text and binary connections: the service is right, not only up. */
async function exactRoundTrip(mp: Running, size = 100): Promise<void> {
  const text = await RawClient.connect({ port: mp.port });
  const bin = await RawClient.connect({ port: mp.port });
  const value = Buffer.alloc(size, 'v');
  value.write(`exact-${Date.now()}`);
  try {
    for (let i = 0; i < 8; i++) {
      const key = `exact${i}-${Math.random().toString(36).slice(2, 8)}`;
      const set = await text.request(
        Buffer.concat([Buffer.from(`set ${key} ${i} 0 ${size}\r\n`), value, Buffer.from('\r\n')]),
        '\r\n',
        5000,
      );
      expect(set.toString()).toBe('STORED\r\n');
      const got = await text.request(`get ${key}\r\n`, 'END\r\n', 5000);
      expect(got.equals(Buffer.concat([Buffer.from(`VALUE ${key} ${i} ${size}\r\n`), value, Buffer.from('\r\nEND\r\n')]))).toBe(true);
      // The same item over the binary protocol: status 0, flags, value.
      bin.write(encodeGet('binary', key, 1000 + i));
      const header = await bin.read(24, 5000);
      expect(header.readUInt16BE(6)).toBe(0);
      expect(header.readUInt32BE(12)).toBe(1000 + i);
      const body = await bin.read(header.readUInt32BE(8), 5000);
      expect(body.readUInt32BE(0)).toBe(i);
      expect(body.subarray(4).equals(value)).toBe(true);
    }
  } finally {
    text.close();
    bin.close();
  }
}

/** Read a key straight from a memcached (no memproxy in between). */
async function direct(mc: FixedMemcached, key: string): Promise<string> {
  const c = await RawClient.connect(mc.target);
  try {
    return (await c.request(`mg ${key} v\r\nmn\r\n`, 'MN\r\n', 5000)).toString('latin1');
  } finally {
    c.close();
  }
}

/** SIGTERM and start again at once on the same address: a supervisor restarting memcached (its data is gone). */
const restart = async (mc: FixedMemcached) => {
  await mc.kill('SIGTERM');
  await mc.start();
};

/** Faults on one memcached, the only (or the faulty) tier. */
function killFault(mc: FixedMemcached, errors: Fault['errors'] = 'all'): Fault {
  return { begin: () => mc.kill(), end: () => mc.start(), errors };
}
function stopFault(mc: FixedMemcached, errors: Fault['errors'] = 'all'): Fault {
  return { begin: () => mc.pause(), end: () => mc.resume(), errors };
}
function restartFault(mc: FixedMemcached): Fault {
  return { begin: () => restart(mc), end: () => {}, errors: 'some', brief: true };
}

/** The backend timeout of the slow-backend cases: wide enough that a loaded machine never turns "slow" into "too slow". */
const SLOW_TIMEOUT = 800;

/**
 * A slow backend behind a relay: first slower than usual but well within
 * the timeout (every request must still succeed, just later), then slower
 * than the timeout (prompt errors), then fast again.
 */
function slowFault(relay: SlowRelay, opts: { slowMs?: number; allSlow?: boolean } = {}): Fault {
  const slowMs = opts.slowMs ?? 100;
  return {
    async prelude(load) {
      load.phase = 'slow';
      relay.delayMs = slowMs;
      await sleep(HOLD);
      // Every reply so far came within the timeout. (Requests still waiting now may meet the next,
      // slower phase: a chunked write is three round trips.)
      const s = load.stats('slow');
      expect(s.errors, load.summary()).toBe(0);
      expect(s.hits + s.stored, load.summary()).toBeGreaterThan(0);
      // Every reply waited for the backend (unless an in-memory L1 answers some at once).
      if (opts.allSlow !== false) expect(s.minMs, load.summary()).toBeGreaterThanOrEqual(slowMs - 5);
    },
    begin: () => {
      relay.delayMs = SLOW_TIMEOUT * 3;
    },
    // Requests still waiting from the slow phase fail only after a timeout: long enough for the ones sent
    // after them to meet the fault too.
    holdMs: SLOW_TIMEOUT * 2.5,
    end: () => {
      relay.delayMs = 0;
    },
    errors: opts.allSlow === false ? 'some' : 'all',
  };
}

async function relayTo(mc: FixedMemcached): Promise<SlowRelay> {
  const relay = await startSlowRelay({ target: mc.target });
  cleanup.push(() => relay.close());
  return relay;
}

describe('plain: memproxy --l1-addr in front of one memcached', () => {
  it('SIGKILL: prompt errors while nothing listens, service again once memcached is back on the same port', async () => {
    const mc = await backend();
    const mp = await memproxy(mc.address);
    await underLoad(mp, killFault(mc), 1);
    await exactRoundTrip(mp);
  });

  it('SIGSTOP then SIGCONT: timeouts while stopped, then the same memcached serves its data again', async () => {
    const mc = await backend();
    const mp = await memproxy(mc.address);
    const c = await RawClient.connect({ port: mp.port });
    expect((await c.request('set kept 0 0 4\r\nkept\r\n', '\r\n')).toString()).toBe('STORED\r\n');
    const load = await underLoad(mp, stopFault(mc), 1);
    expect([...load.stats('fault').errorKinds.keys()].every((k) => /backend (timeout|unavailable)$/.test(k))).toBe(true);
    expect((await c.request('get kept\r\n', 'END\r\n')).toString()).toBe('VALUE kept 0 4\r\nkept\r\nEND\r\n');
    c.close();
    await exactRoundTrip(mp);
  });

  it('restarted on the same port (SIGTERM, start): brief errors, then service on the new process', async () => {
    const mc = await backend();
    const mp = await memproxy(mc.address);
    await underLoad(mp, restartFault(mc), 1);
    await exactRoundTrip(mp);
  });

  it('refusing connections from the start: errors at once (no waiting for a timeout), service once memcached listens', async () => {
    const mc = await backend('tcp', false);
    const mp = await memproxy(mc.address);
    const load = await underLoad(mp, { begin: () => {}, end: () => mc.start(), errors: 'all', fromStart: true, immediate: true }, 1);
    expect([...load.stats('fault').errorKinds.keys()].every((k) => k.endsWith('backend unavailable'))).toBe(true);
    await exactRoundTrip(mp);
  });

  it('answering slowly: within the timeout every request succeeds later; past it, prompt timeouts; then normal service', async () => {
    const mc = await backend();
    const relay = await relayTo(mc);
    const mp = await memproxy(['--l1-addr', `127.0.0.1:${relay.port}`], SLOW_TIMEOUT);
    await underLoad(mp, slowFault(relay), 1, {}, SLOW_TIMEOUT);
    await exactRoundTrip(mp);
  });
});

describe('stock clients through a stalled backend', () => {
  it('memjs (binary) gets a temporary failure and memcached (npm, text) no hang, within the timeout; both read their data after SIGCONT', async () => {
    const mc = await backend();
    const mp = await memproxy(mc.address);
    const mj = memjs.Client.create(`127.0.0.1:${mp.port}`, { retries: 0, timeout: 10, logger: { log: () => {} } });
    // failures/retry: keep the client from giving the server up for long after the SERVER_ERRORs it sees.
    const nm = new Memcached(`127.0.0.1:${mp.port}`, { retries: 0, timeout: 10_000, failures: 1000, retry: 100, reconnect: 100, idle: 0 });
    cleanup.push(
      () => mj.close(),
      () => nm.end(),
    );
    const nmGet = (key: string) =>
      new Promise<{ err: unknown; data: unknown; ms: number }>((resolve) => {
        const t0 = Date.now();
        nm.get(key, (err, data) => resolve({ err, data, ms: Date.now() - t0 }));
      });
    expect(await mj.set('mj', 'from-memjs', {})).toBe(true);
    await new Promise<void>((resolve, reject) => nm.set('nm', 'from-npm', 0, (err) => (err ? reject(err) : resolve())));
    await mc.pause();
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      await expect(mj.get('mj')).rejects.toThrow(/Temporary failure/);
      expect(Date.now() - t0).toBeLessThanOrEqual(TIMEOUT + MARGIN);
      // The npm client takes a SERVER_ERROR as a connection issue and answers the get with no value.
      const r = await nmGet('nm');
      expect(r.data === undefined || r.data === false || r.err !== undefined).toBe(true);
      expect(r.ms).toBeLessThanOrEqual(TIMEOUT + MARGIN);
    }
    mc.resume();
    const deadline = Date.now() + 8000;
    let mjValue: string | undefined;
    let nmValue: unknown;
    while (Date.now() < deadline && (mjValue !== 'from-memjs' || nmValue !== 'from-npm')) {
      await sleep(100);
      mjValue = await mj.get('mj').then(
        (g) => g.value?.toString(),
        () => undefined,
      );
      nmValue = (await nmGet('nm')).data;
    }
    expect(mjValue).toBe('from-memjs');
    expect(nmValue).toBe('from-npm');
  });
});

describe('plain over a unix socket: memproxy --l1-sock', () => {
  it('SIGKILL (the socket file stays, connections are refused), then memcached back on the same path', async () => {
    const mc = await backend('unix');
    const mp = await memproxy(mc.address);
    await underLoad(mp, killFault(mc), 1);
    await exactRoundTrip(mp);
  });

  it('SIGSTOP then SIGCONT', async () => {
    const mc = await backend('unix');
    const mp = await memproxy(mc.address);
    await underLoad(mp, stopFault(mc), 1);
    await exactRoundTrip(mp);
  });
});

describe('chunked: values of many chunks (--chunked --chunk-size 4k)', () => {
  const chunked = ['--chunked', '--chunk-size', '4k'];
  /** Mostly 3 to 12 chunks, sometimes one (a plain item). */
  const valueSize = () => (Math.random() < 0.15 ? 200 : 12_000 + Math.floor(Math.random() * 36_000));
  // A chunked write is three round trips (chunks, metadata read, CAS switch), and a read of a key waits for writes to it.
  const ROUNDS = 5;

  it('SIGKILL and back: readers get an error or one whole value, never a torn one', async () => {
    const mc = await backend();
    const mp = await memproxy([...mc.address, ...chunked]);
    await underLoad(mp, killFault(mc), ROUNDS, { valueSize, depth: 2 });
    await exactRoundTrip(mp, 40_000);
  });

  it('SIGSTOP then SIGCONT (timed-out writes may land late): never a torn value', async () => {
    const mc = await backend();
    const mp = await memproxy([...mc.address, ...chunked]);
    await underLoad(mp, stopFault(mc), ROUNDS, { valueSize, depth: 2 });
    await exactRoundTrip(mp, 40_000);
  });

  it('restarted on the same port: never a torn value', async () => {
    const mc = await backend();
    const mp = await memproxy([...mc.address, ...chunked]);
    await underLoad(mp, restartFault(mc), ROUNDS, { valueSize, depth: 2 });
    await exactRoundTrip(mp, 40_000);
  });

  it('answering slowly, then past the timeout', async () => {
    const mc = await backend();
    const relay = await relayTo(mc);
    const mp = await memproxy(['--l1-addr', `127.0.0.1:${relay.port}`, ...chunked], SLOW_TIMEOUT);
    await underLoad(mp, slowFault(relay), ROUNDS, { valueSize, depth: 2 }, SLOW_TIMEOUT);
    await exactRoundTrip(mp, 40_000);
  });
});

describe('L1L2: in-memory L1 over a memcached L2 (--l2-enabled --l2-addr)', () => {
  const l2 = (mc: FixedMemcached | SlowRelay) => [
    '--l2-enabled',
    '--l2-addr',
    `127.0.0.1:${mc instanceof FixedMemcached ? (mc.target as { port: number }).port : mc.port}`,
  ];

  it('L2 SIGKILL: writes and L1 misses fail promptly, L1 hits still answer; service after L2 is back', async () => {
    const mc = await backend();
    const mp = await memproxy(l2(mc));
    await underLoad(mp, killFault(mc, 'some'), 2);
    await exactRoundTrip(mp);
  });

  it('L2 SIGSTOP then SIGCONT', async () => {
    const mc = await backend();
    const mp = await memproxy(l2(mc));
    await underLoad(mp, stopFault(mc, 'some'), 2);
    await exactRoundTrip(mp);
  });

  it('L2 restarted on the same port', async () => {
    const mc = await backend();
    const mp = await memproxy(l2(mc));
    await underLoad(mp, restartFault(mc), 2);
    await exactRoundTrip(mp);
  });

  it('L2 answering slowly, then past the timeout', async () => {
    const mc = await backend();
    const relay = await relayTo(mc);
    const mp = await memproxy(l2(relay), SLOW_TIMEOUT);
    await underLoad(mp, slowFault(relay, { allSlow: false }), 2, {}, SLOW_TIMEOUT);
    await exactRoundTrip(mp);
  });
});

describe('L1L2: memcached L1 over memcached L2 (--l1-addr --l2-enabled --l2-addr)', () => {
  const tiers = async () => {
    const l1 = await backend();
    const l2 = await backend();
    const mp = await memproxy([...l1.address, '--l2-enabled', '--l2-addr', `127.0.0.1:${(l2.target as { port: number }).port}`]);
    return { l1, l2, mp };
  };
  // A read: L1 (fails), L2, the L1 fill (fails), dropping the L1 copy (fails); a write: L2, L1, dropping the L1 copy.
  const ROUNDS = 4;

  it('L1 SIGKILL: L2 answers every request, none fails; L1 is used again once back', async () => {
    const { l1, mp } = await tiers();
    await underLoad(mp, killFault(l1, 'none'), ROUNDS);
    await exactRoundTrip(mp);
    // Writes after the fault reach L1 again, once memproxy's backoff has let it reconnect (up to
    // the 2 s backoff ceiling): until then a write that cannot reach L1 leaves L1 without the key.
    const c = await RawClient.connect({ port: mp.port });
    const deadline = Date.now() + 10_000;
    let written = '';
    let inL1 = '';
    for (let i = 0; Date.now() < deadline; i++) {
      written = `l${i % 10}`;
      expect((await c.request(`set back 0 0 2\r\n${written}\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
      inL1 = await direct(l1, 'back');
      if (inL1 === `VA 2\r\n${written}\r\nMN\r\n`) break;
      await sleep(100);
    }
    c.close();
    expect(inL1).toBe(`VA 2\r\n${written}\r\nMN\r\n`);
  });

  it('L1 SIGSTOP then SIGCONT: L2 answers every request, after L1 timeouts', async () => {
    const { l1, mp } = await tiers();
    await underLoad(mp, stopFault(l1, 'none'), ROUNDS);
    await exactRoundTrip(mp);
  });

  it("L1 stalled while keys are rewritten: afterwards L2's values are served, never the copies L1 kept", async () => {
    const { l1, l2, mp } = await tiers();
    const c = await RawClient.connect({ port: mp.port });
    const keys = Array.from({ length: 6 }, (_, i) => `rw${i}`);
    for (const key of keys) expect((await c.request(`set ${key} 0 0 2\r\nv0\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
    await l1.pause();
    // Each write reaches L2; L1 takes neither the update nor the delete meant to replace its copy.
    for (const v of ['vA', 'vB']) {
      for (const key of keys) expect((await c.request(`set ${key} 0 0 2\r\n${v}\r\n`, '\r\n', 5000)).toString()).toBe('STORED\r\n');
    }
    l1.resume();
    // Once L1 answers again (its old connection's requests may land late), every key reads as L2 holds it.
    await sleep(1500);
    for (let round = 0; round < 2; round++) {
      for (const key of keys) {
        expect(await direct(l2, key)).toBe('VA 2\r\nvB\r\nMN\r\n');
        expect((await c.request(`get ${key}\r\n`, 'END\r\n', 5000)).toString()).toBe(`VALUE ${key} 0 2\r\nvB\r\nEND\r\n`);
      }
    }
    // L1 holds L2's value again, or nothing; never an old copy.
    for (const key of keys) expect(['VA 2\r\nvB\r\nMN\r\n', 'MN\r\n']).toContain(await direct(l1, key));
    c.close();
  });

  it('L2 SIGKILL: writes and L1 misses fail promptly, L1 hits still answer; service after L2 is back', async () => {
    const { l2, mp } = await tiers();
    await underLoad(mp, killFault(l2, 'some'), ROUNDS);
    await exactRoundTrip(mp);
  });

  it('L2 SIGSTOP then SIGCONT: writes fail promptly, nothing is served that L2 did not accept', async () => {
    const { l2, mp } = await tiers();
    await underLoad(mp, stopFault(l2, 'some'), ROUNDS);
    await exactRoundTrip(mp);
  });
});
