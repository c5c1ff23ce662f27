/**
 * Measures what one item really costs: fills a handler with N items of a
 * given key/value length and compares the growth of the process (heap,
 * external memory, RSS; after full GCs) with what the handler counts.
 *
 * Run: node --expose-gc --import tsx bench/footprint.ts [keyLen valueLen N]
 * Without arguments it prints a table over several sizes.
 */
import { InMemoryHandler } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

export interface Footprint {
  keyLength: number;
  valueLength: number;
  items: number;
  /** Bytes the handler charges per item. */
  counted: number;
  /** heapUsed + external growth per item. */
  heapAndExternal: number;
  /** RSS growth per item. */
  rss: number;
}

function settle(): NodeJS.MemoryUsage {
  for (let i = 0; i < 4; i++) gc!();
  return process.memoryUsage();
}

export function measure(keyLength: number, valueLength: number, items: number): Footprint {
  const h = new InMemoryHandler({ maxBytes: 2 ** 40, sweepIntervalMs: 0, clock: () => 1_700_000_000_000 });
  // The request side: keys and values are views into one big "read buffer".
  const key = Buffer.alloc(keyLength, 0x6b);
  const value = Buffer.alloc(valueLength, 0x76);
  const before = settle();
  for (let i = 0; i < items; i++) {
    // A distinct key per item: the index in the last bytes.
    let n = i;
    for (let j = keyLength - 1; j >= 0 && j >= keyLength - 8; j--) {
      key[j] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    h.store({ mode: 'set', key, value, flags: 0, exptime: 0 });
  }
  const after = settle();
  if (h.size !== items) throw new Error(`expected ${items} items, have ${h.size}`);
  const per = (a: number, b: number) => (a - b) / items;
  const result: Footprint = {
    keyLength,
    valueLength,
    items,
    counted: h.bytes / items,
    heapAndExternal: per(after.heapUsed + after.external, before.heapUsed + before.external),
    rss: per(after.rss, before.rss),
  };
  h.close();
  return result;
}

const isMain = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''));
if (isMain) {
  const args = process.argv.slice(2).map(Number);
  if (args.length === 3) {
    console.log(JSON.stringify(measure(args[0]!, args[1]!, args[2]!)));
  } else {
    console.log('key  value  counted  heap+ext  rss   (bytes per item)');
    for (const [k, v] of [
      [16, 0],
      [16, 10],
      [16, 64],
      [16, 65],
      [16, 100],
      [40, 100],
      [16, 1000],
      [16, 4000],
      [100, 100],
    ] as const) {
      const r = measure(k, v, v >= 1000 ? 50_000 : 200_000);
      console.log(
        `${String(k).padStart(3)}  ${String(v).padStart(5)}  ${r.counted.toFixed(0).padStart(7)}  ${r.heapAndExternal.toFixed(0).padStart(8)}  ${r.rss.toFixed(0).padStart(5)}`,
      );
    }
  }
}
