// From nutcracker.yml pools to running servers: each pool is one Handler, a router pool over one MemcachedHandler
// per server, served by its own listenAndServe on the pool's listen address. cleave-twemproxy and
// `memproxy --config` both start pools here.

import { formatAddress, type Logger } from '@cleave/core';
import { MemcachedHandler } from '@cleave/handler-memcached';
import type { Handler } from '@cleave/protocol';
import { pool, type Pool, type PoolMember } from '@cleave/router';
import {
  listenAndServe,
  type AuthOptions,
  type HandlerModule,
  type ListenTarget,
  type Server,
  type ServerLimits,
  type ServerOptions,
} from '@cleave/server';
import type { ConfPool, ListenAddress } from './conf.js';

/** A pool's backend timeout when nutcracker.yml gives none (or 0, nutcracker's "wait for ever"): MemcachedHandler's default. */
export const DEFAULT_TIMEOUT_MS = 1000;

/** `client_connections: 0` (nutcracker's default) means no limit of our own: the process's file limit is the one that counts. */
export const NO_CONNECTION_LIMIT = 1 << 20;

export interface BuildOptions {
  /** Backend timeout for pools whose yml gives none (default DEFAULT_TIMEOUT_MS). */
  timeoutMs?: number;
  /** Told each time a pool's server changes state (out of service, back in). */
  onStateChange?: (pool: ConfPool, member: PoolMember) => void;
  /** The backends' item size limit, memcached's -I (MemcachedHandler's default when undefined). */
  maxItemSize?: number;
  /** Where each pool and its servers report changes of state (ejected, back; a backend gone, back). */
  logger?: Logger;
}

/** The Handler tree of one pool: `pool({ servers: [MemcachedHandler, ...], ...placement and failure rules })`. */
export function buildPool(conf: ConfPool, options: BuildOptions = {}): Pool {
  // nutcracker's timeout covers both connecting and waiting for a reply.
  const timeoutMs = conf.timeoutMs ?? options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  return pool({
    name: conf.name,
    distribution: conf.distribution,
    hash: conf.hash,
    ...(conf.hashTag !== undefined && { hashTag: conf.hashTag }),
    autoEjectHosts: conf.autoEjectHosts,
    // nutcracker ejects at the first failure with a limit of 0 as with 1, and retries at once after a timeout of 0.
    serverFailureLimit: Math.max(1, conf.serverFailureLimit),
    serverRetryTimeoutMs: Math.max(1, conf.serverRetryTimeoutMs),
    ...(options.onStateChange !== undefined && { onStateChange: (m: PoolMember) => options.onStateChange!(conf, m) }),
    ...(options.logger !== undefined && { logger: options.logger }),
    servers: conf.servers.map((s) => ({
      name: s.name,
      label: s.name,
      weight: s.weight,
      handler: new MemcachedHandler({
        address: s.address,
        connections: conf.serverConnections,
        timeoutMs,
        connectTimeoutMs: timeoutMs,
        keepAlive: conf.tcpkeepalive,
        ...(options.maxItemSize !== undefined && { maxItemSize: options.maxItemSize }),
        ...(options.logger !== undefined && { logger: options.logger }),
      }),
    })),
  });
}

/** Where the pool listens, as the server takes it (a socket's permissions as its mode), with the pool's backlog. */
export function listenTarget(a: ListenAddress, backlog?: number): ListenTarget {
  if ('path' in a) return a.mode !== undefined ? { path: a.path, mode: a.mode, backlog } : { path: a.path, backlog };
  return { host: a.host, port: a.port, backlog };
}

/** An address for logs: `host:port` or `unix:/path`. */
export function describeListen(a: ListenAddress | Server['addresses'][number]): string {
  return 'path' in a ? `unix:${a.path}` : formatAddress({ host: a.host, port: a.port });
}

export interface ServedPool {
  readonly name: string;
  readonly conf: ConfPool;
  readonly pool: Pool;
  readonly server: Server;
}

export interface ServeOptions extends BuildOptions {
  /** Server limits for every pool; a pool's client_connections (when not 0) sets its maxConnections. */
  limits?: Partial<ServerLimits>;
  auth?: AuthOptions;
  onError?: (err: unknown) => void;
  /** More listeners for a pool besides its own listen: address (memproxy's TLS listener for a one-pool yml). */
  moreListen?: (conf: ConfPool) => ListenTarget[];
  /** Put something in front of each pool (e.g. chunking); the pool itself when undefined. */
  wrap?: (pool: Pool, conf: ConfPool) => Handler;
  /** Measure each request's latency for metrics (ServerOptions.metrics). */
  metrics?: boolean;
}

/** How a pool is served, all but what answers it: its listeners, limits (client_connections), auth, metrics. */
function poolServing(conf: ConfPool, options: ServeOptions): Omit<ServerOptions, 'handler'> {
  const maxConnections = conf.clientConnections > 0 ? conf.clientConnections : (options.limits?.maxConnections ?? NO_CONNECTION_LIMIT);
  return {
    listen: [listenTarget(conf.listenAddress, conf.backlog), ...(options.moreListen?.(conf) ?? [])],
    limits: { ...options.limits, maxConnections },
    ...(options.auth !== undefined && { auth: options.auth }),
    ...(options.onError !== undefined && { onError: options.onError }),
    ...(options.metrics === true && { metrics: true }),
  };
}

/** A pool that could not listen, named with its listen address. */
const listenFailed = (conf: ConfPool, e: unknown) =>
  new Error(`pool '${conf.name}': listen: '${conf.listen}': ${(e as Error).message}`, { cause: e });

/**
 * Build and serve every pool, each on its own listen address. When one cannot listen, the ones already
 * started are closed and the error names the pool and its listen address.
 */
export async function servePools(pools: readonly ConfPool[], options: ServeOptions = {}): Promise<ServedPool[]> {
  const served: ServedPool[] = [];
  for (const conf of pools) {
    const p = buildPool(conf, options);
    try {
      const server = await listenAndServe({ ...poolServing(conf, options), handler: options.wrap ? options.wrap(p, conf) : p });
      served.push({ name: conf.name, conf, pool: p, server });
    } catch (e) {
      await p.close();
      await Promise.allSettled(served.map((s) => s.server.close()));
      throw listenFailed(conf, e);
    }
  }
  return served;
}

/**
 * Serve every pool with `threads` serving threads each: `worker(conf, i)` tells how each thread builds the pool
 * `pools[i]` (buildPool, over the thread's own backend connections). As servePools otherwise.
 */
export async function servePoolsInThreads(
  pools: readonly ConfPool[],
  threads: number,
  worker: (conf: ConfPool, index: number) => HandlerModule,
  options: ServeOptions = {},
): Promise<{ name: string; conf: ConfPool; server: Server }[]> {
  const served: { name: string; conf: ConfPool; server: Server }[] = [];
  for (const [i, conf] of pools.entries()) {
    try {
      const server = await listenAndServe({ ...poolServing(conf, options), threads, worker: worker(conf, i) });
      served.push({ name: conf.name, conf, server });
    } catch (e) {
      await Promise.allSettled(served.map((s) => s.server.close()));
      throw listenFailed(conf, e);
    }
  }
  return served;
}
