import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { clockTicks, fmt, freePort, mcblast, waitPort } from '../bench-lib.mjs';
import { barPanels, short } from './chart.mjs';
import { processTicks } from './cpu.mjs';
import { renderGoals, renderRun } from './page.mjs';
import { measures } from './stats.mjs';

export const REGION = 'e2e-router';
export const CHART = 'e2e-router.svg';

export const SYSTEMS = [
  { key: 'nut', label: 'nutcracker → 4 memcached', short: 'nutcracker', color: '#f28e2b' },
  { key: 'cleave', label: 'cleave-twemproxy → 4 memcached', short: 'cleave-twemproxy', color: '#76b7b2' },
];

const KEYS = 10000;
const WARM_UP = 0.5; // seconds per workload and proxy before the first round
const LOAD = { conns: 50, setRatio: 0.1, valueSize: 100, keys: KEYS };
export const WORKLOADS = [
  { key: 'text1', title: 'text, 1 in flight', depth: 1, keysPerGet: 1, goal: 1.2 },
  { key: 'text16', title: 'text, 16-deep', depth: 16, keysPerGet: 1, goal: 2 },
  { key: 'mget10', title: '10-key multi-gets', depth: 1, keysPerGet: 10, goal: 1.5 },
];
for (const w of WORKLOADS)
  w.flags = `-c ${LOAD.conns} -d ${w.depth}${w.keysPerGet > 1 ? ` -g ${w.keysPerGet}` : ''} -r ${LOAD.setRatio} -v ${LOAD.valueSize} -k ${KEYS} -E`;

const hz = clockTicks();

/** The one nutcracker.yml both proxies read; their two copies differ in `listen:` alone. */
export const poolYml = (listen, servers) =>
  [
    'pool:',
    `  listen: ${listen}`,
    '  hash: fnv1a_64',
    '  distribution: ketama',
    '  timeout: 1000',
    '  preconnect: true',
    '  servers:',
    ...servers.map((s) => `   - ${s}:1`),
    '',
  ].join('\n');

/**
 * Start the four backends and both proxies; resolves once every one of them accepts connections.
 * ctx: { start(name, cmd, args) → child process, memcachedArgs(port) → argv, tmp, twemproxyJs }.
 */
export async function startSystems({ start, memcachedArgs, tmp, twemproxyJs }) {
  const backends = [];
  for (let i = 1; i <= 4; i++) {
    const port = await freePort();
    backends.push({ port, proc: start(`router-memcached-${i}`, 'memcached', memcachedArgs(port)) });
  }
  const servers = backends.map((b) => `127.0.0.1:${b.port}`);
  const bins = { nut: ['nutcracker', []], cleave: [process.execPath, [twemproxyJs]] };
  for (const s of SYSTEMS) {
    s.port = await freePort();
    const conf = join(tmp, `router-${s.key}.yml`);
    writeFileSync(conf, poolYml(`127.0.0.1:${s.port}`, servers));
    const [cmd, pre] = bins[s.key];
    s.proc = start(`router-${s.key}`, cmd, [
      ...pre,
      '-c',
      conf,
      '-s',
      String(await freePort()),
      '-o',
      join(tmp, `router-${s.key}-own.log`),
    ]);
    s.backends = backends;
  }
  SYSTEMS[0].cmd = 'nutcracker -c nutcracker.yml -s STATSPORT -o LOGFILE';
  SYSTEMS[1].cmd = 'node examples/memproxy/dist/twemproxy.js -c nutcracker.yml -s STATSPORT -o LOGFILE';
  for (const port of [...backends.map((b) => b.port), ...SYSTEMS.map((s) => s.port)]) await waitPort(port);
}

/**
 * Each workload once against each proxy, unmeasured, before the first round: so that round times
 * neither a cold start nor cleave-twemproxy's JIT compilation, which a long-running proxy pays once.
 */
export function warmUp(mcblastBin) {
  for (const w of WORKLOADS) {
    for (const s of SYSTEMS) mcblast(mcblastBin, s.port, { ...LOAD, depth: w.depth, keysPerGet: w.keysPerGet, seconds: WARM_UP });
  }
}

/**
 * One run of workload w against system s: the keys set through the proxy by one mcblast call, then the
 * timed run by another (so the CPU times cover the timed run alone). Throws when mcblast reports a wrong
 * reply or a miss (-E): every key was set just before, so a miss is a reply the proxy lost.
 */
export function runOne(w, s, { mcblastBin, seconds }) {
  mcblast(mcblastBin, s.port, { ...LOAD, seconds: 0 });
  const backendTicks = () => s.backends.reduce((n, b) => n + processTicks(b.proc.pid), 0);
  const p0 = processTicks(s.proc.pid);
  const b0 = backendTicks();
  const t0 = process.hrtime.bigint();
  const r = mcblast(mcblastBin, s.port, { ...LOAD, depth: w.depth, keysPerGet: w.keysPerGet, seconds, preload: false, expectHits: true });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const proxy = processTicks(s.proc.pid) - p0;
  const back = backendTicks() - b0;
  return {
    ...r,
    cpuUs: (proxy * 1e6) / hz / r.count, // the proxy's CPU µs per request
    cpuCore: proxy / hz / wall, // the proxy's CPU as a share of one core
    backendUs: (back * 1e6) / hz / r.count, // the four memcached's CPU µs per request, together
  };
}

/**
 * The section's markdown, goals and chart from the runs ({ [workload]: { nut: [...], cleave: [...] } }).
 * run: { date, command, commit, machine, rounds, seconds, memcachedCmd, when (the charts' subtitle) }.
 */
export function report(runs, run) {
  const { ratio, goal, summary } = measures(runs);
  const sum = {};
  for (const w of WORKLOADS) {
    sum[w.key] = {};
    for (const s of SYSTEMS) sum[w.key][s.key] = summary(w.key, s.key, ['cpuUs', 'cpuCore', 'backendUs']);
  }
  const goals = [
    ...WORKLOADS.map((w) =>
      goal(`cleave-twemproxy vs nutcracker, 4 memcached, ${w.title}: throughput`, w.key, 'cleave', 'nut', 'min', w.goal),
    ),
    ...WORKLOADS.map((w) =>
      goal(`cleave-twemproxy vs nutcracker, 4 memcached, ${w.title}: p99 latency`, w.key, 'cleave', 'nut', 'max', 1.0, 'p99'),
    ),
  ];
  return { md: render(run, sum, ratio, goals), svg: chart(run, sum, ratio, goals), goals };
}

const x = (r) => (r == null ? '—' : `${r.toFixed(2)}×`);
const us = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

function render(run, sum, ratio, goals) {
  const L = [];
  L.push('## End-to-end: cleave-twemproxy against nutcracker, one pool of 4 memcached');
  L.push('');
  L.push(...renderRun({ ...run, section: 'router' }));
  L.push(
    'Both proxies read the same nutcracker.yml, in two copies that differ in `listen:` alone, and are started on it in front of the same ' +
      `four memcached (\`${run.memcachedCmd}\`, each on a free port of 127.0.0.1), all started by the run and stopped at its end:`,
  );
  L.push('');
  L.push('```yaml');
  L.push(poolYml('127.0.0.1:PORT', ['127.0.0.1:MC1', '127.0.0.1:MC2', '127.0.0.1:MC3', '127.0.0.1:MC4']).trimEnd());
  L.push('```');
  L.push('');
  for (const s of SYSTEMS) L.push(`- **${s.label}**: \`${s.cmd}\``);
  L.push('');
  L.push(
    `Workloads: mcblast (tools/mcblast: C, epoll, checks every reply), ${LOAD.conns} connections, 90% get / 10% set, ${LOAD.valueSize}-byte values, ` +
      `${fmt(KEYS).replace(',', ' ')} keys set through the proxy just before each run by a separate \`mcblast -P -t 0\` call (so the CPU figures below cover the timed run alone); ` +
      'a run fails the whole benchmark when mcblast reports a wrong reply or a miss (`-E`: every key was set, so a miss is a lost reply):',
  );
  L.push('');
  for (const w of WORKLOADS) {
    const what =
      w.keysPerGet > 1 ? `, every get a text multi-get of ${w.keysPerGet} random keys (spread over the pool), counted as one request` : '';
    L.push(`- **${w.title}**: \`mcblast ${w.flags} -t ${run.seconds}\`${what}`);
  }
  L.push('');
  L.push(
    `Method: ${run.rounds} round${run.rounds === 1 ? '' : 's'}; in each round every workload runs against both proxies back to back, for ${run.seconds} s each, ` +
      `the order of the two swapped from round to round; before the first round each workload ran once against each proxy, unmeasured, for ${WARM_UP} s. ` +
      'The table gives the median over rounds and the range (lowest–highest); a ratio is the quotient of two medians, ' +
      'and the goals table adds the ratios taken round by round. CPU figures come from /proc: the user and system time of the proxy process ' +
      "(all its threads, so for cleave-twemproxy Node's garbage collector and compiler threads too) over the timed run, per request mcblast counted, " +
      "and as a share of one core over the run's wall time; nutcracker is single-threaded, so near 100% of a core it sets the pace. " +
      'The backends column is the four memcached together, per request.',
  );
  L.push('');
  L.push(`![Throughput, p99 latency and proxy CPU per request, cleave-twemproxy against nutcracker](img/${CHART})`);
  L.push('');
  L.push(
    '| workload | proxy | ops/s | range over rounds | p50 µs | p99 µs | × nutcracker | proxy CPU µs/request | proxy CPU, share of a core | backends CPU µs/request |',
  );
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const w of WORKLOADS) {
    for (const s of SYSTEMS) {
      const r = sum[w.key][s.key];
      if (!r) continue;
      L.push(
        `| ${w.title} | ${s.label} | ${fmt(r.ops)} | ${short(r.min)}–${short(r.max)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${s.key === 'nut' ? '1.00×' : x(ratio(w.key, s.key, 'nut'))} | ` +
          `${us(r.cpuUs)} | ${Math.round(r.cpuCore * 100)}% | ${us(r.backendUs)} |`,
      );
    }
  }
  L.push('');
  const cpuRatios = WORKLOADS.map((w) => `${x(ratio(w.key, 'cleave', 'nut', 'cpuUs'))} in *${w.title}*`);
  L.push(`cleave-twemproxy's CPU per request against nutcracker's: ${cpuRatios.join(', ')}.`);
  L.push('');
  L.push(...renderGoals(goals));
  L.push('');
  return `${L.join('\n')}\n`;
}

/** Three rows of panels (throughput, p99 latency, the proxy's CPU per request), one column per workload. */
function chart(run, sum, ratio, goals) {
  const caption = (w, metric) =>
    goals
      .filter((g) => g.w === w.key && g.metric === metric && g.measured != null)
      .map((g) => ({
        text: `${g.kind === 'min' ? '≥' : '≤'} ${g.target}× nutcracker: ${g.measured.toFixed(2)}×, ${g.met ? 'met' : 'not met'}`,
        color: g.met ? '#2e7d32' : '#c62828',
      }));
  const ms = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)).replace(/(\.\d*?)0+$/, '$1').replace(/\.$/, '');
  const rows = [
    { metric: 'ops', name: 'ops/s', scale: 1, format: short },
    { metric: 'p99', name: 'p99 ms', scale: 1 / 1000, format: ms },
    { metric: 'cpuUs', name: 'CPU µs/req', scale: 1, format: ms },
  ];
  const range = { ops: ['min', 'max'], p99: ['p99min', 'p99max'], cpuUs: ['cpuUsMin', 'cpuUsMax'] };
  const panels = [];
  for (const row of rows) {
    for (const w of WORKLOADS) {
      panels.push({
        title: `${w.title}: ${row.name}`,
        format: row.format,
        bars: SYSTEMS.map((s) => {
          const r = sum[w.key][s.key];
          if (!r) return { series: s.key, value: null };
          const [lo, hi] = range[row.metric];
          return { series: s.key, value: r[row.metric] * row.scale, lo: r[lo] * row.scale, hi: r[hi] * row.scale };
        }),
        caption:
          row.metric === 'cpuUs'
            ? [{ text: `proxy process only; ${x(ratio(w.key, 'cleave', 'nut', 'cpuUs'))} nutcracker's` }]
            : caption(w, row.metric),
      });
    }
  }
  return barPanels({
    title: 'cleave-twemproxy against nutcracker: one nutcracker.yml, 4 memcached',
    subtitle: run.when,
    series: SYSTEMS.map(({ key, label, short: sh, color }) => ({ key, label, short: sh, color })),
    panels,
    columns: 3,
  });
}
