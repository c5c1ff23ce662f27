/**
 * A ready-made `ItemView`: one class with every field, set in the same order,
 * for handlers that answer with items (the in-memory store, the memcached
 * backend). Every answer then has one hidden class, so the encoders'
 * property loads stay monomorphic whichever handler made it.
 */
import type { ItemView } from './model.js';

export class Item implements ItemView {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    readonly flags: number,
    readonly cas: bigint,
    readonly exptime: number,
    readonly lastAccess: number | undefined,
    readonly fetched: boolean | undefined,
    readonly stale: boolean | undefined,
    readonly win: boolean | undefined,
    readonly tokenSent: boolean | undefined,
    /** Stored through meta with a base64 (`b`) key. */
    readonly keyBinary: boolean | undefined,
    /** The exptime before this request changed it (gat, meta T); undefined when unchanged. */
    readonly previousExptime: number | undefined,
    /** This request created the item (meta N, a counter from `initial`). */
    readonly created: boolean | undefined,
  ) {}
}

/** The same item, with the reply facts of the request that made it (meta `t` before `T`, `ma N`'s creation). */
export function withReplyFacts(it: Item, previousExptime: number | undefined, created: boolean): Item {
  return new Item(
    it.key,
    it.value,
    it.flags,
    it.cas,
    it.exptime,
    it.lastAccess,
    it.fetched,
    it.stale,
    it.win,
    it.tokenSent,
    it.keyBinary,
    previousExptime,
    created,
  );
}
