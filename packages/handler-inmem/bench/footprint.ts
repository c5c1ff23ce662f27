/**
 * Measures what the store really costs: fills a handler with N items of one
 * key/value size and compares the growth of the process (RSS, V8 heap,
 * external memory; after full GCs) with what the handler charges
 * (`memoryUsed`: slab pages, metadata, hash table, large items).
 *
 * Run: node --expose-gc --import tsx bench/footprint.ts [keyLen valueLen N]
 * Without arguments it prints a table over several sizes (one process each).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { InMemoryHandler } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;

export interface Footprint {
  keyLength: number;
  valueLength: number;
  items: number;
  /** Bytes the handler charges against maxBytes, per item. */
  charged: number;
  /** The `bytes` stat per item (chunk or large footprint + metadata). */
  itemBytes: number;
  /** RSS growth per item. */
  rss: number;
  /** V8 heap growth per item. */
  heap: number;
  /** External (ArrayBuffer) memory growth per item. */
  external: number;
}

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage();
}

export function measure(keyLength: number, valueLength: number, items: number): Footprint {
  const h = new InMemoryHandler({ maxBytes: 2 ** 36, sweepIntervalMs: 0, clock: () => 1_700_000_000_000 });
  const key = Buffer.alloc(keyLength, 0x6b);
  const value = Buffer.alloc(valueLength, 0x76);
  const before = settle();
  const usedBefore = h.memoryUsed;
  for (let i = 0; i < items; i++) {
    // A distinct key per item: the index in the last bytes.
    let n = i;
    for (let j = keyLength - 1; j >= 0 && j >= keyLength - 8; j--) {
      key[j] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    const r = h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
    if (typeof r === 'string') throw new Error(r);
  }
  const after = settle();
  if (h.size !== items) throw new Error(`expected ${items} items, have ${h.size}`);
  const per = (a: number, b: number) => (a - b) / items;
  const result: Footprint = {
    keyLength,
    valueLength,
    items,
    charged: per(h.memoryUsed, usedBefore),
    itemBytes: h.bytes / items,
    rss: per(after.rss, before.rss),
    heap: per(after.heapUsed, before.heapUsed),
    external: per(after.external, before.external),
  };
  h.close();
  return result;
}

const SIZES: ReadonlyArray<readonly [number, number, number]> = [
  [16, 10, 400_000],
  [16, 100, 400_000],
  [40, 1000, 100_000],
  [16, 4000, 50_000],
  [16, 60_000, 4000],
  [16, 600_000, 300],
];

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self) {
  if (!gc) throw new Error('run with node --expose-gc --import tsx');
  const args = process.argv.slice(2).map(Number);
  if (args.length === 3) {
    process.stdout.write(JSON.stringify(measure(args[0]!, args[1]!, args[2]!)) + '\n');
  } else {
    console.log('  key   value    items  charged  bytes-stat      rss     heap  external   (bytes per item)');
    for (const [k, v, n] of SIZES) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', self, String(k), String(v), String(n)], {
        encoding: 'utf8',
      });
      const r = JSON.parse(out) as Footprint;
      const f = (x: number) => x.toFixed(0).padStart(8);
      console.log(
        `${String(k).padStart(5)} ${String(v).padStart(7)} ${String(n).padStart(8)} ${f(r.charged)} ${f(r.itemBytes)}    ${f(r.rss)} ${f(r.heap)} ${f(r.external)}`,
      );
    }
  }
}
