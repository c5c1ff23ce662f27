#!/usr/bin/env node
// The long version of the connection fuzz test: `npx pnpm fuzz --minutes N` runs the property of
// packages/server/test/fuzz.test.ts for N minutes (the test suite runs 60 rounds of it).
import { spawnSync } from 'node:child_process';
import { numberArg, scriptArgs } from './bench-lib.mjs';

const USAGE = `usage: npx pnpm fuzz [--minutes N]   the connection fuzz test for N minutes (default 5)
`;
const values = scriptArgs(USAGE, { minutes: { type: 'string', default: '5' } });
const minutes = numberArg('--minutes', values.minutes, { min: 0.01, max: 10080 }, USAGE);
const r = spawnSync('npx', ['vitest', 'run', '--project', 'server', 'test/fuzz.test.ts'], {
  stdio: 'inherit',
  env: { ...process.env, CLEAVE_FUZZ_MINUTES: String(minutes) },
});
process.exit(r.status ?? 1);
