#!/usr/bin/env node
// The long version of the connection fuzz test: `npx pnpm fuzz --minutes N` runs the property of
// packages/server/test/fuzz.test.ts for N minutes (the test suite runs 60 rounds of it).
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const args = process.argv.slice(2).filter((a) => a !== '--');
const { values } = parseArgs({ args, options: { minutes: { type: 'string', default: '5' } } });
const minutes = Number(values.minutes);
if (!(minutes > 0)) {
  console.error('fuzz: --minutes must be a positive number');
  process.exit(2);
}
const r = spawnSync('npx', ['vitest', 'run', '--project', 'server', 'test/fuzz.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, CLEAVE_FUZZ_MINUTES: String(minutes) },
});
process.exit(r.status ?? 1);
