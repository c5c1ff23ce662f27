/**
 * The pool's own rules, over in-process servers whose health a test
 * controls: routing by placement, multi-gets split and put back in key
 * order, failures counted against a server only when the server failed,
 * ejection and down states, and the probe that brings a server back.
 * Real memcached pools: pool-memcached.test.ts and pool-faults.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import {
  HandlerError,
  BinaryStatus,
  type ArithmeticCommand,
  type DeleteCommand,
  type GetCommand,
  type Handler,
  type ItemView,
  type StoreCommand,
  type TouchCommand,
} from '@cleave/protocol';
import { Placement, pool, type Pool } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const down = new HandlerError('backend unavailable', 'BACKEND_CLOSED', BinaryStatus.ETMPFAIL);
const theirs = new HandlerError('out of memory storing object', 'BACKEND_ERROR', BinaryStatus.EINTERNAL);

/** An in-memory server whose answers a test can turn into failures, and whose ping it controls. */
class Flaky implements Handler {
  readonly mem = new InMemoryHandler({ maxBytes: 8 << 20 });
  readonly keepsNewCas = true;
  failing: HandlerError | undefined = undefined;
  pingOk = true;
  pings = 0;
  gets = 0;
  get(cmd: GetCommand): Promise<ItemView | undefined> {
    this.gets++;
    return this.failing ? Promise.reject(this.failing) : Promise.resolve(this.mem.get(cmd));
  }
  getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    return this.failing ? Promise.reject(this.failing) : Promise.resolve(cmds.map((c) => this.mem.get(c)));
  }
  store(cmd: StoreCommand) {
    return this.mem.store(cmd);
  }
  delete(cmd: DeleteCommand) {
    return this.mem.delete(cmd);
  }
  arithmetic(cmd: ArithmeticCommand) {
    return this.mem.arithmetic(cmd);
  }
  touch(cmd: TouchCommand) {
    return this.mem.touch(cmd);
  }
  flush(delay: number) {
    return this.mem.flush(delay);
  }
  close() {
    return this.mem.close();
  }
  ping(): Promise<void> {
    this.pings++;
    return this.pingOk ? Promise.resolve() : Promise.reject(down);
  }
}

const pools: Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

function makePool(n: number, opts: { autoEjectHosts?: boolean; serverRetryTimeoutMs?: number } = {}) {
  const servers = Array.from({ length: n }, () => new Flaky());
  const p = pool({
    servers: servers.map((handler, i) => ({ handler, name: `s${i}` })),
    serverFailureLimit: 2,
    serverRetryTimeoutMs: opts.serverRetryTimeoutMs ?? 50,
    probeIntervalMs: 10,
    autoEjectHosts: opts.autoEjectHosts ?? false,
  });
  pools.push(p);
  return { p, servers };
}

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Keys, each on the server of its index (by the pool's own placement). */
function keysOn(p: Pool, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; out.length < n; i++) {
    const key = k(`key:${i}`);
    if (p.serverFor(key)?.name === `s${out.length}`) out.push(key);
  }
  return out;
}

describe('routing', () => {
  it('sends each key to the server placement names, and nowhere else', async () => {
    const { p, servers } = makePool(3);
    const placement = new Placement({
      distribution: 'ketama',
      hash: 'fnv1a_64',
      servers: ['s0', 's1', 's2'].map((name) => ({ name, weight: 1 })),
    });
    for (let i = 0; i < 300; i++) {
      await p.store({ mode: 'set', key: k(`key:${i}`), value: k(`v${i}`), flags: i, exptime: 0 });
    }
    for (let i = 0; i < 300; i++) {
      const key = k(`key:${i}`);
      const home = placement.serverFor(key);
      servers.forEach((s, j) => {
        const it = s.mem.get({ key }) as ItemView | undefined;
        expect(it !== undefined, `key:${i} on s${j}`).toBe(j === home);
      });
    }
  });

  it('puts a multi-get over several servers back in the key order, with misses in place', async () => {
    const { p } = makePool(3);
    const keys = [...keysOn(p, 3), ...keysOn(p, 3)].reverse();
    keys.splice(2, 0, k('missing:1'));
    for (const key of keys)
      if (!key.toString().startsWith('missing')) await p.store({ mode: 'set', key, value: key, flags: 0, exptime: 0 });
    const items = await p.getMany(keys.map((key) => ({ key })));
    expect(items.map((it) => it?.value.toString())).toEqual(
      keys.map((key) => (key.toString().startsWith('missing') ? undefined : key.toString())),
    );
    expect(p.counters.fragments).toBe(3);
  });

  it('sends a multi-get whose keys share a server as one batch, with no fragments', async () => {
    const { p, servers } = makePool(3);
    const one = keysOn(p, 1)[0]!;
    const cmds = [{ key: one }, { key: one }];
    await p.getMany(cmds);
    expect(p.counters.fragments).toBe(0);
    expect(servers[0]!.gets).toBe(0); // went through getMany, not per-key gets
    expect(p.members[0]!.counters.requests).toBe(2);
  });

  it('flush_all reaches every server', async () => {
    const { p } = makePool(3);
    const keys = keysOn(p, 3);
    for (const key of keys) await p.store({ mode: 'set', key, value: key, flags: 0, exptime: 0 });
    await p.flush(0);
    for (const key of keys) expect(await p.get({ key })).toBeUndefined();
  });
});

describe('failures', () => {
  it("a server's own error reply is an answer, not a failure of the server", async () => {
    const { p, servers } = makePool(2);
    const [a] = keysOn(p, 1);
    servers[0]!.failing = theirs;
    for (let i = 0; i < 5; i++) await expect(p.get({ key: a! })).rejects.toBe(theirs);
    expect(p.members[0]!.state).toBe('up');
    expect(p.members[0]!.counters.errors).toBe(0);
    expect(p.counters.forwardErrors).toBe(0);
  });

  it('without auto_eject, a failing server is kept down: its keys fail at once and stay where they are; a probe brings it back', async () => {
    const { p, servers } = makePool(3);
    const [a, b] = keysOn(p, 2);
    servers[0]!.failing = down;
    servers[0]!.pingOk = false;
    await expect(p.get({ key: a! })).rejects.toBe(down);
    expect(p.members[0]!.state).toBe('up');
    await expect(p.get({ key: a! })).rejects.toBe(down);
    expect(p.members[0]!.state).toBe('down');
    expect(p.counters.forwardErrors).toBe(2);
    expect(p.members[0]!.counters.errors).toBe(2);
    // Down: fails at once without reaching the server; the key does not move.
    const gets = servers[0]!.gets;
    expect(() => p.get({ key: a! })).toThrow('backend unavailable');
    expect(servers[0]!.gets).toBe(gets);
    expect(p.serverFor(a!)?.name).toBe('s0');
    expect(p.counters.serverEjects).toBe(0);
    // Other servers' keys are served throughout.
    await p.store({ mode: 'set', key: b!, value: b!, flags: 0, exptime: 0 });
    expect((await p.get({ key: b! }))?.value.toString()).toBe(b!.toString());
    // The server answers again, but only its probe finds out.
    servers[0]!.failing = undefined;
    await until(() => servers[0]!.pings >= 2);
    expect(p.members[0]!.state).toBe('down');
    servers[0]!.pingOk = true;
    await until(() => p.members[0]!.state === 'up');
    expect(servers[0]!.gets).toBe(gets);
    expect(await p.get({ key: a! })).toBeUndefined();
  });

  it('with auto_eject, a failing server leaves the ring (its keys go elsewhere) and rejoins after the retry timeout once its probe answers', async () => {
    const { p, servers } = makePool(3, { autoEjectHosts: true, serverRetryTimeoutMs: 200 });
    const [a] = keysOn(p, 1);
    servers[0]!.failing = down;
    await expect(p.get({ key: a! })).rejects.toBe(down);
    await expect(p.get({ key: a! })).rejects.toBe(down);
    expect(p.members[0]!.state).toBe('ejected');
    expect(p.counters.serverEjects).toBe(1);
    expect(p.members[0]!.ejectedAt).toBeGreaterThan(Date.now() - 5000);
    const moved = p.serverFor(a!)!;
    expect(moved.name).not.toBe('s0');
    // Placement over the live servers is nutcracker's rebuild without s0.
    const rest = new Placement({
      distribution: 'ketama',
      hash: 'fnv1a_64',
      servers: ['s0', 's1', 's2'].map((name) => ({ name, weight: 1 })),
    });
    rest.rebuild([false, true, true]);
    expect(`s${rest.serverFor(a!)}`).toBe(moved.name);
    await p.store({ mode: 'set', key: a!, value: k('elsewhere'), flags: 0, exptime: 0 });
    expect((await p.get({ key: a! }))?.value.toString()).toBe('elsewhere');
    servers[0]!.failing = undefined;
    const ejectedAt = p.members[0]!.ejectedAt;
    await until(() => p.members[0]!.state === 'up');
    expect(Date.now() - ejectedAt).toBeGreaterThanOrEqual(200);
    expect(p.serverFor(a!)?.name).toBe('s0');
  });

  it('with every server ejected, commands fail with no server available, and the pool recovers by itself', async () => {
    const { p, servers } = makePool(2, { autoEjectHosts: true, serverRetryTimeoutMs: 20 });
    for (const s of servers) {
      s.failing = down;
      s.pingOk = false;
    }
    const keys = keysOn(p, 2);
    for (const key of keys) {
      await expect(p.get({ key })).rejects.toBe(down);
      await expect(p.get({ key })).rejects.toBe(down);
    }
    await until(() => p.members.every((m) => m.state === 'ejected'));
    expect(() => p.get({ key: keys[0]! })).toThrow('no server available');
    for (const s of servers) {
      s.failing = undefined;
      s.pingOk = true;
    }
    await until(() => p.members.every((m) => m.state === 'up'));
    expect(await p.get({ key: keys[0]! })).toBeUndefined();
  });

  it('a multi-get touching a down server fails as a whole at once; one that does not is served', async () => {
    const { p, servers } = makePool(3);
    const [a, b, c] = keysOn(p, 3);
    servers[0]!.failing = down;
    servers[0]!.pingOk = false;
    await expect(p.getMany([{ key: a! }, { key: b! }])).rejects.toBe(down);
    expect(p.members[0]!.counters.errors).toBe(1);
    await expect(p.getMany([{ key: a! }, { key: c! }])).rejects.toBe(down);
    expect(p.members[0]!.state).toBe('down');
    expect(() => p.getMany([{ key: b! }, { key: a! }])).toThrow('backend unavailable');
    expect(await p.getMany([{ key: b! }, { key: c! }])).toEqual([undefined, undefined]);
  });

  it('an answer between failures starts the count again', async () => {
    const { p, servers } = makePool(2);
    const [a] = keysOn(p, 1);
    for (let i = 0; i < 5; i++) {
      servers[0]!.failing = down;
      await expect(p.get({ key: a! })).rejects.toBe(down);
      servers[0]!.failing = undefined;
      await p.get({ key: a! });
    }
    expect(p.members[0]!.state).toBe('up');
  });
});

describe('options', () => {
  const h = (): Handler => new InMemoryHandler({ maxBytes: 1 << 20 });
  it('refuses what nutcracker would not run', () => {
    expect(() => pool({ servers: [] })).toThrow('servers must be a non-empty array');
    expect(() => pool({ servers: [{ handler: h(), name: 'a' }], hash: 'sha1' as never })).toThrow('hash must be one of');
    expect(() => pool({ servers: [{ handler: h(), name: 'a' }], distribution: 'ring' as never })).toThrow('distribution must be one of');
    expect(() => pool({ servers: [{ handler: h(), name: 'a', weight: 0 }] })).toThrow('servers[0].weight must be a positive integer');
    expect(() => pool({ servers: [{ handler: h(), name: 'a' }], serverFailureLimit: 0 })).toThrow(
      'serverFailureLimit must be a positive integer',
    );
  });

  it('keeps the CAS unique it is given only when every server does', () => {
    const mem = new InMemoryHandler({ maxBytes: 1 << 20 });
    expect(pool({ servers: [{ handler: mem, name: 'a' }] }).keepsNewCas).toBe(true);
    const remote: Handler = Object.assign(Object.create(mem) as Handler, { keepsNewCas: false });
    expect(
      pool({
        servers: [
          { handler: mem, name: 'a' },
          { handler: remote, name: 'b' },
        ],
      }).keepsNewCas,
    ).toBe(false);
  });
});
