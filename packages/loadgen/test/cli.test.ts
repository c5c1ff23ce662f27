/**
 * The cleave-load command line: help, option errors (exit 2), the --json
 * object, the exit status on a wrong server, and the progress line. Most
 * cases call the CLI's main function in this process; the first cases of
 * each kind run the real command as a child process (from its sources, so
 * no build is needed).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliMain } from '../src/index.js';
import { CorruptingHandler, startCleave } from './helpers.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const cli = 'packages/loadgen/src/cli.ts';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI (through tsx, from the repository root so package names resolve to sources). */
function run(args: string[], timeoutMs = 30_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
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

/** The same, in this process. */
async function runHere(args: string[], isTTY = false): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  const code = await cliMain(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s), isTTY },
  });
  return { code, stdout, stderr };
}

let memcached: MemcachedProcess;
beforeAll(async () => {
  memcached = await startMemcached();
});
afterAll(async () => {
  await memcached?.stop();
});

describe('cleave-load --help', () => {
  it('prints usage with every workload and option, and exits 0', async () => {
    for (const [flag, how] of [['--help', run], ['-h', runHere]] as const) {
      const r = await how([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^cleave-load — /);
      expect(r.stdout).toContain('Usage: cleave-load <workload> [options]');
      for (const w of ['blast', 'setget', 'sizes', 'fill', 'mix']) expect(r.stdout).toMatch(new RegExp(`^  ${w} `, 'm'));
      for (const o of ['--host', '--port', '--socket', '--protocol', '--conns', '--depth', '--duration', '--requests', '--keys', '--key-length', '--value-size', '--ratio', '--seed', '--json', '--verify']) {
        expect(r.stdout).toContain(o);
      }
      expect(r.stderr).toBe('');
    }
  });
});

describe('bad options exit 2 with a clear message', () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /which workload\? one of: blast, setget, sizes, fill, mix/],
    [['bench'], /unknown workload "bench"/],
    [['mix', '--protocol', 'udp'], /--protocol: .*"text"\|"meta"\|"binary"/],
    [['mix', '--conns', '0'], /--conns: Too small: expected number to be >=1/],
    [['mix', '--port', 'eleven'], /--port: .*expected number/],
    [['mix', '--port', '70000'], /--port: Too big/],
    [['mix', '--ratio', '1.5'], /--ratio: Too big/],
    [['mix', '--value-size', '20-5'], /--value-size: range 20-5 is empty/],
    [['mix', '--value-size', 'big'], /--value-size: "big" is not a size in bytes/],
    [['mix', '--bogus'], /unknown option: --bogus/],
    [['mix', '--depth'], /--depth needs a value/],
    [['mix', '--keys', '100000', '--key-length', '5'], /--key-length: 5 is too short for 100000 keys/],
    [['setget', '--keys', '2', '--conns', '4'], /--keys: setget gives every connection keys of its own/],
    [['mix', 'fill'], /one workload at a time/],
    [['mix', '--json=yes'], /--json takes no value/],
  ];
  it.each(cases)('cleave-load %j', async (args, message) => {
    // The first case runs the real command; the rest the same code in this process.
    const r = args.length === 0 ? await run(args) : await runHere(args as string[]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain('Try cleave-load --help.');
  });
});

describe('cleave-load --json', () => {
  it('prints one JSON object with the figures, and exits 0 on a correct server', async () => {
    const r = await run(['mix', '--port', String(memcached.port), '--duration', '0.5', '--json', '--verify', '--seed', '42']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    const j = JSON.parse(lines[0]!) as Record<string, unknown>;
    for (const k of ['ops_per_sec', 'errors', 'p50_us', 'p90_us', 'p99_us', 'p999_us', 'max_us', 'hits', 'misses', 'cpu_user_s', 'cpu_system_s', 'cpu_percent', 'ops', 'duration_s']) {
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
      const j = JSON.parse(json.stdout) as { errors: number; errors_by_kind: Record<string, number>; error_samples: Array<{ got: { hex: string } }> };
      expect(j.errors).toBeGreaterThan(0);
      expect(j.errors_by_kind.wrong_value).toBe(j.errors);
      expect(j.error_samples[0]!.got.hex).toMatch(/^[0-9a-f]{2}( [0-9a-f]{2})*$/);
    } finally {
      await server.close();
    }
  });

  it('exits 1 when the server cannot be reached', async () => {
    const { freePort } = await import('@cleave/testkit');
    const r = await runHere(['fill', '--port', String(await freePort()), '--duration', '0.2']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/ECONNREFUSED/);
  });
});

describe('progress line', () => {
  it('is printed on a TTY (or with --progress) for runs over 2 s, and never on a pipe without it', async () => {
    const args = ['mix', '--port', String(memcached.port), '--duration', '2.6', '--conns', '1', '--keys', '100'];
    const [live, quiet, tty, short] = await Promise.all([run([...args, '--progress']), run(args), runHere(args, true), runHere(['mix', '--port', String(memcached.port), '--duration', '1'], true)]);
    expect(tty.stderr).toMatch(/\r\x1b\[Kmix [23]s  /);
    expect(short.stderr, 'a run under 2 s stays quiet').toBe('');
    expect(live.code).toBe(0);
    expect(live.stderr).toMatch(/\r\x1b\[Kmix [23]s  [\d,]+ ops\/s  [\d,]+ requests  errors 0/);
    expect(live.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
