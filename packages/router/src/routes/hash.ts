/**
 * mcrouter's HashRoute: each key goes to one child, picked by hashing the key as mcrouter does (`hash`: Ch3 by
 * default, WeightedCh3 with `weights`, Crc32, ConstShard; `salt` appended to the key first; only the key up to a
 * "|#|" hash stop is hashed). The child's answer, error included, is the answer: failing over is FailoverRoute's job.
 *
 *     hashRoute([poolA, poolB, poolC], { hash: 'WeightedCh3', weights: [1, 1, 0.5], salt: 'eu' })
 */
import type { Handler, MaybePromise } from '@cleave/protocol';
import { McrouterHash } from '../hashkit/mcrouter.js';
import type { McHashName } from '../types.js';
import { Route, serves, type AnyOutcome, type AnyRequest } from './route.js';

export interface HashRouteOptions {
  /** mcrouter's `hash_func` (default 'Ch3'). */
  readonly hash?: McHashName;
  /** Appended to each key before hashing (mcrouter's `salt`). */
  readonly salt?: string;
  /** WeightedCh3's weights in [0, 1], one a child (mcrouter's rule: extra ones unread, missing ones 0.5). */
  readonly weights?: readonly number[];
}

export class HashRoute extends Route {
  readonly kind = 'HashRoute';
  readonly children: readonly Handler[];
  /** How a key picks its child. */
  readonly selector: McrouterHash;

  constructor(children: readonly Handler[], options: HashRouteOptions = {}) {
    super();
    if (!Array.isArray(children) || children.length === 0) throw new TypeError('HashRoute: needs at least one child');
    children.forEach((c, i) => {
      if (c === null || typeof c !== 'object') throw new TypeError(`HashRoute: child ${i} is not a Handler`);
    });
    this.children = Object.freeze([...children]);
    this.selector = new McrouterHash(options.hash ?? 'Ch3', children.length, { salt: options.salt, weights: options.weights });
  }

  /** The child `key` goes to. */
  childFor(key: Buffer): Handler {
    return this.children[this.selector.select(key)]!;
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    return r.send(this.childFor(r.key));
  }

  /** Whether the key's own child serves it (no other child would be asked). */
  override serves(key: Buffer): boolean {
    return serves(this.childFor(key), key);
  }
}

/** mcrouter's HashRoute over `children`. */
export function hashRoute(children: readonly Handler[], options?: HashRouteOptions): HashRoute {
  return new HashRoute(children, options);
}
