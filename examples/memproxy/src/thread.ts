// What each serving thread of `memproxy --threads N` runs (dist/thread.js): the server calls createHandler once in
// every thread, the main one (thread 0) included, with the configuration the main thread parsed and the state it
// made once to share (the in-memory L1's store, the L1L2 key locks). Each thread builds the same Handler tree the
// single-thread memproxy builds, with backend connections and a log of its own.

import { BroadcastChannel } from 'node:worker_threads';
import { andThen } from '@cleave/core';
import type { Handler, StatsGroup } from '@cleave/protocol';
import type { ThreadInfo } from '@cleave/server';
import type { Config } from './config.js';
import { Log } from './log.js';
import { buildTiers, tiersHandler, type SharedTiers } from './tiers.js';
import { buildPool } from './twemproxy/build.js';

/** What the main thread hands every serving thread (structured-cloned; SharedArrayBuffers shared). */
export interface ThreadData {
  /** The configuration as the main thread parsed and checked it. */
  readonly config: Config;
  readonly shared: SharedTiers;
  /** With a nutcracker.yml: which of `config.pools` this server serves. */
  readonly pool?: number;
}

/** The channel on which the main thread tells every thread that SIGHUP came (a thread cannot take signals). */
export const HANGUP_CHANNEL = 'memproxy:sighup';

/** A thread's log: the same file (or stdout), each line with its `thread`; reopened when the main thread takes a SIGHUP. */
function threadLog(config: Config, thread: ThreadInfo): Log {
  const log = new Log({ level: config.logLevel, ...(config.logFile !== undefined && { file: config.logFile }), thread: thread.index });
  if (config.logFile !== undefined) {
    const hangups = new BroadcastChannel(HANGUP_CHANNEL);
    // Listening keeps no thread alive; the main thread logs what its own reopen did.
    hangups.unref();
    hangups.onmessage = () => log.reopen();
  }
  return log;
}

/** Pool figures each thread keeps for itself (summed over threads, they are memproxy's). */
const POOL_OWN = new Set(['pool_server_ejects', 'pool_forward_errors', 'pool_fragments']);

/**
 * Whether a general `stats` figure is the thread's own: a backend connection's counters (`backend_*`, also as
 * `l2_backend_*` or `server:NAME:backend_*`), a pool's own counters. The rest (what the backend memcached itself
 * reports, a pool's servers and their states) is the same from every thread: thread 0 reports it.
 */
function ownFigure(key: string): boolean {
  return (
    key
      .slice(key.lastIndexOf(':') + 1)
      .replace(/^l2_/, '')
      .startsWith('backend_') || POOL_OWN.has(key)
  );
}

/**
 * The server sums `stats` over threads: a memcached behind every thread (each asks it for its figures) would be
 * counted once per thread. So threads other than 0 answer only their own figures: the general group's per-thread
 * counters, nothing of the backends' other groups (settings the server takes from one thread anyway).
 */
function reportOwnOnly(handler: Handler): Handler {
  const stats = handler.stats?.bind(handler);
  if (stats === undefined) return handler;
  handler.stats = (group: string) =>
    group === 'settings' || group === 'reset'
      ? stats(group)
      : andThen(stats(group), (st) => {
          if (st === undefined || group !== '') return st === undefined ? st : {};
          const own: StatsGroup = {};
          for (const k in st) if (ownFigure(k)) own[k] = st[k]!;
          return own;
        });
  return handler;
}

/** The server's HandlerFactory for memproxy's threads. */
export function createHandler(data: ThreadData, thread: ThreadInfo): Handler {
  const { config, shared } = data;
  const logger = threadLog(config, thread).logger;
  const once = (h: Handler, backends: boolean) => (thread.index !== 0 && backends ? reportOwnOnly(h) : h);
  if (data.pool !== undefined) {
    return once(buildPool(config.pools![data.pool]!, { timeoutMs: config.backendTimeout, maxItemSize: config.maxItemSize, logger }), true);
  }
  const tiers = buildTiers(config, logger, { shared, thread });
  return once(tiersHandler(tiers, shared.keyLocks), tiers.backends.length > 0);
}
