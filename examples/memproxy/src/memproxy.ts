#!/usr/bin/env node
import { constants } from 'node:os';
import { dirname } from 'node:path';
import { BroadcastChannel } from 'node:worker_threads';
import type { Address, Logger } from '@cleave/core';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { l1l2Batch } from '@cleave/tiers';
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
import { lockStore, StoreProblem } from './store.js';
import { HANGUP_CHANNEL, type ThreadData } from './thread.js';
import { backendAddress, buildTiers, lmdbStores, sharedTiers, tiersHandler } from './tiers.js';
import { VERSION } from './twemproxy/args.js';
import { describeListen, servePools, servePoolsInThreads } from './twemproxy/build.js';
import { describeRoutes, loadRoutes, RoutesService } from './routes/serve.js';
import { RoutesError, type RoutesSpec } from './routes/schema.js';

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
    `max ${config.maxConns} connections${threadsOf(config)}${batch !== undefined ? `; L1L2Batch on ${batch}` : ''}`
  );
}

/** ", 4 threads" after what serves, with --threads above 1. */
const threadsOf = (config: Config) => (config.threads > 1 ? `, ${config.threads} threads` : '');

/** The module every serving thread loads (dist/thread.js beside dist/memproxy.js): it builds the thread's Handler. */
const THREAD_MODULE = new URL('./thread.js', import.meta.url);

function poolLine(config: Config, pool: NonNullable<Config['pools']>[number], security: Security, listeners: string): string {
  const n = pool.servers.length;
  return `${listeners}: pool '${pool.name}', ${n} memcached server${n === 1 ? '' : 's'} (${pool.distribution}/${pool.hash})${loginOf(security)}${threadsOf(config)}`;
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
      poolLine(config, p, security, [describeListen(p.listenAddress), ...(tlsListener ? [tlsListener] : [])].join(' and ')),
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
  const limits = limitsOf(config);
  const onError = onErrorOf(log.logger);
  const metrics = config.metricsPort !== undefined;
  // --enable-shutdown: the shutdown command stops memproxy as a SIGTERM does.
  const shutdown = config.enableShutdown ? onShutdown : undefined;
  if (config.threads > 1) {
    // Every thread builds the tiers itself (thread.ts); what they share is made here, once. No LMDB store and no
    // batch port with threads (config.ts), and each thread's backends are its own: none to list here.
    const data: ThreadData = { config, shared: sharedTiers(config) };
    const server = await listenAndServe({
      listen,
      threads: config.threads,
      worker: { module: THREAD_MODULE, data },
      limits,
      auth,
      onError,
      metrics,
      shutdown,
    });
    log.logger.info(
      { version: VERSION, listen: listenedOn(server), threads: config.threads, backends: tierBackends(config) },
      `memproxy listening on ${tiersLine(config, security, describeServer(server), undefined)}`,
    );
    return { servers: [server], backends: [] };
  }
  for (const s of lmdbStores(config)) await lockStore(config.labels[s.flag] ?? `--${s.flag}`, s.path);
  const tiers = buildTiers(config, log.logger);
  const handler = tiersHandler(tiers);
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

/** The memcached backends the flags name, as the start-up line lists them: "l1 127.0.0.1:11311". */
function tierBackends(config: Config): string[] {
  const backends: string[] = [];
  const l1 = backendAddress(config.l1Sock, config.l1Addr);
  const l2 = config.l2Lmdb === undefined ? backendAddress(config.l2Sock, config.l2Addr) : undefined;
  if (l1 !== undefined) backends.push(`l1 ${describeListen(l1)}`);
  if (config.l2Enabled && l2 !== undefined) backends.push(`l2 ${describeListen(l2)}`);
  return backends;
}

/** Where a server listens, for the start-up line's fields. */
const listenedOn = (s: Server) => s.addresses.map((a) => withTls(describeListen(a), a.tls));

/** A nutcracker.yml --config: each pool on its own listen address, over its own memcached servers. */
async function servePoolsOf(config: Config, security: Security, pools: NonNullable<Config['pools']>, log: Log): Promise<Served> {
  const tls = security.tls;
  const options = {
    limits: limitsOf(config),
    auth: security.auth,
    timeoutMs: config.backendTimeout,
    maxItemSize: config.maxItemSize,
    onError: onErrorOf(log.logger),
    logger: log.logger,
    metrics: config.metricsPort !== undefined,
    // A yml of one pool (config.ts refuses --tls-port with more): its TLS listener on --host.
    ...(tls !== undefined && config.tlsPort !== undefined && { moreListen: () => [{ port: config.tlsPort!, host: config.host, tls }] }),
  };
  if (config.threads > 1) {
    // Each thread builds each pool over backend connections of its own (thread.ts): no backends to list here.
    const inThreads = await servePoolsInThreads(
      pools,
      config.threads,
      (_conf, pool) => ({ module: THREAD_MODULE, data: { config, shared: {}, pool } satisfies ThreadData }),
      options,
    );
    for (const s of inThreads) logPool(config, security, log, s);
    return { servers: inThreads.map((s) => s.server), backends: [] };
  }
  const served = await servePools(pools, options);
  const backends: MetricsBackend[] = [];
  for (const s of served) {
    for (const member of s.pool.members) {
      if (member.handler instanceof MemcachedHandler) backends.push({ handler: member.handler, tier: s.name, member });
    }
    logPool(config, security, log, s);
  }
  return { servers: served.map((s) => s.server), backends };
}

/** A pool's start-up line. */
function logPool(
  config: Config,
  security: Security,
  log: Log,
  s: { name: string; conf: NonNullable<Config['pools']>[number]; server: Server },
) {
  log.logger.info(
    {
      version: VERSION,
      listen: listenedOn(s.server),
      pool: s.name,
      servers: s.conf.servers.map((m) => `${m.name} ${describeListen(m.address)}`),
      ...(config.threads > 1 && { threads: config.threads }),
    },
    `memproxy listening on ${poolLine(config, s.conf, security, describeServer(s.server))}`,
  );
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
  if (config.threads > 1 && config.logFile !== undefined) {
    // Each serving thread has the file open too (thread.ts): it reopens it when told.
    const hangups = new BroadcastChannel(HANGUP_CHANNEL);
    hangups.unref();
    onHangup.push(() => {
      hangups.postMessage('reopen');
      return `told the ${config.threads} serving threads to reopen it`;
    });
  }
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
