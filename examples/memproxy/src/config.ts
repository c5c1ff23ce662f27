import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseAddress } from '@cleave/core';
import { ConfError, parseConf, type ConfPool } from './twemproxy/conf.js';

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

/** A zod type that accepts a number as is, or a string read by `parse` (its error becomes the issue message). */
const readable = (parse: (s: string) => number, numberScale = 1) =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    if (typeof v === 'number') {
      if (!Number.isFinite(v) || v < 0) {
        ctx.addIssue({ code: 'custom', message: 'must be a non-negative number' });
        return z.NEVER;
      }
      return Math.round(v * numberScale);
    }
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

/** Bytes: a number, or "64m", "512k", ... */
const size = readable(parseSize);
/** Milliseconds: seconds as a number, or "30s", "5m", "250ms", ... */
const duration = readable(parseDuration, 1000);

const port = z.coerce.number().int().min(0).max(65535);

/** "host:port" (IPv6 as "[::1]:11211"): core's address parser, which also takes socket paths; here only TCP is meant. */
const hostPort = z.string().transform((s, ctx) => {
  try {
    const a = parseAddress(s.trim(), 'HOST:PORT address');
    if ('port' in a) return a;
    ctx.addIssue({ code: 'custom', message: `not a HOST:PORT address: ${JSON.stringify(s)} (a unix socket goes in the matching --*-sock flag)` });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
  return z.NEVER;
});

/** memproxy's configuration, validated at the edge (never on the request path). */
export const ConfigSchema = z
  .object({
    port: port.default(11211),
    host: z.string().min(1).default('127.0.0.1'),
    useDomainSocket: z.boolean().default(false),
    sockPath: z.string().min(1).default('/tmp/memproxy.sock'),
    l1Inmem: z.boolean().default(true),
    l1InmemSize: size.default(64 * 1024 * 1024).refine((n) => n >= 1024 * 1024, 'must be at least 1m'),
    maxConns: z.coerce.number().int().min(1).max(1_000_000).default(1024),
    maxItemSize: size
      .default(1024 * 1024)
      .refine((n) => n >= 1024 && n <= 1024 * 1024 * 1024, 'must be between 1k and 1g'),
    idleTimeout: duration.default(0),
    maxOutputBytes: size.default(4 * 1024 * 1024).refine((n) => n >= 16 * 1024, 'must be at least 16k'),
    // Backends (memcached reached over a unix socket or TCP).
    l1Sock: z.string().min(1).optional(),
    l1Addr: hostPort.optional(),
    chunked: z.boolean().default(false),
    chunkSize: size.optional(),
    l2Enabled: z.boolean().default(false),
    l2Sock: z.string().min(1).optional(),
    l2Addr: hostPort.optional(),
    batchPort: port.optional(),
    backendConns: z.coerce.number().int().min(1).max(64).default(2),
    backendTimeout: duration.default(1000),
    // Security: a TLS listener beside (or instead of) the plaintext one, and authentication.
    tlsPort: port.optional(),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    tlsCa: z.string().min(1).optional(),
    tlsOnly: z.boolean().default(false),
    authFile: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    const l1Backend = c.l1Sock !== undefined || c.l1Addr !== undefined;
    if (c.l1Sock !== undefined && c.l1Addr !== undefined) issue('l1Sock', 'give --l1-sock or --l1-addr, not both');
    if (!l1Backend && c.maxItemSize > c.l1InmemSize) issue('maxItemSize', '--max-item-size must not exceed --l1-inmem-size');
    if (c.chunked && !l1Backend) issue('chunked', '--chunked needs a memcached L1 (--l1-sock or --l1-addr)');
    if (c.chunkSize !== undefined && !c.chunked) issue('chunkSize', '--chunk-size needs --chunked');
    if (c.chunkSize !== undefined && (c.chunkSize < 64 || c.chunkSize > 1024 * 1024)) issue('chunkSize', 'must be between 64 and 1m');
    const l2Given = c.l2Sock !== undefined || c.l2Addr !== undefined;
    if (c.l2Sock !== undefined && c.l2Addr !== undefined) issue('l2Sock', 'give --l2-sock or --l2-addr, not both');
    if (c.l2Enabled && !l2Given) issue('l2Enabled', '--l2-enabled needs --l2-sock or --l2-addr');
    if (l2Given && !c.l2Enabled) issue('l2Sock', '--l2-sock/--l2-addr need --l2-enabled');
    if (c.batchPort !== undefined && !c.l2Enabled) issue('batchPort', '--batch-port serves the L1L2Batch tiers and needs --l2-enabled');
    if (c.backendTimeout <= 0) issue('backendTimeout', 'must be more than 0');
    if (c.tlsPort !== undefined && (c.tlsCert === undefined || c.tlsKey === undefined)) issue('tlsPort', 'needs --tls-cert and --tls-key');
    if (c.tlsPort === undefined) {
      for (const k of ['tlsCert', 'tlsKey', 'tlsCa'] as const) if (c[k] !== undefined) issue(k, 'needs --tls-port');
      if (c.tlsOnly) issue('tlsOnly', 'needs --tls-port');
    }
    if (c.tlsOnly && c.useDomainSocket) issue('tlsOnly', 'cannot be combined with --use-domain-socket (it removes the plaintext listener)');
    if (c.tlsOnly && c.batchPort !== undefined) issue('tlsOnly', 'cannot be combined with --batch-port (the batch port is plaintext)');
    if (c.tlsPort !== undefined && c.tlsPort !== 0) {
      if (!c.tlsOnly && !c.useDomainSocket && c.tlsPort === c.port) issue('tlsPort', 'must differ from --port');
      if (c.tlsPort === c.batchPort) issue('tlsPort', 'must differ from --batch-port');
    }
  });

/** The options, and with a nutcracker.yml `--config` its pools (each served on its own listen address). */
export type Config = z.output<typeof ConfigSchema> & { pools?: readonly ConfPool[] };

/** What applies to every pool of a nutcracker.yml `--config`; any other flag is refused with it. */
const WITH_POOLS = [
  'max-conns',
  'max-item-size',
  'idle-timeout',
  'max-output-bytes',
  'backend-timeout',
  'auth-file',
  'host',
  'tls-port',
  'tls-cert',
  'tls-key',
  'tls-ca',
] as const;

export const HELP = `memproxy — a memcached-compatible server built from cleave

Usage: memproxy [options]

  -p, --port N              TCP port to listen on (default 11211; 0 = any free port)
      --host ADDR           address to bind (default 127.0.0.1; 0.0.0.0 exposes it to the network)
      --use-domain-socket   listen on a unix socket instead of TCP
      --sock-path PATH      unix socket path (default /tmp/memproxy.sock)
      --l1-inmem            serve from the in-memory L1 (the default)
      --l1-inmem-size SIZE  memory cap of the in-memory L1, like memcached -m (default 64m)
      --max-conns N         most simultaneous connections, like memcached -c (default 1024)
      --max-item-size SIZE  largest item, like memcached -I (default 1m)
      --idle-timeout TIME   close connections idle this long (e.g. 30s, 5m; default 0 = never)
      --max-output-bytes SIZE
                            replies one connection may have unsent before it runs nothing
                            more until its client reads (default 4m)

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
      --batch-port N        also serve the bulk-loader tiers (L1L2Batch) on this port
      --backend-conns N     connections per backend memcached (default 2; requests from all
                            clients are batched onto them)
      --backend-timeout T   how long a backend request may take (default 1s)

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

      --config FILE         a JSON object with any of the options above (camelCase keys:
                            port, host, useDomainSocket, sockPath, l1Inmem, l1InmemSize,
                            maxConns, maxItemSize, idleTimeout, maxOutputBytes, l1Sock,
                            l1Addr, chunked, chunkSize, l2Enabled, l2Sock, l2Addr,
                            batchPort, backendConns, backendTimeout, tlsPort, tlsCert,
                            tlsKey, tlsCa, tlsOnly, authFile); flags override it.
                            Or a nutcracker.yml (twemproxy's, as cleave-twemproxy reads it):
                            every pool is served on its own listen: address, its keys spread
                            over its servers: as nutcracker places them. With a nutcracker.yml
                            only --max-conns (for pools without client_connections:),
                            --max-item-size, --idle-timeout, --max-output-bytes,
                            --backend-timeout (for pools without timeout:), --auth-file and,
                            for a file of one pool, --tls-port/--tls-cert/--tls-key/--tls-ca
                            (a TLS listener on --host beside the pool's own) apply; any
                            other flag is refused
  -h, --help                show this help

Sizes take k, m, g suffixes (1024-based); times take ms, s, m, h (plain numbers are seconds).
`;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'MEMPROXY_BAD_CONFIG';
}

/** Parse argv (without node and script) into a validated config, or throw ConfigError saying what is wrong. */
export function loadConfig(argv: string[]): Config | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        port: { type: 'string', short: 'p' },
        host: { type: 'string' },
        'use-domain-socket': { type: 'boolean' },
        'sock-path': { type: 'string' },
        'l1-inmem': { type: 'boolean' },
        'l1-inmem-size': { type: 'string' },
        'max-conns': { type: 'string' },
        'max-item-size': { type: 'string' },
        'idle-timeout': { type: 'string' },
        'max-output-bytes': { type: 'string' },
        'l1-sock': { type: 'string' },
        'l1-addr': { type: 'string' },
        chunked: { type: 'boolean' },
        'chunk-size': { type: 'string' },
        'l2-enabled': { type: 'boolean' },
        'l2-sock': { type: 'string' },
        'l2-addr': { type: 'string' },
        'batch-port': { type: 'string' },
        'backend-conns': { type: 'string' },
        'backend-timeout': { type: 'string' },
        'tls-port': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-only': { type: 'boolean' },
        'auth-file': { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  let fromFile: Record<string, unknown> = {};
  let pools: ConfPool[] | undefined;
  if (v.config !== undefined) {
    let text: string;
    try {
      text = readFileSync(v.config, 'utf8');
    } catch (e) {
      throw new ConfigError(`--config ${v.config}: ${(e as Error).message}`);
    }
    // A JSON object starts with '{', which a nutcracker.yml cannot (it refuses flow mappings).
    if (text.trimStart().startsWith('{')) {
      try {
        fromFile = JSON.parse(text) as Record<string, unknown>;
      } catch (e) {
        throw new ConfigError(`--config ${v.config}: ${(e as Error).message}`);
      }
      if (fromFile === null || typeof fromFile !== 'object' || Array.isArray(fromFile)) {
        throw new ConfigError(`--config ${v.config}: expected a JSON object`);
      }
    } else {
      try {
        pools = parseConf(text, v.config);
      } catch (e) {
        if (!(e instanceof ConfError)) throw e;
        throw new ConfigError(`--config ${v.config}: not a JSON object of options, so read as a nutcracker.yml:\n${e.problems.join('\n')}`);
      }
      for (const [name, value] of Object.entries(v)) {
        if (value === undefined || name === 'config' || (WITH_POOLS as readonly string[]).includes(name)) continue;
        throw new ConfigError(
          `--${name}: cannot be combined with a nutcracker.yml --config (each pool serves on its own listen: address ` +
            `through its own servers:); with one, only ${WITH_POOLS.map((f) => '--' + f).join(', ')} apply`,
        );
      }
      if (v['tls-port'] !== undefined && pools.length > 1) {
        throw new ConfigError(
          `--tls-port: ${v.config} has ${pools.length} pools; a TLS listener (on --host, default 127.0.0.1) is added to a nutcracker.yml of one pool only`,
        );
      }
    }
  }
  const fromFlags: Record<string, unknown> = {
    port: v.port,
    host: v.host,
    useDomainSocket: v['use-domain-socket'],
    sockPath: v['sock-path'],
    l1Inmem: v['l1-inmem'],
    l1InmemSize: v['l1-inmem-size'],
    maxConns: v['max-conns'],
    maxItemSize: v['max-item-size'],
    idleTimeout: v['idle-timeout'],
    maxOutputBytes: v['max-output-bytes'],
    l1Sock: v['l1-sock'],
    l1Addr: v['l1-addr'],
    chunked: v.chunked,
    chunkSize: v['chunk-size'],
    l2Enabled: v['l2-enabled'],
    l2Sock: v['l2-sock'],
    l2Addr: v['l2-addr'],
    batchPort: v['batch-port'],
    backendConns: v['backend-conns'],
    backendTimeout: v['backend-timeout'],
    tlsPort: v['tls-port'],
    tlsCert: v['tls-cert'],
    tlsKey: v['tls-key'],
    tlsCa: v['tls-ca'],
    tlsOnly: v['tls-only'],
    authFile: v['auth-file'],
  };
  for (const k of Object.keys(fromFlags)) if (fromFlags[k] === undefined) delete fromFlags[k];
  const result = ConfigSchema.safeParse({ ...fromFile, ...fromFlags });
  if (!result.success) {
    const flag = (p: PropertyKey[]) => '--' + String(p[0] ?? '').replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
    throw new ConfigError(result.error.issues.map((i) => `${flag(i.path)}: ${i.message}`).join('\n'));
  }
  return pools !== undefined ? { ...result.data, pools } : result.data;
}
