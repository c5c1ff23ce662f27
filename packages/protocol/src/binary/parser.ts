import { Viewer } from '../bytes.js';
import { DEFAULT_LIMITS, type ParserLimits, type RequestParser } from '../codec.js';
import { BinaryStatus, ProtocolError } from '../errors.js';
import type { ErrorRequest, Request, StoreMode } from '../model.js';
import { ItemFacts } from '../model.js';
import {
  BINARY_HEADER_LENGTH,
  BINARY_REQUEST_MAGIC,
  BinaryExtras,
  BinaryExtrasField as X,
  BinaryHeader as H,
  BinaryOpcode as Op,
  NO_CREATE_EXPIRATION,
  isQuietOpcode,
} from './constants.js';
import { itemTooLarge } from '../item-size.js';

// Errors the parser reports. memcached 1.6.18 (proto_bin.c) answers each of
// them with the offending request's opcode and opaque echoed and CAS 0.

/** Unknown opcode: UNKNOWN_COMMAND, body skipped, connection stays open. */
const UNKNOWN_OPCODE = new ProtocolError('UNKNOWN_COMMAND', 'ERROR', BinaryStatus.UNKNOWN_COMMAND);
/** Key + extras longer than the body: UNKNOWN_COMMAND, then memcached closes the connection. */
const LENGTHS_EXCEED_BODY = new ProtocolError('BAD_PACKET', 'ERROR', BinaryStatus.UNKNOWN_COMMAND, true);
/** Key over the key limit: EINVAL, then close. */
const KEY_TOO_LONG = new ProtocolError('KEY_TOO_LONG', 'CLIENT_ERROR bad command line format', BinaryStatus.EINVAL, true);
/** Extras/key/body lengths an opcode does not allow: EINVAL, then close. */
const INVALID_LENGTHS = new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad command line format', BinaryStatus.EINVAL, true);
/** Item over the item size limit: E2BIG, value skipped, connection stays open. */
const TOO_LARGE = new ProtocolError('TOO_LARGE', 'SERVER_ERROR object too large for cache', BinaryStatus.E2BIG);

const EMPTY = Buffer.alloc(0);

/** Per-opcode quiet flag, looked up instead of switched on in the hot path. */
const QUIET = new Uint8Array(256);
for (let op = 0; op < 256; op++) QUIET[op] = isQuietOpcode(op) ? 1 : 0;

function u32(b: Buffer, p: number): number {
  return b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

function u64(b: Buffer, p: number): bigint {
  const hi = u32(b, p);
  const lo = u32(b, p + 4);
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * Incremental parser for memcached's binary protocol (one per connection).
 *
 * A packet that lies in one chunk is parsed in place: keys and values are
 * views into the chunk. A packet that spans chunks is copied once into a
 * buffer of exactly the bytes it needs. Bodies that are skipped (unknown
 * opcodes, items over the size limit) are counted off, never held, so one
 * packet never holds more than the 24-byte header, the extras, a key and
 * an item of `maxItemSize` bytes.
 *
 * Errors follow memcached 1.6.18:
 * - bad magic: thrown as a fatal `ProtocolError` (memcached closes without a reply);
 * - unknown opcode: `ErrorRequest` UNKNOWN_COMMAND once its body has been skipped;
 * - item too large: `ErrorRequest` E2BIG once its value has been skipped;
 * - lengths an opcode does not allow, a key over the limit, or key + extras
 *   longer than the body: an `ErrorRequest` whose error is `fatal` (EINVAL,
 *   or UNKNOWN_COMMAND for the last case); answer it, then close the
 *   connection. The parser ignores everything after it, and a later `feed`
 *   throws that error.
 *
 * After Quit/QuitQ the parser ignores the rest of the stream (memcached
 * closes the connection after answering).
 */
export class BinaryParser implements RequestParser {
  private readonly maxKeyLength: number;
  private readonly maxItemSize: number;

  // Header of the packet in progress.
  private opcode = 0;
  private keyLength = 0;
  private extrasLength = 0;
  private bodyLength = 0;
  private opaque = 0;
  private cas: bigint | undefined = undefined;

  /** A header split across chunks collects here. */
  private readonly header = Buffer.allocUnsafe(BINARY_HEADER_LENGTH);
  /** Keys and values are views of the read they came in. */
  private readonly viewer = new Viewer();
  private headerFill = 0;

  /** The part of a packet after its header, when it spans chunks. */
  private body: Buffer | null = null;
  private bodyFill = 0;

  /** Bytes still to skip, then `skipped` is appended. */
  private skip = 0;
  private skipped: ErrorRequest | null = null;
  /** The planned Set is too large: only its extras and key are read, then its value is skipped. */
  private setTooLarge = false;

  /** A fatal error was answered: the stream cannot be resynchronised. */
  private failed: ProtocolError | null = null;
  /** Quit was seen: the connection is closing. */
  private quit = false;

  constructor(limits: Partial<ParserLimits> = {}) {
    this.maxKeyLength = limits.maxKeyLength ?? DEFAULT_LIMITS.maxKeyLength;
    this.maxItemSize = limits.maxItemSize ?? DEFAULT_LIMITS.maxItemSize;
  }

  get buffered(): number {
    return this.headerFill + (this.body === null ? 0 : this.body.length);
  }

  /** Partial headers and bodies are always copied: nothing of a fed chunk is kept. */
  release(): boolean {
    return true;
  }

  feed(chunk: Buffer, out: Request[]): void {
    if (this.failed !== null) throw this.failed;
    if (this.quit) return;
    const end = chunk.length;
    let pos = 0;

    if (this.body !== null) {
      const body = this.body;
      const n = Math.min(body.length - this.bodyFill, end);
      chunk.copy(body, this.bodyFill, 0, n);
      this.bodyFill += n;
      if (this.bodyFill < body.length) return;
      this.body = null;
      this.bodyFill = 0;
      pos = n;
      if (!this.emit(body, 0, out)) return;
    } else if (this.headerFill > 0) {
      const header = this.header;
      const n = Math.min(BINARY_HEADER_LENGTH - this.headerFill, end);
      chunk.copy(header, this.headerFill, 0, n);
      this.headerFill += n;
      if (this.headerFill < BINARY_HEADER_LENGTH) return;
      this.headerFill = 0;
      pos = n;
      const need = this.plan(header, 0);
      if (need >= 0) {
        if (end - pos < need) {
          this.hold(chunk, pos, end, need);
          return;
        }
        if (!this.emit(chunk, pos, out)) return;
        pos += need;
      }
    }

    for (;;) {
      if (this.skipped !== null) {
        if (this.skip > 0) {
          const n = Math.min(this.skip, end - pos);
          this.skip -= n;
          pos += n;
          if (this.skip > 0) return;
        }
        if (!this.emitSkipped(out)) return;
      }
      const left = end - pos;
      if (left < BINARY_HEADER_LENGTH) {
        if (left > 0) {
          chunk.copy(this.header, 0, pos, end);
          this.headerFill = left;
        }
        return;
      }
      const need = this.plan(chunk, pos);
      pos += BINARY_HEADER_LENGTH;
      if (need < 0) continue;
      if (end - pos < need) {
        this.hold(chunk, pos, end, need);
        return;
      }
      if (!this.emit(chunk, pos, out)) return;
      pos += need;
    }
  }

  /** Start collecting a packet's `need` body bytes across chunks. */
  private hold(chunk: Buffer, pos: number, end: number, need: number): void {
    const body = Buffer.allocUnsafe(need);
    chunk.copy(body, 0, pos, end);
    this.body = body;
    this.bodyFill = end - pos;
  }

  /**
   * Decode and validate the header at `p`. Returns how many bytes after the
   * header the request is built from, or -1 when the packet is skipped
   * (`skip` and `skipped` are set).
   */
  private plan(b: Buffer, p: number): number {
    if (b[p + H.MAGIC] !== BINARY_REQUEST_MAGIC) {
      // memcached closes the connection without a reply.
      const err = new ProtocolError('BAD_MAGIC', 'ERROR', BinaryStatus.EINVAL, true);
      this.failed = err;
      throw err;
    }
    const opcode = b[p + H.OPCODE]!;
    const keyLength = (b[p + H.KEY_LENGTH]! << 8) | b[p + H.KEY_LENGTH + 1]!;
    const extrasLength = b[p + H.EXTRAS_LENGTH]!;
    const bodyLength = u32(b, p + H.BODY_LENGTH);
    this.opcode = opcode;
    this.keyLength = keyLength;
    this.extrasLength = extrasLength;
    this.bodyLength = bodyLength;
    this.opaque = u32(b, p + H.OPAQUE);

    // memcached reads extras and key before it judges the packet, so the
    // errors below are answered once those bytes have arrived (they are
    // counted, not kept).
    const keyAndExtras = keyLength + extrasLength;
    if (keyAndExtras > bodyLength) return this.skipThen(LENGTHS_EXCEED_BODY, keyAndExtras);
    if (keyLength > this.maxKeyLength) return this.skipThen(KEY_TOO_LONG, keyAndExtras);

    switch (opcode) {
      case Op.GET:
      case Op.GETQ:
      case Op.GETK:
      case Op.GETKQ:
        if (extrasLength === 0 && keyLength > 0 && bodyLength === keyLength) return keyLength;
        break;
      case Op.SET:
      case Op.SETQ:
      case Op.ADD:
      case Op.ADDQ:
      case Op.REPLACE:
      case Op.REPLACEQ:
        if (extrasLength === BinaryExtras.STORE && keyLength > 0) {
          this.cas = readCas(b, p);
          // Too large even without flags: skip the value. Within 4 bytes of
          // the limit it depends on the flags, judged once they are read.
          if (itemTooLarge(keyLength, 0, bodyLength - keyAndExtras, this.maxItemSize)) {
            // memcached refuses a Set it cannot hold only after reading extras and key, and drops the
            // key's old item so no stale value outlives the write (not for Add/Replace): read those
            // bytes first, then skip the value.
            if (opcode !== Op.SET && opcode !== Op.SETQ) return this.skipThen(TOO_LARGE, bodyLength);
            this.setTooLarge = true;
            return keyAndExtras;
          }
          return bodyLength;
        }
        break;
      case Op.APPEND:
      case Op.APPENDQ:
      case Op.PREPEND:
      case Op.PREPENDQ:
        if (extrasLength === 0 && keyLength > 0) {
          this.cas = readCas(b, p);
          if (itemTooLarge(keyLength, 0, bodyLength - keyLength, this.maxItemSize)) return this.skipThen(TOO_LARGE, bodyLength);
          return bodyLength;
        }
        break;
      case Op.DELETE:
      case Op.DELETEQ:
        if (extrasLength === 0 && keyLength > 0 && bodyLength === keyLength) {
          this.cas = readCas(b, p);
          return keyLength;
        }
        break;
      case Op.INCREMENT:
      case Op.INCREMENTQ:
      case Op.DECREMENT:
      case Op.DECREMENTQ:
        if (extrasLength === BinaryExtras.ARITHMETIC && keyLength > 0 && bodyLength === keyAndExtras) {
          this.cas = readCas(b, p);
          return bodyLength;
        }
        break;
      case Op.QUIT:
      case Op.QUITQ:
      case Op.NOOP:
      case Op.VERSION:
      case Op.SASL_LIST_MECHS:
        if (bodyLength === 0) return 0;
        break;
      case Op.FLUSH:
      case Op.FLUSHQ:
        if (keyLength === 0 && bodyLength === extrasLength && (extrasLength === 0 || extrasLength === BinaryExtras.EXPIRATION))
          return extrasLength;
        break;
      case Op.STAT:
        // memcached reads only the key: body bytes past it are parsed as the next packet.
        if (extrasLength === 0) return keyLength;
        break;
      case Op.TOUCH:
      case Op.GAT:
      case Op.GATQ:
      case Op.GATK:
      case Op.GATKQ:
        // As for Stat, body bytes past extras and key are the next packet.
        if (extrasLength === BinaryExtras.EXPIRATION && keyLength > 0) return keyAndExtras;
        break;
      case Op.SASL_AUTH:
      case Op.SASL_STEP:
        if (extrasLength === 0 && keyLength > 0) {
          // Without SASL, memcached answers UNKNOWN_COMMAND and skips the data;
          // data over the item limit can only be skipped.
          if (bodyLength - keyLength > this.maxItemSize) return this.skipThen(UNKNOWN_OPCODE, bodyLength);
          return bodyLength;
        }
        break;
      default:
        // memcached has consumed extras and key, then skips `bodyLength` more
        // bytes: it over-skips by extras + key, into what follows. Matched.
        return this.skipThen(UNKNOWN_OPCODE, keyAndExtras + bodyLength);
    }
    return this.skipThen(INVALID_LENGTHS, keyAndExtras);
  }

  private skipThen(error: ProtocolError, bytes: number): number {
    this.skip = bytes;
    this.skipped = this.errorRequest(error);
    return -1;
  }

  private errorRequest(error: ProtocolError): ErrorRequest {
    // Errors are answered even for quiet opcodes, so the request is not quiet.
    return { protocol: 'binary', quiet: false, opcode: this.opcode, opaque: this.opaque, cmd: 'error', error };
  }

  /** Append the error of a finished skip; false when the stream ends here. */
  private emitSkipped(out: Request[]): boolean {
    const req = this.skipped!;
    this.skipped = null;
    out.push(req);
    if (req.error.fatal) {
      this.failed = req.error;
      // This call returns normally so the error gets answered; later ones throw.
      return false;
    }
    return true;
  }

  /** Build the request of the planned packet from `b` at `p`; false when nothing may follow it. */
  private emit(b: Buffer, p: number, out: Request[]): boolean {
    const opcode = this.opcode;
    const quiet = QUIET[opcode] === 1;
    const opaque = this.opaque;
    const keyLength = this.keyLength;
    switch (opcode) {
      case Op.GET:
      case Op.GETQ:
      case Op.GETK:
      case Op.GETKQ:
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'get',
          key: this.viewer.view(b, p, p + keyLength),
          withCas: false,
          touch: undefined,
          // Every binary reply to a get carries the CAS unique.
          want: ItemFacts.CAS,
        });
        return true;
      case Op.TOUCH:
      case Op.GAT:
      case Op.GATQ:
      case Op.GATK:
      case Op.GATKQ: {
        // Touch answers the item's flags and CAS like a GAT without its value,
        // so it is a fetch-and-touch too (memcached serves both the same way).
        const k = p + BinaryExtras.EXPIRATION;
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'get',
          key: this.viewer.view(b, k, k + keyLength),
          withCas: false,
          touch: u32(b, p + X.EXPIRATION),
          want: ItemFacts.CAS,
        });
        return true;
      }
      case Op.SET:
      case Op.SETQ:
      case Op.ADD:
      case Op.ADDQ:
      case Op.REPLACE:
      case Op.REPLACEQ: {
        const flags = u32(b, p + X.STORE_FLAGS);
        const k = p + BinaryExtras.STORE;
        const v = k + keyLength;
        const set = opcode === Op.SET || opcode === Op.SETQ;
        if (this.setTooLarge) {
          // Only extras and key were read (plan): the value is skipped, then the refusal answered.
          // The key is copied: the bytes it sits in may be reused before the skip ends.
          this.setTooLarge = false;
          this.skip = this.bodyLength - BinaryExtras.STORE - keyLength;
          this.skipped = { ...this.errorRequest(TOO_LARGE), unlinkKey: Buffer.from(b.subarray(k, v)) };
          return true;
        }
        const valueEnd = p + this.bodyLength;
        if (flags !== 0 && itemTooLarge(keyLength, flags, valueEnd - v, this.maxItemSize)) {
          out.push(set ? { ...this.errorRequest(TOO_LARGE), unlinkKey: this.viewer.view(b, k, v) } : this.errorRequest(TOO_LARGE));
          return true;
        }
        const compareCas = this.cas;
        // A non-zero CAS makes any of the three a CAS store (memcached's
        // NREAD_CAS): stored only over an existing item with that CAS, so
        // Add/Replace lose their own condition.
        const mode: StoreMode = compareCas !== undefined || set ? 'set' : opcode === Op.ADD || opcode === Op.ADDQ ? 'add' : 'replace';
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'store',
          mode,
          key: this.viewer.view(b, k, v),
          value: this.viewer.view(b, v, valueEnd),
          flags,
          exptime: u32(b, p + X.STORE_EXPIRATION),
          compareCas,
          // memcached drops the old item for a refused Set, with or without a CAS; Add and Replace with a CAS leave it.
          unlinkOnFailure: set,
        });
        return true;
      }
      case Op.APPEND:
      case Op.APPENDQ:
      case Op.PREPEND:
      case Op.PREPENDQ: {
        const v = p + keyLength;
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'store',
          mode: opcode === Op.APPEND || opcode === Op.APPENDQ ? 'append' : 'prepend',
          key: this.viewer.view(b, p, v),
          value: this.viewer.view(b, v, p + this.bodyLength),
          flags: 0,
          exptime: 0,
          compareCas: this.cas,
          unlinkOnFailure: false,
        });
        return true;
      }
      case Op.DELETE:
      case Op.DELETEQ:
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'delete',
          key: this.viewer.view(b, p, p + keyLength),
          compareCas: this.cas,
        });
        return true;
      case Op.INCREMENT:
      case Op.INCREMENTQ:
      case Op.DECREMENT:
      case Op.DECREMENTQ: {
        const incr = opcode === Op.INCREMENT || opcode === Op.INCREMENTQ;
        const exptime = u32(b, p + X.ARITHMETIC_EXPIRATION);
        const create = exptime !== NO_CREATE_EXPIRATION;
        const k = p + BinaryExtras.ARITHMETIC;
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: incr ? 'incr' : 'decr',
          key: this.viewer.view(b, k, k + keyLength),
          incr,
          delta: u64(b, p + X.ARITHMETIC_DELTA),
          initial: create ? u64(b, p + X.ARITHMETIC_INITIAL) : undefined,
          exptime: create ? exptime : undefined,
          compareCas: this.cas,
        });
        return true;
      }
      case Op.FLUSH:
      case Op.FLUSHQ:
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'flush_all',
          delay: this.extrasLength === BinaryExtras.EXPIRATION ? u32(b, p + X.EXPIRATION) : 0,
        });
        return true;
      case Op.STAT:
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: 'stats',
          group: keyLength === 0 ? '' : b.toString('latin1', p, p + keyLength),
        });
        return true;
      case Op.NOOP:
        out.push({ protocol: 'binary', quiet, opcode, opaque, cmd: 'noop' });
        return true;
      case Op.VERSION:
        out.push({ protocol: 'binary', quiet, opcode, opaque, cmd: 'version' });
        return true;
      case Op.QUIT:
      case Op.QUITQ:
        out.push({ protocol: 'binary', quiet, opcode, opaque, cmd: 'quit' });
        this.quit = true;
        return false;
      case Op.SASL_LIST_MECHS:
        out.push({ protocol: 'binary', quiet, opcode, opaque, cmd: 'sasl_list', mechanism: EMPTY, data: EMPTY });
        return true;
      case Op.SASL_AUTH:
      case Op.SASL_STEP: {
        const v = p + keyLength;
        out.push({
          protocol: 'binary',
          quiet,
          opcode,
          opaque,
          cmd: opcode === Op.SASL_AUTH ? 'sasl_auth' : 'sasl_step',
          mechanism: this.viewer.view(b, p, v),
          data: this.viewer.view(b, v, p + this.bodyLength),
        });
        return true;
      }
      default:
        // plan() only lets the opcodes above through.
        throw new ProtocolError('BAD_PACKET', 'ERROR', BinaryStatus.EINTERNAL, true);
    }
  }
}

/** The header's CAS, `undefined` when zero (no compare). */
function readCas(b: Buffer, p: number): bigint | undefined {
  const hi = u32(b, p + H.CAS);
  const lo = u32(b, p + H.CAS + 4);
  if (hi === 0 && lo === 0) return undefined;
  return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
}
