// The end-to-end sections of docs/benchmarks.md: rendered from one run's results and each written
// between its own two markers, leaving the rest of the page alone. The pieces every section shares (the
// run and its machine, the goals table) are exported for the router section (router.mjs).
import { readFileSync, writeFileSync } from 'node:fs';
import { fmt } from '../bench-lib.mjs';
import { short } from './chart.mjs';

/** The markers of a region: `<!-- e2e:begin -->` … `<!-- e2e:end -->` for name 'e2e'. */
export const markers = (name) => [`<!-- ${name}:begin -->`, `<!-- ${name}:end -->`];

/** Replace what lies between the markers of `name` (appending both at the end when absent); nothing else changes. */
export function writeRegion(path, body, name = 'e2e') {
  const [BEGIN, END] = markers(name);
  const page = readFileSync(path, 'utf8');
  const b = page.indexOf(BEGIN);
  const e = page.indexOf(END);
  let next;
  if (b === -1 && e === -1) next = `${page.replace(/\n*$/, '\n')}\n${BEGIN}\n${body}${END}\n`;
  else if (b !== -1 && e > b) next = `${page.slice(0, b + BEGIN.length)}\n${body}${page.slice(e)}`;
  else throw new Error(`${path}: the markers ${BEGIN} … ${END} are broken (one missing, or out of order); fix them by hand`);
  writeFileSync(path, next);
}

const x = (r) => (r == null ? '—' : `${r.toFixed(2)}×`);

/** "+12% above the goal" / "30% short" for a ≥ goal; "20% under the limit" / "8% over" for a ≤ goal. */
function margin(g) {
  if (g.measured == null) return 'not measured';
  const rel = g.measured / g.target - 1;
  const pct = `${Math.abs(rel * 100).toFixed(0)}%`;
  if (g.kind === 'min') return rel >= 0 ? `${pct} above the goal` : `${pct} short of the goal`;
  return rel <= 0 ? `${pct} within the limit` : `${pct} over the limit`;
}

/** How to run one section alone; `name` is this section's --only value. */
function onlyNote(name) {
  const other =
    name === 'router'
      ? ['memproxy', 'memproxy against memcached and nutcracker']
      : ['router', 'cleave-twemproxy against nutcracker over 4 memcached'];
  return (
    `\`node scripts/bench-e2e.mjs --only ${name}\` (or \`npx pnpm bench:e2e --only ${name}\`) runs this section alone and rewrites only it and its charts; ` +
    `\`--only ${other[0]}\` does the same for the ${other[0]} section (${other[1]}).`
  );
}

/**
 * The lines every section opens with: when and how it was run, on what machine, and how busy that
 * machine was. d: { date, command, commit, machine, section }.
 */
export function renderRun(d) {
  const m = d.machine;
  const L = [];
  const la = (l) => l.map((v) => v.toFixed(2)).join(' / ');
  L.push(`Run on ${d.date} with \`${d.command}\` (cleave ${d.commit}). ${onlyNote(d.section)}`);
  L.push('');
  const pct = (v) => `${Math.round(v * 100)}%`;
  L.push(
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memGiB} GiB, Node ${m.node}, ${m.memcached}, ${m.nutcracker}. ` +
      `Load average (1 / 5 / 15 min) ${la(m.loadStart)} at the start${m.afterBuild ? ' (the 1-minute figure includes the build that `bench:e2e` runs first)' : ''}, ` +
      `${la(m.loadEnd)} at the end. Other work used ${pct(m.otherBefore)} of the machine's CPU in the second before the first run and ` +
      `${pct(m.otherDuring)} during the runs (all CPU time less that of this run's own processes).`,
  );
  L.push('');
  if (m.loaded) {
    L.push(
      `**These figures come from a loaded machine**: other work took up to ${pct(Math.max(m.otherBefore, m.otherDuring))} of its CPU ` +
        `(about ${(Math.max(m.otherBefore, m.otherDuring) * m.cores).toFixed(1)} of its ${m.cores} cores). ` +
        'Every system met the same competition in alternating runs, so the ratios hold better than the absolute numbers, ' +
        'but both move from run to run; read the range column before trusting a single figure.',
    );
    L.push('');
  }
  return L;
}

/** The goals table and the sentence that counts them (goals as made by stats.mjs's goal()). */
export function renderGoals(goals) {
  const L = [];
  L.push('### Goals');
  L.push('');
  L.push('| goal | target | measured | round by round: median (range) | met | by how much |');
  L.push('|---|---:|---:|---:|---|---|');
  for (const g of goals) {
    let met = g.measured == null ? '—' : g.met ? '**met**' : '**not met**';
    if (!g.roundsAgree) met += g.met ? ', but not by the per-round median' : ', but met by the per-round median';
    const pr = g.perRound ? `${x(g.perRound.median)} (${g.perRound.min.toFixed(2)}–${g.perRound.max.toFixed(2)})` : '—';
    L.push(`| ${g.text} | ${g.kind === 'min' ? '≥' : '≤'} ${g.target}× | ${x(g.measured)} | ${pr} | ${met} | ${margin(g)} |`);
  }
  L.push('');
  const met = goals.filter((g) => g.met).length;
  const split = goals.filter((g) => !g.roundsAgree).length;
  L.push(
    `${met} of ${goals.length} goals met in this run (judged by the ratio of medians)` +
      (split
        ? `; for ${split === 1 ? 'one goal' : `${split} goals`} the per-round median falls on the other side of the target, so there the noise of this machine decides.`
        : '.'),
  );
  return L;
}

/**
 * d: { date, command, commit, machine: {...}, section, rounds, seconds, systems, workloads, summary, goals, large }
 * Returns the markdown that goes between the markers (ending with a newline).
 */
export function renderSection(d) {
  const L = [];
  L.push('## End-to-end: memproxy against memcached and nutcracker');
  L.push('');
  L.push(...renderRun(d));
  L.push(
    'Systems, each started by the run on a free port of 127.0.0.1 and stopped at its end; every proxy has a memcached of its own behind it, reached over TCP:',
  );
  L.push('');
  for (const s of d.systems) L.push(`- **${s.label}**: \`${s.cmd}\``);
  L.push('');
  L.push('Workloads (load generator on the same machine, over loopback):');
  L.push('');
  for (const w of d.workloads) L.push(`- **${w.title}**: ${w.describe}`);
  L.push('');
  L.push(
    `Method: ${d.rounds} round${d.rounds === 1 ? '' : 's'}; in each round every workload runs against every system back to back, for ${d.seconds} s each, ` +
      'the order of the systems rotated from round to round. The tables give the median over rounds and the range (lowest–highest); ' +
      'a ratio is the quotient of two medians. The goals table adds the ratios taken round by round (the two systems run back to back), ' +
      'their median and range, which shows how far the noise of this machine moves a ratio. ' +
      'A run fails the whole benchmark when its load generator reports an error.',
  );
  L.push('');
  L.push('![Throughput per workload and system](img/e2e-throughput.svg)');
  L.push('');
  L.push('![p99 latency per workload and system](img/e2e-p99.svg)');
  L.push('');
  L.push('| workload | system | ops/s | range over rounds | p50 µs | p99 µs | × memcached | × nutcracker |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|');
  for (const w of d.workloads) {
    for (const s of d.systems) {
      const r = d.summary[w.key][s.key];
      if (!r) {
        L.push(`| ${w.title} | ${s.label} | — (${w.skipNote}) | | | | | |`);
        continue;
      }
      L.push(
        `| ${w.title} | ${s.label} | ${fmt(r.ops)} | ${short(r.min)}–${short(r.max)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${s.key === 'mc' ? '1.00×' : x(r.vsMc)} | ${s.key === 'nut' ? '1.00×' : x(r.vsNut)} |`,
      );
    }
  }
  L.push('');
  for (const w of d.workloads) {
    const withCpu = d.systems.filter((s) => d.summary[w.key][s.key]?.cpu !== undefined);
    if (!withCpu.length) continue;
    const cpu = withCpu.map((s) => `${s.label} ${d.summary[w.key][s.key].cpu.toFixed(0)}%`);
    let line =
      `CPU of cleave-load in *${w.title}* (the benchmark process, its garbage-collector threads included, as a share of one core; ` +
      `from about 90% on, the load generator rather than the server set the pace): ${cpu.join(', ')}.`;
    const bound = withCpu.filter((s) => d.summary[w.key][s.key].cpu >= 90).map((s) => s.label);
    if (bound.length) {
      line +=
        ` So in this row ${bound.length > 1 ? `the figures of ${bound.join(', ')} are lower bounds` : `the figure of ${bound[0]} is a lower bound`}` +
        (bound.includes(d.systems[0].label) ? `, and ratios against ${d.systems[0].label} flatter the others.` : '.');
    }
    L.push(line, '');
  }
  L.push(...renderGoals(d.goals));
  if (d.large) {
    L.push('');
    L.push('### Large values');
    L.push('');
    L.push(d.large);
  }
  L.push('');
  return `${L.join('\n')}\n`;
}
