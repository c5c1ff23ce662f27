#!/usr/bin/env node
import { ChunkedHandler } from '@cleave/chunked';
import { formatAddress, type Address } from '@cleave/core';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { l1l2, l1l2Batch } from '@cleave/tiers';
import type { Handler } from '@cleave/protocol';
import { listenAndServe, type ListenTarget, type Server } from '@cleave/server';
import { ConfigError, HELP, loadConfig, type Config } from './config.js';
import { loadSecurity, type Security } from './security.js';
import { describeListen, servePools } from './twemproxy/build.js';

/** The storage the flags describe: one or two tiers, each a Handler, and a line saying what they are for the start-up log. */
interface Tiers {
  l1: Handler;
  l2?: Handler;
  describe: string;
}

/** memcached's default item size limit (-I): chunks keep every backend item within it. */
const BACKEND_ITEM_MAX = 1024 * 1024;

function buildTiers(config: Config): Tiers {
  /** A memcached tier; with --chunked, large values spread over chunk items within the backend's limit. */
  const memcached = (address: Address, label: string): { handler: Handler; describe: string } => {
    const where = 'path' in address ? `unix:${address.path}` : formatAddress(address);
    const backend = (maxItemSize: number) =>
      new MemcachedHandler({ address, connections: config.backendConns, timeoutMs: config.backendTimeout, maxItemSize });
    if (!config.chunked) return { handler: backend(config.maxItemSize), describe: `${label} memcached ${where}` };
    return {
      handler: new ChunkedHandler(backend(BACKEND_ITEM_MAX), { maxItemSize: config.maxItemSize, chunkSize: config.chunkSize }),
      describe: `${label} memcached ${where} (chunked)`,
    };
  };
  const l1Address = config.l1Sock !== undefined ? { path: config.l1Sock } : config.l1Addr;
  const l1 = l1Address
    ? memcached(l1Address, 'L1')
    : {
        handler: new InMemoryHandler({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize }),
        describe: `in-memory L1 ${config.l1InmemSize} bytes`,
      };
  const l2Address = config.l2Sock !== undefined ? { path: config.l2Sock } : config.l2Addr;
  if (!config.l2Enabled || !l2Address) return { l1: l1.handler, describe: l1.describe };
  const l2 = memcached(l2Address, 'L2');
  return { l1: l1.handler, l2: l2.handler, describe: `${l1.describe}, ${l2.describe}` };
}

/** Serve the tiers the flags describe (and the batch port); the servers, first the main one. */
async function serveTiers(config: Config, security: Security): Promise<Server[]> {
  const servers: Server[] = [];
  const listen: ListenTarget[] = [];
  if (!config.tlsOnly) listen.push(config.useDomainSocket ? { path: config.sockPath } : { port: config.port, host: config.host });
  if (security.tls && config.tlsPort !== undefined) listen.push({ port: config.tlsPort, host: config.host, tls: security.tls });
  const auth = security.auth;
  const tiers = buildTiers(config);
  // The whole deployment is one Handler: L1 alone, or L1 in front of L2.
  const handler = tiers.l2 ? l1l2(tiers.l1, tiers.l2) : tiers.l1;
  const limits = {
    maxConnections: config.maxConns,
    maxItemSize: config.maxItemSize,
    idleTimeoutMs: config.idleTimeout,
    maxOutputBytes: config.maxOutputBytes,
  };
  servers.push(await listenAndServe({ listen, handler, limits, auth }));
  if (config.batchPort !== undefined && tiers.l2) {
    // Rend's bulk-loader port: the same tiers as L1L2Batch; the main server owns (and closes) them.
    servers.push(
      await listenAndServe({
        listen: { port: config.batchPort, host: config.host },
        handler: l1l2Batch(tiers.l1, tiers.l2),
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
  return servers;
}

/** A nutcracker.yml --config: each pool on its own listen address, over its own memcached servers. */
async function servePoolsOf(config: Config, security: Security, pools: NonNullable<Config['pools']>): Promise<Server[]> {
  const limits = {
    maxConnections: config.maxConns,
    maxItemSize: config.maxItemSize,
    idleTimeoutMs: config.idleTimeout,
    maxOutputBytes: config.maxOutputBytes,
  };
  const tls = security.tls;
  const served = await servePools(pools, {
    limits,
    auth: security.auth,
    timeoutMs: config.backendTimeout,
    maxItemSize: config.maxItemSize,
    // A yml of one pool (config.ts refuses --tls-port with more): its TLS listener on --host.
    ...(tls !== undefined && config.tlsPort !== undefined && { moreListen: () => [{ port: config.tlsPort!, host: config.host, tls }] }),
  });
  const login = security.users !== undefined ? `, auth required (${security.users} user${security.users === 1 ? '' : 's'})` : '';
  for (const s of served) {
    const c = s.conf;
    process.stdout.write(
      `memproxy listening on ${s.server.addresses.map((a) => describeListen(a) + (a.tls ? ' (TLS)' : '')).join(' and ')}: pool '${s.name}', ${c.servers.length} memcached ` +
        `server${c.servers.length === 1 ? '' : 's'} (${c.distribution}/${c.hash})${login}\n`,
    );
  }
  return served.map((s) => s.server);
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

  const servers = config.pools ? await servePoolsOf(config, security, config.pools) : await serveTiers(config, security);

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
