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
import { COUNTER_SLICES_MAX, LOCK, counterSlots, headerBytes } from './state.js';

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
  /** The handlers' counter slices (state.ts). */
  readonly counters: SharedArrayBuffer;
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
    counters: new SharedArrayBuffer(COUNTER_SLICES_MAX * counterSlots(classes) * 8),
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

/**
 * Loads of the lock word a waiter makes while the lock is held without
 * waiters before it sleeps. A command holds the lock for about a
 * microsecond, a server's run of one read's commands (runBatch) for up to
 * 32 of them, and sleeping costs two system calls and a context switch on
 * each side. Measured with `memproxy --threads 2`, 50 connections 16 deep,
 * on 2 cores: 1000 loads slept often enough that futex calls and the
 * scheduler took a tenth of the CPU (2.7 µs per request against one
 * thread's 2.2); 4000 and 16000 gave 2.1–2.4 µs; 64 once fell into a
 * convoy of sleeps and wakes below one thread's rate.
 */
const SPINS = 4000;

/**
 * Take the store lock: the word at LOCK is 0 free, 1 held, 2 held and
 * maybe waited for (a futex mutex, as Rust's std has it). Any thread may
 * wait, the main thread included.
 */
export function lock(h: Int32Array): void {
  if (Atomics.compareExchange(h, LOCK, 0, 1) !== 0) lockContended(h);
}

/** Watch a held lock for a while; the state last seen. */
function spin(h: Int32Array): number {
  let state = Atomics.load(h, LOCK);
  for (let i = 0; i < SPINS && state === 1; i++) state = Atomics.load(h, LOCK);
  return state;
}

function lockContended(h: Int32Array): void {
  let state = spin(h);
  if (state === 0) {
    state = Atomics.compareExchange(h, LOCK, 0, 1);
    if (state === 0) return;
  }
  for (;;) {
    // Taken as 2: a sleeper may remain, so the release must wake one.
    if (state !== 2 && Atomics.exchange(h, LOCK, 2) === 0) return;
    Atomics.wait(h, LOCK, 2);
    state = spin(h);
  }
}

/** Release the store lock, waking one waiter if there may be one; whether it woke one. */
export function unlock(h: Int32Array): boolean {
  if (Atomics.exchange(h, LOCK, 0) !== 2) return false;
  Atomics.notify(h, LOCK, 1);
  return true;
}

/**
 * Loads of the lock word `handOff` makes at most: a woken thread takes
 * tens of microseconds to run again.
 */
const HANDOFF_SPINS = 100_000;

/**
 * After an `unlock` that woke a waiter, by a thread that wants the lock
 * again at once: watch the word until another thread has taken the lock
 * (or the bound passes), so that the woken one gets it rather than this
 * thread, which would otherwise win every time.
 */
export function handOff(h: Int32Array): void {
  for (let i = 0; i < HANDOFF_SPINS && Atomics.load(h, LOCK) === 0; i++);
}
