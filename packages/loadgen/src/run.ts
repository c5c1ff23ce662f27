/**
 * runLoad(): validate options, connect, run the workload (after mix's
 * prepopulation), and gather one LoadResult — the object `--json` prints.
 */
import { performance } from 'node:perf_hooks';
import { COMMAND_NAMES } from './commands.js';
import { Engine, type Target } from './engine.js';
import { KeyState } from './key-state.js';
import { KeySpace } from './keys.js';
import { newHistogram, summarize, type LatencySummary } from './latency.js';
import { resolveOptions, type LoadOptions, type ResolvedOptions, type WorkloadName } from './options.js';
import { Rng } from './rng.js';
import { fetchStats } from './server-stats.js';
import { maxSize, Sizer } from './sizes.js';
import { RunStats, type ErrorSample } from './stats.js';
import { RequestWriter } from './templates.js';
import { ValueSource } from './values.js';
import { BlastWorkload, FillWorkload, MixWorkload, SetGetWorkload, SizesWorkload, type Workload } from './workloads.js';

export interface CommandResult extends LatencySummary {
  ops: number;
  hits: number;
  misses: number;
  errors: number;
  /** Latency of hits and of misses apart. */
  hit: LatencySummary;
  miss: LatencySummary;
}

export interface LoadResult {
  workload: WorkloadName;
  protocol: 'text' | 'meta' | 'binary';
  /** host:port or the socket path. */
  target: string;
  conns: number;
  depth: number;
  seed: number;
  verify: boolean;
  value_size: string;
  /** Wall time of the measured phase, from the first request to the last reply. */
  duration_s: number;
  /** Requests answered (hits + misses + failed). */
  ops: number;
  ops_per_sec: number;
  hits: number;
  misses: number;
  /** Everything a correct memcached would not have done: error replies, wrong values/keys/opaques, broken framing, timeouts. */
  errors: number;
  errors_by_kind: Record<string, number>;
  /** Requests left unanswered when their connection broke. */
  aborted: number;
  reconnects: number;
  /** Latency over all answered requests (failed ones excepted), microseconds. */
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  bytes_sent: number;
  bytes_received: number;
  /** Requests per socket write and replies per socket read: how well pipelining batches. */
  requests_per_write: number;
  replies_per_read: number;
  /** CPU time this process spent during the measured phase. */
  cpu_user_s: number;
  cpu_system_s: number;
  /** (user + system) / wall time: near 100 % means cleave-load itself was the bottleneck. */
  cpu_percent: number;
  /** Share of wall time the event loop was busy (0-1). */
  event_loop_utilization: number;
  commands: Partial<Record<(typeof COMMAND_NAMES)[number], CommandResult>>;
  /** The first error samples, with the offending bytes. */
  error_samples: ErrorSample[];
  /** mix: the prepopulation pass (not in the figures above). */
  prepopulate?: { ops: number; duration_s: number; errors: number };
  /** sizes: the sizes walked, and how many of them were sent. */
  sizes?: { min: number; max: number; step: number; total: number; sent: number };
  /** fill: items the server evicted during the run (from its stats; null when it has none). */
  evictions?: number | null;
}

function targetOf(o: ResolvedOptions): Target {
  return o.socket !== undefined ? { path: o.socket } : { host: o.host, port: o.port };
}

function workloadFor(o: ResolvedOptions, rng: Rng, sizer: Sizer): Workload {
  switch (o.workload) {
    case 'blast':
      return new BlastWorkload(o.keys, o.conns, sizer, rng);
    case 'setget':
      return new SetGetWorkload(o.keys, o.conns, sizer, rng);
    case 'sizes':
      return new SizesWorkload(o.minSize, o.maxSize, o.step, o.keys, o.conns);
    case 'fill':
      return new FillWorkload(o.keys, sizer);
    case 'mix':
      return new MixWorkload(o.keys, o.ratio, sizer, rng);
  }
}

export interface RunHooks {
  /** Called about once a second with live figures (the CLI's progress line). */
  onProgress?(p: { elapsed_s: number; ops: number; ops_per_sec: number; errors: number; phase: string }): void;
}

/** Run a load against a memcached-compatible server. Throws OptionsError on bad options. */
export async function runLoad(options: LoadOptions, hooks: RunHooks = {}): Promise<LoadResult> {
  const o = resolveOptions(options);
  const rng = new Rng(o.seed);
  const sizer = new Sizer(o.valueSize, rng);
  const largest = Math.max(o.workload === 'sizes' ? o.maxSize : maxSize(o.valueSize), 64);
  const keys = new KeySpace(o.keyPrefix, o.keyLength, o.keys);
  const values = new ValueSource(largest);
  const writer = new RequestWriter(o.protocol, keys, values, o.verify);
  const target = targetOf(o);
  const engine = new Engine({
    target,
    protocol: o.protocol,
    conns: o.conns,
    depth: o.depth,
    verify: o.verify,
    timeoutMs: o.timeout * 1000,
    keys,
    values,
    writer,
    keyState: new KeyState(o.keys),
    // Appendable values grow; leave them room.
    maxValueSize: Math.max(largest * 2, 2 * 1024 * 1024),
  });
  const workload = workloadFor(o, rng, sizer);
  const targetText = 'path' in target ? target.path : `${target.host}:${target.port}`;

  try {
    await engine.connect();
  } catch (e) {
    engine.close();
    const failed = new RunStats();
    failed.error({ kind: 'connection', command: '-', key: '-', detail: (e as Error).message });
    return assemble(o, targetText, failed, 0, { user: 0, system: 0 }, 0);
  }

  try {
    let prepopulate: LoadResult['prepopulate'];
    let pre: RunStats | undefined;
    if (o.workload === 'mix' && o.prepopulate) {
      pre = new RunStats();
      const t0 = performance.now();
      const stop = progress(hooks, 'prepopulate', pre, t0);
      await engine.run(new FillWorkload(o.keys, sizer, true, 'prepopulate'), pre, {});
      stop();
      prepopulate = { ops: pre.completed, duration_s: round((performance.now() - t0) / 1000, 3), errors: pre.errors };
    }
    const before = o.workload === 'fill' ? await fetchStats(target) : undefined;

    const stats = new RunStats();
    // Errors while prepopulating count too (a wrong server is wrong in any phase).
    if (pre) stats.absorbErrors(pre);
    const elu0 = performance.eventLoopUtilization();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const stop = progress(hooks, o.workload, stats, t0);
    await engine.run(workload, stats, {
      ...(o.duration !== undefined ? { durationMs: o.duration * 1000 } : {}),
      ...(o.requests !== undefined ? { requests: o.requests } : {}),
    });
    const wall = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const elu = performance.eventLoopUtilization(elu0).utilization;
    stop();

    const result = assemble(o, targetText, stats, wall, cpu, elu);
    if (prepopulate) result.prepopulate = prepopulate;
    if (workload instanceof SizesWorkload) {
      const set = stats.commands[3]!.ops;
      result.sizes = { min: o.minSize, max: o.maxSize, step: o.step, total: workload.total, sent: set };
    }
    if (o.workload === 'fill') {
      const after = await fetchStats(target);
      const b = before?.get('evictions');
      const a = after?.get('evictions');
      result.evictions = a !== undefined && b !== undefined ? Number(a) - Number(b) : null;
    }
    return result;
  } finally {
    engine.close();
  }
}

function progress(hooks: RunHooks, phase: string, stats: RunStats, t0: number): () => void {
  const on = hooks.onProgress;
  if (on === undefined) return () => {};
  let last = 0;
  let lastT = t0;
  const timer = setInterval(() => {
    const now = performance.now();
    const ops = stats.completed;
    on({
      phase,
      elapsed_s: (now - t0) / 1000,
      ops,
      ops_per_sec: ((ops - last) * 1000) / (now - lastT),
      errors: stats.errors,
    });
    last = ops;
    lastT = now;
  }, 1000);
  return () => clearInterval(timer);
}

const round = (v: number, digits: number) => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};

function assemble(
  o: ResolvedOptions,
  target: string,
  stats: RunStats,
  wall: number,
  cpu: { user: number; system: number },
  elu: number,
): LoadResult {
  const all = newHistogram();
  const commands: LoadResult['commands'] = {};
  let hits = 0;
  let misses = 0;
  stats.commands.forEach((cs, cmd) => {
    if (cs.ops === 0) return;
    hits += cs.hits;
    misses += cs.misses;
    const hit = cs.hit.histogram();
    const miss = cs.miss.histogram();
    const both = newHistogram();
    both.add(hit);
    both.add(miss);
    all.add(both);
    commands[COMMAND_NAMES[cmd]!] = {
      ops: cs.ops,
      hits: cs.hits,
      misses: cs.misses,
      errors: cs.errors,
      ...summarize(both),
      hit: summarize(hit),
      miss: summarize(miss),
    };
  });
  const ops = stats.completed;
  const lat = summarize(all);
  const cpuUser = cpu.user / 1e6;
  const cpuSystem = cpu.system / 1e6;
  return {
    workload: o.workload,
    protocol: o.protocol,
    target,
    conns: o.conns,
    depth: o.depth,
    seed: o.seed,
    verify: o.verify,
    value_size: o.workload === 'sizes' ? `${o.minSize}-${o.maxSize} step ${o.step}` : o.valueSizeText,
    duration_s: round(wall, 3),
    ops,
    ops_per_sec: wall > 0 ? Math.round(ops / wall) : 0,
    hits,
    misses,
    errors: stats.errors,
    errors_by_kind: Object.fromEntries(stats.errorKinds),
    aborted: stats.aborted,
    reconnects: stats.reconnects,
    mean_us: lat.mean_us,
    p50_us: lat.p50_us,
    p90_us: lat.p90_us,
    p99_us: lat.p99_us,
    p999_us: lat.p999_us,
    max_us: lat.max_us,
    bytes_sent: stats.bytesSent,
    bytes_received: stats.bytesReceived,
    requests_per_write: stats.writes > 0 ? round((ops + stats.aborted) / stats.writes, 1) : 0,
    replies_per_read: stats.reads > 0 ? round(ops / stats.reads, 1) : 0,
    cpu_user_s: round(cpuUser, 3),
    cpu_system_s: round(cpuSystem, 3),
    cpu_percent: wall > 0 ? round(((cpuUser + cpuSystem) / wall) * 100, 1) : 0,
    event_loop_utilization: round(elu, 3),
    commands,
    error_samples: stats.samples,
  };
}
