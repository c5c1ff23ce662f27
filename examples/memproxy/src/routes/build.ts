// From a checked mcrouter config (schema.ts) to a Handler tree: each route type its router factory, each named
// pool ONE router Pool (one health state, one probe per server), however many routes use it.
//
// Servers are MemcachedHandlers kept in a registry (`Backends`) by address and timeouts, across reloads: a server
// used by several pools (with the same server_timeout and connect_timeout) is one MemcachedHandler, one set of
// connections; a reload that keeps a server keeps its connections, and a server no tree uses any more is closed
// once the old tree drained. So the tree never closes a server itself: each pool and route gets a `SharedBackend`
// whose close() only leaves the server to the registry.

import { all, andThen, type Logger } from '@cleave/core';
import { MemcachedHandler } from '@cleave/handler-memcached';
import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import {
  allAsync,
  allFastest,
  allInitial,
  allMajority,
  allSync,
  failover,
  hashRoute,
  latest,
  missFailover,
  operationSelector,
  pool,
  prefixSelector,
  random,
  replicas,
  shadow,
  warmUp,
  type McOperation,
  type Pool,
} from '@cleave/router';
import type { PoolSpec, RouteSpec, RoutesSpec, ServerSpec } from './schema.js';

export interface BackendOptions {
  /** Connections per server (--backend-conns). */
  connections: number;
  /** A pool's server_timeout when it gives none (--backend-timeout), ms. */
  timeoutMs: number;
  maxItemSize?: number;
  logger?: Logger;
}

/** One server's MemcachedHandler, shared by every pool and route that names it; closing it is the registry's. */
export class SharedBackend implements Handler {
  readonly keepsNewCas = false;
  constructor(
    readonly key: string,
    readonly handler: MemcachedHandler,
  ) {}
  get(cmd: GetCommand): Promise<ItemView | undefined> {
    return this.handler.get(cmd);
  }
  getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    return this.handler.getMany(cmds);
  }
  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.handler.store(cmd);
  }
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.handler.delete(cmd);
  }
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.handler.arithmetic(cmd);
  }
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.handler.touch(cmd);
  }
  flush(delay: number): MaybePromise<void> {
    return this.handler.flush(delay);
  }
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    return this.handler.stats(group);
  }
  admin(cmd: AdminCommand): Promise<Buffer> {
    return this.handler.admin(cmd);
  }
  ping(): Promise<void> {
    return this.handler.ping();
  }
  /** The registry closes the server once no tree uses it. */
  close(): void {}
}

/** The servers of every tree built so far, by address and timeouts. */
export class Backends {
  private readonly byKey = new Map<string, SharedBackend>();
  constructor(private readonly options: BackendOptions) {}

  /** The server's handler for `pool` (its timeouts), made on first use. */
  get(server: ServerSpec, pool: PoolSpec): SharedBackend {
    const timeoutMs = pool.timeoutMs ?? this.options.timeoutMs;
    const connectTimeoutMs = pool.connectTimeoutMs ?? timeoutMs;
    const key = `${server.text} ${timeoutMs} ${connectTimeoutMs}`;
    let b = this.byKey.get(key);
    if (b === undefined) {
      const o = this.options;
      b = new SharedBackend(
        key,
        new MemcachedHandler({
          address: server.address,
          connections: o.connections,
          timeoutMs,
          connectTimeoutMs,
          ...(o.maxItemSize !== undefined && { maxItemSize: o.maxItemSize }),
          ...(o.logger !== undefined && { logger: o.logger }),
        }),
      );
      this.byKey.set(key, b);
    }
    return b;
  }

  /** Every server's handler now. */
  get handlers(): MemcachedHandler[] {
    return [...this.byKey.values()].map((b) => b.handler);
  }

  /** Close the servers no tree in `keep` uses. */
  retain(keep: readonly RouteTree[]): Promise<void> {
    const used = new Set(keep.flatMap((t) => [...t.backends]));
    const closing: MaybePromise<void>[] = [];
    for (const [key, b] of this.byKey) {
      if (used.has(key)) continue;
      this.byKey.delete(key);
      closing.push(b.handler.close());
    }
    return Promise.all(closing).then(() => undefined);
  }

  closeAll(): Promise<void> {
    return this.retain([]);
  }
}

/**
 * A built tree: its root, its pools by name, the servers it uses. As a Handler it is the root, except that `stats`
 * shows every pool's figures under `pool:<name>:` (its servers' states among them), and close() stops the pools'
 * probes without closing a server (the registry's).
 */
export class RouteTree implements Handler {
  readonly keepsNewCas: boolean;
  constructor(
    readonly root: Handler,
    readonly pools: ReadonlyMap<string, Pool>,
    readonly backends: ReadonlySet<string>,
    private readonly reloads = new ReloadCounters(),
  ) {
    this.keepsNewCas = root.keepsNewCas === true;
  }
  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.root.get(cmd);
  }
  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.root.store(cmd);
  }
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.root.delete(cmd);
  }
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.root.arithmetic(cmd);
  }
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.root.touch(cmd);
  }
  flush(delay: number): MaybePromise<void> {
    return this.root.flush(delay);
  }
  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    return this.root.admin?.(cmd);
  }
  ping(): MaybePromise<void> {
    return this.root.ping?.();
  }
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    if (group !== '') return this.root.stats?.(group);
    const pools = [...this.pools];
    return andThen(all(pools.map(([, p]) => p.stats('') as MaybePromise<StatsGroup | undefined>)), (groups) => {
      const out: StatsGroup = {
        routes_pools: pools.length,
        routes_servers: this.backends.size,
        routes_reloads: this.reloads.reloads,
        routes_reload_failures: this.reloads.reloadFailures,
      };
      groups.forEach((g, i) => {
        const prefix = `pool:${pools[i]![0]}:`;
        if (g !== undefined) for (const k in g) out[prefix + k] = g[k]!;
      });
      return out;
    });
  }
  close(): MaybePromise<void> {
    return this.root.close();
  }
}

/** Reloads of the routes file so far, shown by `stats`. */
export class ReloadCounters {
  reloads = 0;
  reloadFailures = 0;
}

export interface BuildOptions {
  /** How often a pool probes a server out of service, ms (the pool's default when undefined). */
  probeIntervalMs?: number;
  logger?: Logger;
  /** Shown by the tree's `stats` as routes_reloads and routes_reload_failures. */
  reloads?: ReloadCounters;
}

/** Build the tree a config describes, its servers from `backends`. */
export function buildRoutes(spec: RoutesSpec, backends: Backends, options: BuildOptions = {}): RouteTree {
  const pools = new Map<string, Pool>();
  const used = new Set<string>();
  const backend = (server: ServerSpec, poolName: string): SharedBackend => {
    const b = backends.get(server, spec.pools.get(poolName)!);
    used.add(b.key);
    return b;
  };

  const poolRoute = (r: Extract<RouteSpec, { type: 'PoolRoute' }>): Handler => {
    const p = spec.pools.get(r.pool)!;
    const h = r.hash;
    let placed: Handler;
    if (h.func === 'Ch3' || h.func === 'WeightedCh3') {
      let made = pools.get(p.name);
      if (made === undefined) {
        made = pool({
          name: p.name,
          distribution: h.func === 'Ch3' ? 'ch3' : 'weighted_ch3',
          ...(h.salt !== '' && { salt: h.salt }),
          ...(options.probeIntervalMs !== undefined && { probeIntervalMs: options.probeIntervalMs }),
          ...(options.logger !== undefined && { logger: options.logger }),
          servers: p.servers.map((s, i) => ({
            name: s.text,
            label: s.text,
            handler: backend(s, p.name),
            ...(h.weights !== undefined && { weight: h.weights[i]! }),
          })),
        });
        pools.set(p.name, made);
      }
      placed = made;
    } else {
      // Crc32 and ConstShard: mcrouter's HashRoute straight over the servers (no pool health: no TKO for them).
      placed = hashRoute(
        p.servers.map((s) => backend(s, p.name)),
        { hash: h.func, ...(h.salt !== '' && { salt: h.salt }) },
      );
    }
    if (r.shadows.length === 0) return placed;
    return shadow(
      placed,
      r.shadows.map((s) => ({
        handler: make(s.target),
        ...(s.keyFraction !== undefined && { keyFraction: s.keyFraction }),
        ...(s.requestFraction !== undefined && { requestFraction: s.requestFraction }),
      })),
    );
  };

  const make = (r: RouteSpec): Handler => {
    switch (r.type) {
      case 'PoolRoute':
        return poolRoute(r);
      case 'Server':
        return backend(r.server, r.pool);
      case 'HashRoute':
        return hashRoute(r.children.map(make), {
          hash: r.hash.func,
          ...(r.hash.salt !== '' && { salt: r.hash.salt }),
          ...(r.hash.weights !== undefined && { weights: r.hash.weights }),
        });
      case 'FailoverRoute':
        return failover(r.children.map(make), {
          ...(r.failoverErrors !== undefined && { failoverErrors: r.failoverErrors }),
          ...(r.maxTries !== undefined && { failoverLimit: r.maxTries }),
        });
      case 'MissFailoverRoute':
        return missFailover(r.children.map(make), { returnBestOnError: r.returnBestOnError });
      case 'AllSyncRoute':
        return allSync(r.children.map(make));
      case 'AllAsyncRoute':
        return allAsync(r.children.map(make));
      case 'AllMajorityRoute':
        return allMajority(r.children.map(make));
      case 'AllFastestRoute':
        return allFastest(r.children.map(make));
      case 'AllInitialRoute':
        return allInitial(r.children.map(make));
      case 'RandomRoute':
        return random(r.children.map(make));
      case 'LatestRoute':
        return latest(r.children.map(make), {
          ...(r.failoverCount !== undefined && { failoverCount: r.failoverCount }),
          ...(r.failoverErrors !== undefined && { failoverErrors: r.failoverErrors }),
        });
      case 'ReplicaRoute':
        return replicas(r.children.map(make), { read: r.read });
      case 'WarmUpRoute':
        return warmUp(make(r.cold), make(r.warm), r.exptime !== undefined ? { exptime: r.exptime } : {});
      case 'PrefixSelectorRoute': {
        const policies: Record<string, Handler> = {};
        for (const [prefix, route] of Object.entries(r.policies)) policies[prefix] = make(route);
        return r.wildcard !== undefined ? prefixSelector(policies, make(r.wildcard)) : prefixSelector(policies);
      }
      case 'OperationSelectorRoute': {
        const policies: Partial<Record<McOperation, Handler>> = {};
        for (const [op, route] of Object.entries(r.policies)) policies[op as McOperation] = make(route!);
        return operationSelector(policies, make(r.defaultPolicy));
      }
    }
  };

  const root = make(spec.route);
  return new RouteTree(root, pools, used, options.reloads);
}

/** What changed from one tree to the next, for the reload's log line: pools added and removed. */
export function poolChanges(before: RoutesSpec, after: RoutesSpec): { added: string[]; removed: string[]; changed: string[] } {
  const same = (a: PoolSpec, b: PoolSpec) =>
    JSON.stringify([a.servers.map((s) => s.text), a.weights, a.timeoutMs, a.connectTimeoutMs]) ===
    JSON.stringify([b.servers.map((s) => s.text), b.weights, b.timeoutMs, b.connectTimeoutMs]);
  const added = [...after.pools.keys()].filter((n) => !before.pools.has(n));
  const removed = [...before.pools.keys()].filter((n) => !after.pools.has(n));
  const changed = [...after.pools.keys()].filter((n) => before.pools.has(n) && !same(before.pools.get(n)!, after.pools.get(n)!));
  return { added, removed, changed };
}
