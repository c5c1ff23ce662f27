// The errors a ChunkedHandler raises itself (an inner store's own errors pass through as they are).
import { BinaryStatus, HandlerError } from '@cleave/protocol';

/**
 * `HandlerError.code` of a ChunkedHandler's own errors:
 * - `CHUNKED_READ_RETRIES`: the value kept changing while it was read (retrying may help: binary ETMPFAIL),
 * - `CHUNKED_WRITE_RETRIES`: too many concurrent writes to one key (retrying may help: binary ETMPFAIL),
 * - `CHUNK_WRITE_FAILED`: the inner store failed or refused a chunk.
 */
export type ChunkedErrorCode = 'CHUNKED_READ_RETRIES' | 'CHUNKED_WRITE_RETRIES' | 'CHUNK_WRITE_FAILED';

export function readRetriesExhausted(): HandlerError {
  return new HandlerError(
    'chunked item kept changing while it was read',
    'CHUNKED_READ_RETRIES' satisfies ChunkedErrorCode,
    BinaryStatus.ETMPFAIL,
  );
}

export function writeRetriesExhausted(): HandlerError {
  return new HandlerError(
    'too many concurrent writes to one key',
    'CHUNKED_WRITE_RETRIES' satisfies ChunkedErrorCode,
    BinaryStatus.ETMPFAIL,
  );
}

/** A chunk write that threw (`error`) or answered a failure other than OUT_OF_MEMORY (`outcome`). */
export function chunkWriteFailed(error: unknown, outcome: string | undefined): HandlerError {
  const why = error !== undefined ? `failed: ${error instanceof Error ? error.message : String(error)}` : `answered ${outcome}`;
  return new HandlerError(`chunk write ${why}`, 'CHUNK_WRITE_FAILED' satisfies ChunkedErrorCode);
}
