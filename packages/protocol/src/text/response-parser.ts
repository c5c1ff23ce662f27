/**
 * Client side of the text and meta protocols: turns the bytes a memcached
 * server answers into typed replies.
 *
 * The parser is incremental (feed chunks of any size) and zero-copy where it
 * can be: keys, values, opaque tokens and raw flag strings are views into the
 * chunks fed. Only a line or a value that spans chunks is copied, once, into
 * a buffer of its own. Replies therefore stay valid as long as the fed chunks
 * are not modified (socket chunks never are).
 *
 * It does not know which request a reply answers; it reports each reply as it
 * completes, in order. A text retrieval answers with `value` replies then
 * `end`; a meta command answers with one `meta` reply.
 *
 * One file (over 600 lines): a single resumable state machine, whose states
 * share the cursor and the spanning-copy logic.
 */
import { Viewer } from '../bytes.js';
import { BinaryStatus, ProtocolError } from '../errors.js';

// ---------------------------------------------------------------------------
// Reply types
// ---------------------------------------------------------------------------

/** One-word text replies. */
export type TextStatus = 'STORED' | 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'DELETED' | 'TOUCHED' | 'OK' | 'RESET';

/** Meta reply codes. */
export type MetaCode = 'VA' | 'HD' | 'EN' | 'NS' | 'EX' | 'NF' | 'MN';

/** `VALUE <key> <flags> <bytes>[ <cas>]` and its data block. */
export interface ValueReply {
  readonly kind: 'value';
  readonly key: Buffer;
  /** 32-bit client flags. */
  readonly flags: number;
  /** Present for gets/gats. */
  readonly cas: bigint | undefined;
  /** The data block, without its `\r\n`. */
  readonly value: Buffer;
}

/** `END`: the end of a retrieval (or of a stats listing). */
export interface EndReply {
  readonly kind: 'end';
}

export interface StatusReply {
  readonly kind: 'status';
  readonly status: TextStatus;
}

/** incr/decr: the new value. */
export interface NumberReply {
  readonly kind: 'number';
  readonly value: bigint;
  /** The digits as sent. */
  readonly digits: Buffer;
}

export interface VersionReply {
  readonly kind: 'version';
  readonly version: string;
}

/** One `STAT <name> <value>` line; the listing ends with an `end` reply. */
export interface StatReply {
  readonly kind: 'stat';
  readonly name: string;
  readonly value: string;
}

/** `ERROR`, `CLIENT_ERROR <message>`, `SERVER_ERROR <message>`. */
export interface ErrorReply {
  readonly kind: 'error';
  readonly error: 'ERROR' | 'CLIENT_ERROR' | 'SERVER_ERROR';
  /** The text after the error word ('' for a bare ERROR). */
  readonly message: string;
  /** The whole line, without `\r\n`. */
  readonly line: Buffer;
}

/**
 * A meta reply: `VA <len> <flags>*` + data, or `HD|EN|NS|EX|NF|MN <flags>*`.
 * Flags are parsed into typed fields; `flags` keeps them as sent, so a proxy
 * can relay a reply without formatting it again.
 */
export interface MetaReply {
  readonly kind: 'meta';
  readonly code: MetaCode;
  /** VA only: the data block, without its `\r\n`. */
  readonly value: Buffer | undefined;
  /** The return flags as sent (`c13 f5 kfoo O1`), without the leading space; empty when none. */
  readonly flags: Buffer;
  /** `c`: CAS unique. */
  readonly cas: bigint | undefined;
  /** `f`: client flags. */
  readonly clientFlags: number | undefined;
  /** `h`: the item had been fetched before. */
  readonly hit: boolean | undefined;
  /** `l`: seconds since the previous access. */
  readonly lastAccess: number | undefined;
  /** `s`: value size in bytes. */
  readonly size: number | undefined;
  /** `t`: seconds left to live; -1 = never expires. */
  readonly ttl: number | undefined;
  /** `O`: the opaque token (without the letter). */
  readonly opaque: Buffer | undefined;
  /** `k`: the key as sent (base64 when `base64Key`). */
  readonly key: Buffer | undefined;
  /** `b`: `key` is base64. */
  readonly base64Key: boolean;
  /** `W`: this client won the right to recache. */
  readonly win: boolean;
  /** `X`: the item is stale. */
  readonly stale: boolean;
  /** `Z`: another client already holds the recache token. */
  readonly tokenSent: boolean;
}

/** `ME <key> exp=.. la=.. cas=.. fetch=.. cls=.. size=..` (meta debug). */
export interface MetaDebugReply {
  readonly kind: 'me';
  readonly key: Buffer;
  /** memcached prints `current_time - exptime`: the TTL left, negated; -1 = never expires. */
  readonly exp: number | undefined;
  readonly la: number | undefined;
  readonly cas: bigint | undefined;
  readonly fetched: boolean | undefined;
  readonly cls: number | undefined;
  readonly size: number | undefined;
  /** Everything after the key, as sent. */
  readonly fields: Buffer;
}

/** Any other line (admin command answers, `stats detail dump`, ...), without `\r\n`. */
export interface LineReply {
  readonly kind: 'line';
  readonly line: Buffer;
}

export type TextReply =
  | ValueReply
  | EndReply
  | StatusReply
  | NumberReply
  | VersionReply
  | StatReply
  | ErrorReply
  | MetaReply
  | MetaDebugReply
  | LineReply;

export interface TextResponseParserOptions {
  /** Largest data block accepted (VALUE / VA). Default 1 MiB, memcached's default item size limit. */
  maxValueSize?: number;
  /** Longest reply line, `\r\n` excluded. Default 8192. */
  maxLineLength?: number;
}

// ---------------------------------------------------------------------------
// Reply objects
// ---------------------------------------------------------------------------

class Value implements ValueReply {
  readonly kind = 'value' as const;
  value: Buffer = EMPTY;
  constructor(
    readonly key: Buffer,
    readonly flags: number,
    readonly cas: bigint | undefined,
  ) {}
}

class Meta implements MetaReply {
  readonly kind = 'meta' as const;
  value: Buffer | undefined = undefined;
  flags: Buffer = EMPTY;
  cas: bigint | undefined = undefined;
  clientFlags: number | undefined = undefined;
  hit: boolean | undefined = undefined;
  lastAccess: number | undefined = undefined;
  size: number | undefined = undefined;
  ttl: number | undefined = undefined;
  opaque: Buffer | undefined = undefined;
  key: Buffer | undefined = undefined;
  base64Key = false;
  win = false;
  stale = false;
  tokenSent = false;
  constructor(readonly code: MetaCode) {}
}

const EMPTY = Buffer.alloc(0);

const status = (s: TextStatus): StatusReply => Object.freeze({ kind: 'status' as const, status: s });
const REPLY_END: EndReply = Object.freeze({ kind: 'end' as const });
const REPLY_STORED = status('STORED');
const REPLY_NOT_STORED = status('NOT_STORED');
const REPLY_EXISTS = status('EXISTS');
const REPLY_NOT_FOUND = status('NOT_FOUND');
const REPLY_DELETED = status('DELETED');
const REPLY_TOUCHED = status('TOUCHED');
const REPLY_OK = status('OK');
const REPLY_RESET = status('RESET');

const bare = (code: MetaCode): MetaReply => Object.freeze(new Meta(code));
const BARE: Record<MetaCode, MetaReply> = {
  VA: bare('VA'),
  HD: bare('HD'),
  EN: bare('EN'),
  NS: bare('NS'),
  EX: bare('EX'),
  NF: bare('NF'),
  MN: bare('MN'),
};

const W_VALUE = Buffer.from('VALUE ', 'latin1');
const W_VERSION = Buffer.from('VERSION ', 'latin1');
const W_STAT = Buffer.from('STAT ', 'latin1');
const W_STORED = Buffer.from('STORED', 'latin1');
const W_NOT_STORED = Buffer.from('NOT_STORED', 'latin1');
const W_NOT_FOUND = Buffer.from('NOT_FOUND', 'latin1');
const W_EXISTS = Buffer.from('EXISTS', 'latin1');
const W_DELETED = Buffer.from('DELETED', 'latin1');
const W_TOUCHED = Buffer.from('TOUCHED', 'latin1');
const W_RESET = Buffer.from('RESET', 'latin1');
const W_ERROR = Buffer.from('ERROR', 'latin1');
const W_CLIENT_ERROR = Buffer.from('CLIENT_ERROR', 'latin1');
const W_SERVER_ERROR = Buffer.from('SERVER_ERROR', 'latin1');

const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;

const U64_MAX = 0xffffffffffffffffn;
const E15 = 10n ** 15n;

// ---------------------------------------------------------------------------
// Byte helpers
// ---------------------------------------------------------------------------

function startsWith(line: Buffer, end: number, word: Buffer): boolean {
  const n = word.length;
  if (end < n) return false;
  for (let i = 0; i < n; i++) if (line[i] !== word[i]) return false;
  return true;
}

function isWord(line: Buffer, end: number, word: Buffer): boolean {
  return end === word.length && startsWith(line, end, word);
}

/** `XY` alone or followed by a space: a meta code. */
function isCode(line: Buffer, end: number, c1: number): boolean {
  return line[1] === c1 && (end === 2 || line[2] === SP);
}

/** Decimal digits in [s, e) as a number, or -1 when not digits or above `max`. */
function parseDecimal(b: Buffer, s: number, e: number, max: number): number {
  if (e <= s || e - s > 16) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = b[i]! - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v > max ? -1 : v;
}

/** An unsigned 64-bit decimal in [s, e), or undefined. */
function parseU64(b: Buffer, s: number, e: number): bigint | undefined {
  const n = e - s;
  if (n <= 0 || n > 20) return undefined;
  if (n <= 15) {
    const v = parseDecimal(b, s, e, Number.MAX_SAFE_INTEGER);
    return v < 0 ? undefined : BigInt(v);
  }
  const hi = parseDecimal(b, s, e - 15, Number.MAX_SAFE_INTEGER);
  const lo = parseDecimal(b, e - 15, e, Number.MAX_SAFE_INTEGER);
  if (hi < 0 || lo < 0) return undefined;
  const v = BigInt(hi) * E15 + BigInt(lo);
  return v > U64_MAX ? undefined : v;
}

function indexOfSpace(b: Buffer, s: number, e: number): number {
  for (let i = s; i < e; i++) if (b[i] === SP) return i;
  return e;
}

function bad(message: string): ProtocolError {
  return new ProtocolError('BAD_FORMAT', `bad reply: ${message}`, BinaryStatus.EINVAL, true);
}

const U32_MAX = 0xffffffff;

/** Fill a meta reply's typed fields from its flag tokens in [s, e). */
function parseMetaFlags(r: Meta, b: Buffer, s: number, e: number): void {
  let i = s;
  while (i < e) {
    if (b[i] === SP) {
      i++;
      continue;
    }
    const t = indexOfSpace(b, i, e);
    const a = i + 1;
    switch (b[i]) {
      case 0x62: // b
        r.base64Key = true;
        break;
      case 0x63: {
        // c
        const v = parseU64(b, a, t);
        if (v === undefined) throw bad('meta c flag');
        r.cas = v;
        break;
      }
      case 0x66: {
        // f
        const v = parseDecimal(b, a, t, U32_MAX);
        if (v < 0) throw bad('meta f flag');
        r.clientFlags = v;
        break;
      }
      case 0x68: // h
        if (t - a !== 1 || (b[a] !== 0x30 && b[a] !== 0x31)) throw bad('meta h flag');
        r.hit = b[a] === 0x31;
        break;
      case 0x6b: // k
        r.key = b.subarray(a, t);
        break;
      case 0x6c: {
        // l
        const v = parseDecimal(b, a, t, Number.MAX_SAFE_INTEGER);
        if (v < 0) throw bad('meta l flag');
        r.lastAccess = v;
        break;
      }
      case 0x73: {
        // s
        const v = parseDecimal(b, a, t, Number.MAX_SAFE_INTEGER);
        if (v < 0) throw bad('meta s flag');
        r.size = v;
        break;
      }
      case 0x74: {
        // t: -1 for items that never expire
        const neg = b[a] === 0x2d;
        const v = parseDecimal(b, neg ? a + 1 : a, t, Number.MAX_SAFE_INTEGER);
        if (v < 0) throw bad('meta t flag');
        r.ttl = neg ? -v : v;
        break;
      }
      case 0x4f: // O
        r.opaque = b.subarray(a, t);
        break;
      case 0x57: // W
        r.win = true;
        break;
      case 0x58: // X
        r.stale = true;
        break;
      case 0x5a: // Z
        r.tokenSent = true;
        break;
      default:
      // Flags this parser does not know stay available in `flags`.
    }
    i = t;
  }
}

function latin1(b: Buffer, s: number, e: number): string {
  return b.toString('latin1', s, e);
}

// ---------------------------------------------------------------------------
// The parser
// ---------------------------------------------------------------------------

export class TextResponseParser {
  private readonly maxValueSize: number;
  private readonly maxLineLength: number;

  /** Views of the chunk being parsed and of its lines, without subarray's per-call lookups. */
  private readonly chunkViews = new Viewer();
  private readonly lineViews = new Viewer();
  /** An unfinished line carried over from earlier chunks. */
  private lineBuf: Buffer | undefined = undefined;
  private lineLen = 0;

  /** The reply whose data block is being read. */
  private pending: Value | Meta | undefined = undefined;
  /** Its data block length. */
  private need = 0;
  /** The block when it spans chunks (copied), or a view when only its `\r\n` is missing. */
  private data: Buffer | undefined = undefined;
  private got = 0;
  /** Bytes of the block's `\r\n` seen so far. */
  private trailer = 0;

  constructor(options: TextResponseParserOptions = {}) {
    this.maxValueSize = options.maxValueSize ?? 1024 * 1024;
    this.maxLineLength = options.maxLineLength ?? 8192;
  }

  /** Bytes held for an unfinished reply. */
  get buffered(): number {
    return this.lineLen + (this.pending === undefined ? 0 : this.got + this.trailer);
  }

  /** Drop any unfinished reply (after a reconnect). */
  reset(): void {
    this.lineBuf = undefined;
    this.lineLen = 0;
    this.pending = undefined;
    this.data = undefined;
    this.got = 0;
    this.trailer = 0;
  }

  /**
   * Consume `chunk`, appending every completed reply to `out`. Throws a fatal
   * `ProtocolError` on bytes that are not a memcached reply (a line or value
   * over the limits, a data block without its `\r\n`); the stream cannot be
   * trusted after that.
   */
  feed(chunk: Buffer, out: TextReply[]): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.pending !== undefined) {
        pos = this.feedData(chunk, pos, out);
        continue;
      }
      const nl = chunk.indexOf(LF, pos);
      if (nl < 0) {
        this.stash(chunk, pos, len);
        return;
      }
      let line: Buffer;
      if (this.lineLen > 0) {
        this.stash(chunk, pos, nl);
        line = this.lineBuf!.subarray(0, this.lineLen);
        // Replies keep views into this buffer: the next partial line gets a new one.
        this.lineBuf = undefined;
        this.lineLen = 0;
      } else {
        if (nl - pos > this.maxLineLength + 1) throw this.tooLong();
        line = this.chunkViews.view(chunk, pos, nl);
      }
      pos = nl + 1;
      let end = line.length;
      if (end > 0 && line[end - 1] === CR) end--;
      this.parseLine(line, end, out);
    }
  }

  private tooLong(): ProtocolError {
    return new ProtocolError('LINE_TOO_LONG', `bad reply: line longer than ${this.maxLineLength} bytes`, BinaryStatus.EINVAL, true);
  }

  /** Append chunk[s, e) to the unfinished line. */
  private stash(chunk: Buffer, s: number, e: number): void {
    const n = e - s;
    if (n === 0) return;
    const total = this.lineLen + n;
    if (total > this.maxLineLength + 1) throw this.tooLong();
    let buf = this.lineBuf;
    if (buf === undefined || buf.length < total) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxLineLength + 1, Math.max(total, 256, (buf?.length ?? 0) * 2)));
      if (buf !== undefined) buf.copy(grown, 0, 0, this.lineLen);
      this.lineBuf = buf = grown;
    }
    chunk.copy(buf, this.lineLen, s, e);
    this.lineLen = total;
  }

  /** Read the pending reply's data block and its `\r\n`. */
  private feedData(chunk: Buffer, pos: number, out: TextReply[]): number {
    const len = chunk.length;
    const need = this.need;
    if (this.data === undefined) {
      if (len - pos >= need) {
        // The whole block is here: a view, no copy.
        this.data = this.chunkViews.view(chunk, pos, pos + need);
        this.got = need;
        pos += need;
      } else {
        this.data = Buffer.allocUnsafe(need);
        this.got = 0;
      }
    }
    if (this.got < need) {
      const n = Math.min(need - this.got, len - pos);
      chunk.copy(this.data, this.got, pos, pos + n);
      this.got += n;
      pos += n;
      if (this.got < need) return pos;
    }
    while (this.trailer < 2 && pos < len) {
      if (chunk[pos] !== (this.trailer === 0 ? CR : LF)) {
        throw new ProtocolError('BAD_DATA_CHUNK', 'bad reply: data block not followed by \\r\\n', BinaryStatus.EINVAL, true);
      }
      this.trailer++;
      pos++;
    }
    if (this.trailer === 2) {
      const r = this.pending!;
      r.value = this.data;
      out.push(r);
      this.pending = undefined;
      this.data = undefined;
      this.got = 0;
      this.trailer = 0;
    }
    return pos;
  }

  private expectData(r: Value | Meta, n: number): void {
    if (n > this.maxValueSize) {
      throw new ProtocolError('TOO_LARGE', `bad reply: value of ${n} bytes over the ${this.maxValueSize} limit`, BinaryStatus.E2BIG, true);
    }
    this.pending = r;
    this.need = n;
    this.data = undefined;
    this.got = 0;
    this.trailer = 0;
  }

  private parseLine(line: Buffer, end: number, out: TextReply[]): void {
    if (end > this.maxLineLength) throw this.tooLong();
    switch (line[0]) {
      case 0x56: // V
        if (startsWith(line, end, W_VALUE)) return this.parseValue(line, end);
        if (end >= 2 && line[1] === 0x41 && (end === 2 || line[2] === SP)) return this.parseVa(line, end);
        if (startsWith(line, end, W_VERSION)) {
          out.push({ kind: 'version', version: latin1(line, 8, end) });
          return;
        }
        break;
      case 0x45: // E
        if (end === 3 && line[1] === 0x4e && line[2] === 0x44) {
          out.push(REPLY_END);
          return;
        }
        if (isCode(line, end, 0x4e)) return this.meta('EN', line, 2, end, out);
        if (isCode(line, end, 0x58)) return this.meta('EX', line, 2, end, out);
        if (isWord(line, end, W_EXISTS)) {
          out.push(REPLY_EXISTS);
          return;
        }
        // ERROR, ERROR <text>, ERROR: <text> (memcached uses all three).
        if (startsWith(line, end, W_ERROR) && (end === 5 || line[5] === SP || line[5] === 0x3a)) {
          return this.error('ERROR', line, 5, end, out);
        }
        break;
      case 0x53: // S
        if (isWord(line, end, W_STORED)) {
          out.push(REPLY_STORED);
          return;
        }
        if (startsWith(line, end, W_STAT)) {
          const s = indexOfSpace(line, 5, end);
          out.push({ kind: 'stat', name: latin1(line, 5, s), value: latin1(line, Math.min(s + 1, end), end) });
          return;
        }
        if (startsWith(line, end, W_SERVER_ERROR) && (end === 12 || line[12] === SP)) {
          return this.error('SERVER_ERROR', line, 12, end, out);
        }
        break;
      case 0x4e: // N
        if (isCode(line, end, 0x46)) return this.meta('NF', line, 2, end, out);
        if (isCode(line, end, 0x53)) return this.meta('NS', line, 2, end, out);
        if (isWord(line, end, W_NOT_FOUND)) {
          out.push(REPLY_NOT_FOUND);
          return;
        }
        if (isWord(line, end, W_NOT_STORED)) {
          out.push(REPLY_NOT_STORED);
          return;
        }
        break;
      case 0x48: // H
        if (isCode(line, end, 0x44)) return this.meta('HD', line, 2, end, out);
        break;
      case 0x4d: // M
        if (isCode(line, end, 0x4e)) return this.meta('MN', line, 2, end, out);
        if (end > 3 && line[1] === 0x45 && line[2] === SP) return this.parseMe(line, end, out);
        break;
      case 0x44: // D
        if (isWord(line, end, W_DELETED)) {
          out.push(REPLY_DELETED);
          return;
        }
        break;
      case 0x54: // T
        if (isWord(line, end, W_TOUCHED)) {
          out.push(REPLY_TOUCHED);
          return;
        }
        break;
      case 0x4f: // O
        if (end === 2 && line[1] === 0x4b) {
          out.push(REPLY_OK);
          return;
        }
        break;
      case 0x52: // R
        if (isWord(line, end, W_RESET)) {
          out.push(REPLY_RESET);
          return;
        }
        break;
      case 0x43: // C
        if (startsWith(line, end, W_CLIENT_ERROR) && (end === 12 || line[12] === SP)) {
          return this.error('CLIENT_ERROR', line, 12, end, out);
        }
        break;
      default: {
        const c = line[0]!;
        if (c >= 0x30 && c <= 0x39) {
          // incr/decr: the new value.
          const v = parseU64(line, 0, end);
          if (v !== undefined) {
            out.push({ kind: 'number', value: v, digits: this.lineViews.view(line, 0, end) });
            return;
          }
        }
      }
    }
    out.push({ kind: 'line', line: this.lineViews.view(line, 0, end) });
  }

  private error(kind: ErrorReply['error'], line: Buffer, at: number, end: number, out: TextReply[]): void {
    let s = at;
    if (s < end && (line[s] === SP || line[s] === 0x3a)) s++;
    while (s < end && line[s] === SP) s++;
    out.push({ kind: 'error', error: kind, message: latin1(line, s, end), line: this.lineViews.view(line, 0, end) });
  }

  private meta(code: MetaCode, line: Buffer, at: number, end: number, out: TextReply[]): void {
    if (at >= end) {
      // A bare code carries nothing of its own: share one frozen reply per code.
      out.push(BARE[code]);
      return;
    }
    const r = new Meta(code);
    r.flags = this.lineViews.view(line, at + 1, end);
    parseMetaFlags(r, line, at + 1, end);
    out.push(r);
  }

  /** `VA <len> <flags>*`, then the data block. */
  private parseVa(line: Buffer, end: number): void {
    const s = indexOfSpace(line, 3, end);
    const n = parseDecimal(line, 3, s, Number.MAX_SAFE_INTEGER);
    if (n < 0) throw bad('VA length');
    const r = new Meta('VA');
    if (s < end) {
      r.flags = this.lineViews.view(line, s + 1, end);
      parseMetaFlags(r, line, s + 1, end);
    }
    this.expectData(r, n);
  }

  /** `VALUE <key> <flags> <bytes>[ <cas>]`, then the data block. */
  private parseValue(line: Buffer, end: number): void {
    const k = indexOfSpace(line, 6, end);
    const f = indexOfSpace(line, k + 1, end);
    const n = indexOfSpace(line, f + 1, end);
    if (k === 6 || k >= end || f >= end) throw bad('VALUE line');
    const flags = parseDecimal(line, k + 1, f, U32_MAX);
    const bytes = parseDecimal(line, f + 1, n, Number.MAX_SAFE_INTEGER);
    if (flags < 0 || bytes < 0) throw bad('VALUE line');
    let cas: bigint | undefined;
    if (n < end) {
      cas = parseU64(line, n + 1, end);
      if (cas === undefined) throw bad('VALUE cas');
    }
    this.expectData(new Value(this.lineViews.view(line, 6, k), flags, cas), bytes);
  }

  /** `ME <key> <name>=<value>*`. */
  private parseMe(line: Buffer, end: number, out: TextReply[]): void {
    const k = indexOfSpace(line, 3, end);
    let exp: number | undefined;
    let la: number | undefined;
    let cas: bigint | undefined;
    let fetched: boolean | undefined;
    let cls: number | undefined;
    let size: number | undefined;
    let i = k + 1;
    while (i < end) {
      const t = indexOfSpace(line, i, end);
      let eq = i;
      while (eq < t && line[eq] !== 0x3d) eq++;
      const name = latin1(line, i, eq);
      const v = eq + 1;
      switch (name) {
        case 'exp': {
          const neg = line[v] === 0x2d;
          const x = parseDecimal(line, neg ? v + 1 : v, t, Number.MAX_SAFE_INTEGER);
          if (x >= 0) exp = neg ? -x : x;
          break;
        }
        case 'la': {
          const x = parseDecimal(line, v, t, Number.MAX_SAFE_INTEGER);
          if (x >= 0) la = x;
          break;
        }
        case 'cas':
          cas = parseU64(line, v, t);
          break;
        case 'fetch':
          fetched = latin1(line, v, t) === 'yes';
          break;
        case 'cls': {
          const x = parseDecimal(line, v, t, Number.MAX_SAFE_INTEGER);
          if (x >= 0) cls = x;
          break;
        }
        case 'size': {
          const x = parseDecimal(line, v, t, Number.MAX_SAFE_INTEGER);
          if (x >= 0) size = x;
          break;
        }
      }
      i = t + 1;
    }
    out.push({
      kind: 'me',
      key: this.lineViews.view(line, 3, k),
      exp,
      la,
      cas,
      fetched,
      cls,
      size,
      fields: this.lineViews.view(line, Math.min(k + 1, end), end),
    });
  }
}
