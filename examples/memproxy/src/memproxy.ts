#!/usr/bin/env node
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1Only } from '@cleave/orchestrator';
import { listenAndServe, type ListenTarget } from '@cleave/server';
import { ConfigError, HELP, loadConfig } from './config.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.argv.slice(2));
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

  const listen: ListenTarget = config.useDomainSocket ? { path: config.sockPath } : { port: config.port, host: config.host };
  const server = await listenAndServe({
    listen,
    orchestrator: l1Only,
    l1: new InMemoryHandler({ maxBytes: config.l1InmemSize, maxItemSize: config.maxItemSize }),
    limits: {
      maxConnections: config.maxConns,
      maxItemSize: config.maxItemSize,
      idleTimeoutMs: config.idleTimeout,
    },
  });

  const where = server.addresses.map((a) => ('path' in a ? `unix:${a.path}` : `${a.host}:${a.port}`)).join(', ');
  const exposure = !config.useDomainSocket && config.host === '127.0.0.1' ? ' (loopback only; --host 0.0.0.0 to expose)' : '';
  process.stdout.write(
    `memproxy listening on ${where}${exposure}: in-memory L1 ${config.l1InmemSize} bytes, max item ${config.maxItemSize} bytes, max ${config.maxConns} connections\n`,
  );

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`memproxy: ${signal}, finishing requests in flight\n`);
    server.close().then(
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
