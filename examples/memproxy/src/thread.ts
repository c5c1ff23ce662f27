// What each serving thread of `memproxy --threads N` runs (dist/thread.js): the server calls createHandler once in
// every thread, the main one (thread 0) included, with the configuration the main thread parsed and the state it
// made once to share (the in-memory L1's store, the L1L2 key locks). Each thread builds the same Handler tree the
// single-thread memproxy builds, with backend connections and a log of its own.

import { BroadcastChannel } from 'node:worker_threads';
import type { Handler } from '@cleave/protocol';
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

/** The server's HandlerFactory for memproxy's threads. */
export function createHandler(data: ThreadData, thread: ThreadInfo): Handler {
  const { config, shared } = data;
  const logger = threadLog(config, thread).logger;
  if (data.pool !== undefined) {
    return buildPool(config.pools![data.pool]!, { timeoutMs: config.backendTimeout, maxItemSize: config.maxItemSize, logger });
  }
  return tiersHandler(buildTiers(config, logger, { shared, thread }), shared.keyLocks);
}
