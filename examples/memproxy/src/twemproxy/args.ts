// cleave-twemproxy's command line: nutcracker 0.5.0's options (src/nc.c), read the way getopt_long reads them
// (grouped short flags, -v5 or -v 5, --verbose=5 or --verbose 5, unambiguous long prefixes, `--` ends options),
// with nutcracker's defaults and value rules, and messages that also say what is allowed.

import pkg from '../../package.json';

/** The nutcracker release whose command line, nutcracker.yml and stats port this bin reproduces. */
export const NUTCRACKER_VERSION = '0.5.0';
export const VERSION: string = pkg.version;

export const LOG_MIN = 0;
export const LOG_MAX = 11;
export const LOG_DEFAULT = 5;
export const MBUF_MIN = 512;
export const MBUF_MAX = 16777216;

export interface Options {
  help: boolean;
  version: boolean;
  testConf: boolean;
  daemonize: boolean;
  describeStats: boolean;
  /** Log level, 0 (emergencies only) to 11; larger numbers are taken as 11, as nutcracker does. */
  verbosity: number;
  /** Log file; stderr when undefined. */
  output?: string;
  confFile: string;
  statsPort: number;
  statsAddr: string;
  statsIntervalMs: number;
  pidFile?: string;
  /** Accepted and checked; no effect (buffers here size themselves). */
  mbufSize: number;
}

export const DEFAULT_OPTIONS: Readonly<Options> = Object.freeze({
  help: false,
  version: false,
  testConf: false,
  daemonize: false,
  describeStats: false,
  verbosity: LOG_DEFAULT,
  confFile: 'conf/nutcracker.yml',
  statsPort: 22222,
  statsAddr: '0.0.0.0',
  statsIntervalMs: 30_000,
  mbufSize: 16384,
});

/** A command line nutcracker would refuse; the message names the option and what it takes. Exit status 1. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Flag = 'help' | 'version' | 'testConf' | 'daemonize' | 'describeStats';
type Valued = 'verbose' | 'output' | 'conf-file' | 'stats-port' | 'stats-interval' | 'stats-addr' | 'pid-file' | 'mbuf-size';

const FLAGS: Record<string, { long: string; flag: Flag }> = {
  h: { long: 'help', flag: 'help' },
  '?': { long: 'help', flag: 'help' },
  V: { long: 'version', flag: 'version' },
  t: { long: 'test-conf', flag: 'testConf' },
  d: { long: 'daemonize', flag: 'daemonize' },
  D: { long: 'describe-stats', flag: 'describeStats' },
};
const VALUED: Record<string, Valued> = {
  v: 'verbose',
  o: 'output',
  c: 'conf-file',
  s: 'stats-port',
  i: 'stats-interval',
  a: 'stats-addr',
  p: 'pid-file',
  m: 'mbuf-size',
};
const SHORT_OF: Record<string, string> = {};
for (const [s, f] of Object.entries(FLAGS)) if (s !== '?') SHORT_OF[f.long] = s;
for (const [s, l] of Object.entries(VALUED)) SHORT_OF[l] = s;
const LONG_NAMES = Object.keys(SHORT_OF);

/** nutcracker's nc_atoi: decimal digits only; -1 otherwise (and past what a C int holds). */
function atoi(text: string): number {
  if (!/^[0-9]+$/.test(text)) return -1;
  const n = Number(text);
  return n <= 2147483647 ? n : -1;
}

/** What each valued option takes, for "requires ..." messages. */
const TAKES: Record<Valued, string> = {
  verbose: `a number (log level ${LOG_MIN}-${LOG_MAX})`,
  output: 'a file name',
  'conf-file': 'a file name',
  'stats-port': 'a number (port 1-65535)',
  'stats-interval': 'a number (milliseconds)',
  'stats-addr': 'a string (an IP address to bind)',
  'pid-file': 'a file name',
  'mbuf-size': `a number (${MBUF_MIN}-${MBUF_MAX} bytes)`,
};

function setValued(o: Options, name: Valued, value: string): void {
  const short = SHORT_OF[name]!;
  const requires = () => new UsageError(`option -${short} requires ${TAKES[name]}, got '${value}'`);
  switch (name) {
    case 'verbose': {
      const n = atoi(value);
      if (n < 0) throw requires();
      o.verbosity = Math.min(n, LOG_MAX);
      return;
    }
    case 'stats-port': {
      const n = atoi(value);
      if (n < 0) throw requires();
      if (n < 1 || n > 65535) throw new UsageError(`option -s value ${n} is not a valid port (1-65535)`);
      o.statsPort = n;
      return;
    }
    case 'stats-interval': {
      const n = atoi(value);
      if (n < 0) throw requires();
      o.statsIntervalMs = n;
      return;
    }
    case 'mbuf-size': {
      const n = atoi(value);
      if (n <= 0) throw new UsageError(`option -m requires a non-zero number (${MBUF_MIN}-${MBUF_MAX} bytes), got '${value}'`);
      if (n < MBUF_MIN || n > MBUF_MAX) throw new UsageError(`mbuf chunk size must be between ${MBUF_MIN} and ${MBUF_MAX} bytes, got ${n}`);
      o.mbufSize = n;
      return;
    }
    case 'output':
      o.output = value;
      return;
    case 'conf-file':
      o.confFile = value;
      return;
    case 'stats-addr':
      o.statsAddr = value;
      return;
    case 'pid-file':
      o.pidFile = value;
  }
}

/** A long option by its full name or an unambiguous prefix, as getopt_long takes it. */
function longOption(given: string): string {
  if (LONG_NAMES.includes(given)) return given;
  const matches = LONG_NAMES.filter((n) => n.startsWith(given));
  if (matches.length === 1 && given !== '') return matches[0]!;
  if (matches.length > 1)
    throw new UsageError(`option '--${given}' is ambiguous; possibilities: ${matches.map((m) => '--' + m).join(' ')}`);
  throw new UsageError(`unrecognized option '--${given}' (the options are listed below)`);
}

/** Read nutcracker's command line (without node and the script). Throws UsageError. */
export function parseArgs(argv: readonly string[]): Options {
  const o: Options = { ...DEFAULT_OPTIONS };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      if (i + 1 < argv.length) throw new UsageError(`unexpected argument '${argv[i + 1]}' (nutcracker takes options only)`);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = longOption(eq < 0 ? arg.slice(2) : arg.slice(2, eq));
      const short = SHORT_OF[name]!;
      const flag = FLAGS[short];
      if (flag !== undefined) {
        if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
        o[flag.flag] = true;
        continue;
      }
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`option -${short} requires ${TAKES[name as Valued]}`);
      setValued(o, name as Valued, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // A group of short options; one that takes a value takes the rest of the group, else the next argument.
      for (let j = 1; j < arg.length; j++) {
        const c = arg[j]!;
        const flag = FLAGS[c];
        if (flag !== undefined) {
          o[flag.flag] = true;
          continue;
        }
        const name = VALUED[c];
        if (name === undefined) throw new UsageError(`invalid option -- '${c}' (the options are listed below)`);
        const value = j + 1 < arg.length ? arg.slice(j + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`option -${c} requires ${TAKES[name]}`);
        setValued(o, name, value);
        break;
      }
      continue;
    }
    throw new UsageError(`unexpected argument '${arg}' (nutcracker takes options only; give the configuration file with -c)`);
  }
  return o;
}

/** The same options as a command line, without -d: what the daemon is started with. */
export function daemonArgs(o: Options): string[] {
  const args = [
    `--verbose=${o.verbosity}`,
    `--conf-file=${o.confFile}`,
    `--stats-port=${o.statsPort}`,
    `--stats-addr=${o.statsAddr}`,
    `--stats-interval=${o.statsIntervalMs}`,
    `--mbuf-size=${o.mbufSize}`,
  ];
  if (o.output !== undefined) args.push(`--output=${o.output}`);
  if (o.pidFile !== undefined) args.push(`--pid-file=${o.pidFile}`);
  return args;
}

/** -V's lines (nutcracker prints them to stderr, then a blank line). */
export const VERSION_TEXT = `This is cleave-twemproxy-${VERSION} (nutcracker-${NUTCRACKER_VERSION} compatible)\n\n`;

/** -h: nutcracker's usage, with what differs here. */
export const USAGE = `Usage: cleave-twemproxy [-?hVdDt] [-v verbosity level] [-o output file]
                        [-c conf file] [-s stats port] [-a stats addr]
                        [-i stats interval] [-p pid file] [-m mbuf size]

A drop-in for nutcracker (twemproxy) ${NUTCRACKER_VERSION} in front of memcached pools: the same
command line, nutcracker.yml and stats port; clients may also speak meta and binary.

Options:
  -h, --help             : this help
  -V, --version          : show version and exit
  -t, --test-conf        : test configuration for syntax errors and exit
                           (status 0 when it is ok, 1 when not, with every problem named)
  -d, --daemonize        : run as a daemon (returns once the daemon serves, status 1 if it cannot)
  -D, --describe-stats   : print stats description and exit
  -v, --verbose=N        : set logging level (default: ${LOG_DEFAULT}, min: ${LOG_MIN}, max: ${LOG_MAX})
  -o, --output=S         : set logging file (default: stderr)
  -c, --conf-file=S      : set configuration file (default: ${DEFAULT_OPTIONS.confFile})
  -s, --stats-port=N     : set stats monitoring port (default: ${DEFAULT_OPTIONS.statsPort})
  -a, --stats-addr=S     : set stats monitoring ip (default: ${DEFAULT_OPTIONS.statsAddr})
  -i, --stats-interval=N : set stats aggregation interval in msec (default: ${DEFAULT_OPTIONS.statsIntervalMs} msec)
  -p, --pid-file=S       : set pid file (default: off); written on start, removed on exit
  -m, --mbuf-size=N      : accepted and checked (${MBUF_MIN}-${MBUF_MAX}, default ${DEFAULT_OPTIONS.mbufSize}) for
                           compatibility; no effect: buffers here size themselves

nutcracker.yml: every pool key nutcracker ${NUTCRACKER_VERSION} accepts, each pool on its own listen:
(host:port, or /path/to/socket with optional octal permissions). Memcached pools only:
a pool with redis: true is refused. Where it differs from nutcracker:
  timeout:              backend reply (and connect) timeout in msec; when not given or 0,
                        1000 msec (nutcracker waits for ever)
  server_connections:   connections per server (default 1); a request goes to the one with
                        the fewest requests outstanding
  client_connections:   most client connections on the pool's listen: (0 = no limit);
                        nutcracker ${NUTCRACKER_VERSION} reads it but does not enforce it
  auto_eject_hosts:     false keeps a failing server's keys on it (they fail fast) instead
                        of moving them; an ejected or down server is probed in the background
                        and returns when it answers, after server_retry_timeout
  preconnect:           every server is connected at start whatever its value
  backlog:              the listen: socket's queue of connections not yet accepted
  tcpkeepalive:         TCP keepalive on the connections to the servers
  redis_db:             accepted and checked; no effect (see the README)

Signals: SIGTERM and SIGINT finish the requests in flight, remove the pid file and exit 0;
SIGHUP reopens the log file; SIGTTIN and SIGTTOU raise and lower the log level.
`;

/** -D: the stats port's fields (the same names nutcracker serves), described. */
export const STATS_DESCRIPTION = `pool stats:
  client_eof          "# client connections the client closed"
  client_err          "# client connections closed on an error"
  client_connections  "# client connections open now"
  server_ejects       "# times a server was ejected"
  forward_error       "# requests that failed because their server failed"
  fragments           "# batches multi-key requests were split into"

server stats:
  server_eof          "# requests failed by the server's connection closing"
  server_err          "# requests failed by a server error"
  server_timedout     "# requests failed by a timeout"
  server_connections  "# connections to the server open now"
  server_ejected_at   "when the server was last ejected, in usec since the epoch"
  requests            "# requests"
  request_bytes       "total request bytes"
  responses           "# responses"
  response_bytes      "total response bytes"
  in_queue            "# requests waiting to be sent"
  in_queue_bytes      "request bytes waiting to be sent"
  out_queue           "# requests sent and waiting for their response"
  out_queue_bytes     "request bytes sent and waiting for their response"
`;
