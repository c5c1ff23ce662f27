/**
 * The published packages, as a user gets them: every public package packed with npm and with pnpm,
 * the tarballs installed with plain npm into fresh projects outside the repository, the README's compose
 * example run there from ESM and CommonJS against a real client (memjs), every library type-checked
 * under NodeNext (ESM and CJS) and bundler resolution with esModuleInterop off, and memproxy installed
 * with `npm install -g` and started. Runs on the builds `pnpm run build` made; needs the npm registry
 * for the third-party dependencies (zod, yaml, fast-check, hdr-histogram-js, memjs).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const LIBRARIES = [
  'packages/protocol',
  'packages/core',
  'packages/server',
  'packages/tiers',
  'packages/chunked',
  'packages/handler-inmem',
  'packages/handler-lmdb',
  'packages/handler-memcached',
  'packages/router',
  'packages/loadgen',
  'packages/testkit',
];
const PUBLIC = [...LIBRARIES, 'examples/memproxy'];
const GITHUB = 'https://github.com/cleave-cache/cleave';
const MEMJS = 'memjs@1.3.2';
const TSC = join(repo, 'node_modules/typescript/bin/tsc');
const TYPE_ROOTS = join(repo, 'node_modules/@types');

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}
interface Manifest {
  name: string;
  version: string;
  private?: boolean;
  description?: string;
  keywords?: string[];
  license?: string;
  repository?: { type: string; url: string; directory: string };
  homepage?: string;
  bugs?: { url: string };
  publishConfig?: { access: string };
  engines?: { node: string };
  files?: string[];
  bin?: Record<string, string>;
  exports?: Record<string, string | Record<string, { types: string; default: string }>>;
  sideEffects?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

interface Ran {
  stdout: string;
  stderr: string;
}

/**
 * The environment for npm and node children without what `pnpm run` exports (npm_config_prefix,
 * npm_config_local_prefix, npm_package_*...), which would point npm back at the repository; the
 * registry, cache and TLS settings a user configured stay.
 */
const KEPT_NPM_CONFIG = /^npm_config_(registry|cache|cafile|userconfig|strict_ssl|proxy|https_proxy|noproxy|yes)$/i;
const childEnv: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(npm|pnpm)_/i.test(k) || KEPT_NPM_CONFIG.test(k)),
);

const NETWORK_ERROR = /npm error network|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH/;

/** Run a command to completion; a failure throws with its output, and says so when the npm registry was out of reach. */
function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, env: childEnv, timeout: timeoutMs, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (!error) return resolve({ stdout, stderr });
      const what = `${cmd} ${args.join(' ')} (in ${cwd})`;
      const output = `${stdout}\n${stderr}`.trim().split('\n').slice(-30).join('\n');
      if (cmd === 'npm' && NETWORK_ERROR.test(`${stdout}\n${stderr}`)) {
        return reject(
          new Error(
            `the npm registry cannot be reached, and this test installs third-party dependencies from it.\n${what} failed:\n${output}`,
          ),
        );
      }
      reject(new Error(`${what} failed (${error.code ?? error.signal ?? error.message}):\n${output}`));
    });
  });
}

const npmInstall = (cwd: string, args: string[]) => run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args], cwd);

const manifestOf = (dir: string): Manifest => JSON.parse(readFileSync(join(repo, dir, 'package.json'), 'utf8')) as Manifest;
const tarEntry = (tarball: string, path: string) => run('tar', ['-xzOf', tarball, `package/${path}`], tmpdir());

let work = '';
const npmPacked = new Map<string, Packed>();
const pnpmPacked = new Map<string, Packed>();
let app = '';
let globalPrefix = '';

beforeAll(async () => {
  for (const dir of PUBLIC) {
    const dist = join(repo, dir, 'dist');
    if (!statSync(dist, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`${dist} is missing: run \`npx pnpm build\` first`);
  }
  work = mkdtempSync(join(tmpdir(), 'cleave-pack-'));
  const npmOut = join(work, 'npm-pack');
  const pnpmOut = join(work, 'pnpm-pack');
  mkdirSync(npmOut);
  mkdirSync(pnpmOut);
  const dirs = PUBLIC.map((d) => `./${d}`);
  // Both tools pack every package in one call; pnpm from the repository root, where .npmrc lets npx fetch it.
  const [npmJson, pnpmJson] = await Promise.all([
    run('npm', ['pack', ...dirs, '--json', '--pack-destination', npmOut], repo),
    run('npx', ['pnpm', 'pack', ...dirs, '--json', '--pack-destination', pnpmOut], repo),
  ]);
  for (const p of JSON.parse(npmJson.stdout) as Packed[]) npmPacked.set(p.name, { ...p, filename: join(npmOut, p.filename) });
  for (const p of JSON.parse(pnpmJson.stdout) as Packed[]) pnpmPacked.set(p.name, p);

  // A user's project: the libraries' npm tarballs and a real client, installed with plain npm.
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'cleave-user', version: '1.0.0', private: true }, null, 2));
  const libraries = LIBRARIES.map((d) => npmPacked.get(manifestOf(d).name)!.filename);
  // memproxy globally, from pnpm's tarballs: its own and those of the packages it depends on.
  globalPrefix = join(work, 'global');
  const memproxyDeps = Object.keys(manifestOf('examples/memproxy').dependencies ?? {}).filter((n) => n.startsWith('@cleave/'));
  const forMemproxy = ['@cleave/memproxy', ...memproxyDeps].map((n) => pnpmPacked.get(n)!.filename);
  await Promise.all([npmInstall(app, [...libraries, MEMJS]), npmInstall(work, ['-g', '--prefix', globalPrefix, ...forMemproxy])]);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('packing', () => {
  it('npm and pnpm pack every public package with the same files and dependencies, no workspace: specifier, and the root LICENSE', async () => {
    const license = readFileSync(join(repo, 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License\n                           Version 2.0, January 2004');
    for (const dir of PUBLIC) {
      const { name } = manifestOf(dir);
      const byNpm = npmPacked.get(name);
      const byPnpm = pnpmPacked.get(name);
      expect(byNpm, `npm pack of ${dir}`).toBeDefined();
      expect(byPnpm, `pnpm pack of ${dir}`).toBeDefined();
      const files = byNpm!.files.map((f) => f.path).sort();
      expect(byPnpm!.files.map((f) => f.path).sort(), name).toEqual(files);
      expect(files, name).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
      expect(
        files.filter((f) => !/^(dist\/|fixtures\/tls\/|LICENSE$|README\.md$|package\.json$)/.test(f)),
        `${name}: only what a user needs`,
      ).toEqual([]);

      expect(await tarEntry(byNpm!.filename, 'LICENSE').then((r) => r.stdout), `${name}'s LICENSE`).toBe(license);
      const packed = JSON.parse((await tarEntry(byNpm!.filename, 'package.json')).stdout) as Manifest;
      const pnpmManifest = JSON.parse((await tarEntry(byPnpm!.filename, 'package.json')).stdout) as Manifest;
      expect(pnpmManifest.dependencies, name).toEqual(packed.dependencies);
      expect(JSON.stringify([packed.dependencies, packed.devDependencies]), name).not.toContain('workspace:');
    }
  });

  it('every public package carries the metadata a registry page shows, and exports types for import and require', () => {
    for (const dir of PUBLIC) {
      const m = manifestOf(dir);
      const files = npmPacked.get(m.name)!.files.map((f) => f.path);
      expect(m.private, m.name).toBeUndefined();
      expect(m.version, m.name).toBe('0.1.0');
      expect(m.description, m.name).toMatch(/\w{3,}/);
      expect(m.keywords?.length, m.name).toBeGreaterThan(2);
      expect(m.license, m.name).toBe('Apache-2.0');
      expect(m.repository, m.name).toEqual({ type: 'git', url: `git+${GITHUB}.git`, directory: dir });
      expect(m.homepage, m.name).toBe(`${GITHUB}/tree/main/${dir}#readme`);
      expect(m.bugs, m.name).toEqual({ url: `${GITHUB}/issues` });
      expect(m.publishConfig, m.name).toEqual({ access: 'public' });
      expect(m.engines, m.name).toEqual({ node: '>=20' });
      expect(m.files, m.name).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE']));
      expect(typeof m.sideEffects, m.name).toBe('boolean');
      for (const bin of Object.values(m.bin ?? {})) expect(files, `${m.name} bin`).toContain(bin.replace(/^\.\//, ''));
      if (LIBRARIES.includes(dir)) {
        const root = m.exports?.['.'] as Record<'import' | 'require', { types: string; default: string }>;
        for (const target of [root.import.types, root.import.default, root.require.types, root.require.default]) {
          expect(files, `${m.name} exports ${target}`).toContain(target.replace(/^\.\//, ''));
        }
        expect(root.require.types, m.name).toMatch(/\.d\.cts$/);
      }
    }
  });

  it('package READMEs link only to absolute URLs or their own headings', () => {
    for (const dir of PUBLIC) {
      const readme = readFileSync(join(repo, dir, 'README.md'), 'utf8');
      const targets = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
      expect(
        targets.filter((t) => !/^(https:\/\/|#)/.test(t)),
        `${dir}/README.md`,
      ).toEqual([]);
    }
  });
});

/** The first TypeScript block of the README's "Compose a server" section, listening on port 0 instead. */
function composeExample(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((s) => s.startsWith('Compose a server'));
  const block = section && /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block?.includes('listenAndServe') || !block.includes('InMemoryHandler')) {
    throw new Error('README.md\'s "Compose a server" section no longer starts with a listenAndServe over InMemoryHandler');
  }
  const atPortZero = block.replace(/port: \d+/, 'port: 0');
  if (atPortZero === block) throw new Error("the README's compose example no longer names a port");
  return atPortZero;
}

/** The same program for CommonJS: each import becomes a require, and the body runs in an async function. */
function asCommonJs(esm: string): string {
  const imports: string[] = [];
  const body = esm.replace(/^import \{ ([^}]+) \} from '([^']+)';\n/gm, (_, names: string, from: string) => {
    imports.push(`const { ${names} } = require('${from}');`);
    return '';
  });
  if (/^import /m.test(body)) throw new Error(`an import the CommonJS form does not rewrite:\n${body}`);
  return `${imports.join('\n')}\n(async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1); });\n`;
}

/** Sets and gets a key over memjs (binary protocol), prints the value, and closes the client and the server. */
const CLIENT = `
const { port } = server.addresses[0];
const client = memjs.Client.create(\`127.0.0.1:\${port}\`, { retries: 0, timeout: 5, logger: { log() {} } });
if (!(await client.set('greeting', 'hello from the tarballs', { expires: 0 }))) throw new Error('set failed');
const { value } = await client.get('greeting');
client.close();
await server.close();
console.log(String(value));
`;

/**
 * tsc's errors for one config of the fresh project, less those inside zod's own declarations: zod 4's
 * .d.cts files default-import each other, which needs allowSyntheticDefaultImports (esModuleInterop),
 * and loadgen's types reach them through its options schema.
 */
function typeErrors(config: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [TSC, '-p', config], { cwd: app, timeout: 120_000, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      const errors = stdout.split('\n').filter((line) => /error TS\d+/.test(line));
      if (error && errors.length === 0)
        return reject(new Error(`tsc -p ${config} failed without a type error: ${error.message}\n${stdout}${stderr}`));
      resolve(errors.filter((line) => !line.startsWith('node_modules/zod/')));
    });
  });
}

describe('a fresh project outside the repository, installed from the tarballs with npm', () => {
  it('runs the README compose example as an ES module against memjs', async () => {
    writeFileSync(join(app, 'compose.mjs'), `import memjs from 'memjs';\n${composeExample()}${CLIENT}`);
    const { stdout } = await run(process.execPath, ['compose.mjs'], app, 30_000);
    expect(stdout.trim()).toBe('hello from the tarballs');
  });

  it('runs it as CommonJS (require) against memjs', async () => {
    writeFileSync(join(app, 'compose.cjs'), `const memjs = require('memjs');\n${asCommonJs(composeExample() + CLIENT)}`);
    const { stdout } = await run(process.execPath, ['compose.cjs'], app, 30_000);
    expect(stdout.trim()).toBe('hello from the tarballs');
  });

  it("runs loadgen's cleave-load bin from the project's node_modules/.bin", async () => {
    const { stdout } = await run(join(app, 'node_modules/.bin/cleave-load'), ['--help'], app, 30_000);
    expect(stdout).toContain('Usage: cleave-load');
  });

  it('type-checks an import of every library under NodeNext (ESM and CJS) and bundler resolution, strict, esModuleInterop off, our declarations checked too', async () => {
    const names = LIBRARIES.map((d) => manifestOf(d).name);
    // One use of each package, and one misuse the compiler must refuse (were the types `any`, the expect-error would be unused).
    const program = `import type { Handler } from '@cleave/protocol';
import { parseAddress } from '@cleave/core';
import { listenAndServe } from '@cleave/server';
import { l1l2 } from '@cleave/tiers';
import { ChunkedHandler } from '@cleave/chunked';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { LmdbHandler } from '@cleave/handler-lmdb';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { pool } from '@cleave/router';
import { runLoad } from '@cleave/loadgen';
import { RawClient, RebuiltCommandsHandler, startMemcached } from '@cleave/testkit';

const l1: Handler = new InMemoryHandler({ maxBytes: 1 << 20 });
const l2: Handler = new MemcachedHandler({ address: '127.0.0.1:11311' });
const large = new ChunkedHandler(l2, { maxItemSize: 16 << 20 });
const limit: number = large.maxItemSize;
const contractOnly: Handler = new RebuiltCommandsHandler(l1l2(l1, l2));
const onDisk = (path: string): Handler => l1l2(l1, new LmdbHandler({ path, maxBytes: 1 << 30, sync: true }));
// @ts-expect-error maxBytes is a number
new InMemoryHandler({ maxBytes: 'lots' });
export const used = [parseAddress, listenAndServe, pool, runLoad, RawClient, startMemcached, limit, contractOnly, onDisk];
`;
    for (const name of names) expect(program, `the type check imports ${name}`).toContain(`from '${name}'`);
    writeFileSync(join(app, 'check.mts'), program);
    writeFileSync(join(app, 'check.cts'), program);
    writeFileSync(join(app, 'check.ts'), program);
    const common = { strict: true, esModuleInterop: false, noEmit: true, types: ['node'], typeRoots: [TYPE_ROOTS] };
    // The declarations themselves are checked under NodeNext, both the .d.ts (import) and the .d.cts (require);
    // bundler resolution picks the same .d.ts, so it checks only that the imports resolve and type-check.
    const configs = {
      'tsconfig.nodenext.json': {
        compilerOptions: { ...common, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext' },
        files: ['check.mts', 'check.cts'],
      },
      'tsconfig.bundler.json': {
        compilerOptions: { ...common, skipLibCheck: true, module: 'esnext', moduleResolution: 'bundler' },
        files: ['check.ts'],
      },
    };
    for (const [file, config] of Object.entries(configs)) writeFileSync(join(app, file), JSON.stringify(config, null, 2));
    for (const [file, errors] of await Promise.all(Object.keys(configs).map(async (file) => [file, await typeErrors(file)] as const))) {
      expect(errors, file).toEqual([]);
    }
  });
});

describe('memproxy installed with npm install -g', () => {
  const bin = (name: string) => join(globalPrefix, 'bin', name);

  it('memproxy --help and cleave-twemproxy -V run from the prefix', async () => {
    expect((await run(bin('memproxy'), ['--help'], work)).stdout).toContain('Usage: memproxy');
    // As nutcracker does, -V writes to stderr.
    expect((await run(bin('cleave-twemproxy'), ['-V'], work)).stderr).toMatch(/^This is cleave-twemproxy-0\.1\.0/);
  });

  it('memproxy serves: it answers version on the port it prints, and stops on SIGTERM', async () => {
    const child: ChildProcess = spawn(bin('memproxy'), ['-p', '0', '--host', '127.0.0.1'], {
      cwd: work,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let out = '';
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /listening on [\d.]+:(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        void exited.then((code) => reject(new Error(`memproxy exited with ${code} before listening: ${out}${err}`)));
      });
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => socket.write('version\r\n'));
        let got = '';
        socket.on('data', (d: Buffer) => {
          got += d.toString();
          if (got.endsWith('\r\n')) {
            socket.end();
            resolve(got);
          }
        });
        socket.on('error', reject);
      });
      expect(reply).toMatch(/^VERSION \S+\r\n$/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    }
  });
});
