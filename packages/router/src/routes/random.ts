/**
 * RandomRoute, as mcrouter's: each command goes to one child chosen uniformly at random, whatever its health (put a
 * FailoverRoute under it for that); the client gets that child's answer.
 */
import type { Handler, MaybePromise } from '@cleave/protocol';
import { Route, type AnyOutcome, type AnyRequest } from './route.js';

export class RandomRoute extends Route {
  readonly kind = 'RandomRoute';
  readonly children: readonly Handler[];

  constructor(children: readonly Handler[]) {
    super();
    if (children.length === 0) throw new RangeError('RandomRoute: no children');
    this.children = children;
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    const c = this.children;
    return r.send(c[Math.floor(Math.random() * c.length)]!);
  }
}

/** A RandomRoute over `children`. */
export function random(children: Handler[]): RandomRoute {
  return new RandomRoute(children);
}
