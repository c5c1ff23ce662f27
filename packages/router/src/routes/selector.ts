/**
 * mcrouter's selectors: PrefixSelectorRoute picks a route by the key's longest matching prefix (matched against the
 * routing key: without a `/region/cluster/` prefix), else its wildcard; OperationSelectorRoute picks one by the
 * command's operation (`operationOf`), else its default. Commands without a key (flush_all, stats, ...) follow the
 * Route defaults: every distinct child.
 */
import { HandlerError, type Handler, type MaybePromise } from '@cleave/protocol';
import { MC_OPERATIONS, Route, operationOf, type AnyOutcome, type AnyRequest, type McOperation } from './route.js';
import { routingKeyEnd, routingKeyStart } from '../hashkit/routing-key.js';

export class PrefixSelectorRoute extends Route {
  readonly kind = 'PrefixSelectorRoute';
  readonly children: readonly Handler[];
  /** Prefixes, longest first, so the first that matches is the longest. */
  private readonly prefixes: readonly { readonly prefix: Buffer; readonly handler: Handler }[];

  constructor(
    policies: Readonly<Record<string, Handler>>,
    readonly wildcard?: Handler,
  ) {
    super();
    const entries = Object.entries(policies);
    if (entries.length === 0 && wildcard === undefined) throw new TypeError('prefixSelector: no policies and no wildcard');
    this.prefixes = entries
      .map(([prefix, handler]) => ({ prefix: Buffer.from(prefix), handler }))
      .sort((a, b) => b.prefix.length - a.prefix.length || Buffer.compare(a.prefix, b.prefix));
    this.children = [...(wildcard === undefined ? [] : [wildcard]), ...this.prefixes.map((p) => p.handler)];
  }

  /** The route for `key`: its longest matching prefix's, else the wildcard (undefined: none). */
  select(key: Buffer): Handler | undefined {
    const start = routingKeyStart(key);
    const len = routingKeyEnd(key, start) - start;
    for (const p of this.prefixes) {
      const n = p.prefix.length;
      if (n <= len && key.compare(p.prefix, 0, n, start, start + n) === 0) return p.handler;
    }
    return this.wildcard;
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    const h = this.select(r.key);
    if (h === undefined) throw new HandlerError('no route for this key: no prefix matches and there is no wildcard');
    return r.send(h);
  }
}

export class OperationSelectorRoute extends Route {
  readonly kind = 'OperationSelectorRoute';
  readonly children: readonly Handler[];
  private readonly byOp: Partial<Readonly<Record<McOperation, Handler>>>;

  constructor(
    policies: Partial<Readonly<Record<McOperation, Handler>>>,
    readonly defaultRoute: Handler,
  ) {
    super();
    const byOp: Partial<Record<McOperation, Handler>> = {};
    for (const [op, h] of Object.entries(policies)) {
      if (!(MC_OPERATIONS as readonly string[]).includes(op))
        throw new TypeError(`operationSelector: unknown operation ${op}, valid operations: ${MC_OPERATIONS.join(', ')}`);
      if (h !== undefined) byOp[op as McOperation] = h;
    }
    this.byOp = byOp;
    this.children = [defaultRoute, ...Object.values(byOp)];
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    return r.send(this.byOp[operationOf(r)] ?? this.defaultRoute);
  }
}

/** mcrouter's PrefixSelectorRoute: the longest key prefix in `policies` picks the route, else `wildcard`. */
export function prefixSelector(policies: Readonly<Record<string, Handler>>, wildcard?: Handler): PrefixSelectorRoute {
  return new PrefixSelectorRoute(policies, wildcard);
}

/** mcrouter's OperationSelectorRoute: `policies[operationOf(command)]`, else `defaultRoute`. */
export function operationSelector(
  policies: Partial<Readonly<Record<McOperation, Handler>>>,
  defaultRoute: Handler,
): OperationSelectorRoute {
  return new OperationSelectorRoute(policies, defaultRoute);
}
