/**
 * Latency recording. The hot loop bumps a counter in a flat array of
 * microsecond buckets (one store, no allocation); latencies past the array
 * go to the HDR histogram directly. `histogram()` folds the counters into an
 * HDR histogram (3 significant digits) for percentiles and merging.
 */
import * as hdr from 'hdr-histogram-js';

/** Latencies below this many microseconds are counted exactly. */
const LINEAR = 1 << 17;
/** Highest latency tracked: 10 minutes. */
const HIGHEST_US = 600_000_000;

export type Histogram = hdr.Histogram;

export function newHistogram(): Histogram {
  return hdr.build({
    bitBucketSize: 32,
    useWebAssembly: false,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
  });
}

export class LatencyRecorder {
  private counts: Uint32Array | undefined = undefined;
  private slow: Histogram | undefined = undefined;
  count = 0;

  /** Record one latency in microseconds. */
  record(us: number): void {
    this.count++;
    if (us < LINEAR) {
      const c = (this.counts ??= new Uint32Array(LINEAR));
      c[us < 0 ? 0 : us | 0]!++;
    } else {
      (this.slow ??= newHistogram()).recordValue(Math.min(us, HIGHEST_US));
    }
  }

  /** Add this recorder's latencies to `h`. */
  addTo(h: Histogram): void {
    const c = this.counts;
    if (c !== undefined) {
      for (let i = 0; i < LINEAR; i++) {
        const n = c[i]!;
        if (n !== 0) h.recordValueWithCount(i, n);
      }
    }
    if (this.slow !== undefined) h.add(this.slow);
  }

  histogram(): Histogram {
    const h = newHistogram();
    this.addTo(h);
    return h;
  }
}

/** Latency summary in microseconds. */
export interface LatencySummary {
  count: number;
  mean_us: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, mean_us: 0, p50_us: 0, p90_us: 0, p99_us: 0, p999_us: 0, max_us: 0 };
  return {
    count: h.totalCount,
    mean_us: Math.round(h.mean * 10) / 10,
    p50_us: h.getValueAtPercentile(50),
    p90_us: h.getValueAtPercentile(90),
    p99_us: h.getValueAtPercentile(99),
    p999_us: h.getValueAtPercentile(99.9),
    max_us: h.maxValue,
  };
}
