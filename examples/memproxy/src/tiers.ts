// The storage the flags describe, as Handlers: one or two tiers (in memory, memcached, chunked, LMDB) and how they
// compose. memproxy's main thread builds it once, or each serving thread (thread.ts) builds its own over the
// shared in-memory store and key locks the main thread made.

import { ChunkedHandler } from '@cleave/chunked';
import { sharedKeyLocks, type Address, type Logger, type SharedKeyLocks } from '@cleave/core';
import { InMemoryHandler, sharedStore, type SharedStore } from '@cleave/handler-inmem';
import { MemcachedHandler } from '@cleave/handler-memcached';
import type { Handler } from '@cleave/protocol';
import type { ThreadInfo } from '@cleave/server';
import { l1l2 } from '@cleave/tiers';
import type { Config } from './config.js';
import type { MetricsBackend } from './metrics.js';
import { openStore } from './store.js';

/** The tiers as Handlers, and the memcached backends among them (for metrics and the startup line). */
export interface Tiers {
  l1: Handler;
  l2?: Handler;
  backends: MetricsBackend[];
}

/** memcached's default item size limit (-I): chunks keep every backend item within it. */
export const BACKEND_ITEM_MAX = 1024 * 1024;

export const backendAddress = (sock: string | undefined, addr: Address | undefined): Address | undefined =>
  sock !== undefined ? { path: sock } : addr;

/** The LMDB stores the flags name: --l1-lmdb (the only tier) and --l2-lmdb, each with its flag, cap and sync. */
export function lmdbStores(config: Config): { tier: 'l1' | 'l2'; flag: string; path: string; maxBytes: number; sync: boolean }[] {
  const stores = [];
  if (config.l1Lmdb !== undefined)
    stores.push({ tier: 'l1' as const, flag: 'l1-lmdb', path: config.l1Lmdb, maxBytes: config.l1LmdbSize, sync: config.l1LmdbSync });
  if (config.l2Lmdb !== undefined)
    stores.push({ tier: 'l2' as const, flag: 'l2-lmdb', path: config.l2Lmdb, maxBytes: config.l2LmdbSize, sync: config.l2LmdbSync });
  return stores;
}

/** What the serving threads share (structured-cloneable): the in-memory L1's store, and key locks for two tiers over one L1. */
export interface SharedTiers {
  readonly store?: SharedStore;
  readonly keyLocks?: SharedKeyLocks;
}

/** Made once, in the main thread, for the serving threads: the in-memory L1 (one cache for all) and the L1L2 key locks. */
export function sharedTiers(config: Config): SharedTiers {
  const inMemoryL1 = config.l1Lmdb === undefined && backendAddress(config.l1Sock, config.l1Addr) === undefined;
  return {
    ...(inMemoryL1 && { store: sharedStore({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize }) }),
    // Every thread's L1L2 writes the same L1 (the shared store or the L1 memcached).
    ...(config.l2Enabled && { keyLocks: sharedKeyLocks() }),
  };
}

/** One serving thread's part: what the threads share, and which thread it is. */
export interface InThread {
  readonly shared: SharedTiers;
  readonly thread: ThreadInfo;
}

/**
 * The storage the flags describe: one or two tiers, each a Handler, and the memcached backends among them. In a
 * serving thread (`inThread`), the in-memory L1 is the shared store and the backends are the thread's own.
 * Throws a StoreProblem when an LMDB store cannot be opened.
 */
export function buildTiers(config: Config, logger: Logger, inThread?: InThread): Tiers {
  const backends: MetricsBackend[] = [];
  /** A memcached tier; with --chunked, large values spread over chunk items within the backend's limit. */
  const memcached = (address: Address, tier: string): Handler => {
    const backend = (maxItemSize: number) => {
      const handler = new MemcachedHandler({
        address,
        connections: config.backendConns,
        timeoutMs: config.backendTimeout,
        maxItemSize,
        logger,
      });
      backends.push({ handler, tier });
      return handler;
    };
    if (!config.chunked) return backend(config.maxItemSize);
    return new ChunkedHandler(backend(BACKEND_ITEM_MAX), { maxItemSize: config.maxItemSize, chunkSize: config.chunkSize });
  };
  // An LMDB store takes values up to --max-item-size as they are: no chunks.
  const lmdb = Object.fromEntries(
    lmdbStores(config).map((s) => [
      s.tier,
      openStore(config.labels[s.flag] ?? `--${s.flag}`, {
        path: s.path,
        maxBytes: s.maxBytes,
        sync: s.sync,
        maxItemSize: config.maxItemSize,
        logger,
      }),
    ]),
  );
  if (lmdb.l1 !== undefined) return { l1: lmdb.l1, backends };
  const l1Address = backendAddress(config.l1Sock, config.l1Addr);
  const store = inThread?.shared.store;
  const l1 = l1Address
    ? memcached(l1Address, 'l1')
    : store !== undefined
      ? // Thread 0 reports the shared store's figures, so that stats summed over threads count it once.
        new InMemoryHandler({ shared: store, statsReporter: inThread!.thread.index === 0 })
      : new InMemoryHandler({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize });
  if (lmdb.l2 !== undefined) return { l1, l2: lmdb.l2, backends };
  const l2Address = backendAddress(config.l2Sock, config.l2Addr);
  return config.l2Enabled && l2Address ? { l1, l2: memcached(l2Address, 'l2'), backends } : { l1, backends };
}

/** The whole deployment as one Handler: L1 alone, or L1 in front of L2 (with the threads' key locks when shared). */
export function tiersHandler(tiers: Tiers, keyLocks?: SharedKeyLocks): Handler {
  return tiers.l2 ? l1l2(tiers.l1, tiers.l2, keyLocks !== undefined ? { keyLocks } : {}) : tiers.l1;
}
