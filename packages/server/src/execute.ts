import {
  HandlerError,
  ProtocolError,
  BinaryStatus,
  ItemFacts,
  type Handler,
  type GetCommand,
  type ItemView,
  type MultiGetRequest,
  type Request,
  type ResponseEncoder,
  type ResponseWriter,
  type SaslRequest,
  type StatValue,
  type StatsGroup,
  type StatsRequest,
} from '@cleave/protocol';
import { isPromise } from '@cleave/core';
import { adminWithoutHandler, shutdownRefusal, type ShutdownMode } from './admin.js';
import type { Authenticator } from './auth.js';
import type { PrefixStats } from './detail.js';
import type { ServerMetrics } from './metrics.js';
import { storageGroup, type StatsReply } from './stats.js';

/**
 * Runs the storage part of one request (its command) on the handler. Returns
 * the outcome, or a Promise of it when the handler answers asynchronously.
 * Requests with no storage part return `undefined`.
 */
export function runRequest(handler: Handler, req: Request, ctx?: ServerContext, connId = -1): unknown {
  switch (req.cmd) {
    case 'get':
    case 'me':
      return handler.get(req);
    case 'mget':
      return runMultiGet(handler, req, 0, req.keys.length);
    case 'store':
      return handler.store(req);
    case 'delete':
      return handler.delete(req);
    case 'incr':
    case 'decr':
      return handler.arithmetic(req);
    case 'touch':
      return handler.touch(req);
    case 'flush_all':
      return handler.flush(req.delay);
    case 'stats': {
      // With threads, the whole reply, merged over every thread.
      if (ctx?.gather !== undefined) return ctx.gather(req, connId);
      // The storage's part of the reply; the server adds its own figures when encoding.
      const group = storageGroup(req);
      return group === undefined ? undefined : handler.stats?.(group);
    }
    case 'admin':
      // shutdown is the server's own (Connection); the others are the handler's.
      return req.name === 'shutdown' ? undefined : handler.admin?.(req);
    case 'error':
      // memcached drops the old item when a set is refused as too large.
      return req.unlinkKey ? handler.delete({ key: req.unlinkKey }) : undefined;
    default:
      return undefined;
  }
}

/**
 * One GetCommand per key of a text multi-get, for keys `start` to `end`
 * (the whole key list, or one slice of a long one); answers gathered in key order.
 */
export function runMultiGet(handler: Handler, req: MultiGetRequest, start: number, end: number): MaybeItems {
  const keys = req.keys;
  const n = end - start;
  const touch = req.touch;
  // gets/gats show each item's CAS unique.
  const want = req.withCas ? ItemFacts.CAS : 0;
  const cmds: GetCommand[] = new Array(n);
  for (let i = 0; i < n; i++) cmds[i] = { key: keys[start + i]!, touch, want };
  if (handler.getMany) return handler.getMany(cmds);
  const items: (ItemView | undefined)[] = new Array(n);
  let pending: Promise<unknown>[] | undefined;
  for (let i = 0; i < n; i++) {
    const r = handler.get(cmds[i]!);
    if (isPromise(r)) {
      (pending ??= []).push(
        r.then((it) => {
          items[i] = it;
        }),
      );
    } else {
      items[i] = r;
    }
  }
  return pending ? Promise.all(pending).then(() => items) : items;
}

type MaybeItems = (ItemView | undefined)[] | Promise<(ItemView | undefined)[]>;

/** What the server itself answers: version, stats and connection-level commands. */
export interface ServerContext {
  readonly version: string;
  /**
   * The reply to a stats request: the server's figures around `storage`, the
   * handler's answer (`asking`: the connection's id); a Buffer is a whole text
   * reply (text `stats detail`); `undefined` for an unknown group.
   */
  stats(req: StatsRequest, storage: StatsGroup | undefined, asking: number): Iterable<readonly [string, StatValue]> | Buffer | undefined;
  /**
   * With serving threads: the whole reply to a stats request, merged over
   * every thread (the outcome `encodeOutcome` encodes as it is).
   */
  gather?(req: StatsRequest, asking: number): Promise<StatsReply>;
  /** `verbosity <n>` was answered. */
  verbosity(level: number): void;
  readonly metrics: ServerMetrics;
  /** `stats detail` prefix counts. */
  readonly detail: PrefixStats;
  /** A clock in whole seconds, updated by a timer, for `stats conns`. */
  readonly clock: { readonly now: number };
  /** Set when clients must authenticate (each connection keeps its own state). */
  readonly auth?: Authenticator;
  /** Set when the `shutdown` command is enabled (memcached -A): stops the server. */
  shutdown?(mode: ShutdownMode): void;
  /** With auth on, a connection's own context answers its SASL requests. */
  sasl?(enc: ResponseEncoder, w: ResponseWriter, req: SaslRequest): void;
}

/** Encodes the outcome of one request with the encoder of its protocol. */
export function encodeOutcome(
  enc: ResponseEncoder,
  w: ResponseWriter,
  req: Request,
  outcome: unknown,
  ctx: ServerContext,
  connId: number,
): void {
  switch (req.cmd) {
    case 'get':
    case 'me':
      enc.get(w, req, outcome as ItemView | undefined);
      return;
    case 'mget':
      encodeMultiGetHits(enc, w, req, outcome as (ItemView | undefined)[]);
      enc.mgetEnd(w, req);
      return;
    case 'store':
      enc.store(w, req, outcome as never);
      return;
    case 'delete':
      enc.delete(w, req, outcome as never);
      return;
    case 'incr':
    case 'decr':
      enc.arithmetic(w, req, outcome as never);
      return;
    case 'touch':
      enc.touch(w, req, outcome as never);
      return;
    case 'flush_all':
      enc.flush(w, req);
      return;
    case 'version':
      enc.version(w, req, ctx.version);
      return;
    case 'verbosity':
      ctx.verbosity(req.level);
      enc.verbosity(w, req);
      return;
    case 'noop':
      enc.noop(w, req);
      return;
    case 'quit':
      enc.quit(w, req);
      return;
    case 'stats': {
      const reply = ctx.gather !== undefined ? (outcome as StatsReply) : ctx.stats(req, outcome as StatsGroup | undefined, connId);
      // A whole text reply: text and meta connections only (binary replies are entries).
      if (Buffer.isBuffer(reply)) w.bytes(reply);
      else enc.stats(w, req, reply);
      return;
    }
    case 'admin': {
      // A refused shutdown, or a command the handler does not answer: memcached's reply without the feature.
      const reply = outcome as Buffer | undefined;
      enc.admin(w, req, reply ?? (req.name === 'shutdown' ? shutdownRefusal(ctx.shutdown !== undefined) : adminWithoutHandler(req)));
      return;
    }
    case 'sasl_list':
    case 'sasl_auth':
    case 'sasl_step':
      // Without auth, answer as a memcached run without SASL.
      if (ctx.sasl === undefined) enc.sasl(w, req, false, '');
      else ctx.sasl(enc, w, req);
      return;
    case 'error':
      enc.protocolError(w, req, req.error);
      return;
  }
}

/** The VALUE blocks of a multi-get's hits (all of its keys, or one slice), without the END. */
export function encodeMultiGetHits(enc: ResponseEncoder, w: ResponseWriter, req: MultiGetRequest, items: (ItemView | undefined)[]): void {
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (it !== undefined) enc.mgetItem(w, req, it);
  }
}

/**
 * Value bytes an outcome holds until its reply is encoded: what a reply
 * waiting behind an earlier one costs the connection's output budget.
 */
export function outcomeBytes(req: Request, outcome: unknown): number {
  if (req.cmd === 'get' || req.cmd === 'me') return outcome === undefined ? 0 : (outcome as ItemView).value.length;
  if (req.cmd === 'mget') {
    const items = outcome as (ItemView | undefined)[];
    let n = 0;
    for (let i = 0; i < items.length; i++) n += items[i]?.value.length ?? 0;
    return n;
  }
  return 0;
}

/** Encodes a handler failure (thrown or rejected) as the client's SERVER_ERROR / binary status. */
export function encodeFailure(enc: ResponseEncoder, w: ResponseWriter, req: Request, err: unknown): void {
  if (err instanceof HandlerError) {
    enc.serverError(w, req, err.message, err.status);
  } else if (err instanceof ProtocolError) {
    enc.protocolError(w, req, err);
  } else {
    enc.serverError(w, req, 'internal error', BinaryStatus.EINTERNAL);
  }
}
