/**
 * The routes that send every command to every child, as mcrouter's All*Route: they differ in which answer the client
 * gets and how long it waits.
 *
 * - AllSyncRoute: waits for every child and answers the worst answer by `severity` (of equally bad ones, the first
 *   child's).
 * - AllAsyncRoute: answers at once with mcrouter's default reply (a get a miss; a store NOT_STORED; a delete, incr,
 *   decr or touch NOT_FOUND); the children's answers and failures are dropped.
 * - AllMajorityRoute: answers once one result (a hit, a miss, NOT_STORED, an error kind, ...) is held by more than
 *   half of the children; when none reaches that, once all answered, the most common result, of equally common ones
 *   the worse (by `severity`).
 * - AllFastestRoute: answers the first answer that is not a failover error (`DEFAULT_FAILOVER_KINDS`; a miss or a
 *   client error is an answer); when every child fails so, the last failure.
 * - AllInitialRoute: answers the first child's answer; the others' are dropped.
 *
 * Every child receives every command, in the order the client sent them: `route` sends to all children at once, in
 * child order. A child the client does not wait for gets its own copy of the command's bytes (`detach`).
 */
import type { Handler, MaybePromise } from '@cleave/protocol';
import { all, isPromise } from '@cleave/core';
import {
  DEFAULT_FAILOVER_KINDS,
  detach,
  failoverKind,
  Route,
  settle,
  severity,
  unsettle,
  worstOf,
  type AnyOutcome,
  type AnyRequest,
  type RouteOp,
  type Settled,
} from './route.js';

abstract class AllRoute extends Route {
  readonly children: readonly Handler[];

  constructor(children: readonly Handler[]) {
    super();
    if (children.length === 0) throw new RangeError(`${new.target.name}: no children`);
    this.children = children;
  }

  /** Send `r` to every child in order; settled answers, ready ones as values. */
  protected sendAll(r: AnyRequest): MaybePromise<Settled<AnyOutcome>>[] {
    return sendAll(this.children, r);
  }
}

function sendAll(children: readonly Handler[], r: AnyRequest): MaybePromise<Settled<AnyOutcome>>[] {
  const out = new Array<MaybePromise<Settled<AnyOutcome>>>(children.length);
  for (let i = 0; i < children.length; i++) out[i] = settle(r.send(children[i]!) as MaybePromise<AnyOutcome>);
  return out;
}

/** `r` sent to every child at once, in order; the worst answer once all answered (AllSyncRoute, and replicas' writes). */
export function allSyncOver(children: readonly Handler[], r: AnyRequest): MaybePromise<AnyOutcome> {
  const answers = all(sendAll(children, r));
  return isPromise(answers) ? answers.then((a) => worstOf(r.op, a)) : worstOf(r.op, answers);
}

// ---------------------------------------------------------------------------

export class AllSyncRoute extends AllRoute {
  readonly kind = 'AllSyncRoute';

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    return allSyncOver(this.children, r);
  }
}

// ---------------------------------------------------------------------------

export class AllAsyncRoute extends AllRoute {
  readonly kind = 'AllAsyncRoute';

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    // settle() drops each answer and failure; the copy outlives the client's answer.
    this.sendAll(detach(r));
    return defaultReply(r.op);
  }
}

/** mcrouter's default reply (`DefaultReply`): NOT_STORED for a store, not found for anything else. */
export function defaultReply(op: RouteOp): AnyOutcome {
  switch (op) {
    case 'get':
      return undefined;
    case 'store':
      return 'NOT_STORED';
    default:
      return 'NOT_FOUND';
  }
}

// ---------------------------------------------------------------------------

/**
 * Take answers as they come (ready ones first, in child order, then in the order they settle) until `take` says the
 * answer is decided; then answer `decided()`. Answers left pending are settled and dropped.
 */
function tally(
  answers: MaybePromise<Settled<AnyOutcome>>[],
  take: (s: Settled<AnyOutcome>, left: number) => boolean,
  decided: () => Settled<AnyOutcome>,
): MaybePromise<AnyOutcome> {
  // The last answer always decides, so some answer is still pending when the ready ones did not.
  let left = answers.length;
  for (const a of answers) if (!isPromise(a) && take(a, --left)) return unsettle(decided());
  return new Promise<AnyOutcome>((resolve, reject) => {
    let done = false;
    const settled = (s: Settled<AnyOutcome>): void => {
      if (done || !take(s, --left)) return;
      done = true;
      const d = decided();
      if (d.ok) resolve(d.value);
      else reject(d.error);
    };
    for (const a of answers) if (isPromise(a)) void a.then(settled);
  });
}

/** The result an answer is, as mcrouter counts results: an error by its kind, an answer by its status. */
function resultOf(s: Settled<AnyOutcome>): string {
  if (!s.ok) return failoverKind(s.error);
  const v = s.value;
  if (v === undefined) return 'NOT_FOUND';
  return typeof v === 'string' ? v : 'FOUND';
}

export class AllMajorityRoute extends AllRoute {
  readonly kind = 'AllMajorityRoute';

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    const n = this.children.length;
    const majority = (n >> 1) + 1;
    const counts = new Map<string, number>();
    let best: Settled<AnyOutcome> | undefined;
    let bestCount = 0;
    const take = (s: Settled<AnyOutcome>, left: number): boolean => {
      const k = resultOf(s);
      const c = (counts.get(k) ?? 0) + 1;
      counts.set(k, c);
      if (c > bestCount || (c === bestCount && severity(r.op, s) > severity(r.op, best!))) {
        best = s;
        bestCount = c;
      }
      return bestCount >= majority || left === 0;
    };
    return tally(this.sendAll(n > 1 ? detach(r) : r), take, () => best!);
  }
}

// ---------------------------------------------------------------------------

export class AllFastestRoute extends AllRoute {
  readonly kind = 'AllFastestRoute';

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    let last: Settled<AnyOutcome> | undefined;
    const take = (s: Settled<AnyOutcome>, left: number): boolean => {
      last = s;
      return s.ok || !DEFAULT_FAILOVER_KINDS.has(failoverKind(s.error)) || left === 0;
    };
    return tally(this.sendAll(this.children.length > 1 ? detach(r) : r), take, () => last!);
  }
}

// ---------------------------------------------------------------------------

export class AllInitialRoute extends AllRoute {
  readonly kind = 'AllInitialRoute';

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    const c = this.children;
    const first = r.send(c[0]!) as MaybePromise<AnyOutcome>;
    if (c.length > 1) {
      const rest = detach(r);
      for (let i = 1; i < c.length; i++) settle(rest.send(c[i]!) as MaybePromise<AnyOutcome>);
    }
    return first;
  }
}

// ---------------------------------------------------------------------------

/** Every child gets every command; the client gets the worst answer, once all answered. */
export function allSync(children: Handler[]): AllSyncRoute {
  return new AllSyncRoute(children);
}

/** Every child gets every command; the client gets the default reply at once. */
export function allAsync(children: Handler[]): AllAsyncRoute {
  return new AllAsyncRoute(children);
}

/** Every child gets every command; the client gets the answer most children agree on. */
export function allMajority(children: Handler[]): AllMajorityRoute {
  return new AllMajorityRoute(children);
}

/** Every child gets every command; the client gets the first answer that is not a failure. */
export function allFastest(children: Handler[]): AllFastestRoute {
  return new AllFastestRoute(children);
}

/** Every child gets every command; the client gets the first child's answer. */
export function allInitial(children: Handler[]): AllInitialRoute {
  return new AllInitialRoute(children);
}
