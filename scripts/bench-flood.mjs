#!/usr/bin/env node
// A well-behaved client's latency while hostile connections flood the server, memproxy (in-memory) against
// memcached -t 1 under the same flood, side by side in one run. The flood runs in processes of its own
// (bench-flood/flood.mjs, half of the connections in each of two), the measuring client is mcblast.
//
// For each flood (every kind together, then each kind alone) and each round, each server in turn (the order
// swapped every other round): the client alone for --seconds, then the flood is started, given 2 s to build
// up, the client measured again for --seconds under it, and the flood stopped.
//
// usage: node scripts/bench-flood.mjs [options]   (npx pnpm bench:flood builds first)

import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  benchProcesses,
  ensureMcblast,
  ensureTool,
  fmt,
  freePort,
  mcblast,
  median,
  numberArg,
  root,
  scriptArgs,
  usageError,
  waitPort,
} from './bench-lib.mjs';

const KINDS = ['pipeline', 'random', 'longline', 'bigbody'];
const USAGE = `usage: node scripts/bench-flood.mjs [options]   (or: npx pnpm bench:flood [options], which builds first)
  --rounds N     rounds, the two servers alternating (default 3)
  --seconds S    seconds per measured client run (default 3)
  --hostile N    hostile connections (default 20)
  --floods LIST  comma-separated floods to run: all (every kind together) and the kinds
                 ${KINDS.join(', ')} (default all,${KINDS.join(',')})
  --mcblast PATH run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '3' },
  hostile: { type: 'string', default: '20' },
  floods: { type: 'string', default: ['all', ...KINDS].join(',') },
  mcblast: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds, { min: 1, max: 100, integer: true }, USAGE);
const seconds = numberArg('--seconds', values.seconds, { min: 0.5, max: 600 }, USAGE);
const hostile = numberArg('--hostile', values.hostile, { min: 2, max: 1000, integer: true }, USAGE);
const floods = values.floods.split(',').filter(Boolean);
for (const f of floods) {
  if (f !== 'all' && !KINDS.includes(f)) usageError(`--floods: unknown flood '${f}'; one of all, ${KINDS.join(', ')}`, USAGE);
}

ensureTool('memcached', 'memcached');
const mcblastBin = ensureMcblast(values.mcblast);
const memproxyJs = `${root}examples/memproxy/dist/memproxy.js`;
if (!existsSync(memproxyJs)) throw new Error('build first: npx pnpm build');
const floodJs = `${root}scripts/bench-flood/flood.mjs`;
const dir = mkdtempSync(join(os.tmpdir(), 'cleave-bench-flood-'));
const { start } = benchProcesses(dir);

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];
const servers = [
  {
    key: 'memcached',
    cmd: 'memcached',
    args: (port) => [...asRoot, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', '1', '-m', '64'],
  },
  { key: 'memproxy', cmd: process.execPath, args: (port) => [memproxyJs, '-p', String(port), '--log-level', 'error'] },
];
for (const s of servers) {
  s.port = await freePort();
  s.proc = start(s.key, s.cmd, s.args(s.port));
}
for (const s of servers) await waitPort(s.port);

/** The measuring client: one connection, one request in flight, 90% gets / 10% sets of 100-byte values. */
const CLIENT = { conns: 1, depth: 1, setRatio: 0.1, valueSize: 100, keys: 1000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start the flood on `port`: two processes, half of the hostile connections each. */
function flood(port, kinds) {
  const half = Math.ceil(hostile / 2);
  return [half, hostile - half].map((n, i) =>
    start(`flood-${port}-${i}-${Date.now()}`, process.execPath, [floodJs, String(port), String(n), kinds]),
  );
}

const results = {};
for (const f of floods) {
  const kinds = f === 'all' ? KINDS.join(',') : f;
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
      const quiet = mcblast(mcblastBin, s.port, { ...CLIENT, seconds });
      const procs = flood(s.port, kinds);
      await sleep(2000);
      // Under the flood a hostile set may replace a key's value: only a wrong value is an error, not a miss.
      const loud = mcblast(mcblastBin, s.port, { ...CLIENT, seconds, preload: false, mayMiss: true });
      for (const p of procs) p.kill('SIGKILL');
      await Promise.all(
        procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((res) => p.once('exit', res)) : null)),
      );
      await sleep(1000);
      ((results[f] ??= {})[s.key] ??= []).push({ quiet, loud });
      process.stderr.write(`${f} round ${r + 1}/${rounds} ${s.key}: alone p99 ${quiet.p99} µs, flooded p99 ${loud.p99} µs\n`);
    }
  }
}

const med = (runs, pick) => median(runs.map(pick));
const load = os
  .loadavg()
  .map((x) => x.toFixed(2))
  .join(' ');
const lines = [];
lines.push(
  `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, load average ${load} at the end; ${rounds} rounds of ${seconds} s, ${hostile} hostile connections, medians.`,
  '',
  '| flood | server | alone: ops/s | p50 µs | p99 µs | flooded: ops/s | p50 µs | p99 µs | flooded p99, memproxy / memcached | goal ≤ 2× |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---|',
);
for (const f of floods) {
  const byServer = results[f];
  const p99 = (k) => med(byServer[k], (x) => x.loud.p99);
  const ratio = p99('memproxy') / p99('memcached');
  for (const s of servers) {
    const runs = byServer[s.key];
    const cells = [
      fmt(med(runs, (x) => x.quiet.ops)),
      fmt(med(runs, (x) => x.quiet.p50)),
      fmt(med(runs, (x) => x.quiet.p99)),
      fmt(med(runs, (x) => x.loud.ops)),
      fmt(med(runs, (x) => x.loud.p50)),
      fmt(med(runs, (x) => x.loud.p99)),
    ];
    const judged = s.key === 'memproxy' ? [`${ratio.toFixed(2)}×`, ratio <= 2 ? 'met' : '**not met**'] : ['', ''];
    lines.push(`| ${f} | ${s.key} | ${cells.join(' | ')} | ${judged.join(' | ')} |`);
  }
}
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
