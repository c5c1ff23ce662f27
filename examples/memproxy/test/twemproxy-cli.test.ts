/**
 * The built cleave-twemproxy bin as a drop-in for nutcracker 0.5.0: its command line and `-t` against the real
 * nutcracker's exit statuses for the same arguments and files; pools served each on its own listen address (TCP,
 * and a unix socket with its permissions) over its own real memcached processes; the pid file; -d; signals; and
 * `memproxy --config` serving the same nutcracker.yml.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, TlsRawClient, freePort, startMemcached, tlsFixturePath, type MemcachedProcess } from '@cleave/testkit';
import { runMemproxy, startMemproxy } from './spawn.js';

const TWEMPROXY = fileURLToPath(new URL('../dist/twemproxy.js', import.meta.url));
const NUTCRACKER = '/usr/sbin/nutcracker';

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a program to its end (no standard input: nutcracker logs there before it opens its log). */
function run(bin: string, args: readonly string[], cwd?: string): Promise<Ran> {
  return new Promise((resolve) => {
    const child =
      bin === NUTCRACKER
        ? spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd })
        : spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Running {
  child: ChildProcess;
  stderr(): string;
  /** SIGTERM (or `signal`) and the exit status. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start the bin in the foreground and wait for its "stats listening" line, which comes once every pool listens. */
function startTwemproxy(args: readonly string[]): Promise<Running> {
  const child = spawn(process.execPath, [TWEMPROXY, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cleave-twemproxy did not start: ${err}`));
    }, 15_000);
    const early = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`cleave-twemproxy exited with ${code}: ${err}`));
    };
    child.once('exit', early);
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (!/stats listening on/.test(err)) return;
      clearTimeout(timer);
      child.off('exit', early);
      resolve({
        child,
        stderr: () => err,
        async stop(signal: NodeJS.Signals = 'SIGTERM') {
          if (child.exitCode === null) child.kill(signal);
          const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(t);
          return code;
        },
      });
    });
  });
}

/** Which of `keys` each memcached holds, asked directly. */
async function holders(backends: readonly MemcachedProcess[], keys: readonly string[]): Promise<Set<string>[]> {
  return Promise.all(
    backends.map(async (m) => {
      const c = await RawClient.connect(m.socketPath !== undefined ? { path: m.socketPath } : { port: m.port });
      const reply = (await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString();
      c.close();
      return new Set([...reply.matchAll(/^VALUE (\S+) /gm)].map((x) => x[1]!));
    }),
  );
}

/** Set `keys` through a pool's listen address and read them back in one multi-get. */
async function setAndGetAll(target: { port: number } | { path: string }, keys: readonly string[]): Promise<string> {
  const c = await RawClient.connect(target);
  for (const k of keys) expect((await c.request(`set ${k} 0 0 ${k.length}\r\n${k}\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
  const got = (await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString();
  c.close();
  return got;
}

const expectedGet = (keys: readonly string[]) => keys.map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n';

describe('cleave-twemproxy command line, against nutcracker 0.5.0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cleave-twemproxy-cli-'));
  const good = join(dir, 'good.yml');
  beforeAll(() => writeFileSync(good, 'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    [['-s', '0'], /option -s value 0 is not a valid port \(1-65535\)/],
    [['--stats-port=70000'], /option -s value 70000 is not a valid port/],
    [['-v', 'loud'], /option -v requires a number \(log level 0-11\), got 'loud'/],
    [['-i', '-5'], /option -i requires a number \(milliseconds\), got '-5'/],
    [['-m', '100'], /mbuf chunk size must be between 512 and 16777216 bytes, got 100/],
    [['-m', '0'], /option -m requires a non-zero number/],
    [['-x'], /invalid option -- 'x'/],
    [['--bogus'], /unrecognized option '--bogus'/],
    [['-c'], /option -c requires a file name/],
    [['-s'], /option -s requires a number/],
    [['--daemonize=yes'], /option '--daemonize' doesn't allow an argument/],
  ])("refuses %j with nutcracker's exit status, naming the option and what it takes", async (args, message) => {
    // After -t, so that a refused option cannot leave either program serving.
    const [theirs, ours] = await Promise.all([run(NUTCRACKER, ['-t', '-c', good, ...args]), run(TWEMPROXY, ['-t', '-c', good, ...args])]);
    expect(theirs.code).toBe(1);
    expect(ours.code).toBe(theirs.code);
    expect(ours.stderr).toMatch(message);
    expect(ours.stderr).toContain('Usage: cleave-twemproxy');
  });

  it('takes options as getopt_long does: groups, attached values, long prefixes', async () => {
    for (const args of [
      ['-tc', good],
      ['-t', `-c${good}`, '-v6', '-m', '512'],
      ['--test', `--conf=${good}`, '--verb', '7', '--mbuf-size=16384'],
    ]) {
      const [theirs, ours] = await Promise.all([run(NUTCRACKER, args), run(TWEMPROXY, args)]);
      expect(theirs.code).toBe(0);
      expect(ours.code).toBe(0);
      expect(ours.stderr).toContain(`configuration file '${good}' syntax is ok`);
    }
  });

  it('-h, -V and -D answer on stderr and exit 0 as nutcracker does; -D names the stats nutcracker names', async () => {
    const help = await run(TWEMPROXY, ['-h']);
    expect(help.code).toBe(0);
    for (const opt of [
      '--help',
      '--version',
      '--test-conf',
      '--daemonize',
      '--describe-stats',
      '--verbose',
      '--output',
      '--conf-file',
      '--stats-port',
      '--stats-addr',
      '--stats-interval',
      '--pid-file',
      '--mbuf-size',
    ]) {
      expect(help.stderr).toContain(opt);
    }
    expect(help.stderr).toMatch(/no effect/);
    expect(help.stderr).toMatch(/timeout:.*\n.*1000 msec/);
    const version = await run(TWEMPROXY, ['-V']);
    expect(version.code).toBe(0);
    expect(version.stderr).toMatch(/^This is cleave-twemproxy-\d+\.\d+\.\d+ \(nutcracker-0\.5\.0 compatible\)\n/);
    const [theirs, ours] = await Promise.all([run(NUTCRACKER, ['-D']), run(TWEMPROXY, ['-D'])]);
    expect(ours.code).toBe(theirs.code);
    const fields = (text: string) => [...text.matchAll(/^ {2}(\w+) +"/gm)].map((m) => m[1]);
    expect(fields(ours.stderr)).toEqual(fields(theirs.stderr));
    expect(fields(ours.stderr).length).toBeGreaterThan(15);
  });
});

describe('cleave-twemproxy -t, against nutcracker 0.5.0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cleave-twemproxy-t-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const S = '  servers:\n   - 127.0.0.1:11211:1\n';
  const pool = (body: string, name = 'alpha', listen = '127.0.0.1:22121') => `${name}:\n  listen: ${listen}\n${body}`;

  /** [file content, what our refusal names (undefined: accepted)]. */
  const cases: [string, string, RegExp | undefined][] = [
    [
      'every key',
      pool(
        '  hash: fnv1a_64\n  hash_tag: "{}"\n  distribution: ketama\n  timeout: 400\n  backlog: 1024\n  client_connections: 10\n' +
          '  redis: false\n  tcpkeepalive: true\n  redis_db: 0\n  preconnect: true\n  auto_eject_hosts: true\n  server_connections: 2\n' +
          '  server_retry_timeout: 2000\n  server_failure_limit: 3\n  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:2 two\n   - /tmp/mc.sock:1\n',
      ) + pool(S, 'beta', '/tmp/cleave-beta.sock 0666'),
      undefined,
    ],
    ['comments and quotes', `# pools\n"alpha": # first\n  listen: "localhost:22121"\n  preconnect: "true"\n${S}`, undefined],
    ['an unknown key', pool(`  reuseport: true\n${S}`), /pool 'alpha': reuseport: is unknown \(value 'true'\)/],
    ['a bool', pool(`  auto_eject_hosts: yes\n${S}`), /pool 'alpha': auto_eject_hosts: 'yes' is not "true" or "false"/],
    ['a number', pool(`  timeout: 1s\n${S}`), /pool 'alpha': timeout: '1s' is not a number/],
    ['a hash', pool(`  hash: sha256\n${S}`), /pool 'alpha': hash: 'sha256' is not a valid hash/],
    ['a distribution', pool(`  distribution: jump\n${S}`), /pool 'alpha': distribution: 'jump' is not a valid distribution/],
    ['a hash tag', pool(`  hash_tag: "{"\n${S}`), /pool 'alpha': hash_tag: '\{' is not a valid hash tag/],
    ['a duplicate key', pool(`  hash: md5\n  hash: md5\n${S}`), /pool 'alpha': hash: 'md5' is a duplicate/],
    ['no listen', `alpha:\n${S}`, /pool 'alpha': listen: is missing/],
    ['a listen port', pool(S, 'alpha', '127.0.0.1:0'), /pool 'alpha': listen: '127.0.0.1:0' has an invalid port/],
    [
      'a listen host that does not resolve',
      pool(S, 'alpha', 'nonexistent.invalid:22121'),
      /pool 'alpha': listen: 'nonexistent.invalid:22121': host 'nonexistent.invalid' does not resolve/,
    ],
    [
      'socket permissions',
      pool(S, 'alpha', '/tmp/x.sock 1777'),
      /pool 'alpha': listen: '\/tmp\/x.sock 1777' has an invalid file permission/,
    ],
    [
      'a server line',
      pool('  servers:\n   - 127.0.0.1:11211\n'),
      /pool 'alpha': servers: '127.0.0.1:11211' is not "hostname:port:weight \[name\]"/,
    ],
    ['a zero weight', pool('  servers:\n   - 127.0.0.1:11211:0\n'), /pool 'alpha': servers: '127.0.0.1:11211:0' has a zero weight/],
    [
      'two servers named alike',
      pool('  servers:\n   - 10.0.0.1:11211:1 a\n   - 10.0.0.2:11211:1 a\n'),
      /pool 'alpha': servers: .* have the same name 'a'/,
    ],
    ['server_connections: 0', pool(`  server_connections: 0\n${S}`), /pool 'alpha': server_connections: '0' cannot be 0/],
    ['redis_auth', pool(`  redis_auth: pw\n${S}`), /pool 'alpha': redis_auth: is only valid for a redis pool/],
    ['a flow list', pool('  servers: [127.0.0.1:11211:1]\n'), /pool 'alpha': servers: flow collections/],
    ['an anchor', pool(`  hash: &h md5\n${S}`), /pool 'alpha': hash: anchors/],
    ['nesting', pool(`  extra:\n    deep: 1\n${S}`), /pool 'alpha': extra: is nested too deep/],
    ['servers not as a list', pool('  servers: 127.0.0.1:11211:1\n'), /pool 'alpha': servers: must be a list/],
    ['two pools on one listen', pool(S) + pool(S, 'beta'), /pools 'alpha' and 'beta': listen: both listen on '127.0.0.1:22121'/],
  ];

  it.each(cases)('%s: the same exit status as nutcracker', async (what, text, refusal) => {
    const file = join(dir, `${what.replace(/\W+/g, '-')}.yml`);
    writeFileSync(file, text);
    const [theirs, ours] = await Promise.all([run(NUTCRACKER, ['-t', '-c', file]), run(TWEMPROXY, ['-t', '-c', file])]);
    expect(ours.code).toBe(theirs.code);
    if (refusal === undefined) {
      expect(ours.code).toBe(0);
      expect(ours.stderr).toBe(`cleave-twemproxy: configuration file '${file}' syntax is ok\n`);
    } else {
      expect(ours.code).toBe(1);
      expect(ours.stderr).toMatch(refusal);
      expect(ours.stderr).toMatch(new RegExp(`configuration file '${file}' syntax is invalid\\n$`));
    }
  });

  it('a missing file: status 1 as nutcracker, saying it cannot be opened', async () => {
    const file = join(dir, 'missing.yml');
    const [theirs, ours] = await Promise.all([run(NUTCRACKER, ['-t', '-c', file]), run(TWEMPROXY, ['-t', '-c', file])]);
    expect(ours.code).toBe(theirs.code);
    expect(ours.stderr).toContain(`failed to open configuration '${file}'`);
  });

  it("the default file is conf/nutcracker.yml, as nutcracker's", async () => {
    const cwd = mkdtempSync(join(dir, 'cwd-'));
    const missing = await run(TWEMPROXY, ['-t'], cwd);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("failed to open configuration 'conf/nutcracker.yml'");
  });

  // Where cleave-twemproxy parts from nutcracker on purpose.
  it('refuses a redis pool, which nutcracker accepts, saying it serves memcached pools only', async () => {
    const file = join(dir, 'redis.yml');
    writeFileSync(file, pool(`  redis: true\n${S}`));
    const [theirs, ours] = await Promise.all([run(NUTCRACKER, ['-t', '-c', file]), run(TWEMPROXY, ['-t', '-c', file])]);
    expect(theirs.code).toBe(0);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toContain("pool 'alpha': redis: 'true' is refused: cleave-twemproxy serves memcached pools only");
  });

  it('refuses a number past a C int, which nutcracker wraps around', async () => {
    const file = join(dir, 'big.yml');
    writeFileSync(file, pool(`  timeout: 99999999999\n${S}`));
    const ours = await run(TWEMPROXY, ['-t', '-c', file]);
    expect(ours.code).toBe(1);
    expect(ours.stderr).toContain("pool 'alpha': timeout: '99999999999' is not a number (a whole number from 0 to 2147483647)");
  });
});

describe('cleave-twemproxy serving nutcracker.yml pools', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cleave-twemproxy-serve-'));
  let backends: MemcachedProcess[] = [];
  /** alpha: two memcached over TCP; beta: one over TCP and one over a unix socket. */
  let alphaBackends: MemcachedProcess[];
  let betaBackends: MemcachedProcess[];

  beforeAll(async () => {
    alphaBackends = [await startMemcached(), await startMemcached()];
    betaBackends = [await startMemcached(), await startMemcached({ unixSocket: true })];
    backends = [...alphaBackends, ...betaBackends];
  });
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** Two pools: alpha on a TCP port, beta on a unix socket with `mode`; the yml path and where each listens. */
  async function twoPools(name: string, mode = '0600') {
    const alphaPort = await freePort();
    const betaSock = join(dir, `${name}-beta.sock`);
    const [a1, a2] = alphaBackends;
    const [b1, b2] = betaBackends;
    const file = join(dir, `${name}.yml`);
    writeFileSync(
      file,
      [
        'alpha:',
        `  listen: 127.0.0.1:${alphaPort}`,
        '  hash: fnv1a_64',
        '  distribution: ketama',
        '  timeout: 2000',
        '  server_connections: 2',
        '  servers:',
        `   - 127.0.0.1:${a1!.port}:1`,
        `   - 127.0.0.1:${a2!.port}:1 alpha-two`,
        'beta:',
        `  listen: ${betaSock} ${mode}`,
        '  hash: md5',
        '  distribution: modula',
        '  servers:',
        `   - 127.0.0.1:${b1!.port}:1`,
        `   - ${b2!.socketPath}:1`,
        '',
      ].join('\n'),
    );
    return { file, alphaPort, betaSock };
  }

  /** Keys set through each pool are on exactly one of that pool's memcached servers and on none of the other's. */
  async function expectEachPoolOnItsServers(
    alpha: { port: number } | { path: string },
    beta: { port: number } | { path: string },
    tag: string,
  ) {
    const alphaKeys = Array.from({ length: 24 }, (_, i) => `${tag}-a-${i}`);
    const betaKeys = Array.from({ length: 24 }, (_, i) => `${tag}-b-${i}`);
    expect(await setAndGetAll(alpha, alphaKeys)).toBe(expectedGet(alphaKeys));
    expect(await setAndGetAll(beta, betaKeys)).toBe(expectedGet(betaKeys));
    const [inAlpha, inBeta] = [
      await holders(alphaBackends, [...alphaKeys, ...betaKeys]),
      await holders(betaBackends, [...alphaKeys, ...betaKeys]),
    ];
    for (const k of alphaKeys) {
      expect(inAlpha.filter((s) => s.has(k))).toHaveLength(1);
      expect(inBeta.some((s) => s.has(k))).toBe(false);
    }
    for (const k of betaKeys) {
      expect(inBeta.filter((s) => s.has(k))).toHaveLength(1);
      expect(inAlpha.some((s) => s.has(k))).toBe(false);
    }
  }

  it('serves each pool on its own listen address over its own memcached servers; SIGTERM exits 0 and removes the pid file', async () => {
    const { file, alphaPort, betaSock } = await twoPools('fg');
    const pidFile = join(dir, 'fg.pid');
    const tp = await startTwemproxy(['-c', file, '-s', String(await freePort()), '-a', '127.0.0.1', '-p', pidFile]);
    try {
      expect(tp.stderr()).toMatch(/started on pid \d+/);
      expect(tp.stderr()).toContain(`pool 'alpha' listening on 127.0.0.1:${alphaPort}: 2 servers, ketama/fnv1a_64`);
      expect(tp.stderr()).toContain(`pool 'beta' listening on unix:${betaSock}: 2 servers, modula/md5`);
      expect(readFileSync(pidFile, 'utf8')).toBe(String(tp.child.pid));
      // listen: PATH 0600: the socket file gets those permissions.
      expect(statSync(betaSock).mode & 0o777).toBe(0o600);
      await expectEachPoolOnItsServers({ port: alphaPort }, { path: betaSock }, 'fg');
    } finally {
      expect(await tp.stop()).toBe(0);
    }
    expect(existsSync(pidFile)).toBe(false);
    expect(tp.stderr()).toMatch(/signal SIGTERM received/);
  });

  it('SIGINT stops it as SIGTERM does, with status 0', async () => {
    const { file } = await twoPools('int', '0666');
    const tp = await startTwemproxy(['-c', file, '-s', String(await freePort()), '-a', '127.0.0.1']);
    expect(await tp.stop('SIGINT')).toBe(0);
  });

  it('-d returns once the daemon serves; the pid file names the live daemon, which SIGTERM stops and which then removes it', async () => {
    const { file, alphaPort, betaSock } = await twoPools('daemon', '0666');
    const pidFile = join(dir, 'daemon.pid');
    const log = join(dir, 'daemon.log');
    const started = await run(TWEMPROXY, ['-d', '-c', file, '-s', String(await freePort()), '-a', '127.0.0.1', '-p', pidFile, '-o', log]);
    expect(started.code).toBe(0);
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const alive = () => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    try {
      expect(alive()).toBe(true);
      expect(statSync(betaSock).mode & 0o777).toBe(0o666);
      await expectEachPoolOnItsServers({ port: alphaPort }, { path: betaSock }, 'daemon');
      expect(readFileSync(log, 'utf8')).toContain(`started on pid ${pid}`);
    } finally {
      if (alive()) process.kill(pid, 'SIGTERM');
    }
    // The daemon is not our child: wait for it to be gone, then for its pid file to be.
    const deadline = Date.now() + 10_000;
    while (alive() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(alive()).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    expect(readFileSync(log, 'utf8')).toMatch(/signal SIGTERM received[^\n]*\n.*done\n$/);
  });

  it('-d with a configuration it refuses: status 1 and the problems on stderr, no daemon left', async () => {
    const file = join(dir, 'bad-daemon.yml');
    writeFileSync(file, `alpha:\n  listen: 127.0.0.1:${await freePort()}\n  hash: sha1\n  servers:\n   - 127.0.0.1:11211:1\n`);
    const pidFile = join(dir, 'bad-daemon.pid');
    const r = await run(TWEMPROXY, ['-d', '-c', file, '-p', pidFile, '-s', String(await freePort())]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("pool 'alpha': hash: 'sha1' is not a valid hash");
    expect(existsSync(pidFile)).toBe(false);
  });

  it('a listen address already taken: status 1 naming the pool and its listen:, as nutcracker exits 1', async () => {
    const { file, alphaPort, betaSock } = await twoPools('taken');
    const first = await startTwemproxy(['-c', file, '-s', String(await freePort()), '-a', '127.0.0.1']);
    try {
      // Pools start in nutcracker's order (shorter names first): beta's socket, which the first instance serves
      // and keeps (it is not unlinked from under it), is the one named.
      const second = await run(TWEMPROXY, ['-c', file, '-s', String(await freePort()), '-a', '127.0.0.1']);
      expect(second.code).toBe(1);
      expect(second.stderr).toContain(
        `pool 'beta': listen: '${betaSock} 0600': listen EADDRINUSE: a server already listens on ${betaSock}`,
      );
      await expectEachPoolOnItsServers({ port: alphaPort }, { path: betaSock }, 'taken');
      // A TCP listen address taken alone is named the same way.
      const alphaOnly = join(dir, 'taken-alpha.yml');
      writeFileSync(alphaOnly, readFileSync(file, 'utf8').split('beta:')[0]!);
      const third = await run(TWEMPROXY, ['-c', alphaOnly, '-s', String(await freePort()), '-a', '127.0.0.1']);
      expect(third.code).toBe(1);
      expect(third.stderr).toContain(`pool 'alpha': listen: '127.0.0.1:${alphaPort}': listen EADDRINUSE`);
    } finally {
      expect(await first.stop()).toBe(0);
    }
  });

  it('a refused configuration at start: status 1, the problems in the -o log at -v level 3 and up', async () => {
    const file = join(dir, 'bad.yml');
    writeFileSync(file, 'alpha:\n  listen: 127.0.0.1:22121\n  bogus: 1\n  servers:\n   - 127.0.0.1:11211:1\n');
    const log = join(dir, 'bad.log');
    const r = await run(TWEMPROXY, ['-c', file, '-o', log, '-v', '3']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`cleave-twemproxy: configuration file '${file}' syntax is invalid\n`);
    expect(readFileSync(log, 'utf8')).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}\] conf: pool 'alpha': bogus: is unknown/m);
    // -v 2 leaves errors out of the log; the start and end lines are always written.
    const quiet = join(dir, 'quiet.log');
    expect((await run(TWEMPROXY, ['-c', file, '-o', quiet, '-v', '2'])).code).toBe(1);
    expect(readFileSync(quiet, 'utf8')).not.toContain('bogus');
    expect(readFileSync(quiet, 'utf8')).toMatch(/started on pid \d+\n.*done\n$/);
  });

  it('SIGHUP reopens the -o log file, for log rotation', async () => {
    const { file } = await twoPools('hup');
    const log = join(dir, 'hup.log');
    const child = spawn(process.execPath, [TWEMPROXY, '-c', file, '-s', String(await freePort()), '-a', '127.0.0.1', '-o', log], {
      stdio: 'ignore',
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const until = async (path: string, re: RegExp) => {
      while (!(existsSync(path) && re.test(readFileSync(path, 'utf8')))) {
        expect(child.exitCode).toBeNull();
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      await until(log, /stats listening on/);
      renameSync(log, `${log}.1`);
      child.kill('SIGHUP');
      await until(`${log}.1`, /signal SIGHUP received, reopening log file/);
      // The file is there again: reopened (created) under its name.
      await until(log, /(?:)/);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(readFileSync(log, 'utf8')).toMatch(/signal SIGTERM received.*\n.*done\n$/);
    expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('SIGTERM');
  });

  it('logs a server taken out of the ring (auto_eject_hosts) at the default level', async () => {
    const deadPort = await freePort();
    const port = await freePort();
    const file = join(dir, 'eject.yml');
    writeFileSync(
      file,
      [
        'alpha:',
        `  listen: 127.0.0.1:${port}`,
        '  auto_eject_hosts: true',
        '  server_failure_limit: 1',
        '  server_retry_timeout: 600000',
        '  servers:',
        `   - 127.0.0.1:${alphaBackends[0]!.port}:1`,
        `   - 127.0.0.1:${deadPort}:1 dead`,
        '',
      ].join('\n'),
    );
    const tp = await startTwemproxy(['-c', file, '-s', String(await freePort()), '-a', '127.0.0.1']);
    try {
      const c = await RawClient.connect({ port });
      // Keys on the server nobody listens for fail until it is ejected; then every key is served by the other.
      for (let i = 0; !/server 'dead' was ejected from the ring/.test(tp.stderr()); i++) {
        expect(i).toBeLessThan(5000);
        expect((await c.request(`get eject-${i}\r\n`, '\r\n')).toString()).toMatch(/^(END|SERVER_ERROR .*)\r\n$/);
        if (i % 20 === 19) await new Promise((r) => setTimeout(r, 50));
      }
      expect(await setAndGetAll({ port }, ['after-1', 'after-2', 'after-3'])).toBe(expectedGet(['after-1', 'after-2', 'after-3']));
      c.close();
    } finally {
      expect(await tp.stop()).toBe(0);
    }
  });

  it('memproxy --config serves the same nutcracker.yml, each pool on its own listen address', async () => {
    const { file, alphaPort, betaSock } = await twoPools('memproxy', '0660');
    const mp = await startMemproxy(['--config', file, '--max-conns', '64']);
    try {
      // One line per pool, written once every pool listens.
      while (!/listening on unix:/.test(mp.stdout()) || !/listening on 127\.0\.0\.1:/.test(mp.stdout()))
        await new Promise((r) => setTimeout(r, 20));
      expect(mp.stdout()).toContain(`memproxy listening on 127.0.0.1:${alphaPort}: pool 'alpha', 2 memcached servers (ketama/fnv1a_64)`);
      expect(mp.stdout()).toContain(`memproxy listening on unix:${betaSock}: pool 'beta', 2 memcached servers (modula/md5)`);
      expect(statSync(betaSock).mode & 0o777).toBe(0o660);
      await expectEachPoolOnItsServers({ port: alphaPort }, { path: betaSock }, 'memproxy');
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  it('memproxy --config with a one-pool nutcracker.yml, --tls-port and --auth-file serves the pool to TLS clients that log in', async () => {
    const port = await freePort();
    const [a1, a2] = alphaBackends;
    const file = join(dir, 'tls.yml');
    writeFileSync(
      file,
      ['alpha:', `  listen: 127.0.0.1:${port}`, '  servers:', `   - 127.0.0.1:${a1!.port}:1`, `   - 127.0.0.1:${a2!.port}:1`, ''].join(
        '\n',
      ),
    );
    const users = join(dir, 'tls-users');
    writeFileSync(users, 'alice:secret\n');
    const mp = await startMemproxy([
      '--config',
      file,
      '--tls-port',
      '0',
      '--tls-cert',
      tlsFixturePath('server.pem'),
      '--tls-key',
      tlsFixturePath('server-key.pem'),
      '--auth-file',
      users,
    ]);
    try {
      while (!/\(TLS\)/.test(mp.stdout())) await new Promise((r) => setTimeout(r, 20));
      const m = /127\.0\.0\.1:(\d+) \(TLS\): pool 'alpha'/.exec(mp.stdout());
      expect(m, mp.stdout()).not.toBeNull();
      expect(mp.stdout()).toContain('auth required (1 user)');
      const secure = await TlsRawClient.connect({ port: Number(m![1]) });
      expect((await secure.request('get tls-0\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR unauthenticated\r\n');
      expect((await secure.request('set x 0 0 12\r\nalice secret\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      const keys = Array.from({ length: 16 }, (_, i) => `tls-${i}`);
      for (const k of keys) expect((await secure.request(`set ${k} 0 0 ${k.length}\r\n${k}\r\n`, '\r\n')).toString()).toBe('STORED\r\n');
      const got = (await secure.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString();
      expect(got).toBe(keys.map((k) => `VALUE ${k} 0 ${k.length}\r\n${k}\r\n`).join('') + 'END\r\n');
      secure.close();
      // The keys went through the pool to its servers: each is on exactly one.
      const [inA1, inA2] = await holders(alphaBackends, keys);
      for (const k of keys) expect(Number(inA1!.has(k)) + Number(inA2!.has(k))).toBe(1);
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  it('memproxy --config with a nutcracker.yml refuses the flags that cannot apply, naming them', async () => {
    const { file } = await twoPools('flags');
    for (const flag of [['--port', '11311'], ['--l2-enabled'], ['--backend-conns', '4'], ['--tls-only']]) {
      const r = await runMemproxy(['--config', file, ...flag]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`${flag[0]} cannot be combined with a nutcracker.yml --config`);
    }
    // TLS is a second listener of one pool: a file of two pools says so.
    const tls = await runMemproxy([
      '--config',
      file,
      '--tls-port',
      '0',
      '--tls-cert',
      tlsFixturePath('server.pem'),
      '--tls-key',
      tlsFixturePath('server-key.pem'),
    ]);
    expect(tls.code).toBe(2);
    expect(tls.stderr).toContain('--tls-port: ');
    expect(tls.stderr).toContain(
      'has 2 pools; a TLS listener (on --host, default 127.0.0.1) is added to a nutcracker.yml of one pool only',
    );
    const bad = join(dir, 'flags-bad.yml');
    writeFileSync(bad, 'alpha:\n  listen: 127.0.0.1:22121\n  hash: sha1\n  servers:\n   - 127.0.0.1:11211:1\n');
    const r = await runMemproxy(['--config', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("pool 'alpha': hash: 'sha1' is not a valid hash");
  });
});
