#!/usr/bin/env node
// End-to-end benchmark, in two sections run in the same rounds:
// - memproxy: memproxy (in-memory, in front of memcached, chunked in front of memcached) against
//   memcached -t 1 and against nutcracker in front of memcached, the same workloads for every system;
// - router: cleave-twemproxy against nutcracker, both on one nutcracker.yml over 4 memcached (bench-e2e/router.mjs).
// Each round runs every workload against every system of a section back to back (the order of the
// systems rotates from round to round); medians over rounds are reported and ratios are quotients of
// medians, with the per-round ratios beside the goals, because absolute numbers on a shared 2-core
// machine move from run to run. The default run takes about 3.5 minutes after the build.
// Writes each section's results into docs/benchmarks.md (memproxy between <!-- e2e:begin --> and
// <!-- e2e:end -->, router between <!-- e2e-router:begin --> and <!-- e2e-router:end -->) and the
// charts into docs/img/e2e-*.svg; `--only SECTION` runs and writes one section alone.
//
// usage: npx pnpm bench:e2e [--rounds 5] [--seconds 1] [--quick] [--only memproxy|router] [--no-write] [--mcblast PATH]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureMcblast, ensureTool, freePort, mcblast, numberArg, root, scriptArgs, scriptArgv, waitPort } from './bench-lib.mjs';
import { barPanels } from './bench-e2e/chart.mjs';
import { busyShare, machineTicks, processTicks } from './bench-e2e/cpu.mjs';
import { renderSection, writeRegion } from './bench-e2e/page.mjs';
import * as router from './bench-e2e/router.mjs';
import { measures } from './bench-e2e/stats.mjs';

const HELP = `usage: node scripts/bench-e2e.mjs [options]   (or: npx pnpm bench:e2e [options], which builds first)
  --rounds N     rounds; every workload runs against every system once per round (default 5)
  --seconds S    seconds per run (default 1)
  --quick        1 round instead of 5 (an explicit --rounds still wins)
  --only NAME    run one section alone, and write only its part of docs/benchmarks.md and its charts:
                   memproxy  memproxy against memcached -t 1 and nutcracker (e2e-throughput.svg, e2e-p99.svg)
                   router    cleave-twemproxy against nutcracker, one nutcracker.yml over 4 memcached (e2e-router.svg)
  --no-write     print the results only and leave docs/ alone (charts go to the temp directory)
  --mcblast PATH run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
                 (built into tools/mcblast/build/ with cc when missing or older than its source)
`;

// Servers started by this run, stopped by PID on every way out; their logs live in `tmp`.
const procs = [];
let tmp;

const values = scriptArgs(HELP, {
  rounds: { type: 'string' },
  seconds: { type: 'string' },
  quick: { type: 'boolean', default: false },
  only: { type: 'string' },
  write: { type: 'boolean', default: true },
  mcblast: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds ?? (values.quick ? 1 : 5), { min: 1, max: 1000, integer: true }, HELP);
const seconds = numberArg('--seconds', values.seconds ?? 1, { min: 0.1, max: 600 }, HELP);

const SECTIONS = ['memproxy', 'router'];
if (values.only !== undefined && !SECTIONS.includes(values.only)) {
  process.stderr.write(`--only takes one of: ${SECTIONS.join(', ')}\n${HELP}`);
  process.exit(2);
}
const section = Object.fromEntries(SECTIONS.map((name) => [name, values.only === undefined || values.only === name]));

const memproxyJs = join(root, 'examples/memproxy/dist/memproxy.js');
const twemproxyJs = join(root, 'examples/memproxy/dist/twemproxy.js');
const loadgenJs = join(root, 'packages/loadgen/dist/index.js');
const needed = [...(section.memproxy ? [memproxyJs, loadgenJs] : []), ...(section.router ? [twemproxyJs] : [])];
for (const f of needed) if (!existsSync(f)) fail(`${f} is missing: build first (npx pnpm build), or run npx pnpm bench:e2e`);
// cleave-load runs in this process, loaded once: a rebuild of dist/ during the run cannot pull it away.
const { runLoad } = section.memproxy ? await import(pathToFileURL(loadgenJs).href) : {};

function fail(msg) {
  process.stderr.write(`bench-e2e: ${msg}\n`);
  stopAll();
  process.exit(1);
}

// ---- the machine ---------------------------------------------------------------------------------

let mcblastBin;
try {
  ensureTool('memcached', 'memcached');
  ensureTool('nutcracker', 'nutcracker');
  mcblastBin = ensureMcblast(values.mcblast);
} catch (e) {
  fail(e.message);
}

const loadStart = os.loadavg();
const cpuModel =
  /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown CPU';
const machine = {
  cores: os.cpus().length,
  cpuModel,
  memGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  memcached: execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim(),
  nutcracker: (
    /nutcracker-[\d.]+/.exec(spawnSync('nutcracker', ['--version'], { encoding: 'utf8' }).stderr ?? '')?.[0] ?? 'nutcracker'
  ).replace('-', ' '),
  loadStart,
  loadEnd: loadStart,
  afterBuild: process.env.npm_lifecycle_event === 'bench:e2e',
  otherBefore: 0,
  otherDuring: 0,
  loaded: false,
};
let commit = 'unknown';
try {
  commit = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim();
  if (dirty) commit += ' plus uncommitted changes';
} catch {
  // not a git checkout: leave it unknown
}

// ---- the systems ---------------------------------------------------------------------------------

/** Start a server with its output in a log file (a pipe could fill while a load run blocks us). */
function start(name, cmd, args) {
  const fd = openSync(join(tmp, `${name}.log`), 'w');
  const p = spawn(cmd, args, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  p.benchName = name;
  p.on('error', () => {}); // a failed spawn shows as an exit below
  procs.push(p);
  return p;
}
const running = (p) => p.exitCode === null && p.signalCode === null;

function stopAll() {
  for (const p of procs) {
    if (running(p) && p.pid !== undefined) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  procs.length = 0;
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  tmp = undefined;
}
process.on('exit', stopAll);
for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(sig, () => {
    process.stderr.write(`\nbench-e2e: ${sig}, stopping the servers\n`);
    stopAll();
    process.exit(code);
  });
}

function assertAlive() {
  for (const p of procs) {
    if (!running(p)) {
      let log = '';
      try {
        log = readFileSync(join(tmp, `${p.benchName}.log`), 'utf8').slice(-2000);
      } catch {
        // no log
      }
      throw new Error(`${p.benchName} exited (${p.exitCode ?? p.signalCode}) during the run${log ? `; its output:\n${log}` : ''}`);
    }
  }
}

const memcachedArgs = (port) => ['-u', 'root', '-U', '0', '-t', '1', '-m', '1024', '-l', '127.0.0.1', '-p', String(port)];
async function startMemcached(name) {
  const port = await freePort();
  start(name, 'memcached', memcachedArgs(port));
  return port;
}

const SYSTEMS = [
  { key: 'mc', label: 'memcached -t 1', short: 'memcached', color: '#4e79a7' },
  { key: 'nut', label: 'nutcracker → memcached', short: 'nutcracker', color: '#f28e2b' },
  { key: 'inmem', label: 'memproxy --l1-inmem', short: 'mp inmem', color: '#59a14f' },
  { key: 'proxy', label: 'memproxy → memcached', short: 'mp → mc', color: '#e15759' },
  { key: 'chunked', label: 'memproxy chunked → memcached', short: 'mp chunked', color: '#9c6fb6' },
];
const sys = Object.fromEntries(SYSTEMS.map((s) => [s.key, s]));

async function startSystems() {
  const mc = await startMemcached('memcached');
  sys.mc.port = mc;
  sys.mc.cmd = `memcached ${memcachedArgs('PORT').join(' ')}`;

  const nutBackend = await startMemcached('memcached-behind-nutcracker');
  const nut = await freePort();
  const nutConf = join(tmp, 'nutcracker.yml');
  writeFileSync(
    nutConf,
    `pool:\n  listen: 127.0.0.1:${nut}\n  hash: fnv1a_64\n  distribution: ketama\n  timeout: 1000\n  backlog: 1024\n  preconnect: true\n  auto_eject_hosts: false\n  servers:\n   - 127.0.0.1:${nutBackend}:1\n`,
  );
  start('nutcracker', 'nutcracker', ['-c', nutConf, '-s', String(await freePort()), '-o', join(tmp, 'nutcracker-own.log')]);
  sys.nut.port = nut;
  sys.nut.cmd = 'nutcracker -c nutcracker.yml (one pool: fnv1a_64, ketama, timeout 1000, preconnect, one memcached -t 1)';

  const inmem = await freePort();
  start('memproxy-inmem', process.execPath, [memproxyJs, '-p', String(inmem), '--l1-inmem', '--l1-inmem-size', '1g']);
  sys.inmem.port = inmem;
  sys.inmem.cmd = 'node examples/memproxy/dist/memproxy.js -p PORT --l1-inmem --l1-inmem-size 1g';

  const proxyBackend = await startMemcached('memcached-behind-memproxy');
  const proxy = await freePort();
  start('memproxy-proxy', process.execPath, [memproxyJs, '-p', String(proxy), '--l1-addr', `127.0.0.1:${proxyBackend}`]);
  sys.proxy.port = proxy;
  sys.proxy.cmd = 'node examples/memproxy/dist/memproxy.js -p PORT --l1-addr 127.0.0.1:MCPORT';

  const chunkedBackend = await startMemcached('memcached-behind-chunked');
  const chunked = await freePort();
  start('memproxy-chunked', process.execPath, [
    memproxyJs,
    '-p',
    String(chunked),
    '--l1-addr',
    `127.0.0.1:${chunkedBackend}`,
    '--chunked',
    '--max-item-size',
    '16m',
  ]);
  sys.chunked.port = chunked;
  sys.chunked.cmd = 'node examples/memproxy/dist/memproxy.js -p PORT --l1-addr 127.0.0.1:MCPORT --chunked --max-item-size 16m';

  for (const port of [mc, nutBackend, proxyBackend, chunkedBackend, nut, inmem, proxy, chunked]) await waitPort(port);
  assertAlive();
}

// ---- the workloads -------------------------------------------------------------------------------

const MCBLAST =
  'mcblast (tools/mcblast: C, epoll, checks every reply), 50 connections, 90% get / 10% set, 100-byte values, 10 000 keys set before each run';
const WORKLOADS = [
  {
    key: 'text1',
    title: 'text, 1 in flight',
    tool: 'mcblast',
    binary: false,
    depth: 1,
    describe: `${MCBLAST}, text protocol, one request in flight per connection`,
  },
  {
    key: 'text16',
    title: 'text, 16-deep',
    tool: 'mcblast',
    binary: false,
    depth: 16,
    describe: `${MCBLAST}, text protocol, 16 pipelined requests in flight per connection`,
  },
  {
    key: 'bin1',
    title: 'binary, 1 in flight',
    tool: 'mcblast',
    binary: true,
    depth: 1,
    skip: ['nut'],
    describe: `${MCBLAST}, binary protocol, one in flight`,
  },
  {
    key: 'bin16',
    title: 'binary, 16-deep',
    tool: 'mcblast',
    binary: true,
    depth: 16,
    skip: ['nut'],
    describe: `${MCBLAST}, binary protocol, 16-deep`,
  },
  {
    key: 'mix',
    title: 'meta mix, 16-deep',
    tool: 'cleave-load',
    load: { workload: 'mix', protocol: 'meta', conns: 50, depth: 16, ratio: 0.9, valueSize: '100', keys: 10000, keyPrefix: 'e2e-mix:' },
    skip: ['nut'],
    about: 'meta `mg`/`ms`, every reply checked byte for byte; every key set first',
  },
  {
    key: 'large',
    title: '10–100 KB values',
    tool: 'cleave-load',
    load: {
      workload: 'mix',
      protocol: 'text',
      conns: 20,
      depth: 1,
      ratio: 0.9,
      valueSize: '10240-102400',
      keys: 1000,
      keyPrefix: 'e2e-big:',
    },
    about: 'values uniform in 10–100 KB, 55 KB on average; every reply checked byte for byte',
  },
];
for (const w of WORKLOADS) {
  if (!w.load) continue;
  const { workload, ...rest } = w.load;
  const flags = Object.entries(rest).map(([k, v]) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${v}`);
  w.describe = `cleave-load in the benchmark's own process (runLoad), as \`${workload} ${flags.join(' ')} --verify\` (${w.about})`;
}
for (const w of WORKLOADS) w.skipNote = w.key === 'mix' ? 'no meta protocol' : 'text protocol only';

async function cleaveLoad(port, w) {
  const j = await runLoad({ ...w.load, port, duration: seconds, verify: true, progress: false });
  const prepErrors = j.prepopulate?.errors ?? 0;
  if (j.errors > 0 || prepErrors > 0 || j.aborted > 0) {
    const samples = JSON.stringify(j.error_samples?.slice(0, 3) ?? [], null, 1);
    throw new Error(
      `cleave-load reported errors against port ${port}: ${j.errors} errors, ${prepErrors} in prepopulation, ${j.aborted} aborted; ${JSON.stringify(j.errors_by_kind)}\n${samples}`,
    );
  }
  return { ops: j.ops_per_sec, p50: j.p50_us, p99: j.p99_us, cpu: j.cpu_percent };
}

async function runOne(w, s) {
  if (w.tool === 'mcblast')
    return mcblast(mcblastBin, s.port, {
      binary: w.binary,
      depth: w.depth,
      conns: 50,
      seconds,
      setRatio: 0.1,
      valueSize: 100,
      keys: 10000,
    });
  return cleaveLoad(s.port, w);
}

// ---- the run -------------------------------------------------------------------------------------

const runs = Object.fromEntries(WORKLOADS.map((w) => [w.key, Object.fromEntries(SYSTEMS.map((s) => [s.key, []]))]));
const routerRuns = Object.fromEntries(router.WORKLOADS.map((w) => [w.key, Object.fromEntries(router.SYSTEMS.map((s) => [s.key, []]))]));

/** One workload against one system, recorded in `into` and reported on stderr. */
async function measure(round, w, s, into, run) {
  await new Promise((res) => setImmediate(res)); // let exits and signals of the children be seen
  assertAlive();
  let res;
  try {
    res = await run();
  } catch (e) {
    await new Promise((res_) => setTimeout(res_, 100));
    assertAlive(); // a server that died is the better explanation
    throw new Error(`${w.title} against ${s.label} (port ${s.port}) failed: ${e.message}`);
  }
  into[w.key][s.key].push(res);
  const cpu = res.cpuUs === undefined ? '' : `  cpu ${res.cpuUs.toFixed(1)} µs/req (${Math.round(res.cpuCore * 100)}% of a core)`;
  process.stderr.write(
    `  round ${round + 1}/${rounds}  ${w.title.padEnd(20)} ${s.label.padEnd(30)} ${String(Math.round(res.ops)).padStart(9)} ops/s  p50 ${res.p50} µs  p99 ${res.p99} µs${cpu}\n`,
  );
}

/** This round's order of a section's systems: rotated by one from the round before. */
const rotated = (systems, round) => systems.map((_, i) => systems[(i + round) % systems.length]);

async function main() {
  const t0 = Date.now();
  machine.otherBefore = await busyShare(1000);
  tmp = mkdtempSync(join(os.tmpdir(), 'cleave-e2e-'));
  if (section.memproxy) await startSystems();
  if (section.router) await router.startSystems({ start, memcachedArgs, tmp, twemproxyJs });
  assertAlive();
  if (section.router) {
    process.stderr.write('bench-e2e: warming up cleave-twemproxy and nutcracker (each workload once, unmeasured)\n');
    try {
      router.warmUp(mcblastBin);
    } catch (e) {
      await new Promise((res) => setTimeout(res, 100));
      assertAlive(); // a server that died is the better explanation
      throw new Error(`warming up the router section failed: ${e.message}`);
    }
  }
  // CPU time of everything that is ours: this process, its finished load runs, and the servers.
  const ownTicks = () => processTicks(process.pid, true) + procs.reduce((n, p) => n + processTicks(p.pid), 0);
  const m0 = machineTicks();
  const own0 = ownTicks();
  const memproxyRuns = section.memproxy ? WORKLOADS.reduce((n, w) => n + SYSTEMS.filter((s) => !w.skip?.includes(s.key)).length, 0) : 0;
  const routerRunCount = section.router ? router.WORKLOADS.length * router.SYSTEMS.length : 0;
  const minutes = Math.ceil((rounds * (memproxyRuns * (seconds + 0.6) + routerRunCount * (seconds + 0.9))) / 60);
  process.stderr.write(
    `bench-e2e: ${rounds} round(s) × ${memproxyRuns + routerRunCount} runs of ${seconds} s (about ${minutes} min); load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}\n`,
  );
  for (let r = 0; r < rounds; r++) {
    if (section.memproxy) {
      for (const w of WORKLOADS) {
        for (const s of rotated(SYSTEMS, r)) if (!w.skip?.includes(s.key)) await measure(r, w, s, runs, () => runOne(w, s));
      }
    }
    if (section.router) {
      for (const w of router.WORKLOADS) {
        for (const s of rotated(router.SYSTEMS, r)) await measure(r, w, s, routerRuns, () => router.runOne(w, s, { mcblastBin, seconds }));
      }
    }
  }
  assertAlive();
  const m1 = machineTicks();
  const own1 = ownTicks();
  machine.otherDuring = Math.max(0, (m1.busy - m0.busy - (own1 - own0)) / (m1.total - m0.total));
  machine.loaded = Math.max(machine.otherBefore, machine.otherDuring) >= 0.15;
  machine.loadEnd = os.loadavg();
  const elapsed = (Date.now() - t0) / 1000;

  const date = new Date().toISOString().slice(0, 10);
  const run = {
    date,
    command: `${process.env.npm_lifecycle_event === 'bench:e2e' ? 'npx pnpm bench:e2e' : 'node scripts/bench-e2e.mjs'}${scriptArgv()
      .map((a) => ` ${a}`)
      .join('')}`,
    commit,
    machine,
    rounds,
    seconds,
  };
  const other = Math.round(Math.max(machine.otherBefore, machine.otherDuring) * 100);
  const when =
    `${date} · ${machine.cores} cores${machine.loaded ? `, loaded: other work took up to ${other}% of the CPU` : ''} · ` +
    `median of ${rounds} round${rounds === 1 ? '' : 's'} of ${seconds} s${rounds > 1 ? ', whiskers: min–max' : ''}`;
  const imgDir = values.write ? join(root, 'docs/img') : join(os.tmpdir(), 'cleave-e2e-svg');
  mkdirSync(imgDir, { recursive: true });
  const written = [];

  if (section.memproxy) {
    const { md, charts } = reportMemproxy(run, when);
    process.stdout.write(md);
    for (const [name, svg] of Object.entries(charts)) writeFileSync(join(imgDir, name), svg);
    if (values.write) {
      writeRegion(join(root, 'docs/benchmarks.md'), md, 'e2e');
      written.push('docs/benchmarks.md (e2e section)', ...Object.keys(charts).map((name) => `docs/img/${name}`));
    }
  }
  if (section.router) {
    const { md, svg } = router.report(routerRuns, { ...run, when, memcachedCmd: `memcached ${memcachedArgs('PORT').join(' ')}` });
    process.stdout.write(md);
    writeFileSync(join(imgDir, router.CHART), svg);
    if (values.write) {
      writeRegion(join(root, 'docs/benchmarks.md'), md, router.REGION);
      written.push(`docs/benchmarks.md (${router.REGION} section)`, `docs/img/${router.CHART}`);
    }
  }
  if (values.write) process.stderr.write(`bench-e2e: wrote ${written.join(', ')}\n`);
  else process.stderr.write(`bench-e2e: docs left alone; charts in ${imgDir}\n`);
  process.stderr.write(`bench-e2e: done in ${elapsed.toFixed(0)} s\n`);
}

/** The memproxy section: its markdown and its two charts (file name → SVG text). */
function reportMemproxy(run, when) {
  // Medians over rounds; a ratio is the quotient of two medians (what the table and the charts show).
  // The per-round ratios (each round runs the two systems back to back) are kept for the goals, whose
  // table gives their median and range as a measure of how far noise moves a ratio.
  const { ratio, goal, summary: summarize } = measures(runs);
  const summary = {};
  for (const w of WORKLOADS) {
    summary[w.key] = {};
    for (const s of SYSTEMS) {
      const r = summarize(w.key, s.key, ['cpu']);
      if (r) summary[w.key][s.key] = { ...r, vsMc: ratio(w.key, s.key, 'mc'), vsNut: ratio(w.key, s.key, 'nut') };
    }
  }
  const goals = [
    goal('memproxy --l1-inmem vs memcached -t 1, text, 1 in flight: throughput', 'text1', 'inmem', 'mc', 'min', 0.7),
    goal('memproxy --l1-inmem vs memcached -t 1, binary, 1 in flight: throughput', 'bin1', 'inmem', 'mc', 'min', 0.7),
    goal('memproxy --l1-inmem vs memcached -t 1, binary, 16-deep: throughput', 'bin16', 'inmem', 'mc', 'min', 0.65),
    goal('memproxy --l1-inmem vs memcached -t 1, text, 16-deep: throughput', 'text16', 'inmem', 'mc', 'min', 3),
    goal('memproxy → memcached vs nutcracker → memcached, text, 1 in flight: throughput', 'text1', 'proxy', 'nut', 'min', 1.0),
    goal('memproxy → memcached vs nutcracker → memcached, text, 16-deep: throughput', 'text16', 'proxy', 'nut', 'min', 1.0),
    goal('memproxy → memcached vs nutcracker → memcached, text, 1 in flight: p99 latency', 'text1', 'proxy', 'nut', 'max', 1.5, 'p99'),
    goal('memproxy → memcached vs nutcracker → memcached, text, 16-deep: p99 latency', 'text16', 'proxy', 'nut', 'max', 1.5, 'p99'),
  ];

  const big = summary.large;
  const n = (v) => Math.round(v).toLocaleString('en-US');
  const mbs = (ops) => ((ops * 56320) / 1e6).toFixed(0); // 56 320 bytes: the mean of 10–100 KB
  const large =
    big.chunked && big.proxy
      ? `With 10–100 KB values (55 KB on average), memproxy chunked in front of memcached made ${n(big.chunked.ops)} ops/s ` +
        `(about ${mbs(big.chunked.ops)} MB/s of values) against ${n(big.proxy.ops)} ops/s (about ${mbs(big.proxy.ops)} MB/s) ` +
        `for plain memproxy in front of memcached (**${ratio('large', 'chunked', 'proxy').toFixed(2)}×**), with a p99 of ${n(big.chunked.p99)} µs ` +
        `against ${n(big.proxy.p99)} µs (${ratio('large', 'chunked', 'proxy', 'p99').toFixed(2)}×). ` +
        `memcached alone made ${n(big.mc.ops)} ops/s${big.nut ? ` and nutcracker in front of memcached ${n(big.nut.ops)} ops/s` : ''}. ` +
        'Chunked mode stores a value as chunk items of one slab class plus a small metadata item, so each get or set is several ' +
        'backend requests; in exchange a value may be as large as --max-item-size (16 MiB here), where plain mode is held to ' +
        "memcached's item size limit (1 MiB by default)."
      : null;

  const md = renderSection({ ...run, section: 'memproxy', systems: SYSTEMS, workloads: WORKLOADS, summary, goals, large });

  // Under each panel, the goals that concern it: "mp inmem ≥ 0.7× memcached: 0.42×, not met".
  const caption = (w, metric) => {
    const lines = goals
      .filter((g) => g.w === w.key && g.metric === metric && g.measured != null)
      .map((g) => ({
        text: `${sys[g.a].short} ${g.kind === 'min' ? '≥' : '≤'} ${g.target}× ${sys[g.b].short}: ${g.measured.toFixed(2)}×, ${g.met ? 'met' : 'not met'}`,
        color: g.met ? '#2e7d32' : '#c62828',
      }));
    if (w.key === 'large' && summary.large.chunked && summary.large.proxy) {
      lines.push({ text: `mp chunked / mp → mc: ${ratio('large', 'chunked', 'proxy', metric).toFixed(2)}×` });
    }
    return lines;
  };
  const panels = (metric) =>
    WORKLOADS.map((w) => ({
      title: w.title,
      bars: SYSTEMS.map((s) => {
        const r = summary[w.key][s.key];
        const note = w.key === 'mix' ? 'no meta' : 'text only';
        if (!r) return { series: s.key, value: null, note };
        return metric === 'ops'
          ? { series: s.key, value: r.ops, lo: r.min, hi: r.max }
          : { series: s.key, value: r.p99, lo: r.p99min, hi: r.p99max };
      }),
      caption: caption(w, metric),
    }));
  const legend = SYSTEMS.map(({ key, label, short, color }) => ({ key, label, short, color }));
  const throughputSvg = barPanels({ title: 'Throughput (ops/s, higher is better)', subtitle: when, series: legend, panels: panels('ops') });
  const ms = (v) =>
    v
      .toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)
      .replace(/(\.\d*?)0+$/, '$1')
      .replace(/\.$/, '');
  const toMs = (v) => (v == null ? v : v / 1000);
  const p99Panels = panels('p99').map((p) => ({
    ...p,
    bars: p.bars.map((b) => ({ ...b, value: toMs(b.value), lo: toMs(b.lo), hi: toMs(b.hi) })),
  }));
  const p99Svg = barPanels({ title: 'p99 latency (ms, lower is better)', subtitle: when, series: legend, panels: p99Panels, format: ms });
  return { md, charts: { 'e2e-throughput.svg': throughputSvg, 'e2e-p99.svg': p99Svg } };
}

try {
  await main();
} catch (e) {
  fail(e instanceof Error ? e.message : String(e));
}
stopAll();
process.exit(0);
