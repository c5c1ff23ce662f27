/**
 * The cleave-load command line: help, usage, --version, option errors
 * (exit 2, exact text), what runs said before it runs, the --json object,
 * the exit status on a wrong server, and the progress line. The first cases
 * of each kind run the built command (`dist/cli.js`, as `npx pnpm test`
 * builds it); the rest call the CLI's main function in this process.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMain, describeRun, HELP, resolveOptions, USAGE, type LoadOptions } from '../src/index.js';
import { CorruptingHandler, startCleave } from './helpers.js';

const pkgDir = fileURLToPath(new URL('../', import.meta.url));
const CLI = join(pkgDir, 'dist/cli.js');
const version = (JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as { version: string }).version;

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the built CLI. */
function run(args: string[], cli = CLI, timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cleave-load ${args.join(' ')} did not exit in ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The same, in this process; `isTTY` makes stderr pass for a terminal. */
async function runHere(args: string[], isTTY = false): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await cliMain(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY },
  });
  return { code, stdout, stderr };
}

/** What the CLI says of an option error. */
const optionError = (message: string) => `cleave-load: ${message}\nTry cleave-load --help.\n`;

/** The two lines said before a run, from the options as the CLI resolves them. */
const plan = (options: LoadOptions) => describeRun(resolveOptions(options));

let memcached: MemcachedProcess;
beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx pnpm --filter @cleave/loadgen build)`);
  memcached = await startMemcached();
});
afterAll(async () => {
  await memcached?.stop();
});

describe('cleave-load --help and --version', () => {
  it('--help prints every workload and option on stdout, and exits 0', async () => {
    for (const [flag, how] of [
      ['--help', run],
      ['-h', runHere],
    ] as const) {
      const r = await how([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(HELP);
      expect(r.stderr).toBe('');
    }
    expect(HELP).toMatch(/^cleave-load — /);
    expect(HELP).toContain('Usage: cleave-load <workload> [options]');
    for (const w of ['blast', 'setget', 'sizes', 'fill', 'mix']) expect(HELP).toMatch(new RegExp(`^  ${w} `, 'm'));
    for (const o of [
      '--host',
      '--port',
      '--socket',
      '--protocol',
      '--conns',
      '--depth',
      '--duration',
      '--requests',
      '--keys',
      '--key-length',
      '--key-prefix',
      '--value-size',
      '--min-size',
      '--ratio',
      '--no-prepopulate',
      '--seed',
      '--json',
      '--verify',
      '--timeout',
      '--progress',
      '--version',
    ]) {
      expect(HELP).toContain(o);
    }
    // --help wins over a mistake next to it.
    expect((await runHere(['mix', '--bogus', '--help'])).stdout).toBe(HELP);
  });

  it('--version prints the version of the package.json next to dist/', async () => {
    const r = await run(['--version']);
    expect(r).toEqual({ code: 0, stdout: `cleave-load ${version}\n`, stderr: '' });

    // As installed from a tarball: package.json one folder above dist/cli.js, away from the repository.
    const dir = mkdtempSync(join(tmpdir(), 'cleave-load-'));
    try {
      cpSync(join(pkgDir, 'dist'), join(dir, 'dist'), { recursive: true });
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '9.8.7-installed' }));
      symlinkSync(join(pkgDir, 'node_modules'), join(dir, 'node_modules'), 'dir');
      const installed = await run(['--version', 'mix', '--port', '-1'], join(dir, 'dist/cli.js'));
      expect(installed).toEqual({ code: 0, stdout: 'cleave-load 9.8.7-installed\n', stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('usage on a missing or unknown workload (exit 2, on stderr)', () => {
  it('no arguments: says a workload is needed, then the usage', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`cleave-load: no workload given: name one of blast, setget, sizes, fill or mix\n\n${USAGE}`);
    // The usage lists the workloads and the options most runs need.
    expect(USAGE).toMatch(/^Usage: cleave-load <workload> \[options\]\n\nWorkloads:\n {2}blast {4}random mix/);
    for (const w of ['blast', 'setget', 'sizes', 'fill', 'mix']) expect(USAGE).toMatch(new RegExp(`^  ${w} +\\S`, 'm'));
    for (const line of [
      '  --host HOST --port PORT | --socket PATH   the server (127.0.0.1:11211)',
      '  --protocol text|meta|binary               (text)',
      '  --conns N --depth N                       connections, requests in flight on each (4, 16)',
      '  --duration SECONDS | --requests N         how long to run (5 s)',
      '  --json                                    one JSON object on stdout',
      'Example: cleave-load mix --port 11211 --duration 10',
      'Every option: cleave-load --help',
    ]) {
      expect(USAGE.split('\n')).toContain(line);
    }
    // Options without a workload are the same mistake.
    expect((await runHere(['--port', '11211'])).stderr).toBe(r.stderr);
  });

  it('an unknown workload: names it, suggests the nearest, lists the workloads, then the usage', async () => {
    const near = await run(['mixx', '--port', '11211']);
    expect(near.code).toBe(2);
    expect(near.stdout).toBe('');
    expect(near.stderr).toBe(
      `cleave-load: unknown workload "mixx" (did you mean mix?); the workloads are blast, setget, sizes, fill and mix\n\n${USAGE}`,
    );
    expect((await runHere(['set-get'])).stderr).toBe(
      `cleave-load: unknown workload "set-get" (did you mean setget?); the workloads are blast, setget, sizes, fill and mix\n\n${USAGE}`,
    );
    expect((await runHere(['blats'])).stderr.split('\n')[0]).toBe(
      'cleave-load: unknown workload "blats" (did you mean blast?); the workloads are blast, setget, sizes, fill and mix',
    );
    const far = await runHere(['bench']);
    expect(far.code).toBe(2);
    expect(far.stderr).toBe(`cleave-load: unknown workload "bench"; the workloads are blast, setget, sizes, fill and mix\n\n${USAGE}`);
  });
});

describe('a bad option names the flag and what it allows (exit 2)', () => {
  const cases: Array<[string[], string]> = [
    // Negative numbers are read as numbers, and refused as such.
    [['mix', '--port', '-1'], '--port must be a whole number from 1 to 65535, not -1'],
    [['mix', '--timeout', '-3'], '--timeout must be a number of seconds above 0, at most 3600, not -3'],
    [['mix', '--port=-1'], '--port must be a whole number from 1 to 65535, not -1'],
    [['mix', '--ratio', '-0.5'], '--ratio must be a number from 0 to 1 (the share of gets), not -0.5'],
    [['mix', '--seed', '-1'], '--seed must be a whole number from 0 to 4294967295, not -1'],
    [['mix', '--port', 'abc'], '--port must be a whole number from 1 to 65535, not "abc"'],
    [['mix', '--port', ''], '--port must be a whole number from 1 to 65535, not ""'],
    [['mix', '--port', '70000'], '--port must be a whole number from 1 to 65535, not 70000'],
    [['mix', '--conns', '0'], '--conns must be a whole number from 1 to 1024, not 0'],
    [['mix', '--conns', '2.5'], '--conns must be a whole number from 1 to 1024, not 2.5'],
    [['mix', '--depth', '100000'], '--depth must be a whole number from 1 to 65536, not 100000'],
    [['mix', '--duration', '0'], '--duration must be a number of seconds above 0, at most 86400, not 0'],
    [['mix', '--requests', '0'], '--requests must be a whole number, 1 or more, not 0'],
    [['mix', '--keys', '1e9'], '--keys must be a whole number from 1 to 50000000, not 1e9'],
    [['mix', '--ratio', '1.5'], '--ratio must be a number from 0 to 1 (the share of gets), not 1.5'],
    [['mix', '--protocol', 'udp'], '--protocol must be text, meta or binary, not "udp"'],
    [['mix', '--protocol', 'bin'], '--protocol must be text, meta or binary, not "bin" (did you mean binary?)'],
    [['mix', '--host', ''], '--host must be a host name or IP address, not ""'],
    [['mix', '--key-prefix', 'a b'], '--key-prefix must be printable ASCII without spaces, at most 200 bytes, not "a b"'],
    [
      ['mix', '--value-size', '20-5'],
      '--value-size must be a size (100), a range (5-20000), a log-uniform range (log:5-20000) or weighted sizes (100:80,4000:20), not "20-5": range 20-5 is empty',
    ],
    [
      ['mix', '--value-size', 'big'],
      '--value-size must be a size (100), a range (5-20000), a log-uniform range (log:5-20000) or weighted sizes (100:80,4000:20), not "big": "big" is not a size in bytes',
    ],
    [['mix', '--keys', '100000', '--key-length', '5'], '--key-length must be at least 9 for 100000 keys with prefix "cl:", not 5'],
    [
      ['setget', '--keys', '2', '--conns', '4'],
      '--keys must be at least --conns (4) for setget, which gives every connection keys of its own, not 2',
    ],
    [['sizes', '--min-size', '30000'], '--min-size must be at most --max-size (20000), not 30000'],
    // Unknown options: the nearest known one, when one is near.
    [['mix', '--conn', '4'], 'unknown option --conn (did you mean --conns?)'],
    [['mix', '--keylength', '20'], 'unknown option --keylength (did you mean --key-length?)'],
    [['mix', '--no-verfy'], 'unknown option --no-verfy (did you mean --no-verify?)'],
    [['mix', '--dur', '3'], 'unknown option --dur (did you mean --duration?)'],
    [['mix', '-port', '1'], 'unknown option -port (did you mean --port?)'],
    [['mix', '--bogus'], 'unknown option --bogus'],
    [['mix', '-x'], 'unknown option -x'],
    // Values missing or where none is taken.
    [['mix', '--depth'], '--depth needs a value: a whole number from 1 to 65536'],
    [['mix', '--depth', '--json'], '--depth needs a value: a whole number from 1 to 65536'],
    [['mix', '--json=yes'], '--json takes no value (or =true, =false), not "yes"'],
    [['mix', '--no-verify=1'], '--no-verify takes no value, not "1"'],
    [['mix', '--port', '1', '--port', '2'], '--port given twice, as 1 and 2'],
    [['mix', 'fill'], 'one workload at a time, not mix and fill'],
  ];
  it.each(cases)('cleave-load %j', async (args, message) => {
    // The negative numbers run the real command (argv as the shell gives it); the rest the same code in this process.
    const r = args.includes('-1') || args.includes('-3') ? await run(args) : await runHere(args);
    expect(r).toEqual({ code: 2, stdout: '', stderr: optionError(message) });
  });

  it('several problems: one line each', async () => {
    const r = await runHere(['mix', '--port', '0', '--conns', 'many']);
    expect(r.stderr).toBe(
      'cleave-load: --port must be a whole number from 1 to 65535, not 0\n' +
        'cleave-load: --conns must be a whole number from 1 to 1024, not "many"\n' +
        'Try cleave-load --help.\n',
    );
  });

  it('a library caller gets the same words (OptionsError)', () => {
    expect(() => resolveOptions({ workload: 'mix', port: -1 })).toThrow(/^--port must be a whole number from 1 to 65535, not -1$/);
    expect(() => resolveOptions({ workload: 'mixx' as 'mix' })).toThrow(
      /^the workload must be one of blast, setget, sizes, fill or mix, not "mixx" \(did you mean mix\?\)$/,
    );
    expect(() => resolveOptions({ workload: 'mix', keyLenght: 20 } as LoadOptions)).toThrow(
      /^unknown option --key-lenght \(did you mean --key-length\?\)$/,
    );
    expect(() => resolveOptions({ workload: 'mix', json: 'yes' as unknown as boolean })).toThrow(
      /^--json must be true or false, not "yes"$/,
    );
  });
});

describe('what runs is said before it runs', () => {
  it('describes target, protocol, workload, connections, depth, length, keys and values', () => {
    expect(plan({ workload: 'mix', port: 11311, conns: 2, depth: 8, duration: 3, keys: 100, seed: 42 })).toBe(
      'cleave-load mix → 127.0.0.1:11311 (text), 2 conns × depth 8, for 3 s\n' +
        '  100 keys of 16 bytes (prefix cl:), values 100, 90% gets after setting every key once, seed 42, not verifying values\n',
    );
    expect(plan({ workload: 'setget', socket: '/tmp/mc.sock', protocol: 'meta', requests: 50_000, seed: 7 })).toBe(
      'cleave-load setget → /tmp/mc.sock (meta), 4 conns × depth 16, for 50,000 requests\n' +
        '  10,000 keys of 16 bytes (prefix cl:), values 5-20000, seed 7, verifying every reply\n',
    );
    expect(plan({ workload: 'sizes', maxSize: 4096, step: 64, seed: 1 })).toBe(
      'cleave-load sizes → 127.0.0.1:11211 (text), 4 conns × depth 16, until every size is sent\n' +
        '  1,000 keys of 16 bytes (prefix cl:), values 0-4096 step 64, seed 1, verifying every reply\n',
    );
    expect(
      plan({ workload: 'fill', protocol: 'binary', duration: 10, requests: 1000, keyPrefix: 'run7:', valueSize: 'log:5-20000', seed: 3 }),
    ).toBe(
      'cleave-load fill → 127.0.0.1:11211 (binary), 4 conns × depth 16, for 10 s or 1,000 requests\n' +
        '  1,000,000 keys of 16 bytes (prefix run7:), values log:5-20000, seed 3, not verifying values\n',
    );
  });

  it('on stdout above the report, before the first connection, with the seed the run uses', async () => {
    // A relay in front of memcached notes what the CLI had printed when the first connection came in.
    let printedAtConnect: string | undefined;
    let stdout = '';
    const relay = net.createServer((client) => {
      printedAtConnect ??= stdout;
      const upstream = net.connect(memcached.port, '127.0.0.1');
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as net.AddressInfo).port;
    try {
      const args = ['mix', '--port', String(port), '--duration', '0.3', '--conns', '2', '--depth', '8', '--keys', '100'];
      const code = await cliMain(args, { stdout: { write: (s: string) => (stdout += s) }, stderr: { write: () => {} } });
      expect(code).toBe(0);
      const seed = Number(/seed (\d+)/.exec(stdout)![1]);
      const said = plan({ workload: 'mix', port, duration: 0.3, conns: 2, depth: 8, keys: 100, seed });
      expect(printedAtConnect).toBe(said);
      expect(stdout.startsWith(said + 'prepopulated 100 keys in ')).toBe(true);
      expect(stdout.match(/cleave-load mix/g), 'the report does not repeat it').toHaveLength(1);
    } finally {
      relay.close();
    }
  });

  it('with --json: on stderr, and stdout carries one JSON object alone', async () => {
    const r = await run(['mix', '--port', String(memcached.port), '--duration', '0.5', '--json', '--verify', '--seed', '42']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(plan({ workload: 'mix', port: memcached.port, duration: 0.5, verify: true, seed: 42 }));
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const k of [
      'ops_per_sec',
      'errors',
      'p50_us',
      'p90_us',
      'p99_us',
      'p999_us',
      'max_us',
      'hits',
      'misses',
      'cpu_user_s',
      'cpu_system_s',
      'cpu_percent',
      'ops',
      'duration_s',
    ]) {
      expect(typeof j[k], k).toBe('number');
    }
    expect(j.workload).toBe('mix');
    expect(j.seed).toBe(42);
    expect(j.errors).toBe(0);
    expect(j.ops_per_sec as number).toBeGreaterThan(0);
    expect(j.p50_us as number).toBeLessThanOrEqual(j.p99_us as number);
    expect(j.p99_us as number).toBeLessThanOrEqual(j.p999_us as number);
    expect((j.cpu_user_s as number) + (j.cpu_system_s as number)).toBeGreaterThan(0);
    expect(j.hits as number).toBeGreaterThan(0);
    expect(j.error_samples).toEqual([]);
    expect(Object.keys(j.commands as object).sort()).toEqual(['get', 'set']);
  });
});

describe('exit status on a wrong server', () => {
  it('exits 1 and prints the offending bytes when a value is corrupted', async () => {
    const handler = new CorruptingHandler('flip', 100);
    const { server, port } = await startCleave(handler);
    try {
      const text = await run(['setget', '--port', String(port), '--requests', '3000']);
      expect(text.code).toBe(1);
      expect(text.stdout).toMatch(/ERRORS: wrong_value \d+/);
      expect(text.stdout).toMatch(/#1 wrong_value: get cl:i\d+: value of \d+ bytes with flags \d+ differs/);
      expect(text.stdout).toMatch(/got \(bytes \d+-\d+ of \d+\):\n\s+hex:  ([0-9a-f]{2} )+[0-9a-f]{2}\n\s+text: /);
      expect(text.stdout).toMatch(/expected \(bytes/);

      const json = await runHere(['setget', '--port', String(port), '--requests', '3000', '--json', '--protocol', 'binary']);
      expect(json.code).toBe(1);
      const j = JSON.parse(json.stdout) as {
        errors: number;
        errors_by_kind: Record<string, number>;
        error_samples: Array<{ got: { hex: string } }>;
      };
      expect(j.errors).toBeGreaterThan(0);
      expect(j.errors_by_kind.wrong_value).toBe(j.errors);
      expect(j.error_samples[0]!.got.hex).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2})*$/);
    } finally {
      await server.close();
    }
  });

  it('exits 1 when the server cannot be reached', async () => {
    const r = await runHere(['fill', '--port', String(await freePort()), '--duration', '0.2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ECONNREFUSED/);
  });
});

describe('progress line', () => {
  const line = String.raw`fill \d+s  [\d,]+ requests  [\d,]+ ops/s  0 errors`;
  const args = () => ['fill', '--port', String(memcached.port), '--conns', '1', '--keys', '100', '--duration', '1.4'];

  it('on a terminal: from the first second, rewritten in place, cleared before the report', async () => {
    // The run lasts 1.4 s; the progress timer is due at 1 s, so it runs before the run's end.
    const r = await runHere(args(), true);
    expect(r.code).toBe(0);
    const said = describeRun(
      resolveOptions({
        workload: 'fill',
        port: memcached.port,
        conns: 1,
        keys: 100,
        duration: 1.4,
        seed: Number(/seed (\d+)/.exec(r.stdout)![1]),
      }),
    );
    expect(r.stdout.startsWith(said)).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`^(\\r\\x1b\\[K${line})+\\r\\x1b\\[K$`));
    // --no-progress silences it; with --json the plan joins it on stderr.
    expect((await runHere([...args(), '--no-progress'], true)).stderr).toBe('');
    const json = await runHere([...args(), '--json'], true);
    expect(json.stderr).toMatch(new RegExp(`^cleave-load fill → .*\\n  .*\\n(\\r\\x1b\\[K${line})+\\r\\x1b\\[K$`));
    expect(() => JSON.parse(json.stdout)).not.toThrow();
  });

  it('forced with --progress into a pipe: one line a second; without it, nothing', async () => {
    const [forced, quiet] = await Promise.all([run([...args(), '--progress']), run(args())]);
    expect(forced.code).toBe(0);
    expect(forced.stderr).toMatch(new RegExp(`^(${line}\\n)+$`));
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
