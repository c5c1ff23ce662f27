/**
 * Replicas (CacheGopher's replication): every write reaches every replica, reads go to one replica chosen by a
 * policy. Writes are all-sync: sent to every replica at once, in the order the client sent them (so two writes to
 * one key reach each replica in the client's order), and answered with the worst reply once all have answered. A
 * read skips replicas that do not serve the key now (their server is out of service) and fails over to the next
 * replica when one fails with a failover error; a miss is an answer.
 */
import { HandlerError, type Handler, type MaybePromise, type StatsGroup } from '@cleave/protocol';
import { all, andThen, attempt, isPromise } from '@cleave/core';
import { allSyncOver } from './all.js';
import { DEFAULT_FAILOVER_KINDS, Route, failoverKind, serves, isWrite, type AnyOutcome, type AnyRequest } from './route.js';

/** Which replica a read starts from: the first, the next in turn, or any. */
export type ReplicaRead = 'primary-first' | 'round-robin' | 'random';

export interface ReplicasOptions {
  read?: ReplicaRead;
}

const READS: readonly ReplicaRead[] = ['primary-first', 'round-robin', 'random'];

export class ReplicasRoute extends Route {
  readonly kind = 'ReplicasRoute';
  readonly children: readonly Handler[];
  readonly read: ReplicaRead;
  /** Reads that failed on one replica and went on to the next. */
  readFailovers = 0;
  /** Replicas a read passed over because they did not serve the key. */
  readSkips = 0;
  private turn = 0;

  constructor(children: readonly Handler[], opts: ReplicasOptions = {}) {
    super();
    if (children.length === 0) throw new TypeError('replicas: at least one replica is needed');
    const read = opts.read ?? 'primary-first';
    if (!READS.includes(read)) throw new TypeError(`replicas: read must be one of ${READS.join(', ')}, not ${String(read)}`);
    this.children = [...children];
    this.read = read;
  }

  protected route(r: AnyRequest): MaybePromise<AnyOutcome> {
    return isWrite(r) ? allSyncOver(this.children, r) : this.readFrom(r, this.start(), 0, undefined);
  }

  private start(): number {
    const n = this.children.length;
    switch (this.read) {
      case 'primary-first':
        return 0;
      case 'round-robin': {
        const i = this.turn;
        this.turn = i + 1 >= n ? 0 : i + 1;
        return i;
      }
      case 'random':
        return Math.floor(Math.random() * n);
    }
  }

  /** Read from the replica `step` places after `start`, skipping those that do not serve the key. */
  private readFrom(r: AnyRequest, start: number, step: number, last: unknown): MaybePromise<AnyOutcome> {
    const n = this.children.length;
    for (; step < n; step++) {
      const child = this.children[(start + step) % n]!;
      if (!serves(child, r.key)) {
        this.readSkips++;
        continue;
      }
      const res = r.send(child);
      if (!isPromise(res)) return res;
      const at = step;
      return res.catch((err: unknown) => this.afterFailure(r, start, at, err));
    }
    if (last !== undefined) throw last;
    throw new HandlerError('no replica serves the key', 'BACKEND_UNAVAILABLE');
  }

  private afterFailure(r: AnyRequest, start: number, step: number, err: unknown): MaybePromise<AnyOutcome> {
    if (!DEFAULT_FAILOVER_KINDS.has(failoverKind(err))) throw err;
    // Count a failover only when another replica is left to try.
    const n = this.children.length;
    for (let s = step + 1; s < n; s++) {
      if (serves(this.children[(start + s) % n]!, r.key)) {
        this.readFailovers++;
        return this.readFrom(r, start, s, err);
      }
    }
    throw err;
  }

  /**
   * `stats`: the first replica's group, with the route's counters and each replica's own group under
   * `replica:<i>:` (a pool's `pool_servers_up` and `server:<label>:state` show that replica's health).
   */
  override stats(group: string): MaybePromise<StatsGroup | undefined> {
    if (group !== '') return super.stats(group);
    const groups = all(
      this.children.map((c) =>
        attempt(
          () => c.stats?.(''),
          () => undefined,
        ),
      ),
    );
    return andThen(groups, (gs) => {
      const out: StatsGroup = { ...gs[0] };
      out.replicas = this.children.length;
      out.replicas_read_failovers = this.readFailovers;
      out.replicas_read_skips = this.readSkips;
      for (let i = 0; i < gs.length; i++) {
        const st = gs[i];
        if (st !== undefined) for (const key in st) out[`replica:${i}:${key}`] = st[key]!;
      }
      return out;
    });
  }
}

/** Replicas of one key space: writes to all (all-sync), reads by `read` (default primary-first). */
export function replicas(children: readonly Handler[], opts?: ReplicasOptions): ReplicasRoute {
  return new ReplicasRoute(children, opts);
}
