/**
 * Typed protocol errors. Every error carries memcached's own reply for it, so
 * whoever answers the client never builds error text.
 */

/** Stable codes to branch on (never on messages). */
export type ProtocolErrorCode =
  /** Unknown command name: text `ERROR`, binary 0x81. */
  | 'UNKNOWN_COMMAND'
  /** Malformed line, bad number, bad key: text `CLIENT_ERROR ...`, binary 0x04. */
  | 'BAD_FORMAT'
  /** Data block not followed by \r\n: `CLIENT_ERROR bad data chunk`. */
  | 'BAD_DATA_CHUNK'
  /** Key longer than the limit. */
  | 'KEY_TOO_LONG'
  /** Item larger than the item size limit: `SERVER_ERROR object too large for cache`, binary 0x03. */
  | 'TOO_LARGE'
  /** A request line over the line limit. */
  | 'LINE_TOO_LONG'
  /** Binary header with a bad magic byte: the connection is closed. */
  | 'BAD_MAGIC'
  /** Binary body over the limit or inconsistent lengths: the connection is closed. */
  | 'BAD_PACKET'
  /** A command before authentication (auth on): binary AUTH_ERROR 0x20, then the connection is closed. */
  | 'UNAUTHENTICATED';

/** Binary protocol response status codes (memcached's protocol_binary.h). */
export const BinaryStatus = {
  NO_ERROR: 0x00,
  KEY_ENOENT: 0x01,
  KEY_EEXISTS: 0x02,
  E2BIG: 0x03,
  EINVAL: 0x04,
  NOT_STORED: 0x05,
  DELTA_BADVAL: 0x06,
  AUTH_ERROR: 0x20,
  AUTH_CONTINUE: 0x21,
  UNKNOWN_COMMAND: 0x81,
  ENOMEM: 0x82,
  NOT_SUPPORTED: 0x83,
  EINTERNAL: 0x84,
  EBUSY: 0x85,
  ETMPFAIL: 0x86,
} as const;
export type BinaryStatusCode = (typeof BinaryStatus)[keyof typeof BinaryStatus];

export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code: ProtocolErrorCode;
  /** The full text/meta reply line, `\r\n` included (e.g. `CLIENT_ERROR bad data chunk\r\n`). */
  readonly wire: Buffer;
  /** The binary status for the same condition. */
  readonly status: BinaryStatusCode;
  /** After replying (if any), the connection must be closed: the stream cannot be resynchronised. */
  readonly fatal: boolean;

  constructor(code: ProtocolErrorCode, line: string, status: BinaryStatusCode, fatal = false) {
    super(line);
    this.code = code;
    this.wire = Buffer.from(line + '\r\n', 'latin1');
    this.status = status;
    this.fatal = fatal;
  }
}

/**
 * Errors a handler throws (or rejects with) when it cannot carry out a
 * command. The reply is `SERVER_ERROR <message>` (binary: `status`).
 */
export class HandlerError extends Error {
  override readonly name = 'HandlerError';
  readonly code: string;
  readonly status: BinaryStatusCode;
  constructor(message: string, code = 'HANDLER_ERROR', status: BinaryStatusCode = BinaryStatus.EINTERNAL) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
