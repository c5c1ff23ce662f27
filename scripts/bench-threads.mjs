#!/usr/bin/env node
// The threads benchmark of issue #17, side by side in one run: memproxy --threads 2 against --threads 1, and
// memcached -t 2 against -t 1, in-memory and as a proxy in front of one memcached, text and binary, unpipelined and
// 16-deep. Load from mcblast (tools/mcblast), 50 connections, 90% gets / 10% sets of 100-byte values, every reply
// checked (-E: every key was set just before, so a miss is a lost reply). Rounds alternate the pair members (each goes
// first in every other round); medians. Besides throughput and p99 it records each server's CPU time per request and
// the load generator's CPU share (mcblast is one thread: near 100% of a core, it, not the server, sets the pace).
//
// This machine's cores are shared by the load generator, the servers and (in proxy mode) the backend, so absolute
// scaling is capped here; the figures that carry over are the ratios and the CPU per request.
//
// usage: node scripts/bench-threads.mjs [options]   (npx pnpm bench:threads builds first)
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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

const USAGE = `usage: node scripts/bench-threads.mjs [options]   (or: npx pnpm bench:threads [options], which builds first)
  --rounds N     measured rounds, the members of each pair alternating (default 3)
  --seconds S    seconds per measured run (default 2)
  --threads N    the many-threaded member of each pair (default 2)
  --only LIST    comma-separated pairs to run: memcached, inmem, proxy (default all)
  --mcblast PATH run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '2' },
  threads: { type: 'string', default: '2' },
  only: { type: 'string', default: 'memcached,inmem,proxy' },
  mcblast: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds, { min: 1, max: 1000, integer: true }, USAGE);
const seconds = numberArg('--seconds', values.seconds, { min: 0.1, max: 3600 }, USAGE);
const threads = numberArg('--threads', values.threads, { min: 2, max: 64, integer: true }, USAGE);
const PAIRS = ['memcached', 'inmem', 'proxy'];
const only = values.only.split(',').filter(Boolean);
for (const p of only) {
  if (!PAIRS.includes(p)) {
    process.stderr.write(`--only: unknown pair '${p}'; one of ${PAIRS.join(', ')}\n${USAGE}`);
    process.exit(2);
  }
}

ensureTool('memcached', 'memcached');
const mcblastBin = ensureMcblast(values.mcblast);
const memproxyJs = `${root}examples/memproxy/dist/memproxy.js`;
if (!existsSync(memproxyJs)) throw new Error('build first: npx pnpm build');
if (
  only.some((p) => p !== 'memcached') &&
  !execFileSync(process.execPath, [memproxyJs, '--help'], { encoding: 'utf8' }).includes('--threads')
) {
  throw new Error(`${memproxyJs} has no --threads: build a checkout that has it (npx pnpm build)`);
}
const dir = mkdtempSync(join(os.tmpdir(), 'cleave-bench-threads-'));

const LOAD = { conns: 50, setRatio: 0.1, valueSize: 100, keys: 10000 };
const WORKLOADS = [
  { key: 'text1', title: 'text, 1 in flight', depth: 1, binary: false },
  { key: 'bin1', title: 'binary, 1 in flight', depth: 1, binary: true },
  { key: 'text16', title: 'text, 16-deep', depth: 16, binary: false },
  { key: 'bin16', title: 'binary, 16-deep', depth: 16, binary: true },
];

const hz = clockTicks();

const { start, stopAll } = benchProcesses(dir);

const asRoot = process.getuid?.() === 0 ? ['-u', 'root'] : [];
const memcachedArgs = (port, t) => [...asRoot, '-l', '127.0.0.1', '-p', String(port), '-U', '0', '-t', String(t), '-m', '64'];

/** A server under test: its port and process (and, behind a proxy, the backend whose CPU is counted apart). */
async function memcached(t) {
  const port = await freePort();
  const name = `memcached-t${t}-${port}`;
  return { port, name, proc: start(name, 'memcached', memcachedArgs(port, t)) };
}
async function memproxy(t, extra = []) {
  const port = await freePort();
  const name = `memproxy-t${t}-${port}`;
  return { port, name, proc: start(name, process.execPath, [memproxyJs, '-p', String(port), '--threads', String(t), ...extra]) };
}

const pairs = [];
if (only.includes('memcached')) {
  pairs.push({ key: 'memcached', title: 'memcached', one: await memcached(1), many: await memcached(threads), flag: '-t' });
}
if (only.includes('inmem')) {
  pairs.push({ key: 'inmem', title: 'memproxy in-memory', one: await memproxy(1), many: await memproxy(threads), flag: '--threads' });
}
if (only.includes('proxy')) {
  // Each proxy in front of its own memcached -t 2, so the pair members never share a backend.
  const b1 = await memcached(2);
  const b2 = await memcached(2);
  const one = await memproxy(1, ['--l1-addr', `127.0.0.1:${b1.port}`]);
  const many = await memproxy(threads, ['--l1-addr', `127.0.0.1:${b2.port}`]);
  pairs.push({
    key: 'proxy',
    title: 'memproxy → memcached -t 2',
    one: { ...one, backend: b1 },
    many: { ...many, backend: b2 },
    flag: '--threads',
  });
}
const systems = pairs.flatMap((p) => [p.one, p.many]);
try {
  for (const s of systems) {
    if (s.backend) await waitPort(s.backend.port);
    await waitPort(s.port);
  }
} catch (e) {
  for (const s of systems) process.stderr.write(`${s.name}: ${readFileSync(join(dir, `${s.name}.log`), 'utf8')}\n`);
  throw e;
}

/** One measured run: the keys set, then the timed load, with the server's and the load generator's CPU. */
function runOne(w, s) {
  mcblast(mcblastBin, s.port, { ...LOAD, binary: w.binary, seconds: 0 });
  const p0 = processTicks(s.proc.pid);
  const b0 = s.backend ? processTicks(s.backend.proc.pid) : 0;
  const g0 = processTicks(process.pid, true) - processTicks(process.pid);
  const t0 = process.hrtime.bigint();
  const r = mcblast(mcblastBin, s.port, { ...LOAD, binary: w.binary, depth: w.depth, seconds, preload: false, expectHits: true });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const gen = (processTicks(process.pid, true) - processTicks(process.pid) - g0) / hz;
  const cpu = (processTicks(s.proc.pid) - p0) / hz;
  return {
    ...r,
    cpuUs: (cpu * 1e6) / r.count,
    cpuShare: cpu / wall,
    backendUs: s.backend ? ((processTicks(s.backend.proc.pid) - b0) * 1e6) / hz / r.count : 0,
    genShare: gen / wall,
  };
}

// Unmeasured warm-up: JIT, connections, every thread.
for (const w of WORKLOADS)
  for (const s of systems) mcblast(mcblastBin, s.port, { ...LOAD, binary: w.binary, depth: w.depth, seconds: 0.5 });

const runs = new Map(systems.map((s) => [s, Object.fromEntries(WORKLOADS.map((w) => [w.key, []]))]));
const load0 = os.loadavg();
for (let r = 0; r < rounds; r++) {
  for (const w of WORKLOADS) {
    for (const p of pairs) {
      const order = r % 2 === 0 ? [p.one, p.many] : [p.many, p.one];
      for (const s of order) runs.get(s)[w.key].push(runOne(w, s));
    }
  }
  process.stderr.write(`round ${r + 1}/${rounds} done\n`);
}

const med = (s, w, f) => median(runs.get(s)[w.key].map(f));
const commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
const lines = [];
lines.push(
  `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC at ${commit}, ${os.cpus().length} cores, ` +
    `load average ${load0.map((v) => v.toFixed(2)).join(' ')} at the start; ${rounds} rounds of ${seconds} s, medians.`,
);
lines.push('');
lines.push('| workload | server | threads | ops/s | p99 µs | server CPU µs/req | server CPU (cores) | mcblast CPU (cores) |');
lines.push('|---|---|---:|---:|---:|---:|---:|---:|');
const summary = [];
for (const w of WORKLOADS) {
  for (const p of pairs) {
    for (const [s, t] of [
      [p.one, 1],
      [p.many, threads],
    ]) {
      const cpu = med(s, w, (x) => x.cpuUs);
      const back = s.backend ? ` (+ ${med(s, w, (x) => x.backendUs).toFixed(1)} backend)` : '';
      lines.push(
        `| ${w.title} | ${p.title} | ${t} | ${fmt(med(s, w, (x) => x.ops))} | ${fmt(med(s, w, (x) => x.p99))} | ` +
          `${cpu.toFixed(1)}${back} | ${med(s, w, (x) => x.cpuShare).toFixed(2)} | ${med(s, w, (x) => x.genShare).toFixed(2)} |`,
      );
    }
    const ratio = med(p.many, w, (x) => x.ops) / med(p.one, w, (x) => x.ops);
    const cpuRatio = med(p.many, w, (x) => x.cpuUs) / med(p.one, w, (x) => x.cpuUs);
    summary.push({ w, p, ratio, cpuRatio, oneShare: med(p.one, w, (x) => x.cpuShare), genShare: med(p.one, w, (x) => x.genShare) });
  }
}
lines.push('');
lines.push(
  `| workload | ${pairs.map((p) => `${p.title} ${p.flag} ${threads} / 1`).join(' | ')} | ${pairs.map((p) => `${p.title} CPU/req ${threads} / 1`).join(' | ')} |`,
);
lines.push(`|---|${pairs.map(() => '---:').join('|')}|${pairs.map(() => '---:').join('|')}|`);
for (const w of WORKLOADS) {
  const row = summary.filter((x) => x.w === w);
  lines.push(
    `| ${w.title} | ${row.map((x) => `${x.ratio.toFixed(2)}×`).join(' | ')} | ${row.map((x) => `${x.cpuRatio.toFixed(2)}×`).join(' | ')} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
stopAll();
