import type { Rng } from './rng.js';

/**
 * A value size distribution, from `--value-size`:
 *   `100`                  every value 100 bytes
 *   `5-20000`              uniform between 5 and 20000 bytes (inclusive)
 *   `log:5-20000`          log-uniform: as many values of 5-50 B as of 2-20 KB
 *   `100:80,4000:15,20000:5`  weighted: 100 B 80 % of the time, ...
 */
export type SizeSpec =
  | { kind: 'fixed'; size: number }
  | { kind: 'range'; min: number; max: number }
  | { kind: 'log'; min: number; max: number }
  | { kind: 'weighted'; sizes: number[]; weights: number[] };

/** Largest value cleave-load sends (memcached's own maximum item size is 1 GiB with -I). */
export const MAX_VALUE_SIZE = 128 * 1024 * 1024;

const INT = /^\d+$/;

function size(s: string): number {
  if (!INT.test(s)) throw new Error(`"${s}" is not a size in bytes`);
  const n = Number(s);
  if (n > MAX_VALUE_SIZE) throw new Error(`${n} is over the largest value size, ${MAX_VALUE_SIZE}`);
  return n;
}

/** Parse a `--value-size` spec; throws an Error with a readable message. */
export function parseSizeSpec(spec: string): SizeSpec {
  const s = spec.trim();
  if (s.includes(',') || /^\d+:\d+(\.\d+)?$/.test(s)) {
    const sizes: number[] = [];
    const weights: number[] = [];
    for (const part of s.split(',')) {
      const m = /^(\d+):(\d+(?:\.\d+)?)$/.exec(part.trim());
      if (!m) throw new Error(`"${part}" is not SIZE:WEIGHT`);
      sizes.push(size(m[1]!));
      weights.push(Number(m[2]));
    }
    const total = weights.reduce((a, b) => a + b, 0);
    if (!(total > 0)) throw new Error('the weights add up to 0');
    return { kind: 'weighted', sizes, weights: weights.map((w) => w / total) };
  }
  const log = s.startsWith('log:');
  const body = log ? s.slice(4) : s;
  const dash = body.indexOf('-');
  if (dash < 0) {
    if (log) throw new Error('log: needs a range, e.g. log:5-20000');
    return { kind: 'fixed', size: size(body) };
  }
  const min = size(body.slice(0, dash));
  const max = size(body.slice(dash + 1));
  if (min > max) throw new Error(`range ${min}-${max} is empty`);
  return { kind: log ? 'log' : 'range', min, max };
}

export function maxSize(spec: SizeSpec): number {
  switch (spec.kind) {
    case 'fixed':
      return spec.size;
    case 'range':
    case 'log':
      return spec.max;
    case 'weighted':
      return Math.max(...spec.sizes);
  }
}

/** Draws sizes from a spec. */
export class Sizer {
  private readonly cumulative: Float64Array;

  constructor(
    readonly spec: SizeSpec,
    private readonly rng: Rng,
  ) {
    this.cumulative = new Float64Array(spec.kind === 'weighted' ? spec.weights.length : 0);
    if (spec.kind === 'weighted') {
      let acc = 0;
      spec.weights.forEach((w, i) => (this.cumulative[i] = acc += w));
    }
  }

  next(): number {
    const spec = this.spec;
    switch (spec.kind) {
      case 'fixed':
        return spec.size;
      case 'range':
        return spec.min + this.rng.below(spec.max - spec.min + 1);
      case 'log': {
        // log-uniform over [min+1, max+2), shifted back by one so 0 stays reachable.
        const lo = Math.log(spec.min + 1);
        const hi = Math.log(spec.max + 2);
        const n = Math.floor(Math.exp(lo + this.rng.float() * (hi - lo))) - 1;
        return n < spec.min ? spec.min : n > spec.max ? spec.max : n;
      }
      case 'weighted': {
        const r = this.rng.float();
        const c = this.cumulative;
        for (let i = 0; i < c.length; i++) if (r < c[i]!) return spec.sizes[i]!;
        return spec.sizes[spec.sizes.length - 1]!;
      }
    }
  }
}
