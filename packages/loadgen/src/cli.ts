#!/usr/bin/env node
/**
 * cleave-load <workload> [options]: see --help. Exit status 0 when every
 * reply was right, 1 on errors (or when the server cannot be reached), 2 on
 * bad options.
 */
import { HELP, OptionsError, parseArgs, resolveOptions } from './options.js';
import { formatReport } from './report.js';
import { runLoad } from './run.js';

async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs(argv);
    if (parsed.help) {
      process.stdout.write(HELP);
      return 0;
    }
    if (parsed.options.progress === undefined) parsed.options.progress = process.stderr.isTTY === true && !parsed.options.json;
    resolveOptions(parsed.options);
  } catch (e) {
    if (e instanceof OptionsError) {
      process.stderr.write(`cleave-load: ${e.message.split('\n').join('\ncleave-load: ')}\nTry cleave-load --help.\n`);
      return 2;
    }
    throw e;
  }
  const options = parsed.options;
  const live = options.progress === true;
  let shown = false;
  const result = await runLoad(options, {
    ...(live
      ? {
          onProgress(p) {
            // Quiet for short runs: the first line appears after about 2 s.
            if (p.elapsed_s < 1.9 && !shown) return;
            shown = true;
            process.stderr.write(
              `\r\x1b[K${p.phase} ${p.elapsed_s.toFixed(0)}s  ${Math.round(p.ops_per_sec).toLocaleString('en-US')} ops/s  ${p.ops.toLocaleString('en-US')} requests  errors ${p.errors}`,
            );
          },
        }
      : {}),
  });
  if (shown) process.stderr.write('\r\x1b[K');
  if (options.json) process.stdout.write(JSON.stringify(result) + '\n');
  else process.stdout.write(formatReport(result));
  return result.errors > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`cleave-load: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
