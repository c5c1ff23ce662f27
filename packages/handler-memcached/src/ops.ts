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
  SlabWriter,
  StatsGroup,
  StoreCommand,
  TextReply,
  TouchCommand,
} from '@cleave/protocol';
import {
  Item,
  MetaFlagOrder,
  absoluteExptime,
  writeMetaArithmetic,
  writeMetaDelete,
  writeMetaGet,
  writeMetaNoop,
  writeMetaStore,
  writeMetaTouch,
} from '@cleave/protocol';
import { backendError } from './errors.js';
import { exptimeFromTtl } from './item.js';

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
/** `stats [group]`: STAT lines gathered until END (the op's cmd is the group). */
export const OP_STATS = 8;

// Option bits of an op.
/** The key travels base64 (`b`). */
export const BIT_B64 = 1;
/** mg: ask for `k` (to learn whether memcached stored the key as binary). */
export const BIT_K = 2;
/** mg: ask for `h` and `l`. */
export const BIT_HL = 4;
/** mg: `u`, no LRU bump and no fetched mark. */
export const BIT_U = 8;
/** OP_PROBE: sent before its `ma`. */
export const BIT_BEFORE = 16;

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
  /** The key's slot in the handler's KeySlots (picker.ts), released when the op leaves its connection's queue; -1 none. */
  slot = -1;
  /** OP_STATS: the STAT lines read so far. */
  stats: StatsGroup | undefined = undefined;
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
// Encoding: request lines straight into the connection's outgoing slab, with
// protocol's meta request writers. Each order is compiled once.
// ---------------------------------------------------------------------------

/**
 * mg: `t` first (it reports the exptime before any T/N), then the value,
 * flags and CAS, the facts the reply needs (k, h l), u, then R, and T before
 * N: memcached applies them in order, so an item N creates ends with N's
 * exptime (the command's `vivify`) and one that exists gets T's.
 * Indexed by the op's K, HL and U bits.
 */
const MG_ORDERS: readonly MetaFlagOrder[] = Array.from({ length: 8 }, (_, i) => {
  const k = (i << 1) & BIT_K ? 'k' : '';
  const hl = (i << 1) & BIT_HL ? 'hl' : '';
  const u = (i << 1) & BIT_U ? 'u' : '';
  return new MetaFlagOrder(`btvfc${k}${hl}${u}RTNO`);
});
/** ms: `c` for the new CAS, then the fields that differ from the defaults. newCas (E) is left out: memcached 1.6.18 refuses it. */
const MS_ORDER = new MetaFlagOrder('bcFTCIMO');
const MD_ORDER = new MetaFlagOrder('bCITO');
/** ma: T before N (a created counter ends with N's exptime), `t` last (the exptime after both). newCas (E) is left out, as for ms. */
const MA_ORDER = new MetaFlagOrder('bTNJCMDtcvO');
const TOUCH_ORDER = new MetaFlagOrder('bTO');
const PROBE_ORDER = new MetaFlagOrder('bfuO');

const FLUSH_ALL = 'flush_all';
const STATS = 'stats';

/** Write `op` (its id already assigned) into `w`. */
export function encodeOp(w: SlabWriter, op: Op): void {
  const bits = op.bits;
  const b64 = (bits & BIT_B64) !== 0;
  switch (op.kind) {
    case OP_GET:
      writeMetaGet(w, op.cmd as GetCommand, b64, MG_ORDERS[(bits >> 1) & 7]!, op.id);
      return;
    case OP_STORE:
      writeMetaStore(w, op.cmd as StoreCommand, b64, MS_ORDER, op.id);
      return;
    case OP_DELETE:
      writeMetaDelete(w, op.cmd as DeleteCommand, b64, MD_ORDER, op.id);
      return;
    case OP_PROBE:
      // An mg of the counter's key: the probe's flags read nothing but the key.
      writeMetaGet(w, op.cmd as ArithmeticCommand, b64, PROBE_ORDER, op.id);
      return;
    case OP_ARITH:
      writeMetaArithmetic(w, op.cmd as ArithmeticCommand, b64, MA_ORDER, op.id);
      return;
    case OP_TOUCH:
      writeMetaTouch(w, op.cmd as TouchCommand, b64, TOUCH_ORDER, op.id);
      return;
    case OP_FLUSH: {
      // flush_all has no meta form.
      const delay = op.cmd as number;
      w.ascii(FLUSH_ALL);
      if (delay !== 0) {
        w.byte(0x20);
        w.signed(delay);
      }
      w.crlf();
      return;
    }
    case OP_STATS: {
      const group = op.cmd as string;
      w.ascii(STATS);
      if (group !== '') {
        w.byte(0x20);
        w.ascii(group);
      }
      w.crlf();
      return;
    }
    default:
      writeMetaNoop(w);
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
/** The reply is part of the op's answer, more of which is still to come: the op stays at the head of its queue. */
export const MORE = Symbol('more');

/** A STAT value as a number when it is a decimal integer (so figures can be summed), else the text memcached sent. */
export function statValue(text: string): string | number {
  if (text.length === 0 || text.length > 15) return text;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return text;
  }
  return Number(text);
}
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
  if (kind === OP_STATS) {
    if (r.kind === 'end') return op.stats ?? {};
    if (r.kind !== 'stat') return DESYNC;
    (op.stats ??= {})[r.name] = statValue(r.value);
    return MORE;
  }
  if (r.kind !== 'meta' || !opaqueIs(r.opaque, op.id)) return DESYNC;
  switch (kind) {
    case OP_GET:
      return decodeGet(op, r, now);
    case OP_STORE: {
      const cmd = op.cmd as StoreCommand;
      switch (r.code) {
        case 'HD':
          return new Item(
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
  return new Item(
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
  // A vivified miss is the only fetch that wins the token on an item that
  // never expires (memcached creates it with exptime 0 and applies N after
  // `t`) and is not stale: R needs an exptime, X comes with stale.
  if (cmd.vivify !== undefined && r.win && !r.stale && ttl === -1) {
    created = true;
    // T came before N: the created item ends with N's exptime.
    exptime = absoluteExptime(cmd.vivify, now);
  } else if (cmd.touch !== undefined) {
    previous = exptime;
    exptime = absoluteExptime(cmd.touch, now);
  }
  const hl = (bits & BIT_HL) !== 0;
  return new Item(
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
  // memcached answers a stats group it does not know with ERROR (before any STAT line).
  if (op.kind === OP_STATS) return kind === 'ERROR' ? (op.stats === undefined ? undefined : DESYNC) : new Failure(backendError(message));
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
