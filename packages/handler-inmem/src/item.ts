import type { ItemView } from '@cleave/protocol';

/**
 * One stored item. The object doubles as the `ItemView` handed to encoders,
 * so the view fields are never written after construction: any change
 * (fetch marker, LRU bump time, exptime, stale/token state, value) builds a
 * new Item that takes the old one's place in the hash table and the LRU.
 * Only `prev`/`next` (LRU links, which encoders never read) are mutable.
 */
export class Item implements ItemView {
  /** LRU neighbour towards the head (more recently used). */
  prev: Item | null = null;
  /** LRU neighbour towards the tail (less recently used). */
  next: Item | null = null;

  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    readonly flags: number,
    readonly cas: bigint,
    readonly exptime: number,
    /** memcached's `it->time`: set on store, refreshed by an LRU bump. */
    readonly lastAccess: number,
    readonly fetched: boolean,
    readonly stale: boolean,
    readonly win: boolean,
    readonly tokenSent: boolean,
    /** The key as a Latin-1 string: the hash table key. */
    readonly keyStr: string,
    /** Bytes this item is charged against the memory limit. */
    readonly size: number,
  ) {}
}
