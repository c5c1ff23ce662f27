import { DEFAULT_LIMITS, type Handler, type ParserLimits } from '@cleave/protocol';
import type { ShutdownMode } from './admin.js';
import type { AuthOptions } from './auth.js';
import type { TlsOptions } from './tls.js';

/**
 * Where to listen: a TCP host/port (port 0 = any free port) or a unix socket
 * path. With `tls`, the listener speaks TLS (e.g. `{ port: 11212, tls: { cert, key } }`).
 * A unix socket's `mode` (e.g. `0o700`, memcached's `-a`; nutcracker's
 * `listen: /tmp/mc.sock 0666`) is the socket file's permissions from the
 * moment it is bound; without it the process umask decides. A socket left
 * by an earlier run is replaced; one a running server listens on is not
 * (EADDRINUSE), nor is anything at the path that is not a socket (EEXIST:
 * a file, a directory, a symbolic link). `backlog` is the
 * kernel's queue of connections not yet accepted (default 511; nutcracker's
 * `backlog`).
 */
export type ListenTarget =
  | { port: number; host?: string; tls?: TlsOptions; backlog?: number }
  | { path: string; mode?: number; tls?: TlsOptions; backlog?: number };

/**
 * Limits, each with memcached 1.6's default where memcached has one: the
 * parsers' limits (key length, item size, line lengths, keys per get) and
 * the connection's own.
 */
export interface ServerLimits extends ParserLimits {
  /** Most simultaneous client connections (memcached `-c`, 1024); over it a client gets `ERROR Too many open connections` and is closed. */
  maxConnections: number;
  /** Close a connection idle this long, in ms (memcached `-o idle_timeout`); 0 = never. */
  idleTimeoutMs: number;
  /** Requests a connection may have waiting on asynchronous handlers before it runs and reads nothing more until some answer. */
  maxPendingRequests: number;
  /**
   * Reply bytes one connection may have produced and not yet handed to the
   * kernel (4 MiB). Past it the server runs nothing more for that connection
   * and reads nothing more from it until its socket drains, so a client that
   * does not read, or asks for more than it reads (a multi-get of many large
   * items), holds at most about this much plus one multi-get slice. Never
   * less than the socket's high-water mark (16 KiB).
   */
  maxOutputBytes: number;
}

export const DEFAULT_SERVER_LIMITS: Readonly<ServerLimits> = Object.freeze({
  ...DEFAULT_LIMITS,
  maxConnections: 1024,
  idleTimeoutMs: 0,
  maxPendingRequests: 4096,
  maxOutputBytes: 4 * 1024 * 1024,
});

export interface ServerOptions {
  /** One or several listeners. */
  listen: ListenTarget | ListenTarget[];
  /**
   * The Handler every request goes to: storage, or a composition of
   * Handlers (tiers, chunking) built by the caller, e.g.
   * `l1l2(new InMemoryHandler(), new MemcachedHandler({ address }))`.
   * Exactly one of `handler` and `worker` is given.
   */
  handler?: Handler;
  /**
   * Serving threads (default 1). The main thread is thread 0 and serves too;
   * threads 1..N-1 are worker threads, each accepting on every listener and
   * serving its connections with a Handler of its own, built by `worker`.
   * Over 1, the process's libuv accepts one connection per wake-up
   * (UV_TCP_SINGLE_ACCEPT=1, set before the first listener is bound; libuv
   * reads it once per process).
   */
  threads?: number;
  /** How each thread builds its Handler (required when `threads` > 1). */
  worker?: HandlerModule;
  limits?: Partial<ServerLimits>;
  /** The version `version` answers (memcached clients expect `x.y.z`). */
  version?: string;
  /**
   * Whether `close()` also closes the handler (default true). Set false when
   * several servers share handlers, e.g. a second port serving another
   * composition over the same tiers.
   */
  closeHandlers?: boolean;
  /** Where server-side problems are reported (never client input errors); default: stderr. */
  onError?: (err: unknown) => void;
  /**
   * Require clients to authenticate, on every listener (default: off).
   * Text clients use memcached's ASCII auth (`set <key> 0 0 <n>` with data
   * `username password`), binary clients SASL PLAIN. See docs/security.md.
   */
  auth?: AuthOptions;
  /**
   * Measure each request's server-side latency into `server.metrics`'
   * histograms (default false: the request path never reads the clock).
   * Request and error counts are kept either way.
   */
  metrics?: boolean;
  /**
   * Enable the text `shutdown [graceful]` command (memcached `-A`; default
   * off, when it answers `ERROR: shutdown not enabled`). The connection that
   * sends it is closed without a reply, then `true` closes the server
   * (`close()`: `graceful` lets requests in flight finish within the usual
   * grace, a plain `shutdown` cuts them), and a function is called instead,
   * to stop whatever else the caller runs too.
   */
  shutdown?: boolean | ((mode: ShutdownMode) => void);
}

/**
 * A module that builds a thread's Handler: loaded in every serving thread
 * (worker threads run JavaScript, so a built file, not TypeScript source).
 */
export interface HandlerModule {
  /** Absolute path or file: URL of an ES module (or CommonJS) loadable in a worker thread. */
  module: string | URL;
  /** Its export, a HandlerFactory (default 'createHandler'). */
  export?: string;
  /** Passed to the factory in every thread: structured-cloned, SharedArrayBuffers shared. */
  data?: unknown;
}

/** Which serving thread a factory builds for: `index` 0 is the main thread. */
export interface ThreadInfo {
  readonly index: number;
  readonly threads: number;
}

/** Builds one thread's Handler from `HandlerModule.data`. */
export type HandlerFactory<D = unknown> = (data: D, thread: ThreadInfo) => Handler | Promise<Handler>;

/**
 * What `version` answers by default: the memcached release whose behaviour
 * cleave reproduces. It must be a bare x.y.z: some clients (the npm
 * `memcached` package among them) reject anything after the patch number.
 */
export const DEFAULT_VERSION = '1.6.18';
