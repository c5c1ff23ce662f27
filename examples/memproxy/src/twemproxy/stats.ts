/**
 * cleave-twemproxy's stats port: the JSON document nutcracker 0.5.0 serves
 * (src/nc_stats.c), byte for byte in its layout, so dashboards and scripts
 * written for nutcracker read it unchanged.
 *
 * The document: `service` ("nutcracker"), `source` (the host name),
 * `version`, `uptime` (s), `timestamp` (s since the epoch),
 * `total_connections`, `curr_connections`, then one object per pool, in the
 * order given (nutcracker's: pool names sorted shorter first, then bytewise,
 * as conf.ts sorts them): client_eof, client_err, client_connections,
 * server_ejects, forward_error, fragments, then one object per server, in
 * the pool's order and named by its stats label: server_eof, server_err,
 * server_timedout, server_connections, server_ejected_at, requests,
 * request_bytes, responses, response_bytes, in_queue, in_queue_bytes,
 * out_queue, out_queue_bytes. Every value is an integer. Written the way
 * nutcracker writes it: `"key":value, ` pairs, `"name": {` to open an object,
 * no space between `},"`, a final `}` and a newline; each connection gets one
 * document and is closed, whatever it sends.
 *
 * Like nutcracker, pool and server figures are those of the last aggregation
 * (every `intervalMs`, nutcracker's -i), not live; the header (uptime,
 * timestamp, connection totals) is live.
 *
 * Where the figures come from, and how close they are to nutcracker's:
 * - exact: service, source, version, uptime, timestamp; client_connections
 *   (the pool listener's open connections); server_ejects;
 *   server_ejected_at (µs since the epoch, as nutcracker; ours has ms
 *   resolution); requests and responses for single-key commands.
 * - same meaning, our own accounting: client_eof (the client closed or sent
 *   quit) and client_err (any other close: reset, protocol error, idle kick),
 *   from the pool listener's counters; forward_error (requests failed because
 *   their server did); server_connections (connections to the server that
 *   are ready: ours open at start, nutcracker's on first use);
 *   total_connections and curr_connections count, as nutcracker does,
 *   listeners, client connections and server connections together;
 *   server_ejected_at is also set when a server without auto_eject_hosts is
 *   marked down (nutcracker sets it on ejection only).
 * - approximate: requests and responses count a multi-get's keys one each
 *   (nutcracker counts one per fragment); server_eof, server_timedout and
 *   server_err count requests that failed for those reasons (nutcracker
 *   counts server connections closed for them); request_bytes and
 *   response_bytes are the bytes cleave wrote to and read from memcached, in
 *   the meta protocol and with its batch markers (nutcracker counts the
 *   client's text protocol bytes it forwards); out_queue is the requests sent
 *   or queued to the server and not yet answered, batch markers included,
 *   and in_queue is 0 (cleave writes a server's queued requests every
 *   event-loop turn); in_queue_bytes and out_queue_bytes are 0 (not kept).
 * - different: fragments counts the per-server batches multi-gets were split
 *   into; nutcracker 0.5.0 declares it but never counts it (always 0).
 */
import net from 'node:net';
import { MemcachedHandler } from '@cleave/handler-memcached';
import type { StatsGroup } from '@cleave/protocol';
import type { Pool, PoolMember } from '@cleave/router';
import type { Server } from '@cleave/server';

export interface StatsPool {
  /** The pool's name in nutcracker.yml. */
  name: string;
  /** The server listening on the pool's `listen` address. */
  server: Server;
  pool: Pool;
}

export interface StatsServerOptions {
  /** Where the stats port listens (nutcracker's -a, default 0.0.0.0). */
  host: string;
  /** Its TCP port (nutcracker's -s, default 22222); 0 = any free port. */
  port: number;
  /** How often pool and server figures are aggregated, in ms (nutcracker's -i, default 30000). */
  intervalMs: number;
  /** The `source` field: nutcracker puts the host name there. */
  source: string;
  /** The `version` field. */
  version: string;
  /** In the order the document lists them. */
  pools: readonly StatsPool[];
}

export interface StatsServer {
  /** Stop aggregating and listening; connections still being answered are cut. */
  close(): Promise<void>;
  /** The port bound (resolved when 0 was asked). */
  port: number;
}

/** A server's own backend counters, read synchronously (never a round trip to its memcached); none for another Handler. */
function ownStats(m: PoolMember): StatsGroup | undefined {
  return m.handler instanceof MemcachedHandler ? m.handler.ownStats() : undefined;
}

/** A numeric figure of a server's own counters; 0 when its handler does not report it. */
function figure(st: StatsGroup | undefined, key: string): number {
  const v = st?.[key];
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : 0;
}

/** `"key":value, ` as nutcracker writes a number. */
function pair(key: string, value: number): string {
  return `"${key}":${Math.trunc(value)}, `;
}

/** Opens an object: `"name": {` (names are JSON-escaped; nutcracker's plain names come out the same). */
function openObject(name: string): string {
  return `${JSON.stringify(name)}: {`;
}

/**
 * Closes the object opened last, as nutcracker does: a trailing `, ` becomes
 * `},`; a trailing `},` (a nested object just closed) becomes `}},`.
 */
function closeObject(s: string): string {
  return s.endsWith(', ') ? `${s.slice(0, -2)}},` : `${s.slice(0, -1)}},`;
}

/** One pool's figures, as of now. */
function renderPool(p: StatsPool): string {
  const c = p.server.counters;
  const pc = p.pool.counters;
  let s =
    openObject(p.name) +
    pair('client_eof', c.clientEof) +
    pair('client_err', c.clientErr) +
    pair('client_connections', c.currConnections) +
    pair('server_ejects', pc.serverEjects) +
    pair('forward_error', pc.forwardErrors) +
    pair('fragments', pc.fragments);
  for (const m of p.pool.members) s = closeObject(s + renderServer(m));
  return closeObject(s);
}

/** One server's figures, as of now, without the closing brace. */
function renderServer(m: PoolMember): string {
  const mc = m.counters;
  const st = ownStats(m);
  // Member errors include their timeouts and eofs; nutcracker's three figures do not overlap.
  const otherErrors = Math.max(0, mc.errors - mc.timeouts - mc.eof);
  return (
    openObject(m.label) +
    pair('server_eof', mc.eof) +
    pair('server_err', otherErrors) +
    pair('server_timedout', mc.timeouts) +
    pair('server_connections', figure(st, 'backend_connections_ready')) +
    pair('server_ejected_at', m.ejectedAt * 1000) +
    pair('requests', mc.requests) +
    pair('request_bytes', figure(st, 'backend_bytes_written')) +
    pair('responses', mc.responses) +
    pair('response_bytes', figure(st, 'backend_bytes_read')) +
    pair('in_queue', 0) +
    pair('in_queue_bytes', 0) +
    pair('out_queue', figure(st, 'backend_in_flight')) +
    pair('out_queue_bytes', 0)
  );
}

/**
 * Serve nutcracker's stats JSON on host:port. Each connection gets the
 * document (header live, pools as of the last aggregation) and is closed.
 */
export function startStatsServer(opts: StatsServerOptions): Promise<StatsServer> {
  const { intervalMs, pools } = opts;
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) {
    return Promise.reject(new RangeError(`stats interval must be a positive number of ms, got ${String(intervalMs)}`));
  }
  const startedAt = Math.floor(Date.now() / 1000);
  const servers = [...new Set(pools.map((p) => p.server))];
  const head = `{"service":"nutcracker", "source":${JSON.stringify(opts.source)}, "version":${JSON.stringify(opts.version)}, `;

  /** The pools' part of the document as of the last aggregation. */
  let body = '';
  const aggregate = () => {
    let s = '';
    for (const p of pools) s += renderPool(p);
    body = s;
  };
  aggregate();
  const timer = setInterval(aggregate, intervalMs);
  timer.unref();

  /** The whole document: the live header, then the aggregated pools. */
  const document = (): string => {
    const now = Math.floor(Date.now() / 1000);
    // Listeners, client connections and server connections, as nutcracker counts its connections.
    let total = 0;
    let curr = 0;
    for (const srv of servers) {
      total += srv.addresses.length + srv.counters.totalConnections;
      curr += srv.addresses.length + srv.counters.currConnections;
    }
    for (const p of pools) {
      for (const m of p.pool.members) {
        const st = ownStats(m);
        total += figure(st, 'backend_connects');
        curr += figure(st, 'backend_connections_ready');
      }
    }
    const s =
      head +
      pair('uptime', now - startedAt) +
      pair('timestamp', now) +
      pair('total_connections', total) +
      pair('curr_connections', curr) +
      body;
    // nutcracker's footer: the last byte (the `,` after the last pool) becomes `}`, then a newline.
    return `${s.slice(0, -1)}}\n`;
  };

  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {
      // A client gone before reading: nothing to do, 'close' follows.
    });
    // Read and drop whatever the client sends: bytes left unread would turn the close into a reset that can lose the document.
    socket.resume();
    socket.end(document(), () => socket.destroy());
  });

  return new Promise((resolve, reject) => {
    listener.once('error', (err) => {
      clearInterval(timer);
      reject(err);
    });
    listener.listen(opts.port, opts.host, () => {
      listener.removeAllListeners('error');
      listener.on('error', () => {
        // After listening, accept errors (EMFILE ...) leave the port serving.
      });
      const a = listener.address();
      const port = typeof a === 'object' && a !== null ? a.port : opts.port;
      let closing: Promise<void> | undefined;
      resolve({
        port,
        close() {
          closing ??= new Promise<void>((done) => {
            clearInterval(timer);
            listener.close(() => done());
            for (const s of sockets) s.destroy();
          });
          return closing;
        },
      });
    });
  });
}
