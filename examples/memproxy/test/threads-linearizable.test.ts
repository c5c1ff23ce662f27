/**
 * Concurrency across threads: 16 connections set, get and cas 8 overlapping
 * keys (values unique per write), incr shared counters and run gets + cas
 * increment loops for 2.5 s against memproxy --threads 4, in-memory (one cache
 * shared by every thread), in front of a memcached, and as an in-memory L1
 * over a memcached L2 (a write through one thread must leave no stale L1
 * copy visible through another); the recorded history
 * must pass @cleave/testkit's linearizability-style check: every get returns
 * a value some set wrote and none older than a write acknowledged before the
 * get began, no cas update is lost, incr sums exactly. The checker itself is
 * proven against memcached -t 4, and shown to fail on a stale read, in
 * packages/testkit/test/linearizability.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConcurrentLoad, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import type { Running } from './spawn.js';
import { THREADS, leastThreads, startThreaded, threadShares } from './threads-shared.js';

const threads = THREADS[THREADS.length - 1]!;

/** memproxy's flags for each mode, given a backend memcached's address. */
const modes = {
  'in-memory': undefined,
  'in front of memcached': (addr: string) => ['--l1-addr', addr],
  'in-memory L1 over a memcached L2': (addr: string) => ['--l2-enabled', '--l2-addr', addr],
};

for (const [mode, flags] of Object.entries(modes)) {
  describe(`memproxy --threads ${threads}, ${mode}, under concurrent load`, () => {
    let mp: Running;
    let backend: MemcachedProcess | undefined;
    beforeAll(async () => {
      if (flags) backend = await startMemcached({ threads: 2 });
      mp = await startThreaded(threads, flags && backend ? flags(`127.0.0.1:${backend.port}`) : []);
    });
    afterAll(async () => {
      await mp?.stop();
      await backend?.stop();
    });

    it('answers 16 connections on 8 shared keys linearizably', async () => {
      let shares: number[] = [];
      const res = await runConcurrentLoad({
        port: mp.port,
        connections: 16,
        keys: 8,
        durationMs: 2500,
        onConnected: async (ports) => {
          shares = await threadShares(mp, ports);
        },
      });
      expect(res.violations).toEqual([]);
      // The connections landed on several threads (as many as the server's balance promises for 16).
      expect(shares.length).toBeGreaterThanOrEqual(leastThreads(16, threads));
      // Enough ran, and contended, for the check to mean something.
      expect(res.counts.sets).toBeGreaterThan(200);
      expect(res.counts.gets).toBeGreaterThan(200);
      expect(res.counts.casStored).toBeGreaterThan(20);
      expect(res.counts.incrs).toBeGreaterThan(20);
      expect([...res.casStores.values()].every((s) => s.length > 0)).toBe(true);
    });
  });
}
