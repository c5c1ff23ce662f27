/**
 * The command line, as a function: parse argv, say what will run, run,
 * print, and return the exit status — 0 when every reply was right, 1 on
 * errors (or when the server cannot be reached), 2 on bad options. cli.ts
 * calls it with the process's streams; tests call it with their own.
 */
import { HELP, OptionsError, parseArgs, resolveOptions, USAGE } from './options.js';
import { describeRun, formatReport } from './report.js';
import { runLoad, type RunHooks } from './run.js';

export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  /** What `--version` prints after `cleave-load ` (cli.ts reads it from package.json). */
  version?: () => string;
}

export async function cliMain(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  let resolved;
  try {
    parsed = parseArgs(argv);
    if (parsed.help) {
      io.stdout.write(HELP);
      return 0;
    }
    if (parsed.version) {
      io.stdout.write(`cleave-load ${io.version?.() ?? '(version unknown)'}\n`);
      return 0;
    }
    // The progress line goes to stderr, so it is on by default only when a person watches stderr.
    if (parsed.options.progress === undefined) parsed.options.progress = io.stderr.isTTY === true;
    resolved = resolveOptions(parsed.options);
  } catch (e) {
    if (e instanceof OptionsError) {
      const said = `cleave-load: ${e.message.split('\n').join('\ncleave-load: ')}\n`;
      io.stderr.write(e.showUsage ? `${said}\n${USAGE}` : `${said}Try cleave-load --help.\n`);
      return 2;
    }
    throw e;
  }
  // What runs goes where its report goes; with --json stdout carries the JSON object alone.
  const report = resolved.json ? io.stderr : io.stdout;
  report.write(describeRun(resolved));
  const progress = resolved.progress ? progressLine(io.stderr) : undefined;
  let result;
  try {
    result = await runLoad({ ...parsed.options, seed: resolved.seed }, progress ?? {});
  } finally {
    progress?.clear();
  }
  if (resolved.json) io.stdout.write(JSON.stringify(result) + '\n');
  else io.stdout.write(formatReport(result, { header: false }));
  return result.errors > 0 ? 1 : 0;
}

/**
 * The progress line, once a second from the first: on a terminal one line
 * rewritten in place and cleared before the report; elsewhere (--progress
 * into a pipe or a file) a line each time.
 */
function progressLine(stderr: CliIO['stderr']): RunHooks & { clear(): void } {
  const tty = stderr.isTTY === true;
  let shown = false;
  return {
    onProgress(p) {
      const line = `${p.phase} ${Math.floor(p.elapsed_s)}s  ${p.ops.toLocaleString('en-US')} requests  ${Math.round(p.ops_per_sec).toLocaleString('en-US')} ops/s  ${p.errors} errors`;
      stderr.write(tty ? `\r\x1b[K${line}` : `${line}\n`);
      shown = true;
    },
    clear() {
      if (tty && shown) stderr.write('\r\x1b[K');
    },
  };
}
