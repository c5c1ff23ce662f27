import type { Socket } from 'node:net';
import {
  BinaryParser,
  HandlerError,
  ProtocolError,
  ResponseWriter,
  TextParser,
  binaryEncoder,
  metaEncoder,
  textEncoder,
  type Handler,
  type ItemView,
  type MultiGetRequest,
  type Request,
  type RequestParser,
  type ResponseEncoder,
} from '@cleave/protocol';
import { isPromise } from '@cleave/core';
import { shutdownMode } from './admin.js';
import { AuthSession } from './auth.js';
import { readIntoOwnBuffers } from './read-buffer.js';
import { countItems, countReply } from './counting.js';
import { encodeFailure, encodeMultiGetHits, encodeOutcome, outcomeBytes, runMultiGet, runRequest, type ServerContext } from './execute.js';
import { kindOf } from './metrics.js';
import type { ServerLimits } from './options.js';
import type { ConnInfo, ServerCounters } from './stats.js';

/** First byte of every binary request (memcached picks the protocol from it). */
const BINARY_REQUEST_MAGIC = 0x80;

/**
 * Keys of a text multi-get run per slice. A longer multi-get runs slice by
 * slice, its reply streaming out as it goes, so one request never holds more
 * than a slice of items (at most this many times the item size limit).
 */
export const MULTI_GET_SLICE = 64;

/**
 * Writers of connections that have nothing to encode, lent to the next one
 * that has: an idle connection holds no write buffer. Sharing is safe because
 * a writer never writes again over bytes it has handed out.
 *
 * The pool must hold as many writers as connections are busy at once: a
 * client waiting on a backend holds its writer, and each writer made anew is
 * a 64 KiB slab for the collector. With 8, fifty unpipelined clients of a
 * memcached backend halved the proxy's throughput and raised its p99 from
 * 1.5 ms to 5 ms. Kept writers cost only the slab pages they touched.
 */
const spareWriters: ResponseWriter[] = [];

/** Settled once: `RESOLVED.then(f)` runs `f` as a microtask. */
const RESOLVED = Promise.resolve();
const SPARE_WRITERS = 1024;

/** Why runInput stopped running requests. */
const enum Stop {
  /** Every request ran, a slice waits on a handler, or the connection is closing. */
  Done,
  /** The pending limit, or the socket over its budget: run more once replies drain. */
  Stalled,
  /** The replies encoded reach the budget: write them (outside runBatch), then run on. */
  Write,
}

/** Why a connection ends, for nutcracker's client_eof / client_err: the first cause seen decides. */
const enum EndCause {
  Unknown,
  /** The client closed its side or sent quit. */
  Client,
  /** A socket error, a closing protocol or auth error, an idle kick. */
  Error,
}

const enum SlotState {
  Pending,
  Done,
  Failed,
}

/** Which part of its request's reply a slot carries. */
const enum Part {
  Whole,
  /** Hits of one slice of a long multi-get. */
  Slice,
  /** Hits of the last slice, then END. */
  LastSlice,
}

/** A request whose reply must wait for an asynchronous answer, or for one ahead of it. */
interface Slot {
  req: Request;
  state: SlotState;
  outcome: unknown;
  part: Part;
  /** Value bytes the finished outcome holds (counted in `queuedBytes`). */
  bytes: number;
  /** A multi-get slice's first key. */
  start: number;
  /** When the request was read (performance.now()), with metrics on. */
  readAt: number;
}

/** Replies whose latency waits for their write; past it, the ones noted so far are observed at once. */
const TIMED_BATCH = 64;

function encoderFor(req: Request): ResponseEncoder {
  switch (req.protocol) {
    case 'binary':
      return binaryEncoder;
    case 'meta':
      return metaEncoder;
    default:
      return textEncoder;
  }
}

/**
 * One client connection: parse every complete request of a read, run them in
 * order, and send every reply produced by that read in one write.
 *
 * Requests run as soon as they are parsed, even while an earlier one waits
 * on an asynchronous handler (handlers must apply calls for one key in call
 * order); replies always leave in request order.
 *
 * Output is bounded: while the replies a connection has produced and not yet
 * handed to the kernel exceed `maxOutputBytes` (or `maxPendingRequests` wait on
 * handlers), the connection runs nothing more and reads nothing more; it
 * carries on when the socket drains. A long multi-get runs in slices of
 * `MULTI_GET_SLICE` keys under the same rule, so its reply streams.
 */
export class Connection {
  private parser: RequestParser | undefined;
  /** Requests parsed and not yet run: `input[inputPos..]`. */
  private readonly input: Request[] = [];
  private inputPos = 0;
  /** Next key to run of the long multi-get at `input[inputPos]` (0 = not started). */
  private sliceNext = 0;
  /** A slice of that multi-get is waiting on an asynchronous handler: run nothing more until it answers. */
  private sliceWaiting = false;
  /** A fatal parse error after the parsed requests: applied once they have run. */
  private fatal: unknown = undefined;
  /** Replies waiting for the head of the line; empty on the synchronous fast path. */
  private readonly queue: Slot[] = [];
  /** Value bytes held by finished replies in `queue`. */
  private queuedBytes = 0;
  /** Where replies are encoded; held only while the connection has work (see `spareWriters`). */
  private writer: ResponseWriter | undefined;
  /** Output budget in bytes: at least the socket's high-water mark, so exceeding it always ends in 'drain'. */
  private readonly budget: number;
  /** A quit or fatal error was seen: run nothing more, close once replies are out. */
  private closing = false;
  /** Graceful shutdown: read nothing more, run what was read, close once replies are out. */
  private draining = false;
  private ended = false;
  /** shutdown() was called (the server is closing), as opposed to quit, a fatal error or the client's half-close. */
  private stopping = false;
  private paused = false;
  private flushScheduled = false;
  private closed = false;
  private endCause = EndCause.Unknown;
  /** Authentication state, when the server requires it. */
  private readonly session: AuthSession | undefined;
  /** A text client that has not authenticated yet: its bytes go to the auth gate, not the parser. */
  private textAuthPending = false;
  /** A binary client with auth on: its packets go through the session (feedBinaryWithAuth). */
  private binaryAuth = false;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  /** The server's coarse clock (seconds) at the last read, for `stats conns`. */
  private lastRead: number;
  /** performance.now() at the last read, when latency is measured. */
  private readAt = 0;
  private readonly timed: boolean;
  /**
   * With latency measured: the kind and read time of each reply encoded since the last write. Their latency is
   * taken at the write that carries them, one clock read per write rather than per request (a clock read costs
   * about as much as a small request's parsing).
   */
  private readonly timedKinds: Uint8Array | undefined;
  private readonly timedReadAt: Float64Array | undefined;
  private timedCount = 0;
  /** The handler's `runBatch`, which runs one read's requests as one unit (see Handler). */
  private readonly runBatch: ((body: () => Stop) => Stop) | undefined;

  constructor(
    /** The connection's id in `stats conns`. */
    readonly id: number,
    /** Its listener's address, as `stats conns` shows it. */
    private readonly listenAddr: string,
    private readonly socket: Socket,
    private readonly handler: Handler,
    private readonly ctx: ServerContext,
    private readonly limits: ServerLimits,
    private readonly counters: ServerCounters,
    private readonly onError: (err: unknown) => void,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    this.lastRead = ctx.clock.now;
    this.runBatch = handler.runBatch?.bind(handler);
    this.timed = ctx.metrics.timed;
    if (this.timed) {
      this.timedKinds = new Uint8Array(TIMED_BATCH);
      this.timedReadAt = new Float64Array(TIMED_BATCH);
    }
    if (ctx.auth !== undefined) {
      const session = new AuthSession(ctx.auth, counters);
      this.session = session;
      this.ctx = { ...ctx, sasl: (enc, w, req) => session.encodeSasl(enc, w, req) };
    }
    this.budget = Math.max(limits.maxOutputBytes, socket.writableHighWaterMark);
    socket.setNoDelay(true);
    if (limits.idleTimeoutMs > 0) {
      socket.setTimeout(limits.idleTimeoutMs, () => {
        counters.idleKicks++;
        this.ending(EndCause.Error);
        socket.destroy();
      });
    }
    const ownBuffers = readIntoOwnBuffers(socket, {
      onData: (chunk) => this.onData(chunk),
      released: () => this.readReleased(),
    });
    if (!ownBuffers) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.run(true));
    // The client will send nothing more (it may still read, like `printf ... | nc`): answer
    // what it sent, then close, as memcached does. Needs the listener's allowHalfOpen.
    socket.on('end', () => {
      this.ending(EndCause.Client);
      this.shutdownInput();
    });
    socket.on('error', () => {
      // A reset client; 'close' follows.
      this.ending(EndCause.Error);
    });
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    this.counters.bytesRead += chunk.length;
    this.lastRead = this.ctx.clock.now;
    if (this.timed) this.readAt = performance.now();
    if (this.closing || this.draining || this.fatal !== undefined) return;
    let parser = this.parser;
    if (parser === undefined) {
      const binary = chunk[0] === BINARY_REQUEST_MAGIC;
      parser = binary ? new BinaryParser(this.limits) : new TextParser(this.limits);
      this.parser = parser;
      this.textAuthPending = !binary && this.session !== undefined;
      this.binaryAuth = binary && this.session !== undefined;
    }
    if (this.textAuthPending) {
      const rest = this.authenticateText(chunk);
      if (rest === undefined) return;
      chunk = rest;
    }
    if (this.binaryAuth) this.feedBinaryWithAuth(parser, chunk);
    else this.feed(parser, chunk);
    this.run(false);
  }

  /**
   * Whether nothing refers to the bytes of the last read any more, so its
   * buffer may be read into again: every request parsed so far has run and
   * been answered (a reply waiting on a handler still holds its request), and
   * the parser holds no view of them.
   */
  private readReleased(): boolean {
    if (this.input.length !== 0 || this.queue.length !== 0 || this.textAuthPending) return false;
    const parser = this.parser;
    return parser === undefined || parser.release();
  }

  private feed(parser: RequestParser, bytes: Buffer): void {
    try {
      parser.feed(bytes, this.input);
    } catch (err) {
      // Requests parsed before it still run; then the connection closes.
      this.fatal = err;
      this.ending(EndCause.Error);
      if (!(err instanceof ProtocolError)) this.onError(err);
    }
  }

  /**
   * A binary client with auth on: until it authenticates, packets pass the
   * session's gate one at a time; SASL requests are decided in read order and
   * commands before authentication are refused (AuthSession.admit).
   */
  private feedBinaryWithAuth(parser: RequestParser, chunk: Buffer): void {
    const session = this.session!;
    const input = this.input;
    let p = 0;
    while (p < chunk.length && this.fatal === undefined) {
      let bytes: Buffer;
      if (session.authenticated) {
        bytes = p === 0 ? chunk : chunk.subarray(p);
        p = chunk.length;
      } else {
        const step = session.gateBinary(chunk, p);
        p = step.next;
        if (step.refusal !== undefined) {
          // Answered in turn, then the connection closes.
          input.push(step.refusal);
          return;
        }
        if (step.feed === undefined) continue;
        bytes = step.feed;
      }
      const from = input.length;
      this.feed(parser, bytes);
      for (let i = from; i < input.length; i++) input[i] = session.admit(input[i]!);
    }
  }

  /**
   * Text before authentication: only memcached's auth `set` is understood
   * (AuthSession.feedText). Returns what follows a successful auth, for the parser.
   */
  private authenticateText(chunk: Buffer): Buffer | undefined {
    const session = this.session!;
    const rest = session.feedText(chunk, (this.writer ??= spareWriters.pop() ?? new ResponseWriter()));
    if (rest !== undefined) this.textAuthPending = false;
    if (rest !== undefined && rest.length > 0) return rest;
    // memcached closes, without a reply, a client that overruns its buffers before auth.
    if (session.mustClose) {
      this.closing = true;
      this.ending(EndCause.Error);
    }
    this.run(false);
    return undefined;
  }

  /**
   * Run parsed requests in order while the output budget allows, then write
   * what is ready and decide whether to read on. `flushAll` writes finished
   * replies even while a later one still waits on a handler.
   */
  private run(flushAll: boolean): void {
    if (this.closed) return;
    const input = this.input;
    const q = this.queue;
    const maxPending = this.limits.maxPendingRequests;
    if (this.inputPos < input.length) {
      this.writer ??= spareWriters.pop() ?? new ResponseWriter();
      let stalled = false;
      try {
        for (;;) {
          const stop = this.runBatch !== undefined ? this.runBatch(this.runInput) : this.runInput();
          if (stop !== Stop.Write) {
            stalled = stop === Stop.Stalled;
            break;
          }
          // Hand what is encoded to the socket, outside the handler's batch (no lock of its across a socket
          // write); stop while the socket itself is over budget.
          this.write();
          if (this.queuedBytes + this.socket.writableLength > this.budget) {
            stalled = true;
            break;
          }
        }
      } catch (err) {
        // Only a bug gets here (handler errors are answered per request): drop this client, keep the server.
        this.onError(err);
        this.closing = true;
        this.ending(EndCause.Error);
      }
      if (stalled) this.counters.outputStalls++;
    }
    if (this.inputPos >= input.length || this.closing) {
      // Every parsed request ran (or none more will): release them.
      input.length = 0;
      this.inputPos = 0;
      // memcached closes without a further reply once the stream cannot be resynchronised.
      if (this.fatal !== undefined) this.closing = true;
    } else {
      // Requests are waiting to run: read no more until they have.
      this.pause();
    }
    const w = this.writer;
    if (w !== undefined) {
      if (flushAll || q.length === 0) this.write();
      if (q.length === 0 && input.length === 0) {
        // Nothing left to encode: lend the writer out until this connection has work again.
        this.writer = undefined;
        if (spareWriters.length < SPARE_WRITERS) spareWriters.push(w);
      }
    }
    if (q.length >= maxPending && !this.paused) {
      this.counters.outputStalls++;
      this.pause();
    }
    this.maybeEnd();
    this.maybeResume();
  }

  /**
   * Run the parsed requests from `inputPos` while the output budget and the
   * pending limit allow, and say why it stopped. It never writes to the
   * socket: it runs inside the handler's `runBatch`. (A property, so
   * runBatch takes it without a closure per read.)
   */
  private readonly runInput = (): Stop => {
    const input = this.input;
    const q = this.queue;
    const w = this.writer!;
    const maxPending = this.limits.maxPendingRequests;
    // Bytes of replies the writer may gain before the budget is reached.
    const room = this.budget - this.socket.writableLength;
    while (this.inputPos < input.length && !this.closing) {
      if (this.sliceWaiting) return Stop.Done;
      if (q.length >= maxPending) return Stop.Stalled;
      if (w.length + this.queuedBytes > room) return w.length > 0 ? Stop.Write : Stop.Stalled;
      const req = input[this.inputPos]!;
      if (req.cmd === 'mget' && req.keys.length > MULTI_GET_SLICE) {
        if (!this.runSlices(req)) return this.sliceWaiting ? Stop.Done : Stop.Write;
      } else {
        this.dispatch(req);
      }
      this.inputPos++;
    }
    return Stop.Done;
  };

  private dispatch(req: Request): void {
    // quit, and errors after which memcached closes the connection, end the pipeline here.
    if (req.cmd === 'quit') {
      this.closing = true;
      this.ending(EndCause.Client);
    } else if (req.cmd === 'error' && req.error.fatal) {
      this.closing = true;
      this.ending(EndCause.Error);
    } else if (req.cmd === 'admin' && req.name === 'shutdown') {
      const mode = shutdownMode(req, this.ctx.shutdown !== undefined);
      if (mode !== undefined) {
        // As memcached: this connection closes without a reply (earlier replies still go out), then the server stops.
        this.closing = true;
        this.ending(EndCause.Client);
        this.ctx.shutdown!(mode);
        return;
      }
    }
    let outcome: unknown;
    let failed = false;
    try {
      outcome = runRequest(this.handler, req, this.ctx, this.id);
    } catch (err) {
      outcome = err;
      failed = true;
    }
    if (!failed && isPromise(outcome)) {
      this.await(req, outcome, Part.Whole, 0);
      return;
    }
    this.finished(req, failed ? SlotState.Failed : SlotState.Done, outcome, Part.Whole, 0);
  }

  /**
   * Run the keys of a long multi-get slice by slice, from `sliceNext`, while
   * the output budget allows. True once every key has run (its last slice may
   * still be waiting on a handler); false when it must resume later.
   */
  private runSlices(req: MultiGetRequest): boolean {
    const n = req.keys.length;
    let i = this.sliceNext;
    for (;;) {
      const end = i + MULTI_GET_SLICE < n ? i + MULTI_GET_SLICE : n;
      const part = end === n ? Part.LastSlice : Part.Slice;
      let outcome: unknown;
      let failed = false;
      try {
        outcome = runMultiGet(this.handler, req, i, end);
      } catch (err) {
        outcome = err;
        failed = true;
      }
      if (!failed && isPromise(outcome)) {
        this.await(req, outcome, part, i);
        if (part === Part.LastSlice) break;
        // One slice in flight at a time: the next one runs once this one has answered.
        this.sliceWaiting = true;
        this.sliceNext = end;
        return false;
      }
      this.finished(req, failed ? SlotState.Failed : SlotState.Done, outcome, part, i);
      // A failed slice ends the reply (SERVER_ERROR, no END): the remaining keys do not run.
      if (failed || part === Part.LastSlice) break;
      i = end;
      if (this.writer!.length + this.queuedBytes + this.socket.writableLength > this.budget) {
        // The caller writes what is encoded, then resumes at `sliceNext` or waits for the socket to drain.
        this.sliceNext = i;
        return false;
      }
    }
    this.sliceNext = 0;
    return true;
  }

  /** A synchronous outcome: encode it now when nothing waits ahead of it, else queue it. */
  private finished(req: Request, state: SlotState, outcome: unknown, part: Part, start: number): void {
    if (this.queue.length === 0) {
      this.encode(req, state, outcome, part, start, this.readAt);
      return;
    }
    const bytes = state === SlotState.Done ? outcomeBytes(req, outcome) : 0;
    this.queuedBytes += bytes;
    this.queue.push({ req, state, outcome, part, bytes, start, readAt: this.readAt });
  }

  /** An asynchronous outcome: hold its place in line until it settles. */
  private await(req: Request, outcome: Promise<unknown>, part: Part, start: number): void {
    const slot: Slot = { req, state: SlotState.Pending, outcome: undefined, part, bytes: 0, start, readAt: this.readAt };
    this.queue.push(slot);
    outcome.then(
      (v) => {
        slot.state = SlotState.Done;
        slot.outcome = v;
        slot.bytes = outcomeBytes(req, v);
        this.queuedBytes += slot.bytes;
        if (part === Part.Slice) this.sliceWaiting = false;
        this.drainQueue();
      },
      (err) => {
        slot.state = SlotState.Failed;
        slot.outcome = err;
        if (part === Part.Slice && !this.closed) {
          // The reply ends with this failure: run none of the multi-get's remaining keys.
          this.sliceWaiting = false;
          this.sliceNext = 0;
          this.inputPos++;
        }
        this.drainQueue();
      },
    );
  }

  /**
   * Encode one reply and count it: memcached's command counters from the
   * outcome, the request and, with metrics on, its latency since `readAt`.
   */
  private encode(req: Request, state: SlotState, outcome: unknown, part: Part, start: number, readAt: number): void {
    const enc = encoderFor(req);
    const w = this.writer!;
    const ctx = this.ctx;
    const kind = kindOf(req);
    if (state === SlotState.Failed) {
      // A HandlerError is the handler saying no; anything else is a fault worth reporting.
      if (!(outcome instanceof HandlerError)) this.onError(outcome);
      encodeFailure(enc, w, req, outcome);
      ctx.metrics.errors[kind]!++;
    } else if (part === Part.Whole) {
      countReply(this.counters, ctx.detail, req, outcome);
      encodeOutcome(enc, w, req, outcome, ctx, this.id);
    } else {
      const mget = req as MultiGetRequest;
      const items = outcome as (ItemView | undefined)[];
      countItems(this.counters, ctx.detail, mget, items, start);
      encodeMultiGetHits(enc, w, mget, items);
      if (part === Part.LastSlice) enc.mgetEnd(w, mget);
      // One request, counted with its last slice.
      else return;
    }
    ctx.metrics.requests[kind]!++;
    if (this.timed) {
      if (this.timedCount === TIMED_BATCH) this.observeTimed();
      this.timedKinds![this.timedCount] = kind;
      this.timedReadAt![this.timedCount++] = readAt;
    }
  }

  /** Observe the latency of the replies encoded since the last write, up to now. */
  private observeTimed(): void {
    const n = this.timedCount;
    if (n === 0) return;
    this.timedCount = 0;
    const now = performance.now();
    const metrics = this.ctx.metrics;
    const kinds = this.timedKinds!;
    const readAt = this.timedReadAt!;
    for (let i = 0; i < n; i++) metrics.observe(kinds[i]!, (now - readAt[i]!) / 1000);
  }

  /** Encode every finished reply at the head of the line, then write them together. */
  private drainQueue(): void {
    const q = this.queue;
    if (this.closed) {
      q.length = 0;
      this.queuedBytes = 0;
      return;
    }
    let n = 0;
    while (n < q.length && q[n]!.state !== SlotState.Pending) {
      const s = q[n]!;
      this.encode(s.req, s.state, s.outcome, s.part, s.start, s.readAt);
      this.queuedBytes -= s.bytes;
      n++;
    }
    if (n === q.length) {
      q.length = 0;
    } else if (n > 0) {
      // In place: splice would allocate an array of the removed slots.
      q.copyWithin(0, n);
      q.length -= n;
    }
    // Replies resolved in the same tick (a batched backend answers many at once) share one write.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // A reaction on a settled Promise: queueMicrotask would wrap each call in an AsyncResource.
      RESOLVED.then(this.flushReplies);
    }
  }

  private readonly flushReplies = (): void => {
    this.flushScheduled = false;
    this.run(true);
  };

  /** Hand every encoded reply to the socket; stop reading when it pushes back. */
  private write(): void {
    if (this.timedCount > 0) this.observeTimed();
    if (this.closed) return;
    const chunks = this.writer!.take();
    const socket = this.socket;
    let ok = true;
    if (chunks.length === 1) {
      this.counters.bytesWritten += chunks[0]!.length;
      ok = socket.write(chunks[0]!);
    } else if (chunks.length > 1) {
      socket.cork();
      for (const c of chunks) {
        this.counters.bytesWritten += c.length;
        ok = socket.write(c);
      }
      socket.uncork();
    }
    if (!ok) this.pause();
  }

  /** quit, a fatal error or shutdown: close once every reply is out, as memcached does. */
  private maybeEnd(): void {
    if (
      (this.closing || this.draining) &&
      !this.ended &&
      !this.closed &&
      this.queue.length === 0 &&
      (this.closing || this.inputPos >= this.input.length)
    ) {
      this.ended = true;
      const socket = this.socket;
      if (this.stopping) {
        // Server shutdown: half-close and let the client close its end, reading (and dropping) what it
        // still sends meanwhile. Closing with bytes unread would send a reset, which discards replies
        // still on their way and cuts one in the middle. shutdown()'s grace timer ends the rest.
        socket.end();
        socket.resume();
      } else {
        socket.end(() => socket.destroy());
      }
    }
  }

  private pause(): void {
    if (!this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  private maybeResume(): void {
    if (
      this.paused &&
      !this.closing &&
      !this.draining &&
      this.inputPos >= this.input.length &&
      this.queue.length < this.limits.maxPendingRequests &&
      this.socket.writableLength < this.socket.writableHighWaterMark
    ) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Read nothing more; run what was read, answer it, then close. */
  private shutdownInput(): void {
    this.draining = true;
    this.pause();
    this.run(false);
  }

  /** Graceful shutdown: read nothing more, finish what was read, then close. */
  shutdown(graceMs: number): Promise<void> {
    this.stopping = true;
    this.shutdownInput();
    const t = setTimeout(() => this.socket.destroy(), graceMs);
    t.unref();
    return this.done.finally(() => clearTimeout(t));
  }

  /** This connection in `stats conns`; `asking` is the id of the connection that asks. */
  info(asking: number): ConnInfo {
    const s = this.socket;
    let state: string;
    if (this.id === asking) state = 'conn_parse_cmd';
    else if (this.closing || this.draining) state = 'conn_closing';
    else if (this.paused) state = 'conn_mwrite';
    else if (this.parser === undefined) state = 'conn_new_cmd';
    else state = 'conn_read';
    const addr = s.remoteAddress === undefined ? this.listenAddr : socketAddress(s.remoteFamily, s.remoteAddress, s.remotePort);
    return { id: this.id, addr, listenAddr: this.listenAddr, state, lastCmd: this.lastRead };
  }

  /** Note why the connection is ending, unless an earlier cause was noted. */
  private ending(cause: EndCause): void {
    if (this.endCause === EndCause.Unknown) this.endCause = cause;
  }

  private onClose(): void {
    this.closed = true;
    // Replies encoded and never written still count in the histogram, as they do in the request counts.
    if (this.timedCount > 0) this.observeTimed();
    // nutcracker's rule: a close the client began is an eof, any other close an error (the server's own included).
    if (this.endCause === EndCause.Client) this.counters.clientEof++;
    else this.counters.clientErr++;
    this.input.length = 0;
    this.inputPos = 0;
    this.resolveDone();
  }
}

/** An address as memcached's `stats conns` prints it: `tcp:127.0.0.1:11211`, `tcp6:[::1]:11211`. */
export function socketAddress(family: string | undefined, address: string, port: number | undefined): string {
  const host = family === 'IPv6' ? `tcp6:[${address}]` : `tcp:${address}`;
  return port === undefined || port === 0 ? host : `${host}:${port}`;
}
