import type { Request, RequestCommand } from '@cleave/protocol';

/** Command kinds metrics are kept per, in index order. */
export const COMMAND_KINDS = [
  'get',
  'set',
  'delete',
  'incr',
  'decr',
  'touch',
  'flush_all',
  'stats',
  'version',
  'noop',
  'verbosity',
  'quit',
  'auth',
  'admin',
  'error',
] as const;

type CommandKind = (typeof COMMAND_KINDS)[number];
const k = (name: CommandKind): number => COMMAND_KINDS.indexOf(name);

/** Request `cmd` to kind index: text/meta/binary forms alike (mg and gat are get, ms is set, md delete, ma incr/decr). */
const KIND_OF: Readonly<Record<RequestCommand, number>> = {
  get: k('get'),
  mget: k('get'),
  me: k('get'),
  store: k('set'),
  delete: k('delete'),
  incr: k('incr'),
  decr: k('decr'),
  touch: k('touch'),
  flush_all: k('flush_all'),
  stats: k('stats'),
  version: k('version'),
  noop: k('noop'),
  verbosity: k('verbosity'),
  quit: k('quit'),
  sasl_list: k('auth'),
  sasl_auth: k('auth'),
  sasl_step: k('auth'),
  admin: k('admin'),
  error: k('error'),
};

export function kindOf(req: Request): number {
  return KIND_OF[req.cmd];
}

/** Upper bounds, in seconds, of the latency histogram's buckets (a last, +Inf bucket follows). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
];

/**
 * What the server measures per command kind, in typed arrays read at scrape
 * time (nothing is allocated per request): requests answered, handler
 * failures among them (SERVER_ERROR, a binary error status), and, when
 * `ServerOptions.metrics` is on, the server-side latency of each request
 * from the read that carried it to the write that carries its reply (the
 * clock is read once per read and once per write, not per request).
 */
export class ServerMetrics {
  readonly commands: readonly string[] = COMMAND_KINDS;
  /** Requests answered, per kind (index in `commands`). */
  readonly requests: Float64Array;
  /** Of those, handler failures, per kind. */
  readonly errors: Float64Array;
  readonly latencyBuckets: readonly number[] = LATENCY_BUCKETS;
  /**
   * Requests per latency bucket (not cumulative): index
   * `kind * (latencyBuckets.length + 1) + bucket`, the last bucket of a kind
   * being +Inf. All zero unless `ServerOptions.metrics` is on.
   */
  readonly latencyCounts: Float64Array;
  /** Sum of the latencies, in seconds, per kind. */
  readonly latencySum: Float64Array;
  /** Whether latency is measured (`ServerOptions.metrics`). */
  readonly timed: boolean;

  /** Float64 slots one ServerMetrics takes in a shared buffer. */
  static readonly SLOTS = COMMAND_KINDS.length * (3 + LATENCY_BUCKETS.length + 1);

  /**
   * With `shared`, the figures live in slice `slice` of that buffer (SLOTS
   * float64s each), where other threads can read them.
   */
  constructor(timed: boolean, shared?: SharedArrayBuffer, slice = 0) {
    this.timed = timed;
    const k = COMMAND_KINDS.length;
    const buffer = shared ?? new ArrayBuffer(ServerMetrics.SLOTS * 8);
    let at = shared === undefined ? 0 : slice * ServerMetrics.SLOTS * 8;
    const take = (n: number) => {
      const a = new Float64Array(buffer, at, n);
      at += n * 8;
      return a;
    };
    this.requests = take(k);
    this.errors = take(k);
    this.latencyCounts = take(k * (LATENCY_BUCKETS.length + 1));
    this.latencySum = take(k);
  }

  /** Add another's figures to these (a sum over threads). */
  add(other: ServerMetrics): void {
    const pairs = [
      [this.requests, other.requests],
      [this.errors, other.errors],
      [this.latencyCounts, other.latencyCounts],
      [this.latencySum, other.latencySum],
    ] as const;
    for (const [to, from] of pairs) for (let i = 0; i < to.length; i++) to[i]! += from[i]!;
  }

  /** One request of `kind` took `seconds`. */
  observe(kind: number, seconds: number): void {
    const b = LATENCY_BUCKETS;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.latencyCounts[kind * (b.length + 1) + i]!++;
    this.latencySum[kind]! += seconds;
  }
}
