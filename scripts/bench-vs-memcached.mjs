#!/usr/bin/env node
// Side-by-side load benchmark: memproxy (in-memory L1) against memcached -t 1, in one run, with a
// bare single-threaded Node server (scripts/bare-server.mjs) as the practical ceiling for one Node thread.
// Load comes from mcblast, the project's C load generator (tools/mcblast: epoll, checks every reply).
// Each configuration is run in alternating rounds (memcached, memproxy, memcached, ...) and the medians
// are compared, because absolute numbers on a shared 2-core machine move from run to run.
//
// With --baseline DIR (another built checkout, e.g. `git worktree add /tmp/base <commit>` then
// `npx pnpm install && npx pnpm build` there), that checkout's memproxy joins the same alternating
// rounds, so a change is measured against the code before it side by side.
//
// usage: node scripts/bench-vs-memcached.mjs [--rounds 3] [--seconds 3] [--conns 50] [--mcblast PATH] [--baseline DIR]
// (--mcblast: a binary to run instead of the one built from tools/mcblast/mcblast.c into tools/mcblast/build/)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { ensureMcblast, ensureTool, fmt, freePort, mcblast, numberArg, pick, root, scriptArgs, waitPort } from './bench-lib.mjs';

const USAGE = `usage: node scripts/bench-vs-memcached.mjs [options]   (or: npx pnpm bench:vs-memcached [options], which builds first)
  --rounds N      alternating rounds of every configuration (default 3)
  --seconds S     seconds per run (default 3)
  --conns N       client connections (default 50)
  --mcblast PATH  run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
  --baseline DIR  another built checkout whose memproxy joins the same rounds
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '3' },
  mcblast: { type: 'string' },
  conns: { type: 'string', default: '50' },
  baseline: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds, { min: 1, max: 1000, integer: true }, USAGE);
const seconds = numberArg('--seconds', values.seconds, { min: 0.1, max: 600 }, USAGE);
const conns = numberArg('--conns', values.conns, { min: 1, max: 10000, integer: true }, USAGE);

ensureTool('memcached', 'memcached');
const mcblastBin = ensureMcblast(values.mcblast);
const memproxyJs = `${root}examples/memproxy/dist/memproxy.js`;
if (!existsSync(memproxyJs)) throw new Error('build first: npx pnpm build');
const baselineJs = values.baseline === undefined ? undefined : `${values.baseline.replace(/\/$/, '')}/examples/memproxy/dist/memproxy.js`;
if (baselineJs !== undefined && !existsSync(baselineJs)) throw new Error(`--baseline: no built memproxy at ${baselineJs}`);

const mcPort = await freePort();
const mpPort = await freePort();
const barePort = await freePort();
const basePort = await freePort();
const procs = [
  spawn('memcached', ['-u', 'root', '-U', '0', '-t', '1', '-m', '1024', '-l', '127.0.0.1', '-p', String(mcPort)], { stdio: 'ignore' }),
  spawn(process.execPath, [memproxyJs, '-p', String(mpPort), '--l1-inmem-size', '1g'], { stdio: 'ignore' }),
  spawn(process.execPath, [`${root}scripts/bare-server.mjs`, String(barePort)], { stdio: 'ignore' }),
];
if (baselineJs !== undefined)
  procs.push(spawn(process.execPath, [baselineJs, '-p', String(basePort), '--l1-inmem-size', '1g'], { stdio: 'ignore' }));
const cleanup = () => procs.forEach((p) => p.kill('SIGKILL'));
process.on('exit', cleanup);
await waitPort(mcPort);
await waitPort(mpPort);
await waitPort(barePort);
if (baselineJs !== undefined) await waitPort(basePort);

const run = (port, { binary, depth }) => mcblast(mcblastBin, port, { binary, depth, conns, seconds });
const configs = [
  { name: 'text, 1 in flight', binary: false, depth: 1, goal: 0.7 },
  { name: 'binary, 1 in flight', binary: true, depth: 1, goal: 0.7 },
  { name: 'text, 16-deep', binary: false, depth: 16, goal: 3 },
  { name: 'binary, 16-deep', binary: true, depth: 16, goal: 0.65 },
];

const rows = [];
for (const cfg of configs) {
  const mc = [];
  const mp = [];
  const bare = [];
  const base = [];
  for (let r = 0; r < rounds; r++) {
    mc.push(run(mcPort, cfg));
    mp.push(run(mpPort, cfg));
    bare.push(run(barePort, cfg));
    if (baselineJs !== undefined) base.push(run(basePort, cfg));
  }
  const a = pick(mc);
  const b = pick(mp);
  const c = pick(bare);
  const d = baselineJs === undefined ? undefined : pick(base);
  rows.push({ cfg, mc: a, mp: b, bare: c, base: d, ratio: b.ops / a.ops });
  const baseText = d === undefined ? '' : `, baseline memproxy ${d.ops} (ratio ${(d.ops / a.ops).toFixed(2)})`;
  process.stderr.write(
    `${cfg.name}: memcached ${a.ops}, memproxy ${b.ops}, bare node ${c.ops} ops/s; ratio ${(b.ops / a.ops).toFixed(2)}${baseText}\n`,
  );
}

const memcachedVersion = execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
console.log(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${memcachedVersion} -t 1`);
console.log(
  `Load: mcblast, ${values.conns} connections, 90% get / 10% set, 100-byte values, 10k keys prepopulated, ${seconds} s per run, median of ${rounds} alternating rounds\n`,
);
console.log(
  '| workload | memcached ops/s | memproxy ops/s | ratio | goal | met | bare Node ops/s | memproxy / bare | memcached p50/p99 µs | memproxy p50/p99 µs |',
);
console.log('|---|---:|---:|---:|---:|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.cfg.name} | ${fmt(r.mc.ops)} | ${fmt(r.mp.ops)} | ${r.ratio.toFixed(2)}× | ≥ ${r.cfg.goal}× | ${r.ratio >= r.cfg.goal ? 'yes' : 'no'} | ${fmt(r.bare.ops)} | ${(r.mp.ops / r.bare.ops).toFixed(2)} | ${r.mc.p50}/${r.mc.p99} | ${r.mp.p50}/${r.mp.p99} |`,
  );
}
if (baselineJs !== undefined) {
  console.log(`\nBaseline: ${values.baseline}, in the same alternating rounds\n`);
  console.log(
    '| workload | baseline memproxy ops/s | baseline ratio to memcached | memproxy ops/s | ratio to memcached | memproxy / baseline | baseline p50/p99 µs | memproxy p50/p99 µs |',
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.cfg.name} | ${fmt(r.base.ops)} | ${(r.base.ops / r.mc.ops).toFixed(2)}× | ${fmt(r.mp.ops)} | ${r.ratio.toFixed(2)}× | ${(r.mp.ops / r.base.ops).toFixed(2)} | ${r.base.p50}/${r.base.p99} | ${r.mp.p50}/${r.mp.p99} |`,
    );
  }
}
cleanup();
process.exit(0);
