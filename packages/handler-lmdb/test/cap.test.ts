/**
 * The byte cap on disk: writing three times the cap, in values of random
 * sizes, keeps the store's file within the cap plus a stated margin, the
 * counted bytes under the cap, and the recently written keys readable;
 * what had to go was counted as evicted (or reclaimed, when expired first).
 */
import { describe, expect, it } from 'vitest';
import { LmdbHandler } from '../src/index.js';
import { tempStore } from './helpers.js';

const MiB = 1024 * 1024;
/** The file may exceed the cap by this share (LMDB's free pages waiting for readers, branch pages, meta pages). */
const MARGIN = 0.1;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Let lmdb commit what was queued (writes are batched per event-loop turn). */
const turn = () => new Promise<void>((r) => setImmediate(r));

describe('byte cap', () => {
  for (const [label, min, max] of [
    ['100 B to 4 KiB', 100, 4096],
    ['1 KiB to 100 KiB', 1024, 100 * 1024],
  ] as const) {
    it(`writing 3x the cap in values of ${label} keeps the file within the cap + ${MARGIN * 100}% and recent keys readable`, async () => {
      const store = tempStore();
      const cap = 32 * MiB;
      const h = new LmdbHandler({ path: store.path, maxBytes: cap, sweepIntervalMs: 0 });
      try {
        const random = rng(7);
        const sizes: number[] = [];
        let written = 0;
        let peakFile = 0;
        for (let i = 0; written < 3 * cap; i++) {
          const size = Math.floor(min + random() * (max - min));
          const value = Buffer.alloc(size, i & 0xff);
          // A tenth of the items expire soon: those go first when room is needed.
          const exptime = i % 10 === 0 ? -1 : 0;
          const out = await h.store({ mode: 'set', key: Buffer.from(`key:${i}`), value, flags: i, exptime });
          expect(typeof out === 'object').toBe(true);
          sizes.push(size);
          written += size;
          if (i % 64 === 0) {
            await turn();
            peakFile = Math.max(peakFile, h.fileBytes);
          }
        }
        await h.flushed();
        peakFile = Math.max(peakFile, h.fileBytes);
        expect(h.bytes).toBeLessThanOrEqual(cap);
        expect(peakFile).toBeLessThanOrEqual(cap * (1 + MARGIN));
        const st = h.stats('')!;
        expect(Number(st.evictions)).toBeGreaterThan(0);
        // The most recent keys holding a third of the cap are all there, with their bytes.
        let recent = 0;
        let missing = 0;
        let checked = 0;
        for (let i = sizes.length - 1; i >= 0 && recent < cap / 3; i--) {
          recent += sizes[i]!;
          if (i % 10 === 0) continue;
          checked++;
          const it = h.get({ key: Buffer.from(`key:${i}`) }) as { value: Buffer; flags: number } | undefined;
          if (it === undefined) missing++;
          else {
            expect(it.value.length).toBe(sizes[i]);
            expect(it.value[0]).toBe(i & 0xff);
            expect(it.flags).toBe(i);
          }
        }
        expect(checked).toBeGreaterThan(0);
        expect(missing).toBe(0);
        console.log(
          `${label}: peak file ${(peakFile / MiB).toFixed(1)} MiB for a ${cap / MiB} MiB cap; counted ${(h.bytes / MiB).toFixed(1)} MiB, ${h.size} items, ${st.evictions} evicted`,
        );
      } finally {
        await h.close();
        store.cleanup();
      }
    });
  }
});
