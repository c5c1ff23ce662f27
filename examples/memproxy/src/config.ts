// memproxy's options: read from the command line and a --config file (memproxy's own keys as JSON or YAML, or a
// nutcracker.yml), each value checked on its own, then the combinations. Every problem names the flag (--port)
// or the file's key (port in FILE) and says in words what is allowed.

import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dirname } from 'node:path';
import { parseDocument } from 'yaml';
import { parseAddress, type HostPort } from '@cleave/core';
import { minimumMaxBytes } from '@cleave/handler-lmdb';
import { checkListenHosts, ConfError, parseConf, type ConfPool } from './twemproxy/conf.js';
import { nearest } from '@cleave/core';
import { LOG_LEVELS, type LogLevel } from './log.js';

/** "64m", "1k", "16MB", "1048576" → bytes. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$/i.exec(text);
  if (!m) throw new Error(`not a size: ${JSON.stringify(text)} (use e.g. 1048576, 512k, 64m, 1g)`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.floor(Number(m[1]) * unit);
}

/** "30s", "5m", "250ms", "10" (seconds) → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/i.exec(text);
  if (!m) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 30s, 5m, 250ms)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

/** memproxy's configuration, every value checked. Sizes are bytes, times milliseconds. */
export interface Config {
  port: number;
  host: string;
  useDomainSocket: boolean;
  sockPath: string;
  /** The unix socket's permissions (memcached `-a`, default 0700). */
  unixMask: number;
  l1Inmem: boolean;
  l1InmemSize: number;
  maxConns: number;
  maxItemSize: number;
  idleTimeout: number;
  maxOutputBytes: number;
  /** Serving threads (the main one among them), each accepting on every listener; one in-memory cache for all. */
  threads: number;
  // Backends (memcached reached over a unix socket or TCP).
  l1Sock?: string;
  l1Addr?: HostPort;
  chunked: boolean;
  chunkSize?: number;
  l2Enabled: boolean;
  l2Sock?: string;
  l2Addr?: HostPort;
  /** An LMDB store as L2 (the directory), under whichever L1 is chosen. */
  l2Lmdb?: string;
  l2LmdbSize: number;
  /** Acknowledge an L2 write only once it is on disk. */
  l2LmdbSync: boolean;
  /** An LMDB store as the only tier (the directory): a persistent memcached. */
  l1Lmdb?: string;
  l1LmdbSize: number;
  l1LmdbSync: boolean;
  batchPort?: number;
  backendConns: number;
  backendTimeout: number;
  // Security: a TLS listener beside (or instead of) the plaintext one, and authentication.
  tlsPort?: number;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  tlsOnly: boolean;
  authFile?: string;
  /** Accept the text `shutdown [graceful]` command (memcached `-A`). */
  enableShutdown: boolean;
  logFile?: string;
  /** --log-level, or -v (debug) / -vv (trace); info by default. */
  logLevel: LogLevel;
  /** -v given this many times (flag only; read into logLevel). */
  verbose?: number;
  /** Serve Prometheus metrics at http://metricsHost:metricsPort/metrics. */
  metricsPort?: number;
  metricsHost: string;
  /** --check: validate everything, say what would be served, and exit. */
  check: boolean;
  /** The --config file, when one was given. */
  config?: string;
  /** How to name each option given, by its long name: --port, or port in FILE. */
  labels: Readonly<Record<string, string>>;
  /** With a nutcracker.yml --config: its pools, each served on its own listen address. */
  pools?: readonly ConfPool[];
  /** --routes: an mcrouter config (JSON or YAML) whose route tree serves memproxy's listeners. */
  routes?: string;
}

const KB = 1024;
const MB = 1024 * KB;
const GB = 1024 * MB;

const DEFAULTS = {
  port: 11211,
  host: '127.0.0.1',
  useDomainSocket: false,
  sockPath: '/tmp/memproxy.sock',
  unixMask: 0o700,
  l1Inmem: true,
  l1InmemSize: 64 * 1024 * 1024,
  maxConns: 1024,
  maxItemSize: 1024 * 1024,
  idleTimeout: 0,
  maxOutputBytes: 4 * 1024 * 1024,
  threads: 1,
  chunked: false,
  l2Enabled: false,
  l2LmdbSize: GB,
  l2LmdbSync: false,
  l1LmdbSize: GB,
  l1LmdbSync: false,
  backendConns: 2,
  backendTimeout: 1000,
  tlsOnly: false,
  enableShutdown: false,
  check: false,
  logLevel: 'info',
  metricsHost: '127.0.0.1',
} satisfies Partial<Config>;

/** What the value of an option may be, in words, and the reader that returns it checked (INVALID when it is not). */
export interface Value {
  readonly allowed: string;
  readonly read: (raw: unknown) => unknown;
}

export const INVALID = Symbol('invalid');

/** 1048576 → "1m", 16384 → "16k": sizes in messages as they are typed. */
function formatSize(n: number): string {
  for (const [unit, scale] of [
    ['g', GB],
    ['m', MB],
    ['k', KB],
  ] as const) {
    if (n >= scale && n % scale === 0) return `${n / scale}${unit}`;
  }
  return String(n);
}

export const whole = (min: number, max: number): Value => ({
  allowed: `a whole number from ${min} to ${max}`,
  read: (raw) => {
    const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*[+-]?\d+\s*$/.test(raw) ? Number(raw) : NaN;
    return Number.isInteger(n) && n >= min && n <= max ? n : INVALID;
  },
});

const PORT = whole(0, 65535);

/** Bytes: a plain number, or with a k, m or g suffix. */
const size = (min: number, max: number | undefined, examples: string): Value => ({
  allowed:
    `a size ${max === undefined ? `of at least ${formatSize(min)}` : `from ${formatSize(min)} to ${formatSize(max)}`}` +
    ` (bytes, or with a k, m or g suffix: ${examples})`,
  read: (raw) => {
    let n = NaN;
    if (typeof raw === 'number') n = raw;
    else if (typeof raw === 'string') {
      try {
        n = parseSize(raw);
      } catch {
        return INVALID;
      }
    }
    return Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max) ? n : INVALID;
  },
});

/** Milliseconds: seconds as a plain number, or with ms, s, m or h. */
export const duration = (allowed: string, positive: boolean): Value => ({
  allowed,
  read: (raw) => {
    let ms = NaN;
    if (typeof raw === 'number') ms = Math.round(raw * 1000);
    else if (typeof raw === 'string') {
      try {
        ms = parseDuration(raw);
      } catch {
        return INVALID;
      }
    }
    return Number.isSafeInteger(ms) && (positive ? ms > 0 : ms >= 0) ? ms : INVALID;
  },
});

/** An IP address, or a name made of letters, digits and hyphens between dots (999.1.1.1 is neither). */
export function isHostName(s: string): boolean {
  if (isIP(s) !== 0) return true;
  if (/^[\d.]+$/.test(s)) return false;
  return s.length <= 253 && s.split('.').every((label) => /^[a-z\d](?:[a-z\d-]{0,61}[a-z\d])?$/i.test(label));
}

const HOST: Value = {
  allowed: 'an IP address (such as 127.0.0.1, ::1 or 0.0.0.0) or a host name',
  read: (raw) => (typeof raw === 'string' && isHostName(raw.trim()) ? raw.trim() : INVALID),
};

/** "host:port" (IPv6 as "[::1]:11211"): core's address parser, which also takes socket paths; here only TCP is meant. */
const hostPort = (sockFlag: string): Value => ({
  allowed: `HOST:PORT, such as 127.0.0.1:11211 or [::1]:11211 (a unix socket goes in ${sockFlag})`,
  read: (raw) => {
    if (typeof raw !== 'string') return INVALID;
    try {
      const a = parseAddress(raw.trim());
      return 'port' in a && isHostName(a.host) ? a : INVALID;
    } catch {
      return INVALID;
    }
  },
});

/** Permission bits in octal, as memcached's `-a` takes them (700, 0700, 0o700 in a config file as the number 448). */
const OCTAL_MASK: Value = {
  allowed: 'permission bits in octal, from 0 to 777 (such as 700 or 0770)',
  read: (raw) => {
    if (typeof raw === 'number') return Number.isInteger(raw) && raw >= 0 && raw <= 0o777 ? raw : INVALID;
    if (typeof raw !== 'string' || !/^\s*0?[0-7]{1,3}\s*$/.test(raw)) return INVALID;
    return Number.parseInt(raw.trim(), 8);
  },
};

const path = (allowed: string): Value => ({ allowed, read: (raw) => (typeof raw === 'string' && raw !== '' ? raw : INVALID) });

/** One of a few words. */
const oneOf = (words: readonly string[]): Value => ({
  allowed: `one of ${words.join(', ')}`,
  read: (raw) => (typeof raw === 'string' && words.includes(raw.trim()) ? raw.trim() : INVALID),
});

/** A switch's value in a config file. */
const BOOLEAN: Value = { allowed: 'true or false', read: (raw) => (typeof raw === 'boolean' ? raw : INVALID) };

export interface Option {
  /** The long flag without its dashes; also the config file key. */
  readonly name: string;
  readonly short?: string;
  /** What a value-taking option accepts; a switch has none. */
  readonly value?: Value;
  /** Given on the command line only (an action, or the file itself), never in a config file. */
  readonly flagOnly?: boolean;
}

const OPTIONS: readonly Option[] = [
  { name: 'port', short: 'p', value: PORT },
  { name: 'host', value: HOST },
  { name: 'use-domain-socket' },
  { name: 'sock-path', value: path('a unix socket path') },
  { name: 'unix-mask', short: 'a', value: OCTAL_MASK },
  { name: 'l1-inmem' },
  { name: 'l1-inmem-size', value: size(MB, undefined, '64m, 1g') },
  { name: 'max-conns', value: whole(1, 1_000_000) },
  { name: 'max-item-size', value: size(KB, GB, '512k, 1m, 16m') },
  { name: 'idle-timeout', value: duration('a duration such as 30s, 5m or 250ms (a plain number is seconds; 0 = never)', false) },
  { name: 'max-output-bytes', value: size(16 * KB, undefined, '512k, 4m') },
  { name: 'threads', short: 't', value: whole(1, 64) },
  { name: 'l1-sock', value: path('a unix socket path') },
  { name: 'l1-addr', value: hostPort('--l1-sock') },
  { name: 'chunked' },
  { name: 'chunk-size', value: size(64, MB, '16k, 512k') },
  { name: 'l2-enabled' },
  { name: 'l2-sock', value: path('a unix socket path') },
  { name: 'l2-addr', value: hostPort('--l2-sock') },
  { name: 'l2-lmdb', value: path('a directory path') },
  { name: 'l2-lmdb-size', value: size(minimumMaxBytes(KB), undefined, '1g, 10g') },
  { name: 'l2-lmdb-sync' },
  { name: 'l1-lmdb', value: path('a directory path') },
  { name: 'l1-lmdb-size', value: size(minimumMaxBytes(KB), undefined, '1g, 10g') },
  { name: 'l1-lmdb-sync' },
  { name: 'batch-port', value: PORT },
  { name: 'backend-conns', value: whole(1, 64) },
  { name: 'backend-timeout', value: duration('a duration of more than 0, such as 1s or 250ms (a plain number is seconds)', true) },
  { name: 'tls-port', value: PORT },
  { name: 'tls-cert', value: path('the path of a PEM file') },
  { name: 'tls-key', value: path('the path of a PEM file') },
  { name: 'tls-ca', value: path('the path of a PEM file') },
  { name: 'tls-only' },
  { name: 'auth-file', value: path('the path of a file of username:password lines') },
  { name: 'enable-shutdown', short: 'A' },
  { name: 'log-file', value: path('a file path') },
  { name: 'log-level', value: oneOf(LOG_LEVELS) },
  { name: 'verbose', short: 'v', flagOnly: true },
  { name: 'metrics-port', value: PORT },
  { name: 'metrics-host', value: HOST },
  { name: 'config', value: path('a file path'), flagOnly: true },
  { name: 'routes', value: path('a file path (an mcrouter config, JSON or YAML)') },
  { name: 'check', flagOnly: true },
  { name: 'help', short: 'h', flagOnly: true },
  { name: 'version', short: 'V', flagOnly: true },
];

const camel = (name: string) => name.replace(/-([a-z\d])/g, (_, c: string) => c.toUpperCase());
const BY_NAME = new Map(OPTIONS.flatMap((o) => [[o.name, o] as const, [camel(o.name), o] as const]));
const FILE_KEYS = OPTIONS.filter((o) => !o.flagOnly).map((o) => o.name);

/** What applies to every pool of a nutcracker.yml `--config`; any other flag is refused with it. */
const WITH_POOLS = [
  'max-conns',
  'max-item-size',
  'idle-timeout',
  'max-output-bytes',
  'threads',
  'backend-timeout',
  'auth-file',
  'host',
  'tls-port',
  'tls-cert',
  'tls-key',
  'tls-ca',
  'log-file',
  'log-level',
  'verbose',
  'metrics-port',
  'metrics-host',
] as const;

/** The tiers' flags: with --routes the file's tree is the storage, so these are refused. */
const ROUTES_EXCLUDE = [
  'l1-inmem',
  'l1-inmem-size',
  'l1-sock',
  'l1-addr',
  'chunked',
  'chunk-size',
  'l2-enabled',
  'l2-sock',
  'l2-addr',
  'l2-lmdb',
  'l2-lmdb-size',
  'l2-lmdb-sync',
  'l1-lmdb',
  'l1-lmdb-size',
  'l1-lmdb-sync',
  'batch-port',
];

export const HELP = `memproxy — a memcached-compatible server built from cleave

Usage: memproxy [options]
       memproxy recover --from HOST:PORT --to HOST:PORT
                            refill a memcached (a replica that came back empty) from a
                            healthy peer while traffic continues; memproxy recover --help

  -p, --port N              TCP port to listen on (default 11211; 0 = any free port)
      --host ADDR           address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)
      --use-domain-socket   listen on a unix socket instead of TCP
      --sock-path PATH      unix socket path (default /tmp/memproxy.sock); a socket left there is
                            replaced, anything else at the path is refused
  -a, --unix-mask MASK      the unix socket's permissions in octal, like memcached -a (default 700)
      --l1-inmem            serve from the in-memory L1 (the default)
      --l1-inmem-size SIZE  memory cap of the in-memory L1, like memcached -m (default 64m)
      --max-conns N         most simultaneous connections, like memcached -c (default 1024)
      --max-item-size SIZE  largest item, like memcached -I (default 1m)
      --idle-timeout TIME   close connections idle this long (e.g. 30s, 5m; default 0 = never)
      --max-output-bytes SIZE
                            replies one connection may have unsent before it runs nothing
                            more until its client reads (default 4m)
  -t, --threads N           serving threads, like memcached -t (default 1, at most 64): each
                            accepts connections on every listener; the in-memory L1 is one
                            cache for all of them, and each has its own backend connections.
                            Not with --routes, --batch-port, --l1-lmdb or --l2-lmdb

  Backends (real memcached as storage; memproxy becomes a proxy):
      --l1-sock PATH        L1 is the memcached at this unix socket (instead of in-memory)
      --l1-addr HOST:PORT   L1 is the memcached at this TCP address
      --chunked             store values as fixed-size chunks in the memcached tiers (L1,
                            and L2 when enabled), so values may be as large as
                            --max-item-size (e.g. 16m)
      --chunk-size SIZE     chunk size (default: one memcached slab class exactly)
      --l2-enabled          put an L2 memcached behind L1 (writes go to L2 first)
      --l2-sock PATH        the L2 memcached's unix socket
      --l2-addr HOST:PORT   the L2 memcached's TCP address
      --batch-port N        also serve the bulk-loader tiers (L1L2Batch) on this port (with
                            an L2: a memcached or --l2-lmdb)
      --backend-conns N     connections per backend memcached (default 2; requests from all
                            clients are batched onto them)
      --backend-timeout T   how long a backend request may take (default 1s)

  Disk (an LMDB store in a directory on this host: it serves what it held after a restart,
  with the remaining TTLs; see docs/tiers.md):
      --l2-lmdb PATH        an LMDB store at PATH (created when missing) as the L2 behind
                            the L1, whichever it is (no --l2-enabled needed)
      --l2-lmdb-size SIZE   its cap on disk (default 1g): expired items, then the least
                            recently used, are evicted to stay under it
      --l2-lmdb-sync        acknowledge a write only once it is on disk, so it survives
                            kill -9; by default a write is acknowledged when queued and a
                            crash may lose the last moments of writes (never the store)
      --l1-lmdb PATH        the LMDB store at PATH is the only tier: a persistent memcached
                            (instead of the in-memory L1 or a memcached L1)
      --l1-lmdb-size SIZE   its cap on disk (default 1g)
      --l1-lmdb-sync        as --l2-lmdb-sync, for the --l1-lmdb store
                            One memproxy per store: a second one on the same PATH is refused.

  Security (off by default; see docs/security.md):
      --tls-port N          also listen for TLS on this port (same --host), next to the
                            plaintext listener
      --tls-cert PATH       the server certificate (chain), PEM
      --tls-key PATH        its private key, PEM
      --tls-ca PATH         CA certificate(s), PEM: clients must present a certificate
                            signed by one of them
      --tls-only            serve TLS only: no plaintext listener
      --auth-file PATH      require authentication on every listener; the file holds one
                            username:password per line (memcached -Y format). Text clients
                            log in with memcached's auth set, binary ones with SASL PLAIN
  -A, --enable-shutdown     accept the text command shutdown [graceful], like memcached -A:
                            memproxy then finishes the requests in flight and exits 0
                            (without it, shutdown answers ERROR: shutdown not enabled)

  Logs and metrics (see docs/operations.md):
      --log-file PATH       write memproxy's log to this file, appended to, instead of
                            stdout; SIGHUP reopens it (for log rotation)
      --log-level LEVEL     trace, debug, info (the default), warn, error or fatal; the log
                            is JSON lines, readable lines when stdout is a terminal
  -v, --verbose             log at debug level; -vv at trace
      --metrics-port N      serve Prometheus metrics at http://HOST:N/metrics
      --metrics-host ADDR   address of the metrics listener (default 127.0.0.1)

      --config FILE         options from a file; flags override it. The file is read as:
                            JSON, when it is a JSON object: {"port": 11311, "l1-inmem-size": "64m"};
                            a nutcracker.yml, when its top-level keys hold mappings (pools);
                            else YAML with memproxy's keys, one per line:
                              port: 11311
                              l1-inmem-size: 64m
                            The keys are the long option names above without the dashes
                            (camelCase, l1InmemSize, is read too); switches take true or false.
                            A nutcracker.yml (twemproxy's, as cleave-twemproxy reads it) serves
                            every pool on its own listen: address, its keys spread over its
                            servers: as nutcracker places them. With one, only --max-conns (for
                            pools without client_connections:), --max-item-size, --idle-timeout,
                            --max-output-bytes, --backend-timeout (for pools without timeout:),
                            --auth-file, the log and metrics options and, for a file of one pool,
                            --tls-port/--tls-cert/--tls-key/--tls-ca (a TLS listener on --host
                            beside the pool's own) apply; any other flag is refused
      --routes FILE         serve the route tree of an mcrouter config (JSON, or the same tree
                            in YAML): pools of memcached servers ("host:port", "unix:/path"),
                            placed as mcrouter places keys (Ch3, WeightedCh3), and routes
                            (PoolRoute, FailoverRoute, AllSyncRoute, WarmUpRoute, ...,
                            and cleave's ReplicaRoute); see docs/routes.md. Macros are
                            refused. It serves the listeners above (--port, --use-domain-socket,
                            TLS, --auth-file) with --backend-conns and --backend-timeout (for
                            pools without server_timeout); the --l1-*/--l2-* tiers, --chunked
                            and --batch-port do not apply, nor a nutcracker.yml --config.
                            SIGHUP, or a change to FILE, reloads it: new commands go to the
                            new tree, those in flight finish on the old one, servers in both
                            keep their connections; a file with a mistake leaves the old tree
                            serving (the log says why)
      --check               check everything (values, the config file, that the certificate,
                            key, CA and auth files are readable and usable, that --host
                            resolves) and exit: 0 saying what would be served, or 2 and why
  -V, --version             print memproxy's version and exit
  -h, --help                show this help

Sizes take k, m, g suffixes (1024-based); times take ms, s, m, h (plain numbers are seconds).
A bad value is reported naming its flag or config key, with status 2.

Signals: SIGTERM or SIGINT finishes the requests in flight, then exits 0; a second one while
finishing exits at once with status 128 + the signal's number (143 for SIGTERM, 130 for SIGINT).
SIGHUP reopens the --log-file (and reloads --routes); memproxy keeps serving.
`;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'MEMPROXY_BAD_CONFIG';
  /** One line per problem. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
  }
}

/** A value as the user wrote it: numbers bare (-1), text quoted ('abc'). */
export function show(raw: unknown): string {
  if (typeof raw === 'string') return /^[+-]?\d+(?:\.\d+)?$/.test(raw.trim()) ? raw.trim() : `'${raw}'`;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return JSON.stringify(raw) ?? String(raw);
}

const ERRNO_WORDS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

/** A file system error in words, its code after: "no such file (ENOENT)". */
export function fileProblem(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words = err.code !== undefined ? ERRNO_WORDS[err.code] : undefined;
  return words !== undefined ? `${words} (${err.code})` : err.message;
}

/** A file and where it was named, to begin a message: "--auth-file users" or "auth-file in memproxy.yml: users". */
export const fileNamed = (label: string, file: string) => (label.startsWith('-') ? `${label} ${file}` : `${label}: ${file}`);

/** Read the file a flag (or config key) names, or throw a ConfigError naming it, the path and why. */
export function readFileFor(label: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new ConfigError(`${fileNamed(label, file)}: cannot read it: ${fileProblem(e)}`);
  }
}

/** Whether memproxy may append to its --log-file (without creating it): the problem, or undefined. */
export function logFileProblem(c: Config): string | undefined {
  if (c.logFile === undefined) return undefined;
  const file = c.logFile;
  const cannot = `${fileNamed(c.labels['log-file'] ?? '--log-file', file)}: cannot append to it`;
  let existing = true;
  try {
    if (statSync(file).isDirectory()) return `${cannot}: it is a directory`;
  } catch {
    existing = false;
  }
  try {
    accessSync(existing ? file : dirname(file), constants.W_OK);
    return undefined;
  } catch (e) {
    if (!existing && (e as NodeJS.ErrnoException).code === 'ENOENT')
      return `${cannot}: its directory ${dirname(file)} does not exist (ENOENT)`;
    return `${cannot}: ${fileProblem(e)}`;
  }
}

/** With --use-domain-socket: why a socket cannot be made at --sock-path (its directory missing or not writable), if so. */
export function socketPathProblem(c: Config): string | undefined {
  if (!c.useDomainSocket) return undefined;
  const dir = dirname(c.sockPath);
  try {
    accessSync(dir, constants.W_OK);
    return undefined;
  } catch (e) {
    const cannot = `${fileNamed(c.labels['sock-path'] ?? '--sock-path', c.sockPath)}: cannot listen there`;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return `${cannot}: its directory ${dir} does not exist (ENOENT)`;
    return `${cannot}: its directory ${dir}: ${fileProblem(e)}`;
  }
}

/**
 * Whether each LMDB store's directory (--l1-lmdb, --l2-lmdb) can hold a store: an existing directory memproxy may
 * write in, or a missing one whose parent it may create it in. The problems, naming the flag.
 */
export function storePathProblems(c: Config): string[] {
  const problems: string[] = [];
  for (const [name, dir] of [
    ['l1-lmdb', c.l1Lmdb],
    ['l2-lmdb', c.l2Lmdb],
  ] as const) {
    if (dir === undefined) continue;
    const cannot = `${fileNamed(c.labels[name] ?? `--${name}`, dir)}: cannot hold an LMDB store`;
    let existing = true;
    try {
      if (!statSync(dir).isDirectory()) {
        problems.push(`${cannot}: it exists and is not a directory`);
        continue;
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        problems.push(`${cannot}: ${fileProblem(e)}`);
        continue;
      }
      existing = false;
    }
    const parent = dirname(dir);
    try {
      accessSync(existing ? dir : parent, constants.W_OK | constants.X_OK);
    } catch (e) {
      if (!existing && (e as NodeJS.ErrnoException).code === 'ENOENT')
        problems.push(`${cannot}: its parent directory ${parent} does not exist (ENOENT)`);
      else problems.push(`${cannot}: ${existing ? 'cannot write in it' : `cannot create it in ${parent}`}: ${fileProblem(e)}`);
    }
  }
  return problems;
}

/** One given value: what was written, and how to name where it was written (--port, or port in FILE). */
export interface Given {
  readonly raw: unknown;
  readonly label: string;
}

/**
 * The command line, read like getopt: a value follows its flag (--port 1, --port=1, -p 1, -p1), negative numbers
 * included. `options` and `command` (how messages name the program) are memproxy's unless a subcommand gives its own.
 */
export function readArgs(
  argv: readonly string[],
  options: readonly Option[] = OPTIONS,
  command = 'memproxy',
): { flags: Map<string, Given>; problems: string[] } {
  const byShort = new Map(options.filter((o) => o.short !== undefined).map((o) => [o.short!, o] as const));
  const names = options.map((o) => o.name);
  const flags = new Map<string, Given>();
  const problems: string[] = [];
  const looksLikeOption = (arg: string) => arg.length > 1 && arg.startsWith('-') && !/^-[\d.]/.test(arg);
  /** After an unknown option, its value (when the next argument is not an option) goes unreported with it. */
  const skipValue = (i: number, inline: boolean) => (!inline && argv[i + 1] !== undefined && !looksLikeOption(argv[i + 1]!) ? i + 1 : i);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    let option: Option | undefined;
    let inline: string | undefined;
    if (arg === '--') {
      for (const rest of argv.slice(i + 1)) problems.push(`unexpected argument '${rest}': ${command} takes options only`);
      break;
    } else if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      if (eq >= 0) inline = arg.slice(eq + 1);
      option = options.find((o) => o.name === name);
      if (option === undefined) {
        const near = nearest(name, names);
        problems.push(`unknown option --${name}${near !== undefined ? `; did you mean --${near}?` : ''}`);
        i = skipValue(i, eq >= 0);
        continue;
      }
    } else if (/^-v+$/.test(arg) && byShort.get('v')?.name === 'verbose') {
      // -v, -vv: each v one step more verbose.
      const before = flags.get('verbose')?.raw;
      flags.set('verbose', { raw: (typeof before === 'number' ? before : 0) + arg.length - 1, label: '-v' });
      continue;
    } else if (looksLikeOption(arg) && options.some((o) => o.name === arg.slice(1))) {
      problems.push(`unknown option ${arg}; did you mean -${arg}?`);
      i = skipValue(i, false);
      continue;
    } else if (looksLikeOption(arg)) {
      option = byShort.get(arg[1]!);
      if (arg.length > 2) inline = arg.slice(arg[2] === '=' ? 3 : 2);
      if (option === undefined || (option.value === undefined && inline !== undefined)) {
        const near = nearest(arg.slice(1), names);
        problems.push(`unknown option ${arg}${near !== undefined ? `; did you mean --${near}?` : ''}`);
        i = skipValue(i, arg.length > 2);
        continue;
      }
    } else {
      problems.push(`unexpected argument '${arg}': options start with - or -- (${command} --help lists them)`);
      continue;
    }
    const label = `--${option.name}`;
    if (option.value === undefined) {
      if (inline !== undefined) problems.push(`${label} is a switch and takes no value, got ${show(inline)}`);
      else flags.set(option.name, { raw: true, label });
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      if (next === undefined || looksLikeOption(next)) {
        problems.push(
          `${label} needs a value: ${option.value.allowed}${next !== undefined ? `; it is followed by the option ${next}` : ''}`,
        );
        continue;
      }
      inline = next;
      i++;
    }
    flags.set(option.name, { raw: inline, label });
  }
  return { flags, problems };
}

const kindOf = (v: unknown) =>
  v === null ? 'nothing' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : `a single value (${show(v)})`;
const isMapping = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A --config file, told apart by its contents: a JSON object of options; a nutcracker.yml (its top-level keys
 * hold mappings: pools); else YAML of options, one `key: value` per line.
 */
function readConfigFile(file: string): { options: Map<string, Given>; pools?: ConfPool[] } {
  const text = readFileFor('--config', file).toString('utf8');
  let doc: unknown;
  let json = true;
  try {
    doc = JSON.parse(text);
  } catch (jsonError) {
    json = false;
    const yaml = parseDocument(text);
    if (yaml.errors.length > 0) {
      // A file that starts like JSON is told JSON's complaint; else YAML's, which names the line.
      const e = text.trimStart().startsWith('{') ? (jsonError as Error) : yaml.errors[0]!;
      throw new ConfigError(`--config ${file}: cannot be read as JSON or as YAML: ${e.message.split('\n')[0]!.replace(/:$/, '')}`);
    }
    doc = yaml.toJS();
  }
  if (!isMapping(doc)) {
    throw new ConfigError(
      `--config ${file}: holds ${kindOf(doc)}; give memproxy's options (one 'key: value' per line, e.g. port: 11311) or nutcracker pools`,
    );
  }
  if (!json && Object.values(doc).some(isMapping)) {
    try {
      return { options: new Map(), pools: parseConf(text, file) };
    } catch (e) {
      if (!(e instanceof ConfError)) throw e;
      throw new ConfigError(e.problems.map((p) => `--config ${file}: ${p}`));
    }
  }
  const options = new Map<string, Given>();
  const writtenAs = new Map<string, string>();
  const problems: string[] = [];
  for (const [key, raw] of Object.entries(doc)) {
    const option = BY_NAME.get(key);
    if (option === undefined) {
      const near = nearest(key, FILE_KEYS);
      problems.push(
        `${key} in ${file} is not a memproxy option${near !== undefined ? `; did you mean ${near}?` : ' (memproxy --help lists them)'}`,
      );
    } else if (option.flagOnly) {
      problems.push(`${key} in ${file}: --${option.name} is given on the command line only`);
    } else if (writtenAs.has(option.name)) {
      problems.push(`${option.name} in ${file} is given twice (as ${writtenAs.get(option.name)} and ${key})`);
    } else {
      writtenAs.set(option.name, key);
      options.set(option.name, { raw, label: `${key} in ${file}` });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { options };
}

type Has = (name: string) => boolean;
type Named = (name: string) => string;
type Issue = (message: string) => void;

/** The storage tiers' flags together (memproxy without a nutcracker.yml or --routes). */
function tierProblems(c: Config, has: Has, w: Named, issue: Issue): void {
  const l1Backend = has('l1-sock') || has('l1-addr');
  const l1Lmdb = has('l1-lmdb');
  if (has('l1-sock') && has('l1-addr')) issue(`give ${w('l1-sock')} or ${w('l1-addr')}, not both`);
  if (l1Backend && has('l1-inmem'))
    issue(`${w('l1-inmem')} cannot be combined with ${w(has('l1-sock') ? 'l1-sock' : 'l1-addr')}: the L1 is one or the other`);
  if (l1Backend && has('l1-inmem-size') && !l1Lmdb) {
    issue(`${w('l1-inmem-size')} sizes the in-memory L1, and ${w(has('l1-sock') ? 'l1-sock' : 'l1-addr')} makes a memcached the L1`);
  }
  const l2Flags = ['l2-enabled', 'l2-sock', 'l2-addr', 'l2-lmdb'].filter(has);
  if (l1Lmdb) {
    for (const other of ['l1-inmem', 'l1-sock', 'l1-addr'].filter(has))
      issue(`${w(other)} cannot be combined with ${w('l1-lmdb')}: the L1 is one or the other`);
    if (has('l1-inmem-size')) issue(`${w('l1-inmem-size')} sizes the in-memory L1, and ${w('l1-lmdb')} makes an LMDB store the only tier`);
    if (l2Flags.length > 0) {
      issue(
        `${w('l1-lmdb')} cannot be combined with ${l2Flags.map(w).join(', ')}: it is the only tier ` +
          `(an LMDB store behind the in-memory L1 is --l2-lmdb alone)`,
      );
    }
  }
  if (!l1Backend && !l1Lmdb && c.maxItemSize > c.l1InmemSize) {
    issue(`${w('max-item-size')} (${formatSize(c.maxItemSize)}) must not exceed ${w('l1-inmem-size')} (${formatSize(c.l1InmemSize)})`);
  }
  if (c.chunked && !l1Backend) issue(`${w('chunked')} needs a memcached L1 (--l1-sock or --l1-addr)`);
  if (has('chunk-size') && !c.chunked) issue(`${w('chunk-size')} needs --chunked`);
  const l2Given = has('l2-sock') || has('l2-addr');
  const l2Lmdb = has('l2-lmdb');
  // With --l1-lmdb every L2 flag is refused above.
  if (!l1Lmdb) {
    if (has('l2-sock') && has('l2-addr')) issue(`give ${w('l2-sock')} or ${w('l2-addr')}, not both`);
    if (l2Lmdb && l2Given) issue(`give ${w('l2-lmdb')} or ${w(has('l2-sock') ? 'l2-sock' : 'l2-addr')}, not both: there is one L2`);
    if (c.l2Enabled && !l2Given && !l2Lmdb) issue(`${w('l2-enabled')} needs --l2-sock, --l2-addr or --l2-lmdb`);
    if (l2Given && !c.l2Enabled && !l2Lmdb) issue(`${w(has('l2-sock') ? 'l2-sock' : 'l2-addr')} needs --l2-enabled`);
    // The LMDB L2 stands on its own; --l2-enabled beside it says what it already does.
    if (l2Lmdb) c.l2Enabled = true;
  }
  if (has('batch-port') && !c.l2Enabled) {
    issue(
      l1Lmdb
        ? `${w('batch-port')} serves the L1L2Batch tiers and needs an L2; ${w('l1-lmdb')} is a single tier`
        : `${w('batch-port')} serves the L1L2Batch tiers and needs an L2 (--l2-enabled with --l2-sock or --l2-addr, or --l2-lmdb)`,
    );
  }
  for (const tier of ['l1', 'l2'] as const) {
    const store = `${tier}-lmdb`;
    for (const name of [`${store}-size`, `${store}-sync`]) if (has(name) && !has(store)) issue(`${w(name)} needs --${store}`);
    const cap = tier === 'l1' ? c.l1LmdbSize : c.l2LmdbSize;
    const least = minimumMaxBytes(c.maxItemSize);
    if (has(store) && cap < least) {
      const given = has(`${store}-size`)
        ? `${w(`${store}-size`)} (${formatSize(cap)})`
        : `--${store}-size (${formatSize(cap)}, the default)`;
      issue(
        `${given} must be at least ${formatSize(least)} with ${w('max-item-size')} ${formatSize(c.maxItemSize)}: ` +
          `the smallest LMDB store for items that large`,
      );
    }
  }
}

/** The listeners' flags together (memproxy without a nutcracker.yml). */
function listenerProblems(c: Config, has: Has, w: Named, issue: Issue): void {
  if (c.useDomainSocket && has('port'))
    issue(`${w('port')} cannot be combined with ${w('use-domain-socket')}: it listens on --sock-path instead`);
  if (!c.useDomainSocket && has('sock-path')) issue(`${w('sock-path')} needs --use-domain-socket`);
  if (!c.useDomainSocket && has('unix-mask')) issue(`${w('unix-mask')} needs --use-domain-socket`);
  if (c.tlsOnly && c.useDomainSocket)
    issue(`${w('tls-only')} cannot be combined with ${w('use-domain-socket')} (it removes the plaintext listener)`);
  if (c.tlsOnly && has('batch-port')) issue(`${w('tls-only')} cannot be combined with ${w('batch-port')} (the batch port is plaintext)`);
  if (c.tlsOnly && has('port')) issue(`${w('tls-only')} cannot be combined with ${w('port')} (there is no plaintext listener)`);
  if (c.batchPort !== undefined && c.batchPort !== 0 && !c.useDomainSocket && c.batchPort === c.port)
    issue(`${w('batch-port')} must differ from ${w('port')} (both ${c.port})`);
}

/** Parse argv (without node and script) into a validated config, or throw ConfigError saying what is wrong. */
export function loadConfig(argv: string[]): Config | 'help' | 'version' {
  const { flags, problems: argProblems } = readArgs(argv);
  if (flags.has('help')) return 'help';
  if (flags.has('version')) return 'version';
  if (argProblems.length > 0) throw new ConfigError(argProblems);

  const configGiven = flags.get('config');
  const configFile = configGiven?.raw as string | undefined;
  if (configGiven !== undefined && configFile === '') throw new ConfigError(`--config must be a file path, got ''`);
  const fromFile = configFile !== undefined ? readConfigFile(configFile) : { options: new Map<string, Given>() };
  const pools = fromFile.pools;
  const problems: string[] = [];
  if (pools !== undefined) {
    for (const [name, given] of flags) {
      if (name === 'config' || name === 'check' || (WITH_POOLS as readonly string[]).includes(name)) continue;
      if (name === 'routes') {
        problems.push(`${given.label} cannot be combined with a nutcracker.yml --config ${configFile}: give one or the other`);
        continue;
      }
      problems.push(
        `${given.label} cannot be combined with a nutcracker.yml --config (each pool serves on its own listen: address ` +
          `through its own servers:); with one, only ${WITH_POOLS.map((f) => '--' + f).join(', ')} apply`,
      );
    }
    if (problems.length > 0) throw new ConfigError(problems);
  }

  // Each value on its own first: a value that is wrong is the problem to report, not the combinations it spoils.
  const given = new Map([...fromFile.options, ...flags]);
  const values: Record<string, unknown> = { ...DEFAULTS };
  for (const [name, g] of given) {
    if (name === 'verbose') {
      values.verbose = g.raw === true ? 1 : g.raw;
      continue;
    }
    const option = BY_NAME.get(name)!;
    const value = option.value ?? BOOLEAN;
    const v = value.read(g.raw);
    if (v === INVALID) problems.push(`${g.label} must be ${value.allowed}, got ${show(g.raw)}`);
    else values[camel(name)] = v;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const c = values as unknown as Config;
  if (pools !== undefined) c.pools = pools;

  const w = (name: string) => given.get(name)?.label ?? `--${name}`;
  const has = (name: string) => given.has(name);
  const issue = (message: string) => problems.push(message);
  if (pools !== undefined) {
    if (c.tlsPort !== undefined && pools.length > 1) {
      issue(
        `--tls-port: ${configFile} has ${pools.length} pools; a TLS listener (on --host, default 127.0.0.1) is added to a nutcracker.yml of one pool only`,
      );
    }
  } else {
    const routes = has('routes');
    for (const name of ROUTES_EXCLUDE.filter((n) => routes && has(n)))
      issue(`${w(name)} cannot be combined with ${w('routes')}: the routes file says where keys go (its pools and routes)`);
    // The tiers' rules, when the flags describe tiers.
    if (!routes) tierProblems(c, has, w, issue);
    if (c.threads > 1) {
      // "--threads 4", or "threads in FILE (4)".
      const threadsGiven = w('threads').startsWith('-') ? `${w('threads')} ${c.threads}` : `${w('threads')} (${c.threads})`;
      // Each needs one owner of its state: a reloaded route tree, the batch port's tiers, an LMDB store's pending writes.
      for (const [name, why] of [
        ['routes', 'a --routes tree is served by one thread'],
        ['batch-port', 'the batch port is served by one thread'],
        ['l1-lmdb', 'an LMDB store is served by one thread'],
        ['l2-lmdb', 'an LMDB store is served by one thread'],
      ] as const) {
        if (has(name)) issue(`${threadsGiven} cannot be combined with ${w(name)}: ${why} (give --threads 1, the default)`);
      }
    }
    listenerProblems(c, has, w, issue);
  }
  if (has('verbose') && has('log-level')) issue(`give ${w('log-level')} or -v, not both`);
  else if (c.verbose !== undefined) c.logLevel = c.verbose > 1 ? 'trace' : 'debug';
  if (has('metrics-host') && c.metricsPort === undefined) issue(`${w('metrics-host')} needs --metrics-port`);
  if (c.metricsPort !== undefined && c.metricsPort !== 0 && pools === undefined) {
    for (const [name, port] of [
      ['port', c.useDomainSocket || c.tlsOnly ? undefined : c.port],
      ['tls-port', c.tlsPort],
      ['batch-port', c.batchPort],
    ] as const) {
      if (port === c.metricsPort) issue(`${w('metrics-port')} must differ from ${w(name)} (both ${port})`);
    }
  }
  if (c.tlsPort !== undefined && (c.tlsCert === undefined || c.tlsKey === undefined))
    issue(`${w('tls-port')} needs --tls-cert and --tls-key`);
  if (c.tlsPort === undefined) {
    for (const name of ['tls-cert', 'tls-key', 'tls-ca', 'tls-only']) if (has(name)) issue(`${w(name)} needs --tls-port`);
  } else if (c.tlsPort !== 0 && pools === undefined) {
    if (!c.tlsOnly && !c.useDomainSocket && c.tlsPort === c.port) issue(`${w('tls-port')} must differ from ${w('port')} (both ${c.port})`);
    if (c.tlsPort === c.batchPort) issue(`${w('tls-port')} must differ from ${w('batch-port')} (both ${c.batchPort})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  if (configFile !== undefined) c.config = configFile;
  c.labels = Object.fromEntries([...given].map(([name, g]) => [name, g.label]));
  return c;
}

/**
 * The listen hosts resolve (a name that does not would fail only when memproxy listens): --host when a TCP
 * listener uses it, and every pool's listen: host. Throws ConfigError naming the flag or pool.
 */
export async function checkHosts(c: Config): Promise<void> {
  const problems = c.pools !== undefined ? (await checkListenHosts(c.pools)).map((p) => `--config ${c.config}: ${p}`) : [];
  const hostUsed = c.pools !== undefined ? c.tlsPort !== undefined : !c.useDomainSocket || c.tlsPort !== undefined;
  if (hostUsed && isIP(c.host) === 0) {
    try {
      await lookup(c.host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      problems.push(
        `--host ${c.host} does not resolve (${code}): give an IP address of this machine (such as 127.0.0.1, ::1 or 0.0.0.0) or a name that resolves to one`,
      );
    }
  }
  if (c.metricsPort !== undefined && isIP(c.metricsHost) === 0) {
    try {
      await lookup(c.metricsHost);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      problems.push(`${c.labels['metrics-host'] ?? '--metrics-host'} ${c.metricsHost} does not resolve (${code})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}
