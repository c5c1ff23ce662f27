import type { StatValue, StatsGroup, StatsRequest } from '@cleave/protocol';
import type { PrefixStats } from './detail.js';

/**
 * What the server counts for `stats` and metrics: connections, bytes, and
 * the command counters, counted once here for every handler as memcached
 * 1.6.18 counts them (the client's view; see counting.ts). A store keeps only
 * what only it knows (get_expired, evictions, curr_items, ...).
 */
export interface ServerCounters {
  currConnections: number;
  totalConnections: number;
  rejectedConnections: number;
  bytesRead: number;
  bytesWritten: number;
  idleKicks: number;
  /** Authentication attempts that reached a password check (text auth set, SASL auth/step). */
  authCmds: number;
  /** Those that failed. */
  authErrors: number;
  /**
   * Connections that ended because the client ended them: it closed its side
   * or sent `quit` (nutcracker's client_eof). Every closed connection counts
   * once, here or in `clientErr`: whichever cause came first.
   */
  clientEof: number;
  /**
   * Connections that ended otherwise: a socket error (reset), a protocol or
   * authentication error that closes, an idle kick, or the server closing it
   * (nutcracker's client_err).
   */
  clientErr: number;
  cmdGet: number;
  cmdSet: number;
  cmdFlush: number;
  cmdTouch: number;
  /** memcached's cmd_meta: `me` requests. */
  cmdMeta: number;
  getHits: number;
  getMisses: number;
  deleteMisses: number;
  deleteHits: number;
  incrMisses: number;
  incrHits: number;
  decrMisses: number;
  decrHits: number;
  casMisses: number;
  casHits: number;
  casBadval: number;
  touchHits: number;
  touchMisses: number;
  /** Stores the parser refused as too large (the handler counts those it refuses itself). */
  storeTooLarge: number;
  /**
   * Times a connection stopped running requests and reading because of its
   * output budget (`maxOutputBytes`) or `maxPendingRequests`. Never reset.
   */
  outputStalls: number;
}

export function newCounters(): ServerCounters {
  return {
    currConnections: 0,
    totalConnections: 0,
    rejectedConnections: 0,
    bytesRead: 0,
    bytesWritten: 0,
    idleKicks: 0,
    authCmds: 0,
    authErrors: 0,
    clientEof: 0,
    clientErr: 0,
    cmdGet: 0,
    cmdSet: 0,
    cmdFlush: 0,
    cmdTouch: 0,
    cmdMeta: 0,
    getHits: 0,
    getMisses: 0,
    deleteMisses: 0,
    deleteHits: 0,
    incrMisses: 0,
    incrHits: 0,
    decrMisses: 0,
    decrHits: 0,
    casMisses: 0,
    casHits: 0,
    casBadval: 0,
    touchHits: 0,
    touchMisses: 0,
    storeTooLarge: 0,
    outputStalls: 0,
  };
}

/** The counters' names, in the order of their slots in a thread's slice of shared counters. */
export const COUNTER_FIELDS = Object.keys(newCounters()) as (keyof ServerCounters)[];

/**
 * A thread's counters in its slice of a Float64Array over a SharedArrayBuffer
 * (`slice` of COUNTER_FIELDS.length slots), so any thread can sum every
 * thread's counters synchronously. Only the owning thread writes its slice.
 */
export function sharedCounters(all: Float64Array, slice: number): ServerCounters {
  const base = slice * COUNTER_FIELDS.length;
  const c = {} as ServerCounters;
  COUNTER_FIELDS.forEach((name, i) => {
    Object.defineProperty(c, name, {
      enumerable: true,
      get: () => all[base + i]!,
      set: (v: number) => {
        all[base + i] = v;
      },
    });
  });
  return c;
}

/** The sum of `slices` threads' shared counters, as a plain object. */
export function sumCounters(all: Float64Array, slices: number): ServerCounters {
  const c = newCounters();
  const n = COUNTER_FIELDS.length;
  COUNTER_FIELDS.forEach((name, i) => {
    let v = 0;
    for (let t = 0; t < slices; t++) v += all[t * n + i]!;
    c[name] = v;
  });
  return c;
}

/** `stats reset`: zero what memcached's stats_reset zeroes (not curr_connections, nor nutcracker's or the metrics' counts). */
export function resetCounters(c: ServerCounters): void {
  c.totalConnections = c.rejectedConnections = c.bytesRead = c.bytesWritten = c.idleKicks = 0;
  c.authCmds = c.authErrors = 0;
  c.cmdGet = c.cmdSet = c.cmdFlush = c.cmdTouch = c.cmdMeta = 0;
  c.getHits = c.getMisses = c.deleteMisses = c.deleteHits = 0;
  c.incrMisses = c.incrHits = c.decrMisses = c.decrHits = 0;
  c.casMisses = c.casHits = c.casBadval = c.touchHits = c.touchMisses = c.storeTooLarge = 0;
}

/** memcached 1.6.18's general `stats` fields, in its order (server_stats, then the storage's). */
const GENERAL_ORDER = [
  'pid',
  'uptime',
  'time',
  'version',
  'libevent',
  'pointer_size',
  'rusage_user',
  'rusage_system',
  'max_connections',
  'curr_connections',
  'total_connections',
  'rejected_connections',
  'connection_structures',
  'response_obj_oom',
  'response_obj_count',
  'response_obj_bytes',
  'read_buf_count',
  'read_buf_bytes',
  'read_buf_bytes_free',
  'read_buf_oom',
  'reserved_fds',
  'cmd_get',
  'cmd_set',
  'cmd_flush',
  'cmd_touch',
  'cmd_meta',
  'get_hits',
  'get_misses',
  'get_expired',
  'get_flushed',
  'delete_misses',
  'delete_hits',
  'incr_misses',
  'incr_hits',
  'decr_misses',
  'decr_hits',
  'cas_misses',
  'cas_hits',
  'cas_badval',
  'touch_hits',
  'touch_misses',
  'store_too_large',
  'store_no_memory',
  'auth_cmds',
  'auth_errors',
  'idle_kicks',
  'bytes_read',
  'bytes_written',
  'limit_maxbytes',
  'accepting_conns',
  'listen_disabled_num',
  'time_in_listen_disabled_us',
  'threads',
  'conn_yields',
  'hash_power_level',
  'hash_bytes',
  'hash_is_expanding',
  'slab_reassign_rescues',
  'slab_reassign_chunk_rescues',
  'slab_reassign_evictions_nomem',
  'slab_reassign_inline_reclaim',
  'slab_reassign_busy_items',
  'slab_reassign_busy_deletes',
  'slab_reassign_running',
  'slabs_moved',
  'lru_crawler_running',
  'lru_crawler_starts',
  'lru_maintainer_juggles',
  'malloc_fails',
  'log_worker_dropped',
  'log_worker_written',
  'log_watcher_skipped',
  'log_watcher_sent',
  'log_watchers',
  'unexpected_napi_ids',
  'round_robin_fallback',
  'bytes',
  'curr_items',
  'total_items',
  'slab_global_page_pool',
  'expired_unfetched',
  'evicted_unfetched',
  'evicted_active',
  'evictions',
  'reclaimed',
  'crawler_reclaimed',
  'crawler_items_checked',
  'lrutail_reflocked',
  'moves_to_cold',
  'moves_to_warm',
  'moves_within_lru',
  'direct_reclaims',
  'lru_bumps_dropped',
];

/** memcached 1.6.18's `stats settings` fields, in its order. */
const SETTINGS_ORDER = [
  'maxbytes',
  'maxconns',
  'tcpport',
  'udpport',
  'inter',
  'verbosity',
  'oldest',
  'evictions',
  'domain_socket',
  'umask',
  'shutdown_command',
  'growth_factor',
  'chunk_size',
  'num_threads',
  'num_threads_per_udp',
  'stat_key_prefix',
  'detail_enabled',
  'reqs_per_event',
  'cas_enabled',
  'tcp_backlog',
  'binding_protocol',
  'auth_enabled_sasl',
  'auth_enabled_ascii',
  'item_size_max',
  'maxconns_fast',
  'hashpower_init',
  'slab_reassign',
  'slab_automove',
  'slab_automove_ratio',
  'slab_automove_window',
  'slab_chunk_max',
  'lru_crawler',
  'lru_crawler_sleep',
  'lru_crawler_tocrawl',
  'tail_repair_time',
  'flush_enabled',
  'dump_enabled',
  'hash_algorithm',
  'lru_maintainer_thread',
  'lru_segmented',
  'hot_lru_pct',
  'warm_lru_pct',
  'hot_max_factor',
  'warm_max_factor',
  'temp_lru',
  'temporary_ttl',
  'idle_timeout',
  'watcher_logbuf_size',
  'worker_logbuf_size',
  'read_buf_mem_limit',
  'track_sizes',
  'inline_ascii_response',
  'ssl_enabled',
];

const GENERAL_KNOWN = new Set(GENERAL_ORDER);
const SETTINGS_KNOWN = new Set(SETTINGS_ORDER);

type Entries = Array<readonly [string, StatValue]>;

/**
 * memcached's order over two sources: each field of `order` from the
 * server's own figures, else the storage's; then the storage's fields
 * memcached does not have, in the storage's order.
 */
function inOrder(order: readonly string[], known: ReadonlySet<string>, own: StatsGroup, storage: StatsGroup | undefined): Entries {
  const out: Entries = [];
  for (const name of order) {
    const v = own[name] ?? storage?.[name];
    if (v !== undefined) out.push([name, v]);
  }
  if (storage) for (const k in storage) if (!known.has(k) && own[k] === undefined) out.push([k, storage[k]!]);
  return out;
}

function rusage(micros: number): string {
  const s = Math.floor(micros / 1e6);
  return `${s}.${String(micros % 1e6).padStart(6, '0')}`;
}

/** A connection as `stats conns` shows it. */
export interface ConnInfo {
  readonly id: number;
  /** `tcp:127.0.0.1:40000`, `tcp6:[::1]:40000`, `unix:/path`. */
  readonly addr: string;
  /** The listener's address, same form (absent for a listener itself). */
  readonly listenAddr?: string;
  /** memcached's state names: conn_listening, conn_new_cmd, conn_read, conn_parse_cmd, conn_mwrite, conn_closing. */
  readonly state: string;
  /** Seconds (the server's coarse clock) of the last read. */
  readonly lastCmd: number;
}

/** The server's settings `stats settings` reports. */
export interface ServerSettings {
  maxConnections: number;
  maxItemSize: number;
  idleTimeoutMs: number;
  tcpPort: number;
  /** First TCP listener's host, or undefined (memcached prints NULL). */
  inter: string | undefined;
  /** First unix socket path, or undefined. */
  domainSocket: string | undefined;
  tcpBacklog: number;
  /** The last `verbosity` level a client set. */
  verbosity: number;
  auth: boolean;
  tls: boolean;
}

export interface StatsSources {
  version: string;
  startedAt: number;
  counters: ServerCounters;
  settings: ServerSettings;
  /** `stats detail` counts while on. */
  detail: PrefixStats;
  /** The coarse clock, in seconds. */
  now(): number;
  /** Listeners, then connections; `self` is the asking one. */
  conns(): Iterable<ConnInfo>;
  /** Serving threads (`threads`, `num_threads`); default 1. */
  threads?: number;
}

/** What a stats request is answered with (see collectStats). */
export type StatsReply = Entries | Buffer | undefined;

/**
 * General-stats keys that describe the process, not a thread: taken once
 * (from the first thread) when threads' stats are merged.
 */
const PROCESS_WIDE = new Set([
  'pid',
  'uptime',
  'time',
  'version',
  'libevent',
  'pointer_size',
  'rusage_user',
  'rusage_system',
  'max_connections',
  'threads',
  'limit_maxbytes',
]);

/**
 * Threads' answers for one stats group merged: numbers summed, process-wide
 * keys and anything not a number taken from the first thread that has the key.
 */
export function mergeGroups(groups: readonly (StatsGroup | undefined)[]): StatsGroup | undefined {
  let out: Record<string, StatValue> | undefined;
  for (const g of groups) {
    if (g === undefined) continue;
    out ??= {};
    for (const k in g) {
      const v = g[k]!;
      const had = out[k];
      if (had === undefined) out[k] = v;
      else if (typeof had === 'number' && typeof v === 'number' && !PROCESS_WIDE.has(k)) out[k] = had + v;
    }
  }
  return out;
}

const USAGE_DETAIL = Buffer.from('CLIENT_ERROR usage: stats detail on|off|dump\r\n');
const OK = Buffer.from('OK\r\n');

/**
 * The group a stats request asks the handler for, `undefined` when the
 * server answers it alone. memcached's binary protocol matches `reset`,
 * `settings` and `detail` as prefixes of the key (`resetX` resets); text
 * matches whole words.
 */
export function storageGroup(req: StatsRequest): string | undefined {
  const g = req.group;
  if (req.protocol === 'binary') {
    if (g.startsWith('reset')) return 'reset';
    if (g.startsWith('settings')) return 'settings';
    if (g.startsWith('detail') || g === 'conns') return undefined;
    return g;
  }
  if (g === 'conns' || g === 'detail' || g.startsWith('detail ')) return undefined;
  return g;
}

/**
 * The reply to a stats request: entries in memcached's layout (its fields
 * from the server's own figures or the storage's answer), a whole text reply
 * (text `stats detail`), or `undefined` for a group memcached does not know.
 */
export function collectStats(src: StatsSources, req: StatsRequest, storage: StatsGroup | undefined): Entries | Buffer | undefined {
  const binary = req.protocol === 'binary';
  const group = req.group;
  const c = src.counters;
  const s = src.settings;
  if (group === '') {
    const now = Math.floor(Date.now() / 1000);
    const u = process.resourceUsage();
    const own: StatsGroup = {
      pid: process.pid,
      uptime: Math.max(0, now - Math.floor(src.startedAt / 1000)),
      time: now,
      version: src.version,
      pointer_size: 64,
      rusage_user: rusage(u.userCPUTime),
      rusage_system: rusage(u.systemCPUTime),
      max_connections: s.maxConnections,
      curr_connections: c.currConnections,
      total_connections: c.totalConnections,
      rejected_connections: c.rejectedConnections,
      connection_structures: c.currConnections,
      cmd_get: c.cmdGet,
      cmd_set: c.cmdSet,
      cmd_flush: c.cmdFlush,
      cmd_touch: c.cmdTouch,
      cmd_meta: c.cmdMeta,
      get_hits: c.getHits,
      get_misses: c.getMisses,
      delete_misses: c.deleteMisses,
      delete_hits: c.deleteHits,
      incr_misses: c.incrMisses,
      incr_hits: c.incrHits,
      decr_misses: c.decrMisses,
      decr_hits: c.decrHits,
      cas_misses: c.casMisses,
      cas_hits: c.casHits,
      cas_badval: c.casBadval,
      touch_hits: c.touchHits,
      touch_misses: c.touchMisses,
      store_too_large: c.storeTooLarge + Number(storage?.store_too_large ?? 0),
      auth_cmds: c.authCmds,
      auth_errors: c.authErrors,
      bytes_read: c.bytesRead,
      bytes_written: c.bytesWritten,
      accepting_conns: c.currConnections < s.maxConnections ? 1 : 0,
      threads: src.threads ?? 1,
    };
    // As memcached: idle_kicks only with an idle timeout.
    if (s.idleTimeoutMs > 0) own.idle_kicks = c.idleKicks;
    return inOrder(GENERAL_ORDER, GENERAL_KNOWN, own, storage);
  }
  if (isReset(req)) {
    resetCounters(c);
    src.detail.clear();
    return [];
  }
  if (binary ? group.startsWith('settings') : group === 'settings') {
    const own: StatsGroup = {
      maxconns: s.maxConnections,
      tcpport: s.tcpPort,
      udpport: 0,
      inter: s.inter ?? 'NULL',
      verbosity: s.verbosity,
      domain_socket: s.domainSocket ?? 'NULL',
      num_threads: src.threads ?? 1,
      stat_key_prefix: ':',
      detail_enabled: src.detail.enabled ? 'yes' : 'no',
      cas_enabled: 'yes',
      tcp_backlog: s.tcpBacklog,
      binding_protocol: 'auto-negotiate',
      auth_enabled_sasl: s.auth ? 'yes' : 'no',
      auth_enabled_ascii: s.auth ? 'yes' : 'no',
      item_size_max: s.maxItemSize,
      // A client over maxconns is answered and closed at once.
      maxconns_fast: 'yes',
      idle_timeout: Math.floor(s.idleTimeoutMs / 1000),
      ssl_enabled: s.tls ? 'yes' : 'no',
    };
    return inOrder(SETTINGS_ORDER, SETTINGS_KNOWN, own, storage);
  }
  if (isDetail(req)) return detailCommand(src.detail, req);
  if (group === 'conns' && !binary) {
    const out: Entries = [];
    const now = src.now();
    for (const conn of src.conns()) {
      out.push([`${conn.id}:addr`, conn.addr]);
      if (conn.listenAddr !== undefined) out.push([`${conn.id}:listen_addr`, conn.listenAddr]);
      out.push([`${conn.id}:state`, conn.state]);
      out.push([`${conn.id}:secs_since_last_cmd`, Math.max(0, now - conn.lastCmd)]);
    }
    return out;
  }
  // memcached's default: no item size histogram.
  if (group === 'sizes' && storage === undefined) return [['sizes_status', 'disabled']];
  return storage ? Object.entries(storage) : undefined;
}

/** Whether `req` is a `stats detail ...` request. */
export function isDetail(req: StatsRequest): boolean {
  const g = req.group;
  return req.protocol === 'binary' ? g.startsWith('detail') : g === 'detail' || g.startsWith('detail ');
}

/** Whether `req` is `stats reset` (binary: a key starting with reset). */
export function isReset(req: StatsRequest): boolean {
  return req.protocol === 'binary' ? req.group.startsWith('reset') : req.group === 'reset';
}

/** `stats detail on|off|dump`: text words after `detail`, binary key prefixes (`detail onX` is on). */
export function detailCommand(d: PrefixStats, req: StatsRequest): Entries | Buffer | undefined {
  const g = req.group;
  if (req.protocol === 'binary') {
    const sub = g.slice(6);
    if (sub.startsWith(' dump')) return [['detailed', d.dump()]];
    if (sub.startsWith(' on')) d.enabled = true;
    else if (sub.startsWith(' off')) d.enabled = false;
    else return undefined;
    return [];
  }
  const word = g === 'detail' ? '' : g.slice(7);
  if (word === 'on' || word === 'off') {
    d.enabled = word === 'on';
    return OK;
  }
  if (word === 'dump') return Buffer.from(d.dump(), 'latin1');
  return USAGE_DETAIL;
}
