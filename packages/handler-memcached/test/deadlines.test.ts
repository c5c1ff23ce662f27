/**
 * A request's deadline is timeoutMs from when it was issued, whatever the
 * connection is doing: also while a connection attempt waits (up to the
 * longer connectTimeoutMs) for a backend that accepts and never answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HandlerError } from '@cleave/protocol';
import { MemcachedHandler } from '../src/index.js';
import { k, sleep, startSilent, type Proxy } from './helpers.js';

const TIMEOUT = 200;
const CONNECT_TIMEOUT = 3000;
/** Slack for a busy machine; still far below CONNECT_TIMEOUT. */
const MARGIN = 600;

const opened: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close();
});

async function failsAfter(p: Promise<unknown>): Promise<{ ms: number; error: HandlerError }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (e) {
    if (e instanceof HandlerError) return { ms: Date.now() - t0, error: e };
    throw e;
  }
  throw new Error('expected the request to fail');
}

describe('requests queued during a connection attempt', () => {
  let silent: Proxy;

  it('fail at timeoutMs, not at connectTimeoutMs, when the backend accepts and never answers', async () => {
    silent = await startSilent();
    opened.push(silent);
    const h = new MemcachedHandler({
      address: { host: '127.0.0.1', port: silent.port },
      connections: 1,
      timeoutMs: TIMEOUT,
      connectTimeoutMs: CONNECT_TIMEOUT,
      backoff: { minMs: 10, maxMs: 20 },
    });
    opened.push(h);
    // The first request queues behind the opening round trip.
    const first = await failsAfter(h.get({ key: k('a') }));
    expect(first.ms).toBeGreaterThanOrEqual(TIMEOUT - 20);
    expect(first.ms).toBeLessThan(TIMEOUT + MARGIN);
    expect(first.error.message).toBe('backend unavailable');
    // Later attempts too: a request issued while the next attempt connects keeps its own deadline.
    await sleep(50);
    const later = await Promise.all(Array.from({ length: 5 }, (_, i) => failsAfter(h.get({ key: k(`b${i}`) }))));
    for (const r of later) expect(r.ms).toBeLessThan(TIMEOUT + MARGIN);
    expect(silent.accepted).toBeGreaterThanOrEqual(2);
  });
});
