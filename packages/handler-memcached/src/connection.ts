/**
 * One connection to the backend memcached.
 *
 * Requests are written into an outgoing slab as they are issued and leave
 * together once per event-loop turn (one socket write per batch), closed by
 * an `mn` whose `MN` reply marks the batch's end. Replies are matched to
 * requests in FIFO order and each meta reply must echo its request's opaque
 * token: anything else means the stream is lost, and the connection is
 * dropped (every request in flight fails) and opened again.
 *
 * States: CONNECTING (TCP connect plus a first `mn` round trip, which proves
 * the backend answers; requests queue, bounded, with their deadlines),
 * READY, BACKOFF (after a failure, until the next attempt: requests fail at
 * once), CLOSED.
 */
import net from 'node:net';
import { SlabWriter, TextResponseParser, type TextReply } from '@cleave/protocol';
import { formatAddress, type Address, type Logger } from '@cleave/core';
import { Errors } from './errors.js';
import { Fifo } from './fifo.js';
import { DESYNC, Failure, MORE, OP_MN, Op, SKIP, decode, encodeOp, fail, settle } from './ops.js';
import { ReadSlabs } from './read-slabs.js';
import type { KeySlots } from './picker.js';

/** Where the backend listens: `{ host, port }` or `{ path }` (a unix socket). */
export type BackendAddress = Address;

export interface ConnectionConfig {
  readonly address: BackendAddress;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly backoffMinMs: number;
  readonly backoffMaxMs: number;
  readonly maxInFlight: number;
  readonly maxValueSize: number;
  readonly flushOn: 'immediate' | 'microtask';
  /** SO_KEEPALIVE on TCP connections. */
  readonly keepAlive?: boolean;
}

/**
 * Whether the backend is reachable, as the handler's connections together tell it: up while any connection is
 * ready, down once none is after a failure. Each change is logged once (a connection's retries while the backend
 * stays down are not), and one connection dropped while another stays ready only at debug.
 */
export class BackendHealth {
  /** Connections ready now. */
  private readyConns = 0;
  /** Whether any connection was ever ready. */
  private seen = false;
  /** Down (or never reached) since this time (ms since the epoch); 0 while up or not tried yet. */
  private downSince = 0;
  private readonly fields: { backend: string };

  constructor(
    address: Address,
    private readonly logger: Logger | undefined,
  ) {
    this.fields = { backend: formatAddress(address) };
  }

  /** Connections ready now. */
  get ready(): number {
    return this.readyConns;
  }

  /** A connection became ready. */
  connected(): void {
    if (++this.readyConns > 1) return;
    const logger = this.logger;
    if (!this.seen) {
      this.seen = true;
      logger?.info(this.downSince === 0 ? this.fields : { ...this.fields, downMs: Date.now() - this.downSince }, 'backend connected');
    } else if (this.downSince !== 0) {
      logger?.info({ ...this.fields, downMs: Date.now() - this.downSince }, 'backend is back');
    }
    this.downSince = 0;
  }

  /** A connection failed (`wasReady`: it had been ready) for `reason`; the backend is down when no connection stays ready. */
  failed(wasReady: boolean, reason: string): void {
    if (wasReady) this.readyConns--;
    const logger = this.logger;
    if (this.readyConns > 0) {
      if (wasReady) logger?.debug({ ...this.fields, reason }, 'backend connection dropped; others stay ready');
      return;
    }
    if (this.downSince !== 0) return;
    this.downSince = Date.now();
    if (this.seen) logger?.warn({ ...this.fields, reason }, 'backend went away');
    else logger?.warn({ ...this.fields, reason }, 'backend unreachable');
  }
}

/** The handler's own counters, shared by its connections. */
export class Counters {
  /** Requests written (or queued to be written) to the backend, batch-closing `mn`s excluded. */
  requests = 0;
  /** Requests that failed: timeouts, lost connections, backend SERVER_ERRORs, fail-fast refusals. */
  errors = 0;
  /** Times a connection was dropped because a reply did not come within timeoutMs. */
  timeouts = 0;
  /** Connection attempts that did not end ready within connectTimeoutMs. */
  connectTimeouts = 0;
  /** Connection attempts after the first one of each connection. */
  reconnects = 0;
  /** Connections that became ready. */
  connects = 0;
  /** Replies that did not match their request. */
  desyncs = 0;
  /** Requests refused at once: connection backing off, queue full. */
  rejected = 0;
  /** Socket writes (one per batch). */
  writes = 0;
  bytesWritten = 0;
  bytesRead = 0;
  /** Stores refused without a round trip: the item is over maxItemSize (memcached's store_too_large). */
  tooLarge = 0;
}

const ST_CONNECTING = 0;
const ST_READY = 1;
const ST_BACKOFF = 2;
const ST_CLOSED = 3;

const MN_LINE = Buffer.from('mn\r\n', 'latin1');
/** Bytes queued for a connection and not yet taken by the kernel, past which requests are refused (`backend busy`). */
const MAX_UNSENT_BYTES = 64 * 1024 * 1024;
/** Opaque ids stay below 2^31 (and never 0, which marks the opening round trip). */
const MAX_ID = 0x7fffffff;

export class BackendConnection {
  private state = ST_CONNECTING;
  private socket: net.Socket | undefined = undefined;
  private readonly parser: TextResponseParser;
  private readonly fifo = new Fifo<Op>(256);
  /** This turn's request lines; values of 2 KiB or more are referenced, not copied. */
  private readonly out = new SlabWriter({ referenceThreshold: 2048 });
  private readonly replies: TextReply[] = [];
  private nextId = 1;
  private flushScheduled = false;
  private timer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** A passed deadline waiting for this turn's replies to be read before it times the connection out. */
  private verdict: ReturnType<typeof setImmediate> | undefined = undefined;
  /** The deadline `timer` fires for. */
  private timerDue = 0;
  private backoffTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  /** Failed attempts since the last time the connection was ready. */
  private failures = 0;
  private attempts = 0;
  /** The current attempt's socket error, for diagnostics. */
  lastError: Error | undefined = undefined;

  constructor(
    private readonly cfg: ConnectionConfig,
    private readonly counters: Counters,
    /** Per-key slots of the handler's connection picker: an op's slot is released when it leaves this queue. */
    private readonly slots?: KeySlots,
    /** The backend's reachability, shared by the handler's connections. */
    private readonly health?: BackendHealth,
  ) {
    this.parser = new TextResponseParser({ maxValueSize: cfg.maxValueSize, maxLineLength: 8192 });
    this.connect();
  }

  get ready(): boolean {
    return this.state === ST_READY;
  }

  /** Requests written or queued and not yet answered. */
  get inFlight(): number {
    return this.fifo.length;
  }

  /**
   * Throw the reason this connection cannot take `n` more requests now, if
   * any: closed, backing off after a failure, or its queue is full (in
   * requests, or 64 MiB of bytes the backend has not taken yet).
   */
  check(n: number): void {
    const st = this.state;
    if (st === ST_BACKOFF || st === ST_CLOSED) {
      this.counters.rejected += n;
      this.counters.errors += n;
      throw st === ST_CLOSED ? Errors.shutdown : Errors.unavailable;
    }
    const socket = this.socket;
    if (
      this.fifo.length + n > this.cfg.maxInFlight ||
      this.out.length + (socket === undefined ? 0 : socket.writableLength) > MAX_UNSENT_BYTES
    ) {
      this.counters.rejected += n;
      this.counters.errors += n;
      throw Errors.busy;
    }
  }

  /** Queue `op` (after `check`): its line goes out with this turn's batch. `deadline` 0 = timeoutMs from now. */
  enqueue(op: Op, deadline = 0): void {
    op.id = this.nextId;
    this.nextId = this.nextId === MAX_ID ? 1 : this.nextId + 1;
    op.deadline = deadline !== 0 ? deadline : Date.now() + this.cfg.timeoutMs;
    encodeOp(this.out, op);
    this.fifo.push(op);
    if (op.kind !== OP_MN) this.counters.requests++;
    if (this.timer === undefined) this.armTimer();
    // While connecting, the timer runs for the opening round trip (connectTimeoutMs): the first
    // request queued behind it must still fail at its own, earlier deadline.
    else if (op.deadline < this.timerDue) {
      clearTimeout(this.timer);
      this.armTimer();
    }
    if (this.state === ST_READY && !this.flushScheduled) this.scheduleFlush();
  }

  private scheduleFlush(): void {
    this.flushScheduled = true;
    if (this.cfg.flushOn === 'microtask') queueMicrotask(this.flush);
    else setImmediate(this.flush);
  }

  /** Send everything queued since the last batch, closed by an `mn`, in one write. */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    const socket = this.socket;
    if (this.state !== ST_READY || socket === undefined || this.out.length === 0) return;
    const boundary = new Op(OP_MN, undefined);
    boundary.id = 0;
    boundary.deadline = Date.now() + this.cfg.timeoutMs;
    encodeOp(this.out, boundary);
    this.fifo.push(boundary);
    const chunks = this.out.take();
    this.counters.writes++;
    if (chunks.length === 1) {
      this.counters.bytesWritten += chunks[0]!.length;
      socket.write(chunks[0]!);
      return;
    }
    socket.cork();
    for (const c of chunks) {
      this.counters.bytesWritten += c.length;
      socket.write(c);
    }
    socket.uncork();
  };

  // -------------------------------------------------------------------------
  // Connecting
  // -------------------------------------------------------------------------

  private connect(): void {
    this.backoffTimer = undefined;
    if (this.state === ST_CLOSED) return;
    this.state = ST_CONNECTING;
    if (this.attempts++ > 0) this.counters.reconnects++;
    this.lastError = undefined;
    const addr = this.cfg.address;
    // Reads land in slabs of our own and come straight to onData (no Buffer per read, no Readable stream).
    const slabs = new ReadSlabs();
    const onread = {
      buffer: slabs.next,
      callback: (n: number): boolean => {
        const chunk = slabs.took(n);
        if (this.socket === socket) this.onData(chunk);
        return true;
      },
    };
    const socket = 'path' in addr ? net.connect({ path: addr.path, onread }) : net.connect({ port: addr.port, host: addr.host, onread });
    socket.setNoDelay(true);
    if (this.cfg.keepAlive === true && !('path' in addr)) socket.setKeepAlive(true);
    this.socket = socket;
    // A refused attempt (nothing listening at the address) fails what waited for it as refused, not as a dropped connection.
    let refused = false;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.lastError = err;
      refused = this.state === ST_CONNECTING && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT');
    });
    socket.on('close', () => {
      if (this.socket === socket) this.reset(refused ? Errors.refused : Errors.closed);
    });
    // The first round trip: the connection is ready once the backend answers it.
    const hello = new Op(OP_MN, undefined);
    hello.resolve = this.onHello;
    hello.deadline = Date.now() + this.cfg.connectTimeoutMs;
    this.fifo.push(hello);
    socket.write(MN_LINE);
    if (this.timer === undefined) this.armTimer();
  }

  private readonly onHello = (): void => {
    if (this.state !== ST_CONNECTING) return;
    this.state = ST_READY;
    this.failures = 0;
    this.counters.connects++;
    this.health?.connected();
    if (this.out.length > 0 && !this.flushScheduled) this.scheduleFlush();
  };

  /**
   * Drop the connection: fail every request in flight with `err`, then (unless
   * closed) back off and reconnect.
   */
  private reset(err: unknown): void {
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.out.discard();
    this.parser.reset();
    const fifo = this.fifo;
    while (fifo.length > 0) {
      const op = fifo.shift()!;
      this.slots?.release(op.slot);
      if (op.kind !== OP_MN) this.counters.errors++;
      // Batch boundaries have no caller; a flush barrier's `mn` does.
      if (op.resolve !== this.onHello) fail(op, err);
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.verdict !== undefined) {
      clearImmediate(this.verdict);
      this.verdict = undefined;
    }
    if (this.state === ST_CLOSED) return;
    this.health?.failed(this.state === ST_READY, this.lastError?.message ?? (err as Error).message);
    this.state = ST_BACKOFF;
    // Exponential backoff with jitter: half the step fixed, half random.
    const step = Math.min(this.cfg.backoffMaxMs, this.cfg.backoffMinMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    const delay = Math.max(1, Math.round(step / 2 + (Math.random() * step) / 2));
    this.backoffTimer = setTimeout(() => this.connect(), delay);
    this.backoffTimer.unref();
  }

  // -------------------------------------------------------------------------
  // Timeouts
  // -------------------------------------------------------------------------

  /** The earliest deadline in the queue: the head's, or while connecting the first request's behind the opening `mn`. */
  private nextDeadline(): number {
    const head = this.fifo.peek();
    if (head === undefined) return 0;
    if (head.resolve === this.onHello) {
      const next = this.fifo.at(1);
      if (next !== undefined && next.deadline < head.deadline) return next.deadline;
    }
    return head.deadline;
  }

  private armTimer(): void {
    const d = this.nextDeadline();
    if (d === 0) return;
    this.timerDue = d;
    this.timer = setTimeout(this.onTimer, Math.max(1, d - Date.now()));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    const d = this.nextDeadline();
    if (d === 0) return;
    if (d <= Date.now()) {
      // Timers run before the event loop reads the sockets: after a pause of this process (a long
      // garbage collection, a busy machine), replies that came in time may still be unread. Read
      // them first (an immediate runs after the sockets are polled), then judge.
      if (this.verdict === undefined) this.verdict = setImmediate(this.judge);
      return;
    }
    this.armTimer();
  };

  /** A deadline passed: time out the connection unless the replies read since have met it. */
  private readonly judge = (): void => {
    this.verdict = undefined;
    const d = this.nextDeadline();
    if (d === 0) return;
    if (d <= Date.now()) {
      // FIFO: nothing behind an unanswered request can have been answered either.
      // The backend is stalled or the connection is dead: start over.
      if (this.state === ST_CONNECTING) {
        this.counters.connectTimeouts++;
        this.reset(Errors.connectTimeout);
      } else {
        this.counters.timeouts++;
        this.reset(Errors.timeout);
      }
      return;
    }
    if (this.timer === undefined) this.armTimer();
  };

  // -------------------------------------------------------------------------
  // Replies
  // -------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    this.counters.bytesRead += chunk.length;
    const replies = this.replies;
    let broken = false;
    try {
      this.parser.feed(chunk, replies);
    } catch {
      // Bytes that are no memcached reply: handle what parsed, then start over.
      broken = true;
    }
    const now = Math.floor(Date.now() / 1000);
    const fifo = this.fifo;
    for (let i = 0; i < replies.length; i++) {
      const op = fifo.peek();
      if (op === undefined) {
        broken = true;
        break;
      }
      const v = decode(op, replies[i]!, now);
      if (v === MORE) {
        // A listing (stats) still coming in: each line read gives it another timeoutMs.
        op.deadline = Date.now() + this.cfg.timeoutMs;
        continue;
      }
      fifo.shift();
      this.slots?.release(op.slot);
      if (v === SKIP) continue;
      if (v === DESYNC) {
        this.counters.errors++;
        fail(op, Errors.desync);
        broken = true;
        break;
      }
      if (v instanceof Failure) {
        this.counters.errors++;
        fail(op, v.error);
      } else {
        settle(op, v);
      }
    }
    replies.length = 0;
    if (broken) {
      this.counters.desyncs++;
      this.reset(Errors.desync);
    }
  }

  /** Backing off after a failure: try to connect now instead of at the end of the backoff (a health probe wants an answer now). */
  wake(): void {
    if (this.state !== ST_BACKOFF) return;
    if (this.backoffTimer !== undefined) clearTimeout(this.backoffTimer);
    this.connect();
  }

  get connecting(): boolean {
    return this.state === ST_CONNECTING;
  }

  close(): void {
    if (this.state === ST_CLOSED) return;
    this.state = ST_CLOSED;
    if (this.backoffTimer !== undefined) {
      clearTimeout(this.backoffTimer);
      this.backoffTimer = undefined;
    }
    this.reset(Errors.shutdown);
  }
}
