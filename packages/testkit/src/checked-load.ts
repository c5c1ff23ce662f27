/**
 * A checking load for fault tests: clients on text, meta and binary
 * connections pipeline sets and gets of shared keys, and every reply is
 * checked against the request it answers.
 *
 * - Each value names its key, its writer and the writer's sequence number,
 *   and ends with a checksum of everything before it: a hit must carry the
 *   requested key, a (writer, seq) that was sent for that very key, and an
 *   intact checksum (a torn value cannot pass).
 * - Each reply must be of its request's kind (text), carry its opaque
 *   (meta `O`, binary header) and its opcode (binary).
 * - Failures must be errors the server produces for backend faults
 *   (`SERVER_ERROR ...`, binary temporary failure); every request must be
 *   answered; no client connection may be closed by the server.
 */
import * as net from 'node:net';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Self-checking values
// ---------------------------------------------------------------------------

const HEX = '0123456789abcdef';

function fnv1a(b: Buffer, end: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < end; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** Client flags a key's values are always stored with (a wrong key's item shows up here too). */
export function flagsFor(key: string): number {
  return fnv1a(Buffer.from(key, 'latin1'), key.length) & 0xffff;
}

/** `key|writer|seq|` + pseudo-random body + `|` + 8 hex digits of FNV-1a over all before it. */
export function makeValue(key: string, writer: string, seq: number, size: number): Buffer {
  const head = `${key}|${writer}|${seq}|`;
  const len = Math.max(size, head.length + 9);
  const v = Buffer.allocUnsafe(len);
  v.write(head, 0, 'latin1');
  let x = (seq * 2654435761 + writer.length * 97 + 1) >>> 0 || 1;
  const end = len - 9;
  for (let i = head.length; i < end; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    // Printable bytes keep a failing assertion readable; CR/LF inside values are not what is tested here.
    v[i] = 0x21 + (x % 90);
  }
  v[end] = 0x7c;
  const h = fnv1a(v, end);
  for (let i = 0; i < 8; i++) v[end + 1 + i] = HEX.charCodeAt((h >>> (28 - 4 * i)) & 15);
  return v;
}

/** The (key, writer, seq) a value names, or a reason it is not one of ours (bad checksum: torn or mixed). */
export function readValue(v: Buffer): { key: string; writer: string; seq: number } | string {
  if (v.length < 10) return `value too short (${v.length} bytes)`;
  const end = v.length - 9;
  if (v[end] !== 0x7c) return 'value has no checksum';
  const h = fnv1a(v, end);
  for (let i = 0; i < 8; i++) {
    if (v[end + 1 + i] !== HEX.charCodeAt((h >>> (28 - 4 * i)) & 15)) return `checksum mismatch in a ${v.length}-byte value (torn?)`;
  }
  const text = v.toString('latin1', 0, Math.min(end, 300));
  const parts = text.split('|');
  if (parts.length < 4) return 'value has no header';
  return { key: parts[0]!, writer: parts[1]!, seq: Number(parts[2]) };
}

// ---------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------

export type ClientProtocol = 'text' | 'meta' | 'binary';

/** A request the checking load has sent and not yet had answered. */
export interface CheckedRequest {
  kind: 'get' | 'set';
  key: string;
  opaque: number;
  sentAt: number;
  phase: string;
  /** For sets: the value sent. */
  value?: Buffer;
}

export interface PhaseStats {
  sent: number;
  stored: number;
  hits: number;
  misses: number;
  errors: number;
  /** Error text (text/meta `SERVER_ERROR ...`, binary `status 0x..`) and how often. */
  errorKinds: Map<string, number>;
  /** Slowest reply of a request sent in this phase, and slowest error. */
  maxMs: number;
  maxErrorMs: number;
  /** Quickest reply of a request sent in this phase. */
  minMs: number;
}

export interface LoadOptions {
  port: number;
  /** One entry per client connection. */
  clients: ClientProtocol[];
  /** Keys shared by every client (several writers per key). */
  keys: string[];
  /** Requests each client keeps in flight. */
  depth?: number;
  /** Share of requests that are gets (default 0.5). */
  getRatio?: number;
  /** Size of the next value. */
  valueSize?: () => number;
  /** Text error lines accepted as a fault's prompt error (default: SERVER_ERROR backend ...). */
  acceptError?: (line: string) => boolean;
  /** Told of every reply once checked: which key, how it ended, how long it took, the phase it was sent in. */
  onReply?: (key: string, kind: 'get' | 'set', outcome: Reply['outcome'], ms: number, phase: string) => void;
}

const BACKEND_ERROR = /^SERVER_ERROR (backend (timeout|unavailable|busy)|chunked item kept changing while it was read)$/;
/** Binary: temporary failure, the status of every backend fault above. */
const ETMPFAIL = 0x86;

function newStats(): PhaseStats {
  return { sent: 0, stored: 0, hits: 0, misses: 0, errors: 0, errorKinds: new Map(), maxMs: 0, maxErrorMs: 0, minMs: Infinity };
}

let writerSeq = 0;

class CheckedClient {
  readonly socket: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private readonly pending: CheckedRequest[] = [];
  private nextOpaque = 1;
  private seq = 0;
  private running = true;
  private closedByPeer = false;
  readonly writer: string;

  constructor(
    private readonly load: CheckedLoad,
    readonly protocol: ClientProtocol,
    port: number,
  ) {
    this.writer = `${protocol[0]}${++writerSeq}`;
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.parse();
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      if (this.running) {
        this.closedByPeer = true;
        this.load.violation(`${this.writer}: connection closed by the server with ${this.pending.length} requests unanswered`);
      }
      this.running = false;
    });
  }

  get outstanding(): number {
    return this.pending.length;
  }

  oldest(): CheckedRequest | undefined {
    return this.pending[0];
  }

  start(depth: number): void {
    for (let i = 0; i < depth; i++) this.sendOne();
  }

  stopSending(): void {
    this.running = false;
  }

  close(): void {
    this.running = false;
    this.socket.destroy();
  }

  private sendOne(): void {
    if (!this.running || this.closedByPeer) return;
    const o = this.load.opts;
    const key = o.keys[Math.floor(Math.random() * o.keys.length)]!;
    const opaque = this.nextOpaque++;
    const phase = this.load.phase;
    const stats = this.load.stats(phase);
    stats.sent++;
    if (Math.random() < (o.getRatio ?? 0.5)) {
      this.pending.push({ kind: 'get', key, opaque, sentAt: Date.now(), phase });
      this.socket.write(encodeGet(this.protocol, key, opaque));
    } else {
      const value = makeValue(key, this.writer, ++this.seq, o.valueSize ? o.valueSize() : 40 + Math.floor(Math.random() * 60));
      // Registered before it can be stored: any reader may see it from now on.
      this.load.written(key, this.writer, this.seq);
      this.pending.push({ kind: 'set', key, opaque, sentAt: Date.now(), phase, value });
      for (const b of encodeSet(this.protocol, key, flagsFor(key), value, opaque)) this.socket.write(b);
    }
  }

  /** Take every complete reply from the buffer. */
  private parse(): void {
    for (;;) {
      const head = this.pending[0];
      if (head === undefined) {
        if (this.buf.length > 0)
          this.load.violation(`${this.writer}: ${this.buf.length} bytes with no request waiting: ${preview(this.buf)}`);
        this.buf = Buffer.alloc(0);
        return;
      }
      const r = parseReply(this.protocol, this.buf, head);
      if (r === undefined) return;
      this.buf = this.buf.subarray(r.used);
      this.pending.shift();
      this.load.settle(this.writer, head, r);
      this.sendOne();
    }
  }
}

/** A parsed reply: what it says and how many bytes it took. */
export interface Reply {
  used: number;
  outcome: 'stored' | 'hit' | 'miss' | 'error' | 'violation';
  value?: Buffer;
  flags?: number;
  /** Error text, or what is wrong. */
  detail?: string;
}

function preview(b: Buffer): string {
  return JSON.stringify(b.toString('latin1', 0, Math.min(b.length, 120)));
}

export function encodeGet(protocol: ClientProtocol, key: string, opaque: number): Buffer {
  if (protocol === 'text') return Buffer.from(`get ${key}\r\n`, 'latin1');
  if (protocol === 'meta') return Buffer.from(`mg ${key} v f k O${opaque}\r\n`, 'latin1');
  const h = Buffer.alloc(24 + key.length);
  h[0] = 0x80;
  h[1] = 0x00;
  h.writeUInt16BE(key.length, 2);
  h.writeUInt32BE(key.length, 8);
  h.writeUInt32BE(opaque, 12);
  h.write(key, 24, 'latin1');
  return h;
}

export function encodeSet(protocol: ClientProtocol, key: string, flags: number, value: Buffer, opaque: number): Buffer[] {
  if (protocol === 'text') return [Buffer.from(`set ${key} ${flags} 0 ${value.length}\r\n`, 'latin1'), value, Buffer.from('\r\n')];
  if (protocol === 'meta') return [Buffer.from(`ms ${key} ${value.length} F${flags} O${opaque}\r\n`, 'latin1'), value, Buffer.from('\r\n')];
  const h = Buffer.alloc(24 + 8 + key.length);
  h[0] = 0x80;
  h[1] = 0x01;
  h.writeUInt16BE(key.length, 2);
  h[4] = 8;
  h.writeUInt32BE(8 + key.length + value.length, 8);
  h.writeUInt32BE(opaque, 12);
  h.writeUInt32BE(flags, 24);
  h.write(key, 32, 'latin1');
  return [h, value];
}

function lineEnd(b: Buffer, from: number): number {
  const i = b.indexOf('\r\n', from, 'latin1');
  return i;
}

/**
 * Parse the reply at the start of `b` to the request `req`, or undefined
 * when it is not complete yet. A reply that cannot answer `req` is a
 * violation (its `used` then covers the rest of the buffer).
 */
export function parseReply(
  protocol: ClientProtocol,
  b: Buffer,
  req: { kind: 'get' | 'set'; key: string; opaque: number },
): Reply | undefined {
  if (protocol === 'binary') {
    if (b.length < 24) return undefined;
    const bodyLen = b.readUInt32BE(8);
    if (b.length < 24 + bodyLen) return undefined;
    const used = 24 + bodyLen;
    if (b[0] !== 0x81) return { used: b.length, outcome: 'violation', detail: `binary reply with magic 0x${b[0]!.toString(16)}` };
    const opcode = b[1]!;
    const opaque = b.readUInt32BE(12);
    const want = req.kind === 'get' ? 0x00 : 0x01;
    if (opcode !== want || opaque !== req.opaque) {
      return {
        used,
        outcome: 'violation',
        detail: `binary reply opcode ${opcode} opaque ${opaque} for request opcode ${want} opaque ${req.opaque}`,
      };
    }
    const status = b.readUInt16BE(6);
    const extLen = b[4]!;
    const keyLen = b.readUInt16BE(2);
    const body = b.subarray(24, used);
    if (status === 0) {
      if (req.kind === 'set') return { used, outcome: 'stored' };
      if (extLen !== 4) return { used, outcome: 'violation', detail: `binary get hit with ${extLen} bytes of extras` };
      return { used, outcome: 'hit', flags: body.readUInt32BE(0), value: Buffer.from(body.subarray(4 + keyLen)) };
    }
    if (status === 1 && req.kind === 'get') return { used, outcome: 'miss' };
    if (status === ETMPFAIL) return { used, outcome: 'error', detail: `status 0x86 ${body.toString('latin1', extLen + keyLen)}` };
    return {
      used,
      outcome: 'violation',
      detail: `binary status 0x${status.toString(16)} (${body.toString('latin1', extLen + keyLen)}) for ${req.kind}`,
    };
  }
  const e = lineEnd(b, 0);
  if (e < 0) return undefined;
  const line = b.toString('latin1', 0, e);
  if (line.startsWith('SERVER_ERROR ') || line.startsWith('CLIENT_ERROR ') || line === 'ERROR') {
    return { used: e + 2, outcome: 'error', detail: line };
  }
  if (protocol === 'text') {
    if (req.kind === 'set') {
      if (line === 'STORED') return { used: e + 2, outcome: 'stored' };
      return { used: e + 2, outcome: 'violation', detail: `set ${req.key} answered ${JSON.stringify(line)}` };
    }
    if (line === 'END') return { used: e + 2, outcome: 'miss' };
    const m = /^VALUE (\S+) (\d+) (\d+)$/.exec(line);
    if (!m) return { used: b.length, outcome: 'violation', detail: `get ${req.key} answered ${JSON.stringify(line)}` };
    const len = Number(m[3]);
    const start = e + 2;
    if (b.length < start + len + 7) return undefined;
    if (b.toString('latin1', start + len, start + len + 7) !== '\r\nEND\r\n') {
      return { used: b.length, outcome: 'violation', detail: `get ${req.key}: value of ${len} bytes not followed by END` };
    }
    if (m[1] !== req.key) return { used: start + len + 7, outcome: 'violation', detail: `get ${req.key} answered with key ${m[1]}` };
    return { used: start + len + 7, outcome: 'hit', flags: Number(m[2]), value: Buffer.from(b.subarray(start, start + len)) };
  }
  // meta
  const tokens = line.split(' ');
  const opaqueTok = tokens.find((t) => t.startsWith('O'));
  if (opaqueTok !== `O${req.opaque}`) {
    return { used: b.length, outcome: 'violation', detail: `meta reply ${JSON.stringify(line)} for opaque ${req.opaque}` };
  }
  if (req.kind === 'set') {
    if (tokens[0] === 'HD') return { used: e + 2, outcome: 'stored' };
    return { used: e + 2, outcome: 'violation', detail: `ms ${req.key} answered ${JSON.stringify(line)}` };
  }
  if (tokens[0] === 'EN') return { used: e + 2, outcome: 'miss' };
  if (tokens[0] !== 'VA') return { used: b.length, outcome: 'violation', detail: `mg ${req.key} answered ${JSON.stringify(line)}` };
  const len = Number(tokens[1]);
  const start = e + 2;
  if (b.length < start + len + 2) return undefined;
  const keyTok = tokens.find((t) => t.startsWith('k'));
  if (keyTok !== `k${req.key}`)
    return { used: start + len + 2, outcome: 'violation', detail: `mg ${req.key} answered ${JSON.stringify(line)}` };
  const flags = Number(tokens.find((t) => t.startsWith('f'))?.slice(1));
  return { used: start + len + 2, outcome: 'hit', flags, value: Buffer.from(b.subarray(start, start + len)) };
}

export class CheckedLoad {
  phase = 'before';
  /** Set while a fault lasts: replies received meanwhile are counted apart. */
  faulty = false;
  /** Requests sent in phase 'fault' that succeeded (stored, hit, miss) while `faulty` was still set. */
  okWhileFaulty = 0;
  readonly violations: string[] = [];
  private readonly phases = new Map<string, PhaseStats>();
  private readonly registry = new Map<string, Set<string>>();
  private clients: CheckedClient[] = [];

  constructor(readonly opts: LoadOptions) {}

  stats(phase: string): PhaseStats {
    let s = this.phases.get(phase);
    if (s === undefined) {
      s = newStats();
      this.phases.set(phase, s);
    }
    return s;
  }

  violation(v: string): void {
    if (this.violations.length < 50) this.violations.push(v);
  }

  written(key: string, writer: string, seq: number): void {
    let s = this.registry.get(key);
    if (s === undefined) {
      s = new Set();
      this.registry.set(key, s);
    }
    s.add(`${writer}|${seq}`);
  }

  /** Whether `value` is one that was sent for `key`, or why not. */
  check(key: string, value: Buffer, flags: number | undefined): string | undefined {
    const v = readValue(value);
    if (typeof v === 'string') return `get ${key}: ${v}`;
    if (v.key !== key) return `get ${key} returned a value written for ${v.key}`;
    if (!this.registry.get(key)?.has(`${v.writer}|${v.seq}`)) return `get ${key} returned ${v.writer}|${v.seq}, never written`;
    if (flags !== undefined && flags !== flagsFor(key)) return `get ${key}: flags ${flags}, stored with ${flagsFor(key)}`;
    return undefined;
  }

  settle(writer: string, req: CheckedRequest, r: Reply): void {
    const s = this.stats(req.phase);
    const ms = Date.now() - req.sentAt;
    if (ms > s.maxMs) s.maxMs = ms;
    if (ms < s.minMs) s.minMs = ms;
    if (this.faulty && req.phase === 'fault' && (r.outcome === 'stored' || r.outcome === 'hit' || r.outcome === 'miss'))
      this.okWhileFaulty++;
    this.opts.onReply?.(req.key, req.kind, r.outcome, ms, req.phase);
    switch (r.outcome) {
      case 'stored':
        s.stored++;
        return;
      case 'miss':
        s.misses++;
        return;
      case 'hit': {
        s.hits++;
        const bad = this.check(req.key, r.value!, r.flags);
        if (bad) this.violation(`${writer}: ${bad}`);
        return;
      }
      case 'error': {
        s.errors++;
        if (ms > s.maxErrorMs) s.maxErrorMs = ms;
        s.errorKinds.set(r.detail!, (s.errorKinds.get(r.detail!) ?? 0) + 1);
        const accept = this.opts.acceptError ?? ((l: string) => BACKEND_ERROR.test(l));
        if (!r.detail!.startsWith('status 0x86') && !accept(r.detail!))
          this.violation(`${writer}: unexpected error ${JSON.stringify(r.detail)}`);
        return;
      }
      default:
        this.violation(`${writer}: ${r.detail}`);
    }
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.clients = o.clients.map((p) => new CheckedClient(this, p, o.port));
    await Promise.all(
      this.clients.map(
        (c) =>
          new Promise<void>((resolve, reject) => {
            c.socket.once('connect', () => resolve());
            c.socket.once('error', reject);
          }),
      ),
    );
    for (const c of this.clients) c.start(o.depth ?? 3);
  }

  /** Run the current phase for `ms`, then switch to `next`. */
  async runPhase(ms: number, next?: string): Promise<void> {
    await sleep(ms);
    if (next !== undefined) this.phase = next;
  }

  /**
   * Wait until a window of `windowMs` passes with replies and no errors
   * (service is back), switching phase to `next` then. False on timeout.
   */
  async untilHealthy(timeoutMs: number, next: string, windowMs = 300): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const before = this.totals();
      await sleep(windowMs);
      const after = this.totals();
      if (after.errors === before.errors && after.ok > before.ok) {
        this.phase = next;
        return true;
      }
    }
    return false;
  }

  private totals(): { errors: number; ok: number } {
    let errors = 0;
    let ok = 0;
    for (const s of this.phases.values()) {
      errors += s.errors;
      ok += s.stored + s.hits + s.misses;
    }
    return { errors, ok };
  }

  /** The longest any request has been waiting for its reply right now. */
  oldestWaitMs(): number {
    let t = 0;
    const now = Date.now();
    for (const c of this.clients) {
      const o = c.oldest();
      if (o !== undefined) t = Math.max(t, now - o.sentAt);
    }
    return t;
  }

  /** Stop sending, wait up to `waitMs` for every reply, then close. Requests still unanswered are violations. */
  async stop(waitMs: number): Promise<void> {
    for (const c of this.clients) c.stopSending();
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && this.clients.some((c) => c.outstanding > 0)) await sleep(10);
    for (const c of this.clients) {
      if (c.outstanding > 0) this.violation(`${c.writer}: ${c.outstanding} requests unanswered ${waitMs} ms after the load stopped`);
      c.close();
    }
  }

  /** Phase stats for a report line. */
  summary(): string {
    const parts: string[] = [];
    for (const [name, s] of this.phases) {
      const kinds = [...s.errorKinds].map(([k, n]) => `${k} x${n}`).join('; ');
      parts.push(
        `${name}: sent ${s.sent}, stored ${s.stored}, hits ${s.hits}, misses ${s.misses}, errors ${s.errors}${kinds ? ` (${kinds})` : ''}, min ${s.minMs} ms, max ${s.maxMs} ms, max error ${s.maxErrorMs} ms`,
      );
    }
    return parts.join('\n');
  }
}

/** Poll `cond` until it holds; throw naming `what` once `timeoutMs` passed without it. */
export async function until(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms`);
    await sleep(5);
  }
}
