// Shared pieces of the side-by-side load benchmarks: tools on the machine, the mcblast load generator
// (built from tools/mcblast), free ports, process start-up, mcblast runs, medians.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** The script's arguments as given, without the leading `--` pnpm may pass on. */
export const scriptArgv = () => process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));

/**
 * A script's options, as node:util parseArgs reads them (`--x` and `--no-x`, a leading `--` from pnpm dropped),
 * with `-h`/`--help` printing `usage` and exit 0, and a mistake printing itself and `usage` and exit 2.
 */
export function scriptArgs(usage, options) {
  try {
    const given = scriptArgv();
    const takesValue = (flag) => options[flag.replace(/^--/, '')]?.type === 'string';
    const args = [];
    for (let i = 0; i < given.length; i++) {
      // `--seconds -1`: a negative number for --seconds (refused as such later), not a flag of its own.
      if (takesValue(given[i]) && /^-\d/.test(given[i + 1] ?? '')) args.push(`${given[i]}=${given[++i]}`);
      else args.push(given[i]);
    }
    const { values } = parseArgs({ args, allowNegative: true, options: { ...options, help: { type: 'boolean', short: 'h' } } });
    if (values.help) {
      process.stdout.write(usage);
      process.exit(0);
    }
    return values;
  } catch (e) {
    usageError(e.message, usage);
  }
}

/** Print what is wrong with the arguments, then the usage; exit 2. */
export function usageError(problem, usage) {
  process.stderr.write(`${problem}\n${usage}`);
  process.exit(2);
}

/** `value` as a number within [min, max] (`integer`: a whole number), or a usage error naming `flag`. */
export function numberArg(flag, value, { min, max, integer = false }, usage) {
  const n = Number(value);
  if (value === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    usageError(`${flag} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, got '${value}'`, usage);
  }
  return n;
}

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/**
 * Make sure a command is on the machine: when it is missing, install its Debian package with apt-get if we
 * are root, and otherwise throw an Error that gives the command to run.
 */
export function ensureTool(cmd, pkg) {
  if (has(cmd)) return;
  if (process.getuid?.() !== 0) throw new Error(`${cmd} is not installed; install it with: sudo apt-get install -y ${pkg}`);
  process.stderr.write(`installing ${pkg} with apt-get ...\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [
    ['update', '-q'],
    ['install', '-y', '-q', pkg],
  ]) {
    if (spawnSync('apt-get', args, { stdio: 'inherit', env }).status !== 0)
      throw new Error(`apt-get ${args.join(' ')} failed; install ${pkg} by hand`);
  }
}

const mcblastSource = join(root, 'tools/mcblast/mcblast.c');
const mcblastBuilt = join(root, 'tools/mcblast/build/mcblast');

/**
 * The path of the mcblast load generator. Without `bin`, the one built from tools/mcblast/mcblast.c into
 * tools/mcblast/build/ (git ignores it), compiled with the machine's `cc` when missing or older than its
 * source; a missing compiler is installed (gcc) as ensureTool installs tools. With `bin`, that binary as is.
 */
export function ensureMcblast(bin) {
  if (bin !== undefined) {
    if (!existsSync(bin)) throw new Error(`--mcblast ${bin}: no such file`);
    return bin;
  }
  if (existsSync(mcblastBuilt) && statSync(mcblastBuilt).mtimeMs >= statSync(mcblastSource).mtimeMs) return mcblastBuilt;
  try {
    ensureTool('cc', 'gcc');
  } catch (e) {
    throw new Error(`building the load generator (tools/mcblast/mcblast.c) needs a C compiler: ${e.message}`);
  }
  mkdirSync(join(root, 'tools/mcblast/build'), { recursive: true });
  const tmp = `${mcblastBuilt}.${process.pid}`; // renamed into place, so a concurrent run never sees half a binary
  execFileSync('cc', ['-O2', '-std=c11', '-Wall', '-o', tmp, mcblastSource, '-pthread'], { stdio: 'inherit' });
  renameSync(tmp, mcblastBuilt);
  return mcblastBuilt;
}

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export async function waitPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} never opened`);
}

/**
 * One mcblast run; throws when mcblast saw a wrong reply (or failed). keysPerGet > 1 makes every get a text
 * multi-get of that many keys (`-g`), counted as one op. preload: false leaves out `-P` (the keys were set by
 * an earlier call); seconds: 0 with preload only sets the keys. expectHits makes any miss an error (every key
 * was set before); mayMiss makes none an error (a server that evicts). count is how many requests the timed part
 * answered; hits and misses count keys.
 */
export function mcblast(
  bin,
  port,
  {
    binary = false,
    depth = 1,
    conns = 50,
    seconds = 3,
    setRatio = 0.1,
    valueSize = 100,
    keys = 10000,
    keysPerGet = 1,
    preload = true,
    expectHits = false,
    mayMiss = false,
  },
) {
  const args = [
    '-p',
    String(port),
    '-c',
    String(conns),
    '-d',
    String(depth),
    '-r',
    String(setRatio),
    '-v',
    String(valueSize),
    '-k',
    String(keys),
    '-t',
    String(seconds),
  ];
  if (preload) args.push('-P');
  if (expectHits) args.push('-E');
  if (mayMiss) args.push('-M');
  if (keysPerGet > 1) args.push('-g', String(keysPerGet));
  if (binary) args.push('-B');
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  const line = r.stdout?.trim() ?? '';
  const m = Object.fromEntries(line.split(/\s+/).map((kv) => kv.split('=')));
  if (r.status !== 0 || m.errors !== '0') {
    const why = r.error ? r.error.message : r.signal ? `killed by ${r.signal}` : `exit ${r.status}`;
    throw new Error(
      `mcblast ${args.join(' ')} against port ${port} failed (${why}): ${line || '(no result line)'}\n${r.stderr?.trim() ?? ''}`,
    );
  }
  return {
    ops: Number(m.ops_per_sec),
    p50: Number(m.p50_us),
    p99: Number(m.p99_us),
    p999: Number(m.p999_us),
    count: Number(m.ops),
    hits: Number(m.hits),
    misses: Number(m.misses),
  };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Medians of throughput and latency over rounds. */
export const pick = (runs) => ({
  ops: median(runs.map((x) => x.ops)),
  p50: median(runs.map((x) => x.p50)),
  p99: median(runs.map((x) => x.p99)),
});

export const fmt = (n) => Math.round(n).toLocaleString('en-US');

/** Clock ticks per second, the unit of /proc/<pid>/stat's CPU times (USER_HZ). */
export function clockTicks() {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100; // no getconf: Linux's USER_HZ is 100 everywhere that matters
  }
}

/**
 * The processes a benchmark starts: `start(name, cmd, args)` logs each to `dir/<name>.log`; `stopAll()` kills
 * those still running, and so does the script's exit, which also removes `dir`.
 */
export function benchProcesses(dir) {
  const procs = [];
  const start = (name, cmd, args) => {
    const log = openSync(join(dir, `${name}.log`), 'a');
    const p = spawn(cmd, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    procs.push(p);
    return p;
  };
  const stopAll = () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  };
  process.on('exit', () => {
    stopAll();
    rmSync(dir, { recursive: true, force: true });
  });
  return { start, stopAll };
}
