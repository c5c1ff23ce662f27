// cleave-twemproxy: nutcracker's life cycle (src/nc.c) over cleave's pools. Options; -V/-h/-D and -t answer and
// exit; -d starts the same program again in the background and returns once it serves; otherwise open the log,
// read nutcracker.yml, serve every pool on its listen address and the stats port, write the pid file, and on
// SIGTERM/SIGINT finish what is in flight, remove the pid file and exit 0.

import { spawn } from 'node:child_process';
import { openSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { PoolMember } from '@cleave/router';
import {
  daemonArgs,
  NUTCRACKER_VERSION,
  parseArgs,
  STATS_DESCRIPTION,
  UsageError,
  USAGE,
  VERSION,
  VERSION_TEXT,
  type Options,
} from './args.js';
import { ConfError, loadConf, type ConfPool } from './conf.js';
import { describeListen, servePools, type ServedPool } from './build.js';
import { Log, LogLevel } from './log.js';
import { startStatsServer, type StatsServer } from './stats.js';

const NAME = 'cleave-twemproxy';

/** What the daemon tells the process that started it (over the IPC channel -d opens). */
type DaemonMessage = { ready: number } | { failed: string };

function stderr(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** -t: nutcracker's verdict lines, with every problem named before it. Exit 0 or 1. */
async function testConf(file: string): Promise<number> {
  try {
    await loadConf(file);
  } catch (e) {
    if (!(e instanceof ConfError)) throw e;
    for (const p of e.problems) stderr(`${NAME}: ${p}`);
    stderr(`${NAME}: configuration file '${file}' syntax is invalid`);
    return 1;
  }
  stderr(`${NAME}: configuration file '${file}' syntax is ok`);
  return 0;
}

/**
 * -d: Node cannot fork, so the daemon is this program started again, detached (its own session), with the same
 * options minus -d and its output going to the log file or /dev/null. It reports over IPC once it serves.
 */
async function daemonize(o: Options): Promise<number> {
  let out: number | 'ignore' = 'ignore';
  if (o.output !== undefined) {
    try {
      out = openSync(o.output, 'a', 0o644);
    } catch (e) {
      stderr(`${NAME}: opening log file '${o.output}' failed: ${(e as Error).message}`);
      return 1;
    }
  }
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, ...daemonArgs(o)], {
    detached: true,
    stdio: ['ignore', out, out, 'ipc'],
  });
  return new Promise((resolve) => {
    let settled = false;
    const settle = (code: number) => {
      if (settled) return;
      settled = true;
      if (child.connected) child.disconnect();
      child.unref();
      resolve(code);
    };
    child.on('message', (m: DaemonMessage) => {
      if ('ready' in m) settle(0);
      else {
        stderr(`${NAME}: ${m.failed}`);
        settle(1);
      }
    });
    child.once('error', (e) => {
      stderr(`${NAME}: starting the daemon failed: ${e.message}`);
      settle(1);
    });
    child.once('exit', (code, signal) => {
      stderr(`${NAME}: the daemon exited (${signal ?? `status ${code}`}) before it served`);
      settle(1);
    });
  });
}

/** The log line of a pool member's change of state (ejected, down, back up), as the pool reports it. */
function logState(log: Log, conf: ConfPool, m: PoolMember): void {
  const what =
    m.state === 'up'
      ? 'is back in service'
      : m.state === 'ejected'
        ? 'was ejected from the ring'
        : 'is down (its keys fail until it answers)';
  log.at(m.state === 'up' ? LogLevel.NOTICE : LogLevel.WARN, `pool '${conf.name}': server '${m.label}' ${what}`);
}

/**
 * Serve until SIGTERM/SIGINT, then exit 0 (1 when something would not close). Returns the exit status when it
 * cannot start, or when a signal comes while it starts; otherwise never returns.
 */
async function run(o: Options): Promise<number> {
  const daemon = typeof process.send === 'function';
  /** Tell the process that started the daemon why it did not start. */
  const tell = (message: string): Promise<void> =>
    new Promise((resolve) => {
      if (daemon) process.send!({ failed: message } satisfies DaemonMessage, undefined, {}, () => resolve());
      else resolve();
    });
  let log: Log;
  try {
    log = new Log(o.verbosity, o.output);
  } catch (e) {
    const message = `opening log file '${o.output}' failed: ${(e as Error).message}`;
    stderr(`${NAME}: ${message}`);
    await tell(message);
    return 1;
  }
  log.always(`${NAME}-${VERSION} (nutcracker-${NUTCRACKER_VERSION} compatible) on node ${process.version} started on pid ${process.pid}`);

  // What has started so far, for shutdown to close.
  let served: ServedPool[] = [];
  let stats: StatsServer | undefined;
  let pidWritten = false;
  /** Close what has started, remove the pid file, write the last line; the exit status. */
  const shutdown = async (status: number): Promise<number> => {
    const results = await Promise.allSettled([stats?.close(), ...served.map((s) => s.server.close())]);
    if (pidWritten) {
      try {
        unlinkSync(o.pidFile!);
      } catch (e) {
        log.error(`unlink of pid file '${o.pidFile}' failed, ignored: ${(e as Error).message}`);
      }
    }
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const f of failed) log.error(`shutdown: ${String(f.reason)}`);
    log.always('done');
    log.close();
    return failed.length === 0 ? status : 1;
  };
  const abort = async (message: string): Promise<number> => {
    log.error(message);
    const status = await shutdown(1);
    await tell(message);
    return status;
  };

  // Signals from the start: one that comes while starting is acted on once the step under way is done.
  let signalled: NodeJS.Signals | undefined;
  let serving = false;
  const stop = (signal: NodeJS.Signals) => {
    if (signalled !== undefined) return;
    signalled = signal;
    log.always(`signal ${signal} received, finishing requests in flight and exiting`);
    if (serving) void shutdown(0).then((status) => process.exit(status));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    log.always('signal SIGHUP received, reopening log file');
    log.reopen();
  });
  process.on('SIGTTIN', () => log.up());
  process.on('SIGTTOU', () => log.down());

  let pools: ConfPool[];
  try {
    pools = await loadConf(o.confFile);
  } catch (e) {
    if (!(e instanceof ConfError)) throw e;
    for (const p of e.problems) log.error(`conf: ${p}`);
    stderr(`${NAME}: configuration file '${o.confFile}' syntax is invalid`);
    const status = await shutdown(1);
    await tell(`configuration file '${o.confFile}' syntax is invalid: ${e.problems.join('; ')}`);
    return status;
  }
  if (signalled) return shutdown(0);

  try {
    served = await servePools(pools, {
      onError: (err) => log.error(err instanceof Error ? err.message : String(err)),
      onStateChange: (conf, m) => logState(log, conf, m),
    });
  } catch (e) {
    return abort((e as Error).message);
  }
  if (signalled) return shutdown(0);
  try {
    stats = await startStatsServer({
      host: o.statsAddr,
      port: o.statsPort,
      intervalMs: o.statsIntervalMs,
      source: hostname(),
      version: NUTCRACKER_VERSION,
      pools: served.map((s) => ({ name: s.name, server: s.server, pool: s.pool })),
    });
  } catch (e) {
    return abort(`stats: listen on ${o.statsAddr}:${o.statsPort} failed: ${(e as Error).message}`);
  }
  if (signalled) return shutdown(0);
  if (o.pidFile !== undefined) {
    try {
      // nutcracker writes the bare number, no newline.
      writeFileSync(o.pidFile, String(process.pid), { mode: 0o644 });
      pidWritten = true;
    } catch (e) {
      return abort(`opening pid file '${o.pidFile}' failed: ${(e as Error).message}`);
    }
  }

  for (const s of served) {
    const c = s.conf;
    log.notice(
      `pool '${s.name}' listening on ${s.server.addresses.map(describeListen).join(', ')}: ${c.servers.length} server${c.servers.length === 1 ? '' : 's'}, ` +
        `${c.distribution}/${c.hash}${c.hashTag !== undefined ? ` hash_tag '${c.hashTag}'` : ''}, auto_eject_hosts ${c.autoEjectHosts}`,
    );
    if (log.enabled(LogLevel.INFO)) for (const m of s.pool.members) log.info(`pool '${s.name}': server '${m.label}' weight ${m.weight}`);
  }
  log.notice(`stats listening on ${o.statsAddr}:${o.statsPort}, aggregated every ${o.statsIntervalMs} msec`);
  serving = true;
  if (daemon) process.send!({ ready: process.pid } satisfies DaemonMessage, undefined, {}, () => process.disconnect());
  return new Promise<number>(() => {
    // Serves until a signal ends the process.
  });
}

/** The whole program: returns the exit status, or serves until a signal. */
export async function main(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    // nutcracker prints the problem, then its usage, and exits 1.
    process.stderr.write(`${NAME}: ${e.message}\n${USAGE}`);
    return 1;
  }
  if (o.help || o.version || o.describeStats) {
    process.stderr.write(VERSION_TEXT);
    if (o.help) process.stderr.write(USAGE);
    if (o.describeStats) process.stderr.write(STATS_DESCRIPTION);
    return 0;
  }
  if (o.testConf) return testConf(o.confFile);
  if (o.daemonize) return daemonize(o);
  return run(o);
}
