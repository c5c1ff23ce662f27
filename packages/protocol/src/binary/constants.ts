/**
 * memcached binary protocol: magic bytes, opcodes and the 24-byte header
 * layout (memcached's protocol_binary.h).
 *
 * Request and response headers share one layout, all integers big-endian:
 *
 *   offset  size  request            response
 *        0     1  magic 0x80         magic 0x81
 *        1     1  opcode             opcode (echoed)
 *        2     2  key length         key length
 *        4     1  extras length      extras length
 *        5     1  data type (0)      data type (0)
 *        6     2  vbucket (ignored)  status
 *        8     4  total body length  total body length
 *       12     4  opaque             opaque (echoed)
 *       16     8  cas                cas
 *
 * The body follows: extras, then key, then value. Every packet reader and
 * writer (server parser and encoder, client encoder, load generator) uses
 * these offsets.
 */

export const BINARY_REQUEST_MAGIC = 0x80;
export const BINARY_RESPONSE_MAGIC = 0x81;
export const BINARY_HEADER_LENGTH = 24;

/** Byte offsets of the header fields. */
export const BinaryHeader = {
  MAGIC: 0,
  OPCODE: 1,
  KEY_LENGTH: 2,
  EXTRAS_LENGTH: 4,
  DATA_TYPE: 5,
  /** vbucket in requests, status in responses. */
  VBUCKET: 6,
  STATUS: 6,
  BODY_LENGTH: 8,
  OPAQUE: 12,
  CAS: 16,
} as const;

/** Byte offsets of the fields inside the extras (which start right after the header). */
export const BinaryExtrasField = {
  /** Set/Add/Replace: client flags (4). */
  STORE_FLAGS: 0,
  /** Set/Add/Replace: expiration (4). */
  STORE_EXPIRATION: 4,
  /** Increment/Decrement: delta (8). */
  ARITHMETIC_DELTA: 0,
  /** Increment/Decrement: initial value (8). */
  ARITHMETIC_INITIAL: 8,
  /** Increment/Decrement: expiration (4); NO_CREATE_EXPIRATION = do not create. */
  ARITHMETIC_EXPIRATION: 16,
  /** Touch/GAT/Flush: expiration (4). */
  EXPIRATION: 0,
  /** Get replies: client flags (4). */
  REPLY_FLAGS: 0,
} as const;

/** Opcodes of the binary protocol. */
export const BinaryOpcode = {
  GET: 0x00,
  SET: 0x01,
  ADD: 0x02,
  REPLACE: 0x03,
  DELETE: 0x04,
  INCREMENT: 0x05,
  DECREMENT: 0x06,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  GETK: 0x0c,
  GETKQ: 0x0d,
  APPEND: 0x0e,
  PREPEND: 0x0f,
  STAT: 0x10,
  SETQ: 0x11,
  ADDQ: 0x12,
  REPLACEQ: 0x13,
  DELETEQ: 0x14,
  INCREMENTQ: 0x15,
  DECREMENTQ: 0x16,
  QUITQ: 0x17,
  FLUSHQ: 0x18,
  APPENDQ: 0x19,
  PREPENDQ: 0x1a,
  /**
   * Defined by the protocol, but memcached 1.6 does not implement it: it
   * answers UNKNOWN_COMMAND, and so does cleave's parser.
   */
  VERBOSITY: 0x1b,
  TOUCH: 0x1c,
  GAT: 0x1d,
  GATQ: 0x1e,
  SASL_LIST_MECHS: 0x20,
  SASL_AUTH: 0x21,
  SASL_STEP: 0x22,
  GATK: 0x23,
  GATKQ: 0x24,
} as const;
export type BinaryOpcodeValue = (typeof BinaryOpcode)[keyof typeof BinaryOpcode];

/** Extras lengths memcached requires per request family. */
export const BinaryExtras = {
  /** Set/Add/Replace: flags (4) + expiration (4). */
  STORE: 8,
  /** Increment/Decrement: delta (8) + initial (8) + expiration (4). */
  ARITHMETIC: 20,
  /** Touch/GAT: expiration (4); Flush: optional expiration (4). */
  EXPIRATION: 4,
  /** Get replies: flags (4). */
  FLAGS: 4,
} as const;

/** Incr/Decr expiration meaning "do not create the counter when missing". */
export const NO_CREATE_EXPIRATION = 0xffffffff;

/**
 * Body texts memcached 1.6 sends with each error status (proto_bin.c,
 * write_bin_error), as bytes.
 */
export const BinaryErrorText = {
  KEY_ENOENT: Buffer.from('Not found', 'latin1'),
  KEY_EEXISTS: Buffer.from('Data exists for key.', 'latin1'),
  E2BIG: Buffer.from('Too large.', 'latin1'),
  EINVAL: Buffer.from('Invalid arguments', 'latin1'),
  NOT_STORED: Buffer.from('Not stored.', 'latin1'),
  DELTA_BADVAL: Buffer.from('Non-numeric server-side value for incr or decr', 'latin1'),
  AUTH_ERROR: Buffer.from('Auth failure.', 'latin1'),
  UNKNOWN_COMMAND: Buffer.from('Unknown command', 'latin1'),
  ENOMEM: Buffer.from('Out of memory', 'latin1'),
  /** A store that could not allocate its item (out_of_memory() without its "SERVER_ERROR " prefix). */
  ENOMEM_STORE: Buffer.from('Out of memory allocating item', 'latin1'),
} as const;

/** Whether an opcode is the quiet form of its command. */
export function isQuietOpcode(opcode: number): boolean {
  switch (opcode) {
    case BinaryOpcode.GETQ:
    case BinaryOpcode.GETKQ:
    case BinaryOpcode.SETQ:
    case BinaryOpcode.ADDQ:
    case BinaryOpcode.REPLACEQ:
    case BinaryOpcode.DELETEQ:
    case BinaryOpcode.INCREMENTQ:
    case BinaryOpcode.DECREMENTQ:
    case BinaryOpcode.QUITQ:
    case BinaryOpcode.FLUSHQ:
    case BinaryOpcode.APPENDQ:
    case BinaryOpcode.PREPENDQ:
    case BinaryOpcode.GATQ:
    case BinaryOpcode.GATKQ:
      return true;
    default:
      return false;
  }
}

/** Whether the reply to a Get-family opcode carries the key (GetK, GetKQ, GATK, GATKQ). */
export function returnsKey(opcode: number): boolean {
  return opcode === BinaryOpcode.GETK || opcode === BinaryOpcode.GETKQ || opcode === BinaryOpcode.GATK || opcode === BinaryOpcode.GATKQ;
}
