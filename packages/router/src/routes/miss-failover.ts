/**
 * MissFailoverRoute, as mcrouter's: a get (or gat) or a delete goes to the children in order until one finds the
 * item (a hit; for a delete, DELETED); a miss or an error goes on to the next child. When none finds it, the client
 * gets the last child's answer, miss or error; with `returnBestOnError`, the least bad answer seen instead (a miss
 * from a healthy child over an error from the last one; of equally bad answers the later). Every other command
 * (stores, incr, decr, touch) goes to the first child only.
 */
import type { Handler, MaybePromise } from '@cleave/protocol';
import { isPromise } from '@cleave/core';
import { Route, settle, severity, unsettle, type AnyOutcome, type AnyRequest, type Settled } from './route.js';

export interface MissFailoverOptions {
  /** When no child finds the item, answer the least bad answer rather than the last (mcrouter's `return_best_on_error`). */
  returnBestOnError?: boolean;
}

export class MissFailoverRoute extends Route {
  readonly kind = 'MissFailoverRoute';
  readonly children: readonly Handler[];
  private readonly returnBest: boolean;

  constructor(children: readonly Handler[], opts: MissFailoverOptions = {}) {
    super();
    if (children.length === 0) throw new RangeError('MissFailoverRoute: no children');
    this.children = children;
    this.returnBest = opts.returnBestOnError === true;
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    if (r.op !== 'get' && r.op !== 'delete') return r.send(this.children[0]!);
    return this.from(r, 0, undefined);
  }

  /** Ask child `i`; `best` is the answer to give if no child from `i` on finds the item. */
  private from(r: AnyRequest, i: number, best: Settled<AnyOutcome> | undefined): MaybePromise<AnyOutcome> {
    const s = settle(r.send(this.children[i]!) as MaybePromise<AnyOutcome>);
    return isPromise(s) ? s.then((v) => this.next(r, i, best, v)) : this.next(r, i, best, s);
  }

  private next(r: AnyRequest, i: number, best: Settled<AnyOutcome> | undefined, s: Settled<AnyOutcome>): MaybePromise<AnyOutcome> {
    if (found(r, s)) return s.value as AnyOutcome;
    if (best === undefined || !this.returnBest || severity(r.op, s) <= severity(r.op, best)) best = s;
    if (i + 1 === this.children.length) return unsettle(best);
    return this.from(r, i + 1, best);
  }
}

/** mcrouter's reason to stop: a hit (a get that found the item, a delete that deleted it). */
function found(r: AnyRequest, s: Settled<AnyOutcome>): s is { ok: true; value: AnyOutcome } {
  if (!s.ok) return false;
  return r.op === 'get' ? s.value !== undefined : s.value === 'DELETED';
}

/** A MissFailoverRoute over `children`, in order. */
export function missFailover(children: Handler[], opts?: MissFailoverOptions): MissFailoverRoute {
  return new MissFailoverRoute(children, opts);
}
