// L1L2 in worker threads over one shared in-memory L1 and a real memcached L2, with the shared key locks: four
// threads run random sets, deletes, incrs and gets on a few keys, many in flight at once; afterwards every copy
// the shared L1 holds is L2's item. The threads run test/fixtures/tiers-thread.mjs over the built packages.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sharedKeyLocks } from '@cleave/core';
import { InMemoryHandler, sharedStore } from '@cleave/handler-inmem';
import { RawClient, nextMessage, startMemcached, type MemcachedProcess } from '@cleave/testkit';

const packages = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('./fixtures/tiers-thread.mjs', import.meta.url));
const built = ['core', 'handler-inmem', 'handler-memcached', 'tiers'].map((p) => `${packages}/${p}/dist/index.js`);

describe('L1L2 in worker threads over one shared L1 (keyLocks)', () => {
  let mc: MemcachedProcess;
  beforeAll(async () => {
    mc = await startMemcached();
  });
  afterAll(async () => {
    await mc?.stop();
  });

  it('leaves no L1 copy that differs from L2 after random writes and reads from four threads', async () => {
    for (const f of built) expect(existsSync(f), `${f} is missing: run npx pnpm build first (workers run the built packages)`).toBe(true);
    const store = sharedStore({ maxBytes: 16 << 20 });
    const keyLocks = sharedKeyLocks();
    const keys = 6;
    const workers = [0, 1, 2, 3].map(
      (index) =>
        new Worker(fixture, {
          workerData: { dist: packages, store, keyLocks, port: mc.port, index, keys, ops: 1500, inFlight: 8 },
        }),
    );
    try {
      await Promise.all(workers.map(nextMessage));
      const done = workers.map(nextMessage);
      for (const w of workers) w.postMessage('go');
      await Promise.all(done);
    } finally {
      await Promise.all(workers.map((w) => w.terminate()));
    }
    const l1 = new InMemoryHandler({ shared: store, statsReporter: false });
    const c = await RawClient.connect({ port: mc.port });
    try {
      let copies = 0;
      for (let i = 0; i < keys; i++) {
        const key = `key${i}`;
        const inL1 = l1.get({ key: Buffer.from(key) })?.value.toString();
        const reply = (await c.request(`get ${key}\r\n`, 'END\r\n')).toString('latin1');
        const inL2 = /^VALUE \S+ \d+ \d+\r\n(.*)\r\n/.exec(reply)?.[1];
        if (inL1 !== undefined) {
          copies++;
          expect(inL1, `${key}: L1 holds ${inL1}, L2 ${inL2}`).toBe(inL2);
        }
      }
      // The run left copies to compare (the last op on a key is a read or write far more often than a delete).
      expect(copies).toBeGreaterThan(0);
    } finally {
      c.close();
    }
  });
});
