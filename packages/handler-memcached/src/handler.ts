/**
 * MemcachedHandler: a Handler whose storage is a real memcached, spoken to in
 * the meta protocol over a small pool of connections (connection.ts), one
 * op per command (ops.ts). This file turns each typed command into its ops
 * and keeps flush_all a barrier across the connections.
 */
import type { Socket } from 'node:net';
import { KeyLanes, parseAddress, type Logger } from '@cleave/core';
import { KeySlots, keySlot, pickConnection } from './picker.js';
import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  KeyCommand,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { HandlerError, ItemFacts, MetaKeyForm, itemTooLarge, metaKeyForm } from '@cleave/protocol';
import { BackendConnection, BackendHealth, Counters, type BackendAddress } from './connection.js';
import { Errors } from './errors.js';
import {
  BIT_B64,
  BIT_BEFORE,
  BIT_HL,
  BIT_K,
  BIT_U,
  Group,
  OP_ARITH,
  OP_DELETE,
  OP_FLUSH,
  OP_GET,
  OP_MN,
  OP_PROBE,
  OP_STATS,
  OP_STORE,
  OP_TOUCH,
  Op,
} from './ops.js';
import { sendAdmin, type AdminConfig } from './admin.js';

export type { BackendAddress } from './connection.js';

export interface MemcachedHandlerOptions {
  /**
   * The backend: `{ host, port }`, `{ path }` (unix socket), or a string
   * `"host:port"` / `"/path/to/socket"`.
   */
  address: BackendAddress | string;
  /**
   * Backend connections (default 2). A request goes to the one with the
   * fewest requests outstanding; a key with requests outstanding stays on
   * their connection, so one key's requests keep their order.
   */
  connections?: number;
  /** A request not answered within this many ms fails with `SERVER_ERROR backend timeout`, and its connection is reopened (default 1000). */
  timeoutMs?: number;
  /** Longest a connection attempt (TCP connect plus a first round trip) may take (default 1000). */
  connectTimeoutMs?: number;
  /**
   * The backend's item size limit, memcached's `-I` (default 1 MiB). An
   * item over it as memcached counts it (59 bytes + key + value, 4 more
   * with non-zero flags) answers TOO_LARGE without reaching the backend, and
   * no reply value larger is accepted. Set it to the backend's `-I`.
   */
  maxItemSize?: number;
  /** Reconnect delays: exponential from minMs to maxMs, with jitter (defaults 50 and 2000). */
  backoff?: { minMs?: number; maxMs?: number };
  /** TCP keepalive probes on the backend connections (nutcracker's `tcpkeepalive`), so a peer that vanished is noticed while idle (default off). */
  keepAlive?: boolean;
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
  /**
   * Where the backend's changes of state are reported (pino's shape): connected the first time (info), unreachable
   * or gone away (warn), back (info), each once per change and never per request or connection retry.
   */
  logger?: Logger;
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

/** A backend address: an object as given, or text in core's forms ("host:port", "[v6]:port", "/path", "./path"). */
function backendAddress(a: BackendAddress | string): BackendAddress {
  if (typeof a === 'string') return parseAddress(a, 'MemcachedHandler: address');
  if (a !== null && typeof a === 'object') {
    if ('path' in a && typeof a.path === 'string' && a.path.length > 0) return { path: a.path };
    if ('port' in a && Number.isInteger(a.port) && a.port > 0 && a.port < 65536) {
      return { host: typeof a.host === 'string' && a.host.length > 0 ? a.host : '127.0.0.1', port: a.port };
    }
  }
  throw new TypeError(`MemcachedHandler: address must be { host, port } or { path }, got ${JSON.stringify(a)}`);
}

/** `b` when the key cannot travel raw, or the client sent it base64 (memcached then remembers it as binary). */
function keyBits(cmd: KeyCommand): number {
  const form = metaKeyForm(cmd.key, cmd.keyBinary === true);
  if (form === MetaKeyForm.INVALID) throw Errors.badKey;
  return form === MetaKeyForm.BASE64 ? BIT_B64 : 0;
}

/** Groups the server answers itself (`conns`), or that need more than a round trip of `stats`. */
const LOCAL_GROUPS = new Set(['conns', 'detail', 'cachedump']);
/** One word, as memcached's group names are. */
const GROUP_NAME = /^[a-z_]*$/;
/** Groups every memcached answers: an empty listing when the backend cannot. */
const KNOWN_GROUPS = new Set(['items', 'slabs', 'sizes']);

/**
 * Of memcached's general stats, what only the store knows (the server
 * counts commands itself, as its clients see them). `curr_connections`,
 * `total_connections` and `version` are the backend's own, so they get a
 * `backend_` prefix; `store_too_large` adds the items refused without a
 * round trip (over maxItemSize).
 */
const STORAGE_FIGURES = [
  'limit_maxbytes',
  'hash_bytes',
  'slabs_moved',
  'malloc_fails',
  'bytes',
  'curr_items',
  'total_items',
  'expired_unfetched',
  'evicted_unfetched',
  'evicted_active',
  'evictions',
  'reclaimed',
  'crawler_reclaimed',
  'crawler_items_checked',
  'get_expired',
  'get_flushed',
  'store_too_large',
  'store_no_memory',
] as const;
const RENAMED = [
  ['version', 'backend_version'],
  ['curr_connections', 'backend_curr_connections'],
  ['total_connections', 'backend_total_connections'],
] as const;

function storageFigures(st: StatsGroup, tooLarge: number): StatsGroup {
  const out: StatsGroup = {};
  for (const k of STORAGE_FIGURES) if (st[k] !== undefined) out[k] = st[k];
  const backendTooLarge = out.store_too_large;
  out.store_too_large = (typeof backendTooLarge === 'number' ? backendTooLarge : 0) + tooLarge;
  for (const [from, to] of RENAMED) if (st[from] !== undefined) out[to] = st[from];
  return out;
}

/** mg options: the facts the reply needs beyond value, flags, TTL and CAS, and no bump. */
function getBits(cmd: GetCommand): number {
  let bits = keyBits(cmd);
  const want = cmd.want;
  if (want !== undefined) {
    if (want & ItemFacts.KEY_FORM) bits |= BIT_K;
    if (want & ItemFacts.ACCESS) bits |= BIT_HL;
  }
  if (cmd.noBump === true) bits |= BIT_U;
  // `me` prints the key's form, the last access and whether it was fetched, and bumps nothing.
  if (cmd.debug === true) bits |= BIT_K | BIT_HL | BIT_U;
  return bits;
}

/** The op `bindOp` gives the Promise being made its resolving functions. */
let binding: Op | undefined;
function bindOp(resolve: (v: unknown) => void, reject: (e: unknown) => void): void {
  binding!.resolve = resolve;
  binding!.reject = reject;
}

/** A Promise settled by `op` (one shared executor: no closure per request). */
function promiseFor<T>(op: Op): Promise<T> {
  binding = op;
  const p = new Promise<T>(bindOp as (resolve: (v: T) => void, reject: (e: unknown) => void) => void);
  binding = undefined;
  return p;
}

/** An `ma N` whose reply shows whether it created the counter: the probe goes before the `ma`. */
function wantsCreated(cmd: ArithmeticCommand): boolean {
  return cmd.initial !== undefined && cmd.want !== undefined && (cmd.want & ItemFacts.CREATED) !== 0;
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
  /** Which connection each key's outstanding requests are on (picker.ts). */
  private readonly slots = new KeySlots();
  /** memcached stores an item with a CAS of its own: 1.6.18 refuses meta `E`. */
  readonly keepsNewCas = false;
  /** flush_all's barrier: while one is pending, every call waits for it (the connections keep each key's order themselves). */
  private readonly lanes = new KeyLanes();
  /** Calls waiting for a flush_all barrier, and the most that may. */
  private waiting = 0;
  private readonly maxWaiting: number;
  /** While a call that waited for a barrier runs: the deadline it had when issued (0 = timeoutMs from now). */
  private deadline = 0;
  private closed = false;
  private readonly settings: StatsGroup;
  private readonly counterFlags: boolean;
  private readonly adminConfig: AdminConfig;
  /** Connections of admin commands in progress (closed with the handler). */
  private readonly adminSockets = new Set<Socket>();

  constructor(options: MemcachedHandlerOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('MemcachedHandler: options with an address are required');
    this.address = backendAddress(options.address);
    const connections = positiveInteger('connections', options.connections, DEFAULTS.connections);
    this.timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs);
    const connectTimeoutMs = positiveInteger('connectTimeoutMs', options.connectTimeoutMs, DEFAULTS.connectTimeoutMs);
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULTS.maxItemSize);
    const backoffMinMs = positiveInteger('backoff.minMs', options.backoff?.minMs, DEFAULTS.backoffMinMs);
    const backoffMaxMs = Math.max(backoffMinMs, positiveInteger('backoff.maxMs', options.backoff?.maxMs, DEFAULTS.backoffMaxMs));
    const maxInFlight = positiveInteger('maxInFlight', options.maxInFlight, DEFAULTS.maxInFlight);
    const flushOn = options.flushOn ?? 'immediate';
    if (flushOn !== 'immediate' && flushOn !== 'microtask')
      throw new TypeError(`MemcachedHandler: flushOn must be 'immediate' or 'microtask'`);
    this.maxWaiting = maxInFlight * connections;
    this.counterFlags = options.counterFlags ?? true;
    const cfg = {
      address: this.address,
      timeoutMs: this.timeoutMs,
      connectTimeoutMs,
      backoffMinMs,
      backoffMaxMs,
      maxInFlight,
      // A reply carries at most one value, and memcached's item holds more than the value.
      maxValueSize: this.maxItemSize,
      flushOn,
      keepAlive: options.keepAlive === true,
    } as const;
    this.adminConfig = { address: this.address, connectTimeoutMs, timeoutMs: this.timeoutMs };
    this.conns = [];
    const health = new BackendHealth(this.address, options.logger);
    for (let i = 0; i < connections; i++) this.conns.push(new BackendConnection(cfg, this.counters, this.slots, health));
    this.settings = {
      backend: 'path' in this.address ? this.address.path : `${this.address.host}:${this.address.port}`,
      backend_connections: connections,
      backend_timeout_ms: this.timeoutMs,
      backend_connect_timeout_ms: connectTimeoutMs,
      backend_max_in_flight: maxInFlight,
      item_size_max: this.maxItemSize,
    };
  }

  /**
   * Queue `op` on the connection for its key (see picker.ts): one key's ops
   * stay on one connection while any is outstanding. `n` ops of the same key
   * go together (an `ma` and its probe): `op` is the first; `second` follows.
   */
  private send(op: Op, second?: Op): void {
    const conns = this.conns;
    const one = conns.length === 1;
    const slot = one ? -1 : keySlot((op.cmd as KeyCommand).key);
    const i = one ? 0 : pickConnection(this.slots, conns, slot);
    const conn = conns[i]!;
    conn.check(second === undefined ? 1 : 2);
    if (!one) {
      op.slot = slot;
      this.slots.take(slot, i);
    }
    conn.enqueue(op, this.deadline);
    if (second !== undefined) {
      if (!one) {
        second.slot = slot;
        this.slots.take(slot, i);
      }
      conn.enqueue(second, this.deadline);
    }
  }

  /** Queue one op and return its outcome. */
  private one<T>(kind: number, cmd: KeyCommand, bits: number): Promise<T> {
    const op = new Op(kind, cmd);
    op.bits = bits;
    const p = promiseFor<T>(op);
    this.send(op);
    return p;
  }

  // -------------------------------------------------------------------------
  // Handler
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): Promise<ItemView | undefined> {
    return this.lanes.blocked ? this.afterFlush(() => this.getNow(cmd)) : this.getNow(cmd);
  }

  private getNow(cmd: GetCommand): Promise<ItemView | undefined> {
    try {
      return this.one(OP_GET, cmd, getBits(cmd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** One pipelined batch of `mg`s; one Promise for all of them. */
  getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    return this.lanes.blocked ? this.afterFlush(() => this.getManyNow(cmds)) : this.getManyNow(cmds);
  }

  private getManyNow(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    const n = cmds.length;
    if (n === 0) return Promise.resolve([]);
    let group!: Group;
    const p = new Promise<(ItemView | undefined)[]>((resolve, reject) => {
      group = new Group(n, resolve, reject);
    });
    try {
      for (let i = 0; i < n; i++) {
        const cmd = cmds[i]!;
        const op = new Op(OP_GET, cmd);
        op.bits = getBits(cmd);
        op.group = group;
        op.index = i;
        this.send(op);
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
    return this.lanes.blocked ? this.afterFlush(() => this.storeNow(cmd)) : this.storeNow(cmd);
  }

  private storeNow(cmd: StoreCommand): Promise<StoreOutcome> {
    try {
      const bits = keyBits(cmd);
      if (itemTooLarge(cmd.key.length, cmd.flags, cmd.value.length, this.maxItemSize)) return this.refuseTooLarge(cmd, bits);
      return this.one(OP_STORE, cmd, bits);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * An item over maxItemSize never reaches the backend. When the command
   * says so (`unlinkOnFailure`: memcached's set and ms), the key's old item
   * goes, so no stale value outlives the write.
   */
  private refuseTooLarge(cmd: StoreCommand, bits: number): Promise<StoreOutcome> {
    this.counters.tooLarge++;
    if (cmd.unlinkOnFailure !== true) return Promise.resolve('TOO_LARGE');
    return this.one<DeleteOutcome>(OP_DELETE, cmd, bits).then(() => 'TOO_LARGE' as const);
  }

  delete(cmd: DeleteCommand): Promise<DeleteOutcome> {
    return this.lanes.blocked ? this.afterFlush(() => this.deleteNow(cmd)) : this.deleteNow(cmd);
  }

  private deleteNow(cmd: DeleteCommand): Promise<DeleteOutcome> {
    try {
      return this.one(OP_DELETE, cmd, keyBits(cmd));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  touch(cmd: TouchCommand): Promise<TouchOutcome> {
    return this.lanes.blocked ? this.afterFlush(() => this.touchNow(cmd)) : this.touchNow(cmd);
  }

  private touchNow(cmd: TouchCommand): Promise<TouchOutcome> {
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
   * only for an `ma N` whose reply shows whether it created the counter
   * (`want` has ItemFacts.CREATED), before it.
   */
  arithmetic(cmd: ArithmeticCommand): Promise<ArithmeticOutcome> {
    return this.lanes.blocked ? this.afterFlush(() => this.arithmeticNow(cmd)) : this.arithmeticNow(cmd);
  }

  private arithmeticNow(cmd: ArithmeticCommand): Promise<ArithmeticOutcome> {
    try {
      const bits = keyBits(cmd);
      const before = wantsCreated(cmd);
      const after = !before && this.counterFlags;
      const op = new Op(OP_ARITH, cmd);
      op.bits = bits;
      const p = promiseFor<ArithmeticOutcome>(op);
      if (before) {
        const probe = new Op(OP_PROBE, cmd);
        probe.bits = bits | BIT_BEFORE;
        probe.target = op;
        this.send(probe, op);
      } else if (after) {
        const probe = new Op(OP_PROBE, cmd);
        probe.bits = bits;
        probe.target = op;
        // The ma's VA waits for this probe, which settles the caller (or fails it with the connection).
        probe.resolve = op.resolve;
        probe.reject = op.reject;
        op.target = probe;
        this.send(op, probe);
      } else {
        this.send(op);
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
   * One connection keeps its own order: no barrier.
   */
  flush(delay: number): Promise<void> {
    if (this.conns.length === 1) {
      try {
        return this.sendFlush(delay);
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return Promise.resolve(this.lanes.barrier(() => this.flushAfterSync(delay)));
  }

  /**
   * An `mn` on every other connection with requests outstanding proves they have been applied; then the flush,
   * on a ready connection. One with nothing outstanding has nothing to wait for, so one that is backing off or
   * reconnecting after a stall does not fail the flush while another connection works, as it fails no other command.
   */
  private flushAfterSync(delay: number): Promise<void> {
    const conns = this.conns;
    const deadline = Date.now() + this.timeoutMs;
    const sender = conns.find((c) => c.ready) ?? conns.find((c) => c.connecting) ?? conns[0]!;
    const busy = conns.filter((c) => c !== sender && c.inFlight > 0);
    try {
      sender.check(1);
      for (const c of busy) c.check(1);
    } catch (err) {
      return Promise.reject(err);
    }
    const syncs: Promise<unknown>[] = [];
    for (const c of busy) {
      const op = new Op(OP_MN, undefined);
      syncs.push(
        new Promise((resolve, reject) => {
          op.resolve = resolve;
          op.reject = reject;
        }),
      );
      c.enqueue(op, deadline);
    }
    return Promise.all(syncs).then(() => this.sendFlush(delay, deadline, sender));
  }

  private sendFlush(delay: number, deadline = Date.now() + this.timeoutMs, conn = this.conns[0]!): Promise<void> {
    conn.check(1);
    const op = new Op(OP_FLUSH, delay);
    const p = new Promise<void>((resolve, reject) => {
      op.resolve = resolve as (v: unknown) => void;
      op.reject = reject;
    });
    conn.enqueue(op, deadline);
    return p;
  }

  /**
   * A call issued while a flush_all barrier is pending runs once memcached
   * has answered the flush, in issue order (before a flush_all issued after
   * it), with the deadline it had when issued: waiting counts. Past
   * maxInFlight per connection waiting, a call fails at once (`backend busy`).
   */
  private afterFlush<T>(run: () => Promise<T>): Promise<T> {
    if (this.waiting >= this.maxWaiting) {
      this.counters.rejected++;
      this.counters.errors++;
      return Promise.reject(Errors.busy);
    }
    this.waiting++;
    const deadline = Date.now() + this.timeoutMs;
    return Promise.resolve(
      this.lanes.gate(() => {
        this.waiting--;
        if (this.closed) return Promise.reject(Errors.shutdown);
        if (deadline <= Date.now()) {
          this.counters.errors++;
          return Promise.reject(Errors.timeout);
        }
        this.deadline = deadline;
        try {
          return run();
        } finally {
          this.deadline = 0;
        }
      }),
    );
  }

  /**
   * One `mn` round trip to memcached, on a ready connection if there is one,
   * else on one being opened: settles when memcached answered, fails as a
   * request would. Every connection backing off after a failure tries again
   * now, so once memcached is back all of them soon are.
   */
  ping(): Promise<void> {
    if (this.closed) return Promise.reject(Errors.shutdown);
    const conns = this.conns;
    for (const c of conns) c.wake();
    const conn = conns.find((c) => c.ready) ?? conns.find((c) => c.connecting) ?? conns[0]!;
    try {
      conn.check(1);
    } catch (err) {
      return Promise.reject(err);
    }
    const op = new Op(OP_MN, undefined);
    const p = promiseFor<void>(op);
    conn.enqueue(op);
    return p;
  }

  /**
   * `stats [group]`: one `stats` round trip to memcached, answered with
   * what a client of this handler should see (see the README's Stats):
   * '' the backend's storage figures and the handler's own counters,
   * `settings` memcached's merged with the handler's, `items`, `slabs`,
   * `sizes` and any other group memcached knows as memcached answers them.
   * `reset` zeroes the handler's counters only. A backend that cannot answer
   * does not fail the reply: '' and `settings` show the handler's own
   * figures and `backend_stats_error`, the other groups are empty.
   */
  stats(group: string): StatsGroup | undefined | Promise<StatsGroup | undefined> {
    if (group === 'reset') {
      const c = this.counters;
      c.requests = c.errors = c.timeouts = c.connectTimeouts = 0;
      c.desyncs = c.rejected = c.writes = c.bytesWritten = c.bytesRead = c.tooLarge = 0;
      return {};
    }
    // The server's own groups, and anything that is no single group name, never reach memcached.
    if (LOCAL_GROUPS.has(group) || !GROUP_NAME.test(group)) return undefined;
    return this.backendStats(group).then(
      (st) => {
        if (group === '') return st === undefined ? this.ownStats() : { ...storageFigures(st, this.counters.tooLarge), ...this.ownStats() };
        if (group === 'settings') return { ...st, ...this.settings };
        return st;
      },
      (err: unknown) => {
        const error = err instanceof HandlerError ? err.code : 'BACKEND_ERROR';
        if (group === '') return { ...this.ownStats(), backend_stats_error: error };
        if (group === 'settings') return { ...this.settings, backend_stats_error: error };
        return KNOWN_GROUPS.has(group) ? {} : undefined;
      },
    );
  }

  /** memcached's own answer to `stats [group]`, `undefined` when it answers ERROR (a group it does not know). */
  private backendStats(group: string): Promise<StatsGroup | undefined> {
    if (this.closed) return Promise.reject(Errors.shutdown);
    const conns = this.conns;
    const conn = conns.find((c) => c.ready) ?? conns.find((c) => c.connecting) ?? conns[0]!;
    try {
      conn.check(1);
    } catch (err) {
      return Promise.reject(err);
    }
    const op = new Op(OP_STATS, group);
    const p = promiseFor<StatsGroup | undefined>(op);
    conn.enqueue(op);
    return p;
  }

  /**
   * The handler's own counters, synchronously (no backend round trip): what
   * `stats` adds to memcached's figures, for callers that poll (a stats
   * port, a metrics scrape).
   */
  ownStats(): StatsGroup {
    const c = this.counters;
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

  /**
   * memcached's administrative commands, sent as the client wrote them on a
   * connection of their own (admin.ts); the reply is memcached's, byte for byte.
   */
  admin(cmd: AdminCommand): Promise<Buffer> {
    if (this.closed) return Promise.reject(Errors.shutdown);
    return sendAdmin(this.adminConfig, cmd, this.counters, this.adminSockets);
  }

  /** Close every backend connection; requests in flight fail with `backend unavailable`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    // Calls waiting for a flush barrier fail once it settles: its ops fail with the connections.
    for (const c of this.conns) c.close();
    for (const s of this.adminSockets) {
      this.adminSockets.delete(s);
      s.destroy();
    }
  }
}

/** `listenAndServe({ listen: { port: 11211 }, handler: memcachedHandler({ address: '127.0.0.1:11212' }) })`. */
export function memcachedHandler(options: MemcachedHandlerOptions): MemcachedHandler {
  return new MemcachedHandler(options);
}
