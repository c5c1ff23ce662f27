// memproxy --routes FILE: an mcrouter JSON config (or the same tree in YAML) read into a checked description of the
// route tree. mcrouter's source is the specification (McRouteHandleProvider, PoolFactory, the *RouteFactory files,
// ProxyConfig): the same top-level keys, the same short forms ("PoolRoute|A", "AllSyncRoute|Pool|A"), the same
// fields. Each object's fields are checked with zod; every problem names its JSON path in the file
// (`route.children[1].type: unknown route type 'FooRoute'; ...`). Fields of mcrouter's that change nothing cleave
// does are reported as ignored (warnings); fields whose meaning cleave cannot give are refused; so are macros.

import { parseDocument } from 'yaml';
import { z } from 'zod';
import { editDistance, nearest, parseAddress, type Address } from '@cleave/core';
import { FAILOVER_KINDS, MC_OPERATIONS, type FailoverKind, type McOperation } from '@cleave/router';

/** The config cannot be served: each problem names its path in the file. */
export class RoutesError extends Error {
  override readonly name = 'RoutesError';
  constructor(readonly problems: readonly string[]) {
    super(problems.join('; '));
  }
}

/** mcrouter's failover_errors: one list, or one per class of command. */
export type FailoverErrors =
  | readonly FailoverKind[]
  | { readonly gets?: readonly FailoverKind[]; readonly updates?: readonly FailoverKind[]; readonly deletes?: readonly FailoverKind[] };

export type HashFunc = 'Ch3' | 'WeightedCh3' | 'Crc32' | 'ConstShard';
export const HASH_FUNCS: readonly HashFunc[] = ['Ch3', 'WeightedCh3', 'Crc32', 'ConstShard'];
export type ReadPolicy = 'primary-first' | 'round-robin' | 'random';
export const READ_POLICIES: readonly ReadPolicy[] = ['primary-first', 'round-robin', 'random'];

/** One memcached server of a pool: "host:port", "[v6]:port" or "unix:/path" as mcrouter writes them. */
export interface ServerSpec {
  readonly text: string;
  readonly address: Address;
}

export interface PoolSpec {
  readonly name: string;
  /** Where the pool is defined in the file (`pools.A`, or a PoolRoute's inline `route.pool`). */
  readonly path: string;
  readonly servers: readonly ServerSpec[];
  /** The pool's `weights` (WeightedCh3), one per server, each in [0, 1]. */
  readonly weights?: readonly number[];
  /** mcrouter's `server_timeout` and `connect_timeout`, in ms. */
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
}

export interface HashSpec {
  readonly func: HashFunc;
  readonly salt: string;
  readonly weights?: readonly number[];
}

export interface ShadowSpec {
  readonly target: RouteSpec;
  readonly keyFraction?: readonly [number, number];
  readonly requestFraction?: number;
}

/** A route, checked; `Server` is one server of a pool, from mcrouter's "Pool|A" list form. */
export type RouteSpec =
  | { readonly type: 'PoolRoute'; readonly pool: string; readonly hash: HashSpec; readonly shadows: readonly ShadowSpec[] }
  | { readonly type: 'Server'; readonly server: ServerSpec; readonly pool: string }
  | { readonly type: 'HashRoute'; readonly children: readonly RouteSpec[]; readonly hash: HashSpec }
  | {
      readonly type: 'FailoverRoute';
      readonly children: readonly RouteSpec[];
      readonly failoverErrors?: FailoverErrors;
      /** failover_policy's max_tries. */
      readonly maxTries?: number;
    }
  | { readonly type: 'MissFailoverRoute'; readonly children: readonly RouteSpec[]; readonly returnBestOnError: boolean }
  | {
      readonly type: 'AllSyncRoute' | 'AllAsyncRoute' | 'AllMajorityRoute' | 'AllFastestRoute' | 'AllInitialRoute' | 'RandomRoute';
      readonly children: readonly RouteSpec[];
    }
  | {
      readonly type: 'LatestRoute';
      readonly children: readonly RouteSpec[];
      readonly failoverCount?: number;
      readonly failoverErrors?: FailoverErrors;
    }
  | { readonly type: 'ReplicaRoute'; readonly children: readonly RouteSpec[]; readonly read: ReadPolicy }
  | { readonly type: 'WarmUpRoute'; readonly cold: RouteSpec; readonly warm: RouteSpec; readonly exptime?: number }
  | {
      readonly type: 'PrefixSelectorRoute';
      readonly policies: Readonly<Record<string, RouteSpec>>;
      readonly wildcard?: RouteSpec;
    }
  | {
      readonly type: 'OperationSelectorRoute';
      readonly policies: Partial<Readonly<Record<McOperation, RouteSpec>>>;
      readonly defaultPolicy: RouteSpec;
    };

export interface RoutesSpec {
  readonly pools: ReadonlyMap<string, PoolSpec>;
  readonly route: RouteSpec;
  /** The aliases of the one `routes` entry, when the file gives `routes`. */
  readonly aliases?: readonly string[];
  /** Fields read and ignored, each with its path. */
  readonly warnings: readonly string[];
}

// ---------------------------------------------------------------------------
// Fields: a zod schema and, in words, what it allows
// ---------------------------------------------------------------------------

interface Field {
  readonly allowed: string;
  readonly schema: z.ZodType;
}

/** A route (string or object), checked when the tree is walked. */
const ROUTE: Field = { allowed: 'a route (a string such as "PoolRoute|A", or an object with a type)', schema: z.unknown() };
const ROUTES: Field = {
  allowed: 'a list of routes (or a string such as "Pool|A")',
  schema: z.union([z.array(z.unknown()), z.string()]),
};
const NAME: Field = { allowed: 'a string', schema: z.string() };
const FRACTION_RANGE: Field = {
  allowed: 'two numbers [from, to] with 0 <= from <= to <= 1',
  schema: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).refine(([a, b]) => a <= b),
};
const WEIGHTS: Field = { allowed: 'a list of numbers from 0 to 1', schema: z.array(z.number().min(0).max(1)) };
const HASH_FUNC: Field = { allowed: `one of ${HASH_FUNCS.join(', ')}`, schema: z.enum(HASH_FUNCS as [HashFunc, ...HashFunc[]]) };
const FAILOVER_ERRORS: Field = {
  allowed: `a list of mcrouter's failover errors (${FAILOVER_KINDS.join(', ')})`,
  schema: z.array(z.enum(FAILOVER_KINDS as [FailoverKind, ...FailoverKind[]])),
};
const COUNT: Field = { allowed: 'a whole number of at least 1', schema: z.number().int().min(1) };
const EXPTIME: Field = { allowed: 'a whole number of seconds, 0 or more', schema: z.number().int().min(0) };
const TIMEOUT: Field = { allowed: 'a whole number of milliseconds above 0', schema: z.number().int().min(1) };
const ANY: Field = { allowed: 'anything', schema: z.unknown() };

interface Shape {
  /** Fields cleave reads. */
  readonly fields: Readonly<Record<string, Field>>;
  /** Required among them. */
  readonly required?: readonly string[];
  /** mcrouter's fields that change nothing here: read, ignored, reported. */
  readonly ignored?: readonly string[];
  /** mcrouter's fields cleave cannot honour: refused, with why. */
  readonly refused?: Readonly<Record<string, string>>;
}

const LIST_ROUTE: Shape = { fields: { type: NAME, children: ROUTES }, required: ['children'] };

const ROUTE_SHAPES: Readonly<Record<string, Shape>> = {
  PoolRoute: {
    fields: { type: NAME, pool: ROUTE, hash: ANY, shadows: { allowed: 'a list of shadow objects', schema: z.array(z.unknown()) } },
    required: ['pool'],
    ignored: ['name', 'asynclog', 'asynclog_name', 'pool_id', 'rates'],
    refused: {
      shard_splits: 'shard splits are not supported',
      bucketize: 'bucketized routing is not supported',
      distribution_enabled: 'distribution routes are not supported',
      shadow_policy: 'shadow policies are not supported (shadows get the same command)',
    },
  },
  HashRoute: {
    fields: { type: NAME, children: ROUTES, hash_func: HASH_FUNC, salt: NAME, weights: WEIGHTS },
    required: ['children'],
    ignored: ['name'],
    refused: { bucketize: 'bucketized routing is not supported', client_fanout: 'client fan-out is not supported' },
  },
  FailoverRoute: {
    fields: {
      type: NAME,
      children: ROUTES,
      failover_errors: ANY,
      failover_policy: { allowed: 'an object with a type and max_tries', schema: z.record(z.string(), z.unknown()) },
    },
    required: ['children'],
    // failover_limit is mcrouter's failover rate limiter ({rate, burst}): cleave fails over every time.
    ignored: ['name', 'failover_tag', 'failover_limit', 'enable_lease_pairing'],
  },
  MissFailoverRoute: {
    fields: { type: NAME, children: ROUTES, return_best_on_error: { allowed: 'true or false', schema: z.boolean() } },
    required: ['children'],
  },
  AllSyncRoute: LIST_ROUTE,
  AllAsyncRoute: LIST_ROUTE,
  AllMajorityRoute: LIST_ROUTE,
  AllFastestRoute: LIST_ROUTE,
  AllInitialRoute: LIST_ROUTE,
  RandomRoute: LIST_ROUTE,
  LatestRoute: {
    fields: { type: NAME, children: ROUTES, failover_count: COUNT, failover_errors: ANY },
    required: ['children'],
    ignored: ['thread_local_failover'],
    refused: { weights: 'a weighted LatestRoute is not supported', salt: 'a salted LatestRoute is not supported' },
  },
  ReplicaRoute: {
    fields: { type: NAME, children: ROUTES, read: { allowed: `one of ${READ_POLICIES.join(', ')}`, schema: z.enum(READ_POLICIES) } },
    required: ['children'],
  },
  WarmUpRoute: {
    fields: { type: NAME, cold: ROUTE, warm: ROUTE, exptime: EXPTIME },
    required: ['cold', 'warm'],
    refused: { enable_metaget: "metaget is not supported (the warm item's own remaining TTL is used)" },
  },
  PrefixSelectorRoute: {
    fields: {
      type: NAME,
      policies: { allowed: 'an object of key prefix: route', schema: z.record(z.string(), z.unknown()) },
      wildcard: ROUTE,
    },
  },
  OperationSelectorRoute: {
    fields: {
      type: NAME,
      operation_policies: { allowed: 'an object of operation: route', schema: z.record(z.string(), z.unknown()) },
      default_policy: ROUTE,
    },
  },
};

export const ROUTE_TYPES: readonly string[] = Object.keys(ROUTE_SHAPES);

/** Routes whose short form `Type|...` gives their children. */
const LIST_TYPES = new Set([
  'HashRoute',
  'FailoverRoute',
  'MissFailoverRoute',
  'AllSyncRoute',
  'AllAsyncRoute',
  'AllMajorityRoute',
  'AllFastestRoute',
  'AllInitialRoute',
  'RandomRoute',
  'LatestRoute',
  'ReplicaRoute',
]);

/** FailoverRoute's failover_policy: mcrouter's in-order policy (any type but the two below) and its max_tries. */
const POLICY_SHAPE: Shape = {
  fields: { type: NAME, max_tries: COUNT },
  refused: {
    exclude_errors: 'excluded errors are not supported (failover_errors says which errors fail over)',
    max_error_tries: 'max_error_tries is not supported',
  },
};

const POOL_SHAPE: Shape = {
  fields: {
    name: NAME,
    servers: { allowed: 'a list of "host:port" strings', schema: z.array(z.unknown()).min(1) },
    weights: WEIGHTS,
    server_timeout: TIMEOUT,
    connect_timeout: TIMEOUT,
  },
  required: ['servers'],
  ignored: ['region', 'cluster', 'keep_routing_prefix', 'qos', 'hostnames', 'failure_domains', 'tags', 'disable_request_deadline_check'],
  refused: {
    inherit: 'pool inheritance is not supported: write the pool out',
    protocol: 'cleave talks to memcached in its own protocol; leave protocol out',
    use_ssl: 'TLS to servers is not supported',
    security_mech: 'TLS to servers is not supported',
    tko_tracker: 'pool TKO trackers are not supported (each server is judged on its own)',
    services: 'service discovery is not supported',
    additional_fanout: 'additional fan-out is not supported',
  },
};

const SHADOW_SHAPE: Shape = {
  fields: {
    target: ROUTE,
    index_range: { allowed: 'two whole numbers [first, last]', schema: z.tuple([z.number().int().min(0), z.number().int().min(0)]) },
    key_fraction_range: FRACTION_RANGE,
    requests_fraction: { allowed: 'a number from 0 to 1', schema: z.number().min(0).max(1) },
  },
  required: ['target'],
  refused: {
    key_fraction_range_rv: 'runtime variables are not supported',
    keys_to_shadow: 'a list of keys to shadow is not supported',
  },
};

const HASH_SHAPE: Shape = { fields: { hash_func: HASH_FUNC, salt: NAME, weights: WEIGHTS } };

const TOP_SHAPE: Shape = {
  fields: { pools: { allowed: 'an object of pool name: pool', schema: z.record(z.string(), z.unknown()) }, route: ROUTE, routes: ANY },
  refused: {
    named_handles: 'named handles are not supported: write each route where it is used',
    macros: "macros are not supported: write the config out (e.g. with mcrouter's own config tools)",
  },
  ignored: ['routing_options'],
};

// ---------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
};
const kindOf = (v: unknown) =>
  v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : `${typeof v} ${show(v)}`;
/** The nearest of `names` when it is a likely typo (at most two edits away). */
const close = (name: string, names: readonly string[]) => {
  const near = nearest(name, names);
  return near !== undefined && editDistance(name, near) <= 2 ? near : undefined;
};
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const at = (path: string, key: string | number) =>
  typeof key === 'number'
    ? `${path}[${key}]`
    : path === ''
      ? key
      : /^[A-Za-z_][\w-]*$/.test(key)
        ? `${path}.${key}`
        : `${path}[${JSON.stringify(key)}]`;
const where = (path: string) => (path === '' ? '(top level)' : path);

/** mcrouter's macro syntax: `@name(...)` calls, `%var%` substitutions, `#include`. */
const MACRO = /^@[A-Za-z_][\w]*(?:\(|$)|%[A-Za-z_][\w]*%|^#include\b/;

/** Every string (value or key) in the document written in mcrouter's macro syntax, by path: macros are refused. */
function macros(v: unknown, path: string, out: string[]): void {
  const refuse = (p: string, s: string) =>
    out.push(`${where(p)}: ${show(s)} is an mcrouter macro; macros are not supported: write the config out`);
  if (typeof v === 'string') {
    if (MACRO.test(v)) refuse(path, v);
  } else if (Array.isArray(v)) v.forEach((item, i) => macros(item, at(path, i), out));
  else if (isObject(v)) {
    for (const [key, item] of Object.entries(v)) {
      if (MACRO.test(key)) refuse(at(path, key), key);
      else macros(item, at(path, key), out);
    }
  }
}

class Reader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly pools = new Map<string, PoolSpec>();
  private readonly raw: Record<string, unknown>;
  /** Pools read already, good or not (a bad one is reported once, however many routes name it). */
  private readonly read = new Set<string>();
  /** Each pool's placement, as the first PoolRoute over it gives it: one pool is one placement. */
  private readonly placements = new Map<string, { hash: HashSpec; path: string }>();

  /** A PoolRoute's placement of a pool, which must agree with every other PoolRoute's over the same pool. */
  placed(path: string, pool: string, hash: HashSpec | undefined): HashSpec | undefined {
    if (hash === undefined) return undefined;
    const before = this.placements.get(pool);
    if (before === undefined) {
      this.placements.set(pool, { hash, path });
      return hash;
    }
    if (JSON.stringify(before.hash) !== JSON.stringify(hash))
      return this.problem(
        path,
        `pool '${pool}' is placed differently at ${before.path}; routes over one pool share its placement (hash_func, salt, weights)`,
      );
    return hash;
  }

  constructor(raw: Record<string, unknown>) {
    this.raw = isObject(raw.pools) ? raw.pools : {};
  }

  problem(path: string, message: string): undefined {
    this.problems.push(`${where(path)}: ${message}`);
    return undefined;
  }

  /** An object's fields checked against its shape; undefined when any is wrong (the problems are recorded). */
  fields(path: string, v: Record<string, unknown>, shape: Shape, what: string): Record<string, unknown> | undefined {
    let ok = true;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(v)) {
      const p = at(path, key);
      const field = shape.fields[key];
      if (field !== undefined) {
        const r = field.schema.safeParse(value);
        if (!r.success) {
          this.problem(p, `must be ${field.allowed}, got ${show(value)}`);
          ok = false;
        } else out[key] = r.data;
      } else if (shape.refused?.[key] !== undefined) {
        this.problem(p, `${key} is not supported: ${shape.refused[key]}`);
        ok = false;
      } else if (shape.ignored?.includes(key)) {
        this.warnings.push(`${p}: ignored (it changes nothing in cleave)`);
      } else {
        const known = Object.keys(shape.fields).filter((f) => f !== 'type');
        const near = nearest(key, known);
        this.problem(
          p,
          `unknown field of ${what}${near !== undefined ? `; did you mean ${near}?` : `; its fields: ${known.join(', ') || 'none'}`}`,
        );
        ok = false;
      }
    }
    for (const key of shape.required ?? []) {
      if (!(key in v)) {
        this.problem(path, `${what} needs ${key} (${shape.fields[key]!.allowed})`);
        ok = false;
      }
    }
    return ok ? out : undefined;
  }

  /** A pool by name (from `pools`), read once. */
  namedPool(path: string, name: string): string | undefined {
    if (this.pools.has(name)) return name;
    const def = this.raw[name];
    if (def === undefined) {
      const names = Object.keys(this.raw);
      const near = nearest(name, names);
      return this.problem(
        path,
        `no pool named '${name}'${near !== undefined ? `; did you mean '${near}'?` : names.length > 0 ? `; pools: ${names.join(', ')}` : ' (the file has no pools)'}`,
      );
    }
    return this.pool(at('pools', name), name, def);
  }

  /** A pool's definition (named or inline). */
  pool(path: string, name: string, def: unknown): string | undefined {
    if (!isObject(def)) return this.problem(path, `a pool must be an object with servers, got ${kindOf(def)}`);
    if (this.read.has(name)) return this.pools.has(name) ? name : undefined;
    this.read.add(name);
    const f = this.fields(path, def, POOL_SHAPE, `pool '${name}'`);
    if (f === undefined) return undefined;
    const servers: ServerSpec[] = [];
    const seen = new Map<string, number>();
    (f.servers as unknown[]).forEach((s, i) => {
      const p = at(at(path, 'servers'), i);
      const server = this.server(p, s);
      if (server === undefined) return;
      const before = seen.get(server.text);
      if (before !== undefined) this.problem(p, `${show(s)} is already servers[${before}] of pool '${name}'`);
      seen.set(server.text, i);
      servers.push(server);
    });
    const weights = f.weights as number[] | undefined;
    if (weights !== undefined && weights.length !== servers.length && servers.length === (f.servers as unknown[]).length)
      this.problem(at(path, 'weights'), `has ${weights.length} weights for ${servers.length} servers: give one per server`);
    if (servers.length !== (f.servers as unknown[]).length) return undefined;
    this.pools.set(name, {
      name,
      path,
      servers,
      ...(weights !== undefined && { weights }),
      ...(f.server_timeout !== undefined && { timeoutMs: f.server_timeout as number }),
      ...(f.connect_timeout !== undefined && { connectTimeoutMs: f.connect_timeout as number }),
    });
    return name;
  }

  /** One server: "host:port[:ascii[:plain]]", "[v6]:port" or "unix:/path". */
  server(path: string, s: unknown): ServerSpec | undefined {
    const allowed = 'give "host:port", "[ipv6]:port" or "unix:/path/to/socket"';
    if (typeof s !== 'string') {
      return this.problem(
        path,
        isObject(s)
          ? 'a server given as a route object is not supported; ' + allowed
          : `must be a server address; ${allowed}, got ${show(s)}`,
      );
    }
    let text = s;
    let address: Address;
    if (s.startsWith('unix:')) {
      const parts = s.slice(5).split(':');
      if (parts[0] === '' || parts.slice(1).some((p, i) => p !== (i === 0 ? 'ascii' : 'plain')))
        return this.problem(path, `${show(s)} is not a unix socket server; ${allowed}`);
      address = { path: parts[0]! };
      text = `unix:${parts[0]}`;
    } else {
      const m = /^(\[[^\]]+\]|[^:[\]]+):(\d+)((?::[^:]*)*)$/.exec(s);
      const extra = m?.[3]?.split(':').slice(1) ?? [];
      const proto = extra[0];
      const mech = extra[1];
      if (m !== null && proto !== undefined && proto !== 'ascii')
        return this.problem(
          path,
          `${show(s)}: protocol '${proto}' is not supported; cleave talks to memcached itself (leave it out or give ascii)`,
        );
      if (m !== null && mech !== undefined && mech !== 'plain')
        return this.problem(path, `${show(s)}: '${mech}' is not supported; cleave connects to servers in plain text`);
      if (m === null || extra.length > 2) return this.problem(path, `${show(s)} is not a server address; ${allowed}`);
      try {
        address = parseAddress(`${m[1]}:${m[2]}`);
      } catch {
        return this.problem(path, `${show(s)} is not a server address; ${allowed} (port 1-65535)`);
      }
      text = `${m[1]}:${m[2]}`;
    }
    return { text, address };
  }

  /** The `hash` of a PoolRoute (a string or an object), over the pool's weights. */
  hash(path: string, v: unknown, poolWeights: readonly number[] | undefined): HashSpec | undefined {
    // mcrouter: a pool with weights is hashed with WeightedCh3 over them unless the route says otherwise.
    let func: HashFunc = poolWeights !== undefined ? 'WeightedCh3' : 'Ch3';
    let salt = '';
    let weights = poolWeights;
    if (typeof v === 'string') {
      const r = HASH_FUNC.schema.safeParse(v);
      if (!r.success) return this.problem(path, `must be ${HASH_FUNC.allowed}, got ${show(v)}`);
      func = r.data as HashFunc;
    } else if (isObject(v)) {
      const f = this.fields(path, v, HASH_SHAPE, 'hash');
      if (f === undefined) return undefined;
      if (f.hash_func !== undefined) func = f.hash_func as HashFunc;
      if (f.salt !== undefined) salt = f.salt as string;
      if (f.weights !== undefined) weights = f.weights as number[];
    } else if (v !== undefined) {
      return this.problem(path, `must be a hash function name or an object with hash_func, salt, weights, got ${kindOf(v)}`);
    }
    return this.checkedHash(path, func, salt, weights);
  }

  checkedHash(path: string, func: HashFunc, salt: string, weights: readonly number[] | undefined): HashSpec | undefined {
    if (func === 'WeightedCh3' && weights === undefined) return this.problem(path, 'WeightedCh3 needs weights (one per child or server)');
    return { func, salt, ...(func === 'WeightedCh3' && { weights }) };
  }

  /** A list of routes: an array, or a string (one route, or "Pool|A": the pool's servers). */
  list(path: string, v: unknown): RouteSpec[] | undefined {
    const items = typeof v === 'string' ? [v] : (v as unknown[]);
    const out: RouteSpec[] = [];
    let ok = true;
    items.forEach((item, i) => {
      const p = typeof v === 'string' ? path : at(path, i);
      const expanded = this.routeOrServers(p, item);
      if (expanded === undefined) ok = false;
      else out.push(...expanded);
    });
    if (ok && out.length === 0) return this.problem(path, 'needs at least one route');
    return ok ? out : undefined;
  }

  /** A route where a list is allowed: "Pool|A" gives each server of pool A. */
  routeOrServers(path: string, v: unknown): RouteSpec[] | undefined {
    if (typeof v === 'string' && (v.startsWith('Pool|') || v === 'Pool')) {
      const name = this.namedPool(path, v.slice(5));
      if (name === undefined) return undefined;
      return this.pools.get(name)!.servers.map((server) => ({ type: 'Server', server, pool: name }));
    }
    const r = this.route(path, v);
    return r === undefined ? undefined : [r];
  }

  route(path: string, v: unknown): RouteSpec | undefined {
    if (typeof v === 'string') return this.shortForm(path, v);
    if (Array.isArray(v)) return this.problem(path, "a list where one route is expected (a list goes in a route's children)");
    if (!isObject(v)) return this.problem(path, `must be ${ROUTE.allowed}, got ${kindOf(v)}`);
    const type = v.type;
    if (type === undefined) {
      if (typeof v.name === 'string')
        return this.problem(path, 'named handles (an object with a name and no type) are not supported: give the route its type');
      return this.problem(path, `a route object needs a type (one of ${ROUTE_TYPES.join(', ')})`);
    }
    if (typeof type !== 'string') return this.problem(at(path, 'type'), `must be a route type, got ${show(type)}`);
    const shape = ROUTE_SHAPES[type];
    if (shape === undefined) return this.unknownType(at(path, 'type'), type);
    const f = this.fields(path, v, shape, type);
    if (f === undefined) return undefined;
    return this.build(path, type, f);
  }

  unknownType(path: string, type: string): undefined {
    const near = close(type, ROUTE_TYPES);
    return this.problem(
      path,
      `unknown route type '${type}'${near !== undefined ? `; did you mean '${near}'?` : ''}; one of ${ROUTE_TYPES.join(', ')}`,
    );
  }

  /** "PoolRoute|A", "AllSyncRoute|Pool|A", "FailoverRoute|Pool|A", ... (mcrouter splits at the first '|'). */
  shortForm(path: string, s: string): RouteSpec | undefined {
    const bar = s.indexOf('|');
    const type = bar < 0 ? s : s.slice(0, bar);
    const rest = bar < 0 ? '' : s.slice(bar + 1);
    if (type === 'Pool')
      return this.problem(path, `${show(s)} is a list of servers; it goes where a route's children are listed (e.g. "AllSyncRoute|${s}")`);
    if (type === 'PoolRoute') {
      if (rest === '') return this.problem(path, '"PoolRoute|NAME" needs the pool\'s name');
      const name = this.namedPool(path, rest);
      if (name === undefined) return undefined;
      const hash = this.placed(path, name, this.hash(path, undefined, this.pools.get(name)!.weights));
      return hash === undefined ? undefined : { type: 'PoolRoute', pool: name, hash, shadows: [] };
    }
    if (ROUTE_SHAPES[type] === undefined) {
      if (bar < 0) return this.problem(path, `${show(s)} is not a route: give "PoolRoute|NAME", "TYPE|..." or an object with a type`);
      return this.unknownType(path, type);
    }
    if (!LIST_TYPES.has(type)) return this.problem(path, `${type} needs an object (with its fields), not the short form ${show(s)}`);
    if (rest === '') return this.problem(path, `${show(s)} needs children after '|' (e.g. "${type}|Pool|A")`);
    return this.build(path, type, { type, children: rest }, path);
  }

  /** A route from its checked fields; `childrenPath` is where its children are written (the string itself for a short form). */
  build(path: string, type: string, f: Record<string, unknown>, childrenPath = at(path, 'children')): RouteSpec | undefined {
    switch (type) {
      case 'PoolRoute': {
        const p = at(path, 'pool');
        const name =
          typeof f.pool === 'string'
            ? this.namedPool(p, f.pool)
            : isObject(f.pool)
              ? typeof f.pool.name === 'string'
                ? this.inlinePool(p, f.pool.name, f.pool)
                : this.problem(p, 'an inline pool needs a name')
              : this.problem(p, `must be a pool name or a pool object, got ${kindOf(f.pool)}`);
        if (name === undefined) return undefined;
        const pool = this.pools.get(name)!;
        let hash = this.hash(at(path, 'hash'), f.hash, pool.weights);
        if (hash?.weights !== undefined && hash.weights.length !== pool.servers.length)
          return this.problem(
            at(path, 'hash'),
            `has ${hash.weights.length} weights for the ${pool.servers.length} servers of pool '${name}'`,
          );
        hash = this.placed(path, name, hash);
        const shadows = ((f.shadows as unknown[] | undefined) ?? []).map((s, i) => this.shadow(at(at(path, 'shadows'), i), s, pool));
        if (hash === undefined || shadows.some((s) => s === undefined)) return undefined;
        return { type: 'PoolRoute', pool: name, hash, shadows: shadows as ShadowSpec[] };
      }
      case 'HashRoute': {
        const children = this.list(childrenPath, f.children);
        if (children === undefined) return undefined;
        const weights = f.weights as number[] | undefined;
        if (weights !== undefined && weights.length !== children.length)
          return this.problem(at(path, 'weights'), `has ${weights.length} weights for ${children.length} children`);
        const func = (f.hash_func as HashFunc | undefined) ?? (weights !== undefined ? 'WeightedCh3' : 'Ch3');
        const hash = this.checkedHash(path, func, (f.salt as string | undefined) ?? '', weights);
        return hash === undefined ? undefined : { type: 'HashRoute', children, hash };
      }
      case 'FailoverRoute':
      case 'LatestRoute': {
        const children = this.list(childrenPath, f.children);
        const errors = f.failover_errors === undefined ? undefined : this.failoverErrors(at(path, 'failover_errors'), f.failover_errors);
        if (children === undefined || (f.failover_errors !== undefined && errors === undefined)) return undefined;
        if (type === 'FailoverRoute') {
          let maxTries: number | undefined;
          if (f.failover_policy !== undefined) {
            const pp = at(path, 'failover_policy');
            const policy = this.fields(pp, f.failover_policy as Record<string, unknown>, POLICY_SHAPE, 'failover_policy');
            if (policy === undefined) return undefined;
            if (policy.type === 'LeastFailuresPolicy' || policy.type === 'DeterministicOrderPolicy')
              return this.problem(
                at(pp, 'type'),
                `${policy.type} is not supported: cleave tries the children in order (mcrouter's default policy)`,
              );
            maxTries = policy.max_tries as number | undefined;
          }
          return { type, children, ...(errors !== undefined && { failoverErrors: errors }), ...(maxTries !== undefined && { maxTries }) };
        }
        return {
          type,
          children,
          ...(errors !== undefined && { failoverErrors: errors }),
          ...(f.failover_count !== undefined && { failoverCount: f.failover_count as number }),
        };
      }
      case 'ReplicaRoute': {
        const children = this.list(childrenPath, f.children);
        return children === undefined ? undefined : { type, children, read: (f.read as ReadPolicy | undefined) ?? 'primary-first' };
      }
      case 'MissFailoverRoute': {
        const children = this.list(childrenPath, f.children);
        return children === undefined ? undefined : { type, children, returnBestOnError: f.return_best_on_error === true };
      }
      case 'AllSyncRoute':
      case 'AllAsyncRoute':
      case 'AllMajorityRoute':
      case 'AllFastestRoute':
      case 'AllInitialRoute':
      case 'RandomRoute': {
        const children = this.list(childrenPath, f.children);
        return children === undefined ? undefined : { type, children };
      }
      case 'WarmUpRoute': {
        const cold = this.route(at(path, 'cold'), f.cold);
        const warm = this.route(at(path, 'warm'), f.warm);
        if (cold === undefined || warm === undefined) return undefined;
        return { type, cold, warm, ...(f.exptime !== undefined && { exptime: f.exptime as number }) };
      }
      case 'PrefixSelectorRoute': {
        if (f.policies === undefined && f.wildcard === undefined)
          return this.problem(path, 'PrefixSelectorRoute needs policies or wildcard');
        const policies: Record<string, RouteSpec> = {};
        let ok = true;
        for (const [prefix, r] of Object.entries((f.policies as Record<string, unknown> | undefined) ?? {})) {
          const route = this.route(at(at(path, 'policies'), prefix), r);
          if (route === undefined) ok = false;
          else policies[prefix] = route;
        }
        const wildcard = f.wildcard === undefined ? undefined : this.route(at(path, 'wildcard'), f.wildcard);
        if (!ok || (f.wildcard !== undefined && wildcard === undefined)) return undefined;
        return { type, policies, ...(wildcard !== undefined && { wildcard }) };
      }
      case 'OperationSelectorRoute': {
        if (f.default_policy === undefined)
          return this.problem(path, 'OperationSelectorRoute needs default_policy (cleave answers every operation with some route)');
        const policies: Partial<Record<McOperation, RouteSpec>> = {};
        let ok = true;
        for (const [op, r] of Object.entries((f.operation_policies as Record<string, unknown> | undefined) ?? {})) {
          const p = at(at(path, 'operation_policies'), op);
          if (!(MC_OPERATIONS as readonly string[]).includes(op)) {
            const near = nearest(op, MC_OPERATIONS);
            this.problem(
              p,
              `unknown operation '${op}'${near !== undefined ? `; did you mean '${near}'?` : ''}; one of ${MC_OPERATIONS.join(', ')}`,
            );
            ok = false;
            continue;
          }
          const route = this.route(p, r);
          if (route === undefined) ok = false;
          else policies[op as McOperation] = route;
        }
        const defaultPolicy = this.route(at(path, 'default_policy'), f.default_policy);
        if (!ok || defaultPolicy === undefined) return undefined;
        return { type, policies, defaultPolicy };
      }
    }
    return this.unknownType(at(path, 'type'), type);
  }

  inlinePool(path: string, name: string, def: Record<string, unknown>): string | undefined {
    if (this.pools.has(name) || this.raw[name] !== undefined)
      return this.problem(path, `an inline pool named '${name}' but pools already has a pool of that name`);
    return this.pool(path, name, def);
  }

  failoverErrors(path: string, v: unknown): FailoverErrors | undefined {
    if (isObject(v)) {
      const f = this.fields(
        path,
        v,
        { fields: { gets: FAILOVER_ERRORS, updates: FAILOVER_ERRORS, deletes: FAILOVER_ERRORS } },
        'failover_errors',
      );
      return f as FailoverErrors | undefined;
    }
    const r = FAILOVER_ERRORS.schema.safeParse(v);
    if (!r.success) return this.problem(path, `must be ${FAILOVER_ERRORS.allowed}, got ${show(v)}`);
    return r.data as FailoverKind[];
  }

  shadow(path: string, v: unknown, pool: PoolSpec): ShadowSpec | undefined {
    if (!isObject(v)) return this.problem(path, `a shadow must be an object with a target, got ${kindOf(v)}`);
    const f = this.fields(path, v, SHADOW_SHAPE, 'a shadow');
    if (f === undefined) return undefined;
    const range = f.index_range as [number, number] | undefined;
    // cleave shadows a whole pool: an index_range is taken only when it covers every server.
    if (range !== undefined && (range[0] !== 0 || range[1] < pool.servers.length - 1))
      return this.problem(
        at(path, 'index_range'),
        `cleave shadows every server of the pool; give [0, ${pool.servers.length - 1}] or leave index_range out (use key_fraction_range for a share)`,
      );
    const target = this.route(at(path, 'target'), f.target);
    if (target === undefined) return undefined;
    return {
      target,
      ...(f.key_fraction_range !== undefined && { keyFraction: f.key_fraction_range as [number, number] }),
      ...(f.requests_fraction !== undefined && { requestFraction: f.requests_fraction as number }),
    };
  }
}

/** Read a config's text (JSON, or YAML) into its checked route tree; throws RoutesError naming each mistake's path. */
export function readRoutes(text: string): RoutesSpec {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (jsonError) {
    if (/^\s*#include\b/m.test(text) || /^\s*\/\/ *#include\b/m.test(text))
      throw new RoutesError(['#include is an mcrouter macro; macros are not supported: write the config out']);
    const yaml = parseDocument(text);
    if (yaml.errors.length > 0) {
      const e = text.trimStart().startsWith('{') ? (jsonError as Error) : yaml.errors[0]!;
      throw new RoutesError([`cannot be read as JSON or as YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`]);
    }
    doc = yaml.toJS();
  }
  if (!isObject(doc)) throw new RoutesError([`holds ${kindOf(doc)}; an mcrouter config is an object with pools and route`]);
  const found: string[] = [];
  macros(doc, '', found);
  if (found.length > 0) throw new RoutesError(found);
  const r = new Reader(doc);
  const top = r.fields('', doc, TOP_SHAPE, 'an mcrouter config');
  if (top === undefined) throw new RoutesError(r.problems);
  if (top.route !== undefined && top.routes !== undefined) r.problem('routes', 'give route or routes, not both');
  let aliases: string[] | undefined;
  let route: RouteSpec | undefined;
  if (top.route !== undefined) route = r.route('route', top.route);
  else if (top.routes !== undefined) {
    const routes = top.routes;
    if (!Array.isArray(routes) || routes.length !== 1) {
      r.problem(
        'routes',
        Array.isArray(routes) || isObject(routes)
          ? 'memproxy serves one route: give route, or routes with one entry (keys with routing prefixes are not routed by alias)'
          : `must be a list of { aliases, route }, got ${kindOf(routes)}`,
      );
    } else {
      const entry = routes[0];
      if (!isObject(entry)) r.problem('routes[0]', `must be an object with aliases and route, got ${kindOf(entry)}`);
      else {
        const f = r.fields(
          'routes[0]',
          entry,
          {
            fields: { aliases: { allowed: 'a list of strings', schema: z.array(z.string()) }, route: ROUTE },
            required: ['aliases', 'route'],
          },
          'a routes entry',
        );
        if (f !== undefined) {
          aliases = f.aliases as string[];
          route = r.route('routes[0].route', f.route);
        }
      }
    }
  } else r.problem('', 'no route: give route (or routes)');
  if (r.problems.length > 0 || route === undefined) throw new RoutesError(r.problems);
  // Pools no route uses are read too, so a mistake in one is found now rather than when it is first used.
  for (const name of Object.keys(isObject(top.pools) ? top.pools : {})) r.namedPool(at('pools', name), name);
  if (r.problems.length > 0) throw new RoutesError(r.problems);
  return { pools: r.pools, route, ...(aliases !== undefined && { aliases }), warnings: r.warnings };
}
