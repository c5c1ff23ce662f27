#!/usr/bin/env node
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { ChunkedHandler } from '@cleave/chunked';
import type { Address, Logger } from '@cleave/core';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { l1l2, l1l2Batch } from '@cleave/tiers';
import type { Handler } from '@cleave/protocol';
import { listenAndServe, type ListenTarget, type Server } from '@cleave/server';
import {
  checkHosts,
  ConfigError,
  fileProblem,
  HELP,
  loadConfig,
  logFileProblem,
  socketPathProblem,
  storePathProblems,
  type Config,
} from './config.js';
import { Log } from './log.js';
import { metricsRegistry, serveMetrics, type MetricsBackend, type MetricsServer } from './metrics.js';
import { loadSecurity, type Security } from './security.js';
import { recoverMain } from './recover.js';
import { lockStore, openStore, StoreProblem } from './store.js';
import { VERSION } from './twemproxy/args.js';
import { describeListen, servePools } from './twemproxy/build.js';
import { describeRoutes, loadRoutes, RoutesService } from './routes/serve.js';
import { RoutesError, type RoutesSpec } from './routes/schema.js';

/** memcached's default item size limit (-I): chunks keep every backend item within it. */
const BACKEND_ITEM_MAX = 1024 * 1024;

const backendAddress = (sock: string | undefined, addr: Address | undefined): Address | undefined =>
  sock !== undefined ? { path: sock } : addr;

/** The LMDB stores the flags name: --l1-lmdb (the only tier) and --l2-lmdb, each with its flag, cap and sync. */
function lmdbStores(config: Config): { tier: 'l1' | 'l2'; flag: string; path: string; maxBytes: number; sync: boolean }[] {
  const stores = [];
  if (config.l1Lmdb !== undefined)
    stores.push({ tier: 'l1' as const, flag: 'l1-lmdb', path: config.l1Lmdb, maxBytes: config.l1LmdbSize, sync: config.l1LmdbSync });
  if (config.l2Lmdb !== undefined)
    stores.push({ tier: 'l2' as const, flag: 'l2-lmdb', path: config.l2Lmdb, maxBytes: config.l2LmdbSize, sync: config.l2LmdbSync });
  return stores;
}

/**
 * The tiers the flags describe, in words: "in-memory L1 67108864 bytes", "L1 memcached 127.0.0.1:11311 (chunked)",
 * "in-memory L1 67108864 bytes, L2 LMDB /var/cache/cleave 1073741824 bytes (sync)".
 */
function describeTiers(config: Config): string {
  const memcached = (address: Address, label: string) =>
    `${label} memcached ${describeListen(address)}${config.chunked ? ' (chunked)' : ''}`;
  const lmdb = Object.fromEntries(
    lmdbStores(config).map((s) => [s.tier, `${s.tier.toUpperCase()} LMDB ${s.path} ${s.maxBytes} bytes${s.sync ? ' (sync)' : ''}`]),
  );
  if (lmdb.l1 !== undefined) return lmdb.l1;
  const l1Address = backendAddress(config.l1Sock, config.l1Addr);
  const l1 = l1Address ? memcached(l1Address, 'L1') : `in-memory L1 ${config.l1InmemSize} bytes`;
  if (lmdb.l2 !== undefined) return `${l1}, ${lmdb.l2}`;
  const l2Address = backendAddress(config.l2Sock, config.l2Addr);
  return config.l2Enabled && l2Address ? `${l1}, ${memcached(l2Address, 'L2')}` : l1;
}

/**
 * The storage the flags describe: one or two tiers, each a Handler, and the memcached backends among them.
 * Throws a StoreProblem when an LMDB store cannot be opened.
 */
function buildTiers(config: Config, logger: Logger): { l1: Handler; l2?: Handler; backends: MetricsBackend[] } {
  const backends: MetricsBackend[] = [];
  /** A memcached tier; with --chunked, large values spread over chunk items within the backend's limit. */
  const memcached = (address: Address, tier: string): Handler => {
    const backend = (maxItemSize: number) => {
      const handler = new MemcachedHandler({
        address,
        connections: config.backendConns,
        timeoutMs: config.backendTimeout,
        maxItemSize,
        logger,
      });
      backends.push({ handler, tier });
      return handler;
    };
    if (!config.chunked) return backend(config.maxItemSize);
    return new ChunkedHandler(backend(BACKEND_ITEM_MAX), { maxItemSize: config.maxItemSize, chunkSize: config.chunkSize });
  };
  // An LMDB store takes values up to --max-item-size as they are: no chunks.
  const lmdb = Object.fromEntries(
    lmdbStores(config).map((s) => [
      s.tier,
      openStore(config.labels[s.flag] ?? `--${s.flag}`, {
        path: s.path,
        maxBytes: s.maxBytes,
        sync: s.sync,
        maxItemSize: config.maxItemSize,
        logger,
      }),
    ]),
  );
  if (lmdb.l1 !== undefined) return { l1: lmdb.l1, backends };
  const l1Address = backendAddress(config.l1Sock, config.l1Addr);
  const l1 = l1Address
    ? memcached(l1Address, 'l1')
    : new InMemoryHandler({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize });
  if (lmdb.l2 !== undefined) return { l1, l2: lmdb.l2, backends };
  const l2Address = backendAddress(config.l2Sock, config.l2Addr);
  return config.l2Enabled && l2Address ? { l1, l2: memcached(l2Address, 'l2'), backends } : { l1, backends };
}

const limitsOf = (config: Config) => ({
  maxConnections: config.maxConns,
  maxItemSize: config.maxItemSize,
  idleTimeoutMs: config.idleTimeout,
  maxOutputBytes: config.maxOutputBytes,
});

const loginOf = (security: Security) =>
  security.users !== undefined ? `, auth required (${security.users} user${security.users === 1 ? '' : 's'})` : '';

/** After "listening on " (or "would listen on "): the listeners, then what serves them. */
function tiersLine(config: Config, security: Security, listeners: string, batch: string | undefined): string {
  const tcp = !config.useDomainSocket || security.tls !== undefined;
  const exposure = tcp && config.host === '127.0.0.1' ? ' (loopback only; --host 0.0.0.0 to expose)' : '';
  return (
    `${listeners}${exposure}: ${describeTiers(config)}${loginOf(security)}, max item ${config.maxItemSize} bytes, ` +
    `max ${config.maxConns} connections${batch !== undefined ? `; L1L2Batch on ${batch}` : ''}`
  );
}

function poolLine(pool: NonNullable<Config['pools']>[number], security: Security, listeners: string): string {
  const n = pool.servers.length;
  return `${listeners}: pool '${pool.name}', ${n} memcached server${n === 1 ? '' : 's'} (${pool.distribution}/${pool.hash})${loginOf(security)}`;
}

const withTls = (where: string, tls: boolean | undefined) => where + (tls ? ' (TLS)' : '');
const describeServer = (s: Server) => s.addresses.map((a) => withTls(describeListen(a), a.tls)).join(' and ');

/** What --check says would be served: the lines the start would write, before anything listens. */
function wouldServe(config: Config, security: Security, routes: RoutesSpec | undefined): string[] {
  const tlsListener =
    security.tls !== undefined && config.tlsPort !== undefined
      ? withTls(describeListen({ host: config.host, port: config.tlsPort }), true)
      : undefined;
  if (config.pools) {
    return config.pools.map((p) =>
      poolLine(p, security, [describeListen(p.listenAddress), ...(tlsListener ? [tlsListener] : [])].join(' and ')),
    );
  }
  const listeners: string[] = [];
  if (!config.tlsOnly)
    listeners.push(describeListen(config.useDomainSocket ? { path: config.sockPath } : { host: config.host, port: config.port }));
  if (tlsListener) listeners.push(tlsListener);
  if (routes !== undefined) return [routesLine(config, security, listeners.join(' and '), routes)];
  const batch = config.batchPort !== undefined ? describeListen({ host: config.host, port: config.batchPort }) : undefined;
  return [tiersLine(config, security, listeners.join(' and '), batch)];
}

/** After "listening on ": the listeners, then the routes file's tree. */
function routesLine(config: Config, security: Security, listeners: string, routes: RoutesSpec): string {
  const tcp = !config.useDomainSocket || security.tls !== undefined;
  const exposure = tcp && config.host === '127.0.0.1' ? ' (loopback only; --host 0.0.0.0 to expose)' : '';
  return `${listeners}${exposure}: routes ${config.routes}: ${describeRoutes(routes)}${loginOf(security)}, max item ${config.maxItemSize} bytes`;
}

/** The listeners the flags describe (not a nutcracker.yml's): plaintext unless --tls-only, and TLS with --tls-port. */
function listenTargets(config: Config, security: Security): ListenTarget[] {
  const listen: ListenTarget[] = [];
  if (!config.tlsOnly)
    listen.push(config.useDomainSocket ? { path: config.sockPath, mode: config.unixMask } : { port: config.port, host: config.host });
  if (security.tls && config.tlsPort !== undefined) listen.push({ port: config.tlsPort, host: config.host, tls: security.tls });
  return listen;
}

/** Serve a --routes file's tree on the listeners the flags describe; SIGHUP and changes to the file reload it. */
async function serveRoutes(
  config: Config,
  security: Security,
  log: Log,
  loaded: { spec: RoutesSpec; text: string },
  onShutdown: (() => void) | undefined,
): Promise<Served & { routes: RoutesService }> {
  const routes = new RoutesService(config.routes!, loaded, {
    connections: config.backendConns,
    timeoutMs: config.backendTimeout,
    maxItemSize: config.maxItemSize,
    logger: log.logger,
  });
  let server: Server;
  try {
    server = await listenAndServe({
      listen: listenTargets(config, security),
      handler: routes.handler,
      limits: limitsOf(config),
      auth: security.auth,
      onError: onErrorOf(log.logger),
      metrics: config.metricsPort !== undefined,
      shutdown: onShutdown,
      // The routes close their servers themselves, after the listeners (RoutesService.close).
      closeHandlers: false,
    });
  } catch (e) {
    await routes.close();
    throw e;
  }
  routes.watch();
  log.logger.info(
    { version: VERSION, listen: listenedOn(server), routes: config.routes },
    `memproxy listening on ${routesLine(config, security, describeServer(server), loaded.spec)}`,
  );
  return {
    servers: [server],
    // Read at each scrape: the servers change with reloads.
    get backends() {
      return routes.servers.map((handler) => ({ handler, tier: 'routes' }));
    },
    routes,
  };
}

/** What serves: the servers, first the main one, and the memcached backends behind them. */
interface Served {
  servers: Server[];
  backends: MetricsBackend[];
}

/** A handler error the server could not answer with a reply of its own. */
const onErrorOf =
  (logger: Logger) =>
  (err: unknown): void =>
    logger.error({ err }, err instanceof Error ? err.message : String(err));

/** Serve the tiers the flags describe (and the batch port). */
async function serveTiers(config: Config, security: Security, log: Log, onShutdown: () => void): Promise<Served> {
  const servers: Server[] = [];
  const listen = listenTargets(config, security);
  const auth = security.auth;
  for (const s of lmdbStores(config)) await lockStore(config.labels[s.flag] ?? `--${s.flag}`, s.path);
  const tiers = buildTiers(config, log.logger);
  // The whole deployment is one Handler: L1 alone, or L1 in front of L2.
  const handler = tiers.l2 ? l1l2(tiers.l1, tiers.l2) : tiers.l1;
  const limits = limitsOf(config);
  const onError = onErrorOf(log.logger);
  const metrics = config.metricsPort !== undefined;
  // --enable-shutdown: the shutdown command stops memproxy as a SIGTERM does.
  const shutdown = config.enableShutdown ? onShutdown : undefined;
  servers.push(await listenAndServe({ listen, handler, limits, auth, onError, metrics, shutdown }));
  if (config.batchPort !== undefined && tiers.l2) {
    // Rend's bulk-loader port: the same tiers as L1L2Batch; the main server owns (and closes) them.
    try {
      servers.push(
        await listenAndServe({
          listen: { port: config.batchPort, host: config.host },
          handler: l1l2Batch(tiers.l1, tiers.l2),
          limits,
          auth,
          onError,
          metrics,
          closeHandlers: false,
        }),
      );
    } catch (e) {
      await servers[0]!.close();
      throw e;
    }
  }
  log.logger.info(
    {
      version: VERSION,
      listen: servers.flatMap(listenedOn),
      backends: tiers.backends.map((b) => `${b.tier} ${describeListen(b.handler.address)}`),
    },
    `memproxy listening on ${tiersLine(config, security, describeServer(servers[0]!), servers[1] && describeServer(servers[1]))}`,
  );
  return { servers, backends: tiers.backends };
}

/** Where a server listens, for the start-up line's fields. */
const listenedOn = (s: Server) => s.addresses.map((a) => withTls(describeListen(a), a.tls));

/** A nutcracker.yml --config: each pool on its own listen address, over its own memcached servers. */
async function servePoolsOf(config: Config, security: Security, pools: NonNullable<Config['pools']>, log: Log): Promise<Served> {
  const tls = security.tls;
  const served = await servePools(pools, {
    limits: limitsOf(config),
    auth: security.auth,
    timeoutMs: config.backendTimeout,
    maxItemSize: config.maxItemSize,
    onError: onErrorOf(log.logger),
    logger: log.logger,
    metrics: config.metricsPort !== undefined,
    // A yml of one pool (config.ts refuses --tls-port with more): its TLS listener on --host.
    ...(tls !== undefined && config.tlsPort !== undefined && { moreListen: () => [{ port: config.tlsPort!, host: config.host, tls }] }),
  });
  const backends: MetricsBackend[] = [];
  for (const s of served) {
    for (const member of s.pool.members) {
      if (member.handler instanceof MemcachedHandler) backends.push({ handler: member.handler, tier: s.name, member });
    }
    log.logger.info(
      {
        version: VERSION,
        listen: listenedOn(s.server),
        pool: s.name,
        servers: s.conf.servers.map((m) => `${m.name} ${describeListen(m.address)}`),
      },
      `memproxy listening on ${poolLine(s.conf, security, describeServer(s.server))}`,
    );
  }
  return { servers: served.map((s) => s.server), backends };
}

/** Why a listener could not start, naming the flag that chose the address. */
function listenProblem(e: unknown, config: Config): string {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  if (config.pools) return (e as Error).message;
  // Node reports a unix socket's failure with port -1 (or none) and the path as the address.
  const unix = err.port === undefined || err.port < 0;
  const flag = unix
    ? '--sock-path'
    : err.port === config.tlsPort
      ? '--tls-port'
      : err.port === config.batchPort && err.port !== config.port
        ? '--batch-port'
        : '--port';
  const where = unix ? config.sockPath : describeListen({ host: err.address ?? config.host, port: err.port! });
  if (unix && (err.code === 'EACCES' || err.code === 'ENOENT')) {
    const dir = dirname(config.sockPath);
    return `cannot listen on ${where} (${flag}): ${err.code === 'ENOENT' ? `the directory ${dir} does not exist` : `the directory ${dir} is not writable`} (${err.code})`;
  }
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where} (${flag}): another server listens there (EADDRINUSE)`;
    case 'EEXIST':
      return `cannot listen on ${where} (${flag}): it exists and is not a socket; memproxy replaces only a socket left there (EEXIST)`;
    case 'EACCES':
      return `cannot listen on ${where} (${flag}): permission denied (EACCES)${err.port! < 1024 ? '; ports below 1024 need privileges' : ''}`;
    case 'EADDRNOTAVAIL':
      return `--host ${config.host} is not an address of this machine (EADDRNOTAVAIL)`;
    default:
      return `cannot listen on ${where} (${flag}): ${err.message}`;
  }
}

/** Why the metrics listener could not start. */
function metricsProblem(e: unknown, config: Config): string {
  const err = e as NodeJS.ErrnoException;
  const where = describeListen({ host: config.metricsHost, port: config.metricsPort! });
  if (err.code === 'EADDRINUSE') return `cannot listen on ${where} (--metrics-port): another server listens there (EADDRINUSE)`;
  if (err.code === 'EADDRNOTAVAIL') return `--metrics-host ${config.metricsHost} is not an address of this machine (EADDRNOTAVAIL)`;
  return `cannot listen on ${where} (--metrics-port): ${err.message}`;
}

/** The configuration as debug logs it: the options, files by name only (never what they hold), no parsed pools. */
function loggedConfig(config: Config): Record<string, unknown> {
  const { labels: _labels, pools, ...rest } = config;
  return pools === undefined ? rest : { ...rest, pools: pools.map((p) => p.name) };
}

async function main(): Promise<void> {
  // `pnpm start -- --flag` passes the `--` through; accept it as "options follow".
  const given = process.argv.slice(2);
  const args = given[0] === '--' ? given.slice(1) : given;
  if (args[0] === 'recover') return recoverMain(args.slice(1));
  let config: Config;
  let security: Security = {};
  let routesFile: { spec: RoutesSpec; text: string } | undefined;
  try {
    const loaded = loadConfig(args);
    if (loaded === 'help') {
      process.stdout.write(HELP);
      return;
    }
    if (loaded === 'version') {
      process.stdout.write(`memproxy ${VERSION}\n`);
      return;
    }
    config = loaded;
    security = loadSecurity(config);
    await checkHosts(config);
    const fileProblems = [logFileProblem(config), socketPathProblem(config), ...storePathProblems(config)].filter((p) => p !== undefined);
    if (fileProblems.length > 0) throw new ConfigError(fileProblems);
    if (config.routes !== undefined) {
      try {
        routesFile = loadRoutes(config.routes);
      } catch (e) {
        if (e instanceof RoutesError) throw new ConfigError([...e.problems]);
        throw e;
      }
    }
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.problems.map((p) => `memproxy: ${p}\n`).join('')}Run memproxy --help for the options.\n`);
      process.exit(2);
    }
    throw e;
  }
  if (config.check) {
    for (const w of routesFile?.spec.warnings ?? []) process.stdout.write(`memproxy: --routes ${config.routes}: ${w}\n`);
    for (const line of wouldServe(config, security, routesFile?.spec))
      process.stdout.write(`memproxy: configuration OK: would listen on ${line}\n`);
    return;
  }

  let log: Log;
  try {
    log = new Log({ level: config.logLevel, ...(config.logFile !== undefined && { file: config.logFile }) });
  } catch (e) {
    process.stderr.write(`memproxy: --log-file ${config.logFile}: cannot append to it: ${fileProblem(e)}\n`);
    process.exit(2);
  }
  // What SIGHUP does, each step saying what it did; a routes reload joins the list.
  const onHangup: Array<() => string> = [() => log.reopen()];
  const logger = log.logger;
  process.on('SIGHUP', () => logger.info(`SIGHUP received: ${onHangup.map((step) => step()).join('; ')}; still serving`));

  // INT and TERM are handled from before the first listener opens, so a signal during start-up stops it gracefully too.
  let servers: Server[] | undefined;
  let metricsServer: MetricsServer | undefined;
  let routes: RoutesService | undefined;
  let stopping = false;
  const finish = (listening: Server[]) =>
    Promise.all([...listening].reverse().map((s) => s.close()))
      .then(() => routes?.close())
      .then(() => metricsServer?.close())
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err) => {
          logger.error({ err }, `shutdown failed: ${String(err)}`);
          process.exit(1);
        },
      );
  const shutdownCommand = () => {
    if (stopping) return;
    stopping = true;
    logger.info('shutdown command received, finishing requests in flight');
    if (servers !== undefined) finish(servers);
  };
  const stop = (signal: 'SIGINT' | 'SIGTERM') => {
    if (stopping) {
      logger.warn(`${signal} while finishing the requests in flight: exiting now without them`);
      process.exit(128 + constants.signals[signal]);
    }
    stopping = true;
    logger.info(`${signal}, finishing requests in flight (${signal} again to exit at once)`);
    if (servers !== undefined) finish(servers);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  logger.debug({ config: loggedConfig(config) }, 'configuration');
  let served: Served;
  try {
    if (routesFile !== undefined) {
      const r = await serveRoutes(config, security, log, routesFile, config.enableShutdown ? shutdownCommand : undefined);
      routes = r.routes;
      served = r;
      onHangup.push(() => {
        void r.routes.reload('SIGHUP');
        return `reloading routes from ${config.routes}`;
      });
    } else {
      served = config.pools
        ? await servePoolsOf(config, security, config.pools, log)
        : await serveTiers(config, security, log, shutdownCommand);
    }
  } catch (e) {
    log.fatal({}, e instanceof StoreProblem ? e.message : listenProblem(e, config));
    process.exit(1);
  }
  servers = served.servers;
  if (config.metricsPort !== undefined) {
    try {
      metricsServer = await serveMetrics(metricsRegistry(served), config.metricsHost, config.metricsPort);
    } catch (e) {
      await Promise.allSettled(servers.map((s) => s.close()));
      log.fatal({}, metricsProblem(e, config));
      process.exit(1);
    }
    const where = describeListen({ host: metricsServer.address.address, port: metricsServer.address.port });
    logger.info({ metrics: `http://${where}/metrics` }, `memproxy serving metrics on http://${where}/metrics`);
  }
  if (stopping) finish(servers);
}

main().catch((err) => {
  process.stderr.write(`memproxy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
