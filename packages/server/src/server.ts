import net from 'node:net';
import type tls from 'node:tls';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';
import type { Handler } from '@cleave/protocol';
import { Authenticator } from './auth.js';
import { Connection, socketAddress } from './connection.js';
import { PrefixStats } from './detail.js';
import type { ServerContext } from './execute.js';
import { ServerMetrics } from './metrics.js';
import { DEFAULT_SERVER_LIMITS, DEFAULT_VERSION, type ListenTarget, type ServerLimits, type ServerOptions } from './options.js';
import { collectStats, newCounters, type ConnInfo, type ServerCounters, type ServerSettings } from './stats.js';
import { createTlsServer } from './tls.js';

/** memcached's reply to a connection over the limit, before it closes it. */
const TOO_MANY_CONNECTIONS = Buffer.from('ERROR Too many open connections\r\n');

/** A bound listener: TCP address or unix socket path; `tls` when it speaks TLS. */
export type BoundAddress = ({ host: string; port: number; family: string } | { path: string }) & { tls?: true };

/** A running server. */
export interface Server {
  /** Where each listener is bound (TCP port resolved when 0 was asked). */
  readonly addresses: readonly BoundAddress[];
  /** Live counters: connections, bytes, memcached's command counters, output stalls. */
  readonly counters: Readonly<ServerCounters>;
  /** Per command kind: requests, errors and (with `ServerOptions.metrics`) latency histograms. */
  readonly metrics: ServerMetrics;
  /** The Handler every request goes to. */
  readonly handler: Handler;
  /**
   * Graceful shutdown: stop accepting, stop reading, finish every request
   * already read and flush its reply, close connections, then close the
   * handlers. Connections still open after `graceMs` are cut.
   */
  close(graceMs?: number): Promise<void>;
}

/** Whether a server accepts connections on the unix socket at `path` (a live listener, not a stale file). */
/** Pending connections the kernel queues for a listener unless told otherwise (Node's and nutcracker's default). */
const DEFAULT_BACKLOG = 511;

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

async function listenOne(server: net.Server, target: ListenTarget): Promise<BoundAddress> {
  // A stale socket file from an earlier run would make listen fail with EADDRINUSE; a live one belongs to a running server.
  if ('path' in target && existsSync(target.path)) {
    if (await socketInUse(target.path)) {
      throw Object.assign(new Error(`listen EADDRINUSE: a server already listens on ${target.path}`), { code: 'EADDRINUSE' });
    }
    try {
      unlinkSync(target.path);
    } catch {
      /* listen reports it */
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
    if ('path' in target) server.listen(target.path, backlog, done);
    else server.listen(target.port, target.host ?? '127.0.0.1', backlog, done);
  });
}

/**
 * Start a memcached-compatible server in front of one Handler (composed
 * outside: tiers, chunking and storage are Handlers wrapping Handlers):
 *
 *     const server = await listenAndServe({
 *       listen: { port: 11211 },
 *       handler: new InMemoryHandler({ maxBytes: 64 << 20 }),
 *     });
 */
export async function listenAndServe(options: ServerOptions): Promise<Server> {
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const handler = options.handler;
  const onError =
    options.onError ??
    ((err: unknown) => {
      process.stderr.write(`cleave: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    });
  const counters = newCounters();
  const version = options.version ?? DEFAULT_VERSION;
  const startedAt = Date.now();
  const targets = Array.isArray(options.listen) ? options.listen : [options.listen];
  const firstTcp = targets.find((t): t is { port: number; host?: string } => 'port' in t);
  const firstUnix = targets.find((t): t is { path: string } => 'path' in t);
  const connections = new Set<Connection>();
  const metrics = new ServerMetrics(options.metrics === true);
  const detail = new PrefixStats();
  // memcached's current_time: whole seconds from a timer, so a read notes its time without a clock call.
  const clock = { now: Math.floor(Date.now() / 1000) };
  const ticker = setInterval(() => {
    clock.now = Math.floor(Date.now() / 1000);
  }, 1000);
  ticker.unref();
  /** Listener ids and addresses for `stats conns` (connections take the ids after them). */
  const listeners: { id: number; addr: string }[] = [];
  let nextId = 0;

  const auth = options.auth === undefined ? undefined : new Authenticator(options.auth, onError);
  const settings: ServerSettings = {
    maxConnections: limits.maxConnections,
    maxItemSize: limits.maxItemSize,
    idleTimeoutMs: limits.idleTimeoutMs,
    tcpPort: firstTcp?.port ?? 0,
    inter: firstTcp === undefined ? undefined : (firstTcp.host ?? '127.0.0.1'),
    domainSocket: firstUnix?.path,
    tcpBacklog: targets[0]?.backlog ?? DEFAULT_BACKLOG,
    verbosity: 0,
    auth: auth !== undefined,
    tls: targets.some((t) => t.tls !== undefined),
  };
  const startedSecs = clock.now;
  function* conns(asking: number): Iterable<ConnInfo> {
    for (const l of listeners) yield { id: l.id, addr: l.addr, state: 'conn_listening', lastCmd: startedSecs };
    for (const c of connections) yield c.info(asking);
  }
  const ctx: ServerContext = {
    ...(auth && { auth }),
    version,
    metrics,
    detail,
    clock,
    verbosity: (level) => {
      settings.verbosity = level;
    },
    stats: (req, storage, asking) =>
      collectStats({ version, startedAt, counters, settings, detail, now: () => clock.now, conns: () => conns(asking) }, req, storage),
  };

  /** Take a connection slot, or count a refusal when all are taken. */
  const admit = (): boolean => {
    if (counters.currConnections >= limits.maxConnections) {
      counters.rejectedConnections++;
      return false;
    }
    counters.currConnections++;
    counters.totalConnections++;
    return true;
  };
  const release = () => {
    counters.currConnections--;
  };
  /** Serve a connection; `releaseWhenDone` frees its slot when it closes. */
  const serve = (socket: net.Socket, releaseWhenDone: boolean, listenAddr: string) => {
    const conn = new Connection(nextId++, listenAddr, socket, handler, ctx, limits, counters, onError);
    connections.add(conn);
    void conn.done.then(() => {
      if (releaseWhenDone) release();
      connections.delete(conn);
    });
  };
  const onConnection = (listener: { addr: string }) => (socket: net.Socket) => {
    if (!admit()) {
      socket.on('error', () => {});
      socket.end(TOO_MANY_CONNECTIONS, () => socket.destroy());
      return;
    }
    serve(socket, true, listener.addr);
  };
  // TLS: a connection holds its slot from accept, through its handshake, to its close.
  const onTlsConnection = (raw: net.Socket): boolean => {
    if (!admit()) return false;
    raw.once('close', release);
    return true;
  };
  const onSecureConnection = (listener: { addr: string }) => (socket: tls.TLSSocket) => serve(socket, false, listener.addr);

  const servers: net.Server[] = [];
  const addresses: BoundAddress[] = [];
  try {
    for (const t of targets) {
      const listener = { id: nextId++, addr: '' };
      const s = t.tls
        ? createTlsServer(t.tls, onTlsConnection, onSecureConnection(listener))
        : net.createServer({ noDelay: true, allowHalfOpen: true }, onConnection(listener));
      servers.push(s);
      const bound = await listenOne(s, t);
      listener.addr = 'path' in bound ? `unix:${bound.path}` : socketAddress(bound.family, bound.host, bound.port);
      listeners.push(listener);
      addresses.push(t.tls ? { ...bound, tls: true } : bound);
    }
  } catch (err) {
    clearInterval(ticker);
    for (const s of servers) s.close();
    throw err;
  }
  const firstBound = addresses.find((a): a is { host: string; port: number; family: string } => 'port' in a);
  if (firstBound) settings.tcpPort = firstBound.port;

  let closing: Promise<void> | undefined;
  return {
    addresses,
    counters,
    metrics,
    handler,
    close(graceMs = 5000) {
      closing ??= (async () => {
        const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        await Promise.all([...connections].map((c) => c.shutdown(graceMs)));
        await Promise.all(stopped);
        clearInterval(ticker);
        if (options.closeHandlers !== false) await handler.close();
      })();
      return closing;
    },
  };
}
