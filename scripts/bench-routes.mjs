#!/usr/bin/env node
// The replicas benchmark of issue #13, side by side in one run: memproxy --routes over a plain pool of 2 memcached
// against memproxy --routes over 2 replicas (two pools of 2 memcached each, every write to both, reads primary
// first), the same 4 memcached -t 1 under both. Load from mcblast (tools/mcblast), 50 connections, 90% gets / 10%
// sets of 100-byte values, every reply checked (-E: every key was set just before, so a miss is a lost reply).
// Rounds alternate the two systems (each goes first in every other round); medians. Besides throughput and p99 it
// records the proxy's CPU time per request, and the backends' together.
//
// usage: node scripts/bench-routes.mjs [options]   (npx pnpm bench:routes builds first)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { processTicks } from './bench-e2e/cpu.mjs';
import {
  benchProcesses,
  clockTicks,
  ensureMcblast,
  ensureTool,
  fmt,
  freePort,
  mcblast,
  median,
  numberArg,
  root,
  scriptArgs,
  waitPort,
} from './bench-lib.mjs';

const USAGE = `usage: node scripts/bench-routes.mjs [options]   (or: npx pnpm bench:routes [options], which builds first)
  --rounds N     measured rounds, the two systems alternating (default 5)
  --seconds S    seconds per measured run (default 3)
  --mcblast PATH run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '5' },
  seconds: { type: 'string', default: '3' },
  mcblast: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds, { min: 1, max: 1000, integer: true }, USAGE);
const seconds = numberArg('--seconds', values.seconds, { min: 0.1, max: 3600 }, USAGE);

ensureTool('memcached', 'memcached');
const mcblastBin = ensureMcblast(values.mcblast);
const memproxyJs = `${root}examples/memproxy/dist/memproxy.js`;
if (!existsSync(memproxyJs)) throw new Error('build first: npx pnpm build');
if (!execFileSync(process.execPath, [memproxyJs, '--help'], { encoding: 'utf8' }).includes('--routes')) {
  throw new Error(`${memproxyJs} has no --routes: build a checkout that has it (npx pnpm build)`);
}
const dir = mkdtempSync(join(os.tmpdir(), 'cleave-bench-routes-'));

const LOAD = { conns: 50, setRatio: 0.1, valueSize: 100, keys: 10000 };
const WORKLOADS = [
  { key: 'text1', title: 'text, 1 in flight', depth: 1 },
  { key: 'text16', title: 'text, 16-deep', depth: 16 },
];

const hz = clockTicks();

const { start, stopAll } = benchProcesses(dir);

const memcachedArgs = (port) => [
  ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
  ...['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', '1', '-m', '64'],
];
const backends = [];
for (let i = 0; i < 4; i++) {
  const port = await freePort();
  backends.push({ port, proc: start(`memcached-${i + 1}`, 'memcached', memcachedArgs(port)) });
}
const addr = (b) => `127.0.0.1:${b.port}`;

// The two route trees, in mcrouter's JSON (ReplicaRoute is cleave's).
const SYSTEMS = [
  {
    key: 'plain',
    label: 'plain pool (2 memcached)',
    backends: backends.slice(0, 2),
    routes: { pools: { A: { servers: backends.slice(0, 2).map(addr) } }, route: 'PoolRoute|A' },
  },
  {
    key: 'replicas',
    label: '2 replicas (2 × 2 memcached), all-sync writes, primary-first reads',
    backends,
    routes: {
      pools: { A: { servers: backends.slice(0, 2).map(addr) }, B: { servers: backends.slice(2).map(addr) } },
      route: { type: 'ReplicaRoute', read: 'primary-first', children: ['PoolRoute|A', 'PoolRoute|B'] },
    },
  },
];
for (const s of SYSTEMS) {
  s.port = await freePort();
  const file = join(dir, `${s.key}.json`);
  writeFileSync(file, JSON.stringify(s.routes, null, 2));
  s.proc = start(`memproxy-${s.key}`, process.execPath, [memproxyJs, '-p', String(s.port), '--routes', file]);
}
try {
  for (const port of [...backends.map((b) => b.port), ...SYSTEMS.map((s) => s.port)]) await waitPort(port);
} catch (e) {
  for (const s of SYSTEMS) process.stderr.write(`${s.key}: ${readFileSync(join(dir, `memproxy-${s.key}.log`), 'utf8')}\n`);
  throw e;
}

/** One measured run: the keys set through the proxy, then the timed load, with CPU per request. */
function runOne(w, s) {
  mcblast(mcblastBin, s.port, { ...LOAD, seconds: 0 });
  const back = () => s.backends.reduce((n, b) => n + processTicks(b.proc.pid), 0);
  const p0 = processTicks(s.proc.pid);
  const b0 = back();
  const r = mcblast(mcblastBin, s.port, { ...LOAD, depth: w.depth, seconds, preload: false, expectHits: true });
  return { ...r, cpuUs: ((processTicks(s.proc.pid) - p0) * 1e6) / hz / r.count, backendUs: ((back() - b0) * 1e6) / hz / r.count };
}

// Unmeasured warm-up: JIT and connections.
for (const w of WORKLOADS) for (const s of SYSTEMS) mcblast(mcblastBin, s.port, { ...LOAD, depth: w.depth, seconds: 0.5 });

const runs = Object.fromEntries(WORKLOADS.map((w) => [w.key, Object.fromEntries(SYSTEMS.map((s) => [s.key, []]))]));
const load0 = os.loadavg();
for (let r = 0; r < rounds; r++) {
  for (const w of WORKLOADS) {
    const order = r % 2 === 0 ? SYSTEMS : [...SYSTEMS].reverse();
    for (const s of order) runs[w.key][s.key].push(runOne(w, s));
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}

const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const lines = [];
lines.push(
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at ${commit}, ${os.cpus().length} cores, ` +
    `load average ${load0.map((v) => v.toFixed(2)).join(' ')} at the start; ${rounds} rounds of ${seconds} s, medians.`,
);
lines.push('');
lines.push('| workload | system | ops/s | p99 µs | proxy CPU µs/req | memcached CPU µs/req |');
lines.push('|---|---|---:|---:|---:|---:|');
const ratios = [];
for (const w of WORKLOADS) {
  const m = {};
  for (const s of SYSTEMS) {
    const xs = runs[w.key][s.key];
    m[s.key] = {
      ops: median(xs.map((x) => x.ops)),
      p99: median(xs.map((x) => x.p99)),
      cpu: median(xs.map((x) => x.cpuUs)),
      back: median(xs.map((x) => x.backendUs)),
    };
    lines.push(
      `| ${w.title} | ${s.label} | ${fmt(m[s.key].ops)} | ${fmt(m[s.key].p99)} | ${m[s.key].cpu.toFixed(1)} | ${m[s.key].back.toFixed(1)} |`,
    );
  }
  ratios.push(
    `${w.title}: replicas / plain throughput ${(m.replicas.ops / m.plain.ops).toFixed(2)}×, p99 ${(m.replicas.p99 / m.plain.p99).toFixed(2)}×`,
  );
}
lines.push('');
for (const r of ratios) lines.push(`- ${r}`);
process.stdout.write(`${lines.join('\n')}\n`);
stopAll();
