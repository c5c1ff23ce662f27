/**
 * FailoverRoute, as mcrouter's FailoverRoute with its default in-order policy: a command goes to the first child;
 * when it fails with an error whose kind is a failover kind, it goes to the next child, and so on. The client gets
 * the first answer that is not such an error (a miss or NOT_STORED is an answer: no failover), else the last error.
 *
 * - Every command fails over alike, writes and deletes included (mcrouter's rule): a set whose first child failed
 *   is stored on the next one.
 * - `failoverErrors` is mcrouter's `failover_errors`: one list for every command, or one per class (`gets`: get and
 *   gat; `updates`: the stores; `deletes`). As in mcrouter, incr, decr and touch always fail over on the default
 *   kinds (every kind but `client_error`), whatever the list.
 * - `failoverLimit` is mcrouter's `failover_policy.max_tries`: at most this many children answer with an error
 *   before the route gives up. A child that is out of service or cannot be connected to (`tko`, `connect_error`,
 *   `connect_timeout`) did no work and is not counted, as in mcrouter.
 * - A child that does not serve the key now (a pool whose server for it is out of service: mcrouter's TKO) is
 *   skipped without sending, when `tko` is a failover kind; the last child is always asked, so the client gets its
 *   error when every child is out.
 */
import type { Handler, MaybePromise } from '@cleave/protocol';
import { isPromise } from '@cleave/core';
import { DEFAULT_FAILOVER_KINDS, failoverKind, Route, serves, type AnyOutcome, type AnyRequest, type FailoverKind } from './route.js';

/** mcrouter's `failover_errors`: one list for every command, or a list per class of command. */
export type FailoverErrors =
  | readonly FailoverKind[]
  | { readonly gets?: readonly FailoverKind[]; readonly updates?: readonly FailoverKind[]; readonly deletes?: readonly FailoverKind[] };

export interface FailoverOptions {
  /** The error kinds that move a command to the next child (default: every kind but `client_error`). */
  failoverErrors?: FailoverErrors;
  /** At most this many children answer with an error (mcrouter's `max_tries`; default: all of them). */
  failoverLimit?: number;
}

/** Kinds that mean the child did no work: they do not count against `failoverLimit`. */
const NOT_TRIED: ReadonlySet<FailoverKind> = new Set<FailoverKind>(['tko', 'connect_error', 'connect_timeout']);

export class FailoverRoute extends Route {
  readonly kind: string = 'FailoverRoute';
  readonly children: readonly Handler[];
  /** The children a command may go to, in failover order. */
  protected readonly targets: readonly Handler[];
  private readonly gets: ReadonlySet<FailoverKind>;
  private readonly updates: ReadonlySet<FailoverKind>;
  private readonly deletes: ReadonlySet<FailoverKind>;
  private readonly limit: number;

  /** `targets` (default: every child) are the children commands go to, in order. */
  constructor(children: readonly Handler[], opts: FailoverOptions = {}, targets: readonly Handler[] = children) {
    super();
    if (targets.length === 0) throw new RangeError('FailoverRoute: no children');
    this.children = children;
    this.targets = targets;
    const errors = opts.failoverErrors;
    if (errors === undefined || isKindList(errors)) {
      const kinds = errors === undefined ? DEFAULT_FAILOVER_KINDS : new Set(errors);
      this.gets = this.updates = this.deletes = kinds;
    } else {
      this.gets = errors.gets === undefined ? DEFAULT_FAILOVER_KINDS : new Set(errors.gets);
      this.updates = errors.updates === undefined ? DEFAULT_FAILOVER_KINDS : new Set(errors.updates);
      this.deletes = errors.deletes === undefined ? DEFAULT_FAILOVER_KINDS : new Set(errors.deletes);
    }
    const limit = opts.failoverLimit ?? targets.length;
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`FailoverRoute: failoverLimit must be a positive integer, got ${limit}`);
    this.limit = Math.min(limit, targets.length);
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    return this.from(r, 0, 0);
  }

  override serves(key: Buffer): boolean {
    return this.targets.some((c) => serves(c, key));
  }

  /** The failover kinds for this command's class. */
  private kindsFor(r: AnyRequest): ReadonlySet<FailoverKind> {
    switch (r.op) {
      case 'get':
        return this.gets;
      case 'store':
        return this.updates;
      case 'delete':
        return this.deletes;
      default:
        return DEFAULT_FAILOVER_KINDS;
    }
  }

  /** Send to the first child from `i` on that serves the key; `tries` children have answered with an error so far. */
  private from(r: AnyRequest, i: number, tries: number): MaybePromise<AnyOutcome> {
    const t = this.targets;
    const last = t.length - 1;
    if (i < last && this.kindsFor(r).has('tko')) while (i < last && !serves(t[i]!, r.key)) i++;
    const out: MaybePromise<AnyOutcome> = r.send(t[i]!);
    // A ready value is an answer: failures come back as rejected Promises.
    if (i === last || !isPromise(out)) return out;
    return out.then(undefined, (err: unknown) => this.failed(r, i, tries, err));
  }

  private failed(r: AnyRequest, i: number, tries: number, err: unknown): MaybePromise<AnyOutcome> {
    const kind = failoverKind(err);
    if (!this.kindsFor(r).has(kind)) throw err;
    if (!NOT_TRIED.has(kind) && ++tries >= this.limit) throw err;
    return this.from(r, i + 1, tries);
  }
}

function isKindList(e: FailoverErrors): e is readonly FailoverKind[] {
  return Array.isArray(e);
}

/** A FailoverRoute over `children`, in order. */
export function failover(children: Handler[], opts?: FailoverOptions): FailoverRoute {
  return new FailoverRoute(children, opts);
}
