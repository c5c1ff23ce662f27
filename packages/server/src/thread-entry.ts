/**
 * A serving worker thread (ServerOptions.threads): builds its Handler with
 * the worker module's factory, takes its own duplicates of the listeners
 * and serves their connections as the main thread does. Problems, stats
 * and `shutdown` go to the main thread by message.
 */
import type net from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import type { Handler, StatsRequest } from '@cleave/protocol';
import { ListenerDup } from './listener-dup.js';
import type { Serving } from './serving.js';
import type { StatsReply } from './stats.js';
import {
  loadFactory,
  localStats,
  rebuiltStatsRequest,
  receivedReply,
  threadServing,
  ThreadListeners,
  type FromWorker,
  type ThreadStart,
  type ToWorker,
} from './thread-serving.js';

const start = workerData as ThreadStart;
const port = parentPort!;
const post = (m: FromWorker) => port.postMessage(m);

const gathers = new Map<number, (reply: StatsReply) => void>();
let nextGather = 0;
let serving: Serving | undefined;
let handler: Handler | undefined;
let listeners: ThreadListeners | undefined;
let dup: ListenerDup | undefined;

const onError = (err: unknown) => {
  try {
    post({ t: 'error', err });
  } catch {
    // Not structured-cloneable (an error carrying a socket, say): its text then.
    post({ t: 'error', err: new Error(err instanceof Error ? (err.stack ?? err.message) : String(err)) });
  }
};

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'part':
      if (serving === undefined || handler === undefined) {
        post({ t: 'part', id: m.id, part: {} });
        return;
      }
      localStats(serving, handler, rebuiltStatsRequest(m.group, m.protocol), m.asking).then(
        (part) => post({ t: 'part', id: m.id, part }),
        (err) => {
          onError(err);
          post({ t: 'part', id: m.id, part: {} });
        },
      );
      return;
    case 'gathered':
      gathers.get(m.id)?.(receivedReply(m.reply));
      gathers.delete(m.id);
      return;
    case 'close':
      void close(m.graceMs).then(
        () => post({ t: 'closed' }),
        (err) => {
          onError(err);
          post({ t: 'closed' });
        },
      );
      return;
  }
});

async function close(graceMs: number): Promise<void> {
  listeners?.close();
  await Promise.all([dup?.close(), serving?.shutdownConnections(graceMs)]);
  serving?.stop();
  if (start.closeHandlers && handler !== undefined) await handler.close();
}

try {
  const factory = await loadFactory({ module: start.module, export: start.export });
  handler = await factory(start.data, { index: start.index, threads: start.threads });
  serving = threadServing(start, handler, {
    onError,
    shutdown: (mode) => post({ t: 'shutdown', mode }),
    verbosity: (level) => post({ t: 'verbosity', level }),
    gather: (req: StatsRequest, asking: number) =>
      new Promise<StatsReply>((resolve) => {
        const id = nextGather++;
        gathers.set(id, resolve);
        post({ t: 'gather', id, group: req.group, protocol: req.protocol, asking });
      }),
    changed: () => listeners?.changed(),
  });
  const servers: net.Server[] = start.listeners.map((l, i) => {
    const { server, listener } = serving!.createListener(i, l.tls);
    listener.addr = l.addr;
    return server;
  });
  dup = new ListenerDup(start.listeners.map((l) => l.fd));
  const d = dup;
  listeners = new ThreadListeners(start, servers, (i) => d.get(i), onError);
  await listeners.listen();
  post({ t: 'ready' });
} catch (err) {
  listeners?.close();
  serving?.stop();
  await dup?.close();
  await handler?.close();
  post({ t: 'failed', err });
}
