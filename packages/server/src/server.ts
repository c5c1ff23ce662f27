import net from 'node:net';
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import type { Handler, StatValue, StatsGroup, StatsRequest } from '@cleave/protocol';
import { socketAddress } from './connection.js';
import { ServerMetrics } from './metrics.js';
import { DEFAULT_SERVER_LIMITS, DEFAULT_VERSION, type ListenTarget, type ServerLimits, type ServerOptions } from './options.js';
import { newCounters, storageGroup, type ServerCounters, type ServerSettings } from './stats.js';
import { Serving } from './serving.js';
import { loadFactory, startThreads } from './threads.js';

/** A bound listener: TCP address or unix socket path; `tls` when it speaks TLS. */
export type BoundAddress = ({ host: string; port: number; family: string } | { path: string }) & { tls?: true };

/** A running server. */
export interface Server {
  /** Where each listener is bound (TCP port resolved when 0 was asked). */
  readonly addresses: readonly BoundAddress[];
  /** Live counters: connections, bytes, memcached's command counters, output stalls (with threads, the sum, read anew each time). */
  readonly counters: Readonly<ServerCounters>;
  /** Per command kind: requests, errors and (with `ServerOptions.metrics`) latency histograms (with threads, the sum, read anew each time). */
  readonly metrics: ServerMetrics;
  /** The Handler every request goes to (with threads, the main thread's). */
  readonly handler: Handler;
  /** Serving threads (ServerOptions.threads). */
  readonly threads: number;
  /**
   * The figures `stats <group>` answers ('' for general stats), merged over
   * every thread as the command answers them.
   */
  stats(group: string): Promise<StatsGroup>;
  /**
   * Graceful shutdown: stop accepting, stop reading, finish every request
   * already read and flush its reply, close connections, then close the
   * handlers. Connections still open after `graceMs` are cut.
   */
  close(graceMs?: number): Promise<void>;
}

/** Pending connections the kernel queues for a listener unless told otherwise (Node's and nutcracker's default). */
export const DEFAULT_BACKLOG = 511;

/** Whether a server accepts connections on the unix socket at `path` (a live listener, not a stale file). */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect({ path });
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/** What is at `path` (not following a symbolic link): 'socket', 'other', or undefined when nothing is. */
function pathKind(path: string): 'socket' | 'other' | undefined {
  try {
    return lstatSync(path).isSocket() ? 'socket' : 'other';
  } catch {
    return undefined;
  }
}

export async function listenOne(server: net.Server, target: ListenTarget): Promise<BoundAddress> {
  // A stale socket from an earlier run would make listen fail with EADDRINUSE; a live one belongs to a running server.
  // Only a socket is removed: a file, directory or link at the path is someone's data (memcached's rule too).
  if ('path' in target) {
    const kind = pathKind(target.path);
    if (kind === 'other') {
      throw Object.assign(new Error(`listen EEXIST: ${target.path} exists and is not a socket; not removing it`), {
        code: 'EEXIST',
        path: target.path,
      });
    }
    if (kind === 'socket') {
      if (await socketInUse(target.path)) {
        throw Object.assign(new Error(`listen EADDRINUSE: a server already listens on ${target.path}`), { code: 'EADDRINUSE' });
      }
      try {
        unlinkSync(target.path);
      } catch {
        /* listen reports it */
      }
    }
  }
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      if ('path' in target && target.mode !== undefined) {
        // Before the first client can connect, as nutcracker's `listen: PATH MODE` does.
        try {
          chmodSync(target.path, target.mode);
        } catch (err) {
          // listenAndServe closes the listener.
          reject(err);
          return;
        }
      }
      const a = server.address();
      if (typeof a === 'string') resolve({ path: a });
      else if (a) resolve({ host: a.address, port: a.port, family: a.family });
      else reject(new Error('listener has no address'));
    };
    const backlog = target.backlog ?? DEFAULT_BACKLOG;
    if ('path' in target) listenUnix(server, target.path, target.mode, backlog, done);
    else server.listen(target.port, target.host ?? '127.0.0.1', backlog, done);
  });
}

/**
 * Listen on a unix socket. With a `mode`, the socket is created with it (as
 * memcached's `-a` does, through the umask around the bind, which Node makes
 * synchronously within `listen`), so no client connects before it applies;
 * `done` applies it again with chmod.
 */
function listenUnix(server: net.Server, path: string, mode: number | undefined, backlog: number, done: () => void): void {
  if (mode === undefined) {
    server.listen(path, backlog, done);
    return;
  }
  let old: number | undefined;
  try {
    old = process.umask(~mode & 0o777);
  } catch {
    // Worker threads cannot change the umask: chmod alone applies the mode.
  }
  try {
    server.listen(path, backlog, done);
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/**
 * Start a memcached-compatible server in front of one Handler (composed
 * outside: tiers, chunking and storage are Handlers wrapping Handlers):
 *
 *     const server = await listenAndServe({
 *       listen: { port: 11211 },
 *       handler: new InMemoryHandler({ maxBytes: 64 << 20 }),
 *     });
 *
 * With `threads` and `worker`, every thread builds its own Handler from the
 * worker module's factory and serves connections on every listener.
 */
export async function listenAndServe(options: ServerOptions): Promise<Server> {
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) throw new TypeError(`threads must be a whole number of at least 1, not ${threads}`);
  if (options.handler !== undefined && options.worker !== undefined) throw new TypeError('give either handler or worker, not both');
  if (threads > 1) {
    if (options.worker === undefined) throw new TypeError("threads over 1 need worker: a module that builds each thread's Handler");
    return startThreads(options, options.worker, threads);
  }
  if (options.worker !== undefined) {
    const factory = await loadFactory(options.worker);
    const handler = await factory(options.worker.data, { index: 0, threads: 1 });
    try {
      return await serveOneThread(options, handler);
    } catch (err) {
      await handler.close();
      throw err;
    }
  }
  if (options.handler === undefined) throw new TypeError('listenAndServe needs a handler (or a worker module)');
  return serveOneThread(options, options.handler);
}

/** What every server writes server-side problems to unless told otherwise. */
export function defaultOnError(err: unknown): void {
  process.stderr.write(`cleave: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
}

/** The settings `stats settings` reports, before the listeners are bound. */
export function serverSettings(targets: readonly ListenTarget[], limits: ServerLimits, auth: boolean): ServerSettings {
  const firstTcp = targets.find((t): t is { port: number; host?: string } => 'port' in t);
  const firstUnix = targets.find((t): t is { path: string } => 'path' in t);
  return {
    maxConnections: limits.maxConnections,
    maxItemSize: limits.maxItemSize,
    idleTimeoutMs: limits.idleTimeoutMs,
    tcpPort: firstTcp?.port ?? 0,
    inter: firstTcp === undefined ? undefined : (firstTcp.host ?? '127.0.0.1'),
    domainSocket: firstUnix?.path,
    tcpBacklog: targets[0]?.backlog ?? DEFAULT_BACKLOG,
    verbosity: 0,
    auth,
    tls: targets.some((t) => t.tls !== undefined),
  };
}

/** A listener's address as `stats conns` shows it. */
export function listenerAddr(bound: BoundAddress): string {
  return 'path' in bound ? `unix:${bound.path}` : socketAddress(bound.family, bound.host, bound.port);
}

/** A stats request for `server.stats(group)`: the text command's. */
export function statsRequest(group: string): StatsRequest {
  return { cmd: 'stats', protocol: 'text', group } as StatsRequest;
}

/** A stats reply as a group: entries as they are, a whole text reply (stats detail) as `detailed`. */
export function replyGroup(reply: Iterable<readonly [string, StatValue]> | Buffer | undefined): StatsGroup {
  if (reply === undefined) return {};
  if (Buffer.isBuffer(reply)) return { detailed: reply.toString('latin1') };
  return Object.fromEntries(reply);
}

async function serveOneThread(options: ServerOptions, handler: Handler): Promise<Server> {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const onError = options.onError ?? defaultOnError;
  const counters = newCounters();
  const startedAt = Date.now();
  const targets = Array.isArray(options.listen) ? options.listen : [options.listen];
  const metrics = new ServerMetrics(options.metrics === true);
  const settings = serverSettings(targets, limits, options.auth !== undefined);
  let self: Server | undefined;
  const shutdown = options.shutdown;
  const serving = new Serving({
    handler,
    limits,
    version: options.version ?? DEFAULT_VERSION,
    counters,
    metrics,
    ...(options.auth !== undefined && { auth: options.auth }),
    onError,
    listeners: targets.length,
    idStep: 1,
    idOffset: 0,
    admit: () => {
      if (counters.currConnections >= limits.maxConnections) {
        counters.rejectedConnections++;
        return false;
      }
      counters.currConnections++;
      counters.totalConnections++;
      return true;
    },
    release: () => {
      counters.currConnections--;
    },
    ...(shutdown !== undefined &&
      shutdown !== false && {
        shutdown: (mode) => {
          if (typeof shutdown === 'function') shutdown(mode);
          else void self?.close(mode === 'graceful' ? undefined : 0);
        },
      }),
    verbosity: (level) => {
      settings.verbosity = level;
    },
    settings,
    startedAt,
  });

  const servers: net.Server[] = [];
  const addresses: BoundAddress[] = [];
  try {
    for (const [i, t] of targets.entries()) {
      const { server: s, listener } = serving.createListener(i, t.tls);
      servers.push(s);
      const bound = await listenOne(s, t);
      listener.addr = listenerAddr(bound);
      addresses.push(t.tls ? { ...bound, tls: true } : bound);
    }
  } catch (err) {
    serving.stop();
    for (const s of servers) s.close();
    throw err;
  }
  const firstBound = addresses.find((a): a is { host: string; port: number; family: string } => 'port' in a);
  if (firstBound) settings.tcpPort = firstBound.port;

  let closing: Promise<void> | undefined;
  self = {
    addresses,
    counters,
    metrics,
    handler,
    threads: 1,
    async stats(group) {
      const req = statsRequest(group);
      const g = storageGroup(req);
      const storage = g === undefined ? undefined : await handler.stats?.(g);
      return replyGroup(serving.ctx.stats(req, storage, -1));
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        await serving.shutdownConnections(graceMs);
        await Promise.all(stopped);
        serving.stop();
        if (options.closeHandlers !== false) await handler.close();
      })();
      return closing;
    },
  };
  return self;
}
