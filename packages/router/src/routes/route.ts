/**
 * What every route shares. A route is a Handler over child Handlers (pools, memcached handlers, other routes) that
 * decides where each command goes and which child's answer the client gets, as mcrouter's route handles do. A route
 * writes one method, `route`, over a `RouteRequest`: the command's operation, its key, and `send`, which sends the
 * same command to any child. Everything that is not about one key (flush_all, stats, admin commands, ping, close)
 * has a default here that reaches every child once.
 *
 * Outcomes are judged as mcrouter judges results: `severity` orders them (a hit or a stored item is best, a miss or
 * NOT_STORED next, errors worst), `failoverKind` names the kind of an error in mcrouter's `failover_errors`
 * vocabulary, and `serves` asks a child whether it can serve a key now (a pool whose server for the key is taken out
 * of service cannot: mcrouter's TKO).
 */
import {
  HandlerError,
  ItemFacts,
  type AdminCommand,
  type ArithmeticCommand,
  type ArithmeticOutcome,
  type DeleteCommand,
  type DeleteOutcome,
  type GetCommand,
  type Handler,
  type ItemView,
  type MaybePromise,
  type StatsGroup,
  type StoreCommand,
  type StoreOutcome,
  type TouchCommand,
  type TouchOutcome,
} from '@cleave/protocol';
import { all, andThen, attempt, call, isPromise } from '@cleave/core';

/** The five commands on one key a route sees. */
export type RouteOp = 'get' | 'store' | 'delete' | 'arithmetic' | 'touch';

/** Each op's command and outcome. */
export interface RouteOps {
  get: { cmd: GetCommand; outcome: ItemView | undefined };
  store: { cmd: StoreCommand; outcome: StoreOutcome };
  delete: { cmd: DeleteCommand; outcome: DeleteOutcome };
  arithmetic: { cmd: ArithmeticCommand; outcome: ArithmeticOutcome };
  touch: { cmd: TouchCommand; outcome: TouchOutcome };
}

/** One command on one key, as a route routes it. */
export interface RouteRequest<K extends RouteOp = RouteOp> {
  readonly op: K;
  readonly cmd: RouteOps[K]['cmd'];
  readonly key: Buffer;
  /** Send this command to `child` (a child's synchronous throw comes back as a rejected result, never thrown). */
  send(child: Handler): MaybePromise<RouteOps[K]['outcome']>;
}

/** Any op's request; `route` answers with that op's outcome. */
export type AnyRequest = { [K in RouteOp]: RouteRequest<K> }[RouteOp];
export type AnyOutcome = RouteOps[RouteOp]['outcome'];

/**
 * mcrouter's operation names, as OperationSelectorRoute's `operation_policies` and PrefixSelectorRoute's users
 * write them: a get with a new exptime is `gat`, a store with a CAS is `cas`, incr and decr are apart. A get whose
 * reply shows the CAS unique (text gets/gats, meta `c`, every binary get) is `gets`/`gats`: mcrouter's own
 * requests, which a policy for `get` does not take.
 */
export type McOperation =
  | 'get'
  | 'gets'
  | 'gat'
  | 'gats'
  | 'set'
  | 'add'
  | 'replace'
  | 'append'
  | 'prepend'
  | 'cas'
  | 'delete'
  | 'incr'
  | 'decr'
  | 'touch';

export const MC_OPERATIONS: readonly McOperation[] = [
  'get',
  'gets',
  'gat',
  'gats',
  'set',
  'add',
  'replace',
  'append',
  'prepend',
  'cas',
  'delete',
  'incr',
  'decr',
  'touch',
];

/** The mcrouter operation a request is. */
export function operationOf(r: AnyRequest): McOperation {
  switch (r.op) {
    case 'get':
      if (((r.cmd.want ?? 0) & ItemFacts.CAS) !== 0) return r.cmd.touch === undefined ? 'gets' : 'gats';
      return r.cmd.touch === undefined ? 'get' : 'gat';
    case 'store':
      return r.cmd.compareCas !== undefined && r.cmd.mode === 'set' ? 'cas' : r.cmd.mode;
    case 'delete':
      return 'delete';
    case 'arithmetic':
      return r.cmd.incr ? 'incr' : 'decr';
    case 'touch':
      return 'touch';
  }
}

/** Whether the op changes what the store holds (set, delete, incr, touch, ...): a write to every replica. */
export function isWrite(r: AnyRequest): boolean {
  return r.op !== 'get' || r.cmd.touch !== undefined;
}

// ---------------------------------------------------------------------------
// Judging outcomes as mcrouter does
// ---------------------------------------------------------------------------

/**
 * mcrouter's kinds of error (`failover_errors`): which of them a FailoverRoute fails over on. `tko` is a server its
 * pool took out of service; `client_error` a command no server will take (a bad key), which no failover mends.
 */
export type FailoverKind =
  | 'connect_error'
  | 'connect_timeout'
  | 'data_timeout'
  | 'tko'
  | 'busy'
  | 'try_again'
  | 'remote_error'
  | 'local_error'
  | 'client_error';

export const FAILOVER_KINDS: readonly FailoverKind[] = [
  'connect_error',
  'connect_timeout',
  'data_timeout',
  'tko',
  'busy',
  'try_again',
  'remote_error',
  'local_error',
  'client_error',
];

/** mcrouter's default: every kind but `client_error` fails over (its `isFailoverErrorResult`). */
export const DEFAULT_FAILOVER_KINDS: ReadonlySet<FailoverKind> = new Set(FAILOVER_KINDS.filter((k) => k !== 'client_error'));

/** The kind of a failed command's error. */
export function failoverKind(err: unknown): FailoverKind {
  if (!(err instanceof HandlerError)) return 'local_error';
  switch (err.code) {
    case 'BACKEND_UNAVAILABLE':
      return 'tko';
    case 'BACKEND_REFUSED':
    case 'BACKEND_CLOSED':
    case 'BACKEND_DESYNC':
      return 'connect_error';
    case 'BACKEND_CONNECT_TIMEOUT':
      return 'connect_timeout';
    case 'BACKEND_TIMEOUT':
      return 'data_timeout';
    case 'BACKEND_BUSY':
      return 'busy';
    case 'CHUNKED_READ_RETRIES':
    case 'CHUNKED_WRITE_RETRIES':
      return 'try_again';
    case 'BACKEND_ERROR':
      return 'remote_error';
    case 'BAD_KEY':
      return 'client_error';
    default:
      return 'local_error';
  }
}

/** A settled child answer: its outcome, or the error it failed with. */
export type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/** Send a request to a child and settle it: never throws or rejects. */
export function settle<T>(r: MaybePromise<T>): MaybePromise<Settled<T>> {
  if (isPromise(r))
    return r.then(
      (value): Settled<T> => ({ ok: true, value }),
      (error: unknown): Settled<T> => ({ ok: false, error }),
    );
  return { ok: true, value: r };
}

/** A settled answer back as an outcome (or the error, thrown). */
export function unsettle<T>(s: Settled<T>): T {
  if (s.ok) return s.value;
  throw s.error;
}

/**
 * How bad an answer is, mcrouter's `resultSeverity`: 1 a hit, stored, deleted, touched, EXISTS; 4 a miss,
 * NOT_STORED, NOT_FOUND; 5 a server that failed or is out of service; 6 a value that cannot be stored; 7 the
 * server's own error; 8 an error of ours; 9 a client error. AllSyncRoute answers with the worst of its children's.
 */
export function severity(op: RouteOp, s: Settled<AnyOutcome>): number {
  if (!s.ok) {
    switch (failoverKind(s.error)) {
      case 'remote_error':
        return 7;
      case 'local_error':
        return 8;
      case 'client_error':
        return 9;
      default:
        return 5;
    }
  }
  const v = s.value;
  if (v === undefined) return 4; // a get's miss
  if (typeof v !== 'string') return 1; // an item: a hit, a stored value, a counter
  switch (v) {
    case 'NOT_STORED':
    case 'NOT_FOUND':
      return 4;
    case 'TOO_LARGE':
    case 'OUT_OF_MEMORY':
    case 'NON_NUMERIC':
      return 6;
    default:
      return op === 'get' ? 4 : 1; // DELETED, TOUCHED, EXISTS
  }
}

/** The worst of several answers by `severity` (mcrouter's AllSyncRoute); of equals, the first. Throws a failure picked. */
export function worstOf(op: RouteOp, answers: readonly Settled<AnyOutcome>[]): AnyOutcome {
  let w = answers[0]!;
  let ws = severity(op, w);
  for (let i = 1; i < answers.length; i++) {
    const s = severity(op, answers[i]!);
    if (s > ws) {
      w = answers[i]!;
      ws = s;
    }
  }
  return unsettle(w);
}

/** A hit: a get that found the item, or a delete, touch or incr that found it (`isHitResult`). */
export function isHit(s: Settled<AnyOutcome>): boolean {
  return s.ok && s.value !== undefined && s.value !== 'NOT_FOUND';
}

// ---------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------

/** A Handler that knows whether it can serve a key now (a pool: whether the key's server is in service). */
export interface KeyHealth {
  serves(key: Buffer): boolean;
}

/** Whether `child` can serve `key` now; a handler that does not say is assumed to. */
export function serves(child: Handler, key: Buffer): boolean {
  const h = child as Partial<KeyHealth>;
  return typeof h.serves === 'function' ? h.serves(key) : true;
}

// ---------------------------------------------------------------------------
// The base of every route
// ---------------------------------------------------------------------------

/** Call `send` on a child, turning a synchronous throw into a rejected Promise. */
function sending<T>(f: () => MaybePromise<T>): MaybePromise<T> {
  try {
    return f();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * A route: a Handler whose commands on one key go through `route`. Subclasses list their children (every Handler
 * that may receive a command, shadows included) and write `route`; the rest is shared:
 *
 * - `flush`: every distinct child, all must succeed (a failure fails the flush_all).
 * - `stats`: the first child's group (a route adds no figures of its own unless it overrides this).
 * - `admin`: the first child that has admin commands.
 * - `ping`: succeeds when any child answers.
 * - `close`: closes every distinct child once.
 * - `serves(key)`: whether any child serves the key.
 * - `keepsNewCas`: when every child does.
 */
export abstract class Route implements Handler, KeyHealth {
  /** mcrouter's name for the route (`FailoverRoute`, ...), for stats and errors. */
  abstract readonly kind: string;
  /** Every child handler, in order (shadows included). */
  abstract readonly children: readonly Handler[];

  /** Route one command on one key. Answer the op's outcome, or throw/reject with the error the client gets. */
  protected abstract route(r: AnyRequest): MaybePromise<AnyOutcome>;

  get keepsNewCas(): boolean {
    return this.distinctChildren().every((c) => c.keepsNewCas === true);
  }

  /** The children, each once (a handler may appear under a route more than once). */
  protected distinctChildren(): Handler[] {
    return [...new Set(this.children)];
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.route({ op: 'get', cmd, key: cmd.key, send: (h) => sending(() => h.get(cmd)) }) as MaybePromise<ItemView | undefined>;
  }

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.route({ op: 'store', cmd, key: cmd.key, send: (h) => sending(() => h.store(cmd)) }) as MaybePromise<StoreOutcome>;
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.route({ op: 'delete', cmd, key: cmd.key, send: (h) => sending(() => h.delete(cmd)) }) as MaybePromise<DeleteOutcome>;
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.route({
      op: 'arithmetic',
      cmd,
      key: cmd.key,
      send: (h) => sending(() => h.arithmetic(cmd)),
    }) as MaybePromise<ArithmeticOutcome>;
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.route({ op: 'touch', cmd, key: cmd.key, send: (h) => sending(() => h.touch(cmd)) }) as MaybePromise<TouchOutcome>;
  }

  flush(delay: number): MaybePromise<void> {
    return andThen(all(this.distinctChildren().map((c) => call(() => c.flush(delay)))), () => undefined);
  }

  stats(group: string): MaybePromise<StatsGroup | undefined> {
    const first = this.children[0];
    return first?.stats === undefined ? undefined : first.stats(group);
  }

  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    const c = this.children.find((h) => h.admin !== undefined);
    return c === undefined ? undefined : c.admin!(cmd);
  }

  ping(): MaybePromise<void> {
    const pings = this.distinctChildren().map((c) => Promise.resolve().then(() => c.ping?.()));
    return Promise.any(pings).then(
      () => undefined,
      (e: AggregateError) => {
        throw e.errors[0];
      },
    );
  }

  serves(key: Buffer): boolean {
    return this.children.some((c) => serves(c, key));
  }

  close(): MaybePromise<void> {
    return andThen(
      all(
        this.distinctChildren().map((c) =>
          attempt(
            () => c.close(),
            () => undefined,
          ),
        ),
      ),
      () => undefined,
    );
  }
}

/**
 * The same request over its own copy of the command's key (and a store's value), for sends that may outlive the
 * client's answer (all-async, the children an all-fastest or all-majority did not wait for): the server may reuse
 * the bytes a command points into once it is answered.
 */
export function detach(r: AnyRequest): AnyRequest {
  switch (r.op) {
    case 'get': {
      const cmd: GetCommand = { ...r.cmd, key: Buffer.from(r.cmd.key) };
      return { op: 'get', cmd, key: cmd.key, send: (h) => sending(() => h.get(cmd)) };
    }
    case 'store': {
      const cmd: StoreCommand = { ...r.cmd, key: Buffer.from(r.cmd.key), value: Buffer.from(r.cmd.value) };
      return { op: 'store', cmd, key: cmd.key, send: (h) => sending(() => h.store(cmd)) };
    }
    case 'delete': {
      const cmd: DeleteCommand = { ...r.cmd, key: Buffer.from(r.cmd.key) };
      return { op: 'delete', cmd, key: cmd.key, send: (h) => sending(() => h.delete(cmd)) };
    }
    case 'arithmetic': {
      const cmd: ArithmeticCommand = { ...r.cmd, key: Buffer.from(r.cmd.key) };
      return { op: 'arithmetic', cmd, key: cmd.key, send: (h) => sending(() => h.arithmetic(cmd)) };
    }
    case 'touch': {
      const cmd: TouchCommand = { ...r.cmd, key: Buffer.from(r.cmd.key) };
      return { op: 'touch', cmd, key: cmd.key, send: (h) => sending(() => h.touch(cmd)) };
    }
  }
}
