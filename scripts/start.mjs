#!/usr/bin/env node
// `pnpm start`: builds what changed since the last build (JavaScript only: running needs no .d.ts), then
// runs memproxy in this process with the options given.
import { runBin } from './run-bin.mjs';

await runBin('memproxy', process.argv.slice(2), { build: 'changed' });
