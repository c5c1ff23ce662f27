/**
 * The in-memory handler's options: what each means, their defaults, the
 * checks made when a handler is built (`RangeError`/`TypeError`), and the
 * slab page size that follows from `maxBytes`.
 */
import { ITEM_HEADER_BYTES } from '@cleave/protocol';
import { turnClock } from './clock.js';
import type { SharedStore } from './shared.js';

export interface InMemoryHandlerOptions {
  /** Memory limit in bytes, memcached's `-m` (default 64 MiB; 64 KiB to 64 GiB): slab pages, item metadata, hash table and large items together. */
  maxBytes?: number;
  /** Largest item, memcached's `-I` (default 1 MiB), counted as memcached does: value + key + 59-byte header (+4 with flags). */
  maxItemSize?: number;
  /** Current time in milliseconds (default `Date.now()`, read once per event-loop turn: `turnClock`); inject one to test expiry. */
  clock?: () => number;
  /** Period of the background expiry sweep in ms (default 1000; 0 = no timer, call `sweep()` yourself). */
  sweepIntervalMs?: number;
  /** Item slots the sweep examines per tick (default 20000): bounds the work done per timer tick. */
  sweepBatch?: number;
  /** First CAS unique handed out (default 1). */
  casStart?: bigint;
  /**
   * The store this handler serves, shared with handlers in other threads
   * (`sharedStore`); its maxBytes, maxItemSize and casStart are the store's.
   */
  shared?: SharedStore;
  /**
   * With `shared`: whether this handler reports the store's stats and runs
   * its sweep timer (default true). Make it true in one thread only, so a
   * server summing stats over threads counts the store once.
   */
  statsReporter?: boolean;
}

/** Largest slab page (memcached's slab_page_size). */
export const MAX_PAGE_SIZE = 1024 * 1024;
/**
 * Items whose key and value need more than this (or than half a page) live
 * in their own Buffer instead of a slab chunk (memcached's slab_chunk_max).
 */
export const MAX_CHUNK = 512 * 1024;

/** The largest CAS unique (memcached's is a uint64_t). */
export const U64_MAX = (1n << 64n) - 1n;
const MIN_MAX_BYTES = 64 * 1024;
/** Chunk references hold a 16-bit page number: 65536 pages of 1 MiB. */
export const MAX_MAX_BYTES = 64 * 1024 * 1024 * 1024;

const DEFAULTS = {
  maxBytes: 64 * 1024 * 1024,
  maxItemSize: 1024 * 1024,
  sweepIntervalMs: 1000,
  sweepBatch: 20_000,
};

/** Every option with its value, checked. */
export interface Settings {
  readonly maxBytes: number;
  readonly maxItemSize: number;
  readonly clock: () => number;
  readonly sweepIntervalMs: number;
  readonly sweepBatch: number;
  readonly casStart: bigint;
  /** Slab page size: 1 MiB, or less for small `maxBytes` so memory can move between size classes. */
  readonly pageSize: number;
  /** The largest slab chunk: half a page, at most MAX_CHUNK. */
  readonly chunkMax: number;
}

function positiveInteger(name: string, v: number | undefined, dflt: number, min: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`InMemoryHandler: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

function floorPow2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/** The settings `options` give, or the error that says which option is wrong. */
export function settingsOf(options: InMemoryHandlerOptions): Settings {
  const maxBytes = positiveInteger('maxBytes', options.maxBytes, DEFAULTS.maxBytes, MIN_MAX_BYTES);
  if (maxBytes > MAX_MAX_BYTES) throw new RangeError(`InMemoryHandler: maxBytes must be at most 64 GiB, got ${maxBytes}`);
  const maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULTS.maxItemSize, 1);
  const sweepBatch = positiveInteger('sweepBatch', options.sweepBatch, DEFAULTS.sweepBatch, 1);
  const sweepIntervalMs = positiveInteger('sweepIntervalMs', options.sweepIntervalMs, DEFAULTS.sweepIntervalMs, 0);
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw new TypeError('InMemoryHandler: clock must be a function returning milliseconds');
  }
  const casStart = options.casStart ?? 1n;
  if (typeof casStart !== 'bigint' || casStart < 1n || casStart > U64_MAX) {
    throw new RangeError(`InMemoryHandler: casStart must be a bigint in 1..2^64-1, got ${String(casStart)}`);
  }
  // At least 128 pages: every size class in use holds at least one, so
  // pages must be small next to maxBytes for memory to be shared well.
  const pageSize = Math.max(4096, Math.min(MAX_PAGE_SIZE, floorPow2(Math.floor(maxBytes / 128))));
  return {
    maxBytes,
    maxItemSize,
    clock: options.clock ?? turnClock,
    sweepIntervalMs,
    sweepBatch,
    casStart,
    pageSize,
    chunkMax: Math.min(MAX_CHUNK, pageSize / 2),
  };
}

/**
 * A store shared by threads keeps every item in a slab chunk (a Buffer of
 * its own per item would live in one thread only): the largest class holds
 * the largest item `maxItemSize` lets in, and pages are at least that big,
 * rounded up to a power of two (memcached 1.4's rule: page size = max(1 MiB,
 * item max)).
 */
export function sharedSlabSizes(s: Settings): { pageSize: number; chunkMax: number } {
  // The chunk header, key and value of the largest item (flags 0): maxItemSize - 59 + 4.
  const need = (Math.max(0, s.maxItemSize - ITEM_HEADER_BYTES + 4) + 7) & ~7;
  if (need <= s.chunkMax) return { pageSize: s.pageSize, chunkMax: s.chunkMax };
  let pageSize = s.pageSize;
  while (pageSize < need) pageSize *= 2;
  return { pageSize, chunkMax: need };
}
