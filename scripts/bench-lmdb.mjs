#!/usr/bin/env node
// The disk L2 benchmark of issue #18, side by side in one run: memproxy with a 64 MB in-memory L1 over an LMDB L2
// of 1 GB against memcached -m 64 with extstore on a 1 GB file, on a working set four times the RAM tier (40,000
// keys of 10 KB values: 400 MB). Load from mcblast (tools/mcblast), the same for both: gets of keys drawn uniformly
// over the whole key set, 10% sets, every reply checked (a miss is allowed: both tiers evict).
//
// 1. Fill: every key set once. 2. Warm-up: the load for --warmup seconds, unmeasured (memcached moves slab pages
// and refills what it dropped during the fill). 3. Measured rounds of --seconds, the two servers alternating
// (each goes first in every other round); medians. 4. Restart: both stopped (memproxy by SIGTERM, which commits
// and closes the store), then each started again on the same files in turn and driven by the same load in slices
// of one second, for --restart-seconds from its start: memproxy serves from LMDB (warm), memcached starts cold
// (1.6.18 does not keep extstore over a restart) and refills only through the load's sets.
//
// usage: node scripts/bench-lmdb.mjs [options]   (npx pnpm bench:lmdb builds first)
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { busyShare, machineTicks, processTicks } from './bench-e2e/cpu.mjs';
import {
  ensureMcblast,
  ensureTool,
  fmt,
  freePort,
  mcblast,
  median,
  numberArg,
  root,
  scriptArgs,
  scriptArgv,
  usageError,
  waitPort,
} from './bench-lib.mjs';

const USAGE = `usage: node scripts/bench-lmdb.mjs [options]   (or: npx pnpm bench:lmdb [options], which builds first)
  --rounds N            measured rounds, the two servers alternating (default 5)
  --seconds S           seconds per measured run (default 10)
  --warmup S            seconds of the load on each server after the fill, unmeasured (default 60)
  --restart-seconds S   after the restart, seconds of load from each server's start (default 60)
  --conns N             client connections (default 50)
  --depth N             requests in flight per connection (default 1)
  --keys N              key space (default 40000)
  --value-size N        value bytes (default 10240)
  --dir DIR             where the LMDB store and the extstore file go (default: a new directory in the
                        system's temp dir, removed at the end); both need about 1.1 GB
  --mcblast PATH        run this mcblast binary instead of the one built from tools/mcblast/mcblast.c
`;
const values = scriptArgs(USAGE, {
  rounds: { type: 'string', default: '5' },
  seconds: { type: 'string', default: '10' },
  warmup: { type: 'string', default: '60' },
  'restart-seconds': { type: 'string', default: '60' },
  conns: { type: 'string', default: '50' },
  depth: { type: 'string', default: '1' },
  keys: { type: 'string', default: '40000' },
  'value-size': { type: 'string', default: '10240' },
  dir: { type: 'string' },
  mcblast: { type: 'string' },
});
const rounds = numberArg('--rounds', values.rounds, { min: 1, max: 1000, integer: true }, USAGE);
const seconds = numberArg('--seconds', values.seconds, { min: 0.1, max: 3600 }, USAGE);
const warmup = numberArg('--warmup', values.warmup, { min: 0, max: 3600 }, USAGE);
const restartSeconds = numberArg('--restart-seconds', values['restart-seconds'], { min: 1, max: 3600 }, USAGE);
const conns = numberArg('--conns', values.conns, { min: 1, max: 10000, integer: true }, USAGE);
const depth = numberArg('--depth', values.depth, { min: 1, max: 4096, integer: true }, USAGE);
const keys = numberArg('--keys', values.keys, { min: 1, max: 100_000_000, integer: true }, USAGE);
const valueSize = numberArg('--value-size', values['value-size'], { min: 1, max: 1_000_000, integer: true }, USAGE);

// The shape under test (issue #18): RAM tiers of 64 MB, disk tiers of 1 GB.
const RAM = '64m';
const DISK = '1g';
const SET_RATIO = 0.1;
const SERVED = 0.9; // the hit rate at which a restarted server counts as serving the working set again
const EARLY = 5; // 1-second runs of load after a restart whose hit rate is reported on its own

ensureTool('memcached', 'memcached');
const mcblastBin = ensureMcblast(values.mcblast);
const memproxyJs = `${root}examples/memproxy/dist/memproxy.js`;
if (!existsSync(memproxyJs)) throw new Error('build first: npx pnpm build');
if (!execFileSync(process.execPath, [memproxyJs, '--help'], { encoding: 'utf8' }).includes('--l2-lmdb')) {
  throw new Error(`${memproxyJs} has no --l2-lmdb: build a checkout that has it (npx pnpm build)`);
}
if (values.dir !== undefined && !existsSync(values.dir)) usageError(`--dir ${values.dir}: no such directory`, USAGE);
const dir = mkdtempSync(join(values.dir ?? os.tmpdir(), 'cleave-bench-lmdb-'));

const memcachedVersion = execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
const { RawClient } = await import(`${root}packages/testkit/dist/index.js`);

/** A server of this run: how to start it on its files, and its process once started. */
const servers = [
  {
    key: 'memcached',
    label: 'memcached + extstore',
    port: await freePort(),
    cmd: 'memcached',
    // Default threads (4); -U 0: no UDP.
    args: (port) => [
      ...(process.getuid?.() === 0 ? ['-u', 'root'] : []),
      ...['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', RAM.replace(/m$/, ''), '-o', `ext_path=${join(dir, 'extstore')}:1G`],
    ],
  },
  {
    key: 'memproxy',
    label: 'memproxy, in-memory L1 + LMDB L2',
    port: await freePort(),
    cmd: process.execPath,
    args: (port) => [
      memproxyJs,
      ...['-p', String(port), '--l1-inmem', '--l1-inmem-size', RAM, '--l2-lmdb', join(dir, 'lmdb'), '--l2-lmdb-size', DISK],
    ],
  },
];
const [mc, mp] = servers;

/** Start `s` on its files; resolves once it accepts connections, with the milliseconds that took. */
async function start(s) {
  const t0 = performance.now();
  const log = openSync(join(dir, `${s.key}.log`), 'a');
  s.proc = spawn(s.cmd, s.args(s.port), { stdio: ['ignore', log, log] });
  closeSync(log);
  s.exited = new Promise((resolve) => s.proc.once('exit', (code, signal) => resolve({ code, signal })));
  s.exited.then(() => {
    s.proc = undefined;
  });
  await Promise.race([
    waitPort(s.port),
    s.exited.then(({ code, signal }) => {
      // The directory goes at exit, so the log is shown here.
      const log = readFileSync(join(dir, `${s.key}.log`), 'utf8')
        .trim()
        .split('\n')
        .slice(-20)
        .join('\n');
      throw new Error(`${s.label} exited (${signal ?? `code ${code}`}) before listening:\n${log}`);
    }),
  ]);
  return performance.now() - t0;
}

/** Stop `s` with SIGTERM and wait for it to exit; resolves with the milliseconds that took. */
async function stop(s) {
  if (s.proc === undefined) return 0;
  const t0 = performance.now();
  s.proc.kill('SIGTERM');
  const timer = setTimeout(() => s.proc?.kill('SIGKILL'), 60_000);
  const { signal } = await s.exited;
  clearTimeout(timer);
  if (signal === 'SIGKILL') throw new Error(`${s.label} did not exit within 60 s of SIGTERM`);
  return performance.now() - t0;
}

const cleanup = () => {
  for (const s of servers) s.proc?.kill('SIGKILL');
};
process.on('exit', () => {
  cleanup();
  rmSync(dir, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** The server's `stats` as a Map. */
async function stats(s) {
  const c = await RawClient.connect({ port: s.port });
  try {
    const text = (await c.request('stats\r\n', 'END\r\n', 5000)).toString('latin1');
    return new Map([...text.matchAll(/^STAT (\S+) (.*)\r$/gm)].map((m) => [m[1], m[2]]));
  } finally {
    c.close();
  }
}

/** Bytes the files under `path` take on disk (allocated blocks: a sparse file counts what it holds). */
function diskBytes(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.blocks * 512;
  return readdirSync(path).reduce((n, f) => n + diskBytes(join(path, f)), 0);
}

const load = { conns, depth, setRatio: SET_RATIO, valueSize, keys, preload: false, mayMiss: true };
const hitRate = (r) => (r.hits + r.misses === 0 ? 0 : r.hits / (r.hits + r.misses));

/** One measured run against `s`, with its CPU time per request in µs (clock ticks are 10 ms). */
function measured(s, secs) {
  const before = processTicks(s.proc.pid);
  const r = mcblast(mcblastBin, s.port, { ...load, seconds: secs });
  return { ...r, hitRate: hitRate(r), cpuUs: ((processTicks(s.proc.pid) - before) * 10_000) / r.count };
}

const pct = (x) => `${(x * 100).toFixed(1)}%`;
const say = (line) => process.stderr.write(`bench-lmdb: ${line}\n`);

// ---- fill, warm-up, measured rounds ------------------------------------------------------------------------

const loadStart = os.loadavg();
const otherBefore = await busyShare(1000);
const t0 = performance.now();
for (const s of servers) await start(s);
const ownTicks = () => processTicks(process.pid, true) + servers.reduce((n, s) => n + (s.proc ? processTicks(s.proc.pid) : 0), 0);
const m0 = machineTicks();
const own0 = ownTicks();
say(
  `${dir} (${execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim()}); load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`,
);

const fill = {};
for (const s of servers) {
  const f0 = performance.now();
  mcblast(mcblastBin, s.port, { ...load, preload: true, seconds: 0 });
  const secs = (performance.now() - f0) / 1000;
  const st = await stats(s);
  // memproxy's stats are L1's with L2's prefixed l2_ (docs/tiers.md).
  const held = Number(st.get(s === mp ? 'l2_curr_items' : 'curr_items'));
  fill[s.key] = { secs, held, evictions: Number(st.get(s === mp ? 'l2_evictions' : 'evictions')) };
  say(`fill ${s.label}: ${secs.toFixed(1)} s (${fmt((keys * valueSize) / secs / 1e6)} MB/s), then holds ${fmt(held)} of ${fmt(keys)} keys`);
}
const warm = {};
for (const s of servers) {
  if (warmup === 0) break;
  const r = measured(s, warmup);
  warm[s.key] = r;
  say(`warm-up ${s.label}: ${fmt(r.ops)} ops/s, hit rate ${pct(r.hitRate)} over ${warmup} s`);
}

const runs = { memcached: [], memproxy: [] };
for (let r = 0; r < rounds; r++) {
  for (const s of r % 2 === 0 ? [mc, mp] : [mp, mc]) {
    const x = measured(s, seconds);
    runs[s.key].push(x);
    say(
      `round ${r + 1}/${rounds} ${s.label.padEnd(34)} ${String(Math.round(x.ops)).padStart(7)} ops/s  hit rate ${pct(x.hitRate)}  p50 ${x.p50} µs  p99 ${x.p99} µs  cpu ${x.cpuUs.toFixed(1)} µs/req`,
    );
  }
}
const held = {};
for (const s of servers) {
  const st = await stats(s);
  held[s.key] = {
    items: Number(st.get(s === mp ? 'l2_curr_items' : 'curr_items')),
    evictions: Number(st.get(s === mp ? 'l2_evictions' : 'evictions')),
  };
}
const disk = { memcached: diskBytes(join(dir, 'extstore')), memproxy: diskBytes(join(dir, 'lmdb')) };

// ---- restart --------------------------------------------------------------------------------------------------

const stopMs = {};
for (const s of servers) stopMs[s.key] = await stop(s);
const restart = {};
for (const s of [mp, mc]) {
  const begin = performance.now();
  const listenMs = await start(s);
  const slices = [];
  while (performance.now() - begin < restartSeconds * 1000) {
    const from = performance.now();
    const x = mcblast(mcblastBin, s.port, { ...load, seconds: 1 });
    const now = performance.now();
    slices.push({ ...x, hitRate: hitRate(x), secs: (now - from) / 1000, at: (now - begin) / 1000 });
  }
  const early = slices.slice(0, EARLY);
  const sum = (xs, f) => xs.reduce((n, x) => n + x[f], 0);
  const served = slices.find((x) => x.hitRate >= SERVED);
  restart[s.key] = {
    listenMs,
    early: { hitRate: sum(early, 'hits') / (sum(early, 'hits') + sum(early, 'misses')), ops: sum(early, 'count') / sum(early, 'secs') },
    servedAt: served?.at,
    last: slices.at(-1),
    slices,
  };
  say(
    `restart ${s.label}: listening after ${Math.round(listenMs)} ms; hit rate by second: ${slices.map((x) => Math.round(x.hitRate * 100)).join(' ')}`,
  );
  await stop(s);
}

const m1 = machineTicks();
const otherDuring = Math.max(0, (m1.busy - m0.busy - (ownTicks() - own0)) / (m1.total - m0.total));
const loadEnd = os.loadavg();
const elapsed = (performance.now() - t0) / 1000;

// ---- report ---------------------------------------------------------------------------------------------------

const pick = (xs) => ({
  ops: median(xs.map((x) => x.ops)),
  hitRate: median(xs.map((x) => x.hitRate)),
  p50: median(xs.map((x) => x.p50)),
  p99: median(xs.map((x) => x.p99)),
  cpuUs: median(xs.map((x) => x.cpuUs)),
  opsRange: [Math.min(...xs.map((x) => x.ops)), Math.max(...xs.map((x) => x.ops))],
});
const a = pick(runs.memcached);
const b = pick(runs.memproxy);
const perRound = runs.memproxy.map((x, i) => x.ops / runs.memcached[i].ops).sort((x, y) => x - y);
const commit = (() => {
  try {
    return execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
const command = `${process.env.npm_lifecycle_event === 'bench:lmdb' ? 'npx pnpm bench:lmdb' : 'node scripts/bench-lmdb.mjs'}${scriptArgv()
  .map((x) => ` ${x}`)
  .join('')}`;
const mb = (n) => `${fmt(n / 1e6)} MB`;

console.log(`\`${command}\` — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, cleave ${commit}, ${Math.round(elapsed)} s`);
console.log(
  `Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${memcachedVersion}; ` +
    `load average ${loadStart.map((v) => v.toFixed(1)).join(' ')} at the start, ${loadEnd.map((v) => v.toFixed(1)).join(' ')} at the end; ` +
    `other work took ${Math.round(otherBefore * 100)}% of the CPU before and ${Math.round(otherDuring * 100)}% during the run`,
);
console.log(
  `Servers: \`memcached -m 64 -o ext_path=FILE:1G\` (default threads: 4) against \`memproxy --l1-inmem --l1-inmem-size 64m --l2-lmdb DIR --l2-lmdb-size 1g\`, files on ${execFileSync('stat', ['-f', '-c', '%T', dir], { encoding: 'utf8' }).trim()}`,
);
console.log(
  `Load: mcblast, ${conns} connections × ${depth} in flight, ${fmt(keys)} keys × ${fmt(valueSize)}-byte values (${mb(keys * valueSize)}), ` +
    `gets uniform over every key, ${SET_RATIO * 100}% sets; every key set once, ${warmup} s of the load on each unmeasured, ` +
    `then ${rounds} alternating round${rounds === 1 ? '' : 's'} of ${seconds} s, medians\n`,
);
console.log('| | memcached + extstore | memproxy, L1 + LMDB L2 | cleave / memcached | goal | met |');
console.log('|---|---:|---:|---:|---:|---|');
console.log(
  `| throughput, ops/s (range) | ${fmt(a.ops)} (${fmt(a.opsRange[0])}–${fmt(a.opsRange[1])}) | ${fmt(b.ops)} (${fmt(b.opsRange[0])}–${fmt(b.opsRange[1])}) | ` +
    `${(b.ops / a.ops).toFixed(2)}× (by round ${perRound.map((x) => x.toFixed(2)).join(', ')}) | ≥ 0.8× | ${b.ops / a.ops >= 0.8 ? 'yes' : 'no'} |`,
);
console.log(
  `| hit rate | ${pct(a.hitRate)} | ${pct(b.hitRate)} | ${(b.hitRate / a.hitRate).toFixed(3)}× | ≥ 1× | ${b.hitRate >= a.hitRate ? 'yes' : 'no'} |`,
);
console.log(`| p50 latency, µs | ${fmt(a.p50)} | ${fmt(b.p50)} | ${(b.p50 / a.p50).toFixed(2)}× | | |`);
console.log(`| p99 latency, µs | ${fmt(a.p99)} | ${fmt(b.p99)} | ${(b.p99 / a.p99).toFixed(2)}× | reported | |`);
console.log(`| server CPU per request, µs | ${a.cpuUs.toFixed(1)} | ${b.cpuUs.toFixed(1)} | ${(b.cpuUs / a.cpuUs).toFixed(2)}× | | |`);
console.log(
  `| fill: seconds, then keys held | ${fill.memcached.secs.toFixed(1)} s, ${fmt(fill.memcached.held)} | ${fill.memproxy.secs.toFixed(1)} s, ${fmt(fill.memproxy.held)} | | | |`,
);
if (warmup > 0) {
  console.log(`| hit rate in the ${warmup} s warm-up | ${pct(warm.memcached.hitRate)} | ${pct(warm.memproxy.hitRate)} | | | |`);
}
console.log(
  `| after the rounds: keys held, evictions since the start | ${fmt(held.memcached.items)}, ${fmt(held.memcached.evictions)} | ${fmt(held.memproxy.items)}, ${fmt(held.memproxy.evictions)} (L2) | | | |`,
);
console.log(`| disk used | ${mb(disk.memcached)} | ${mb(disk.memproxy)} | | | |`);

const ra = restart.memcached;
const rb = restart.memproxy;
const servedText = (r) =>
  r.servedAt === undefined ? `not within ${restartSeconds} s (last second: ${pct(r.last.hitRate)})` : `${r.servedAt.toFixed(1)} s`;
console.log(
  `\nRestart: both stopped by SIGTERM (memcached took ${Math.round(stopMs.memcached)} ms, memproxy ${Math.round(stopMs.memproxy)} ms), ` +
    `then each started on its files in turn and given the same load in 1-second mcblast runs for ${restartSeconds} s from its start; ` +
    `times from the start of the process\n`,
);
console.log('| after a restart | memcached + extstore (cold) | memproxy, L1 + LMDB L2 (warm) |');
console.log('|---|---:|---:|');
console.log(`| listening after | ${fmt(ra.listenMs)} ms | ${fmt(rb.listenMs)} ms |`);
console.log(`| hit rate, first ${EARLY} s of load | ${pct(ra.early.hitRate)} | ${pct(rb.early.hitRate)} |`);
console.log(`| throughput, first ${EARLY} s of load | ${fmt(ra.early.ops)} ops/s | ${fmt(rb.early.ops)} ops/s |`);
console.log(`| hit rate ≥ ${SERVED * 100}% in a second of load, from the start | ${servedText(ra)} | ${servedText(rb)} |`);
console.log(
  `| hit rate, the last second (at ${ra.last.at.toFixed(0)} s / ${rb.last.at.toFixed(0)} s) | ${pct(ra.last.hitRate)} | ${pct(rb.last.hitRate)} |`,
);
console.log(
  `| hit rate by second of load | ${ra.slices.map((x) => Math.round(x.hitRate * 100)).join(' ')} | ${rb.slices.map((x) => Math.round(x.hitRate * 100)).join(' ')} |`,
);
cleanup();
process.exit(0);
