/**
 * The command line, as a function: parse argv, run, print, and return the
 * exit status — 0 when every reply was right, 1 on errors (or when the
 * server cannot be reached), 2 on bad options. cli.ts calls it with the
 * process's streams; tests call it with their own.
 */
import { HELP, OptionsError, parseArgs, resolveOptions } from './options.js';
import { formatReport } from './report.js';
import { runLoad } from './run.js';

export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

export async function cliMain(argv: readonly string[], io: CliIO): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv);
    if (parsed.help) {
      io.stdout.write(HELP);
      return 0;
    }
    // The progress line goes to stderr, so it is on by default only when a person watches stderr.
    if (parsed.options.progress === undefined) parsed.options.progress = io.stderr.isTTY === true;
    resolveOptions(parsed.options);
  } catch (e) {
    if (e instanceof OptionsError) {
      io.stderr.write(`cleave-load: ${e.message.split('\n').join('\ncleave-load: ')}\nTry cleave-load --help.\n`);
      return 2;
    }
    throw e;
  }
  const options = parsed.options;
  let shown = false;
  const result = await runLoad(options, {
    ...(options.progress === true
      ? {
          onProgress(p) {
            // Quiet for short runs: the first line appears after about 2 s.
            if (p.elapsed_s < 1.9 && !shown) return;
            shown = true;
            io.stderr.write(
              `\r\x1b[K${p.phase} ${p.elapsed_s.toFixed(0)}s  ${Math.round(p.ops_per_sec).toLocaleString('en-US')} ops/s  ${p.ops.toLocaleString('en-US')} requests  errors ${p.errors}`,
            );
          },
        }
      : {}),
  });
  if (shown) io.stderr.write('\r\x1b[K');
  io.stdout.write(options.json ? JSON.stringify(result) + '\n' : formatReport(result));
  return result.errors > 0 ? 1 : 0;
}
