#!/usr/bin/env node
// Builds the workspace packages whose inputs changed since their last build, each with its own "build"
// script, in dependency order, one per core at a time. Quiet unless a build fails.
//
//   node scripts/build-changed.mjs [--no-dts] [--force] [package name or folder ...]
//
// No names: every package under packages/ and examples/ that has a build script. Names: those packages
// and the workspace packages they depend on. --no-dts builds JavaScript only (what running needs); a full
// build (the default) also makes the .d.ts files. --force rebuilds even what looks up to date.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Files every package's build reads besides its own: the shared compiler settings and the tool versions. */
const SHARED_INPUTS = ['tsconfig.json', 'tsconfig.build.json', 'pnpm-lock.yaml'];
/** The build's own notes, beside each package's dependencies: never packed, and kept by `tsup --clean`. */
const STAMP = 'node_modules/.cache/cleave/build.json';
const OUT_DIR = 'dist';

/** Every workspace package under packages/ and examples/, by name. */
export function workspacePackages(root = ROOT) {
  const byName = new Map();
  for (const group of ['packages', 'examples']) {
    const groupDir = join(root, group);
    if (!existsSync(groupDir)) continue;
    for (const entry of readdirSync(groupDir, { withFileTypes: true })) {
      const dir = join(groupDir, entry.name);
      if (!entry.isDirectory() || !existsSync(join(dir, 'package.json'))) continue;
      const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
      byName.set(manifest.name, { name: manifest.name, dir, manifest });
    }
  }
  // The workspace packages each one needs at run time (devDependencies serve its tests, not its build).
  for (const pkg of byName.values()) {
    const m = pkg.manifest;
    const names = Object.keys({ ...m.dependencies, ...m.peerDependencies, ...m.optionalDependencies });
    pkg.deps = names.filter((n) => byName.has(n)).map((n) => byName.get(n));
  }
  return byName;
}

/**
 * The package's build script without its .d.ts step, or undefined when that cannot be said safely (a
 * tsup config file, `--dts-only`, `--dts <entry>`): then the full script runs. A script with no --dts
 * at all is returned as it is.
 */
export function withoutDts(script, hasTsupConfig = false) {
  if (hasTsupConfig) return undefined;
  const stripped = script.replace(/\s+--dts(?=\s+-|\s*(?:&&|;|$))/g, '');
  return /dts/.test(stripped) ? undefined : stripped;
}

/** Every file below dir, as paths relative to it, sorted; none when dir is missing. */
function filesBelow(dir, prefix = '') {
  if (!existsSync(dir)) return [];
  const files = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) files.push(...filesBelow(join(dir, e.name), `${prefix}${e.name}/`));
    else if (e.isFile()) files.push(`${prefix}${e.name}`);
  }
  return files.sort();
}

/** A digest of the package's own build inputs: src/, package.json, its tsconfig or tsup config, the shared files. */
function ownInputs(pkg, root) {
  const hash = createHash('sha256');
  const add = (label, file) => hash.update(`${label}\0`).update(readFileSync(file)).update('\0');
  for (const f of SHARED_INPUTS) if (existsSync(join(root, f))) add(f, join(root, f));
  for (const f of readdirSync(pkg.dir).sort()) {
    if (f === 'package.json' || /^(tsconfig.*\.json|tsup\.config\.\w+)$/.test(f)) add(f, join(pkg.dir, f));
  }
  for (const f of filesBelow(join(pkg.dir, 'src'))) add(`src/${f}`, join(pkg.dir, 'src', f));
  return hash.digest('hex');
}

/** What the build left in dist/: each file's size and modification time. */
function outputs(pkg) {
  const out = {};
  const dir = join(pkg.dir, OUT_DIR);
  for (const f of filesBelow(dir)) {
    const s = statSync(join(dir, f));
    out[f] = [s.size, s.mtimeMs];
  }
  return out;
}

function readStamp(pkg) {
  try {
    return JSON.parse(readFileSync(join(pkg.dir, STAMP), 'utf8'));
  } catch {
    return undefined;
  }
}

function writeStamp(pkg, stamp) {
  const file = join(pkg.dir, STAMP);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.${process.pid}`, `${JSON.stringify(stamp)}\n`);
  renameSync(`${file}.${process.pid}`, file);
}

/**
 * The packages to consider: the named ones (names or folders) and what they need at run time, or all
 * that have a build script. Dependencies first.
 */
function selection(byName, targets, root) {
  const wanted = [];
  if (targets.length === 0) wanted.push(...byName.values());
  for (const t of targets) {
    const pkg = byName.get(t) ?? [...byName.values()].find((p) => p.dir === resolve(root, t));
    if (!pkg) throw new Error(`no workspace package named ${t}`);
    wanted.push(pkg);
  }
  const ordered = [];
  const state = new Map();
  const visit = (pkg, path) => {
    if (state.get(pkg) === 'done') return;
    if (state.get(pkg) === 'visiting') throw new Error(`dependency cycle: ${[...path, pkg.name].join(' -> ')}`);
    state.set(pkg, 'visiting');
    for (const d of pkg.deps) visit(d, [...path, pkg.name]);
    state.set(pkg, 'done');
    if (pkg.manifest.scripts?.build) ordered.push(pkg);
  };
  for (const pkg of wanted) visit(pkg, []);
  return ordered;
}

/** The running builds' process groups, so a signal to this process ends them too. */
const running = new Set();

export function stopBuilds(signal = 'SIGTERM') {
  for (const child of running) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Runs one build script in the package's folder, as pnpm would: the local and root .bin on PATH, output kept. */
function runScript(pkg, script, root) {
  return new Promise((done) => {
    const bins = [join(pkg.dir, 'node_modules/.bin'), join(root, 'node_modules/.bin')];
    const child = spawn(script, {
      cwd: pkg.dir,
      shell: true,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: [...bins, process.env.PATH].join(process.platform === 'win32' ? ';' : ':') },
    });
    running.add(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => (output += `${err.message}\n`));
    child.on('close', (code, signal) => {
      running.delete(child);
      done({ ok: code === 0, output, code, signal });
    });
  });
}

/**
 * Brings the selected packages' builds up to date; resolves with the names it built, rejects with a
 * BuildError carrying the failed build's output. `dts: false` accepts a build without .d.ts files.
 */
export async function buildChanged({
  targets = [],
  dts = true,
  force = false,
  root = ROOT,
  log = (line) => process.stderr.write(`${line}\n`),
  announce,
} = {}) {
  const byName = workspacePackages(root);
  const packages = selection(byName, targets, root);

  // A package's JavaScript depends on its own inputs alone (workspace packages stay external imports);
  // its .d.ts build also reads its dependencies' declarations, so that build is redone when they change.
  const own = new Map(packages.map((p) => [p, ownInputs(p, root)]));
  const depsKey = new Map();
  const keyOf = (p) => {
    if (!depsKey.has(p)) {
      const h = createHash('sha256');
      for (const d of [...p.deps].sort((a, b) => a.name.localeCompare(b.name)))
        h.update(`${d.name}\0${own.get(d) ?? ownInputs(d, root)}\0${keyOf(d)}\0`);
      depsKey.set(p, h.digest('hex'));
    }
    return depsKey.get(p);
  };

  const plan = [];
  for (const pkg of packages) {
    const full = pkg.manifest.scripts.build;
    const jsOnly = withoutDts(
      full,
      readdirSync(pkg.dir).some((f) => /^tsup\.config\.\w+$/.test(f)),
    );
    const script = dts || jsOnly === undefined ? full : jsOnly;
    const stamp = force ? undefined : readStamp(pkg);
    const fresh =
      stamp !== undefined &&
      stamp.inputs === own.get(pkg) &&
      (!dts || (stamp.dts && stamp.deps === keyOf(pkg))) &&
      JSON.stringify(stamp.outputs) === JSON.stringify(outputs(pkg));
    if (!fresh) plan.push({ pkg, script, dts: script === full });
  }
  if (plan.length === 0) return [];

  const names = plan.map((s) => s.pkg.name.replace(/^@cleave\//, ''));
  log(
    `${announce ?? 'building'} ${plan.length === 1 ? names[0] : `${plan.length} packages (${names.join(', ')})`}${dts ? '' : ', without .d.ts'}…`,
  );

  // Each build starts once the dependencies being rebuilt with it are done; at most one per core.
  const inPlan = new Set(plan.map((s) => s.pkg));
  const finished = new Set();
  const slots = Math.max(1, availableParallelism());
  const waiting = [...plan];
  let active = 0;
  let failure;
  await new Promise((allDone) => {
    const next = () => {
      while (!failure && active < slots) {
        const i = waiting.findIndex((s) => !s.pkg.deps.some((d) => inPlan.has(d) && !finished.has(d)));
        if (i < 0) break;
        const [step] = waiting.splice(i, 1);
        active++;
        rmSync(join(step.pkg.dir, STAMP), { force: true });
        runScript(step.pkg, step.script, root).then((result) => {
          active--;
          if (result.ok) {
            writeStamp(step.pkg, { inputs: own.get(step.pkg), deps: keyOf(step.pkg), dts: step.dts, outputs: outputs(step.pkg) });
            finished.add(step.pkg);
          } else {
            failure ??= { step, result };
          }
          next();
        });
      }
      if (active === 0) allDone();
    };
    next();
  });
  if (failure) {
    const { step, result } = failure;
    const why = result.signal ? `stopped by ${result.signal}` : `exit code ${result.code}`;
    throw new BuildError(`build of ${step.pkg.name} failed (${why}): ${step.script}\n${result.output}`);
  }
  return plan.map((s) => s.pkg.name);
}

export class BuildError extends Error {}

async function main(args) {
  // pnpm passes on the `--` of `pnpm build -- --force`.
  const argv = args.filter((a) => a !== '--');
  const flags = new Set(argv.filter((a) => a.startsWith('--')));
  const targets = argv.filter((a) => !a.startsWith('--'));
  for (const f of flags) {
    if (f !== '--no-dts' && f !== '--force') {
      process.stderr.write(`build-changed: unknown option ${f} (options: --no-dts, --force)\n`);
      return 2;
    }
  }
  const dts = !flags.has('--no-dts');
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      stopBuilds(signal);
      process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    });
  }
  try {
    const built = await buildChanged({ targets, dts, force: flags.has('--force') });
    if (built.length === 0) process.stderr.write(`up to date${dts ? '' : ' (JavaScript)'}: nothing to build\n`);
    return 0;
  } catch (err) {
    process.stderr.write(
      `${err instanceof BuildError ? err.message : `build-changed: ${err instanceof Error ? err.message : String(err)}`}\n`,
    );
    return 1;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
