import net from 'node:net';
import type tls from 'node:tls';
import type { Handler, StatsRequest } from '@cleave/protocol';
import { Authenticator, type AuthOptions } from './auth.js';
import { Connection } from './connection.js';
import { PrefixStats } from './detail.js';
import type { ShutdownMode } from './admin.js';
import type { ServerContext } from './execute.js';
import type { ServerMetrics } from './metrics.js';
import type { ServerLimits } from './options.js';
import { collectStats, type ConnInfo, type ServerCounters, type ServerSettings, type StatsReply } from './stats.js';
import type { TlsOptions } from './tls.js';
import { createTlsServer } from './tls.js';

/** memcached's reply to a connection over the limit, before it closes it. */
const TOO_MANY_CONNECTIONS = Buffer.from('ERROR Too many open connections\r\n');

export interface ServingOptions {
  handler: Handler;
  limits: ServerLimits;
  version: string;
  counters: ServerCounters;
  metrics: ServerMetrics;
  auth?: AuthOptions;
  onError: (err: unknown) => void;
  /** Listeners the server has: connection ids start after theirs. */
  listeners: number;
  /** Connection ids are `listeners + k * idStep + idOffset` (threads number their connections apart). */
  idStep: number;
  idOffset: number;
  /** Take a connection slot, or count a refusal (false). */
  admit(): boolean;
  /** Free a slot `admit` took. */
  release(): void;
  /** Set when the `shutdown` command is enabled; runs after the request that asked. */
  shutdown?: (mode: ShutdownMode) => void;
  verbosity(level: number): void;
  /** With threads: the reply to a stats request merged over every thread. */
  gather?: (req: StatsRequest, asking: number) => Promise<StatsReply>;
  /** Without `gather`: what this server's own stats report. */
  settings?: ServerSettings;
  startedAt?: number;
}

/**
 * One thread's serving: its listeners' connection callbacks, its
 * connections, and the context they share (auth, clock, stats detail).
 */
export class Serving {
  readonly connections = new Set<Connection>();
  readonly detail = new PrefixStats();
  /** memcached's current_time: whole seconds from a timer, so a read notes its time without a clock call. */
  readonly clock = { now: Math.floor(Date.now() / 1000) };
  /** Listener ids and addresses for `stats conns`, in listener order. */
  readonly listeners: { id: number; addr: string }[] = [];
  readonly ctx: ServerContext;
  private readonly ticker: NodeJS.Timeout;
  private nextConn = 0;
  private readonly startedSecs: number;

  constructor(private readonly o: ServingOptions) {
    this.ticker = setInterval(() => {
      this.clock.now = Math.floor(Date.now() / 1000);
    }, 1000);
    this.ticker.unref();
    this.startedSecs = this.clock.now;
    const auth = o.auth === undefined ? undefined : new Authenticator(o.auth, o.onError);
    const shutdown = o.shutdown;
    this.ctx = {
      ...(auth && { auth }),
      // Run after the request that asked (it is inside a connection's run loop).
      ...(shutdown !== undefined && { shutdown: (mode: ShutdownMode) => setImmediate(() => shutdown(mode)) }),
      ...(o.gather !== undefined && { gather: o.gather }),
      version: o.version,
      metrics: o.metrics,
      detail: this.detail,
      clock: this.clock,
      verbosity: o.verbosity,
      stats: (req, storage, asking) =>
        collectStats(
          {
            version: o.version,
            startedAt: o.startedAt ?? 0,
            counters: o.counters,
            settings: o.settings!,
            detail: this.detail,
            now: () => this.clock.now,
            conns: () => [...this.listenerInfo(), ...this.conns(asking)],
          },
          req,
          storage,
        ),
    };
  }

  /** This thread's counters. */
  get counters(): ServerCounters {
    return this.o.counters;
  }

  /** The listeners as `stats conns` lists them. */
  listenerInfo(): ConnInfo[] {
    return this.listeners.map((l) => ({ id: l.id, addr: l.addr, state: 'conn_listening', lastCmd: this.startedSecs }));
  }

  /** This thread's connections; `asking` is the id of the connection that asks. */
  *conns(asking: number): Iterable<ConnInfo> {
    for (const c of this.connections) yield c.info(asking);
  }

  /** A listener (not yet listening) whose connections this thread serves; `addr` is its address in `stats conns`. */
  createListener(id: number, tlsOptions: TlsOptions | undefined): { server: net.Server; listener: { id: number; addr: string } } {
    const listener = { id, addr: '' };
    this.listeners.push(listener);
    const o = this.o;
    const serve = (socket: net.Socket, releaseWhenDone: boolean) => {
      const id = o.listeners + this.nextConn++ * o.idStep + o.idOffset;
      const conn = new Connection(id, listener.addr, socket, o.handler, this.ctx, o.limits, o.counters, o.onError);
      this.connections.add(conn);
      void conn.done.then(() => {
        if (releaseWhenDone) o.release();
        this.connections.delete(conn);
      });
    };
    let server: net.Server;
    if (tlsOptions) {
      // TLS: a connection holds its slot from accept, through its handshake, to its close.
      const onTlsConnection = (raw: net.Socket): boolean => {
        if (!o.admit()) return false;
        raw.once('close', o.release);
        return true;
      };
      server = createTlsServer(tlsOptions, onTlsConnection, (socket: tls.TLSSocket) => serve(socket, false));
    } else {
      server = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket: net.Socket) => {
        if (!o.admit()) {
          socket.on('error', () => {});
          socket.end(TOO_MANY_CONNECTIONS, () => socket.destroy());
          return;
        }
        serve(socket, true);
      });
    }
    return { server, listener };
  }

  /** Graceful shutdown of every connection (see Connection.shutdown). */
  async shutdownConnections(graceMs: number): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.shutdown(graceMs)));
  }

  stop(): void {
    clearInterval(this.ticker);
  }
}
