/**
 * A request's deadline is timeoutMs from when it was issued, whatever the
 * connection is doing: also while a connection attempt waits (up to the
 * longer connectTimeoutMs) for a backend that accepts and never answers.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HandlerError } from '@cleave/protocol';
import { MemcachedHandler } from '../src/index.js';
import { startMemcached } from '@cleave/testkit';
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

describe('a pause of this process', () => {
  it('does not time out a request whose reply came in time but was still unread when the timer ran', async () => {
    const mc = await startMemcached();
    opened.push({ close: () => mc.stop() });
    const h = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc.port }, connections: 1, timeoutMs: TIMEOUT });
    opened.push(h);
    await h.ping();
    await h.store({ mode: 'set', key: k('paused'), value: k('v'), flags: 0, exptime: 0 });
    const got = h.get({ key: k('paused') });
    // Let the batch go out (it is written at the end of this turn), then block the event loop past the
    // deadline: memcached answers meanwhile, and the deadline's timer runs before the reply is read.
    await new Promise((r) => setImmediate(r));
    const until = Date.now() + TIMEOUT * 3;
    while (Date.now() < until) {
      /* a long garbage collection, a busy machine */
    }
    expect((await got)?.value.toString()).toBe('v');
    expect(h.ownStats().backend_timeouts).toBe(0);
  });
});
