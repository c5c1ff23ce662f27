/**
 * LatestRoute, as mcrouter's: a FailoverRoute over `failoverCount` (default 5) of its children, picked once when the
 * route is built, pseudo-randomly from `seed`, in the order picked. mcrouter seeds the pick with the host's id, so
 * every proxy on one host uses the same children and each host its own; the default seed here is a hash of the host
 * name, for the same effect. `failoverErrors` is FailoverRoute's. Every child still receives flush_all and is closed.
 */
import { hostname } from 'node:os';
import type { Handler } from '@cleave/protocol';
import { fnv1a32 } from '@cleave/core';
import { FailoverRoute, type FailoverErrors } from './failover.js';

export interface LatestOptions {
  /** How many children to fail over across (default 5; all of them when there are fewer). */
  failoverCount?: number;
  failoverErrors?: FailoverErrors;
  /** Seeds the pick (default: a hash of the host name). */
  seed?: number;
}

export class LatestRoute extends FailoverRoute {
  override readonly kind: string = 'LatestRoute';

  constructor(children: readonly Handler[], opts: LatestOptions = {}) {
    const count = opts.failoverCount ?? 5;
    if (!Number.isSafeInteger(count) || count < 1)
      throw new RangeError(`LatestRoute: failoverCount must be a positive integer, got ${count}`);
    const seed = opts.seed ?? fnv1a32(Buffer.from(hostname()));
    super(children, { failoverErrors: opts.failoverErrors }, pick(children, count, seed));
  }
}

/** `count` of `children` (all when there are fewer), drawn without replacement by a generator seeded with `seed`. */
export function pick(children: readonly Handler[], count: number, seed: number): Handler[] {
  const left = [...children];
  const picked: Handler[] = [];
  let state = seed >>> 0;
  while (picked.length < count && left.length > 0) {
    state = mix32((state + 0x9e3779b9) >>> 0);
    const i = state % left.length;
    picked.push(left[i]!);
    left[i] = left[left.length - 1]!;
    left.pop();
  }
  return picked;
}

/** A 32-bit integer hash (lowbias32): spreads consecutive states over the whole range. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** A LatestRoute over `children`. */
export function latest(children: Handler[], opts?: LatestOptions): LatestRoute {
  return new LatestRoute(children, opts);
}
