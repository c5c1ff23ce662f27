#!/usr/bin/env node
// cleave-load <workload> [options] — see --help.
import { readFileSync } from 'node:fs';
import { cliMain } from './cli-main.js';

/** The package's version: package.json is one folder above this file, as src/ or dist/, in the repository and installed alike. */
function version(): string {
  return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

cliMain(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, version }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cleave-load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
