import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMemccapable } from '@cleave/testkit';
import type { Running } from './spawn.js';
import { THREADS, startThreaded } from './threads-shared.js';

// One thread, and the thread counts of the issue's proof (memccapable's connections land on different threads).
for (const threads of [1, ...THREADS]) {
  describe(`memccapable conformance against memproxy${threads > 1 ? ` --threads ${threads}` : ''}`, () => {
    let mp: Running;
    beforeAll(async () => {
      mp = await startThreaded(threads);
    });
    afterAll(async () => {
      await mp?.stop();
    });

    it('passes every ascii test', async () => {
      const r = await runMemccapable(mp.port, '-a');
      expect(r.out).not.toMatch(/\[fail\]/);
      expect(r.out).toContain('All tests passed');
      expect(r.code).toBe(0);
    });

    it('passes every binary test', async () => {
      const r = await runMemccapable(mp.port, '-b');
      expect(r.out).not.toMatch(/\[fail\]/);
      expect(r.out).toContain('All tests passed');
      expect(r.code).toBe(0);
    });
  });
}
