// The versions of a key's value in the inner store: what a write puts under the client's key (the value itself, an
// escaped value, or metadata naming chunks written first under a fresh random token), and the life of those chunks:
// written before anything names them, deleted in the background once no metadata names them any more.
import { randomFillSync } from 'node:crypto';
import { all, andThen, call, isPromise } from '@cleave/core';
import { HandlerError } from '@cleave/protocol';
import type { DeleteOutcome, Handler, ItemView, MaybePromise, StoreCommand, StoreFailure, StoreOutcome } from '@cleave/protocol';
import type { ChunkedCounters } from './counters.js';
import { chunkWriteFailed } from './errors.js';
import { chunkExptime, chunkKeysOf, encodeChunkedHeader, hashesKey, headerOf, sameVersion, type ChunkedHeader } from './header.js';
import { escape, hasMarker, viewOf } from './marker.js';
import type { ChunkedSettings } from './options.js';

/** What a write puts under the client's key, and the chunks it wrote first (if any). */
export interface Version {
  /** Value of the item under the client's key: the client's value, escaped value, or metadata. */
  readonly inner: Buffer;
  /** Inner flags: the client's for a plain or escaped value, 0 for metadata. */
  readonly innerFlags: number;
  readonly clientValue: Buffer;
  readonly clientFlags: number;
  readonly header?: ChunkedHeader;
  readonly chunkKeys?: Buffer[];
  /** Its chunks have been handed to deletion. */
  abandoned?: boolean;
}

/** A value that fits one chunk: stored under the client's key as is (escaped when it begins with the marker). */
export function smallVersion(value: Buffer, flags: number): Version {
  return { inner: hasMarker(value) ? escape(value) : value, innerFlags: flags, clientValue: value, clientFlags: flags };
}

/** The client's view of a stored version: the inner store's answer, with the client's value and flags when they differ. */
export function storedView(v: Version, stored: ItemView): ItemView {
  return v.inner === v.clientValue ? stored : viewOf(stored, v.clientValue, v.clientFlags);
}

function noop(): void {}

/** Writes and retires versions in one inner store, and keeps the background deletions they start. */
export class Versions {
  private readonly background = new Set<Promise<void>>();
  private tokenPool = Buffer.alloc(0);
  private tokenAt = 0;

  constructor(
    readonly inner: Handler,
    readonly settings: ChunkedSettings,
    readonly counters: ChunkedCounters,
  ) {}

  /** Resolves once background deletions of replaced and orphaned chunks have finished. */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Read the item under a key for bookkeeping, without bumping it. */
  readMeta(key: Buffer): MaybePromise<ItemView | undefined> {
    return this.inner.get({ key, noBump: true });
  }

  /** A fresh random version token (64 bits from a pooled CSPRNG draw). */
  private token(): [number, number] {
    if (this.tokenAt + 8 > this.tokenPool.length) {
      this.tokenPool = randomFillSync(Buffer.allocUnsafe(4096));
      this.tokenAt = 0;
    }
    const p = this.tokenPool;
    const at = this.tokenAt;
    this.tokenAt += 8;
    return [p.readUInt32BE(at), p.readUInt32BE(at + 4)];
  }

  /**
   * Store every chunk of `value` under a new version. On any failure the
   * chunks are deleted (after every write settled) and the write answers an
   * error; nothing points at them yet, so no reader ever sees them.
   */
  async writeChunks(key: Buffer, value: Buffer, flags: number, exptime: number): Promise<Version | StoreFailure> {
    const cs = this.settings.chunkSizeFor(key.length);
    const n = Math.ceil(value.length / cs);
    const [tokenHi, tokenLo] = this.token();
    const header: ChunkedHeader = {
      hashed: hashesKey(key.length, this.settings.maxKeyLength),
      flags,
      length: value.length,
      chunkSize: cs,
      chunks: n,
      tokenHi,
      tokenLo,
    };
    const keys = chunkKeysOf(key, header);
    const e = chunkExptime(exptime);
    const writes: Promise<StoreOutcome>[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const cmd: StoreCommand = {
        mode: 'set',
        key: keys[i]!,
        value: value.subarray(i * cs, Math.min(value.length, (i + 1) * cs)),
        flags: 0,
        exptime: e,
      };
      writes[i] = Promise.resolve(call(() => this.inner.store(cmd)));
    }
    const results = await Promise.allSettled(writes);
    this.counters.chunkWrites += n;
    let failure: StoreFailure | undefined;
    let error: unknown;
    for (const r of results) {
      if (r.status === 'rejected') error ??= r.reason;
      else if (typeof r.value === 'string') failure ??= r.value;
    }
    if (error === undefined && failure === undefined) {
      return { inner: encodeChunkedHeader(header), innerFlags: 0, clientValue: value, clientFlags: flags, header, chunkKeys: keys };
    }
    this.counters.writeErrors++;
    this.deleteChunks(keys, true);
    if (error instanceof HandlerError) throw error;
    // memcached's own wording for a store it has no memory for.
    if (error === undefined && failure === 'OUT_OF_MEMORY') return 'OUT_OF_MEMORY';
    throw chunkWriteFailed(error, failure);
  }

  /**
   * Run the metadata switch of a version that has chunks. If it throws, the
   * switch may or may not have landed (a lost connection): the key is read
   * again, and the chunks are deleted only when it does not name them.
   */
  switching<T>(key: Buffer, v: Version, run: () => MaybePromise<T>): MaybePromise<T> {
    const p = call(run);
    if (!isPromise(p)) return p;
    return p.catch((err: unknown) => {
      const k = Buffer.from(key);
      this.spawn(
        Promise.resolve(call(() => this.readMeta(k))).then((c) => {
          const h = c === undefined ? undefined : headerOf(c.value);
          if (h === undefined || !sameVersion(h, v.header!)) this.abandon(v, 'NOT_STORED');
        }),
      );
      throw err;
    });
  }

  /** A version switched in: count it, retire what it replaced, and answer with the client's view of it. */
  stored(v: Version, replaced: ItemView | undefined, stored: ItemView): ItemView {
    // A successful switch replaced `replaced` (its CAS matched), or `replaced`
    // had already been replaced by someone who cleans it up too.
    if (replaced !== undefined) this.retire(replaced);
    if (v.header !== undefined) this.counters.storesChunked++;
    return storedView(v, stored);
  }

  /** A write that will not switch: delete its chunks, answer `outcome`. */
  abandon(v: Version, outcome: StoreOutcome): StoreOutcome {
    if (v.chunkKeys !== undefined && !v.abandoned) {
      v.abandoned = true;
      this.deleteChunks(v.chunkKeys, true);
    }
    return outcome;
  }

  /** An item no longer under its key: delete its chunks if it had any. */
  retire(old: ItemView): void {
    const h = headerOf(old.value);
    if (h === undefined) return;
    this.counters.versionsRetired++;
    this.deleteChunks(chunkKeysOf(old.key, h), false);
  }

  /** The chunks of a value found lost: delete its metadata unless it changed since `cas`, then its chunks. */
  dropLost(key: Buffer, h: ChunkedHeader, cas: bigint): void {
    this.counters.lost++;
    this.spawn(
      andThen(
        call(() => this.inner.delete({ key, compareCas: cas })),
        (r) => {
          if (r === 'DELETED') this.deleteChunks(chunkKeysOf(key, h), false);
        },
      ),
    );
  }

  /** Give a version's chunks the exptime its metadata item just took (a chunk already gone, of a replaced version, needs none). */
  touchChunks(c: ItemView, exptime: number): MaybePromise<void> {
    const h = headerOf(c.value);
    if (h === undefined) return;
    const keys = chunkKeysOf(c.key, h);
    const e = chunkExptime(exptime);
    const inner = this.inner;
    return andThen(all(keys.map((key) => call(() => inner.touch({ key, exptime: e })))), noop);
  }

  /** Best-effort deletion in the background; `idle()` waits for it. */
  deleteChunks(keys: Buffer[], orphans: boolean): void {
    if (orphans) this.counters.orphanCleanups++;
    const inner = this.inner;
    const results: MaybePromise<DeleteOutcome>[] = new Array(keys.length);
    let async = false;
    for (let i = 0; i < keys.length; i++) {
      let r: MaybePromise<DeleteOutcome>;
      try {
        r = inner.delete({ key: keys[i]! });
      } catch {
        r = 'NOT_FOUND';
      }
      if (isPromise(r)) {
        async = true;
        r = r.catch(() => 'NOT_FOUND' as const);
      }
      results[i] = r;
    }
    const counters = this.counters;
    if (!async) {
      for (const r of results) if (r === 'DELETED') counters.chunkDeletes++;
      return;
    }
    this.spawn(
      Promise.all(results).then((rs) => {
        for (const r of rs) if (r === 'DELETED') counters.chunkDeletes++;
      }),
    );
  }

  /** Keep `p` (when it is a Promise) until it settles, so `idle()` can wait for it; its failure is dropped. */
  private spawn(p: MaybePromise<void>): void {
    if (!isPromise(p)) return;
    const q: Promise<void> = p.then(noop, noop).finally(() => this.background.delete(q));
    this.background.add(q);
  }
}
