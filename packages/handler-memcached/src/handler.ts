import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MetaFlags,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { BackendConnection, Counters, type BackendAddress } from './connection.js';
import { Errors } from './errors.js';
import {
  BIT_B64,
  BIT_BEFORE,
  BIT_HL,
  BIT_K,
  BIT_T_FIRST,
  BIT_U,
  Group,
  OP_ARITH,
  OP_DELETE,
  OP_FLUSH,
  OP_GET,
  OP_MN,
  OP_PROBE,
  OP_STORE,
  OP_TOUCH,
  Op,
} from './ops.js';
import { KEY_BASE64, KEY_INVALID, keyHash, keyMode } from './request-buffer.js';

export type { BackendAddress } from './connection.js';

export interface MemcachedHandlerOptions {
  /**
   * The backend: `{ host, port }`, `{ path }` (unix socket), or a string
   * `"host:port"` / `"/path/to/socket"`.
   */
  address: BackendAddress | string;
  /** Backend connections; keys are spread over them by hash (default 2). */
  connections?: number;
  /** A request not answered within this many ms fails with `SERVER_ERROR backend timeout`, and its connection is reopened (default 1000). */
  timeoutMs?: number;
  /** Longest a connection attempt (TCP connect plus a first round trip) may take (default 1000). */
  connectTimeoutMs?: number;
  /**
   * Largest value sent to or accepted from the backend, in bytes (default
   * 1 MiB, memcached's `-I`): a larger store answers TOO_LARGE without
   * reaching the backend. Set it to the backend's `-I` when that differs.
   */
  maxItemSize?: number;
  /** Reconnect delays: exponential from minMs to maxMs, with jitter (defaults 50 and 2000). */
  backoff?: { minMs?: number; maxMs?: number };
  /** Requests a connection may have in flight; over it a request fails at once with `backend busy` (default 16384). */
  maxInFlight?: number;
  /**
   * memcached's `ma` does not report a counter's client flags, which an L1
   * filled from the outcome needs: when true (default), each `ma` is
   * followed in the same batch by `mg <key> f u`. See the README for what
   * that costs.
   */
  counterFlags?: boolean;
  /**
   * When a turn's requests are written: `'immediate'` (default) batches
   * everything issued during one event-loop turn, from every client
   * connection, into one write per backend connection; `'microtask'` writes
   * as soon as the current job's microtasks are done (a batch per client read).
   */
  flushOn?: 'immediate' | 'microtask';
}

/** Fields a command carries when it is the parsed request itself (the server hands requests straight through). */
interface RequestShape {
  readonly protocol?: string;
  readonly cmd?: string;
  readonly meta?: MetaFlags;
}

interface Held {
  run(): Promise<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
  deadline: number;
}

const DEFAULTS = {
  connections: 2,
  timeoutMs: 1000,
  connectTimeoutMs: 1000,
  maxItemSize: 1024 * 1024,
  backoffMinMs: 50,
  backoffMaxMs: 2000,
  maxInFlight: 16384,
};

function positiveInteger(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`MemcachedHandler: ${name} must be a positive integer, got ${String(v)}`);
  }
  return v;
}

function parseAddress(a: BackendAddress | string): BackendAddress {
  if (typeof a !== 'string') {
    if (a !== null && typeof a === 'object') {
      if ('path' in a && typeof a.path === 'string' && a.path.length > 0) return { path: a.path };
      if ('port' in a && Number.isInteger(a.port) && a.port > 0 && a.port < 65536) {
        return { host: typeof a.host === 'string' && a.host.length > 0 ? a.host : '127.0.0.1', port: a.port };
      }
    }
    throw new TypeError(`MemcachedHandler: address must be { host, port } or { path }, got ${JSON.stringify(a)}`);
  }
  if (a.startsWith('/') || a.startsWith('./')) return { path: a };
  const m = /^\[?([^\]]*)\]?:(\d+)$/.exec(a);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new TypeError(`MemcachedHandler: address must be "host:port" or a socket path, got ${JSON.stringify(a)}`);
  return { host: m[1] || '127.0.0.1', port };
}

/** A meta `ma N` whose reply shows whether it created the counter: `q` answers only then, and a `t` before `N` reports -1. */
function needsCreated(cmd: ArithmeticCommand): boolean {
  const req = cmd as RequestShape & { quiet?: boolean };
  const meta = req.meta;
  if (meta === undefined) return false;
  if (req.quiet === true) return true;
  const t = meta.ret.indexOf('t');
  return t >= 0 && t < meta.ret.indexOf('N');
}

function hasLetter(ret: string, letter: string): boolean {
  return ret.indexOf(letter) >= 0;
}

/** `b` when the key cannot travel raw (or the client sent it base64: memcached then remembers it as binary). */
function keyBits(cmd: { key: Buffer }): number {
  const meta = (cmd as RequestShape).meta;
  const mode = keyMode(cmd.key, meta !== undefined && meta.base64Key === true);
  if (mode === KEY_INVALID) throw Errors.badKey;
  return mode === KEY_BASE64 ? BIT_B64 : 0;
}

/** mg options: what the client's reply needs beyond value, flags, TTL and CAS. */
function getBits(cmd: GetCommand): number {
  let bits = keyBits(cmd);
  const req = cmd as RequestShape;
  if (cmd.noBump === true) bits |= BIT_U;
  const meta = req.meta;
  if (req.cmd === 'me') return bits | BIT_K | BIT_HL | BIT_U;
  if (meta !== undefined) {
    const ret = meta.ret;
    if (hasLetter(ret, 'k')) bits |= BIT_K;
    if (hasLetter(ret, 'h') || hasLetter(ret, 'l')) bits |= BIT_HL;
    if (cmd.touch !== undefined && cmd.vivify !== undefined && ret.indexOf('T') < ret.indexOf('N')) bits |= BIT_T_FIRST;
  }
  return bits;
}

/**
 * A Handler whose storage is a real memcached (1.6 or later), spoken to in
 * the meta protocol over a small pool of connections. See the README for the
 * command mapping, batching, and failure behaviour.
 */
export class MemcachedHandler implements Handler {
  readonly address: BackendAddress;
  readonly timeoutMs: number;
  readonly maxItemSize: number;
  private readonly conns: BackendConnection[];
  private readonly counters = new Counters();
  private readonly maxHeld: number;
  /** Requests waiting for a flush_all to take effect on every connection. */
  private held: Held[] | undefined = undefined;
  /** While released requests are queued: the deadline they had when issued (0 = timeoutMs from now). */
  private deadline = 0;
  private closed = false;
  private readonly settings: StatsGroup;
  private readonly counterFlags: boolean;

  constructor(options: MemcachedHandlerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('MemcachedHandler: options with an address are required');
    this.address = parseAddress(options.address);
    const connections = positiveInteger('connections', options.connections, DEFAULTS.connections);
    this.timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
    const connectTimeoutMs = positiveInteger('connectTimeoutMs', options.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULTS.maxItemSize);
    const backoffMinMs = positiveInteger('backoff.minMs', options.backoff?.minMs, DEFAULTS.backoffMinMs);
    const backoffMaxMs = Math.max(backoffMinMs, positiveInteger('backoff.maxMs', options.backoff?.maxMs, DEFAULTS.backoffMaxMs));
    const maxInFlight = positiveInteger('maxInFlight', options.maxInFlight, DEFAULTS.maxInFlight);
    const flushOn = options.flushOn ?? 'immediate';
    if (flushOn !== 'immediate' && flushOn !== 'microtask') throw new TypeError(`MemcachedHandler: flushOn must be 'immediate' or 'microtask'`);
    this.maxHeld = maxInFlight * connections;
    this.counterFlags = options.counterFlags ?? true;
    const cfg = {
      address: this.address,
      timeoutMs: this.timeoutMs,
      connectTimeoutMs,
      backoffMinMs,
      backoffMaxMs,
      maxInFlight,
      // A reply carries at most one value; leave room for memcached's own item overhead.
      maxValueSize: this.maxItemSize,
      flushOn,
    } as const;
    this.conns = [];
    for (let i = 0; i < connections; i++) this.conns.push(new BackendConnection(cfg, this.counters));
    this.settings = {
      backend: 'path' in this.address ? this.address.path : `${this.address.host}:${this.address.port}`,
      backend_connections: connections,
      backend_timeout_ms: this.timeoutMs,
      backend_connect_timeout_ms: connectTimeoutMs,
      backend_max_in_flight: maxInFlight,
      item_size_max: this.maxItemSize,
    };
  }

  /** The connection that serves `key`: always the same one, so one key's requests keep their order. */
  private route(key: Buffer): BackendConnection {
    const conns = this.conns;
    return conns.length === 1 ? conns[0]! : conns[keyHash(key) % conns.length]!;
  }

  /** Queue one op and return its outcome. */
  private one<T>(kind: number, cmd: { key: Buffer }, bits: number): Promise<T> {
    const conn = this.route(cmd.key);
    conn.check(1);
    const op = new Op(kind, cmd);
    op.bits = bits;
    const p = new Promise<T>((resolve, reject) => {
      op.resolve = resolve as (v: unknown) => void;
      op.reject = reject;
    });
    conn.enqueue(op, this.deadline);
    return p;
  }

  // -------------------------------------------------------------------------
  // Handler
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): Promise<ItemView | undefined> {
    if (this.held !== undefined) return this.hold(() => this.get(cmd));
    try {
      return this.one(OP_GET, cmd, getBits(cmd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** One pipelined batch of `mg`s; one Promise for all of them. */
  getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    if (this.held !== undefined) return this.hold(() => this.getMany(cmds));
    const n = cmds.length;
    if (n === 0) return Promise.resolve([]);
    let group!: Group;
    const p = new Promise<(ItemView | undefined)[]>((resolve, reject) => {
      group = new Group(n, resolve, reject);
    });
    try {
      for (let i = 0; i < n; i++) {
        const cmd = cmds[i]!;
        const bits = getBits(cmd);
        const conn = this.route(cmd.key);
        conn.check(1);
        const op = new Op(OP_GET, cmd);
        op.bits = bits;
        op.group = group;
        op.index = i;
        conn.enqueue(op, this.deadline);
      }
    } catch (err) {
      // Ops already queued answer into a group that is done: their replies are dropped.
      if (!group.done) {
        group.done = true;
        group.reject(err);
      }
    }
    return p;
  }

  store(cmd: StoreCommand): Promise<StoreOutcome> {
    if (this.held !== undefined) return this.hold(() => this.store(cmd));
    try {
      const bits = keyBits(cmd);
      if (cmd.value.length > this.maxItemSize) return this.refuseTooLarge(cmd, bits);
      return this.one(OP_STORE, cmd, bits);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A value over maxItemSize never reaches the backend. As memcached does for
   * a refused set, the key's old item goes, so no stale value outlives the write.
   */
  private refuseTooLarge(cmd: StoreCommand, bits: number): Promise<StoreOutcome> {
    if (cmd.mode !== 'set' || cmd.compareCas !== undefined) return Promise.resolve('TOO_LARGE');
    return this.one<DeleteOutcome>(OP_DELETE, { key: cmd.key }, bits).then(() => 'TOO_LARGE' as const);
  }

  delete(cmd: DeleteCommand): Promise<DeleteOutcome> {
    if (this.held !== undefined) return this.hold(() => this.delete(cmd));
    try {
      return this.one(OP_DELETE, cmd, keyBits(cmd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  touch(cmd: TouchCommand): Promise<TouchOutcome> {
    if (this.held !== undefined) return this.hold(() => this.touch(cmd));
    try {
      return this.one(OP_TOUCH, cmd, keyBits(cmd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * `ma`. memcached's `ma` reports neither the counter's client flags nor
   * whether `N` created it, so an `mg <key> f u` probe goes in the same
   * batch: after the `ma` for the flags (unless counterFlags is off), or,
   * only for a meta `ma N` whose reply depends on having created the
   * counter (`q`, or `t` before `N`), before it.
   */
  arithmetic(cmd: ArithmeticCommand): Promise<ArithmeticOutcome> {
    if (this.held !== undefined) return this.hold(() => this.arithmetic(cmd));
    try {
      const bits = keyBits(cmd);
      const conn = this.route(cmd.key);
      const before = cmd.initial !== undefined && needsCreated(cmd);
      const after = !before && this.counterFlags;
      conn.check(before || after ? 2 : 1);
      const op = new Op(OP_ARITH, cmd);
      op.bits = bits;
      const p = new Promise<ArithmeticOutcome>((resolve, reject) => {
        op.resolve = resolve as (v: unknown) => void;
        op.reject = reject;
      });
      if (before) {
        const probe = new Op(OP_PROBE, cmd);
        probe.bits = bits | BIT_BEFORE;
        probe.target = op;
        conn.enqueue(probe, this.deadline);
        conn.enqueue(op, this.deadline);
      } else if (after) {
        const probe = new Op(OP_PROBE, cmd);
        probe.bits = bits;
        probe.target = op;
        // The ma's VA waits for this probe, which settles the caller (or fails it with the connection).
        probe.resolve = op.resolve;
        probe.reject = op.reject;
        op.target = probe;
        conn.enqueue(op, this.deadline);
        conn.enqueue(probe, this.deadline);
      } else {
        conn.enqueue(op, this.deadline);
      }
      return p;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * flush_all is a barrier across connections: it is sent once every
   * request issued before it has been answered on every connection, and
   * requests issued after it wait until memcached has answered it. (Sent on
   * every connection instead, a late copy would wipe items stored after it.)
   */
  flush(delay: number): Promise<void> {
    if (this.held !== undefined) return this.hold(() => this.flush(delay));
    const conns = this.conns;
    const first = conns[0]!;
    const deadline = Date.now() + this.timeoutMs;
    try {
      for (const c of conns) c.check(1);
    } catch (err) {
      return Promise.reject(err);
    }
    const sendFlush = (): Promise<void> => {
      first.check(1);
      const op = new Op(OP_FLUSH, delay);
      const p = new Promise<void>((resolve, reject) => {
        op.resolve = resolve as (v: unknown) => void;
        op.reject = reject;
      });
      first.enqueue(op, deadline);
      return p;
    };
    // One connection keeps its own order.
    if (conns.length === 1) {
      try {
        return sendFlush();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    this.held = [];
    const syncs: Promise<unknown>[] = [];
    for (let i = 1; i < conns.length; i++) {
      const op = new Op(OP_MN, undefined);
      syncs.push(
        new Promise((resolve, reject) => {
          op.resolve = resolve;
          op.reject = reject;
        }),
      );
      conns[i]!.enqueue(op, deadline);
    }
    return Promise.all(syncs)
      .then(sendFlush)
      .finally(() => this.release());
  }

  private hold<T>(run: () => Promise<T>): Promise<T> {
    const held = this.held!;
    if (held.length >= this.maxHeld) {
      this.counters.rejected++;
      this.counters.errors++;
      return Promise.reject(Errors.busy);
    }
    return new Promise<T>((resolve, reject) => {
      held.push({ run, resolve: resolve as (v: unknown) => void, reject, deadline: Date.now() + this.timeoutMs });
    });
  }

  /** The flush barrier is over: run what waited, in order. */
  private release(): void {
    const list = this.held!;
    this.held = undefined;
    const now = Date.now();
    for (const h of list) {
      // A flush_all released here starts a new barrier: what follows it waits again.
      if (this.held !== undefined) {
        (this.held as Held[]).push(h);
        continue;
      }
      if (this.closed) {
        h.reject(Errors.shutdown);
        continue;
      }
      if (h.deadline <= now) {
        this.counters.errors++;
        h.reject(Errors.timeout);
        continue;
      }
      // The request keeps the deadline it got when issued: waiting here counted.
      this.deadline = h.deadline;
      try {
        h.run().then(h.resolve, h.reject);
      } finally {
        this.deadline = 0;
      }
    }
  }

  /** The handler's own counters (never a backend round trip). */
  stats(group: string): StatsGroup | undefined {
    const c = this.counters;
    switch (group) {
      case '': {
        let inFlight = 0;
        let ready = 0;
        for (const conn of this.conns) {
          inFlight += conn.inFlight;
          if (conn.ready) ready++;
        }
        return {
          backend_connections: this.conns.length,
          backend_connections_ready: ready,
          backend_in_flight: inFlight,
          backend_requests: c.requests,
          backend_errors: c.errors,
          backend_timeouts: c.timeouts,
          backend_connect_timeouts: c.connectTimeouts,
          backend_connects: c.connects,
          backend_reconnects: c.reconnects,
          backend_desyncs: c.desyncs,
          backend_rejected: c.rejected,
          backend_writes: c.writes,
          backend_bytes_written: c.bytesWritten,
          backend_bytes_read: c.bytesRead,
        };
      }
      case 'settings':
        return { ...this.settings };
      case 'reset':
        c.requests = c.errors = c.timeouts = c.connectTimeouts = 0;
        c.desyncs = c.rejected = c.writes = c.bytesWritten = c.bytesRead = 0;
        return {};
      default:
        return undefined;
    }
  }

  /** Close every backend connection; requests in flight fail with `backend unavailable`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns) c.close();
    if (this.held !== undefined) {
      const list = this.held;
      this.held = undefined;
      for (const h of list) h.reject(Errors.shutdown);
    }
  }
}

/** `listenAndServe({ l1: memcachedHandler({ address: '127.0.0.1:11211' }) })`. */
export function memcachedHandler(options: MemcachedHandlerOptions): MemcachedHandler {
  return new MemcachedHandler(options);
}
