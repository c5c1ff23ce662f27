#!/usr/bin/env node
// Runs a workspace package's bin (memproxy, cleave-twemproxy, cleave-load) in this process:
//
//   node scripts/run-bin.mjs <bin> [args ...]
//
// What is not built yet is built first (JavaScript only, quietly); what is built runs as it is. Running
// in this process, not a child, lets a signal sent to `npx pnpm <script>` reach the bin through the
// package managers' forwarding, and a watch on those launchers stops it when they are gone.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { BuildError, buildChanged, stopBuilds, workspacePackages } from './build-changed.mjs';

/** /proc/PID/stat's parent pid and start time (fields 4 and 22; the command name before them may hold spaces). */
function procStat(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(fields[1]), start: fields[19] };
  } catch {
    return undefined;
  }
}

/** Whether a package manager started PID for a script (npm and pnpm set npm_lifecycle_event for it). */
function startedByPackageManager(pid) {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .some((v) => v.startsWith('npm_lifecycle_event='));
  } catch {
    return false;
  }
}

/**
 * The processes that launched this one for a package-manager script, nearest first: each ancestor the
 * package managers started, and the command above them that the user ran (npx or pnpm).
 */
function launcherChain() {
  const chain = [];
  for (let pid = process.ppid; pid > 1 && chain.length < 32; ) {
    const stat = procStat(pid);
    if (!stat) break;
    chain.push({ pid, start: stat.start });
    if (!startedByPackageManager(pid)) break;
    pid = stat.ppid;
  }
  return chain;
}

/**
 * Calls onGone once, with the pid, when a launcher of this package-manager script has exited: npx and
 * the shells between package managers die of a TERM without passing it on, which would leave this
 * process serving alone. Where /proc is missing, a change of parent says the same. Nothing is watched
 * when no package manager started this process (`node scripts/start.mjs &` may outlive its shell), and
 * the watch never keeps the process alive.
 */
export function watchLaunchers(onGone, intervalMs = 1000) {
  if (process.env.npm_lifecycle_event === undefined) return;
  const chain = existsSync('/proc/self/stat') ? launcherChain() : [];
  const parent = process.ppid;
  const timer = setInterval(() => {
    const gone =
      chain.length > 0 ? chain.find((p) => procStat(p.pid)?.start !== p.start)?.pid : process.ppid !== parent ? parent : undefined;
    if (gone === undefined) return;
    clearInterval(timer);
    onGone(gone);
  }, intervalMs);
  timer.unref();
}

/** The files a package declares for running (bins, main, module, exports), types left out. */
function runtimeFiles(manifest) {
  const files = [];
  const add = (v, key) => {
    if (typeof v === 'string') {
      if (key !== 'types' && !v.endsWith('package.json')) files.push(v);
    } else if (v && typeof v === 'object') {
      for (const [k, w] of Object.entries(v)) add(w, k);
    }
  };
  add(manifest.bin);
  add(manifest.main);
  add(manifest.module);
  add(manifest.exports);
  return files;
}

/** The package that declares the bin, and the bin's file. */
function findBin(bin) {
  for (const pkg of workspacePackages().values()) {
    const bins =
      typeof pkg.manifest.bin === 'string' ? { [pkg.name.replace(/^@[^/]+\//, '')]: pkg.manifest.bin } : (pkg.manifest.bin ?? {});
    if (bins[bin] !== undefined) return { pkg, file: resolve(pkg.dir, bins[bin]) };
  }
  return undefined;
}

/**
 * Runs the bin with args. build 'missing' builds the bin's package and its dependencies only when one
 * of their files is missing; 'changed' brings whatever changed up to date first (`pnpm start`).
 */
export async function runBin(bin, args, { build = 'missing' } = {}) {
  const found = findBin(bin);
  if (!found) {
    process.stderr.write(`run-bin: no workspace package has a bin named ${bin}\n`);
    process.exit(2);
  }
  const { pkg, file } = found;

  // A signal (or the launchers' exit) while building stops the builds; once the bin runs, its own handlers take over.
  const stopBuilding = (signal) => {
    stopBuilds(signal);
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.on('SIGINT', stopBuilding);
  process.on('SIGTERM', stopBuilding);
  // A launcher gone after the bin got its INT or TERM (Ctrl-C reaches pnpm and npx too) must not send the
  // TERM that would cut its finishing short: once the bin handles a signal, its arrival is noted beside it.
  let signalled = false;
  const noted = new Set();
  const noteSignals = (event) => {
    if ((event === 'SIGINT' || event === 'SIGTERM') && !noted.has(event)) {
      noted.add(event);
      process.on(event, () => (signalled = true));
    }
  };
  watchLaunchers((pid) => {
    if (signalled) return;
    process.stderr.write(`${bin}: the command that started it (pid ${pid}) has exited; stopping\n`);
    process.kill(process.pid, 'SIGTERM');
  });

  try {
    if (build === 'changed') {
      await buildChanged({ targets: [pkg.name], dts: false });
    } else {
      const closure = [pkg];
      for (let i = 0; i < closure.length; i++) for (const d of closure[i].deps) if (!closure.includes(d)) closure.push(d);
      const missing = closure.some((p) => runtimeFiles(p.manifest).some((f) => !existsSync(join(p.dir, f))));
      if (missing) await buildChanged({ targets: [pkg.name], dts: false, announce: `${bin} is not built yet: building` });
    }
  } catch (err) {
    process.stderr.write(`${err instanceof BuildError ? err.message : `${bin}: ${err instanceof Error ? err.message : String(err)}`}\n`);
    process.exit(1);
  }
  process.off('SIGINT', stopBuilding);
  process.off('SIGTERM', stopBuilding);
  process.on('newListener', noteSignals);

  // pnpm passes on the `--` of `pnpm <script> -- <options>`; a bin such as cleave-twemproxy would take it for an argument.
  process.argv = [process.argv[0], file, ...(args[0] === '--' ? args.slice(1) : args)];
  await import(pathToFileURL(file).href);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [bin, ...args] = process.argv.slice(2);
  if (bin === undefined) {
    process.stderr.write('usage: node scripts/run-bin.mjs <bin> [args ...]\n');
    process.exit(2);
  }
  await runBin(bin, args);
}
