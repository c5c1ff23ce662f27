/**
 * mcrouter's WarmUpRoute: a new ("cold") pool filled from the old ("warm") one as clients read, so growing or
 * replacing a pool does not send every key back to the database.
 *
 * - get: cold; on anything but a hit, warm, whose answer the client gets. A warm hit is copied into cold with `add`
 *   (never over a newer write) in the background: its failure never reaches the client.
 * - gets / gats / gat (the reply needs cold's CAS, or the fetch changes the TTL): cold; on anything but a hit, a plain
 *   get from warm; a warm hit is added to cold first, then the client's command goes to cold again, whose answer the
 *   client gets. Without a warm hit the client gets cold's first answer.
 * - Every other command (stores, deletes, incr/decr, touch) goes to cold only: warm is the client's to keep.
 *
 * The copy's TTL is `exptime` when given (mcrouter's `exptime` field), else what warm's item has left; an item that
 * expires within the second is not copied. A gat's copy takes the gat's own exptime, as mcrouter's does.
 */
import {
  remainingExptime,
  type GetCommand,
  type Handler,
  type ItemView,
  type MaybePromise,
  type StoreCommand,
  type StatsGroup,
} from '@cleave/protocol';
import { andThen, attempt, call, isPromise } from '@cleave/core';
import { Route, isHit, operationOf, settle, unsettle, type AnyOutcome, type AnyRequest, type RouteRequest, type Settled } from './route.js';

export interface WarmUpOptions {
  /** The copy's exptime (wire form) instead of warm's remaining TTL. */
  exptime?: number;
}

export class WarmUpRoute extends Route {
  readonly kind = 'WarmUpRoute';
  readonly children: readonly Handler[];
  /** Warm hits copied into cold (sent; cold may still refuse them as NOT_STORED). */
  copies = 0;
  /** Copies whose `add` failed with an error. */
  copyErrors = 0;

  constructor(
    readonly cold: Handler,
    readonly warm: Handler,
    readonly opts: WarmUpOptions = {},
  ) {
    super();
    if (opts.exptime !== undefined && !Number.isInteger(opts.exptime))
      throw new TypeError(`warmUp: exptime must be an integer, not ${String(opts.exptime)}`);
    this.children = [cold, warm];
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    if (r.op !== 'get') return r.send(this.cold);
    const first = settle(r.send(this.cold));
    return isPromise(first) ? first.then((s) => this.afterCold(r, s)) : this.afterCold(r, first);
  }

  private afterCold(r: RouteRequest<'get'>, cold: Settled<ItemView | undefined>): MaybePromise<ItemView | undefined> {
    if (isHit(cold)) return unsettle(cold);
    const op = operationOf(r);
    if (op === 'get') {
      return andThen(r.send(this.warm), (item) => {
        if (item !== undefined) {
          const exptime = this.copyExptime(item);
          // Sent now (the key is copied: the client's Buffer goes back to the connection once answered).
          if (exptime !== undefined) void this.add(Buffer.from(r.key), r.cmd.keyBinary, item, exptime);
        }
        return item;
      });
    }
    // gets, gat, gats: cold answers, so the CAS and the new TTL are cold's.
    const plain: GetCommand = r.cmd.keyBinary === true ? { key: r.key, keyBinary: true } : { key: r.key };
    const fromWarm = settle(call(() => this.warm.get(plain)));
    return andThen(fromWarm, (w) => {
      if (!isHit(w)) return unsettle(cold);
      const item = (w as { value: ItemView }).value;
      const exptime = op === 'gets' ? this.copyExptime(item) : r.cmd.touch;
      if (exptime === undefined) return unsettle(cold);
      return andThen(settle(this.add(r.key, r.cmd.keyBinary, item, exptime)), () => r.send(this.cold));
    });
  }

  /** The wire exptime a copy of `item` gets, or undefined when it is about to expire. */
  private copyExptime(item: ItemView): number | undefined {
    if (this.opts.exptime !== undefined) return this.opts.exptime;
    return remainingExptime(item.exptime, Math.floor(Date.now() / 1000));
  }

  private add(key: Buffer, keyBinary: boolean | undefined, item: ItemView, exptime: number): MaybePromise<unknown> {
    this.copies++;
    const cmd: StoreCommand =
      keyBinary === true
        ? { key, keyBinary, mode: 'add', value: item.value, flags: item.flags, exptime }
        : { key, mode: 'add', value: item.value, flags: item.flags, exptime };
    return attempt(
      () => this.cold.store(cmd),
      () => {
        this.copyErrors++;
        return undefined;
      },
    );
  }

  override stats(group: string): MaybePromise<StatsGroup | undefined> {
    const base = super.stats(group);
    if (group !== '') return base;
    return andThen(base, (st) => ({ ...st, warmup_copies: this.copies, warmup_copy_errors: this.copyErrors }));
  }
}

/** mcrouter's WarmUpRoute over `cold` (the pool being filled) and `warm` (the one it is filled from). */
export function warmUp(cold: Handler, warm: Handler, opts?: WarmUpOptions): WarmUpRoute {
  return new WarmUpRoute(cold, warm, opts);
}
