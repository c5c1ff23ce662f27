// Fetches through a ChunkedHandler: the item under the client's key as the client sees it, its value assembled
// from the chunks its metadata names, with a re-read of the metadata when a concurrent write replaced the version
// being read (a reader never sees a torn value, nor a miss because of a write).
import { all, andThen, isPromise } from '@cleave/core';
import type { GetCommand, ItemView, MaybePromise } from '@cleave/protocol';
import { readRetriesExhausted } from './errors.js';
import { chunkExptime, chunkKeysOf, parseChunkedHeader, sameVersion, type ChunkedHeader } from './header.js';
import { hasMarker, unescape, viewOf } from './marker.js';
import type { Versions } from './versions.js';

/** Why a chunk fetch could not assemble the value. */
const MISSING = Symbol('missing');

export class ChunkedReads {
  constructor(private readonly versions: Versions) {}

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const r = this.versions.inner.get(cmd);
    // A plain item from a synchronous store comes back as is: no closure, no Promise.
    return isPromise(r) ? r.then((it) => this.resolve(cmd, it)) : this.resolve(cmd, r);
  }

  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    return andThen(this.fetchItems(cmds), (items) => {
      let pending: number[] | undefined;
      const out = items.slice();
      for (let i = 0; i < out.length; i++) {
        const it = out[i];
        if (it === undefined || !hasMarker(it.value)) continue;
        const h = parseChunkedHeader(it.value);
        if (h !== undefined) (pending ??= []).push(i);
        else out[i] = unescape(it);
      }
      if (pending === undefined) return out;
      return this.assembleMany(cmds, out, pending);
    });
  }

  /** The client's view of an item the inner store returned under the client's key. */
  private resolve(cmd: GetCommand, it: ItemView | undefined): MaybePromise<ItemView | undefined> {
    if (it === undefined || !hasMarker(it.value)) return it;
    const h = parseChunkedHeader(it.value);
    if (h === undefined) return unescape(it);
    return this.assemble(cmd, it, h, undefined);
  }

  /** The fetches of a version's chunks, touched and bumped as the client's fetch asks. */
  private chunkGets(key: Buffer, h: ChunkedHeader, cmd: GetCommand): GetCommand[] {
    const keys = chunkKeysOf(key, h);
    const touch = cmd.touch === undefined ? undefined : chunkExptime(cmd.touch);
    const noBump = cmd.noBump;
    const out: GetCommand[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) {
      out[i] = touch === undefined && noBump === undefined ? { key: keys[i]! } : { key: keys[i]!, touch, noBump };
    }
    return out;
  }

  /** One inner multi-get (one get per key when the inner store has no getMany). */
  private fetchItems(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const inner = this.versions.inner;
    return inner.getMany ? inner.getMany(cmds) : all(cmds.map((c) => inner.get(c)));
  }

  /** One value from its chunks (items[from..from+h.chunks)), copied once into a buffer of its length; MISSING if any is gone. */
  private join(h: ChunkedHeader, items: readonly (ItemView | undefined)[], from: number): Buffer | typeof MISSING {
    const n = h.chunks;
    const cs = h.chunkSize;
    const last = h.length - cs * (n - 1);
    for (let i = 0; i < n; i++) {
      const c = items[from + i];
      // A chunk of the wrong length belongs to no version of ours: treat it as gone.
      if (c === undefined || c.value.length !== (i === n - 1 ? last : cs)) return MISSING;
    }
    const value = Buffer.allocUnsafe(h.length);
    for (let i = 0; i < n; i++) items[from + i]!.value.copy(value, i * cs);
    const counters = this.versions.counters;
    counters.chunkReads += n;
    counters.fetchesChunked++;
    return value;
  }

  private async assembleMany(
    cmds: readonly GetCommand[],
    out: (ItemView | undefined)[],
    pending: number[],
  ): Promise<(ItemView | undefined)[]> {
    // One inner multi-get fetches the chunks of every chunked value asked for.
    const headers: ChunkedHeader[] = [];
    const gets: GetCommand[] = [];
    for (const i of pending) {
      const h = parseChunkedHeader(out[i]!.value)!;
      headers.push(h);
      for (const g of this.chunkGets(out[i]!.key, h, cmds[i]!)) gets.push(g);
    }
    const items = await this.fetchItems(gets);
    let from = 0;
    const retries: Promise<void>[] = [];
    for (let j = 0; j < pending.length; j++) {
      const i = pending[j]!;
      const h = headers[j]!;
      const meta = out[i]!;
      const value = this.join(h, items, from);
      from += h.chunks;
      if (value !== MISSING) out[i] = viewOf(meta, value, h.flags);
      else retries.push(this.assemble(cmds[i]!, meta, h, MISSING).then((v) => void (out[i] = v)));
    }
    if (retries.length > 0) await Promise.all(retries);
    return out;
  }

  /**
   * Fetch the chunks of the version `meta` names. When one is gone, a writer
   * has replaced (and deleted) that version, or the chunk was evicted: the
   * metadata is read again and the fetch retried on the version it names now.
   * The same version twice means its chunks are lost: a miss, cleaned up.
   * `first` is MISSING when the caller already found a chunk missing.
   */
  async assemble(cmd: GetCommand, meta: ItemView, header: ChunkedHeader, first: typeof MISSING | undefined): Promise<ItemView | undefined> {
    const versions = this.versions;
    let m = meta;
    let h = header;
    let skipFetch = first === MISSING;
    // The key outlives this request only as a copy (the request's key is a view into a read buffer).
    const key = Buffer.from(m.key);
    // The re-read answers the client when the key no longer holds a chunked value: it asks for what the client's fetch asked.
    const reread: GetCommand = { key, touch: cmd.touch, noBump: cmd.noBump, keyBinary: cmd.keyBinary, want: cmd.want };
    for (let attempt = 0; ; attempt++) {
      if (!skipFetch) {
        const items = await this.fetchItems(this.chunkGets(key, h, cmd));
        const value = this.join(h, items, 0);
        if (value !== MISSING) return viewOf(m, value, h.flags);
      }
      skipFetch = false;
      if (attempt >= versions.settings.maxReadRetries) {
        throw readRetriesExhausted();
      }
      const again = await versions.inner.get(reread);
      if (again === undefined) return undefined;
      if (!hasMarker(again.value)) return again;
      const h2 = parseChunkedHeader(again.value);
      if (h2 === undefined) return unescape(again);
      if (sameVersion(h2, h)) {
        // Still this version, so no writer deleted the chunk: it was evicted or
        // expired. The value is gone; remove its metadata unless it changed.
        versions.dropLost(key, h2, again.cas);
        return undefined;
      }
      versions.counters.readRetries++;
      m = again;
      h = h2;
    }
  }
}
