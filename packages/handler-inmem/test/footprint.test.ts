/**
 * The memory the handler charges against maxBytes matches what the process
 * really holds for the items: measured in child processes (V8 heap and
 * external memory growth after full GCs) by bench/footprint.ts.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Footprint } from '../bench/footprint.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));

function measure(keyLength: number, valueLength: number, items: number): Footprint {
  const out = execFileSync(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', join(pkg, 'bench', 'footprint.ts'), String(keyLength), String(valueLength), String(items)],
    {
      cwd: pkg,
      encoding: 'utf8',
      timeout: 120_000,
    },
  );
  return JSON.parse(out) as Footprint;
}

describe('memory accounting', () => {
  for (const [k, v, n, what] of [
    [16, 10, 200_000, 'tiny items in slab chunks'],
    [16, 100, 200_000, 'small items in slab chunks'],
    [40, 3000, 30_000, 'kilobyte items in slab chunks'],
    // 400 large items, so the code's own first-use heap (feedback for each function run) is small per item
    // (and the records grown for them, charged, outnumber the items: itemBytes counts one per item).
    [16, 600_000, 400, 'items too large for a chunk, in their own Buffers'],
  ] as const) {
    it(`charges what the process holds: ${what} (${k} B keys, ${v} B values)`, () => {
      const r = measure(k, v, n);
      const held = r.heap + r.external;
      // Never less than what is held (the limit is a real bound), and not much more (honest).
      expect(r.charged).toBeGreaterThanOrEqual(held * 0.98);
      expect(r.charged).toBeLessThanOrEqual(held * 1.15 + 16);
      // Per item, the fixed part is right too: within a kilobyte (malloc records are not in heap/external figures).
      expect(r.charged - held).toBeGreaterThanOrEqual(-64);
      expect(r.charged - held).toBeLessThanOrEqual(1024);
      // The items' own share (bytes stat) is within what is charged.
      expect(r.itemBytes).toBeLessThanOrEqual(r.charged);
    }, 120_000);
  }
});
