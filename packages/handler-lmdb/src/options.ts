/**
 * The LMDB handler's options: what each means, their defaults, and the
 * checks made when a handler is opened (`RangeError`/`TypeError`).
 */
import type { Logger } from '@cleave/core';

export interface LmdbHandlerOptions {
  /** Directory of the store; created when missing. The same path reopened serves what it held (a warm restart). */
  path: string;
  /**
   * Byte cap on disk (default 1 GiB; at least `minimumMaxBytes(maxItemSize)`): the store's file never grows
   * past it. Items are evicted (expired first, then least recently used) to stay under it.
   */
  maxBytes?: number;
  /**
   * Acknowledge a write only once it is on disk (an fsync'd commit), so it survives `kill -9` and power loss.
   * Default false: a write is acknowledged when queued (every later read sees it at once) and committed within
   * milliseconds; a crash may lose the last moments of writes. Either way the store is never corrupt.
   */
  sync?: boolean;
  /** Largest item, memcached's `-I` (default 1 MiB), counted as memcached counts it. */
  maxItemSize?: number;
  /** Current time in milliseconds (default `Date.now()`); inject one to test expiry. */
  clock?: () => number;
  /** Period of the background reclaim of expired and flushed items in ms (default 1000; 0 = none, call `sweep()`). */
  sweepIntervalMs?: number;
  /** First CAS unique of a new store (default 1); a reopened store continues above every CAS it handed out. */
  casStart?: bigint;
  /** Where the store reports opening, warm restarts and reclaim (never per request). */
  logger?: Logger;
}

/** The smallest cap for a given largest item: room for 32 of the largest items, and never under 8 MiB. */
export function minimumMaxBytes(maxItemSize: number): number {
  return Math.max(8 * 1024 * 1024, 32 * maxItemSize);
}
