/**
 * One in-memory store for many threads: `sharedStore` reserves every part
 * of the store in SharedArrayBuffers (the header, the page table, the item
 * records, the hash buckets and an arena of slab pages for the whole
 * `maxBytes`), and each thread builds an `InMemoryHandler({ shared })` over
 * them. The OS commits SharedArrayBuffer memory as it is first touched, so
 * reserving costs resident memory only as pages fill; memory freed inside
 * the store is reused by the store, not given back to the OS.
 *
 * Every command runs under one store lock (`lock`/`unlock`: a futex-style
 * mutex on an Int32 of the header, Atomics.compareExchange and
 * Atomics.wait/notify), held only for the command's synchronous body:
 * answers are copies made under the lock, so none is held across a socket
 * write. CAS uniques come from the header's counter, and incr/decr and cas
 * are atomic because they run under the lock.
 */
import { InMemoryHandler } from './handler.js';
import { MAX_MAX_BYTES, settingsOf, sharedSlabSizes, type InMemoryHandlerOptions } from './options.js';
import { META_BYTES } from './footprint.js';
import { classSizes, pageTableBytes } from './slabs.js';
import { LOCK, headerBytes } from './state.js';

/**
 * A store for handlers in several threads. Pass it to each thread (in
 * `workerData` or a message: structured cloning shares its
 * SharedArrayBuffers) and build `new InMemoryHandler({ shared })` there.
 * Its fields are the store's own; treat it as opaque.
 */
export interface SharedStore {
  readonly kind: 'cleave-inmem-shared-store';
  readonly maxBytes: number;
  readonly maxItemSize: number;
  readonly casStart: bigint;
  readonly sweepIntervalMs: number;
  readonly sweepBatch: number;
  readonly pageSize: number;
  readonly chunkMax: number;
  readonly header: SharedArrayBuffer;
  readonly pageTable: SharedArrayBuffer;
  readonly records: SharedArrayBuffer;
  readonly buckets: SharedArrayBuffer;
  readonly arena: SharedArrayBuffer;
}

/**
 * Reserve a store for handlers in several threads, once (in the main
 * thread); `options` as for `InMemoryHandler` (`clock` apart, which each
 * handler takes). `maxBytes` is also the most `cache_memlimit` can set.
 */
export function sharedStore(options: InMemoryHandlerOptions = {}): SharedStore {
  if (options.shared !== undefined) throw new TypeError('sharedStore: options.shared makes no sense here');
  const s = settingsOf(options);
  const { pageSize, chunkMax } = sharedSlabSizes(s);
  const classes = classSizes(chunkMax).length + 1;
  const pages = Math.floor(s.maxBytes / pageSize);
  // Records and buckets are charged against maxBytes, so maxBytes bounds them.
  const records = Math.floor(s.maxBytes / META_BYTES);
  let buckets = 64;
  while (buckets < records) buckets *= 2;
  const store: SharedStore = {
    kind: 'cleave-inmem-shared-store',
    maxBytes: s.maxBytes,
    maxItemSize: s.maxItemSize,
    casStart: s.casStart,
    sweepIntervalMs: s.sweepIntervalMs,
    sweepBatch: s.sweepBatch,
    pageSize,
    chunkMax,
    header: new SharedArrayBuffer(headerBytes(classes)),
    pageTable: new SharedArrayBuffer(pageTableBytes(Math.max(1, pages))),
    records: new SharedArrayBuffer(Math.max(64, records) * META_BYTES),
    buckets: new SharedArrayBuffer(buckets * 2 * 4),
    arena: new SharedArrayBuffer(pages * pageSize),
  };
  // The first handler over the store sets it up.
  new InMemoryHandler({ shared: store, sweepIntervalMs: 0, statsReporter: false }).close();
  return store;
}

/** The most `cache_memlimit` can set for a store: what a shared store reserved, or 64 GiB. */
export function maxMaxBytes(store: SharedStore | undefined): number {
  return store === undefined ? MAX_MAX_BYTES : store.maxBytes;
}

/** Spins before sleeping on a held lock (commands hold it for microseconds). */
const SPINS = 64;

/**
 * Take the store lock (the word at LOCK: 0 free, 1 held, 2 held with
 * waiters). Any thread may wait, the main thread included.
 */
export function lock(h: Int32Array): void {
  if (Atomics.compareExchange(h, LOCK, 0, 1) === 0) return;
  for (let i = 0; i < SPINS; i++) {
    if (Atomics.load(h, LOCK) === 0 && Atomics.compareExchange(h, LOCK, 0, 1) === 0) return;
  }
  while (Atomics.exchange(h, LOCK, 2) !== 0) Atomics.wait(h, LOCK, 2);
}

/** Release the store lock, waking one waiter if any. */
export function unlock(h: Int32Array): void {
  if (Atomics.sub(h, LOCK, 1) !== 1) {
    Atomics.store(h, LOCK, 0);
    Atomics.notify(h, LOCK, 1);
  }
}
