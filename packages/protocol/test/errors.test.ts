import { describe, expect, it } from 'vitest';
import { BinaryStatus, HandlerError, RETRYABLE_CODES, isRetryable } from '../src/errors.js';

describe('HandlerError', () => {
  it('carries a typed code and whether it is retryable', () => {
    const timeout = new HandlerError('backend timeout', 'BACKEND_TIMEOUT', BinaryStatus.ETMPFAIL);
    expect(timeout.retryable).toBe(true);
    expect(isRetryable(timeout)).toBe(true);
    const badKey = new HandlerError('key cannot be sent to the backend', 'BAD_KEY', BinaryStatus.EINVAL);
    expect(badKey.retryable).toBe(false);
    expect(isRetryable(badKey)).toBe(false);
  });

  it('defaults to HANDLER_ERROR, not retryable; other errors are never retryable', () => {
    const e = new HandlerError('no');
    expect([e.code, e.status, e.retryable]).toEqual(['HANDLER_ERROR', BinaryStatus.EINTERNAL, false]);
    expect(isRetryable(new Error('backend timeout'))).toBe(false);
    expect(isRetryable(undefined)).toBe(false);
  });

  it('retries what depends on the backend state, not what the command or the handler itself caused', () => {
    const retryable = Object.entries(RETRYABLE_CODES)
      .filter(([, r]) => r)
      .map(([c]) => c)
      .sort();
    expect(retryable).toEqual([
      'BACKEND_BUSY',
      'BACKEND_CLOSED',
      'BACKEND_CONNECT_TIMEOUT',
      'BACKEND_DESYNC',
      'BACKEND_REFUSED',
      'BACKEND_TIMEOUT',
      'BACKEND_UNAVAILABLE',
      'CHUNKED_READ_RETRIES',
      'CHUNKED_WRITE_RETRIES',
    ]);
  });
});
