/**
 * Token helpers shared by the text parser, and the meta command parser
 * (mg, ms, md, ma, me, mn on a text connection).
 *
 * A request line is tokenized once by the text parser into parallel arrays of
 * token starts and ends (`TokenSpans`); everything here reads bytes between
 * those offsets and never builds strings on the success path.
 *
 * Numbers follow memcached's `safe_strto*` helpers exactly, quirks included,
 * because clients see the difference:
 * - leading blanks (\t \v \f \r) and a `+`/`-` sign are accepted;
 * - the number may be followed by a blank and anything (`5\tx` is 5);
 * - values are parsed as 64-bit C longs and then truncated to 32 bits
 *   (`set k 4294967296 0 1` stores flags 0; a data length of 4294967297 is 1);
 * - unsigned parses negate modulo 2^64 and are rejected only when the result
 *   has the top bit set and the token contains a `-` anywhere.
 *
 * One file (over 600 lines) because memcached's number rules and its meta flag
 * pre-parse are one table of quirks read by every meta command.
 */
import { decodeBase64Key } from '../base64.js';
import { Viewer } from '../bytes.js';
import { BinaryStatus, ProtocolError } from '../errors.js';
import { ItemFacts } from '../model.js';
import type { ParserLimits } from '../codec.js';
import type {
  ArithmeticRequest,
  DeleteRequest,
  ErrorRequest,
  GetRequest,
  MetaFlags,
  Request,
  SimpleRequest,
  StoreMode,
  StoreRequest,
} from '../model.js';

/** The value of a store request before its data block has arrived. */
export const EMPTY: Buffer = Buffer.alloc(0);

/** Token offsets of the current line: token i is `buf[start[i]..end[i])`. */
export interface TokenSpans {
  start: Int32Array;
  end: Int32Array;
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

const TWO_63 = 1n << 63n;
const TWO_64 = 1n << 64n;
const U64_MAX = TWO_64 - 1n;

/** C isspace(): space, \t \n \v \f \r. */
/** Views of the line being parsed (parsing is synchronous, so one per module serves every parser). */
const views = new Viewer();

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

/**
 * strtol/strtoul as glibc does it on a 64-bit machine, plus memcached's
 * "whole token or a blank after the digits" rule. Returns the value as a
 * signed (LONG) or unsigned (ULONG) 64-bit BigInt, or undefined where
 * memcached's safe_strto* returns false.
 */
function cParse(buf: Buffer, s: number, e: number, unsigned: boolean): bigint | undefined {
  let i = s;
  while (i < e && isSpace(buf[i]!)) i++;
  let neg = false;
  if (i < e && (buf[i] === 43 || buf[i] === 45)) {
    neg = buf[i] === 45;
    i++;
  }
  const d = i;
  while (i < e && buf[i]! >= 48 && buf[i]! <= 57) i++;
  if (i === d) return undefined; // no digits: endptr == str
  if (i < e && !isSpace(buf[i]!)) return undefined;
  const mag = BigInt(buf.toString('latin1', d, i));
  if (!unsigned) {
    // ERANGE outside [-2^63, 2^63-1]
    if (neg ? mag > TWO_63 : mag >= TWO_63) return undefined;
    return neg ? -mag : mag;
  }
  if (mag > U64_MAX) return undefined; // ERANGE
  const v = neg ? (TWO_64 - mag) % TWO_64 : mag;
  if (v >= TWO_63) {
    // memcached: "only check for negative signs in the uncommon case when the
    // unsigned number is so big that it's negative as a signed number" (the
    // whole token is searched).
    for (let k = s; k < e; k++) if (buf[k] === 45) return undefined;
  }
  return v;
}

/** memcached safe_strtol into an int32: NaN when rejected. */
export function parseInt32(buf: Buffer, s: number, e: number): number {
  const len = e - s;
  if (len > 0 && len <= 9) {
    let v = 0;
    let i = s;
    const neg = buf[s] === 45;
    if (neg) {
      i++;
      if (i === e) return NaN;
    }
    for (; i < e; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    if (i === e) return neg ? -v : v;
  }
  const b = cParse(buf, s, e, false);
  return b === undefined ? NaN : Number(BigInt.asIntN(32, b));
}

/** memcached safe_strtoul into a uint32 (truncating): NaN when rejected. */
export function parseUint32(buf: Buffer, s: number, e: number): number {
  const len = e - s;
  if (len > 0 && len <= 9) {
    let v = 0;
    let i = s;
    for (; i < e; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    if (i === e) return v;
  }
  const b = cParse(buf, s, e, true);
  return b === undefined ? NaN : Number(BigInt.asUintN(32, b));
}

/** memcached safe_strtoull: undefined when rejected. */
export function parseUint64(buf: Buffer, s: number, e: number): bigint | undefined {
  const len = e - s;
  if (len > 0 && len <= 15) {
    let v = 0;
    let i = s;
    for (; i < e; i++) {
      const c = buf[i]! - 48;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    if (i === e) return BigInt(v);
  }
  return cParse(buf, s, e, true);
}

/** Whether `buf[s..e)` is exactly the ASCII word `word`. */
export function tokenIs(buf: Buffer, s: number, e: number, word: string): boolean {
  if (e - s !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (buf[s + i] !== word.charCodeAt(i)) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Errors (memcached 1.6.18 reply lines)
// ---------------------------------------------------------------------------

const einval = BinaryStatus.EINVAL;
export const ERR = {
  UNKNOWN: new ProtocolError('UNKNOWN_COMMAND', 'ERROR', BinaryStatus.UNKNOWN_COMMAND),
  BAD_FORMAT: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad command line format', einval),
  KEY_TOO_LONG: new ProtocolError('KEY_TOO_LONG', 'CLIENT_ERROR bad command line format', einval),
  BAD_DATA_CHUNK: new ProtocolError('BAD_DATA_CHUNK', 'CLIENT_ERROR bad data chunk', einval),
  TOO_LARGE: new ProtocolError('TOO_LARGE', 'SERVER_ERROR object too large for cache', BinaryStatus.E2BIG),
  DELETE_USAGE: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]', einval),
  INVALID_DELTA: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid numeric delta argument', BinaryStatus.DELTA_BADVAL),
  INVALID_EXPTIME: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid exptime argument', einval),
  // Not memcached's: cleave bounds retrieval lines it would buffer without limit.
  GET_LINE_TOO_LONG: new ProtocolError('LINE_TOO_LONG', 'SERVER_ERROR request line too long', BinaryStatus.E2BIG),
  TOO_MANY_KEYS: new ProtocolError('LINE_TOO_LONG', 'SERVER_ERROR too many keys in request', BinaryStatus.E2BIG),
  /**
   * More than 2048 bytes without a newline on a line that is not get/gets:
   * memcached closes the connection without a reply.
   */
  LINE_TOO_LONG: new ProtocolError('LINE_TOO_LONG', 'CLIENT_ERROR line too long', einval, true),
  // meta
  META_DUPLICATE: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR duplicate flag', einval),
  META_INVALID_FLAG: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid flag', einval),
  META_BAD_TOKEN: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad token in command line format', einval),
  META_DECODE_KEY: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR error decoding key', einval),
  META_M_LENGTH: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR incorrect length for M token', einval),
  META_BAD_INITIAL: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid numeric initial value', einval),
  META_BAD_DELTA: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid numeric delta value', einval),
  META_OPAQUE_TOO_LONG: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR opaque token too long', einval),
  MG_TOO_MANY_FLAGS: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR options flags are too long', einval),
  META_TOO_MANY_FLAGS: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR options flags too long', einval),
  META_INVALID_OR_DUP: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid or duplicate flag', einval),
  MS_BAD_MODE: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid mode for ms M token', einval),
  MA_BAD_MODE: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR invalid mode for ma M token', einval),
} as const;

export function errorRequest(protocol: 'text' | 'meta', error: ProtocolError, quiet: boolean): ErrorRequest {
  return { protocol, quiet, opcode: 0, opaque: 0, cmd: 'error', error };
}

// ---------------------------------------------------------------------------
// Meta commands
// ---------------------------------------------------------------------------

/** memcached: a meta line may hold at most 20 tokens counting the command, the key and the terminator. */
const META_MAX_TOKENS = 20;
/** memcached MFLAG_MAX_OPAQUE_LENGTH: the whole `O...` token. */
export const META_MAX_OPAQUE_LENGTH = 32;
const INT_MAX = 0x7fffffff;

/** One-character strings by char code, so building `ret` never converts bytes. */
const CHAR: string[] = [];
for (let i = 0; i < 128; i++) CHAR.push(String.fromCharCode(i));

/** A store request whose value the text parser fills in once the data block arrives. */
export type PendingStore = { -readonly [K in keyof StoreRequest]: StoreRequest[K] };

/** Out-parameters of `parseMeta` for `ms`: bytes to read as the data block (value + \r\n), or to swallow after an error. */
export interface MetaDataBlock {
  /** Data block length including the trailing \r\n; 0 = none. */
  read: number;
  /** Bytes to discard after an error reply; 0 = none. */
  swallow: number;
}

export interface MetaOptions {
  /**
   * Accept `E` (explicit new CAS) on ms/ma/md, a flag memcached added after
   * 1.6.18. Off by default: memcached 1.6.18 answers `CLIENT_ERROR invalid flag`.
   */
  readonly metaNewCas: boolean;
}

/** What the flag scan found; reused across calls (the parser is single-threaded). */
class FlagScan {
  err: ProtocolError | undefined;
  /** An error that stops the scan at once (duplicate or unknown flag). */
  fatal = false;
  ret = '';
  seen0 = 0;
  seen1 = 0;
  seen2 = 0;
  seen3 = 0;
  key: Buffer | undefined;
  base64 = false;
  quiet = false;
  touch: number | undefined;
  vivify: number | undefined;
  recache: number | undefined;
  noBump = false;
  flags: number | undefined;
  cas: bigint | undefined;
  newCas: bigint | undefined;
  mode = 0;
  initial: bigint | undefined;
  delta: bigint | undefined;
  invalidate = false;
  opaqueStart = -1;
  opaqueEnd = -1;

  reset(): void {
    this.err = undefined;
    this.fatal = false;
    this.ret = '';
    this.seen0 = this.seen1 = this.seen2 = this.seen3 = 0;
    this.key = undefined;
    this.base64 = false;
    this.quiet = false;
    this.touch = this.vivify = this.recache = undefined;
    this.noBump = false;
    this.flags = undefined;
    this.cas = this.newCas = undefined;
    this.mode = 0;
    this.initial = this.delta = undefined;
    this.invalidate = false;
    this.opaqueStart = this.opaqueEnd = -1;
  }

  /** Mark flag byte `o` seen; false when it was seen already. */
  mark(o: number): boolean {
    const bit = 1 << (o & 31);
    switch (o >> 5) {
      case 0:
        if (this.seen0 & bit) return false;
        this.seen0 |= bit;
        return true;
      case 1:
        if (this.seen1 & bit) return false;
        this.seen1 |= bit;
        return true;
      case 2:
        if (this.seen2 & bit) return false;
        this.seen2 |= bit;
        return true;
      default:
        if (this.seen3 & bit) return false;
        this.seen3 |= bit;
        return true;
    }
  }
}

const scan = new FlagScan();

/**
 * memcached's meta flag pre-parse: every token from `first` on is a flag,
 * the first byte names it. A repeated or unknown flag stops at once; a bad
 * flag value is remembered (the last one wins) and the scan goes on.
 */
function scanFlags(buf: Buffer, t: TokenSpans, first: number, n: number, keyS: number, keyE: number, opts: MetaOptions): void {
  const f = scan;
  f.reset();
  const ts = t.start;
  const te = t.end;
  let ret = '';
  for (let i = first; i < n; i++) {
    const s = ts[i]!;
    const e = te[i]!;
    const o = buf[s]!;
    if (o >= 127 || !f.mark(o)) {
      f.err = ERR.META_DUPLICATE;
      f.fatal = true;
      f.ret = ret;
      return;
    }
    switch (o) {
      case 98: {
        // b: the key is base64
        const k = decodeBase64Key(buf, keyS, keyE);
        if (k === undefined) f.err = ERR.META_DECODE_KEY;
        else f.key = k;
        f.base64 = true;
        break;
      }
      case 78: {
        // N: vivify on miss with this exptime
        const v = parseInt32(buf, s + 1, e);
        if (v !== v) f.err = ERR.META_BAD_TOKEN;
        else f.vivify = v;
        break;
      }
      case 84: {
        // T: new exptime
        const v = parseInt32(buf, s + 1, e);
        if (v !== v) f.err = ERR.META_BAD_TOKEN;
        else f.touch = v;
        break;
      }
      case 82: {
        // R: recache below this TTL
        const v = parseInt32(buf, s + 1, e);
        if (v !== v) f.err = ERR.META_BAD_TOKEN;
        else f.recache = v;
        break;
      }
      case 79: // O: opaque, echoed
        f.opaqueStart = s;
        f.opaqueEnd = e;
        break;
      case 108: // l
      case 80: // P (proxy hint, accepted and ignored)
      case 76: // L (proxy hint, accepted and ignored)
      case 107: // k
      case 115: // s
      case 116: // t
      case 99: // c
      case 102: // f
      case 118: // v
      case 104: // h
        break;
      case 117: // u
        f.noBump = true;
        break;
      case 113: // q
        f.quiet = true;
        break;
      case 70: {
        // F: client flags. memcached keeps its default error text for a bad F.
        const v = parseUint32(buf, s + 1, e);
        if (v !== v) {
          if (f.err === undefined) f.err = ERR.BAD_FORMAT;
        } else f.flags = v;
        break;
      }
      case 67: {
        // C: compare CAS
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) f.err = ERR.META_BAD_TOKEN;
        else f.cas = v;
        break;
      }
      case 77: // M: mode switch, exactly one character
        if (e - s !== 2) f.err = ERR.META_M_LENGTH;
        else f.mode = buf[s + 1]!;
        break;
      case 74: {
        // J: initial value for ma autovivify
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) f.err = ERR.META_BAD_INITIAL;
        else f.initial = v;
        break;
      }
      case 68: {
        // D: ma delta
        const v = parseUint64(buf, s + 1, e);
        if (v === undefined) f.err = ERR.META_BAD_DELTA;
        else f.delta = v;
        break;
      }
      case 73: // I: invalidate / mark stale
        f.invalidate = true;
        break;
      case 69:
        // E: explicit new CAS (not in memcached 1.6.18)
        if (opts.metaNewCas) {
          const v = parseUint64(buf, s + 1, e);
          if (v === undefined) f.err = ERR.META_BAD_TOKEN;
          else f.newCas = v;
          break;
        }
        f.err = ERR.META_INVALID_FLAG;
        f.fatal = true;
        f.ret = ret;
        return;
      default:
        f.err = ERR.META_INVALID_FLAG;
        f.fatal = true;
        f.ret = ret;
        return;
    }
    ret += CHAR[o]!;
  }
  f.ret = ret;
}

/**
 * The exptime an item that mg or ma `N` creates ends with: memcached applies
 * T and N in request order, so a T before N (nothing to touch yet) leaves
 * N's, and a T after N sets it.
 */
function createdExptime(ret: string, touch: number | undefined, vivify: number | undefined): number | undefined {
  if (vivify === undefined || touch === undefined) return vivify;
  const t = ret.indexOf('T');
  return t >= 0 && t < ret.indexOf('N') ? vivify : touch;
}

/** The ItemFacts an mg reply shows: `c` the CAS unique, `k` the key's form, `h`/`l` the access facts. */
function getWants(ret: string): number {
  let want = ret.indexOf('c') >= 0 ? ItemFacts.CAS : 0;
  if (ret.indexOf('k') >= 0) want |= ItemFacts.KEY_FORM;
  if (ret.indexOf('h') >= 0 || ret.indexOf('l') >= 0) want |= ItemFacts.ACCESS;
  return want;
}

/** An `ma N` reply depends on whether it created the counter when quiet (`q` answers only then) or with `t` before `N` (-1). */
function arithmeticWants(ret: string, quiet: boolean, vivify: boolean): number {
  if (!vivify) return 0;
  if (quiet) return ItemFacts.CREATED;
  const t = ret.indexOf('t');
  return t >= 0 && t < ret.indexOf('N') ? ItemFacts.CREATED : 0;
}

function metaFlags(buf: Buffer, wireKey: Buffer): MetaFlags {
  const f = scan;
  return {
    ret: f.ret,
    opaqueToken: f.opaqueStart >= 0 ? views.view(buf, f.opaqueStart, f.opaqueEnd) : undefined,
    base64Key: f.base64,
    wireKey,
    vivifyAsSent: f.vivify,
  };
}

function opaqueTooLong(): boolean {
  return scan.opaqueStart >= 0 && scan.opaqueEnd - scan.opaqueStart > META_MAX_OPAQUE_LENGTH;
}

function metaError(error: ProtocolError): ErrorRequest {
  return { protocol: 'meta', quiet: false, opcode: 0, opaque: 0, cmd: 'error', error };
}

const STORE_MODE: Record<number, StoreMode> = {
  0: 'set',
  83: 'set', // S
  69: 'add', // E
  65: 'append', // A
  80: 'prepend', // P
  82: 'replace', // R
};

/**
 * Parse a meta command line whose tokens are in `t` (n real tokens; token 0
 * is the two-byte command, `sub` its second byte). For `ms`, `block` says how
 * many bytes follow as the data block, or how many to swallow after an error.
 * Returns undefined for an unknown `m?` command.
 */
export function parseMeta(
  sub: number,
  buf: Buffer,
  t: TokenSpans,
  n: number,
  limits: ParserLimits,
  opts: MetaOptions,
  block: MetaDataBlock,
): Request | undefined {
  block.read = 0;
  block.swallow = 0;
  if (sub === 110) {
    // mn
    const r: SimpleRequest = { protocol: 'meta', quiet: false, opcode: 0, opaque: 0, cmd: 'noop' };
    return r;
  }
  if (sub !== 103 && sub !== 115 && sub !== 100 && sub !== 97 && sub !== 101) return undefined;
  const ts = t.start;
  const te = t.end;
  // memcached counts the terminator token and stops counting at 24.
  const ntokens = (n > 23 ? 23 : n) + 1;
  if (sub === 101) return parseMe(buf, t, n, limits);
  if (ntokens < 3) return metaError(ERR.UNKNOWN);
  const keyS = ts[1]!;
  const keyE = te[1]!;
  if (keyE - keyS > limits.maxKeyLength) return metaError(ERR.KEY_TOO_LONG);
  if (sub === 115) return parseMs(buf, t, n, ntokens, keyS, keyE, limits, opts, block);
  if (ntokens > META_MAX_TOKENS) return metaError(sub === 103 ? ERR.MG_TOO_MANY_FLAGS : ERR.META_TOO_MANY_FLAGS);
  scanFlags(buf, t, 2, n, keyS, keyE, opts);
  const f = scan;
  if (f.err !== undefined) {
    // md and ma report every pre-parse failure the same way.
    return metaError(sub === 103 ? f.err : ERR.META_INVALID_OR_DUP);
  }
  const wireKey = views.view(buf, keyS, keyE);
  const key = f.key ?? wireKey;
  if (sub === 103) {
    if (opaqueTooLong()) return metaError(ERR.META_OPAQUE_TOO_LONG);
    const r: GetRequest = {
      protocol: 'meta',
      quiet: f.quiet,
      opcode: 0,
      opaque: 0,
      cmd: 'get',
      key,
      keyBinary: f.base64,
      withCas: false,
      touch: f.touch,
      vivify: createdExptime(f.ret, f.touch, f.vivify),
      recache: f.recache,
      noBump: f.noBump,
      tokens: true,
      want: getWants(f.ret),
      meta: metaFlags(buf, wireKey),
    };
    return r;
  }
  if (sub === 100) {
    if (opaqueTooLong()) return metaError(ERR.META_OPAQUE_TOO_LONG);
    const r: DeleteRequest = {
      protocol: 'meta',
      quiet: f.quiet,
      opcode: 0,
      opaque: 0,
      cmd: 'delete',
      key,
      keyBinary: f.base64,
      compareCas: f.cas,
      invalidate: f.invalidate,
      // memcached applies T only when marking stale (I).
      exptime: f.invalidate ? f.touch : undefined,
      meta: metaFlags(buf, wireKey),
    };
    return r;
  }
  // ma
  let incr: boolean;
  switch (f.mode) {
    case 0:
    case 73: // I
    case 43: // +
      incr = true;
      break;
    case 68: // D
    case 45: // -
      incr = false;
      break;
    default:
      return metaError(ERR.MA_BAD_MODE);
  }
  if (opaqueTooLong()) return metaError(ERR.META_OPAQUE_TOO_LONG);
  const vivify = f.vivify !== undefined;
  const r: ArithmeticRequest = {
    protocol: 'meta',
    quiet: f.quiet,
    opcode: 0,
    opaque: 0,
    cmd: incr ? 'incr' : 'decr',
    key,
    keyBinary: f.base64,
    incr,
    delta: f.delta ?? 1n,
    initial: vivify ? (f.initial ?? 0n) : undefined,
    // The exptime the created counter ends with: T and N apply in request order, as on mg.
    exptime: createdExptime(f.ret, f.touch, f.vivify),
    touch: f.touch,
    compareCas: f.cas,
    newCas: f.newCas,
    want: arithmeticWants(f.ret, f.quiet, vivify),
    meta: metaFlags(buf, wireKey),
  };
  return r;
}

function parseMe(buf: Buffer, t: TokenSpans, n: number, limits: ParserLimits): Request {
  const ts = t.start;
  const te = t.end;
  if (n < 2 || te[1]! - ts[1]! > limits.maxKeyLength) return metaError(ERR.BAD_FORMAT);
  const wireKey = views.view(buf, ts[1]!, te[1]!);
  let key = wireKey;
  // memcached: `me <key> b` (exactly "b" as the first option) decodes a base64 key.
  const base64 = n >= 3 && te[2]! - ts[2]! === 1 && buf[ts[2]!] === 98;
  if (base64) {
    const k = decodeBase64Key(buf, ts[1]!, te[1]!);
    if (k === undefined) return metaError(ERR.BAD_FORMAT);
    key = k;
  }
  const r: GetRequest = {
    protocol: 'meta',
    quiet: false,
    opcode: 0,
    opaque: 0,
    cmd: 'me',
    key,
    keyBinary: base64,
    withCas: false,
    noBump: true,
    debug: true,
    // me prints the key's form, last access, fetched mark and CAS unique.
    want: ItemFacts.KEY_FORM | ItemFacts.ACCESS | ItemFacts.CAS,
    meta: { ret: base64 ? 'b' : '', opaqueToken: undefined, base64Key: base64, wireKey, vivifyAsSent: undefined },
  };
  return r;
}

function parseMs(
  buf: Buffer,
  t: TokenSpans,
  n: number,
  ntokens: number,
  keyS: number,
  keyE: number,
  limits: ParserLimits,
  opts: MetaOptions,
  block: MetaDataBlock,
): Request {
  // Errors before the data length is known leave the data block to be read as commands.
  if (ntokens === 3) return metaError(ERR.BAD_FORMAT);
  if (ntokens > META_MAX_TOKENS) return metaError(ERR.META_TOO_MANY_FLAGS);
  const vlen = parseInt32(buf, t.start[2]!, t.end[2]!);
  if (vlen !== vlen || vlen < 0 || vlen > INT_MAX - 2) return metaError(ERR.BAD_FORMAT);
  // From here on memcached swallows the data block after an error.
  scanFlags(buf, t, 3, n, keyS, keyE, opts);
  const f = scan;
  if (f.err !== undefined) {
    block.swallow = vlen + 2;
    return metaError(f.err);
  }
  const mode = STORE_MODE[f.mode];
  if (mode === undefined) {
    block.swallow = vlen + 2;
    return metaError(ERR.MS_BAD_MODE);
  }
  if (opaqueTooLong()) {
    block.swallow = vlen + 2;
    return metaError(ERR.META_OPAQUE_TOO_LONG);
  }
  if (vlen > limits.maxItemSize) {
    // Reported even with q. memcached's ms unlinks the old item when refused for size, in every mode.
    block.swallow = vlen + 2;
    return { ...metaError(ERR.TOO_LARGE), unlinkKey: f.key ?? views.view(buf, keyS, keyE) };
  }
  const wireKey = views.view(buf, keyS, keyE);
  const r: PendingStore = {
    protocol: 'meta',
    quiet: f.quiet,
    opcode: 0,
    opaque: 0,
    cmd: 'store',
    mode,
    key: f.key ?? wireKey,
    keyBinary: f.base64,
    value: EMPTY,
    flags: f.flags ?? 0,
    exptime: f.touch ?? 0,
    compareCas: f.cas,
    invalidate: f.invalidate,
    newCas: f.newCas,
    unlinkOnFailure: true,
    meta: metaFlags(buf, wireKey),
  };
  block.read = vlen + 2;
  return r;
}
