import { REALTIME_MAXDELTA } from '../exptime.js';
import type { Request } from '../model.js';
import {
  BINARY_HEADER_LENGTH,
  BINARY_REQUEST_MAGIC,
  BinaryExtras,
  BinaryExtrasField as X,
  BinaryHeader as H,
  BinaryOpcode as Op,
  NO_CREATE_EXPIRATION,
} from './constants.js';

const EMPTY = Buffer.alloc(0);

/**
 * Binary exptime for a negative (already expired) text exptime: the binary
 * field is unsigned, and any absolute time before the server started
 * expires the item at once (memcached's realtime()).
 */
const EXPIRED_FIELD = REALTIME_MAXDELTA + 1;

function exptimeField(exptime: number): number {
  return exptime < 0 ? EXPIRED_FIELD : exptime >>> 0;
}

/** One request packet: header, extras (written by `extras`), key, value. */
function packet(
  opcode: number,
  opaque: number,
  cas: bigint | undefined,
  extrasLength: number,
  key: Buffer,
  value: Buffer,
  extras?: (b: Buffer, o: number) => void,
): Buffer {
  const bodyLength = extrasLength + key.length + value.length;
  const b = Buffer.allocUnsafe(BINARY_HEADER_LENGTH + bodyLength);
  writeRequestHeader(b, 0, opcode, key.length, extrasLength, bodyLength, opaque, cas ?? 0n);
  if (extras) extras(b, BINARY_HEADER_LENGTH);
  key.copy(b, BINARY_HEADER_LENGTH + extrasLength);
  value.copy(b, BINARY_HEADER_LENGTH + extrasLength + key.length);
  return b;
}

function writeRequestHeader(
  b: Buffer,
  o: number,
  opcode: number,
  keyLength: number,
  extrasLength: number,
  bodyLength: number,
  opaque: number,
  cas: bigint,
): void {
  b[o + H.MAGIC] = BINARY_REQUEST_MAGIC;
  b[o + H.OPCODE] = opcode;
  b.writeUInt16BE(keyLength, o + H.KEY_LENGTH);
  b[o + H.EXTRAS_LENGTH] = extrasLength;
  b[o + H.DATA_TYPE] = 0;
  b.writeUInt16BE(0, o + H.VBUCKET);
  b.writeUInt32BE(bodyLength, o + H.BODY_LENGTH);
  b.writeUInt32BE(opaque >>> 0, o + H.OPAQUE);
  b.writeBigUInt64BE(cas, o + H.CAS);
}

/** `req.opcode` when the request came in binary as one of `allowed`, else `derived`. */
function opcodeOf(req: Request, allowed: readonly number[], derived: number): number {
  return req.protocol === 'binary' && allowed.includes(req.opcode) ? req.opcode : derived;
}

const GET_OPCODES = [Op.GET, Op.GETQ, Op.GETK, Op.GETKQ] as const;
const TOUCH_OPCODES = [Op.TOUCH, Op.GAT, Op.GATQ, Op.GATK, Op.GATKQ] as const;

/**
 * Encode a request as a memcached binary protocol packet (client side):
 * used by tests and load generators. Binary requests keep their opcode and
 * opaque, so parsing the result gives back the same request; requests from
 * the text or meta protocol get the closest binary opcode (quiet forms for
 * noreply/`q`, GetKQ... + Noop for a multi-key get). Meta-only options
 * (vivify, recache, invalidate, new CAS, ...) have no binary form and are
 * dropped. An `ErrorRequest` cannot be encoded.
 */
export function encodeBinaryRequest(req: Request): Buffer {
  const opaque = req.opaque;
  switch (req.cmd) {
    case 'get':
    case 'me': {
      if (req.touch === undefined) {
        const opcode = opcodeOf(req, GET_OPCODES, req.quiet ? Op.GETQ : Op.GET);
        return packet(opcode, opaque, undefined, 0, req.key, EMPTY);
      }
      const touch = req.touch;
      const opcode = opcodeOf(req, TOUCH_OPCODES, req.quiet ? Op.GATQ : Op.GAT);
      return packet(opcode, opaque, undefined, BinaryExtras.EXPIRATION, req.key, EMPTY, (b, o) => {
        b.writeUInt32BE(exptimeField(touch), o);
      });
    }
    case 'mget': {
      const touch = req.touch;
      const parts = req.keys.map((key) =>
        touch === undefined
          ? packet(Op.GETKQ, opaque, undefined, 0, key, EMPTY)
          : packet(Op.GATKQ, opaque, undefined, BinaryExtras.EXPIRATION, key, EMPTY, (b, o) => {
              b.writeUInt32BE(exptimeField(touch), o);
            }),
      );
      parts.push(packet(Op.NOOP, opaque, undefined, 0, EMPTY, EMPTY));
      return Buffer.concat(parts);
    }
    case 'store': {
      const q = req.quiet;
      switch (req.mode) {
        case 'append':
        case 'prepend': {
          const derived = req.mode === 'append' ? (q ? Op.APPENDQ : Op.APPEND) : q ? Op.PREPENDQ : Op.PREPEND;
          const allowed = req.mode === 'append' ? [Op.APPEND, Op.APPENDQ] : [Op.PREPEND, Op.PREPENDQ];
          return packet(opcodeOf(req, allowed, derived), opaque, req.compareCas, 0, req.key, req.value);
        }
        default: {
          const derived =
            req.mode === 'set' ? (q ? Op.SETQ : Op.SET) : req.mode === 'add' ? (q ? Op.ADDQ : Op.ADD) : q ? Op.REPLACEQ : Op.REPLACE;
          // A CAS store is the same whichever of the three opcodes carries it.
          const allowed =
            req.compareCas !== undefined
              ? [Op.SET, Op.SETQ, Op.ADD, Op.ADDQ, Op.REPLACE, Op.REPLACEQ]
              : req.mode === 'set'
                ? [Op.SET, Op.SETQ]
                : req.mode === 'add'
                  ? [Op.ADD, Op.ADDQ]
                  : [Op.REPLACE, Op.REPLACEQ];
          const flags = req.flags;
          const exptime = exptimeField(req.exptime);
          return packet(opcodeOf(req, allowed, derived), opaque, req.compareCas, BinaryExtras.STORE, req.key, req.value, (b, o) => {
            b.writeUInt32BE(flags >>> 0, o + X.STORE_FLAGS);
            b.writeUInt32BE(exptime, o + X.STORE_EXPIRATION);
          });
        }
      }
    }
    case 'delete':
      return packet(opcodeOf(req, [Op.DELETE, Op.DELETEQ], req.quiet ? Op.DELETEQ : Op.DELETE), opaque, req.compareCas, 0, req.key, EMPTY);
    case 'incr':
    case 'decr': {
      const derived = req.incr ? (req.quiet ? Op.INCREMENTQ : Op.INCREMENT) : req.quiet ? Op.DECREMENTQ : Op.DECREMENT;
      const allowed = req.incr ? [Op.INCREMENT, Op.INCREMENTQ] : [Op.DECREMENT, Op.DECREMENTQ];
      const { delta, initial } = req;
      const exptime = initial === undefined ? NO_CREATE_EXPIRATION : exptimeField(req.exptime ?? 0);
      return packet(opcodeOf(req, allowed, derived), opaque, req.compareCas, BinaryExtras.ARITHMETIC, req.key, EMPTY, (b, o) => {
        b.writeBigUInt64BE(BigInt.asUintN(64, delta), o + X.ARITHMETIC_DELTA);
        b.writeBigUInt64BE(BigInt.asUintN(64, initial ?? 0n), o + X.ARITHMETIC_INITIAL);
        b.writeUInt32BE(exptime, o + X.ARITHMETIC_EXPIRATION);
      });
    }
    case 'touch': {
      const exptime = exptimeField(req.exptime);
      return packet(Op.TOUCH, opaque, undefined, BinaryExtras.EXPIRATION, req.key, EMPTY, (b, o) => {
        b.writeUInt32BE(exptime, o + X.EXPIRATION);
      });
    }
    case 'flush_all': {
      const opcode = opcodeOf(req, [Op.FLUSH, Op.FLUSHQ], req.quiet ? Op.FLUSHQ : Op.FLUSH);
      if (req.delay === 0) return packet(opcode, opaque, undefined, 0, EMPTY, EMPTY);
      const delay = exptimeField(req.delay);
      return packet(opcode, opaque, undefined, BinaryExtras.EXPIRATION, EMPTY, EMPTY, (b, o) => {
        b.writeUInt32BE(delay, o + X.EXPIRATION);
      });
    }
    case 'stats':
      return packet(Op.STAT, opaque, undefined, 0, Buffer.from(req.group, 'latin1'), EMPTY);
    case 'verbosity': {
      const level = req.level >>> 0;
      return packet(Op.VERBOSITY, opaque, undefined, 4, EMPTY, EMPTY, (b, o) => {
        b.writeUInt32BE(level, o);
      });
    }
    case 'version':
      return packet(Op.VERSION, opaque, undefined, 0, EMPTY, EMPTY);
    case 'noop':
      return packet(Op.NOOP, opaque, undefined, 0, EMPTY, EMPTY);
    case 'quit':
      return packet(opcodeOf(req, [Op.QUIT, Op.QUITQ], req.quiet ? Op.QUITQ : Op.QUIT), opaque, undefined, 0, EMPTY, EMPTY);
    case 'sasl_list':
      return packet(Op.SASL_LIST_MECHS, opaque, undefined, 0, EMPTY, EMPTY);
    case 'sasl_auth':
      return packet(Op.SASL_AUTH, opaque, undefined, 0, req.mechanism, req.data);
    case 'sasl_step':
      return packet(Op.SASL_STEP, opaque, undefined, 0, req.mechanism, req.data);
    case 'error':
      throw new TypeError('an ErrorRequest has no binary encoding');
    case 'admin':
      throw new TypeError('admin commands exist in the text protocol only');
  }
}
