/**
 * One backend request ("op"): how it is written as a meta command and how
 * its reply becomes a Handler outcome.
 *
 * Every meta request carries an opaque token `O<id>`, unique on its
 * connection, and its reply must echo it: replies are matched to requests in
 * FIFO order, and the token proves the match. Only error lines
 * (`SERVER_ERROR ...`, `CLIENT_ERROR ...`) come back without it.
 */
import type {
  ArithmeticCommand,
  DeleteCommand,
  GetCommand,
  ItemView,
  MetaReply,
  StoreCommand,
  StoreMode,
  TextReply,
  TouchCommand,
} from '@cleave/protocol';
import { absoluteExptime } from '@cleave/protocol';
import { Errors, backendError } from './errors.js';
import { BackendItem, exptimeFromTtl } from './item.js';
import { KEY_BASE64, type RequestBuffer, putConst, putDecimal, putKey, putSigned, putU64 } from './request-buffer.js';

// Op kinds.
export const OP_GET = 0;
export const OP_STORE = 1;
export const OP_DELETE = 2;
export const OP_ARITH = 3;
/**
 * `mg <key> f u` next to an `ma`: memcached's `ma` reports neither the
 * counter's client flags nor whether `N` created it. Sent after the `ma`
 * (BIT_BEFORE unset) it supplies the flags; sent before (BIT_BEFORE) it also
 * tells whether the counter existed.
 */
export const OP_PROBE = 4;
export const OP_TOUCH = 5;
export const OP_FLUSH = 6;
/** `mn`: closes a batch, opens a connection (first round trip), or marks a flush barrier. */
export const OP_MN = 7;

// Option bits of an op.
export const BIT_B64 = 1;
/** mg: ask for `k` (to learn whether memcached stored the key as binary). */
export const BIT_K = 2;
/** mg: ask for `h` and `l`. */
export const BIT_HL = 4;
/** mg: `u`, no LRU bump and no fetched mark. */
export const BIT_U = 8;
/** mg: T comes before N in the client's request (memcached applies them in order). */
export const BIT_T_FIRST = 16;
/** OP_PROBE: sent before its `ma`. */
export const BIT_BEFORE = 32;

/** Many results gathered for one caller (getMany): one Promise for the whole batch. */
export class Group {
  readonly out: (ItemView | undefined)[];
  left: number;
  done = false;
  constructor(
    n: number,
    readonly resolve: (v: (ItemView | undefined)[]) => void,
    readonly reject: (e: unknown) => void,
  ) {
    this.out = new Array(n);
    this.left = n;
  }
}

export class Op {
  id = 0;
  /** Date.now() by which the reply must have arrived. */
  deadline = 0;
  bits = 0;
  resolve: ((v: unknown) => void) | undefined = undefined;
  reject: ((e: unknown) => void) | undefined = undefined;
  group: Group | undefined = undefined;
  index = 0;
  /** OP_ARITH: what a probe sent before it saw: -2 none, -1 no item, else the item's client flags. */
  probe = -2;
  /** OP_PROBE: the ma it serves. */
  target: Op | undefined = undefined;
  /** OP_ARITH answered VA and waits for its after-probe: the ma reply. */
  reply: MetaReply | undefined = undefined;
  /** OP_ARITH: settled already (a failure needs no flags). */
  done = false;
  constructor(
    readonly kind: number,
    readonly cmd: unknown,
  ) {}
}

export function settle(op: Op, value: unknown): void {
  const g = op.group;
  if (g !== undefined) {
    if (g.done) return;
    g.out[op.index] = value as ItemView | undefined;
    if (--g.left === 0) {
      g.done = true;
      g.resolve(g.out);
    }
    return;
  }
  op.resolve?.(value);
}

export function fail(op: Op, err: unknown): void {
  const g = op.group;
  if (g !== undefined) {
    if (g.done) return;
    g.done = true;
    g.reject(err);
    return;
  }
  op.reject?.(err);
}

// ---------------------------------------------------------------------------
// Encoding: request lines straight into the connection's outgoing slab.
// ---------------------------------------------------------------------------

const MG = Buffer.from('mg ', 'latin1');
const MS = Buffer.from('ms ', 'latin1');
const MD = Buffer.from('md ', 'latin1');
const MA = Buffer.from('ma ', 'latin1');
const MN_LINE = Buffer.from('mn\r\n', 'latin1');
const FLUSH_ALL = Buffer.from('flush_all', 'latin1');
/** mg: t first (so it reports the exptime before any T/N), then the value, flags and CAS. */
const MG_BASE = Buffer.from(' t v f c', 'latin1');
const MA_TAIL = Buffer.from(' t c v', 'latin1');
const PROBE_FLAGS = Buffer.from(' f u', 'latin1');

const C_b = 0x62;
const C_c = 0x63;
const C_h = 0x68;
const C_k = 0x6b;
const C_l = 0x6c;
const C_u = 0x75;
const C_C = 0x43;
const C_D = 0x44;
const C_F = 0x46;
const C_I = 0x49;
const C_J = 0x4a;
const C_M = 0x4d;
const C_N = 0x4e;
const C_O = 0x4f;
const C_R = 0x52;
const C_T = 0x54;
const SP = 0x20;

/** Longest request line: verb, a 250-byte key token, and every flag at its widest. */
const LINE_BOUND = 512;

const MODE_LETTER: Record<StoreMode, number> = { set: 0x53, add: 0x45, replace: 0x52, append: 0x41, prepend: 0x50 };

function flag(buf: Buffer, p: number, letter: number): number {
  buf[p] = SP;
  buf[p + 1] = letter;
  return p + 2;
}

function finish(buf: Buffer, p: number, id: number): number {
  buf[p] = SP;
  buf[p + 1] = C_O;
  p = putDecimal(buf, p + 2, id);
  buf[p] = 13;
  buf[p + 1] = 10;
  return p + 2;
}

function keyToken(buf: Buffer, p: number, key: Buffer, bits: number): number {
  return putKey(buf, p, key, bits & BIT_B64 ? KEY_BASE64 : 0);
}

/** `<command> <key>` and, for a base64 key, the b flag: how every meta request but ms begins. */
function commandKey(buf: Buffer, p: number, command: Buffer, key: Buffer, bits: number): number {
  p = keyToken(buf, putConst(buf, p, command), key, bits);
  return bits & BIT_B64 ? flag(buf, p, C_b) : p;
}

/** Write `op` (its id already assigned) into `rb`. */
export function encodeOp(rb: RequestBuffer, op: Op): void {
  rb.ensure(LINE_BOUND);
  const buf = rb.buf;
  let p = rb.pos;
  const bits = op.bits;
  switch (op.kind) {
    case OP_GET: {
      const cmd = op.cmd as GetCommand;
      p = commandKey(buf, p, MG, cmd.key, bits);
      p = putConst(buf, p, MG_BASE);
      if (bits & BIT_K) p = flag(buf, p, C_k);
      if (bits & BIT_HL) {
        p = flag(buf, p, C_h);
        p = flag(buf, p, C_l);
      }
      if (bits & BIT_U) p = flag(buf, p, C_u);
      if (cmd.recache !== undefined) p = putSigned(buf, flag(buf, p, C_R), cmd.recache);
      const tFirst = (bits & BIT_T_FIRST) !== 0;
      if (tFirst && cmd.touch !== undefined) p = putSigned(buf, flag(buf, p, C_T), cmd.touch);
      if (cmd.vivify !== undefined) p = putSigned(buf, flag(buf, p, C_N), cmd.vivify);
      if (!tFirst && cmd.touch !== undefined) p = putSigned(buf, flag(buf, p, C_T), cmd.touch);
      rb.pos = finish(buf, p, op.id);
      return;
    }
    case OP_STORE: {
      const cmd = op.cmd as StoreCommand;
      p = putConst(buf, p, MS);
      p = keyToken(buf, p, cmd.key, bits);
      buf[p++] = SP;
      p = putDecimal(buf, p, cmd.value.length);
      if (bits & BIT_B64) p = flag(buf, p, C_b);
      p = flag(buf, p, C_c);
      if (cmd.flags !== 0) p = putDecimal(buf, flag(buf, p, C_F), cmd.flags >>> 0);
      if (cmd.exptime !== 0) p = putSigned(buf, flag(buf, p, C_T), cmd.exptime);
      if (cmd.compareCas !== undefined) p = putU64(buf, flag(buf, p, C_C), cmd.compareCas);
      if (cmd.invalidate === true) p = flag(buf, p, C_I);
      if (cmd.mode !== 'set') {
        p = flag(buf, p, C_M);
        buf[p++] = MODE_LETTER[cmd.mode];
      }
      // newCas (meta E) is not sent: memcached 1.6.18 refuses E. See README.
      rb.pos = finish(buf, p, op.id);
      rb.block(cmd.value);
      return;
    }
    case OP_DELETE: {
      const cmd = op.cmd as DeleteCommand;
      p = commandKey(buf, p, MD, cmd.key, bits);
      if (cmd.compareCas !== undefined) p = putU64(buf, flag(buf, p, C_C), cmd.compareCas);
      if (cmd.invalidate === true) p = flag(buf, p, C_I);
      if (cmd.exptime !== undefined) p = putSigned(buf, flag(buf, p, C_T), cmd.exptime);
      rb.pos = finish(buf, p, op.id);
      return;
    }
    case OP_PROBE: {
      const cmd = op.cmd as ArithmeticCommand;
      p = commandKey(buf, p, MG, cmd.key, bits);
      p = putConst(buf, p, PROBE_FLAGS);
      rb.pos = finish(buf, p, op.id);
      return;
    }
    case OP_ARITH: {
      const cmd = op.cmd as ArithmeticCommand;
      p = commandKey(buf, p, MA, cmd.key, bits);
      if (cmd.initial !== undefined) {
        p = putSigned(buf, flag(buf, p, C_N), cmd.exptime ?? 0);
        p = putU64(buf, flag(buf, p, C_J), BigInt.asUintN(64, cmd.initial));
      }
      if (cmd.touch !== undefined) p = putSigned(buf, flag(buf, p, C_T), cmd.touch);
      if (cmd.compareCas !== undefined) p = putU64(buf, flag(buf, p, C_C), cmd.compareCas);
      if (!cmd.incr) {
        p = flag(buf, p, C_M);
        buf[p++] = C_D;
      }
      if (cmd.delta !== 1n) p = putU64(buf, flag(buf, p, C_D), BigInt.asUintN(64, cmd.delta));
      // newCas (meta E) is not sent, as for ms.
      // t last: for ma it reports the exptime after N/T.
      p = putConst(buf, p, MA_TAIL);
      rb.pos = finish(buf, p, op.id);
      return;
    }
    case OP_TOUCH: {
      const cmd = op.cmd as TouchCommand;
      p = commandKey(buf, p, MG, cmd.key, bits);
      p = putSigned(buf, flag(buf, p, C_T), cmd.exptime);
      rb.pos = finish(buf, p, op.id);
      return;
    }
    case OP_FLUSH: {
      const delay = op.cmd as number;
      p = putConst(buf, p, FLUSH_ALL);
      if (delay !== 0) {
        buf[p++] = SP;
        p = putSigned(buf, p, delay);
      }
      buf[p] = 13;
      buf[p + 1] = 10;
      rb.pos = p + 2;
      return;
    }
    default:
      rb.pos = putConst(buf, p, MN_LINE);
  }
}

// ---------------------------------------------------------------------------
// Decoding: a reply (already matched to `op`) into the Handler outcome.
// ---------------------------------------------------------------------------

/** Whether the reply's `O` token is exactly `id` in decimal. */
function opaqueIs(token: Buffer | undefined, id: number): boolean {
  if (token === undefined) return false;
  const n = token.length;
  if (n === 0 || n > 10) return false;
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = token[i]! - 48;
    if (d < 0 || d > 9) return false;
    v = v * 10 + d;
  }
  return v === id;
}

const EMPTY = Buffer.alloc(0);

/** Outcome of a reply, or DESYNC when it cannot be the reply to `op`. */
export const DESYNC = Symbol('desync');
/** The reply was consumed but settles nothing (yet). */
export const SKIP = Symbol('skip');
/** Outcome is a failure (the value is the error). */
export class Failure {
  constructor(readonly error: unknown) {}
}

const NON_NUMERIC = 'cannot increment or decrement non-numeric value';
const TOO_LARGE = 'object too large for cache';
const OUT_OF_MEMORY = 'out of memory storing object';

/**
 * The outcome of `op` given its reply `r`; `now` is the current Unix time in
 * seconds. Returns DESYNC when `r` cannot answer `op`: the stream is lost.
 */
export function decode(op: Op, r: TextReply, now: number): unknown {
  if (r.kind === 'error') return decodeError(op, r.error, r.message, now);
  const kind = op.kind;
  if (kind === OP_MN) return r.kind === 'meta' && r.code === 'MN' ? undefined : DESYNC;
  if (kind === OP_FLUSH) return r.kind === 'status' && r.status === 'OK' ? undefined : DESYNC;
  if (r.kind !== 'meta' || !opaqueIs(r.opaque, op.id)) return DESYNC;
  switch (kind) {
    case OP_GET:
      return decodeGet(op, r, now);
    case OP_STORE: {
      const cmd = op.cmd as StoreCommand;
      switch (r.code) {
        case 'HD':
          return new BackendItem(
            cmd.key,
            cmd.value,
            cmd.flags,
            r.cas ?? 0n,
            absoluteExptime(cmd.exptime, now),
            now,
            false,
            undefined,
            undefined,
            undefined,
            undefined,
            undefined,
            undefined,
          );
        case 'NS':
          return 'NOT_STORED';
        case 'EX':
          return 'EXISTS';
        case 'NF':
          return 'NOT_FOUND';
      }
      return DESYNC;
    }
    case OP_DELETE:
      switch (r.code) {
        case 'HD':
          return 'DELETED';
        case 'NF':
          return 'NOT_FOUND';
        case 'EX':
          return 'EXISTS';
      }
      return DESYNC;
    case OP_TOUCH:
      if (r.code === 'HD') return 'TOUCHED';
      if (r.code === 'EN') return 'NOT_FOUND';
      return DESYNC;
    case OP_PROBE: {
      if (r.code !== 'HD' && r.code !== 'EN') return DESYNC;
      const flags = r.code === 'HD' ? (r.clientFlags ?? 0) : -1;
      const target = op.target!;
      if (op.bits & BIT_BEFORE) {
        target.probe = flags;
        return SKIP;
      }
      // After the ma: its VA waits here for the flags (an item gone since keeps 0).
      const reply = target.reply;
      if (reply === undefined || target.done) return SKIP;
      target.done = true;
      return counter(target, reply, flags > 0 ? flags : 0, now);
    }
    case OP_ARITH: {
      switch (r.code) {
        case 'VA':
          if (op.probe === -2 && op.target !== undefined) {
            op.reply = r;
            return SKIP;
          }
          op.done = true;
          return counter(op, r, op.probe > 0 ? op.probe : 0, now);
        case 'NF':
          op.done = true;
          return 'NOT_FOUND';
        case 'EX':
          op.done = true;
          return 'EXISTS';
      }
      return DESYNC;
    }
  }
  return DESYNC;
}

/** The counter an `ma` answered with (`t` came last: its final exptime). */
function counter(op: Op, r: MetaReply, flags: number, now: number): ItemView {
  const cmd = op.cmd as ArithmeticCommand;
  return new BackendItem(
    cmd.key,
    r.value ?? EMPTY,
    flags,
    r.cas ?? 0n,
    exptimeFromTtl(r.ttl, now),
    now,
    false,
    undefined,
    undefined,
    undefined,
    undefined,
    undefined,
    cmd.initial !== undefined && op.probe === -1 ? true : undefined,
  );
}

function decodeGet(op: Op, r: MetaReply, now: number): unknown {
  if (r.code === 'EN') return undefined;
  if (r.code !== 'VA') return DESYNC;
  const cmd = op.cmd as GetCommand;
  const bits = op.bits;
  const ttl = r.ttl;
  // `t` was asked before T and N: it is the exptime this fetch started from.
  let exptime = exptimeFromTtl(ttl, now);
  let previous: number | undefined;
  let created: boolean | undefined;
  // A vivified miss is the only fetch that wins the token on a fresh,
  // never-expiring, non-stale item: R needs an exptime, X comes with stale.
  if (cmd.vivify !== undefined && r.win && !r.stale && ttl === -1) {
    created = true;
    const touchLast = cmd.touch !== undefined && (bits & BIT_T_FIRST) === 0;
    exptime = absoluteExptime(touchLast ? cmd.touch! : cmd.vivify, now);
  } else if (cmd.touch !== undefined) {
    previous = exptime;
    exptime = absoluteExptime(cmd.touch, now);
  }
  const hl = (bits & BIT_HL) !== 0;
  return new BackendItem(
    cmd.key,
    r.value ?? EMPTY,
    r.clientFlags ?? 0,
    r.cas ?? 0n,
    exptime,
    hl && r.lastAccess !== undefined ? now - r.lastAccess : now,
    hl ? r.hit === true : false,
    r.stale ? true : undefined,
    r.win ? true : undefined,
    r.tokenSent ? true : undefined,
    bits & BIT_K ? r.base64Key : undefined,
    previous,
    created,
  );
}

/** `ERROR` never answers a command we send: the stream is off. CLIENT_ERROR after ms means the data block was read as commands. */
function decodeError(op: Op, kind: 'ERROR' | 'CLIENT_ERROR' | 'SERVER_ERROR', message: string, now: number): unknown {
  if (kind === 'ERROR') return DESYNC;
  if (op.kind === OP_ARITH) op.done = true;
  if (kind === 'CLIENT_ERROR') {
    if (op.kind === OP_ARITH && message === NON_NUMERIC) return 'NON_NUMERIC';
    if (op.kind === OP_STORE || op.kind === OP_MN) return DESYNC;
    return new Failure(backendError(message));
  }
  if (op.kind === OP_STORE) {
    if (message === TOO_LARGE) return 'TOO_LARGE';
    if (message === OUT_OF_MEMORY) return 'OUT_OF_MEMORY';
  }
  if (op.kind === OP_MN) return DESYNC;
  // A probe that failed leaves the flags unknown (0); the counter is still answered.
  if (op.kind === OP_PROBE) {
    const target = op.target!;
    if (op.bits & BIT_BEFORE || target.reply === undefined || target.done) return SKIP;
    target.done = true;
    return counter(target, target.reply, 0, now);
  }
  return new Failure(backendError(message));
}

export { Errors };
