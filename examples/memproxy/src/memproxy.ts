#!/usr/bin/env node
import { InMemoryHandler } from '@cleave/handler-inmem';
import { ChunkedHandler, MemcachedHandler } from '@cleave/handler-memcached';
import { l1l2, l1l2Batch, l1Only } from '@cleave/orchestrator';
import type { Handler } from '@cleave/protocol';
import { listenAndServe, type ListenTarget, type Server } from '@cleave/server';
import { ConfigError, HELP, loadConfig, type Config } from './config.js';
import { loadSecurity, type Security } from './security.js';

/** The storage tiers the flags describe, and a one-line description of them for the startup log. */
function buildTiers(config: Config): { l1: Handler; l2?: Handler; describe: string } {
  const backend = (address: { host: string; port: number } | { path: string }, maxItemSize: number) =>
    new MemcachedHandler({ address, connections: config.backendConns, timeoutMs: config.backendTimeout, maxItemSize });
  const where = (a: { host: string; port: number } | { path: string }) => ('path' in a ? `unix:${a.path}` : `${a.host}:${a.port}`);
  let l1: Handler;
  let describe: string;
  const l1Address = config.l1Sock !== undefined ? { path: config.l1Sock } : config.l1Addr;
  if (l1Address) {
    if (config.chunked) {
      // Chunks keep every backend item within memcached's default 1 MiB limit.
      l1 = new ChunkedHandler(backend(l1Address, 1024 * 1024), { maxItemSize: config.maxItemSize, chunkSize: config.chunkSize });
      describe = `L1 memcached ${where(l1Address)} (chunked)`;
    } else {
      l1 = backend(l1Address, config.maxItemSize);
      describe = `L1 memcached ${where(l1Address)}`;
    }
  } else {
    l1 = new InMemoryHandler({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize });
    describe = `in-memory L1 ${config.l1InmemSize} bytes`;
  }
  const l2Address = config.l2Sock !== undefined ? { path: config.l2Sock } : config.l2Addr;
  if (config.l2Enabled && l2Address) {
    return { l1, l2: backend(l2Address, config.maxItemSize), describe: `${describe}, L2 memcached ${where(l2Address)}` };
  }
  return { l1, describe };
}

async function main(): Promise<void> {
  let config;
  let security: Security = {};
  try {
    // `pnpm start -- --flag` passes the `--` through; accept it as "options follow".
    const args = process.argv.slice(2);
    config = loadConfig(args[0] === '--' ? args.slice(1) : args);
    if (config !== 'help') security = loadSecurity(config);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`memproxy: ${e.message}\nRun memproxy --help for the options.\n`);
      process.exit(2);
    }
    throw e;
  }
  if (config === 'help') {
    process.stdout.write(HELP);
    return;
  }

  const listen: ListenTarget[] = [];
  if (!config.tlsOnly) listen.push(config.useDomainSocket ? { path: config.sockPath } : { port: config.port, host: config.host });
  if (security.tls && config.tlsPort !== undefined) listen.push({ port: config.tlsPort, host: config.host, tls: security.tls });
  const auth = security.auth;
  const tiers = buildTiers(config);
  const limits = {
    maxConnections: config.maxConns,
    maxItemSize: config.maxItemSize,
    idleTimeoutMs: config.idleTimeout,
    maxOutputBytes: config.maxOutputBytes,
  };
  const servers: Server[] = [];
  servers.push(await listenAndServe({ listen, orchestrator: tiers.l2 ? l1l2 : l1Only, l1: tiers.l1, l2: tiers.l2, limits, auth }));
  if (config.batchPort !== undefined) {
    // Rend's bulk-loader port: same tiers, L1L2Batch; the main server owns (and closes) the handlers.
    servers.push(
      await listenAndServe({
        listen: { port: config.batchPort, host: config.host },
        orchestrator: l1l2Batch,
        l1: tiers.l1,
        l2: tiers.l2,
        limits,
        auth,
        closeHandlers: false,
      }),
    );
  }

  const where = (s: Server) =>
    s.addresses.map((a) => ('path' in a ? `unix:${a.path}` : `${a.host}:${a.port}`) + (a.tls ? ' (TLS)' : '')).join(' and ');
  const tcp = !config.useDomainSocket || security.tls !== undefined;
  const exposure = tcp && config.host === '127.0.0.1' ? ' (loopback only; --host 0.0.0.0 to expose)' : '';
  const login = security.users !== undefined ? `, auth required (${security.users} user${security.users === 1 ? '' : 's'})` : '';
  const batch = servers[1] ? `; L1L2Batch on ${where(servers[1])}` : '';
  process.stdout.write(
    `memproxy listening on ${where(servers[0]!)}${exposure}: ${tiers.describe}${login}, max item ${config.maxItemSize} bytes, max ${config.maxConns} connections${batch}\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`memproxy: ${signal}, finishing requests in flight\n`);
    Promise.all([...servers].reverse().map((s) => s.close())).then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`memproxy: shutdown failed: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  process.stderr.write(`memproxy: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
