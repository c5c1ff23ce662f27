import type net from 'node:net';
import { linkSync, lstatSync, renameSync, unlinkSync } from 'node:fs';
import { Worker, threadId } from 'node:worker_threads';
import { ListenerDup } from './listener-dup.js';
import type { Handler, StatsRequest } from '@cleave/protocol';
import type { ShutdownMode } from './admin.js';
import { PrefixStats } from './detail.js';
import { ServerMetrics } from './metrics.js';
import { DEFAULT_SERVER_LIMITS, DEFAULT_VERSION, type HandlerModule, type ServerLimits, type ServerOptions } from './options.js';
import type { Server, BoundAddress } from './server.js';
import { DEFAULT_BACKLOG, defaultOnError, listenOne, listenerAddr, replyGroup, serverSettings, statsRequest } from './server.js';
import type { Serving } from './serving.js';
import {
  COUNTER_FIELDS,
  collectStats,
  mergeGroups,
  storageGroup,
  sumCounters,
  type ConnInfo,
  type ServerSettings,
  type StatsReply,
} from './stats.js';
import {
  localStats,
  moduleHref,
  loadFactory,
  rebuiltStatsRequest,
  threadServing,
  ThreadListeners,
  type FromWorker,
  type LocalStats,
  type ThreadListener,
  type ThreadStart,
  type ToWorker,
} from './thread-serving.js';

export { loadFactory };

/**
 * The worker threads' entry, built into dist next to the package's own
 * files; from the sources (tests) it is the built one in dist too.
 */
const THREAD_ENTRY = new URL('../dist/thread-entry.js', import.meta.url);

interface MainHooks {
  onError(err: unknown): void;
  shutdown(mode: ShutdownMode): void;
  verbosity(level: number): void;
  gather(req: StatsRequest, asking: number): Promise<StatsReply>;
}

/** The main thread's end of one worker thread. */
class WorkerLink {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  private readonly exited: Promise<void>;
  private isReady = false;
  private readonly asks = new Map<number, (part: LocalStats) => void>();
  private nextAsk = 0;
  private onClosed: (() => void) | undefined;

  constructor(
    readonly index: number,
    start: ThreadStart,
    hooks: MainHooks,
  ) {
    this.worker = new Worker(THREAD_ENTRY, { workerData: start });
    let readyDone!: (err?: unknown) => void;
    this.ready = new Promise((resolve, reject) => {
      readyDone = (err) => (err === undefined ? resolve() : reject(err));
    });
    // Rejections are taken by listenAndServe's Promise.all; one nobody awaits must not be unhandled.
    this.ready.catch(() => {});
    this.worker.on('message', (m: FromWorker) => {
      switch (m.t) {
        case 'ready':
          this.isReady = true;
          readyDone();
          return;
        case 'failed':
          readyDone(m.err);
          return;
        case 'part':
          this.asks.get(m.id)?.(m.part);
          this.asks.delete(m.id);
          return;
        case 'gather':
          void hooks.gather(rebuiltStatsRequest(m.group, m.protocol), m.asking).then(
            (reply) => this.post({ t: 'gathered', id: m.id, reply }),
            (err) => {
              hooks.onError(err);
              this.post({ t: 'gathered', id: m.id, reply: undefined });
            },
          );
          return;
        case 'error':
          hooks.onError(m.err);
          return;
        case 'shutdown':
          hooks.shutdown(m.mode);
          return;
        case 'verbosity':
          hooks.verbosity(m.level);
          return;
        case 'closed':
          this.onClosed?.();
          return;
      }
    });
    // An exception the worker did not catch: it exits.
    this.worker.on('error', (err) => {
      if (this.isReady) hooks.onError(err);
      readyDone(err);
    });
    this.exited = new Promise((resolve) => {
      this.worker.once('exit', (code) => {
        readyDone(new Error(`serving thread ${index} exited (code ${code}) before it was ready`));
        // A thread that died took its connections with it: they hold no slot any more.
        const counts = new Int32Array(start.shared.counts);
        Atomics.sub(counts, start.threads, Atomics.exchange(counts, index, 0));
        new Float64Array(start.shared.counters)[index * COUNTER_FIELDS.length + COUNTER_FIELDS.indexOf('currConnections')] = 0;
        for (const answer of this.asks.values()) answer({});
        this.asks.clear();
        this.onClosed?.();
        resolve();
      });
    });
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  /** This thread's part of a stats request. */
  ask(req: StatsRequest, asking: number): Promise<LocalStats> {
    const id = this.nextAsk++;
    return new Promise((resolve) => {
      this.asks.set(id, resolve);
      this.post({ t: 'part', id, group: req.group, protocol: req.protocol, asking });
    });
  }

  /** Graceful: the worker stops accepting, shuts its connections down and closes its handler; then it ends. */
  async close(graceMs: number): Promise<void> {
    if (this.isReady) {
      const closed = new Promise<void>((resolve) => {
        this.onClosed = resolve;
      });
      this.post({ t: 'close', graceMs });
      await closed;
    }
    await this.worker.terminate();
    await this.exited;
  }
}

/** A raw listening handle (TCP or Pipe) as it comes from the helper process. */
interface RawHandle {
  readonly fd: number;
  close(): void;
}

/**
 * Close the listener the main thread bound, now that duplicates hold its
 * socket. Closing a unix socket's listener removes its file: a second link
 * taken before, renamed back after, keeps the path (it is missing only
 * between two synchronous calls, while the server starts).
 */
function closeBound(server: net.Server, bound: BoundAddress): void {
  if (!('path' in bound)) {
    server.close();
    return;
  }
  const keep = `${bound.path}.${process.pid}.${threadId}`;
  linkSync(bound.path, keep);
  server.close();
  renameSync(keep, bound.path);
}

/** Remove the unix socket files (the listeners that bound them closed long ago, without removing them). */
function removeSockets(addresses: readonly BoundAddress[]): void {
  for (const a of addresses) {
    if (!('path' in a)) continue;
    try {
      if (lstatSync(a.path).isSocket()) unlinkSync(a.path);
    } catch {
      /* already gone */
    }
  }
}

/** The sum over threads, as `stats` answers (see stats.ts): one reply from each thread's LocalStats. */
function mergedReply(
  req: StatsRequest,
  parts: readonly LocalStats[],
  src: {
    version: string;
    startedAt: number;
    settings: ServerSettings;
    counters: Float64Array;
    threads: number;
    main: Serving;
  },
): StatsReply {
  const detail = new PrefixStats();
  detail.enabled = src.main.detail.enabled;
  for (const p of parts) if (p.detail !== undefined) detail.add(p.detail);
  // The handlers' settings are the same in every thread: the main thread's.
  const storage = storageGroup(req) === 'settings' ? parts[0]?.storage : mergeGroups(parts.map((p) => p.storage));
  const conns: ConnInfo[] = src.main.listenerInfo();
  for (const p of parts) if (p.conns !== undefined) conns.push(...p.conns);
  return collectStats(
    {
      version: src.version,
      startedAt: src.startedAt,
      counters: sumCounters(src.counters, src.threads),
      settings: src.settings,
      detail,
      now: () => src.main.clock.now,
      conns: () => conns,
      threads: src.threads,
    },
    req,
    storage,
  );
}

/**
 * listenAndServe with serving threads: the main thread binds every listener
 * and serves as thread 0; each worker thread builds its own Handler and
 * accepts on its own duplicates of the listeners (see ThreadListeners).
 *
 * The main thread binds each listener as a single-threaded server does,
 * takes from its helper process one duplicate it never accepts on (it keeps
 * the descriptor alive for the workers' helpers to inherit) and one it
 * accepts on, then closes the bound one: thread 0 then stops and starts
 * accepting as the others do.
 */
export async function startThreads(options: ServerOptions, worker: HandlerModule, threads: number): Promise<Server> {
  if (options.auth?.verify !== undefined) {
    throw new TypeError('with threads, auth takes users: a verify function cannot cross to worker threads');
  }
  const limits: ServerLimits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
  const onError = options.onError ?? defaultOnError;
  const version = options.version ?? DEFAULT_VERSION;
  const targets = Array.isArray(options.listen) ? options.listen : [options.listen];
  const settings = serverSettings(targets, limits, options.auth !== undefined);
  const startedAt = Date.now();
  const timed = options.metrics === true;
  // libuv reads it at its first listen in the process: one connection per wake-up, so the threads share a burst.
  process.env.UV_TCP_SINGLE_ACCEPT = '1';
  const shared = {
    counts: new SharedArrayBuffer(4 * (threads + 2)),
    counters: new SharedArrayBuffer(8 * threads * COUNTER_FIELDS.length),
    metrics: new SharedArrayBuffer(8 * threads * ServerMetrics.SLOTS),
  };
  const startFor = (index: number, listeners: ThreadListener[]): ThreadStart => ({
    index,
    threads,
    module: moduleHref(worker.module),
    export: worker.export ?? 'createHandler',
    data: worker.data,
    limits,
    version,
    ...(options.auth !== undefined && { auth: options.auth }),
    metrics: timed,
    shutdown: options.shutdown !== undefined && options.shutdown !== false,
    closeHandlers: options.closeHandlers !== false,
    listeners,
    shared,
  });

  const workers: WorkerLink[] = [];
  let self: Server | undefined;
  const shutdown = options.shutdown;
  let main: Serving | undefined;
  let handler: Handler | undefined;
  const counterSlots = new Float64Array(shared.counters);
  const gather = async (req: StatsRequest, asking: number): Promise<StatsReply> => {
    const parts = await Promise.all([localStats(main!, handler!, req, asking), ...workers.map((w) => w.ask(req, asking))]);
    return mergedReply(req, parts, { version, startedAt, settings, counters: counterSlots, threads, main: main! });
  };
  const hooks: MainHooks = {
    onError,
    shutdown: (mode) => {
      if (typeof shutdown === 'function') shutdown(mode);
      else void self?.close(mode === 'graceful' ? undefined : 0);
    },
    verbosity: (level) => {
      settings.verbosity = level;
    },
    gather,
  };

  const servers: net.Server[] = [];
  const addresses: BoundAddress[] = [];
  const held: RawHandle[] = [];
  let dup: ListenerDup | undefined;
  let accepting: ThreadListeners | undefined;
  Atomics.store(new Int32Array(shared.counts), threads + 1, threads);
  const factory = await loadFactory(worker);
  handler = await factory(worker.data, { index: 0, threads });
  try {
    const placeholders = targets.map((t) => ({ fd: -1, addr: '', ...(t.tls && { tls: t.tls }), backlog: t.backlog ?? DEFAULT_BACKLOG }));
    main = threadServing(startFor(0, placeholders), handler, { ...hooks, changed: () => accepting?.changed() });
    const listeners: ThreadListener[] = [];
    for (const [i, t] of targets.entries()) {
      const { server: s, listener } = main.createListener(i, t.tls);
      servers.push(s);
      const bound = await listenOne(s, t);
      listener.addr = listenerAddr(bound);
      addresses.push(t.tls ? { ...bound, tls: true } : bound);
      listeners.push({ ...placeholders[i]!, addr: listener.addr });
    }
    const firstBound = addresses.find((a): a is { host: string; port: number; family: string } => 'port' in a);
    if (firstBound) settings.tcpPort = firstBound.port;
    dup = new ListenerDup(servers.map((s) => (s as unknown as { _handle: RawHandle })._handle.fd));
    const d = dup;
    held.push(...(await Promise.all(servers.map((_, i) => d.get(i) as Promise<RawHandle>))));
    servers.forEach((s, i) => closeBound(s, addresses[i]!));
    listeners.forEach((l, i) => Object.assign(l, { fd: held[i]!.fd }));
    accepting = new ThreadListeners(startFor(0, listeners), servers, (i) => d.get(i), onError);
    await accepting.listen();
    for (let i = 1; i < threads; i++) workers.push(new WorkerLink(i, startFor(i, listeners), hooks));
    await Promise.all(workers.map((w) => w.ready));
  } catch (err) {
    accepting?.close();
    await Promise.all(workers.map((w) => w.close(0)));
    main?.stop();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const h of held) h.close();
    await dup?.close();
    removeSockets(addresses);
    await handler.close();
    throw err;
  }
  const listening = accepting;

  const metricSlices = Array.from({ length: threads }, (_, i) => new ServerMetrics(timed, shared.metrics, i));
  const serving = main;
  const mainHandler = handler;
  let closing: Promise<void> | undefined;
  self = {
    addresses,
    get counters() {
      return sumCounters(counterSlots, threads);
    },
    get metrics() {
      const m = new ServerMetrics(timed);
      for (const s of metricSlices) m.add(s);
      return m;
    },
    handler: mainHandler,
    threads,
    async stats(group) {
      return replyGroup(await gather(statsRequest(group), -1));
    },
    close(graceMs = 5000) {
      closing ??= (async () => {
        // Stop accepting first: the socket closes once no thread and no helper process holds it.
        listening.close();
        for (const h of held) h.close();
        const stopped = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
        await Promise.all([dup?.close(), serving.shutdownConnections(graceMs), ...workers.map((w) => w.close(graceMs))]);
        await Promise.all(stopped);
        removeSockets(addresses);
        serving.stop();
        if (options.closeHandlers !== false) await mainHandler.close();
      })();
      return closing;
    },
  };
  return self;
}
