/**
 * The load engine: a set of pipelined connections driven from one thread.
 *
 * Each connection keeps up to `depth` requests in flight. A turn — the
 * connection connected, or a chunk of replies arrived — fills the pipeline
 * back up and sends the new requests with one socket write. Replies are
 * parsed in place from the received chunks, matched in order to the ring of
 * requests in flight, checked, and timed: one clock read per batch written
 * and one per chunk received, never one per request.
 *
 * One file (over 600 lines) because the connection ring, the batch writer and
 * the reply checker share per-connection state on the hot loop.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  BINARY_HEADER_LENGTH,
  BinaryExtras,
  BinaryExtrasField as X,
  BinaryHeader as H,
  ProtocolError,
  TextResponseParser,
  type MetaReply,
  type TextReply,
} from '@cleave/protocol';
import { BinaryFramingError, BinaryReplyParser } from './binary-reply.js';
import {
  ADD,
  APPEND,
  CAS,
  COMMAND_NAMES,
  COUNTER,
  DECR,
  DELETE,
  GAT,
  GETS,
  INCR,
  ITEM,
  PREPEND,
  REPLACE,
  SET,
  TOUCH,
  isRetrieval,
} from './commands.js';
import { type KeyState, UNKNOWN_CAS } from './key-state.js';
import type { KeySpace } from './keys.js';
import { EXPECT_ANY, EXPECT_MISS, Op } from './op.js';
import { decimalLength, Out } from './out.js';
import { dump, type ErrorSample, type RunStats } from './stats.js';
import { BINARY_OPCODE, type ProtocolName, type RequestWriter } from './templates.js';
import type { ValueSource } from './values.js';
import { FAILED, HIT, MISS, type ConnInfo, type Workload } from './workloads.js';

export type Target = { host: string; port: number } | { path: string };

export interface EngineConfig {
  target: Target;
  protocol: ProtocolName;
  conns: number;
  depth: number;
  verify: boolean;
  /** A connection with requests in flight and no reply for this long fails. */
  timeoutMs: number;
  keys: KeySpace;
  values: ValueSource;
  writer: RequestWriter;
  keyState: KeyState;
  /** Largest data block a reply may carry. */
  maxValueSize: number;
}

export interface PhaseLimits {
  durationMs?: number;
  requests?: number;
}

// Canonical outcomes of a reply, whatever the protocol.
const R_OK = 0; // STORED / DELETED / TOUCHED / HD
const R_NOT_STORED = 1;
const R_EXISTS = 2;
const R_NOT_FOUND = 3;
const R_VALUE = 4; // a retrieval hit (item follows)
const R_END = 5; // a retrieval miss
const R_NUMBER = 6; // incr/decr result
const R_OTHER = 7; // anything else

const OUTCOME_NAMES = ['STORED/DELETED/TOUCHED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'VALUE', 'END (miss)', 'number', 'other'];

/** Per command: the reply that is a hit, and the bit mask of replies that are misses. */
const HIT_REPLY: number[] = [];
const MISS_REPLIES: number[] = [];
(function table() {
  const bit = (...r: number[]) => r.reduce((m, x) => m | (1 << x), 0);
  const put = (cmd: number, hit: number, miss: number) => {
    HIT_REPLY[cmd] = hit;
    MISS_REPLIES[cmd] = miss;
  };
  for (const c of [0, GETS, GAT]) put(c, R_VALUE, bit(R_END));
  put(SET, R_OK, 0);
  put(ADD, R_OK, bit(R_NOT_STORED));
  put(REPLACE, R_OK, bit(R_NOT_STORED));
  put(APPEND, R_OK, bit(R_NOT_STORED));
  put(PREPEND, R_OK, bit(R_NOT_STORED));
  put(CAS, R_OK, bit(R_EXISTS, R_NOT_FOUND));
  put(DELETE, R_OK, bit(R_NOT_FOUND));
  put(INCR, R_NUMBER, bit(R_NOT_FOUND));
  put(DECR, R_NUMBER, bit(R_NOT_FOUND));
  put(TOUCH, R_OK, bit(R_NOT_FOUND));
})();

const TEXT_STATUS: Record<string, number> = {
  STORED: R_OK,
  DELETED: R_OK,
  TOUCHED: R_OK,
  NOT_STORED: R_NOT_STORED,
  EXISTS: R_EXISTS,
  NOT_FOUND: R_NOT_FOUND,
};

// Binary status codes (protocol_binary.h).
const B_SUCCESS = 0x00;
const B_KEY_ENOENT = 0x01;
const B_KEY_EEXISTS = 0x02;
const B_NOT_STORED = 0x05;

/** A connection and its ring of requests in flight. */
class Connection implements ConnInfo {
  socket: net.Socket | undefined = undefined;
  readonly ring: Op[];
  readonly mask: number;
  head = 0;
  count = 0;
  readonly out = new Out();
  readonly text: TextResponseParser | undefined;
  readonly binary: BinaryReplyParser | undefined;
  readonly replies: TextReply[] = [];
  readonly packets: Buffer[] = [];
  /** When a reply last arrived or a batch was sent to an idle connection. */
  lastActivity = 0;
  /** Connected and not failed. */
  ready = false;
  /** The workload has nothing more for this connection in this phase. */
  exhausted = false;
  /** Given up on (could not reconnect). */
  dead = false;

  constructor(
    readonly slot: number,
    public id: number,
    depth: number,
    protocol: ProtocolName,
    maxValueSize: number,
  ) {
    let size = 1;
    while (size < depth) size <<= 1;
    this.ring = Array.from({ length: size }, () => new Op());
    this.mask = size - 1;
    if (protocol === 'binary') this.binary = new BinaryReplyParser(maxValueSize + 4096);
    else this.text = new TextResponseParser({ maxValueSize, maxLineLength: 8192 });
  }
}

export class Engine {
  private readonly conns: Connection[] = [];
  private nextId = 0;
  private seq = 0;
  private workload: Workload | undefined = undefined;
  private stats: RunStats | undefined = undefined;
  private remaining = Infinity;
  private stopping = true;
  private finish: (() => void) | undefined = undefined;
  private timers: NodeJS.Timeout[] = [];
  private readonly depth: number;

  constructor(private readonly cfg: EngineConfig) {
    this.depth = cfg.depth;
  }

  /** Open every connection. Rejects when the server cannot be reached. */
  async connect(): Promise<void> {
    for (let slot = 0; slot < this.cfg.conns; slot++) {
      const c = new Connection(slot, this.nextId++, this.cfg.depth, this.cfg.protocol, this.cfg.maxValueSize);
      this.conns.push(c);
    }
    // Wait for every attempt, so none is left pending when one fails.
    const results = await Promise.allSettled(this.conns.map((c) => this.open(c)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private open(c: Connection): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = this.cfg.target;
      const socket = 'path' in t ? net.connect({ path: t.path }) : net.connect({ host: t.host, port: t.port });
      c.socket = socket;
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connecting to ${describeTarget(t)} timed out`));
      }, this.cfg.timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        c.ready = true;
        c.lastActivity = performance.now();
        resolve();
        this.pump(c);
      });
      socket.on('data', (chunk: Buffer) => {
        if (c.socket === socket) this.onData(c, chunk);
      });
      socket.on('error', (err: Error) => {
        clearTimeout(timer);
        if (!c.ready) {
          reject(new Error(`cannot connect to ${describeTarget(t)}: ${err.message}`));
          return;
        }
        if (c.socket === socket) this.fail(c, 'connection', `connection error: ${err.message}`);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        if (c.socket === socket && c.ready && (c.count > 0 || !this.stopping)) {
          this.fail(c, 'connection', 'the server closed the connection');
        }
      });
    });
  }

  /**
   * Run one phase: keep the pipelines full with `workload` until the time or
   * request budget is spent or the workload ends, then wait for every reply.
   */
  run(workload: Workload, stats: RunStats, limits: PhaseLimits): Promise<void> {
    this.workload = workload;
    this.stats = stats;
    this.remaining = limits.requests ?? Infinity;
    this.stopping = false;
    for (const c of this.conns) c.exhausted = false;
    return new Promise<void>((resolve) => {
      this.finish = () => {
        for (const t of this.timers) clearTimeout(t);
        this.timers = [];
        this.finish = undefined;
        resolve();
      };
      if (limits.durationMs !== undefined) {
        this.timers.push(
          setTimeout(() => {
            this.stopping = true;
            this.checkDone();
          }, limits.durationMs),
        );
      }
      this.timers.push(setInterval(() => this.watchdog(), Math.min(250, this.cfg.timeoutMs / 4)));
      for (const c of this.conns) this.pump(c);
      this.checkDone();
    });
  }

  /** Stop sending new requests now (the phase ends when replies are in). */
  stop(): void {
    this.stopping = true;
    this.checkDone();
  }

  /** Requests in flight on every connection. */
  get inFlight(): number {
    let n = 0;
    for (const c of this.conns) n += c.count;
    return n;
  }

  close(): void {
    for (const c of this.conns) {
      c.ready = false;
      const s = c.socket;
      c.socket = undefined;
      s?.destroy();
    }
  }

  private checkDone(): void {
    if (this.finish === undefined) return;
    let idle = true;
    let allExhausted = true;
    for (const c of this.conns) {
      if (c.count > 0 && !c.dead) idle = false;
      if (!c.exhausted && !c.dead) allExhausted = false;
    }
    if (idle && (this.stopping || allExhausted || this.remaining === 0)) {
      this.stopping = true;
      this.finish();
    }
  }

  private watchdog(): void {
    const now = performance.now();
    for (const c of this.conns) {
      if (c.ready && c.count > 0 && now - c.lastActivity > this.cfg.timeoutMs) {
        const op = c.ring[c.head]!;
        this.fail(
          c,
          'timeout',
          `no reply for ${(this.cfg.timeoutMs / 1000).toFixed(1)} s to ${COMMAND_NAMES[op.cmd]} ${this.keyName(op)} (${c.count} requests in flight)`,
        );
      }
    }
  }

  // -------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------

  private pump(c: Connection): void {
    if (!c.ready || this.stopping || c.exhausted || this.workload === undefined) return;
    const depth = this.depth;
    if (c.count > depth - 1) return; // REFILL
    const wl = this.workload;
    const writer = this.cfg.writer;
    const ring = c.ring;
    const mask = c.mask;
    const out = c.out;
    const now = performance.now();
    const wasIdle = c.count === 0;
    let issued = 0;
    while (c.count < depth) {
      if (this.remaining <= 0) {
        c.exhausted = true;
        break;
      }
      const op = ring[(c.head + c.count) & mask]!;
      if (!wl.next(c, op)) {
        c.exhausted = true;
        break;
      }
      this.remaining--;
      this.prepare(c, op);
      op.sent = now;
      writer.write(out, op);
      c.count++;
      issued++;
    }
    if (issued > 0) {
      if (wasIdle) c.lastActivity = now;
      const batch = out.take();
      this.stats!.bytesSent += batch.length;
      this.stats!.writes++;
      c.socket!.write(batch);
    }
  }

  /** Fill in what the engine owns: sequence number, generation, CAS, expectations. */
  private prepare(c: Connection, op: Op): void {
    op.seq = ++this.seq >>> 0;
    op.gotValue = false;
    op.failed = false;
    op.expect = EXPECT_ANY;
    const ks = this.cfg.keyState;
    const k = op.key;
    switch (op.family) {
      case ITEM:
        switch (op.cmd) {
          case SET:
            op.flags = ks.nextGen(k);
            ks.set(c.id, k, op.flags, op.len);
            break;
          case ADD:
          case REPLACE:
            op.flags = ks.nextGen(k);
            ks.conditional(c.id, k);
            break;
          case CAS: {
            op.flags = ks.nextGen(k);
            const cas = ks.cas[k]!;
            op.cas = cas === 0 ? UNKNOWN_CAS : cas;
            ks.cas[k] = 0;
            ks.conditional(c.id, k);
            break;
          }
          case DELETE:
            ks.delete(c.id, k);
            break;
          default:
            if (isRetrieval(op.cmd)) {
              op.expect = ks.expect(c.id, k);
              if (op.expect > 0) op.expectLen = ks.expectedLength(k);
            }
        }
        break;
      case COUNTER:
        op.flags = 0;
        if (op.cmd === SET) op.len = decimalLength(op.num);
        break;
      default:
        op.flags = 0;
    }
  }

  // -------------------------------------------------------------------------
  // Receiving
  // -------------------------------------------------------------------------

  private onData(c: Connection, chunk: Buffer): void {
    const now = performance.now();
    c.lastActivity = now;
    this.stats!.bytesReceived += chunk.length;
    this.stats!.reads++;
    if (c.text !== undefined) {
      const replies = c.replies;
      let broken: unknown;
      try {
        c.text.feed(chunk, replies);
      } catch (e) {
        broken = e;
      }
      for (let i = 0; i < replies.length && c.ready; i++) this.onTextReply(c, replies[i]!, now);
      replies.length = 0;
      if (broken !== undefined && c.ready) {
        const msg = broken instanceof ProtocolError || broken instanceof Error ? broken.message : String(broken);
        this.fail(c, 'framing', `reply stream broken: ${msg}`, chunk);
      }
    } else {
      const packets = c.packets;
      let broken: unknown;
      try {
        c.binary!.feed(chunk, packets);
      } catch (e) {
        broken = e;
      }
      for (let i = 0; i < packets.length && c.ready; i++) this.onPacket(c, packets[i]!, now);
      packets.length = 0;
      if (broken !== undefined && c.ready) {
        const bytes = broken instanceof BinaryFramingError ? broken.bytes : chunk;
        this.fail(c, 'framing', `reply stream broken: ${(broken as Error).message}`, bytes);
      }
    }
    this.pump(c);
    this.checkDone();
  }

  /** The request a reply answers, or undefined (and an error) when none is in flight. */
  private head(c: Connection, reply: TextReply | Buffer): Op | undefined {
    if (c.count === 0) {
      this.error(undefined, {
        kind: 'unexpected_reply',
        command: '-',
        key: '-',
        detail: 'a reply arrived with no request in flight',
        got: dump(bytesOf(reply)),
      });
      return undefined;
    }
    return c.ring[c.head]!;
  }

  private onTextReply(c: Connection, r: TextReply, now: number): void {
    const op = this.head(c, r);
    if (op === undefined) return;
    const cmd = op.cmd;
    if (this.cfg.protocol === 'text' && isRetrieval(cmd)) {
      // A text retrieval answers VALUE ... (at most once for one key), then END.
      if (r.kind === 'value') {
        if (op.gotValue) {
          op.failed = true;
          this.error(op, { kind: 'unexpected_reply', detail: 'a second VALUE for a one-key get', got: dump(r.value) });
        } else {
          op.gotValue = true;
          if (!this.checkItem(c, op, r.key, r.flags, r.value)) op.failed = true;
          if (cmd === GETS && r.cas !== undefined && op.family === ITEM) this.cfg.keyState.cas[op.key] = Number(r.cas);
        }
        return;
      }
      if (r.kind === 'end') {
        this.complete(c, op, op.failed ? FAILED : op.gotValue ? HIT : MISS, now);
        return;
      }
    }
    let reply = R_OTHER;
    switch (r.kind) {
      case 'status':
        reply = TEXT_STATUS[r.status] ?? R_OTHER;
        break;
      case 'number':
        reply = R_NUMBER;
        break;
      case 'meta':
        this.onMetaReply(c, op, r, now);
        return;
      case 'error':
        this.error(op, {
          kind: 'error_reply',
          detail: `server answered ${r.error}${r.message ? ' ' + r.message : ''}`,
          got: dump(replyBytes(r)),
        });
        this.complete(c, op, FAILED, now);
        return;
    }
    this.finishReply(c, op, reply, r, now);
  }

  private onMetaReply(c: Connection, op: Op, r: MetaReply, now: number): void {
    const cmd = op.cmd;
    let ok = true;
    if (this.cfg.verify) {
      // Every meta request carries O<seq> and k: both must come back as sent.
      if (r.opaque === undefined || !decimalEquals(r.opaque, op.seq)) {
        ok = false;
        this.error(op, {
          kind: 'wrong_opaque',
          detail: `meta reply ${r.code} carries opaque ${r.opaque === undefined ? '(none)' : 'O' + r.opaque.toString('latin1')}, expected O${op.seq}`,
          got: dump(metaLine(r)),
        });
      } else if (r.key === undefined || !this.cfg.keys.matches(r.key, op.family, op.key)) {
        ok = false;
        this.error(op, { kind: 'wrong_key', detail: `meta reply ${r.code} for another key`, got: dump(r.key ?? metaLine(r)) });
      }
    }
    let reply = R_OTHER;
    switch (r.code) {
      case 'VA':
        if (cmd === INCR || cmd === DECR) {
          reply = isDigits(r.value!) ? R_NUMBER : R_OTHER;
        } else if (isRetrieval(cmd)) {
          reply = R_VALUE;
          if (ok) {
            const flags = r.clientFlags ?? (this.cfg.verify ? -1 : 0);
            if (!this.checkItem(c, op, r.key, flags, r.value!)) ok = false;
          }
          if (cmd === GETS && r.cas !== undefined && op.family === ITEM) this.cfg.keyState.cas[op.key] = Number(r.cas);
        }
        break;
      case 'HD':
        reply = isRetrieval(cmd) ? R_OTHER : R_OK;
        break;
      case 'EN':
        reply = cmd === TOUCH ? R_NOT_FOUND : isRetrieval(cmd) ? R_END : R_OTHER;
        break;
      case 'NS':
        reply = R_NOT_STORED;
        break;
      case 'EX':
        reply = R_EXISTS;
        break;
      case 'NF':
        reply = R_NOT_FOUND;
        break;
    }
    if (!ok) {
      this.complete(c, op, FAILED, now);
      return;
    }
    this.finishReply(c, op, reply, r, now);
  }

  private onPacket(c: Connection, p: Buffer, now: number): void {
    const op = this.head(c, p);
    if (op === undefined) return;
    const cmd = op.cmd;
    const opcode = p[H.OPCODE]!;
    const status = p.readUInt16BE(H.STATUS);
    const opaque = p.readUInt32BE(H.OPAQUE);
    if (opaque !== op.seq || opcode !== BINARY_OPCODE[cmd]) {
      this.error(op, {
        kind: opaque !== op.seq ? 'wrong_opaque' : 'unexpected_reply',
        detail:
          opaque !== op.seq
            ? `reply opaque ${opaque}, expected ${op.seq} (replies out of order or lost)`
            : `reply opcode 0x${opcode.toString(16)}, expected 0x${BINARY_OPCODE[cmd]!.toString(16)}`,
        got: dump(p),
      });
      this.complete(c, op, FAILED, now);
      return;
    }
    const extrasLength = p[H.EXTRAS_LENGTH]!;
    const keyLength = p.readUInt16BE(H.KEY_LENGTH);
    const valueStart = BINARY_HEADER_LENGTH + extrasLength + keyLength;
    let reply = R_OTHER;
    switch (status) {
      case B_SUCCESS:
        if (isRetrieval(cmd)) {
          reply = R_VALUE;
          const key = p.subarray(BINARY_HEADER_LENGTH + extrasLength, valueStart);
          const flags = extrasLength >= BinaryExtras.FLAGS ? p.readUInt32BE(BINARY_HEADER_LENGTH + X.REPLY_FLAGS) : -1;
          if (!this.checkItem(c, op, key, flags, p.subarray(valueStart))) {
            this.complete(c, op, FAILED, now);
            return;
          }
          if (cmd === GETS && op.family === ITEM)
            this.cfg.keyState.cas[op.key] = p.readUInt32BE(H.CAS) * 4294967296 + p.readUInt32BE(H.CAS + 4);
        } else if (cmd === INCR || cmd === DECR) {
          reply = p.length - valueStart === 8 ? R_NUMBER : R_OTHER;
        } else {
          reply = R_OK;
        }
        break;
      case B_KEY_ENOENT:
        reply = isRetrieval(cmd) ? R_END : cmd === REPLACE ? R_NOT_STORED : R_NOT_FOUND;
        break;
      case B_KEY_EEXISTS:
        reply = cmd === ADD ? R_NOT_STORED : R_EXISTS;
        break;
      case B_NOT_STORED:
        reply = R_NOT_STORED;
        break;
      default: {
        const text = p.toString('latin1', valueStart);
        this.error(op, {
          kind: 'error_reply',
          detail: `server answered status 0x${status.toString(16).padStart(4, '0')}${text ? ' (' + text + ')' : ''}`,
          got: dump(p),
        });
        this.complete(c, op, FAILED, now);
        return;
      }
    }
    this.finishReply(c, op, reply, p, now);
  }

  /** Classify a one-reply answer as hit, miss, or not what memcached answers to this command. */
  private finishReply(c: Connection, op: Op, reply: number, raw: TextReply | Buffer, now: number): void {
    const cmd = op.cmd;
    let outcome: number;
    if (reply === HIT_REPLY[cmd]) outcome = HIT;
    else if ((MISS_REPLIES[cmd]! >>> reply) & 1) outcome = MISS;
    else {
      outcome = FAILED;
      this.error(op, {
        kind: 'unexpected_reply',
        detail: `${COMMAND_NAMES[cmd]} answered with ${OUTCOME_NAMES[reply]}, which memcached never answers to it`,
        got: dump(bytesOf(raw)),
      });
    }
    this.complete(c, op, outcome, now);
  }

  /**
   * Check an item a retrieval returned: its key, and (items) that the value
   * is exactly the one its flags and length name, and what this connection
   * knows the key must hold. Returns false (and counts an error) when not.
   */
  private checkItem(c: Connection, op: Op, key: Buffer | undefined, flags: number, value: Buffer): boolean {
    if (!this.cfg.verify) return true;
    const keys = this.cfg.keys;
    if (key !== undefined && !keys.matches(key, op.family, op.key)) {
      this.error(op, { kind: 'wrong_key', detail: `item for another key`, got: dump(key) });
      return false;
    }
    if (op.family !== ITEM) {
      if (op.family === COUNTER && !isDigits(value)) {
        this.error(op, { kind: 'wrong_value', detail: 'a counter holding something other than digits', got: dump(value) });
        return false;
      }
      return true;
    }
    // What this connection knew when it sent the get still holds only if no other connection wrote the key since.
    if (op.expect !== EXPECT_ANY && !this.cfg.keyState.ownedBy(c.id, op.key)) op.expect = EXPECT_ANY;
    if (op.expect === EXPECT_MISS) {
      this.error(op, {
        kind: 'stale_value',
        detail: `hit on an item this connection deleted (flags ${flags}, ${value.length} bytes)`,
        got: dump(value),
      });
      return false;
    }
    if (flags < 0) {
      this.error(op, { kind: 'wrong_value', detail: 'item came without its client flags', got: dump(value) });
      return false;
    }
    const at = this.cfg.values.check(value, op.key, flags);
    if (at >= 0) {
      const expected = this.cfg.values.expected(op.key, flags, value.length);
      this.error(op, {
        kind: 'wrong_value',
        detail: `value of ${value.length} bytes with flags ${flags} differs from what that generation holds at byte ${at}`,
        got: dump(value, at),
        expected: dump(expected, at),
      });
      return false;
    }
    if (op.expect > 0 && (flags !== op.expect || value.length !== op.expectLen)) {
      this.error(op, {
        kind: 'stale_value',
        detail: `got generation ${flags} (${value.length} bytes), but this connection's last set stored generation ${op.expect} (${op.expectLen} bytes)`,
        got: dump(value),
        expected: dump(this.cfg.values.expected(op.key, op.expect, op.expectLen)),
      });
      return false;
    }
    return true;
  }

  private complete(c: Connection, op: Op, outcome: number, now: number): void {
    const cs = this.stats!.commands[op.cmd]!;
    cs.ops++;
    const us = Math.round((now - op.sent) * 1000);
    if (outcome === HIT) {
      cs.hits++;
      cs.hit.record(us);
    } else if (outcome === MISS) {
      cs.misses++;
      cs.miss.record(us);
    } else {
      cs.errors++;
      // A store that failed leaves the key's content unknown.
      if (op.family === ITEM && !isRetrieval(op.cmd)) this.cfg.keyState.forget(op.key);
    }
    c.head = (c.head + 1) & c.mask;
    c.count--;
    this.workload!.done?.(c, op, outcome);
  }

  private error(op: Op | undefined, sample: Omit<ErrorSample, 'command' | 'key'> & { command?: string; key?: string }): void {
    this.stats!.error({
      kind: sample.kind,
      command: sample.command ?? (op ? COMMAND_NAMES[op.cmd]! : '-'),
      key: sample.key ?? (op ? this.keyName(op) : '-'),
      detail: sample.detail,
      ...(sample.got ? { got: sample.got } : {}),
      ...(sample.expected ? { expected: sample.expected } : {}),
    });
  }

  private keyName(op: Op): string {
    return this.cfg.keys.name(op.family, op.key);
  }

  /**
   * The stream can no longer be trusted (broken framing, timeout, closed):
   * count the error, give up the requests in flight, and reconnect.
   */
  private fail(c: Connection, kind: string, detail: string, bytes?: Buffer): void {
    const op = c.count > 0 ? c.ring[c.head] : undefined;
    this.error(op, { kind, detail, ...(bytes ? { got: dump(bytes) } : {}) });
    const stats = this.stats!;
    stats.aborted += c.count;
    // Keys this connection wrote are no longer known: a new id drops its ownership.
    for (let i = 0; i < c.count; i++) {
      const o = c.ring[(c.head + i) & c.mask]!;
      if (o.family === ITEM && !isRetrieval(o.cmd)) this.cfg.keyState.forget(o.key);
    }
    c.count = 0;
    c.head = 0;
    c.ready = false;
    const s = c.socket;
    c.socket = undefined;
    s?.destroy();
    c.text?.reset();
    c.binary?.reset();
    c.replies.length = 0;
    c.packets.length = 0;
    if (this.stopping || this.finish === undefined) {
      c.dead = true;
      this.checkDone();
      return;
    }
    stats.reconnects++;
    c.id = this.nextId++;
    this.open(c).catch((err: Error) => {
      c.dead = true;
      this.error(undefined, { kind: 'connection', detail: err.message });
      this.checkDone();
    });
    this.checkDone();
  }
}

function describeTarget(t: Target): string {
  return 'path' in t ? t.path : `${t.host}:${t.port}`;
}

function isDigits(b: Buffer): boolean {
  if (b.length === 0 || b.length > 20) return false;
  for (let i = 0; i < b.length; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

/** Whether the ASCII digits in `b` spell `n`. */
function decimalEquals(b: Buffer, n: number): boolean {
  let t = n;
  for (let i = b.length - 1; i >= 0; i--) {
    const q = Math.floor(t / 10);
    if (b[i] !== 48 + (t - q * 10)) return false;
    t = q;
    if (t === 0 && i > 0) return false;
  }
  return t === 0 && b.length > 0;
}

/** A meta reply's line as memcached sent it (for reports). */
function metaLine(r: MetaReply): Buffer {
  const head = r.code === 'VA' ? `VA ${r.value?.length ?? 0}` : r.code;
  return Buffer.concat([Buffer.from(head + (r.flags.length ? ' ' : ''), 'latin1'), r.flags, Buffer.from('\r\n')]);
}

/** A reply's bytes as the server sent them (for reports): binary packets as they are, text replies re-assembled. */
function bytesOf(r: TextReply | Buffer): Buffer {
  return Buffer.isBuffer(r) ? r : replyBytes(r);
}

/** A text reply's bytes as memcached sent them (for reports). */
function replyBytes(r: TextReply): Buffer {
  switch (r.kind) {
    case 'value':
      return Buffer.concat([
        Buffer.from(
          `VALUE ${r.key.toString('latin1')} ${r.flags} ${r.value.length}${r.cas !== undefined ? ' ' + r.cas : ''}\r\n`,
          'latin1',
        ),
        r.value,
      ]);
    case 'end':
      return Buffer.from('END\r\n');
    case 'status':
      return Buffer.from(r.status + '\r\n');
    case 'number':
      return Buffer.concat([r.digits, Buffer.from('\r\n')]);
    case 'error':
      return Buffer.concat([r.line, Buffer.from('\r\n')]);
    case 'line':
      return Buffer.concat([r.line, Buffer.from('\r\n')]);
    case 'meta':
      return metaLine(r);
    case 'version':
      return Buffer.from(`VERSION ${r.version}\r\n`);
    case 'stat':
      return Buffer.from(`STAT ${r.name} ${r.value}\r\n`);
    case 'me':
      return Buffer.concat([Buffer.from('ME '), r.key, Buffer.from(' '), r.fields, Buffer.from('\r\n')]);
  }
}
