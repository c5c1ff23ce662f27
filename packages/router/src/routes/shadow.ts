/**
 * mcrouter's ShadowRoute (its default shadow policy): every command goes to `main`, whose answer the client gets; a
 * command is also sent to each shadow whose key range holds the key and, when the shadow takes a fraction of
 * requests, that draw comes up. The client never waits for a shadow and never sees its answer or its failure.
 *
 * A key's place in [0, 1] is mcrouter's: SpookyHashV2's 32-bit hash (seed 0) of the key's routing part (without a
 * `/region/cluster/` prefix, up to a `|#|` hash stop), against the range scaled to 0..2^32-1, both ends included.
 * Every command is shadowed (mcrouter's default policy supports every request); commands without a key
 * (flush_all) reach the shadows too, in the background.
 */
import type { Handler, MaybePromise, StatsGroup } from '@cleave/protocol';
import { andThen, attempt } from '@cleave/core';
import { Route, detach, serves, type AnyOutcome, type AnyRequest } from './route.js';
import { routingKeyHash } from '../hashkit/routing-key.js';

export interface ShadowOptions {
  /** The shadow: any Handler (a pool, a route). */
  handler: Handler;
  /** mcrouter's `key_fraction_range`: keys whose place is in [start, end] are shadowed (default [0, 1]: all). */
  keyFraction?: readonly [number, number];
  /** mcrouter's `requests_fraction`: of those, this fraction of commands, drawn at random (default 1). */
  requestFraction?: number;
}

/** One shadow, its key range in hash units. */
interface Shadow {
  readonly handler: Handler;
  readonly from: number;
  readonly to: number;
  readonly fraction: number;
  readonly everyRequest: boolean;
}

const HASH_MAX = 0xffffffff;
/** mcrouter sends every request when the fraction is within this of 1. */
const ALWAYS = 1 - 0.00001;

export class ShadowRoute extends Route {
  readonly kind = 'ShadowRoute';
  readonly children: readonly Handler[];
  private readonly shadows: readonly Shadow[];
  /** Commands sent to a shadow. */
  shadowed = 0;
  /** Shadow commands that failed (the client never saw them). */
  shadowErrors = 0;

  constructor(
    readonly main: Handler,
    shadows: readonly ShadowOptions[],
  ) {
    super();
    this.shadows = shadows.map((s, i) => {
      const [start, end] = s.keyFraction ?? [0, 1];
      if (!(start >= 0 && start <= end && end <= 1))
        throw new TypeError(`shadow ${i}: keyFraction must be [start, end] with 0 <= start <= end <= 1, not [${start}, ${end}]`);
      const fraction = s.requestFraction ?? 1;
      if (!(fraction >= 0 && fraction <= 1)) throw new TypeError(`shadow ${i}: requestFraction must be in [0, 1], not ${fraction}`);
      // mcrouter truncates start * (2^32 - 1) and end * (2^32 - 1) to integers.
      return {
        handler: s.handler,
        from: Math.floor(start * HASH_MAX),
        to: Math.floor(end * HASH_MAX),
        fraction,
        everyRequest: fraction >= ALWAYS,
      };
    });
    this.children = [main, ...this.shadows.map((s) => s.handler)];
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    const reply = r.send(this.main);
    let hash = -1;
    for (const s of this.shadows) {
      if (!s.everyRequest && !(Math.random() < s.fraction)) continue;
      if (hash < 0) hash = routingKeyHash(r.key);
      if (hash < s.from || hash > s.to) continue;
      this.shadowed++;
      void this.quietly(() => detach(r).send(s.handler));
    }
    return reply;
  }

  /** Run a shadow's command, counting and dropping its failure. */
  private quietly(f: () => MaybePromise<unknown>): MaybePromise<unknown> {
    return attempt(f, () => {
      this.shadowErrors++;
      return undefined;
    });
  }

  /** main's flush answers; the shadows are flushed in the background. */
  override flush(delay: number): MaybePromise<void> {
    for (const s of this.shadows) void this.quietly(() => s.handler.flush(delay));
    return this.main.flush(delay);
  }

  override ping(): MaybePromise<void> {
    return this.main.ping?.();
  }

  override serves(key: Buffer): boolean {
    return serves(this.main, key);
  }

  override get keepsNewCas(): boolean {
    return this.main.keepsNewCas === true;
  }

  override stats(group: string): MaybePromise<StatsGroup | undefined> {
    const base = this.main.stats?.(group);
    if (group !== '') return base;
    const add = (st: StatsGroup | undefined): StatsGroup => ({ ...st, shadow_requests: this.shadowed, shadow_errors: this.shadowErrors });
    return andThen(base, add);
  }
}

/** mcrouter's ShadowRoute: `main` answers; commands on keys in a shadow's range also go to that shadow. */
export function shadow(main: Handler, shadows: readonly ShadowOptions[]): ShadowRoute {
  return new ShadowRoute(main, shadows);
}
