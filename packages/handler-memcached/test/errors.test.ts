/**
 * The errors a caller gets, and can branch on: a refused connection and a
 * backend that does not answer carry different codes, both retryable; a bad
 * key and a closed handler are not retryable.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BinaryStatus, HandlerError, isRetryable } from '@cleave/protocol';
import { freePort } from '@cleave/testkit';
import { MemcachedErrors, MemcachedHandler } from '../src/index.js';
import { k, rejection } from './helpers.js';

const opened: { close(): void }[] = [];
afterEach(() => {
  for (const o of opened.splice(0)) o.close();
});

/** What a caller would do with a failure: retry a timeout later, give up on a bad key, ... */
function decide(err: unknown): string {
  if (!(err instanceof HandlerError)) return 'bug';
  switch (err.code) {
    case 'BACKEND_TIMEOUT':
      return 'slow backend, retry';
    case 'BACKEND_REFUSED':
    case 'BACKEND_UNAVAILABLE':
      return 'backend down, retry';
    default:
      return err.retryable ? 'retry' : 'give up';
  }
}

/** A backend that accepts, answers the opening `mn` and then never answers again. */
async function silentBackend(): Promise<number> {
  const server = net.createServer((socket) => {
    let answered = false;
    socket.on('data', () => {
      if (answered) return;
      answered = true;
      socket.write('MN\r\n');
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  opened.push({ close: () => server.close() });
  return (server.address() as net.AddressInfo).port;
}

describe('errors a caller branches on', () => {
  it('a refused connection is BACKEND_REFUSED (then BACKEND_UNAVAILABLE while backing off), retryable', async () => {
    const port = await freePort();
    const h = new MemcachedHandler({ address: { host: '127.0.0.1', port }, connections: 1, backoff: { minMs: 5000, maxMs: 5000 } });
    opened.push(h);
    const first = await rejection(h.get({ key: k('a') }));
    expect(first).toBe(MemcachedErrors.refused);
    expect(decide(first)).toBe('backend down, retry');
    const next = await rejection(h.get({ key: k('a') }));
    expect(next.code).toBe('BACKEND_UNAVAILABLE');
    expect(isRetryable(next)).toBe(true);
  });

  it('a backend that does not answer is BACKEND_TIMEOUT, retryable', async () => {
    const port = await silentBackend();
    const h = new MemcachedHandler({ address: { host: '127.0.0.1', port }, connections: 1, timeoutMs: 200 });
    opened.push(h);
    const err = await rejection(h.get({ key: k('a') }));
    expect(err.code).toBe('BACKEND_TIMEOUT');
    expect(err.status).toBe(BinaryStatus.ETMPFAIL);
    expect(decide(err)).toBe('slow backend, retry');
  });

  it('a key that cannot be sent and a closed handler are not retryable', async () => {
    const port = await silentBackend();
    const h = new MemcachedHandler({ address: { host: '127.0.0.1', port }, connections: 1 });
    const bad = await rejection(h.get({ key: Buffer.alloc(0) }));
    expect([bad.code, decide(bad)]).toEqual(['BAD_KEY', 'give up']);
    h.close();
    const closed = await rejection(h.get({ key: k('a') }));
    expect([closed.code, decide(closed)]).toEqual(['HANDLER_CLOSED', 'give up']);
  });
});
