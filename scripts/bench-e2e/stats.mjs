// Medians over rounds, ratios between systems and goals: the figures every section of bench:e2e reports.
// A ratio is the quotient of two medians (what the tables and charts show); a goal also carries the
// ratios taken round by round (the two systems ran back to back), whose median and range show how far
// the noise of the machine moves it.
import { median } from '../bench-lib.mjs';

/** runs: { [workload]: { [system]: [one result per round] } }, results as { ops, p50, p99, ... }. */
export function measures(runs) {
  const med = (w, a, metric) => median(runs[w][a].map((r) => r[metric]));
  const ratio = (w, a, b, metric = 'ops') => (runs[w][a].length && runs[w][b].length ? med(w, a, metric) / med(w, b, metric) : null);
  const roundRatios = (w, a, b, metric) => {
    const rs = runs[w][a].map((r, i) => r[metric] / runs[w][b][i][metric]);
    return { median: median(rs), min: Math.min(...rs), max: Math.max(...rs) };
  };

  /** One goal: system a against system b in workload w; kind 'min' (a/b ≥ target) or 'max' (a/b ≤ target). */
  const goal = (text, w, a, b, kind, target, metric = 'ops') => {
    const measured = ratio(w, a, b, metric);
    const meets = (v) => (kind === 'min' ? v >= target : v <= target);
    const byRound = measured == null ? null : roundRatios(w, a, b, metric);
    return {
      text,
      w,
      a,
      b,
      metric,
      kind,
      target,
      measured,
      perRound: byRound,
      met: measured != null && meets(measured),
      roundsAgree: byRound == null || meets(byRound.median) === meets(measured),
    };
  };

  /**
   * Medians and ranges over rounds of one workload against one system (null when it was not run), plus
   * the median of each metric named in `extra` that the results carry.
   */
  const summary = (w, s, extra = []) => {
    const xs = runs[w][s];
    if (!xs.length) return null;
    const of = (metric) => xs.map((r) => r[metric]);
    const out = {
      ops: median(of('ops')),
      min: Math.min(...of('ops')),
      max: Math.max(...of('ops')),
      p50: median(of('p50')),
      p99: median(of('p99')),
      p99min: Math.min(...of('p99')),
      p99max: Math.max(...of('p99')),
    };
    for (const metric of extra) {
      if (xs[0][metric] === undefined) continue;
      out[metric] = median(of(metric));
      out[`${metric}Min`] = Math.min(...of(metric));
      out[`${metric}Max`] = Math.max(...of(metric));
    }
    return out;
  };

  return { ratio, goal, summary };
}
