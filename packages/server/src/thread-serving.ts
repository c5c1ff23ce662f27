import net from 'node:net';
import { pathToFileURL } from 'node:url';
import type { Handler, StatsGroup, StatsRequest } from '@cleave/protocol';
import type { ShutdownMode } from './admin.js';
import type { AuthOptions } from './auth.js';
import { ServerMetrics } from './metrics.js';
import type { HandlerFactory, ServerLimits } from './options.js';
import { Serving } from './serving.js';
import { detailCommand, isDetail, isReset, resetCounters, sharedCounters, storageGroup, type ConnInfo, type StatsReply } from './stats.js';
import type { TlsOptions } from './tls.js';

/** What the threads of one server share: connection counts, counters and metrics, one slice per thread. */
export interface SharedFigures {
  /** Int32: connections open on thread i at [i]; at [threads], on the whole server; at [threads + 1], threads accepting. */
  readonly counts: SharedArrayBuffer;
  /** Float64: each thread's ServerCounters (COUNTER_FIELDS.length slots each). */
  readonly counters: SharedArrayBuffer;
  /** Float64: each thread's ServerMetrics (ServerMetrics.SLOTS each). */
  readonly metrics: SharedArrayBuffer;
}

/** One listener as every thread serves it. */
export interface ThreadListener {
  /** A descriptor of the bound listener the main thread holds (never accepting on it), duplicated for each thread. */
  readonly fd: number;
  /** Its address as `stats conns` shows it. */
  readonly addr: string;
  readonly tls?: TlsOptions;
  readonly backlog: number;
}

/** Everything a serving thread is started with: structured-cloneable. */
export interface ThreadStart {
  readonly index: number;
  readonly threads: number;
  /** file: URL of the HandlerModule. */
  readonly module: string;
  readonly export: string;
  readonly data: unknown;
  readonly limits: ServerLimits;
  readonly version: string;
  readonly auth?: AuthOptions;
  readonly metrics: boolean;
  readonly shutdown: boolean;
  readonly closeHandlers: boolean;
  readonly listeners: readonly ThreadListener[];
  readonly shared: SharedFigures;
}

/** One thread's answer to a stats request: its handler's group, its connections, its `stats detail` counts. */
export interface LocalStats {
  storage?: StatsGroup;
  conns?: ConnInfo[];
  detail?: [Uint8Array, number, number, number, number][];
}

export interface ThreadHooks {
  onError(err: unknown): void;
  shutdown(mode: ShutdownMode): void;
  verbosity(level: number): void;
  gather(req: StatsRequest, asking: number): Promise<StatsReply>;
  /** A connection was admitted or released on this thread (to balance accepting). */
  changed?(): void;
}

/** A thread's serving over the shared figures: connection slots counted for the whole server. */
export function threadServing(start: ThreadStart, handler: Handler, hooks: ThreadHooks): Serving {
  const { index, threads, limits } = start;
  const counts = new Int32Array(start.shared.counts);
  const counters = sharedCounters(new Float64Array(start.shared.counters), index);
  const metrics = new ServerMetrics(start.metrics, start.shared.metrics, index);
  const changed = hooks.changed;
  return new Serving({
    handler,
    limits,
    version: start.version,
    counters,
    metrics,
    ...(start.auth !== undefined && { auth: start.auth }),
    onError: hooks.onError,
    listeners: start.listeners.length,
    idStep: threads,
    idOffset: index,
    admit: () => {
      // maxConnections is the whole server's.
      if (Atomics.add(counts, threads, 1) >= limits.maxConnections) {
        Atomics.sub(counts, threads, 1);
        counters.rejectedConnections++;
        return false;
      }
      Atomics.add(counts, index, 1);
      counters.currConnections++;
      counters.totalConnections++;
      changed?.();
      return true;
    },
    release: () => {
      Atomics.sub(counts, threads, 1);
      Atomics.sub(counts, index, 1);
      counters.currConnections--;
      changed?.();
    },
    ...(start.shutdown && { shutdown: hooks.shutdown }),
    verbosity: hooks.verbosity,
    gather: hooks.gather,
  });
}

/**
 * This thread's part of a stats request: `stats reset` and `stats detail
 * on|off` applied here, and what the merge needs from this thread.
 */
export async function localStats(serving: Serving, handler: Handler, req: StatsRequest, asking: number): Promise<LocalStats> {
  const out: LocalStats = {};
  if (isReset(req)) {
    resetCounters(serving.counters);
    serving.detail.clear();
  } else if (isDetail(req)) {
    detailCommand(serving.detail, req);
    out.detail = serving.detail.entries();
  } else if (req.group === 'conns' && req.protocol !== 'binary') {
    out.conns = [...serving.conns(asking)];
  }
  const group = storageGroup(req);
  if (group !== undefined) {
    const storage = await handler.stats?.(group);
    if (storage !== undefined) out.storage = storage;
  }
  return out;
}

/** Atomics.waitAsync: Node 20 has it, the project's TypeScript lib does not. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(a: Int32Array, index: number, value: number, timeoutMs: number): { async: boolean; value: Promise<string> | string };
  }
).waitAsync;

/** A raw listening handle (TCP or Pipe) received from the helper process. */
interface RawListener {
  onconnection: ((status: number, client?: object) => void) | null;
  listen(backlog: number): number;
  close(cb?: () => void): void;
}

/**
 * A thread's listeners: each its own duplicate of the bound descriptor,
 * served through the raw handle (net.Server.listen would wrap a Pipe's
 * descriptor a second time, and two wraps would close it twice), its
 * connections handed to the thread's net.Server or tls.Server.
 *
 * Balance: a thread holding more than its share of the server's
 * connections (ceil(total / threads) + 1) closes its duplicates and stops
 * accepting; it takes fresh ones (fetched in advance) once back at or under
 * its share, woken by the others' changes to the count. libuv accepts in a
 * loop until EAGAIN, so without this one thread can take a whole burst.
 */
export class ThreadListeners {
  private readonly handles: (RawListener | undefined)[];
  private spares: (RawListener | undefined)[] = [];
  private paused = false;
  private stopped = false;
  private readonly counts: Int32Array;

  constructor(
    private readonly start: ThreadStart,
    private readonly servers: readonly net.Server[],
    private readonly get: (i: number) => Promise<object>,
    private readonly onError: (err: unknown) => void,
  ) {
    this.handles = servers.map(() => undefined);
    this.counts = new Int32Array(start.shared.counts);
  }

  /** Listen on a first duplicate of every listener. */
  async listen(): Promise<void> {
    const handles = await Promise.all(this.servers.map((_, i) => this.get(i)));
    handles.forEach((h, i) => this.open(i, h as RawListener));
    this.prefetch();
  }

  /** Fetch the duplicates to start again with, before they are needed: starting again must not wait. */
  private prefetch(): void {
    this.spares = this.servers.map(() => undefined);
    this.servers.forEach((_, i) => {
      this.get(i).then(
        (h) => {
          if (this.stopped) (h as RawListener).close();
          else {
            this.spares[i] = h as RawListener;
            this.resumeIfUnder();
          }
        },
        (err) => {
          if (!this.stopped) this.onError(err);
        },
      );
    });
  }

  private open(i: number, h: RawListener): void {
    const server = this.servers[i]!;
    h.onconnection = (status, client) => {
      if (status < 0 || client === undefined) return;
      const socket = new net.Socket({ handle: client, allowHalfOpen: true, readable: true, writable: true } as net.SocketConstructorOpts);
      server.emit('connection', socket);
    };
    const err = h.listen(this.start.listeners[i]!.backlog);
    if (err < 0) {
      h.close();
      throw Object.assign(new Error(`listen failed on a duplicate of ${this.start.listeners[i]!.addr} (${err})`), { errno: err });
    }
    this.handles[i] = h;
  }

  /** After a connection was admitted or released here. */
  changed(): void {
    if (this.stopped) return;
    const { index, threads } = this.start;
    // A thread that stopped accepting waits on the count to start again.
    if (Atomics.load(this.counts, threads + 1) < threads) Atomics.notify(this.counts, threads);
    const own = Atomics.load(this.counts, index);
    const share = Math.ceil(Atomics.load(this.counts, threads) / threads);
    if (!this.paused && own > share + 1) this.pause();
    else if (this.paused && own <= share) this.resume();
  }

  private pause(): void {
    // The last thread accepting stops too: a thread that has stopped wakes late on a busy machine
    // (milliseconds), and the last one would take the rest of a burst meanwhile. Some other thread
    // is then at or under its share, holds its duplicates (fetched in advance) and starts again at
    // the notify below; the burst waits in the kernel's backlog for that long.
    Atomics.sub(this.counts, this.start.threads + 1, 1);
    Atomics.notify(this.counts, this.start.threads);
    this.paused = true;
    for (const h of this.handles) h?.close();
    this.handles.fill(undefined);
    void this.watch();
  }

  /** While stopped: look again whenever the server's connection count changes (others notify it). */
  private async watch(): Promise<void> {
    const total = this.start.threads;
    while (this.paused && !this.stopped) {
      const seen = Atomics.load(this.counts, total);
      this.resumeIfUnder();
      if (!this.paused) return;
      const w = waitAsync(this.counts, total, seen, 100);
      if (w.async) await w.value;
    }
  }

  private resumeIfUnder(): void {
    const { index, threads } = this.start;
    if (this.paused && Atomics.load(this.counts, index) <= Math.ceil(Atomics.load(this.counts, threads) / threads)) this.resume();
  }

  private resume(): void {
    if (this.stopped || this.spares.some((h) => h === undefined)) return;
    this.paused = false;
    Atomics.add(this.counts, this.start.threads + 1, 1);
    const spares = this.spares;
    try {
      spares.forEach((h, i) => this.open(i, h!));
    } catch (err) {
      this.onError(err);
    }
    this.prefetch();
  }

  /** Stop accepting for good. */
  close(): void {
    this.stopped = true;
    for (const h of [...this.handles, ...this.spares]) h?.close();
    this.handles.fill(undefined);
    this.spares = [];
  }
}

/** A HandlerModule's module as a URL import() takes. */
export function moduleHref(m: string | URL): string {
  if (m instanceof URL) return m.href;
  return m.startsWith('file:') ? m : pathToFileURL(m).href;
}

/** The factory a HandlerModule names. */
export async function loadFactory(m: { module: string | URL; export?: string }): Promise<HandlerFactory> {
  const href = moduleHref(m.module);
  const name = m.export ?? 'createHandler';
  const mod = (await import(href)) as Record<string, unknown> & { default?: Record<string, unknown> };
  // A CommonJS module's exports may come only as its default.
  const f = mod[name] ?? mod.default?.[name];
  if (typeof f !== 'function') throw new TypeError(`${href} has no export '${name}' that is a function`);
  return f as HandlerFactory;
}

/** Messages between the main thread and a worker thread. */
export type ToWorker =
  | { t: 'part'; id: number; group: string; protocol: StatsRequest['protocol']; asking: number }
  | { t: 'gathered'; id: number; reply: StatsReply | Uint8Array }
  | { t: 'close'; graceMs: number };
export type FromWorker =
  | { t: 'ready' }
  | { t: 'failed'; err: unknown }
  | { t: 'part'; id: number; part: LocalStats }
  | { t: 'gather'; id: number; group: string; protocol: StatsRequest['protocol']; asking: number }
  | { t: 'error'; err: unknown }
  | { t: 'shutdown'; mode: ShutdownMode }
  | { t: 'verbosity'; level: number }
  | { t: 'closed' };

/** A stats request rebuilt from its group and protocol (what the stats code reads of it). */
export function rebuiltStatsRequest(group: string, protocol: StatsRequest['protocol']): StatsRequest {
  return { cmd: 'stats', protocol, group } as StatsRequest;
}

/** A reply that crossed threads: a Buffer arrives as a Uint8Array. */
export function receivedReply(reply: StatsReply | Uint8Array): StatsReply {
  return reply instanceof Uint8Array && !Buffer.isBuffer(reply) ? Buffer.from(reply.buffer, reply.byteOffset, reply.byteLength) : reply;
}
