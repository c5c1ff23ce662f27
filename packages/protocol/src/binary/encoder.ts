import type { ResponseEncoder } from '../codec.js';
import { BinaryStatus, type ProtocolError } from '../errors.js';
import type { StatValue } from '../handler.js';
import type {
  AdminRequest,
  ArithmeticOutcome,
  ArithmeticRequest,
  DeleteOutcome,
  DeleteRequest,
  FlushRequest,
  GetRequest,
  ItemView,
  MultiGetRequest,
  Request,
  RequestBase,
  SaslRequest,
  StatsRequest,
  StoreOutcome,
  StoreRequest,
  TouchOutcome,
  TouchRequest,
  VerbosityRequest,
} from '../model.js';
import type { ResponseWriter } from '../writer.js';
import {
  BINARY_HEADER_LENGTH,
  BINARY_RESPONSE_MAGIC,
  BinaryErrorText,
  BinaryExtrasField as X,
  BinaryHeader as H,
  BinaryOpcode as Op,
  returnsKey,
} from './constants.js';

const MASK32 = 0xffffffffn;

/**
 * Write a 24-byte response header at `o` in `b`. Data type is always 0 (raw
 * bytes); the opaque is echoed as the request sent it.
 */
function writeHeader(
  b: Buffer,
  o: number,
  opcode: number,
  keyLength: number,
  extrasLength: number,
  status: number,
  bodyLength: number,
  opaque: number,
  cas: bigint,
): void {
  b[o + H.MAGIC] = BINARY_RESPONSE_MAGIC;
  b[o + H.OPCODE] = opcode;
  b[o + H.KEY_LENGTH] = keyLength >>> 8;
  b[o + H.KEY_LENGTH + 1] = keyLength & 0xff;
  b[o + H.EXTRAS_LENGTH] = extrasLength;
  b[o + H.DATA_TYPE] = 0;
  b[o + H.STATUS] = status >>> 8;
  b[o + H.STATUS + 1] = status & 0xff;
  writeU32(b, o + H.BODY_LENGTH, bodyLength);
  writeU32(b, o + H.OPAQUE, opaque);
  let hi = 0;
  let lo = 0;
  if (cas !== 0n) {
    if (cas <= MASK32) {
      lo = Number(cas);
    } else {
      hi = Number((cas >> 32n) & MASK32);
      lo = Number(cas & MASK32);
    }
  }
  writeU32(b, o + H.CAS, hi);
  writeU32(b, o + H.CAS + 4, lo);
}

function writeU32(b: Buffer, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** A header-only reply (status 0 unless given). */
function bare(w: ResponseWriter, req: RequestBase, status: number, cas: bigint): void {
  const o = w.reserveAt(BINARY_HEADER_LENGTH);
  writeHeader(w.current, o, req.opcode, 0, 0, status, 0, req.opaque, cas);
}

/** An error reply: status and its text as the body, CAS 0 (memcached's write_bin_error). */
function error(w: ResponseWriter, req: RequestBase, status: number, text: Buffer): void {
  const o = w.reserveAt(BINARY_HEADER_LENGTH);
  writeHeader(w.current, o, req.opcode, 0, 0, status, text.length, req.opaque, 0n);
  w.bytes(text);
}

/** The body text memcached sends with a status. */
function statusText(status: number): Buffer {
  switch (status) {
    case BinaryStatus.KEY_ENOENT:
      return BinaryErrorText.KEY_ENOENT;
    case BinaryStatus.KEY_EEXISTS:
      return BinaryErrorText.KEY_EEXISTS;
    case BinaryStatus.E2BIG:
      return BinaryErrorText.E2BIG;
    case BinaryStatus.EINVAL:
      return BinaryErrorText.EINVAL;
    case BinaryStatus.NOT_STORED:
      return BinaryErrorText.NOT_STORED;
    case BinaryStatus.DELTA_BADVAL:
      return BinaryErrorText.DELTA_BADVAL;
    case BinaryStatus.AUTH_ERROR:
      return BinaryErrorText.AUTH_ERROR;
    case BinaryStatus.UNKNOWN_COMMAND:
      return BinaryErrorText.UNKNOWN_COMMAND;
    case BinaryStatus.ENOMEM:
      return BinaryErrorText.ENOMEM;
    default:
      return BinaryErrorText.UNKNOWN_COMMAND;
  }
}

/** Write a value given as decimal digits as an unsigned 64-bit big-endian integer (memcached's strtoull). */
function writeDecimal64(b: Buffer, o: number, digits: Buffer): void {
  // Two 32-bit halves, digit by digit; stops at the first non-digit as
  // strtoull does (memcached pads shrunk counters with spaces).
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < digits.length; i++) {
    const d = digits[i]! - 48;
    if (d < 0 || d > 9) break;
    const l = lo * 10 + d;
    const carry = Math.floor(l / 0x100000000);
    lo = l - carry * 0x100000000;
    hi = (hi * 10 + carry) % 0x100000000;
  }
  writeU32(b, o, hi);
  writeU32(b, o + 4, lo);
}

/** A stat's value as text: booleans as memcached prints them (yes/no). */
function statText(v: StatValue): Buffer {
  return Buffer.from(typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v), 'utf8');
}

/**
 * Replies of memcached's binary protocol, byte for byte as memcached 1.6.18
 * sends them: opcode and opaque echoed, errors with memcached's body texts
 * and CAS 0, quiet opcodes silent unless something went wrong (and quiet
 * Get variants silent on a miss).
 */
export const binaryEncoder: ResponseEncoder = {
  get(w: ResponseWriter, req: GetRequest, item: ItemView | undefined): void {
    const opcode = req.opcode;
    if (item === undefined) {
      if (req.quiet) return;
      if (returnsKey(opcode)) {
        // GetK/GATK misses carry the key and no error text.
        const key = req.key;
        const o = w.reserveAt(BINARY_HEADER_LENGTH);
        writeHeader(w.current, o, opcode, key.length, 0, BinaryStatus.KEY_ENOENT, key.length, req.opaque, 0n);
        w.bytes(key);
      } else {
        error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
      }
      return;
    }
    // Header and the 4-byte flags extras in one reservation.
    const o = w.reserveAt(BINARY_HEADER_LENGTH + 4);
    const b = w.current;
    if (opcode === Op.TOUCH) {
      // Touch answers flags and CAS, without the value.
      writeHeader(b, o, opcode, 0, 4, 0, 4, req.opaque, item.cas);
      writeU32(b, o + BINARY_HEADER_LENGTH + X.REPLY_FLAGS, item.flags);
      return;
    }
    const value = item.value;
    if (returnsKey(opcode)) {
      const key = req.key;
      writeHeader(b, o, opcode, key.length, 4, 0, 4 + key.length + value.length, req.opaque, item.cas);
      writeU32(b, o + BINARY_HEADER_LENGTH + X.REPLY_FLAGS, item.flags);
      w.bytes(key);
    } else {
      writeHeader(b, o, opcode, 0, 4, 0, 4 + value.length, req.opaque, item.cas);
      writeU32(b, o + BINARY_HEADER_LENGTH + X.REPLY_FLAGS, item.flags);
    }
    if (value.length > 0) w.bytes(value);
  },

  // The binary protocol has no multi-key request (clients pipeline GetKQ +
  // Noop); should one reach this encoder, hits go out as GetK replies.
  mgetItem(w: ResponseWriter, req: MultiGetRequest, item: ItemView): void {
    const key = item.key;
    const value = item.value;
    const o = w.reserveAt(BINARY_HEADER_LENGTH + 4);
    const b = w.current;
    writeHeader(b, o, req.opcode, key.length, 4, 0, 4 + key.length + value.length, req.opaque, item.cas);
    writeU32(b, o + BINARY_HEADER_LENGTH + X.REPLY_FLAGS, item.flags);
    w.bytes(key);
    if (value.length > 0) w.bytes(value);
  },

  mgetEnd(): void {
    // Nothing: the client's Noop ends a binary multi-get.
  },

  store(w: ResponseWriter, req: StoreRequest, outcome: StoreOutcome): void {
    if (typeof outcome === 'object') {
      if (!req.quiet) bare(w, req, 0, outcome.cas);
      return;
    }
    switch (outcome) {
      case 'EXISTS':
        error(w, req, BinaryStatus.KEY_EEXISTS, BinaryErrorText.KEY_EEXISTS);
        return;
      case 'NOT_FOUND':
        error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
        return;
      case 'TOO_LARGE':
      case 'OUT_OF_MEMORY':
        if (req.mode !== 'append' && req.mode !== 'prepend') {
          // For set/add/replace memcached fails while allocating the item.
          if (outcome === 'TOO_LARGE') error(w, req, BinaryStatus.E2BIG, BinaryErrorText.E2BIG);
          else error(w, req, BinaryStatus.ENOMEM, BinaryErrorText.ENOMEM_STORE);
          return;
        }
        break;
      case 'NOT_STORED':
        break;
    }
    // memcached reports a plain add that found an item as EEXISTS and a
    // replace that found none as ENOENT (complete_update_bin).
    if (req.compareCas === undefined) {
      if (req.mode === 'add') {
        error(w, req, BinaryStatus.KEY_EEXISTS, BinaryErrorText.KEY_EEXISTS);
        return;
      }
      if (req.mode === 'replace') {
        error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
        return;
      }
    }
    error(w, req, BinaryStatus.NOT_STORED, BinaryErrorText.NOT_STORED);
  },

  delete(w: ResponseWriter, req: DeleteRequest, outcome: DeleteOutcome): void {
    switch (outcome) {
      case 'DELETED':
        if (!req.quiet) bare(w, req, 0, 0n);
        return;
      case 'NOT_FOUND':
        error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
        return;
      case 'EXISTS':
        error(w, req, BinaryStatus.KEY_EEXISTS, BinaryErrorText.KEY_EEXISTS);
        return;
    }
  },

  arithmetic(w: ResponseWriter, req: ArithmeticRequest, outcome: ArithmeticOutcome): void {
    if (typeof outcome === 'object') {
      if (req.quiet) return;
      const o = w.reserveAt(BINARY_HEADER_LENGTH + 8);
      const b = w.current;
      writeHeader(b, o, req.opcode, 0, 0, 0, 8, req.opaque, outcome.cas);
      writeDecimal64(b, o + BINARY_HEADER_LENGTH, outcome.value);
      return;
    }
    switch (outcome) {
      case 'NOT_FOUND':
        error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
        return;
      case 'NON_NUMERIC':
        error(w, req, BinaryStatus.DELTA_BADVAL, BinaryErrorText.DELTA_BADVAL);
        return;
      case 'EXISTS':
        error(w, req, BinaryStatus.KEY_EEXISTS, BinaryErrorText.KEY_EEXISTS);
        return;
    }
  },

  // The binary parser turns Touch into a GetRequest with `touch` (its reply
  // needs the item's flags and CAS). A TouchRequest built elsewhere gets the
  // same reply shape with flags and CAS 0, which is all TouchOutcome tells.
  touch(w: ResponseWriter, req: TouchRequest, outcome: TouchOutcome): void {
    if (outcome === 'NOT_FOUND') {
      error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
      return;
    }
    if (req.quiet) return;
    const o = w.reserveAt(BINARY_HEADER_LENGTH + 4);
    const b = w.current;
    writeHeader(b, o, req.opcode, 0, 4, 0, 4, req.opaque, 0n);
    writeU32(b, o + BINARY_HEADER_LENGTH + X.REPLY_FLAGS, 0);
  },

  flush(w: ResponseWriter, req: FlushRequest): void {
    if (!req.quiet) bare(w, req, 0, 0n);
  },

  version(w: ResponseWriter, req: RequestBase, version: string): void {
    const o = w.reserveAt(BINARY_HEADER_LENGTH);
    writeHeader(w.current, o, req.opcode, 0, 0, 0, version.length, req.opaque, 0n);
    w.ascii(version);
  },

  // memcached 1.6 answers the Verbosity opcode UNKNOWN_COMMAND, so the
  // binary parser never produces this request; a success header otherwise.
  verbosity(w: ResponseWriter, req: VerbosityRequest): void {
    if (!req.quiet) bare(w, req, 0, 0n);
  },

  noop(w: ResponseWriter, req: RequestBase): void {
    bare(w, req, 0, 0n);
  },

  quit(w: ResponseWriter, req: RequestBase): void {
    if (!req.quiet) bare(w, req, 0, 0n);
  },

  stats(w: ResponseWriter, req: StatsRequest, entries: Iterable<readonly [string, StatValue]> | undefined): void {
    if (entries === undefined) {
      error(w, req, BinaryStatus.KEY_ENOENT, BinaryErrorText.KEY_ENOENT);
      return;
    }
    // One packet per stat (key = name, value = its text), always with the
    // Stat opcode, then an empty packet ends the list (append_bin_stats).
    for (const [name, value] of entries) {
      const key = Buffer.from(name, 'utf8');
      const text = statText(value);
      const o = w.reserveAt(BINARY_HEADER_LENGTH);
      writeHeader(w.current, o, Op.STAT, key.length, 0, 0, key.length + text.length, req.opaque, 0n);
      w.bytes(key);
      if (text.length > 0) w.bytes(text);
    }
    const o = w.reserveAt(BINARY_HEADER_LENGTH);
    writeHeader(w.current, o, Op.STAT, 0, 0, 0, 0, req.opaque, 0n);
  },

  // Admin commands exist only in the text protocol: the binary parser never produces one.
  admin(w: ResponseWriter, req: AdminRequest): void {
    error(w, req, BinaryStatus.UNKNOWN_COMMAND, BinaryErrorText.UNKNOWN_COMMAND);
  },

  /**
   * `ok` with `payload` as the body (mechanism list, or the server's final
   * answer). When not `ok`: an empty payload means SASL is not configured,
   * answered as memcached run without `-S` does (UNKNOWN_COMMAND "Unknown
   * command", for list, auth and step alike); otherwise AUTH_ERROR with
   * memcached's "Auth failure." text.
   */
  sasl(w: ResponseWriter, req: SaslRequest, ok: boolean, payload: string): void {
    if (ok) {
      const o = w.reserveAt(BINARY_HEADER_LENGTH);
      writeHeader(w.current, o, req.opcode, 0, 0, 0, payload.length, req.opaque, 0n);
      w.ascii(payload);
    } else if (payload === '') {
      error(w, req, BinaryStatus.UNKNOWN_COMMAND, BinaryErrorText.UNKNOWN_COMMAND);
    } else {
      error(w, req, BinaryStatus.AUTH_ERROR, BinaryErrorText.AUTH_ERROR);
    }
  },

  protocolError(w: ResponseWriter, req: Request, err: ProtocolError): void {
    error(w, req, err.status, statusText(err.status));
  },

  serverError(w: ResponseWriter, req: Request, message: string, status: number): void {
    const body = Buffer.from(message, 'utf8');
    const o = w.reserveAt(BINARY_HEADER_LENGTH);
    writeHeader(w.current, o, req.opcode, 0, 0, status, body.length, req.opaque, 0n);
    w.bytes(body);
  },
};
