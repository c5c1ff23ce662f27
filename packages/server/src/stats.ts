import type { StatValue, StatsGroup } from '@cleave/protocol';

/** Connection-level counters the server keeps for `stats`. */
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
  };
}

function rusage(micros: number): string {
  const s = Math.floor(micros / 1e6);
  return `${s}.${String(micros % 1e6).padStart(6, '0')}`;
}

export interface StatsSources {
  version: string;
  startedAt: number;
  counters: ServerCounters;
  maxConnections: number;
  maxItemSize: number;
  idleTimeoutMs: number;
  tcpPort: number;
  /** The handler's answer to the same group. */
  storage: StatsGroup | undefined;
}

/**
 * Builds the reply to `stats [group]` as memcached lays it out: process and
 * connection figures from the server, item and command figures from the
 * storage tier. `undefined` means an unknown group.
 */
export function collectStats(src: StatsSources, group: string): Array<readonly [string, StatValue]> | undefined {
  const now = Math.floor(Date.now() / 1000);
  const c = src.counters;
  if (group === '') {
    const u = process.resourceUsage();
    const out: Array<readonly [string, StatValue]> = [
      ['pid', process.pid],
      ['uptime', Math.max(0, now - Math.floor(src.startedAt / 1000))],
      ['time', now],
      ['version', src.version],
      ['pointer_size', 64],
      ['rusage_user', rusage(u.userCPUTime)],
      ['rusage_system', rusage(u.systemCPUTime)],
      ['max_connections', src.maxConnections],
      ['curr_connections', c.currConnections],
      ['total_connections', c.totalConnections],
      ['rejected_connections', c.rejectedConnections],
      ['connection_structures', c.currConnections],
      ['auth_cmds', c.authCmds],
      ['auth_errors', c.authErrors],
      ['bytes_read', c.bytesRead],
      ['bytes_written', c.bytesWritten],
      ['idle_kicks', c.idleKicks],
      ['accepting_conns', c.currConnections < src.maxConnections ? 1 : 0],
      ['threads', 1],
    ];
    const st = src.storage;
    if (st) for (const k in st) out.push([k, st[k]!]);
    return out;
  }
  if (group === 'settings') {
    const out: Array<readonly [string, StatValue]> = [
      ['maxconns', src.maxConnections],
      ['tcpport', src.tcpPort],
      ['item_size_max', src.maxItemSize],
      ['idle_timeout', Math.floor(src.idleTimeoutMs / 1000)],
      ['num_threads', 1],
      ['binding_protocol', 'auto-negotiate'],
      ['cas_enabled', 'yes'],
      ['meta_response_old', 'no'],
    ];
    const st = src.storage;
    if (st) for (const k in st) if (!out.some(([n]) => n === k)) out.push([k, st[k]!]);
    return out;
  }
  if (group === 'conns') {
    return [];
  }
  const st = src.storage;
  return st ? Object.entries(st) : undefined;
}
