/** The human-readable lines the CLI prints: what is about to run, and the report without --json. */
import type { ResolvedOptions } from './options.js';
import type { LoadResult } from './run.js';
import type { ByteDump } from './stats.js';

const n = (v: number) => v.toLocaleString('en-US');
const us = (v: number) => (v >= 10_000 ? `${(v / 1000).toFixed(1)}ms` : `${v}us`);

function pct(part: number, whole: number): string {
  return whole === 0 ? '-' : `${((part / whole) * 100).toFixed(1)}%`;
}

function pad(s: string, w: number, right = false): string {
  return right ? s.padStart(w) : s.padEnd(w);
}

function dumpLines(label: string, d: ByteDump): string[] {
  const where = d.length > d.hex.split(' ').length ? ` (bytes ${d.offset}-${d.offset + d.hex.split(' ').length - 1} of ${d.length})` : '';
  return [`      ${label}${where}:`, `        hex:  ${d.hex}`, `        text: ${d.text}`];
}

/** What a run will do, in two lines, from its resolved options: printed before it connects. */
export function describeRun(o: ResolvedOptions): string {
  const target = o.socket ?? `${o.host}:${o.port}`;
  const limits = [
    ...(o.duration !== undefined ? [`${o.duration} s`] : []),
    ...(o.requests !== undefined ? [`${n(o.requests)} requests`] : []),
  ];
  const until = limits.length > 0 ? `for ${limits.join(' or ')}` : '';
  const length = o.workload === 'sizes' ? `until every size is sent${until ? ', at most ' + until.slice(4) : ''}` : until;
  const values = o.workload === 'sizes' ? `values ${o.minSize}-${o.maxSize} step ${o.step}` : `values ${o.valueSizeText}`;
  const mix = o.workload === 'mix' ? `, ${+(o.ratio * 100).toFixed(2)}% gets${o.prepopulate ? ' after setting every key once' : ''}` : '';
  return (
    `cleave-load ${o.workload} → ${target} (${o.protocol}), ${o.conns} conns × depth ${o.depth}, ${length}\n` +
    `  ${n(o.keys)} keys of ${o.keyLength} bytes (prefix ${o.keyPrefix}), ${values}${mix}, seed ${o.seed}, ${o.verify ? 'verifying every reply' : 'not verifying values'}\n`
  );
}

/** The report of a run; `header: false` leaves out its first line when describeRun() was printed before. */
export function formatReport(r: LoadResult, { header = true }: { header?: boolean } = {}): string {
  const lines: string[] = [];
  if (header) {
    lines.push(
      `cleave-load ${r.workload} → ${r.target} (${r.protocol}), ${r.conns} conns × depth ${r.depth}, values ${r.value_size}, seed ${r.seed}${r.verify ? ', verifying' : ''}`,
    );
  }
  if (r.prepopulate) lines.push(`prepopulated ${n(r.prepopulate.ops)} keys in ${r.prepopulate.duration_s} s`);
  lines.push(
    `${n(r.ops)} requests in ${r.duration_s} s: ${n(r.ops_per_sec)} ops/s   hits ${n(r.hits)}  misses ${n(r.misses)}  errors ${n(r.errors)}${r.aborted ? `  aborted ${n(r.aborted)}` : ''}`,
  );
  lines.push(`latency  p50 ${us(r.p50_us)}  p90 ${us(r.p90_us)}  p99 ${us(r.p99_us)}  p99.9 ${us(r.p999_us)}  max ${us(r.max_us)}`);
  lines.push(
    `cpu      user ${r.cpu_user_s} s  system ${r.cpu_system_s} s  = ${r.cpu_percent}% of one core; event loop busy ${(r.event_loop_utilization * 100).toFixed(0)}%` +
      (r.cpu_percent >= 90 ? '  (cleave-load was the bottleneck)' : ''),
  );
  lines.push(
    `traffic  sent ${n(r.bytes_sent)} B  received ${n(r.bytes_received)} B  (${r.requests_per_write} requests per write, ${r.replies_per_read} replies per read)`,
  );
  if (r.sizes) {
    const missed = r.commands.get?.misses ?? 0;
    lines.push(
      `sizes    ${r.sizes.min}-${r.sizes.max} step ${r.sizes.step}: ${n(r.sizes.sent)} of ${n(r.sizes.total)} sizes set and read back` +
        (missed ? `; ${n(missed)} missed on read-back (evicted?), so not verified` : ''),
    );
  }
  if (r.evictions !== undefined) lines.push(`evictions ${r.evictions === null ? '(server has no stats)' : n(r.evictions)}`);

  const cmds = Object.entries(r.commands);
  if (cmds.length > 1 || r.workload === 'blast') {
    lines.push('');
    lines.push(
      `${pad('command', 9)}${pad('ops', 11, true)}${pad('hit%', 8, true)}${pad('errors', 8, true)}   ${pad('hit p50', 9, true)}${pad('p99', 9, true)}${pad('p99.9', 9, true)}   ${pad('miss p50', 9, true)}${pad('p99', 9, true)}${pad('p99.9', 9, true)}`,
    );
    for (const [name, c] of cmds) {
      if (!c) continue;
      lines.push(
        `${pad(name, 9)}${pad(n(c.ops), 11, true)}${pad(pct(c.hits, c.ops), 8, true)}${pad(n(c.errors), 8, true)}   ` +
          `${pad(c.hit.count ? us(c.hit.p50_us) : '-', 9, true)}${pad(c.hit.count ? us(c.hit.p99_us) : '-', 9, true)}${pad(c.hit.count ? us(c.hit.p999_us) : '-', 9, true)}   ` +
          `${pad(c.miss.count ? us(c.miss.p50_us) : '-', 9, true)}${pad(c.miss.count ? us(c.miss.p99_us) : '-', 9, true)}${pad(c.miss.count ? us(c.miss.p999_us) : '-', 9, true)}`,
      );
    }
  }

  if (r.errors > 0) {
    lines.push('');
    lines.push(
      `ERRORS: ${Object.entries(r.errors_by_kind)
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(', ')}`,
    );
    r.error_samples.forEach((s, i) => {
      lines.push(`  #${i + 1} ${s.kind}: ${s.command} ${s.key}: ${s.detail}`);
      if (s.got) lines.push(...dumpLines('got', s.got));
      if (s.expected) lines.push(...dumpLines('expected', s.expected));
    });
    if (r.error_samples.length < r.errors) lines.push(`  (${n(r.errors - r.error_samples.length)} more not shown)`);
  }
  return lines.join('\n') + '\n';
}
