/**
 * The item object the handler answers with (`ItemView`): one class, so
 * every answer has the same shape and readers' property loads stay
 * monomorphic.
 */
import type { ItemView } from '@cleave/protocol';

/**
 * An item as the handler hands it out: a snapshot taken at the time of the
 * call, with its own copies of the key and value (or, for items stored
 * outside the slabs, Buffers that are never written again). Nothing in it
 * changes afterwards, whatever happens to the stored item.
 */
export class Item implements ItemView {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    readonly flags: number,
    readonly cas: bigint,
    readonly exptime: number,
    readonly lastAccess: number,
    readonly fetched: boolean,
    readonly stale: boolean,
    readonly win: boolean,
    readonly tokenSent: boolean,
    /** Stored through meta with a base64 (`b`) key. */
    readonly keyBinary: boolean,
    /** The exptime before this request changed it (gat, meta T); undefined when unchanged. */
    readonly previousExptime: number | undefined,
    /** This request created the item (meta N, a counter from `initial`). */
    readonly created: boolean,
  ) {}
}
