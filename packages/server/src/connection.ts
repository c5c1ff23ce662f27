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
  type ParserLimits,
  type Request,
  type RequestParser,
  type ResponseEncoder,
} from '@cleave/protocol';
import { encodeFailure, encodeOutcome, isPromise, runRequest, type ServerContext } from './execute.js';
import type { ServerLimits } from './options.js';
import type { ServerCounters } from './stats.js';

/** First byte of every binary request (memcached picks the protocol from it). */
const BINARY_REQUEST_MAGIC = 0x80;

const enum SlotState {
  Pending,
  Done,
  Failed,
}

/** A request whose reply must wait for an asynchronous answer, or for one ahead of it. */
interface Slot {
  req: Request;
  state: SlotState;
  outcome: unknown;
}

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
 */
export class Connection {
  private parser: RequestParser | undefined;
  private readonly requests: Request[] = [];
  /** Replies waiting for the head of the line; empty on the synchronous fast path. */
  private readonly queue: Slot[] = [];
  private readonly writer = new ResponseWriter();
  /** A quit or fatal error was seen: run nothing more, close once replies are out. */
  private closing = false;
  private paused = false;
  private flushScheduled = false;
  private closed = false;
  /** Resolves when the connection has closed. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly socket: Socket,
    private readonly orch: Handler,
    private readonly ctx: ServerContext,
    private readonly limits: ServerLimits,
    private readonly parserLimits: ParserLimits,
    private readonly counters: ServerCounters,
    private readonly onError: (err: unknown) => void,
  ) {
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    socket.setNoDelay(true);
    if (limits.idleTimeoutMs > 0) {
      socket.setTimeout(limits.idleTimeoutMs, () => {
        counters.idleKicks++;
        socket.destroy();
      });
    }
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    // The client will send nothing more (it may still read, like `printf ... | nc`): answer
    // what it sent, then close, as memcached does. Needs the listener's allowHalfOpen.
    socket.on('end', () => this.onEnd());
    socket.on('error', () => {
      /* a reset client; 'close' follows */
    });
    socket.on('close', () => this.onClose());
  }

  private onData(chunk: Buffer): void {
    this.counters.bytesRead += chunk.length;
    if (this.closing) return;
    let parser = this.parser;
    if (parser === undefined) {
      parser = chunk[0] === BINARY_REQUEST_MAGIC ? new BinaryParser(this.parserLimits) : new TextParser(this.parserLimits);
      this.parser = parser;
    }
    const reqs = this.requests;
    let fatal: unknown;
    try {
      parser.feed(chunk, reqs);
    } catch (err) {
      fatal = err;
    }
    try {
      for (let i = 0; i < reqs.length && !this.closing; i++) this.dispatch(reqs[i]!);
    } catch (err) {
      // Only a bug gets here (handler errors are answered per request): drop this client, keep the server.
      this.onError(err);
      fatal ??= err;
    } finally {
      reqs.length = 0;
    }
    if (fatal !== undefined) {
      if (!(fatal instanceof ProtocolError)) this.onError(fatal);
      // memcached closes without a further reply once the stream cannot be resynchronised.
      this.closing = true;
    }
    if (this.queue.length === 0) this.flush();
    else if (this.queue.length >= this.limits.maxPendingRequests) this.pause();
  }

  private dispatch(req: Request): void {
    // quit, and errors after which memcached closes the connection, end the pipeline here.
    if (req.cmd === 'quit' || (req.cmd === 'error' && req.error.fatal)) this.closing = true;
    let outcome: unknown;
    let failed = false;
    try {
      outcome = runRequest(this.orch, req);
    } catch (err) {
      outcome = err;
      failed = true;
    }
    if (!failed && isPromise(outcome)) {
      const slot: Slot = { req, state: SlotState.Pending, outcome: undefined };
      this.queue.push(slot);
      outcome.then(
        (v) => {
          slot.state = SlotState.Done;
          slot.outcome = v;
          this.drainQueue();
        },
        (err) => {
          slot.state = SlotState.Failed;
          slot.outcome = err;
          this.drainQueue();
        },
      );
      return;
    }
    if (this.queue.length === 0) {
      this.encode(req, failed ? SlotState.Failed : SlotState.Done, outcome);
    } else {
      this.queue.push({ req, state: failed ? SlotState.Failed : SlotState.Done, outcome });
    }
  }

  private encode(req: Request, state: SlotState, outcome: unknown): void {
    const enc = encoderFor(req);
    if (state === SlotState.Failed) {
      // A HandlerError is the handler saying no; anything else is a fault worth reporting.
      if (!(outcome instanceof HandlerError)) this.onError(outcome);
      encodeFailure(enc, this.writer, req, outcome);
    } else {
      encodeOutcome(enc, this.writer, req, outcome, this.ctx);
    }
  }

  /** Encode every finished reply at the head of the line, then write them together. */
  private drainQueue(): void {
    const q = this.queue;
    let n = 0;
    while (n < q.length && q[n]!.state !== SlotState.Pending) {
      const s = q[n]!;
      this.encode(s.req, s.state, s.outcome);
      n++;
    }
    if (n > 0) q.splice(0, n);
    // Replies resolved in the same tick (a batched backend answers many at once) share one write.
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => {
        this.flushScheduled = false;
        this.flush();
        this.maybeResume();
      });
    }
  }

  private flush(): void {
    if (this.closed) return;
    const chunks = this.writer.take();
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
    // quit or a fatal error: close once every reply is out, as memcached does.
    if (this.closing && this.queue.length === 0) socket.end(() => socket.destroy());
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
      this.queue.length < this.limits.maxPendingRequests &&
      this.socket.writableLength < this.socket.writableHighWaterMark
    ) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Graceful shutdown: read nothing more, finish what was read, then close. */
  shutdown(graceMs: number): Promise<void> {
    this.closing = true;
    this.socket.pause();
    if (this.queue.length === 0) this.flush();
    const t = setTimeout(() => this.socket.destroy(), graceMs);
    t.unref();
    return this.done.finally(() => clearTimeout(t));
  }

  private onEnd(): void {
    this.closing = true;
    if (this.queue.length === 0) this.flush();
  }

  private onClose(): void {
    this.closed = true;
    this.resolveDone();
  }
}
