// Runs every benny suite in a package's bench/ folder (files ending in .bench.ts), one after another.
// Usage (from a package): tsx ../../scripts/run-bench.ts [name-filter]
import { readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const dir = join(process.cwd(), 'bench');
const only = process.argv[2];
for (const f of readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()) {
  if (only && !f.includes(only)) continue;
  await import(pathToFileURL(join(dir, f)).href);
}
