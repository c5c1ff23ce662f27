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
  | 'UNAUTHENTICATED'
  /**
   * A text line that looks like an HTTP request (an unknown command whose last
   * word starts with `HTTP/`): the connection is closed without a reply, as
   * memcached does against cross-protocol requests from browsers.
   */
  | 'HTTP_REQUEST';

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
 * Why a handler failed a command: `HandlerError.code`, to branch on (never on
 * messages). Each code says whether the failure is retryable
 * (`HandlerError.retryable`, `RETRYABLE_CODES`).
 */
export type HandlerErrorCode =
  /** A handler's own failure, of no kind below (the default). Not retryable. */
  | 'HANDLER_ERROR'
  /** No usable backend connection right now: backing off after a failure. Retryable. */
  | 'BACKEND_UNAVAILABLE'
  /** The backend refused the connection (nothing listens at its address). Retryable: it may come up. */
  | 'BACKEND_REFUSED'
  /** The backend did not answer in time; the connection is dropped and opened again. Retryable. */
  | 'BACKEND_TIMEOUT'
  /** Connecting to the backend took too long. Retryable. */
  | 'BACKEND_CONNECT_TIMEOUT'
  /** Too many requests in flight to the backend. Retryable. */
  | 'BACKEND_BUSY'
  /** The backend connection closed (reset, backend exit) with the command in flight. Retryable. */
  | 'BACKEND_CLOSED'
  /** A backend reply did not match its request; the connection is dropped and opened again. Retryable. */
  | 'BACKEND_DESYNC'
  /** The backend answered the command with an error of its own (passed on as the message). Not retryable. */
  | 'BACKEND_ERROR'
  /** The handler was closed. Not retryable. */
  | 'HANDLER_CLOSED'
  /** A key the backend cannot be sent (empty, or too long in the form it must travel in). Not retryable. */
  | 'BAD_KEY'
  /** A chunked value kept changing while it was read. Retryable. */
  | 'CHUNKED_READ_RETRIES'
  /** Too many concurrent writes to one chunked key. Retryable. */
  | 'CHUNKED_WRITE_RETRIES'
  /** The store under a chunked handler failed or refused a chunk. Not retryable. */
  | 'CHUNK_WRITE_FAILED';

/**
 * Whether a failure with each code is retryable: trying the command again
 * later may succeed, because what failed is the backend's state now (down,
 * slow, busy), not the command. A write that failed this way may or may not
 * have taken effect.
 */
export const RETRYABLE_CODES: Readonly<Record<HandlerErrorCode, boolean>> = Object.freeze({
  HANDLER_ERROR: false,
  BACKEND_UNAVAILABLE: true,
  BACKEND_REFUSED: true,
  BACKEND_TIMEOUT: true,
  BACKEND_CONNECT_TIMEOUT: true,
  BACKEND_BUSY: true,
  BACKEND_CLOSED: true,
  BACKEND_DESYNC: true,
  BACKEND_ERROR: false,
  HANDLER_CLOSED: false,
  BAD_KEY: false,
  CHUNKED_READ_RETRIES: true,
  CHUNKED_WRITE_RETRIES: true,
  CHUNK_WRITE_FAILED: false,
});

/**
 * Errors a handler throws (or rejects with) when it cannot carry out a
 * command. The reply is `SERVER_ERROR <message>` (binary: `status`).
 */
export class HandlerError extends Error {
  override readonly name = 'HandlerError';
  readonly code: HandlerErrorCode;
  readonly status: BinaryStatusCode;
  /** Trying the command again later may succeed (see `RETRYABLE_CODES`). */
  readonly retryable: boolean;
  constructor(message: string, code: HandlerErrorCode = 'HANDLER_ERROR', status: BinaryStatusCode = BinaryStatus.EINTERNAL) {
    super(message);
    this.code = code;
    this.status = status;
    this.retryable = RETRYABLE_CODES[code];
  }
}

/** Whether `err` is a HandlerError a caller may retry. */
export function isRetryable(err: unknown): boolean {
  return err instanceof HandlerError && err.retryable;
}
