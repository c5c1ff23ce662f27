// ChunkedHandler: a Handler over any Handler that stores values larger than the inner store's item limit as chunk
// items plus a metadata item. This file is the Handler face: per-key call order and flush_all, and the statistics;
// reads.ts and writes.ts do the commands, versions.ts the chunks, header.ts and marker.ts the layout.
import { KeyLanes, andThen, isPromise } from '@cleave/core';
import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { ChunkedCounters } from './counters.js';
import { withoutChunkItems } from './dump.js';
import { ChunkedSettings, type ChunkedHandlerOptions } from './options.js';
import { ChunkedReads } from './reads.js';
import { Versions } from './versions.js';
import { ChunkedWrites } from './writes.js';

/**
 * A Handler decorator that stores values larger than the inner store's item
 * limit as chunks plus a metadata item, with versioned chunk keys: readers
 * racing a writer get the old or the new value, never a torn one or a miss,
 * and a failed write never becomes visible.
 *
 * Layout in the inner store (see the package README for the full story):
 *
 * - A value of at most one chunk is stored as a plain item under the client's
 *   key, exactly as memcached would store it (client flags, value bytes), so
 *   small values cost nothing and incr/decr/append/prepend keep memcached's
 *   own semantics. The one exception: a small value that happens to begin
 *   with the 3-byte marker is stored escaped (marker.ts) so it can never be
 *   mistaken for a chunked item's metadata.
 * - A larger value is split into chunk items under keys that carry a random
 *   64-bit version token, and the client's key holds a 32-byte metadata item
 *   that names that version (header.ts). Writers store all chunks first and
 *   only then switch the metadata (CAS), so a reader never sees a partial value.
 *
 * Within one ChunkedHandler, commands on a key take effect in the order they
 * were received (a pipelined get after a set sees the set). Races between
 * writers and readers come from other processes sharing the same store (or
 * other ChunkedHandlers over it); the version tokens and CAS switches make
 * those safe too. Instances share nothing: each tier of a composition (an L1
 * and an L2 over two backends) gets its own.
 */
export class ChunkedHandler implements Handler {
  readonly inner: Handler;
  /**
   * Largest item a client can store through this handler, counted as
   * memcached counts `-I`; `stats settings` reports it as `item_size_max`.
   * A server in front must allow it too (its `maxItemSize` limit).
   */
  readonly maxItemSize: number;
  readonly maxKeyLength: number;
  readonly chunkItemSize: number;

  private readonly settings: ChunkedSettings;
  private readonly counters = new ChunkedCounters();
  private readonly versions: Versions;
  private readonly reads: ChunkedReads;
  private readonly writes: ChunkedWrites;
  /** Per-key call order, and flush_all as a barrier. */
  private readonly lanes = new KeyLanes();

  constructor(inner: Handler, options: ChunkedHandlerOptions = {}) {
    this.inner = inner;
    const settings = new ChunkedSettings(options);
    this.settings = settings;
    this.maxItemSize = settings.maxItemSize;
    this.maxKeyLength = settings.maxKeyLength;
    this.chunkItemSize = settings.chunkItemSize;
    this.versions = new Versions(inner, settings, this.counters);
    this.reads = new ChunkedReads(this.versions);
    this.writes = new ChunkedWrites(this.versions, this.reads);
  }

  /**
   * The inner store keeps the CAS unique a store gives in `newCas` (meta E):
   * the item under the client's key, metadata included, is always stored
   * with the client's command's `newCas`.
   */
  get keepsNewCas(): boolean | undefined {
    return this.inner.keepsNewCas;
  }

  /**
   * Value bytes per chunk for a key: the fixed `chunkSize`, or what fills a
   * `chunkItemSize` memcached item once the chunk key and item overhead are
   * counted (chunk items carry flags 0, so no 4-byte flags field).
   */
  chunkSizeFor(keyLength: number): number {
    return this.settings.chunkSizeFor(keyLength);
  }

  /** Resolves once background deletions of replaced and orphaned chunks have finished. */
  idle(): Promise<void> {
    return this.versions.idle();
  }

  // Reads wait only for the writes before them on their key: reads between two writes run together.

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const lanes = this.lanes;
    if (!lanes.idle) return lanes.read(cmd.key, () => this.reads.get(cmd));
    // Nothing in progress: no closure, and a synchronous answer costs nothing more.
    const r = this.reads.get(cmd);
    if (isPromise(r)) lanes.track(cmd.key, r, true);
    return r;
  }

  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const lanes = this.lanes;
    if (!lanes.idle) return lanes.readMany(cmds, () => this.reads.getMany(cmds));
    const r = this.reads.getMany(cmds);
    if (isPromise(r)) for (const c of cmds) lanes.track(c.key, r, true);
    return r;
  }

  // A write waits for every command before it on its key.

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.lanes.run(cmd.key, () => this.writes.store(cmd));
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.lanes.run(cmd.key, () => this.writes.delete(cmd));
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.lanes.run(cmd.key, () => this.writes.touch(cmd));
  }

  /**
   * Counters are small values stored as plain items, so incr/decr run in the
   * inner store with memcached's exact rules. On a chunked value they answer
   * NON_NUMERIC (the metadata starts with 0xC7), as memcached does for any
   * item over slab_chunk_max.
   */
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.lanes.run(cmd.key, () => this.inner.arithmetic(cmd));
  }

  /**
   * flush_all applies after every command issued before it and before every
   * command issued after it: it waits for the commands in progress, and
   * holds new ones until it is done.
   */
  flush(delay: number): MaybePromise<void> {
    return this.lanes.barrier(() => this.inner.flush(delay));
  }

  /** The chunked counters alone, synchronously (what `stats` adds to the inner store's figures). */
  ownStats(): StatsGroup {
    return this.counters.stats();
  }

  /** The inner store's statistics, with the chunked counters (`stats`) and settings (`stats settings`) added. */
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    return andThen(this.inner.stats?.(group), (s) => {
      if (group === 'reset') {
        this.counters.reset();
        return s ?? {};
      }
      if (group === 'settings') return { ...s, ...this.settings.stats() };
      if (group !== '') return s;
      return { ...s, ...this.counters.stats() };
    });
  }

  /**
   * memcached's admin commands go to the inner store; a dump's lines for chunk
   * items are left out, so it lists the client's keys (a chunked value's
   * metadata item, with its size) and reading each back gives whole values.
   */
  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    const inner = this.inner;
    if (inner.admin === undefined) return undefined;
    return andThen(inner.admin(cmd), (r) => (r === undefined ? r : withoutChunkItems(r)));
  }

  async close(): Promise<void> {
    await this.idle();
    await this.inner.close();
  }
}

/** `chunked(inner, options)`: wrap a handler so it stores values of any size up to `maxItemSize`. */
export function chunked(inner: Handler, options?: ChunkedHandlerOptions): ChunkedHandler {
  return new ChunkedHandler(inner, options);
}
