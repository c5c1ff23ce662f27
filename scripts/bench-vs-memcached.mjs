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
// With --metrics, it measures what serving Prometheus metrics costs instead: memproxy with --metrics-port
// against the same memproxy without and a second one without (two identical processes: how far this machine's
// noise alone moves the figures), in-memory and in front of this run's memcached, in turn (each taking each place
// in the order), with /metrics scraped every second from the instances that serve it. Beside
// throughput and p99 it reports memproxy's CPU time per request (/proc/PID/stat over each run), which a
// machine busy with other work disturbs far less than throughput.
//
// usage: node scripts/bench-vs-memcached.mjs [--rounds 3] [--seconds 3] [--conns 50] [--mcblast PATH] [--baseline DIR] [--metrics]
// (--mcblast: a binary to run instead of the one built from tools/mcblast/mcblast.c into tools/mcblast/build/)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { ensureMcblast, ensureTool, fmt, freePort, mcblast, median, numberArg, pick, root, scriptArgs, waitPort } from './bench-lib.mjs';
import { processTicks } from './bench-e2e/cpu.mjs';

const USAGE = `usage: node scripts/bench-vs-memcached.mjs [options]   (or: npx pnpm bench:vs-memcached [options], which builds first)
  --rounds N      alternating rounds of every configuration (default 3)
  --seconds S     seconds per run (default 3)
  --conns N       client connections (default 50)
  --mcblast PATH  run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
  --baseline DIR  another built checkout whose memproxy joins the same rounds
  --metrics       compare memproxy with --metrics-port against without (in-memory and in front of
                  memcached, text, 1 in flight and 16-deep) instead of against memcached
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '3' },
  mcblast: { type: 'string' },
  conns: { type: 'string', default: '50' },
  baseline: { type: 'string' },
  metrics: { type: 'boolean', default: false },
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

if (values.metrics) {
  await compareMetrics();
  process.exit(0);
}

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

/** --metrics: memproxy with --metrics-port against without, in each mode, alternating; a table on stdout. */
async function compareMetrics() {
  const mcPort = await freePort();
  const procs = [
    spawn('memcached', ['-u', 'root', '-U', '0', '-t', '1', '-m', '1024', '-l', '127.0.0.1', '-p', String(mcPort)], { stdio: 'ignore' }),
  ];
  const stop = () => procs.forEach((p) => p.kill('SIGKILL'));
  process.on('exit', stop);
  await waitPort(mcPort);
  const modes = [
    { name: 'in-memory', args: ['--l1-inmem-size', '1g'] },
    { name: 'proxy (--l1-addr)', args: ['--l1-addr', `127.0.0.1:${mcPort}`] },
  ];
  const scrapeUrls = [];
  for (const mode of modes) {
    const metricsPort = await freePort();
    // `again` is a second memproxy without metrics: how far two identical processes differ here (the noise floor).
    for (const [which, extra] of [
      ['off', []],
      ['on', ['--metrics-port', String(metricsPort)]],
      ['again', []],
    ]) {
      const port = await freePort();
      const p = spawn(process.execPath, [memproxyJs, '-p', String(port), ...extra, ...mode.args], { stdio: 'ignore' });
      procs.push(p);
      mode[which] = { port, pid: p.pid };
    }
    scrapeUrls.push(`http://127.0.0.1:${metricsPort}/metrics`);
    await waitPort(mode.off.port);
    await waitPort(mode.on.port);
    await waitPort(mode.again.port);
    await waitPort(metricsPort);
  }
  // A scraper 15 times as eager as Prometheus's default interval, in a process of its own.
  const scraper = `const urls = ${JSON.stringify(scrapeUrls)}; setInterval(() => { for (const u of urls) fetch(u).then((r) => r.text()).catch(() => {}); }, 1000);`;
  procs.push(spawn(process.execPath, ['-e', scraper], { stdio: 'ignore' }));

  const workloads = [
    { name: 'text, 1 in flight', binary: false, depth: 1 },
    { name: 'text, 16-deep', binary: false, depth: 16 },
  ];
  /** One run against `target`, with memproxy's CPU time per request in µs (clock ticks are 10 ms). */
  const measured = (target, w) => {
    const before = processTicks(target.pid);
    const r = mcblast(mcblastBin, target.port, { binary: w.binary, depth: w.depth, conns, seconds, preload: false });
    return { ...r, cpuUs: ((processTicks(target.pid) - before) * 10_000) / r.count };
  };
  // Keys stored, and the code warmed up, before anything is measured.
  for (const mode of modes) for (const which of ['off', 'on', 'again']) mcblast(mcblastBin, mode[which].port, { conns, seconds: 1 });
  const rows = [];
  for (const mode of modes) {
    for (const w of workloads) {
      const runs = { off: [], on: [], again: [] };
      const variants = ['off', 'on', 'again'];
      for (let r = 0; r < rounds; r++) {
        // Each variant takes each place in the order in turn.
        for (let i = 0; i < variants.length; i++) {
          const which = variants[(r + i) % variants.length];
          runs[which].push(measured(mode[which], w));
        }
      }
      const { off, on, again } = runs;
      const a = { ...pick(off), cpuUs: median(off.map((x) => x.cpuUs)) };
      const b = { ...pick(on), cpuUs: median(on.map((x) => x.cpuUs)) };
      const c = { ...pick(again), cpuUs: median(again.map((x) => x.cpuUs)) };
      const perRound = off.map((x, i) => on[i].ops / x.ops).sort((x, y) => x - y);
      const cpuRatio = median(off.map((x, i) => on[i].cpuUs / x.cpuUs));
      const againCpuRatio = median(off.map((x, i) => again[i].cpuUs / x.cpuUs));
      rows.push({ mode: mode.name, w, off: a, on: b, again: c, perRound, cpuRatio, againCpuRatio });
      process.stderr.write(
        `${mode.name}, ${w.name}: off ${a.ops} ops/s p99 ${a.p99} µs ${a.cpuUs.toFixed(2)} µs CPU/op, on ${b.ops} ops/s p99 ${b.p99} µs ${b.cpuUs.toFixed(2)} µs CPU/op\n`,
      );
    }
  }
  const memcachedVersion = execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
  console.log(
    `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${memcachedVersion} -t 1 behind the proxy mode`,
  );
  console.log(
    `Load: mcblast, ${conns} connections, 90% get / 10% set, 100-byte values, 10k keys prepopulated, ${seconds} s per run, median of ${rounds} rounds (off, on and a second memproxy without metrics in turn, each taking each place in the order); /metrics scraped every second\n`,
  );
  console.log(
    '| mode | workload | metrics off ops/s | metrics on ops/s | on / off | off again / off | per-round on / off | off p50/p99 µs | on p50/p99 µs | p99 on / off | p99 off again / off | CPU µs/op off, on, off again | CPU on / off | CPU off again / off |',
  );
  console.log('|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.mode} | ${r.w.name} | ${fmt(r.off.ops)} | ${fmt(r.on.ops)} | ${(r.on.ops / r.off.ops).toFixed(3)} | ${(r.again.ops / r.off.ops).toFixed(3)} | ${r.perRound.map((x) => x.toFixed(2)).join(', ')} | ${r.off.p50}/${r.off.p99} | ${r.on.p50}/${r.on.p99} | ${(r.on.p99 / r.off.p99).toFixed(3)} | ${(r.again.p99 / r.off.p99).toFixed(3)} | ${r.off.cpuUs.toFixed(2)}, ${r.on.cpuUs.toFixed(2)}, ${r.again.cpuUs.toFixed(2)} | ${r.cpuRatio.toFixed(3)} | ${r.againCpuRatio.toFixed(3)} |`,
    );
  }
  stop();
}
