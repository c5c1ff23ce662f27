/**
 * A pool: one key space over several servers, as one Handler. Each key goes
 * to one server, placed exactly as nutcracker (twemproxy) 0.5.0 places it
 * for the same configuration (placement.ts); a multi-get whose keys live on
 * several servers is split into one batch per server and put back in the
 * caller's key order; flush_all reaches every server in the ring. A server
 * that fails `serverFailureLimit` times in a row is taken out of service
 * (member.ts) until a background probe finds it answering again.
 *
 *     pool({ distribution: 'ketama', hash: 'fnv1a_64', servers: [
 *       { name: 'cache1', handler: new MemcachedHandler({ address: '10.0.0.1:11211' }) },
 *       { name: 'cache2', handler: new MemcachedHandler({ address: '10.0.0.2:11211' }) },
 *     ] })
 */
import {
  HandlerError,
  BinaryStatus,
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
import { all, andThen, attempt, call, isPromise, type Logger } from '@cleave/core';
import { Member, serverDown, type HealthRules, type MemberEvents, type PoolMember } from './member.js';
import { Placement } from './placement.js';
import { DISTRIBUTIONS, HASH_NAMES, type Distribution, type HashName } from './types.js';

export interface PoolServerOptions {
  /** The Handler that serves this server's keys: normally a `MemcachedHandler`. */
  handler: Handler;
  /** The name hashed onto the ketama ring (nutcracker's rule: `ringName(host, port, name)`). */
  name: string;
  /**
   * Relative share of the keys (nutcracker's `:weight`, a positive integer; default 1). For `weighted_ch3`,
   * mcrouter's weight: a number in [0, 1], the share of this server's furc_hash keys it keeps.
   */
  weight?: number;
  /** How stats and logs name the server (default: `name`). */
  label?: string;
}

export interface PoolOptions {
  servers: readonly PoolServerOptions[];
  /** The pool's name (nutcracker.yml's top-level key), for stats. */
  name?: string;
  /**
   * Default 'ketama' (nutcracker's default). `ch3` and `weighted_ch3` place keys as mcrouter's PoolRoute does
   * (furc_hash, servers in the order given here; `hash` and `hashTag` do not apply).
   */
  distribution?: Distribution;
  /** Default 'fnv1a_64' (nutcracker's default). */
  hash?: HashName;
  /** ch3 and weighted_ch3 only: mcrouter's hash salt, appended to each key before hashing. */
  salt?: string;
  /** Two characters, e.g. `{}`: a key holding `{tag}` is placed by `tag` alone. */
  hashTag?: string;
  /**
   * Take a failing server out of the ring, moving its keys to the others
   * (nutcracker's auto_eject_hosts). When false (the default) its keys stay
   * where they are and fail at once while it is down: no reshuffle. Not with
   * ch3 or weighted_ch3: mcrouter never moves a key (fail over with routes).
   */
  autoEjectHosts?: boolean;
  /** Failures in a row that take a server out of service (default 2). */
  serverFailureLimit?: number;
  /** Least time an ejected server stays out of the ring, in ms (default 30000). */
  serverRetryTimeoutMs?: number;
  /** How often a server out of service is probed (its handler's `ping`), in ms (default 1000). */
  probeIntervalMs?: number;
  /** Told each time a server changes state (taken out of service, back in): for logs and alerts. */
  onStateChange?: (member: PoolMember) => void;
  /**
   * Where a server's changes of state are reported (pino's shape): ejected from the ring or down (warn), back in
   * service (info), once per change.
   */
  logger?: Logger;
}

/** A member's change of state, as `logger` reports it. */
function logStateChange(logger: Logger, pool: string, m: PoolMember): void {
  if (m.state === 'up') {
    logger.info({ pool, server: m.label, outMs: Date.now() - m.ejectedAt }, 'server back in service');
  } else if (m.state === 'ejected') {
    logger.warn({ pool, server: m.label }, 'server ejected from the ring (its keys go to the other servers)');
  } else {
    logger.warn({ pool, server: m.label }, 'server down (its keys fail until it answers)');
  }
}

/** Pool-wide figures (nutcracker's per-pool stats). */
export class PoolCounters {
  /** Times a server was ejected from the ring. */
  serverEjects = 0;
  /** Commands that failed because their server failed. */
  forwardErrors = 0;
  /** Batches a multi-get was split into, when its keys live on more than one server. */
  fragments = 0;
}

const END = Buffer.from('END\r\n', 'latin1');
const OK = Buffer.from('OK\r\n', 'latin1');

/** A dump's reply (its entries, then END) rather than the one line a command answers. */
function endsWithEnd(r: Buffer): boolean {
  return (
    r.length >= END.length &&
    r.subarray(r.length - END.length).equals(END) &&
    (r.length === END.length || r[r.length - END.length - 1] === 0x0a)
  );
}

type Merge = 'sum' | 'max' | 'first';

/**
 * One group from the servers' groups: each field's numbers summed, the
 * largest taken, or the first server's value kept, as `how` says; text
 * (a setting, `sizes_status`) is always the first server's.
 */
function mergeGroups(groups: readonly (StatsGroup | undefined)[], how: (field: string) => Merge): StatsGroup {
  const out: StatsGroup = {};
  for (const g of groups) {
    if (g === undefined) continue;
    for (const k in g) {
      const v = g[k]!;
      const had = out[k];
      if (had === undefined) out[k] = v;
      else if (typeof v === 'number' && typeof had === 'number') {
        const h = how(k.slice(k.lastIndexOf(':') + 1));
        if (h === 'sum') out[k] = had + v;
        else if (h === 'max') out[k] = Math.max(had, v);
      }
    }
  }
  return out;
}

/** A group without one server's connection settings and failures (`backend`, `backend_timeout_ms`, `backend_stats_error`, ...). */
function withoutBackendFields(g: StatsGroup): StatsGroup {
  for (const k in g) if (k.startsWith('backend')) delete g[k];
  return g;
}

/** `stats items`: ages and times are the oldest over the servers, everything else a count. */
function itemField(field: string): Merge {
  return field === 'age' || field === 'age_hot' || field === 'age_warm' || field === 'evicted_time' ? 'max' : 'sum';
}

/** `stats slabs`: a class's chunk size and chunks per page are the same on every server. */
function slabField(field: string): Merge {
  return field === 'chunk_size' || field === 'chunks_per_page' ? 'max' : 'sum';
}

/** Slab class of a per-class field (`items:3:number`, `3:chunk_size`, `sizes`' `96`), or -1. */
function classOf(key: string): number {
  const m = /^(?:items:)?(\d+)(?::|$)/.exec(key);
  return m === null ? -1 : Number(m[1]);
}

/** The fields ordered by slab class, as memcached lists them (a class only some servers have comes in its place), totals last. */
function byClass(g: StatsGroup): StatsGroup {
  const keys = Object.keys(g);
  const order = keys.map((k, i) => ({ k, c: classOf(k), i }));
  order.sort((a, b) => {
    if (a.c >= 0 && b.c >= 0) return a.c - b.c || a.i - b.i;
    if (a.c < 0 && b.c < 0) return a.i - b.i;
    return a.c < 0 ? 1 : -1;
  });
  const out: StatsGroup = {};
  for (const { k } of order) out[k] = g[k]!;
  return out;
}

/** When no server is in the ring (all ejected). */
const noServer = new HandlerError('no server available', 'BACKEND_UNAVAILABLE', BinaryStatus.ETMPFAIL);

/** A weighted_ch3 weight: a number in [0, 1] (default 1). */
function unitWeight(name: string, v: number | undefined): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number' || !(v >= 0 && v <= 1))
    throw new TypeError(`pool: ${name} has weight ${String(v)}: a weighted_ch3 weight is a number in [0, 1]`);
  return v;
}

function positiveInteger(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
    throw new RangeError(`pool: ${name} must be a positive integer, got ${String(v)}`);
  return v;
}

export class Pool implements Handler {
  readonly name: string;
  readonly members: readonly PoolMember[];
  readonly counters = new PoolCounters();
  readonly distribution: Distribution;
  readonly hash: HashName;
  readonly hashTag: string | undefined;
  readonly salt: string | undefined;
  readonly keepsNewCas: boolean;
  private readonly servers: Member[];
  private readonly placement: Placement;
  private readonly rules: HealthRules;
  /** A multi-get's server per key, reused (filled and read within one synchronous call). */
  private where = new Int32Array(64);

  constructor(options: PoolOptions) {
    if (options === null || typeof options !== 'object') throw new TypeError('pool: options with servers are required');
    const list = options.servers;
    if (!Array.isArray(list) || list.length === 0) throw new TypeError('pool: servers must be a non-empty array');
    this.name = options.name ?? 'pool';
    this.distribution = options.distribution ?? 'ketama';
    if (!DISTRIBUTIONS.includes(this.distribution))
      throw new TypeError(`pool: distribution must be one of ${DISTRIBUTIONS.join(', ')}, got ${String(this.distribution)}`);
    this.hash = options.hash ?? 'fnv1a_64';
    if (!HASH_NAMES.includes(this.hash))
      throw new TypeError(`pool: hash must be one of ${HASH_NAMES.join(', ')}, got ${String(this.hash)}`);
    this.hashTag = options.hashTag === undefined || options.hashTag === '' ? undefined : options.hashTag;
    this.salt = options.salt === undefined || options.salt === '' ? undefined : options.salt;
    const mcrouter = this.distribution === 'ch3' || this.distribution === 'weighted_ch3';
    if (mcrouter && options.autoEjectHosts === true) {
      throw new TypeError(`pool: autoEjectHosts would move keys, and ${this.distribution} never does (mcrouter's rule): leave it off`);
    }
    const failureLimit = positiveInteger('serverFailureLimit', options.serverFailureLimit, 2);
    const retryTimeoutMs = positiveInteger('serverRetryTimeoutMs', options.serverRetryTimeoutMs, 30_000);
    const probeIntervalMs = positiveInteger('probeIntervalMs', options.probeIntervalMs, 1000);
    this.rules = { autoEject: options.autoEjectHosts === true, failureLimit, retryTimeoutMs, probeIntervalMs };
    const counters = this.counters;
    const events: MemberEvents = {
      ringChanged: () => this.rebuild(),
      forwardErrors: (n) => {
        counters.forwardErrors += n;
      },
      ejected: () => {
        counters.serverEjects++;
      },
      stateChanged: (m) => {
        if (options.logger !== undefined) logStateChange(options.logger, this.name, m);
        options.onStateChange?.(m);
      },
    };
    this.servers = list.map((s, i) => {
      if (s === null || typeof s !== 'object' || s.handler === undefined) throw new TypeError(`pool: servers[${i}] needs a handler`);
      if (typeof s.name !== 'string' || s.name === '') throw new TypeError(`pool: servers[${i}] needs a name`);
      const weight =
        this.distribution === 'weighted_ch3'
          ? unitWeight(`servers[${i}] (${s.name})`, s.weight)
          : positiveInteger(`servers[${i}].weight`, s.weight, 1);
      return new Member(s.handler, s.name, s.label ?? s.name, weight, this.rules, events);
    });
    this.members = this.servers;
    this.placement = new Placement({
      distribution: this.distribution,
      hash: this.hash,
      hashTag: this.hashTag,
      salt: this.salt,
      servers: this.servers.map((m) => ({ name: m.name, weight: m.weight })),
    });
    this.keepsNewCas = this.servers.every((m) => m.handler.keepsNewCas === true);
  }

  /** Placement over the servers in the ring now. */
  private rebuild(): void {
    this.placement.rebuild(this.servers.map((m) => m.state !== 'ejected'));
  }

  /** The member that serves `key`; throws when none can. */
  private memberFor(key: Buffer): Member {
    const i = this.placement.serverFor(key);
    if (i < 0) throw noServer;
    const m = this.servers[i]!;
    if (!m.serving) throw serverDown;
    m.counters.requests++;
    return m;
  }

  /** The server a key goes to now, by its label (`undefined` when none is in the ring). For tools and tests. */
  serverFor(key: Buffer): PoolMember | undefined {
    const i = this.placement.serverFor(key);
    return i < 0 ? undefined : this.servers[i];
  }

  /** Whether the server for `key` is in service now (routes skip a child that cannot serve a key: mcrouter's TKO). */
  serves(key: Buffer): boolean {
    const i = this.placement.serverFor(key);
    return i >= 0 && this.servers[i]!.serving;
  }

  // -------------------------------------------------------------------------
  // Handler
  // -------------------------------------------------------------------------

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const m = this.memberFor(cmd.key);
    let r: MaybePromise<ItemView | undefined>;
    try {
      r = m.handler.get(cmd);
    } catch (err) {
      return m.failed(err);
    }
    return m.outcome(r);
  }

  /**
   * Keys on one server go to it as one batch; keys on several are split
   * into a batch per server (fragments) and the answers put back in `cmds`'
   * order. When any server fails, the whole multi-get fails (the client
   * sees one SERVER_ERROR and its connection stays open).
   */
  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const n = cmds.length;
    if (n === 0) return [];
    if (this.where.length < n) this.where = new Int32Array(Math.max(n, this.where.length * 2));
    const where = this.where;
    const placement = this.placement;
    let split = false;
    for (let i = 0; i < n; i++) {
      const s = placement.serverFor(cmds[i]!.key);
      if (s < 0) throw noServer;
      if (!this.servers[s]!.serving) throw serverDown;
      where[i] = s;
      if (s !== where[0]) split = true;
    }
    if (!split) return this.batch(this.servers[where[0]!]!, cmds);
    // One batch per server: its commands, and where each answer goes in `cmds`' order.
    const ns = this.servers.length;
    const batches: (GetCommand[] | undefined)[] = new Array(ns);
    const places: number[][] = new Array(ns);
    let fragments = 0;
    for (let i = 0; i < n; i++) {
      const s = where[i]!;
      let b = batches[s];
      if (b === undefined) {
        b = batches[s] = [];
        places[s] = [];
        fragments++;
      }
      b.push(cmds[i]!);
      places[s]!.push(i);
    }
    this.counters.fragments += fragments;
    const out: (ItemView | undefined)[] = new Array(n);
    let pending: Promise<unknown>[] | undefined;
    for (let s = 0; s < ns; s++) {
      const b = batches[s];
      if (b === undefined) continue;
      const at = places[s]!;
      const r = this.batch(this.servers[s]!, b);
      if (isPromise(r)) {
        (pending ??= []).push(
          r.then((items) => {
            for (let j = 0; j < items.length; j++) out[at[j]!] = items[j];
          }),
        );
      } else {
        for (let j = 0; j < r.length; j++) out[at[j]!] = r[j];
      }
    }
    return pending === undefined ? out : Promise.all(pending).then(() => out);
  }

  /** One server's keys of a multi-get, in one call when its handler has getMany. */
  private batch(m: Member, cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const n = cmds.length;
    m.counters.requests += n;
    const h = m.handler;
    let r: MaybePromise<(ItemView | undefined)[]>;
    try {
      if (h.getMany !== undefined) {
        r = h.getMany(cmds);
      } else {
        const each: MaybePromise<ItemView | undefined>[] = new Array(n);
        let async = false;
        for (let i = 0; i < n; i++) {
          each[i] = h.get(cmds[i]!);
          if (isPromise(each[i])) async = true;
        }
        r = async ? Promise.all(each) : (each as (ItemView | undefined)[]);
      }
    } catch (err) {
      m.fail(err, n);
      throw err;
    }
    if (!isPromise(r)) {
      m.answeredMany(n);
      return r;
    }
    return r.then(
      (items) => {
        m.answeredMany(n);
        return items;
      },
      (err: unknown) => {
        m.fail(err, n);
        throw err;
      },
    );
  }

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const m = this.memberFor(cmd.key);
    let r: MaybePromise<StoreOutcome>;
    try {
      r = m.handler.store(cmd);
    } catch (err) {
      return m.failed(err);
    }
    return m.outcome(r);
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    const m = this.memberFor(cmd.key);
    let r: MaybePromise<DeleteOutcome>;
    try {
      r = m.handler.delete(cmd);
    } catch (err) {
      return m.failed(err);
    }
    return m.outcome(r);
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    const m = this.memberFor(cmd.key);
    let r: MaybePromise<ArithmeticOutcome>;
    try {
      r = m.handler.arithmetic(cmd);
    } catch (err) {
      return m.failed(err);
    }
    return m.outcome(r);
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    const m = this.memberFor(cmd.key);
    let r: MaybePromise<TouchOutcome>;
    try {
      r = m.handler.touch(cmd);
    } catch (err) {
      return m.failed(err);
    }
    return m.outcome(r);
  }

  /**
   * flush_all reaches every server in the ring (a down one fails it, so the
   * client learns the flush did not reach all). An ejected server is flushed
   * before it rejoins the ring, so none of the items the flush removed comes
   * back with it.
   */
  flush(delay: number): MaybePromise<void> {
    for (const m of this.servers) if (m.state === 'down') throw serverDown;
    const pending: Promise<void>[] = [];
    for (const m of this.servers) {
      if (m.state === 'ejected') {
        m.missFlush(delay);
        continue;
      }
      m.counters.requests++;
      let r: MaybePromise<void>;
      try {
        r = m.handler.flush(delay);
      } catch (err) {
        return m.failed(err);
      }
      const o = m.outcome(r);
      if (isPromise(o)) pending.push(o);
    }
    if (pending.length === 0) return undefined;
    return Promise.all(pending).then(() => undefined);
  }

  /** Answers once any server in service answers its ping. */
  ping(): MaybePromise<void> {
    const up = this.servers.filter((m) => m.serving);
    if (up.length === 0) return Promise.reject(noServer);
    const pings = up.map((m) => (m.handler.ping ? Promise.resolve().then(() => m.handler.ping!()) : Promise.resolve()));
    return Promise.any(pings).catch(() => {
      throw noServer;
    });
  }

  /**
   * `stats`: the pool's own figures, each numeric figure its servers report
   * summed over them (curr_items, bytes, limit_maxbytes, a MemcachedHandler's
   * backend_* counters), then each server's figures and state under
   * `server:<label>:`. `stats items`, `slabs` and `sizes`: the servers'
   * groups merged per slab class (counts summed, ages the oldest), so tools
   * read the pool as one memcached. `stats settings`: how keys are placed and
   * servers judged, over the first server's settings (maxbytes summed; no
   * one server's `backend*` settings). `stats
   * reset` resets the pool's and the servers' counters. A server whose
   * stats fail is left out of the sums (its own group says why).
   */
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    const c = this.counters;
    switch (group) {
      case '': {
        const out: StatsGroup = {
          pool_servers: this.servers.length,
          pool_servers_up: this.servers.filter((m) => m.state === 'up').length,
          pool_servers_ejected: this.servers.filter((m) => m.state === 'ejected').length,
          pool_server_ejects: c.serverEjects,
          pool_forward_errors: c.forwardErrors,
          pool_fragments: c.fragments,
        };
        return andThen(this.askAll(''), (groups) => {
          for (const st of groups) {
            if (st === undefined) continue;
            for (const k in st) {
              const v = st[k];
              if (typeof v !== 'number') continue;
              const sum = out[k];
              out[k] = typeof sum === 'number' ? sum + v : v;
            }
          }
          for (let i = 0; i < groups.length; i++) {
            const m = this.servers[i]!;
            const p = `server:${m.label}:`;
            out[`${p}state`] = m.state;
            const st = groups[i];
            if (st !== undefined) for (const k in st) out[p + k] = st[k]!;
          }
          return out;
        });
      }
      case 'settings':
        return andThen(this.askAll('settings'), (groups) => ({
          ...withoutBackendFields(mergeGroups(groups, (field) => (field === 'maxbytes' ? 'sum' : 'first'))),
          pool_name: this.name,
          pool_distribution: this.distribution,
          pool_hash: this.hash,
          pool_hash_tag: this.hashTag ?? '',
          pool_salt: this.salt ?? '',
          pool_auto_eject_hosts: this.rules.autoEject,
          pool_server_failure_limit: this.rules.failureLimit,
          pool_server_retry_timeout_ms: this.rules.retryTimeoutMs,
          pool_probe_interval_ms: this.rules.probeIntervalMs,
          pool_servers: this.servers.map((m) => `${m.label}:${m.weight}`).join(','),
        }));
      case 'reset':
        c.serverEjects = c.forwardErrors = c.fragments = 0;
        for (const m of this.servers) {
          const mc = m.counters;
          mc.requests = mc.responses = mc.errors = mc.timeouts = mc.eof = 0;
          m.handler.stats?.('reset');
        }
        return {};
      case 'slabs':
        return andThen(this.askAll(group), (groups) => {
          const out = byClass(mergeGroups(groups, slabField));
          if ('active_slabs' in out) out.active_slabs = Object.keys(out).filter((k) => k.endsWith(':chunk_size')).length;
          return out;
        });
      default:
        // items, sizes and any other group: counts summed, ages and times the largest.
        return andThen(this.askAll(group), (groups) =>
          groups.every((g) => g === undefined) ? undefined : byClass(mergeGroups(groups, itemField)),
        );
    }
  }

  /** Every server's answer to `stats <group>`, in server order; a server whose stats fail answers undefined. */
  private askAll(group: string): MaybePromise<(StatsGroup | undefined)[]> {
    return all(
      this.servers.map((m) =>
        attempt(
          () => m.handler.stats?.(group),
          () => undefined,
        ),
      ),
    );
  }

  /**
   * memcached's admin commands over every server: a dump (`lru_crawler
   * metadump`, `stats cachedump`) is the servers' entries one after another
   * under one END; any other command answers `OK` when every server does,
   * else the first other reply (in server order). A server that fails
   * (down, timed out) fails the command: a partial dump is never passed off
   * as whole. Servers without admin commands are left out; none: undefined.
   */
  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    const servers = this.servers.filter((m) => m.handler.admin !== undefined);
    if (servers.length === 0) return undefined;
    return andThen(all(servers.map((m) => call(() => m.handler.admin!(cmd)))), (replies) => {
      const answered = replies.filter((r): r is Buffer => r !== undefined);
      if (answered.length === 0) return undefined;
      if (answered.every(endsWithEnd)) return Buffer.concat([...answered.map((r) => r.subarray(0, r.length - END.length)), END]);
      return answered.find((r) => !r.equals(OK)) ?? OK;
    });
  }

  /** Stops the probes and closes every server's handler. */
  close(): MaybePromise<void> {
    const pending: Promise<void>[] = [];
    for (const m of this.servers) {
      m.close();
      const r = m.handler.close();
      if (isPromise(r)) pending.push(r);
    }
    if (pending.length === 0) return undefined;
    return Promise.all(pending).then(() => undefined);
  }
}

/** A pool of servers as one Handler. */
export function pool(options: PoolOptions): Pool {
  return new Pool(options);
}
