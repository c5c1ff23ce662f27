/**
 * `pnpm start` and the bin scripts on a copy of the repository without builds (as a fresh clone has
 * none): what is missing is built quietly, a second start builds nothing, a change rebuilds that
 * package alone, a full build adds the .d.ts files and follows dependencies, a failed build shows the
 * tool's output, and memproxy stops gracefully on TERM and when the command that launched it is gone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMemcached, startSlowRelay } from '@cleave/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const copy = mkdtempSync(join(tmpdir(), 'cleave-start-'));
const children = new Set<ChildProcess>();
/** Servers started by a launcher the test killed: not our children, so stopped by pid if a test fails. */
const orphans = new Set<number>();

/** The repository's sources and package links, without builds, tests or the stamps of earlier builds. */
function copyRepository(): void {
  for (const f of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'tsconfig.json', 'tsconfig.build.json'])
    cpSync(join(repo, f), join(copy, f));
  for (const f of ['build-changed.mjs', 'run-bin.mjs', 'start.mjs']) cpSync(join(repo, 'scripts', f), join(copy, 'scripts', f));
  for (const group of ['packages', 'examples']) {
    cpSync(join(repo, group), join(copy, group), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !/^[^/]+\/[^/]+\/(dist|test|bench|node_modules\/\.cache)(\/|$)/.test(relative(repo, src)),
    });
  }
  // Third-party packages stay where they are: the packages' own links reach them through this one.
  symlinkSync(join(repo, 'node_modules'), join(copy, 'node_modules'));
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs node with args in the copy to its end. */
function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'], env: withoutLauncher() });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** This environment less the variables a package manager sets for a script, which would turn on the launcher watch. */
function withoutLauncher(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (extra.npm_lifecycle_event === undefined) delete env.npm_lifecycle_event;
  return env;
}

interface Serving {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<Run>;
}

/** Starts `node args` in the copy and resolves once memproxy says where it listens. */
function serve(args: string[], spawnArgs?: { command: string; args: string[]; env: NodeJS.ProcessEnv }): Promise<Serving> {
  const child = spawnArgs
    ? spawn(spawnArgs.command, spawnArgs.args, { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'], env: spawnArgs.env })
    : spawn(process.execPath, args, { cwd: copy, stdio: ['ignore', 'pipe', 'pipe'], env: withoutLauncher() });
  children.add(child);
  let stdout = '';
  let stderr = '';
  const exited = new Promise<Run>((resolve) =>
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (m) resolve({ child, port: Number(m[1]), stdout: () => stdout, stderr: () => stderr, exited });
    });
    exited.then((r) => reject(new Error(`exited before listening (${r.code ?? r.signal}): ${r.stdout}${r.stderr}`)));
  });
}

/** Sends one request and returns the answer: complete once it ends with `end`, or what came before the server closed. */
function request(port: number, text: string, end = '\r\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.endsWith(end)) {
        s.end();
        resolve(got);
      }
    });
    s.on('close', () => resolve(got));
    s.on('error', reject);
  });
}

const version = (port: number) => request(port, 'version\r\n');

/**
 * memproxy started by start.mjs under a launcher standing for npx (a package manager's script, as its
 * environment says); the launcher reports memproxy's pid first. Killed, the launcher passes nothing on,
 * as npx's shell does with a TERM.
 */
async function launched(args: string[]): Promise<Serving & { server: number }> {
  const launcher = `const c = require('node:child_process').spawn(process.execPath, ['scripts/start.mjs', ...${JSON.stringify(args)}], { stdio: 'inherit' });
    process.stderr.write('server pid ' + c.pid + '\\n'); setInterval(() => {}, 1000);`;
  const s = await serve([], { command: process.execPath, args: ['-e', launcher], env: withoutLauncher({ npm_lifecycle_event: 'start' }) });
  const server = Number(/^server pid (\d+)\n/.exec(s.stderr())![1]);
  orphans.add(server);
  s.exited.then(() => orphans.delete(server));
  // Served a request: past the listening line, memproxy's signal handlers are in place.
  expect(await version(s.port)).toMatch(/^VERSION /);
  return { ...s, server };
}

/** Whether something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

const dist = (pkg: string, file: string) => join(copy, pkg, 'dist', file);

beforeAll(copyRepository);

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  rmSync(copy, { recursive: true, force: true });
});

describe('withoutDts', () => {
  it('drops --dts from each tsup command, and gives up where the script cannot be read safely', async () => {
    const module = join(repo, 'scripts/build-changed.mjs');
    const { withoutDts } = (await import(module)) as { withoutDts: (script: string, hasTsupConfig?: boolean) => string | undefined };
    expect(withoutDts('tsup src/index.ts --format esm,cjs --dts --clean --sourcemap')).toBe(
      'tsup src/index.ts --format esm,cjs --clean --sourcemap',
    );
    expect(withoutDts('tsup src/index.ts --dts && tsup src/cli.ts --format esm')).toBe('tsup src/index.ts && tsup src/cli.ts --format esm');
    expect(withoutDts('tsup src/index.ts --format esm --dts')).toBe('tsup src/index.ts --format esm');
    expect(withoutDts('tsup src/a.ts src/b.ts --format esm')).toBe('tsup src/a.ts src/b.ts --format esm');
    expect(withoutDts('tsup src/index.ts --dts-only')).toBeUndefined();
    expect(withoutDts('tsup src/index.ts --dts src/types.ts')).toBeUndefined();
    expect(withoutDts('tsup src/index.ts', true)).toBeUndefined();
  });
});

describe('pnpm start and the bins, from a copy without builds', () => {
  it('builds what memproxy needs when it is missing, in one line, and runs it', async () => {
    const r = await run(['scripts/run-bin.mjs', 'memproxy', '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^memproxy is not built yet: building \d+ packages \(protocol, core, .*memproxy\), without \.d\.ts…\n$/);
    expect(r.stdout).toContain('memproxy');
    expect(existsSync(dist('examples/memproxy', 'memproxy.js'))).toBe(true);
    expect(existsSync(dist('packages/server', 'index.js'))).toBe(true);
    expect(existsSync(dist('packages/server', 'index.d.ts'))).toBe(false);
    expect(existsSync(dist('packages/loadgen', 'index.js'))).toBe(false);
  });

  it('hands a bin its options without the `--` that pnpm passes on', async () => {
    const r = await run(['scripts/run-bin.mjs', 'cleave-twemproxy', '--', '-V']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^This is cleave-twemproxy-/);
  });

  it('starts without building when nothing changed, and stops gracefully on TERM', async () => {
    const s = await serve(['scripts/start.mjs', '-p', '0']);
    expect(await version(s.port)).toMatch(/^VERSION /);
    expect(s.stderr()).toBe('');
    s.child.kill('SIGTERM');
    const r = await s.exited;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('SIGTERM, finishing requests in flight');
    expect(await listening(s.port)).toBe(false);
  });

  it('rebuilds only the package that changed', async () => {
    appendFileSync(join(copy, 'packages/core/src/index.ts'), '\n// changed\n');
    const s = await serve(['scripts/start.mjs', '-p', '0']);
    expect(s.stderr()).toBe('building core, without .d.ts…\n');
    // Served a request: past the listening line, its signal handlers are in place.
    expect(await version(s.port)).toMatch(/^VERSION /);
    s.child.kill('SIGINT');
    expect((await s.exited).code).toBe(0);
  });

  it('a full build adds the .d.ts files, and redoes a dependent when a dependency changed', async () => {
    const protocol = await run(['scripts/build-changed.mjs', '@cleave/protocol']);
    expect(protocol.stderr).toBe('building protocol…\n');
    expect(existsSync(dist('packages/protocol', 'index.d.ts'))).toBe(true);
    expect(existsSync(dist('packages/protocol', 'index.d.cts'))).toBe(true);

    const core = await run(['scripts/build-changed.mjs', '@cleave/core']);
    expect(core.stderr).toBe('building core…\n');
    expect(existsSync(dist('packages/core', 'index.d.ts'))).toBe(true);
    expect((await run(['scripts/build-changed.mjs', '@cleave/core'])).stderr).toBe('up to date: nothing to build\n');
    // A build with declarations serves a start too.
    expect((await run(['scripts/build-changed.mjs', '--no-dts', '@cleave/core'])).stderr).toBe(
      'up to date (JavaScript): nothing to build\n',
    );

    // Core's JavaScript does not depend on protocol's (it stays an import), its declarations do.
    appendFileSync(join(copy, 'packages/protocol/src/index.ts'), '\n// changed\n');
    expect((await run(['scripts/build-changed.mjs', '--no-dts', '@cleave/core'])).stderr).toBe('building protocol, without .d.ts…\n');
    expect((await run(['scripts/build-changed.mjs', '@cleave/core'])).stderr).toBe('building 2 packages (protocol, core)…\n');
    expect(existsSync(dist('packages/protocol', 'index.d.ts'))).toBe(true);
  });

  it('a build output changed by hand is rebuilt', async () => {
    rmSync(dist('packages/core', 'index.cjs'));
    expect((await run(['scripts/build-changed.mjs', '@cleave/core'])).stderr).toBe('building core…\n');
    expect(existsSync(dist('packages/core', 'index.cjs'))).toBe(true);
  });

  it('stops gracefully when the command that launched it is gone', async () => {
    const s = await launched(['-p', '0']);
    s.child.kill('SIGKILL');
    // The pipes close once memproxy, which shares them, has noticed, finished and exited.
    await s.exited;
    expect(s.stderr()).toBe(`server pid ${s.server}\nmemproxy: the command that started it (pid ${s.child.pid}) has exited; stopping\n`);
    expect(s.stdout()).toContain('SIGTERM, finishing requests in flight');
    expect(await listening(s.port)).toBe(false);
  });

  it('a launcher gone after Ctrl-C does not cut short the requests memproxy is finishing', async () => {
    const mc = await startMemcached();
    const relay = await startSlowRelay({ target: { port: mc.port } });
    try {
      const s = await launched(['-p', '0', '--l1-addr', `127.0.0.1:${relay.port}`, '--backend-timeout', '30s']);
      // memproxy's backend connection open before replies are held: its opening round trip, held 2.5 s too,
      // would outlast the connect timeout on a busy machine, and the get below would never reach memcached.
      expect(await request(s.port, 'get warm\r\n', 'END\r\n')).toBe('END\r\n');
      relay.delayMs = 2500;
      const miss = request(s.port, 'get k\r\n', 'END\r\n');
      // The get is at memcached (its reply is held in the relay): in flight in memproxy.
      await waitFor(async () => /STAT cmd_get ([2-9]|\d\d)/.test(await request(mc.port, 'stats\r\n', 'END\r\n')));
      // Ctrl-C: pnpm passes the INT on to memproxy, and npx exits.
      process.kill(s.server, 'SIGINT');
      s.child.kill('SIGKILL');
      expect(await miss).toBe('END\r\n');
      await s.exited;
      expect(s.stdout()).toContain('SIGINT, finishing requests in flight');
      expect(s.stdout()).not.toContain('exiting now');
      expect(s.stderr()).toBe(`server pid ${s.server}\n`);
    } finally {
      await relay.close();
      await mc.stop();
    }
  });

  it('shows the failed build with the tool output and does not start', async () => {
    const file = join(copy, 'packages/handler-inmem/src/index.ts');
    const source = readFileSync(file, 'utf8');
    writeFileSync(file, `${source}\nexport const broken = ;\n`);
    try {
      const r = await run(['scripts/start.mjs', '-p', '0']);
      expect(r.code).toBe(1);
      expect(r.stdout).not.toContain('listening');
      expect(r.stderr).toContain('building handler-inmem, without .d.ts…\n');
      expect(r.stderr).toContain('build of @cleave/handler-inmem failed (exit code 1): tsup src/index.ts');
      expect(r.stderr).toMatch(/src\/index\.ts:\d+:\d+: ERROR/);
    } finally {
      writeFileSync(file, source);
    }
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not so after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
