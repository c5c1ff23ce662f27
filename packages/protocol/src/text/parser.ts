/**
 * Incremental parser for memcached's text protocol, including the meta
 * commands memcached accepts on text connections (mg ms md ma me mn).
 *
 * Zero-copy: keys and values are views of the chunk they arrived in. Only a
 * request line split across chunks is copied (once, when its newline
 * arrives), and a data block split across chunks is assembled once into a
 * buffer of its final size.
 *
 * Behaviour follows memcached 1.6.18 byte for byte, including its quirks:
 * - tokens are separated by spaces only (a tab is part of a token);
 * - one `\r` before the `\n` is dropped, so `\n` alone also ends a line;
 * - a NUL byte ends the line for parsing (the rest up to `\n` is ignored);
 * - the word after a store/arith/touch/verbosity/flush command's last
 *   argument may be anything; only `noreply` there silences the reply,
 *   errors included;
 * - a data block is exactly `<bytes>` + 2 bytes: if the last two are not
 *   `\r\n` the reply is `CLIENT_ERROR bad data chunk` and parsing resumes
 *   right after them;
 * - more than 2048 bytes without a newline closes the connection unless the
 *   line starts (after at most 100 spaces) with `get ` or `gets `.
 *
 * One file (over 600 lines): a single resumable state machine (line, data
 * block, swallow) whose states share the cursor and the chunk bookkeeping.
 */
import { Viewer } from '../bytes.js';
import { DEFAULT_LIMITS, type ParserLimits, type RequestParser } from '../codec.js';
import { ItemFacts } from '../model.js';
import type {
  ArithmeticRequest,
  DeleteRequest,
  FlushRequest,
  GetRequest,
  MultiGetRequest,
  Request,
  SimpleRequest,
  StatsRequest,
  StoreMode,
  TouchRequest,
  VerbosityRequest,
} from '../model.js';
import {
  EMPTY,
  ERR,
  errorRequest,
  parseInt32,
  parseMeta,
  parseUint32,
  parseUint64,
  tokenIs,
  type MetaDataBlock,
  type MetaOptions,
  type PendingStore,
  type TokenSpans,
} from './meta-parse.js';

const LINE = 0;
/** Reading a data block of `blockLen` bytes (value + \r\n). */
const VALUE = 1;
/** Discarding `swallowLeft` bytes of a rejected data block. */
const SWALLOW = 2;
/** Discarding an over-long retrieval line up to its newline. */
const DISCARD = 3;

const INT_MAX = 0x7fffffff;
/** Token arrays above this many entries are dropped after a long multi-get line. */
const TOKENS_KEEP = 256;

export interface TextParserOptions {
  /** Accept the meta `E` flag (explicit new CAS, newer than memcached 1.6.18). Default false. */
  metaNewCas?: boolean;
}

export class TextParser implements RequestParser {
  private readonly limits: ParserLimits;
  /** Keys and values are views of the read (or assembled line) they came in. */
  private readonly viewer = new Viewer();
  private readonly metaOptions: MetaOptions;
  private readonly toks: TokenSpans = { start: new Int32Array(32), end: new Int32Array(32) };
  private ntok = 0;
  private state = LINE;

  /** Unfinished request line: `line[0..lineLen)`; a view of the caller's chunk until we had to copy it. */
  private line: Buffer | null = null;
  private lineLen = 0;
  private lineOwned = false;

  private pending: PendingStore | null = null;
  private blockLen = 0;
  /** Data block being assembled across chunks. */
  private block: Buffer | null = null;
  private blockFill = 0;
  private swallowLeft = 0;
  private readonly metaBlock: MetaDataBlock = { read: 0, swallow: 0 };

  constructor(limits?: Partial<ParserLimits>, options?: TextParserOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.metaOptions = { metaNewCas: options?.metaNewCas ?? false };
  }

  /** Bytes held for an incomplete request (line and data block). */
  get buffered(): number {
    let n = 0;
    if (this.line !== null) n += this.lineOwned ? this.line.length : this.lineLen;
    if (this.block !== null) n += this.block.length;
    return n;
  }

  release(): boolean {
    const line = this.line;
    if (line !== null && !this.lineOwned) {
      this.line = Buffer.from(line.subarray(0, this.lineLen));
      this.lineOwned = true;
    }
    return this.pending === null;
  }

  feed(chunk: Buffer, out: Request[]): void {
    const len = chunk.length;
    let pos = 0;
    if (this.line !== null) {
      pos = this.resumeLine(chunk, out);
      if (pos < 0) return;
    }
    while (pos < len) {
      if (this.state !== LINE) {
        pos = this.continueBlock(chunk, pos, out);
        continue;
      }
      const nl = this.scanLine(chunk, pos, len);
      if (nl === -1) {
        // Keep a view of the unfinished line; copy only if the next chunk does not finish it.
        this.line = chunk.subarray(pos);
        this.lineLen = len - pos;
        this.lineOwned = false;
        return;
      }
      if (nl === -2) continue; // now discarding an over-long retrieval line
      this.dispatch(chunk, out);
      if (this.toks.start.length > TOKENS_KEEP) this.trimTokens();
      pos = nl + 1;
    }
  }

  // -------------------------------------------------------------------------
  // Lines
  // -------------------------------------------------------------------------

  /**
   * Tokenize the line starting at `pos`. Returns the index of its `\n`,
   * -1 when `buf` ends first (within the limits), -2 when the line is a
   * retrieval over `maxMultiGetLineLength` (state becomes DISCARD). Throws
   * the fatal LINE_TOO_LONG like memcached closing the connection.
   */
  private scanLine(buf: Buffer, pos: number, len: number): number {
    const L = this.limits;
    let ts = this.toks.start;
    let te = this.toks.end;
    let cap = ts.length;
    let n = 0;
    let s = -1;
    let i = pos;
    /** After a NUL nothing more is tokenized. */
    let dead = false;
    let long = false;
    let stop = pos + L.maxLineLength + 1;
    if (stop > len) stop = len;
    for (;;) {
      for (; i < stop; i++) {
        const c = buf[i]!;
        if (c > 32) {
          if (s < 0 && !dead) s = i;
          continue;
        }
        if (c === 32) {
          if (s >= 0) {
            if (n === cap) {
              this.growTokens();
              ts = this.toks.start;
              te = this.toks.end;
              cap = ts.length;
            }
            ts[n] = s;
            te[n] = i;
            n++;
            s = -1;
          }
          continue;
        }
        if (c === 10) {
          if (s >= 0) {
            if (n === cap) {
              this.growTokens();
              ts = this.toks.start;
              te = this.toks.end;
              cap = ts.length;
            }
            ts[n] = s;
            te[n] = i;
            n++;
            // memcached drops one \r before \n unless it is the whole line; the
            // \r is then the tail of the last token.
            if (i - pos > 1 && buf[i - 1] === 13) {
              if (te[n - 1]! - ts[n - 1]! === 1) n--;
              else te[n - 1]!--;
            }
          }
          this.ntok = n;
          return i;
        }
        if (c === 0) {
          // memcached handles the line as a C string: it ends at the first NUL.
          if (s >= 0) {
            if (n === cap) {
              this.growTokens();
              ts = this.toks.start;
              te = this.toks.end;
              cap = ts.length;
            }
            ts[n] = s;
            te[n] = i;
            n++;
            s = -1;
          }
          dead = true;
          continue;
        }
        // Other control bytes (\r, \t, ...) are ordinary token bytes.
        if (s < 0 && !dead) s = i;
      }
      // No newline in buf[pos..i).
      const held = i - pos;
      if (held <= L.maxLineLength) return -1;
      if (!long) {
        if (!longRetrievalLine(buf, pos, len)) throw ERR.LINE_TOO_LONG;
        long = true;
        stop = pos + L.maxMultiGetLineLength + 1;
        if (stop > len) stop = len;
        if (i < stop) continue;
      }
      if (held <= L.maxMultiGetLineLength) return -1;
      this.state = DISCARD;
      return -2;
    }
  }

  private growTokens(): void {
    const cap = this.toks.start.length * 2;
    const start = new Int32Array(cap);
    const end = new Int32Array(cap);
    start.set(this.toks.start);
    end.set(this.toks.end);
    this.toks.start = start;
    this.toks.end = end;
  }

  /** A chunk arrived while a line was unfinished: find its newline in the chunk and parse the line once. */
  private resumeLine(chunk: Buffer, out: Request[]): number {
    const L = this.limits;
    const prev = this.line!;
    const prevLen = this.lineLen;
    const nlIdx = chunk.indexOf(10);
    const content = prevLen + (nlIdx < 0 ? chunk.length : nlIdx);
    let limit = L.maxLineLength;
    if (content > L.maxLineLength) {
      if (!longRetrievalLine2(prev, prevLen, chunk)) {
        this.dropLine();
        throw ERR.LINE_TOO_LONG;
      }
      limit = L.maxMultiGetLineLength;
      if (content > limit) {
        this.dropLine();
        if (nlIdx < 0) {
          this.state = DISCARD;
          return -1;
        }
        out.push(errorRequest('text', ERR.GET_LINE_TOO_LONG, false));
        return nlIdx + 1;
      }
    }
    if (nlIdx < 0) {
      this.appendLine(chunk, limit + 1);
      return -1;
    }
    const total = content + 1;
    let line: Buffer;
    if (this.lineOwned && prev.length >= total) {
      line = prev;
    } else {
      line = Buffer.allocUnsafe(total);
      prev.copy(line, 0, 0, prevLen);
    }
    chunk.copy(line, prevLen, 0, nlIdx + 1);
    // The assembled line now belongs to the requests parsed from it.
    this.dropLine();
    const nl = this.scanLine(line, 0, total);
    if (nl >= 0) this.dispatch(line, out);
    if (this.toks.start.length > TOKENS_KEEP) this.trimTokens();
    return nlIdx + 1;
  }

  /** Copy a chunk without a newline behind the unfinished line (capacity grows by doubling up to `maxCap`). */
  private appendLine(chunk: Buffer, maxCap: number): void {
    const need = this.lineLen + chunk.length;
    let line = this.line!;
    if (!this.lineOwned || line.length < need) {
      let cap = need * 2;
      if (cap < 256) cap = 256;
      if (cap > maxCap) cap = maxCap;
      if (cap < need) cap = need;
      const grown = Buffer.allocUnsafe(cap);
      line.copy(grown, 0, 0, this.lineLen);
      line = grown;
      this.line = grown;
      this.lineOwned = true;
    }
    chunk.copy(line, this.lineLen);
    this.lineLen = need;
  }

  private dropLine(): void {
    this.line = null;
    this.lineLen = 0;
    this.lineOwned = false;
  }

  // -------------------------------------------------------------------------
  // Data blocks
  // -------------------------------------------------------------------------

  private continueBlock(chunk: Buffer, pos: number, out: Request[]): number {
    const len = chunk.length;
    if (this.state === VALUE) {
      const need = this.blockLen;
      if (this.block === null) {
        if (len - pos >= need) {
          this.finishStore(chunk, pos, out);
          return pos + need;
        }
        // Spans chunks: assemble once into a buffer of the final size.
        const block = Buffer.allocUnsafe(need);
        chunk.copy(block, 0, pos, len);
        this.block = block;
        this.blockFill = len - pos;
        return len;
      }
      let take = need - this.blockFill;
      if (take > len - pos) take = len - pos;
      chunk.copy(this.block, this.blockFill, pos, pos + take);
      this.blockFill += take;
      if (this.blockFill === need) {
        const block = this.block;
        this.block = null;
        this.finishStore(block, 0, out);
      }
      return pos + take;
    }
    if (this.state === SWALLOW) {
      let take = this.swallowLeft;
      if (take > len - pos) take = len - pos;
      this.swallowLeft -= take;
      if (this.swallowLeft === 0) this.state = LINE;
      return pos + take;
    }
    // DISCARD: drop bytes up to the newline of an over-long retrieval line.
    const nl = chunk.indexOf(10, pos);
    if (nl < 0) return len;
    this.state = LINE;
    out.push(errorRequest('text', ERR.GET_LINE_TOO_LONG, false));
    return nl + 1;
  }

  private finishStore(buf: Buffer, start: number, out: Request[]): void {
    const req = this.pending!;
    this.pending = null;
    this.state = LINE;
    const vlen = this.blockLen - 2;
    if (buf[start + vlen] === 13 && buf[start + vlen + 1] === 10) {
      req.value = this.viewer.view(buf, start, start + vlen);
      out.push(req);
    } else {
      // Text noreply silences this too; meta always reports it.
      out.push(errorRequest(req.protocol === 'meta' ? 'meta' : 'text', ERR.BAD_DATA_CHUNK, req.protocol === 'text' && req.quiet));
    }
  }

  private expectBlock(req: PendingStore, blockLen: number): void {
    this.pending = req;
    this.blockLen = blockLen;
    this.state = VALUE;
  }

  private swallow(bytes: number): void {
    this.swallowLeft = bytes;
    this.state = SWALLOW;
  }

  // -------------------------------------------------------------------------
  // Commands
  // -------------------------------------------------------------------------

  private dispatch(buf: Buffer, out: Request[]): void {
    const n = this.ntok;
    const ts = this.toks.start;
    const te = this.toks.end;
    if (n === 0) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const cs = ts[0]!;
    const clen = te[0]! - cs;
    // No command is shorter than two bytes.
    if (clen < 2) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const c0 = buf[cs]!;
    const c1 = buf[cs + 1]!;
    if (c0 === 103) {
      // get gets gat gats
      if (n >= 2 && c1 === 101 && buf[cs + 2] === 116) {
        if (clen === 3) return this.get(buf, n, false, false, out);
        if (clen === 4 && buf[cs + 3] === 115) return this.get(buf, n, true, false, out);
      } else if (n >= 2 && c1 === 97 && buf[cs + 2] === 116) {
        if (clen === 3) return this.get(buf, n, false, true, out);
        if (clen === 4 && buf[cs + 3] === 115) return this.get(buf, n, true, true, out);
      }
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    if (c0 === 109 && clen === 2) {
      const block = this.metaBlock;
      const req = parseMeta(c1, buf, this.toks, n, this.limits, this.metaOptions, block);
      if (req === undefined) {
        out.push(errorRequest('text', ERR.UNKNOWN, false));
      } else if (block.read > 0) {
        this.expectBlock(req as PendingStore, block.read);
      } else {
        out.push(req);
        if (block.swallow > 0) this.swallow(block.swallow);
      }
      return;
    }
    if (clen === 3 && c0 === 115 && c1 === 101 && buf[cs + 2] === 116) return this.store(buf, n, 'set', false, out);
    const cmd = commandOf(buf, cs, te[0]!);
    switch (cmd) {
      case CMD_ADD:
        return this.store(buf, n, 'add', false, out);
      case CMD_REPLACE:
        return this.store(buf, n, 'replace', false, out);
      case CMD_APPEND:
        return this.store(buf, n, 'append', false, out);
      case CMD_PREPEND:
        return this.store(buf, n, 'prepend', false, out);
      case CMD_CAS:
        return this.store(buf, n, 'set', true, out);
      case CMD_DELETE:
        return this.delete(buf, n, out);
      case CMD_INCR:
        return this.arithmetic(buf, n, true, out);
      case CMD_DECR:
        return this.arithmetic(buf, n, false, out);
      case CMD_TOUCH:
        return this.touch(buf, n, out);
      case CMD_FLUSH_ALL:
        return this.flushAll(buf, n, out);
      case CMD_VERSION:
      case CMD_QUIT: {
        const r: SimpleRequest = { protocol: 'text', quiet: false, opcode: 0, opaque: 0, cmd: cmd === CMD_QUIT ? 'quit' : 'version' };
        out.push(r);
        return;
      }
      case CMD_VERBOSITY:
        return this.verbosity(buf, n, out);
      case CMD_STATS: {
        let group = n >= 2 ? buf.toString('latin1', ts[1]!, te[1]!) : '';
        // `stats detail on|off|dump`: the word travels in the group, as the binary key does.
        if (group === 'detail' && n >= 3) group += ' ' + buf.toString('latin1', ts[2]!, te[2]!);
        const r: StatsRequest = {
          protocol: 'text',
          quiet: false,
          opcode: 0,
          opaque: 0,
          cmd: 'stats',
          group,
        };
        out.push(r);
        return;
      }
      case CMD_BGET:
        // Ancient alias of get that memcached still answers.
        if (n >= 2) return this.get(buf, n, false, false, out);
        break;
      case CMD_SHUTDOWN:
        out.push(errorRequest('text', ERR.SHUTDOWN_DISABLED, false));
        return;
    }
    out.push(errorRequest('text', ERR.UNKNOWN, false));
  }

  /** Shrink token arrays a huge multi-get line grew. */
  private trimTokens(): void {
    if (this.toks.start.length > TOKENS_KEEP) {
      this.toks.start = new Int32Array(32);
      this.toks.end = new Int32Array(32);
    }
  }

  private get(buf: Buffer, n: number, withCas: boolean, touch: boolean, out: Request[]): void {
    const ts = this.toks.start;
    const te = this.toks.end;
    let first = 1;
    let exptime = 0;
    if (touch) {
      exptime = parseInt32(buf, ts[1]!, te[1]!);
      if (exptime !== exptime) {
        out.push(errorRequest('text', ERR.INVALID_EXPTIME, false));
        return;
      }
      first = 2;
    }
    const maxKey = this.limits.maxKeyLength;
    for (let i = first; i < n; i++) {
      if (te[i]! - ts[i]! > maxKey) {
        out.push(errorRequest('text', ERR.KEY_TOO_LONG, false));
        return;
      }
    }
    const nkeys = n - first;
    if (nkeys === 1) {
      const key = this.viewer.view(buf, ts[first]!, te[first]!);
      const r: GetRequest = touch
        ? {
            protocol: 'text',
            quiet: false,
            opcode: 0,
            opaque: 0,
            cmd: 'get',
            key,
            withCas,
            touch: exptime,
            want: withCas ? ItemFacts.CAS : 0,
          }
        : { protocol: 'text', quiet: false, opcode: 0, opaque: 0, cmd: 'get', key, withCas, want: withCas ? ItemFacts.CAS : 0 };
      out.push(r);
      return;
    }
    if (nkeys > this.limits.maxKeysPerGet) {
      out.push(errorRequest('text', ERR.TOO_MANY_KEYS, false));
      return;
    }
    // `gat <exptime>` without keys is valid: memcached answers END.
    const keys: Buffer[] = new Array<Buffer>(nkeys);
    for (let i = 0; i < nkeys; i++) keys[i] = this.viewer.view(buf, ts[first + i]!, te[first + i]!);
    const r: MultiGetRequest = touch
      ? { protocol: 'text', quiet: false, opcode: 0, opaque: 0, cmd: 'mget', keys, withCas, touch: exptime }
      : { protocol: 'text', quiet: false, opcode: 0, opaque: 0, cmd: 'mget', keys, withCas };
    out.push(r);
  }

  /** `noreply` as memcached's set_noreply_maybe sees it: the last token of the (at most 23 counted) tokens. */
  private noreply(buf: Buffer, n: number): boolean {
    const i = (n > 23 ? 23 : n) - 1;
    return tokenIs(buf, this.toks.start[i]!, this.toks.end[i]!, 'noreply');
  }

  private store(buf: Buffer, n: number, mode: StoreMode, isCas: boolean, out: Request[]): void {
    const ts = this.toks.start;
    const te = this.toks.end;
    // Argument counts: memcached answers a plain ERROR before reading noreply.
    if (isCas ? n !== 6 && n !== 7 : n !== 5 && n !== 6) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const quiet = this.noreply(buf, n);
    if (te[1]! - ts[1]! > this.limits.maxKeyLength) {
      out.push(errorRequest('text', ERR.KEY_TOO_LONG, quiet));
      return;
    }
    const flags = parseUint32(buf, ts[2]!, te[2]!);
    const exptime = parseInt32(buf, ts[3]!, te[3]!);
    const vlen = parseInt32(buf, ts[4]!, te[4]!);
    let cas: bigint | undefined;
    if (isCas) {
      cas = parseUint64(buf, ts[5]!, te[5]!);
      if (cas === undefined) {
        out.push(errorRequest('text', ERR.BAD_FORMAT, quiet));
        return;
      }
    }
    // Negative, unparsable or (after 32-bit truncation) huge lengths: the data block is not read.
    if (flags !== flags || exptime !== exptime || vlen !== vlen || vlen < 0 || vlen > INT_MAX - 2) {
      out.push(errorRequest('text', ERR.BAD_FORMAT, quiet));
      return;
    }
    if (vlen > this.limits.maxItemSize) {
      // memcached answers and then reads and discards the data block; a refused
      // `set` also unlinks the key's old item so no stale value outlives the write.
      const err = errorRequest('text', ERR.TOO_LARGE, quiet);
      out.push(mode === 'set' && !isCas ? { ...err, unlinkKey: this.viewer.view(buf, ts[1]!, te[1]!) } : err);
      this.swallow(vlen + 2);
      return;
    }
    const req: PendingStore = {
      protocol: 'text',
      quiet,
      opcode: 0,
      opaque: 0,
      cmd: 'store',
      mode,
      key: this.viewer.view(buf, ts[1]!, te[1]!),
      value: EMPTY,
      flags,
      exptime,
      compareCas: cas,
      textCas: isCas,
      unlinkOnFailure: mode === 'set' && !isCas,
    };
    this.expectBlock(req, vlen + 2);
  }

  private delete(buf: Buffer, n: number, out: Request[]): void {
    const ts = this.toks.start;
    const te = this.toks.end;
    if (n < 2 || n > 4) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    let quiet = false;
    if (n > 2) {
      // Legacy `delete <key> 0` (a hold time of zero) is still accepted.
      const holdIsZero = te[2]! - ts[2]! === 1 && buf[ts[2]!] === 48;
      quiet = this.noreply(buf, n);
      const valid = (n === 3 && (holdIsZero || quiet)) || (n === 4 && holdIsZero && quiet);
      if (!valid) {
        out.push(errorRequest('text', ERR.DELETE_USAGE, quiet));
        return;
      }
    }
    if (te[1]! - ts[1]! > this.limits.maxKeyLength) {
      out.push(errorRequest('text', ERR.KEY_TOO_LONG, quiet));
      return;
    }
    const r: DeleteRequest = { protocol: 'text', quiet, opcode: 0, opaque: 0, cmd: 'delete', key: this.viewer.view(buf, ts[1]!, te[1]!) };
    out.push(r);
  }

  private arithmetic(buf: Buffer, n: number, incr: boolean, out: Request[]): void {
    const ts = this.toks.start;
    const te = this.toks.end;
    if (n !== 3 && n !== 4) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const quiet = this.noreply(buf, n);
    if (te[1]! - ts[1]! > this.limits.maxKeyLength) {
      out.push(errorRequest('text', ERR.KEY_TOO_LONG, quiet));
      return;
    }
    const delta = parseUint64(buf, ts[2]!, te[2]!);
    if (delta === undefined) {
      out.push(errorRequest('text', ERR.INVALID_DELTA, quiet));
      return;
    }
    const r: ArithmeticRequest = {
      protocol: 'text',
      quiet,
      opcode: 0,
      opaque: 0,
      cmd: incr ? 'incr' : 'decr',
      key: this.viewer.view(buf, ts[1]!, te[1]!),
      incr,
      delta,
    };
    out.push(r);
  }

  private touch(buf: Buffer, n: number, out: Request[]): void {
    const ts = this.toks.start;
    const te = this.toks.end;
    if (n !== 3 && n !== 4) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const quiet = this.noreply(buf, n);
    if (te[1]! - ts[1]! > this.limits.maxKeyLength) {
      out.push(errorRequest('text', ERR.KEY_TOO_LONG, quiet));
      return;
    }
    const exptime = parseInt32(buf, ts[2]!, te[2]!);
    if (exptime !== exptime) {
      out.push(errorRequest('text', ERR.INVALID_EXPTIME, quiet));
      return;
    }
    const r: TouchRequest = {
      protocol: 'text',
      quiet,
      opcode: 0,
      opaque: 0,
      cmd: 'touch',
      key: this.viewer.view(buf, ts[1]!, te[1]!),
      exptime,
    };
    out.push(r);
  }

  private flushAll(buf: Buffer, n: number, out: Request[]): void {
    if (n > 3) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const quiet = n >= 2 && this.noreply(buf, n);
    let delay = 0;
    // `flush_all noreply` has no delay; otherwise the first argument must be one (extra words are ignored).
    if (n !== (quiet ? 2 : 1)) {
      delay = parseInt32(buf, this.toks.start[1]!, this.toks.end[1]!);
      if (delay !== delay) {
        out.push(errorRequest('text', ERR.INVALID_EXPTIME, quiet));
        return;
      }
    }
    const r: FlushRequest = { protocol: 'text', quiet, opcode: 0, opaque: 0, cmd: 'flush_all', delay };
    out.push(r);
  }

  private verbosity(buf: Buffer, n: number, out: Request[]): void {
    if (n !== 2 && n !== 3) {
      out.push(errorRequest('text', ERR.UNKNOWN, false));
      return;
    }
    const quiet = this.noreply(buf, n);
    const level = parseUint32(buf, this.toks.start[1]!, this.toks.end[1]!);
    if (level !== level) {
      out.push(errorRequest('text', ERR.BAD_FORMAT, quiet));
      return;
    }
    const r: VerbosityRequest = { protocol: 'text', quiet, opcode: 0, opaque: 0, cmd: 'verbosity', level };
    out.push(r);
  }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const CMD_NONE = 0;
const CMD_ADD = 1;
const CMD_REPLACE = 2;
const CMD_APPEND = 3;
const CMD_PREPEND = 4;
const CMD_CAS = 5;
const CMD_DELETE = 6;
const CMD_INCR = 7;
const CMD_DECR = 8;
const CMD_TOUCH = 9;
const CMD_FLUSH_ALL = 10;
const CMD_VERSION = 11;
const CMD_QUIT = 12;
const CMD_VERBOSITY = 13;
const CMD_STATS = 14;
const CMD_BGET = 15;
const CMD_SHUTDOWN = 16;

const COMMANDS: ReadonlyArray<readonly [string, number]> = [
  ['add', CMD_ADD],
  ['replace', CMD_REPLACE],
  ['append', CMD_APPEND],
  ['prepend', CMD_PREPEND],
  ['cas', CMD_CAS],
  ['delete', CMD_DELETE],
  ['incr', CMD_INCR],
  ['decr', CMD_DECR],
  ['touch', CMD_TOUCH],
  ['flush_all', CMD_FLUSH_ALL],
  ['version', CMD_VERSION],
  ['quit', CMD_QUIT],
  ['verbosity', CMD_VERBOSITY],
  ['stats', CMD_STATS],
  ['bget', CMD_BGET],
  ['shutdown', CMD_SHUTDOWN],
];

/** Command words by their first byte, compared bytewise (memcached matches exactly, case included). */
const BY_FIRST: Array<ReadonlyArray<readonly [string, number]>> = [];
for (let i = 0; i < 256; i++) BY_FIRST.push([]);
for (const entry of COMMANDS) (BY_FIRST[entry[0].charCodeAt(0)] as Array<readonly [string, number]>).push(entry);

function commandOf(buf: Buffer, s: number, e: number): number {
  const candidates = BY_FIRST[buf[s]!]!;
  for (let k = 0; k < candidates.length; k++) {
    const entry = candidates[k]!;
    if (tokenIs(buf, s, e, entry[0])) return entry[1];
  }
  return CMD_NONE;
}

/** memcached lets a line run past 2048 bytes only if, after at most 100 spaces, it starts with `get ` or `gets `. */
function longRetrievalLine(buf: Buffer, pos: number, len: number): boolean {
  let k = pos;
  while (k < len && buf[k] === 32 && k - pos <= 100) k++;
  if (k - pos > 100) return false;
  return startsGet(buf[k], buf[k + 1], buf[k + 2], buf[k + 3], buf[k + 4]);
}

/** The same test over an unfinished line followed by a new chunk. */
function longRetrievalLine2(a: Buffer, aLen: number, b: Buffer): boolean {
  const at = (k: number): number | undefined => (k < aLen ? a[k] : b[k - aLen]);
  let k = 0;
  while (at(k) === 32 && k <= 100) k++;
  if (k > 100) return false;
  return startsGet(at(k), at(k + 1), at(k + 2), at(k + 3), at(k + 4));
}

function startsGet(
  c0: number | undefined,
  c1: number | undefined,
  c2: number | undefined,
  c3: number | undefined,
  c4: number | undefined,
): boolean {
  if (c0 !== 103 || c1 !== 101 || c2 !== 116) return false;
  return c3 === 32 || (c3 === 115 && c4 === 32);
}
