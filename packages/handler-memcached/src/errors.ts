import { BinaryStatus, HandlerError } from '@cleave/protocol';

/**
 * The failures a MemcachedHandler rejects with: a client sees `SERVER_ERROR
 * <message>` (binary: the status); a caller branches on `code` and
 * `retryable`. Shared instances: failing a burst of requests while the
 * backend is down allocates nothing per request.
 */
export const Errors = {
  /** No usable connection right now: backing off before the next attempt after a failure. */
  unavailable: new HandlerError('backend unavailable', 'BACKEND_UNAVAILABLE', BinaryStatus.ETMPFAIL),
  /** The connection attempt was refused (nothing listens at the address); requests that waited for it fail so. */
  refused: new HandlerError('backend unavailable', 'BACKEND_REFUSED', BinaryStatus.ETMPFAIL),
  /** The backend did not answer within timeoutMs; the connection is dropped and reopened. */
  timeout: new HandlerError('backend timeout', 'BACKEND_TIMEOUT', BinaryStatus.ETMPFAIL),
  /** Connecting (TCP connect plus a first `mn` round trip) took longer than connectTimeoutMs. */
  connectTimeout: new HandlerError('backend unavailable', 'BACKEND_CONNECT_TIMEOUT', BinaryStatus.ETMPFAIL),
  /** The connection's in-flight queue is full. */
  busy: new HandlerError('backend busy', 'BACKEND_BUSY', BinaryStatus.ETMPFAIL),
  /** A reply did not match its request (opaque mismatch, unexpected reply, unparsable bytes). */
  desync: new HandlerError('backend protocol error', 'BACKEND_DESYNC', BinaryStatus.EINTERNAL),
  /** The connection closed (reset, backend exit) with the request in flight. */
  closed: new HandlerError('backend unavailable', 'BACKEND_CLOSED', BinaryStatus.ETMPFAIL),
  /** The handler was closed. */
  shutdown: new HandlerError('backend unavailable', 'HANDLER_CLOSED', BinaryStatus.ETMPFAIL),
  /** A key the meta protocol cannot carry: empty, or over 250 bytes once base64-encoded (over 187 raw bytes). */
  badKey: new HandlerError('key cannot be sent to the backend', 'BAD_KEY', BinaryStatus.EINVAL),
} as const;

/** A backend `SERVER_ERROR <message>` / `CLIENT_ERROR <message>` passed on to the client. */
export function backendError(message: string): HandlerError {
  return new HandlerError(message, 'BACKEND_ERROR', BinaryStatus.EINTERNAL);
}
