/**
 * What memproxy says when it is given something wrong: every message names the flag (--port) or the config
 * file's key (port in FILE) and says what is allowed. The built memproxy is run and its stderr compared whole.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tlsFixturePath } from '@cleave/testkit';
import { runMemproxy } from './spawn.js';
import { ConfigError, HELP, loadConfig } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-messages-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HINT = 'Run memproxy --help for the options.\n';
/** stderr of a refused run: each problem on its own line, then the hint. */
const refused = (...lines: string[]) => lines.map((l) => `memproxy: ${l}\n`).join('') + HINT;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function expectRefused(args: string[], ...lines: string[]): Promise<void> {
  const r = await runMemproxy(args);
  expect(r.stderr).toBe(refused(...lines));
  expect(r.stdout).toBe('');
  expect(r.code).toBe(2);
}

const PORT_RULE = 'a whole number from 0 to 65535';

describe('bad flag values name the flag and say what is allowed', () => {
  it('a port that is not a number', () => expectRefused(['--port', 'abc'], `--port must be ${PORT_RULE}, got 'abc'`));

  it('negative numbers are read as numbers and refused as such', async () => {
    await expectRefused(['--port', '-1'], `--port must be ${PORT_RULE}, got -1`);
    await expectRefused(['-p', '-1'], `--port must be ${PORT_RULE}, got -1`);
    await expectRefused(
      ['--idle-timeout', '-3'],
      '--idle-timeout must be a duration such as 30s, 5m or 250ms (a plain number is seconds; 0 = never), got -3',
    );
  });

  it('a bad size; only the value at fault is reported, not the limits it spoils', async () => {
    await expectRefused(
      ['--l1-inmem-size', '0'],
      '--l1-inmem-size must be a size of at least 1m (bytes, or with a k, m or g suffix: 64m, 1g), got 0',
    );
    await expectRefused(
      ['--max-item-size', '64x'],
      "--max-item-size must be a size from 1k to 1g (bytes, or with a k, m or g suffix: 512k, 1m, 16m), got '64x'",
    );
  });

  it('a bad address', async () => {
    await expectRefused(
      ['--host', '999.1.1.1'],
      "--host must be an IP address (such as 127.0.0.1, ::1 or 0.0.0.0) or a host name, got '999.1.1.1'",
    );
    await expectRefused(
      ['--l1-addr', 'localhost'],
      "--l1-addr must be HOST:PORT, such as 127.0.0.1:11211 or [::1]:11211 (a unix socket goes in --l1-sock), got 'localhost'",
    );
  });

  it('a host name that does not resolve', () =>
    expectRefused(
      ['--host', 'nowhere.invalid'],
      '--host nowhere.invalid does not resolve (ENOTFOUND): give an IP address of this machine (such as 127.0.0.1, ::1 or 0.0.0.0) or a name that resolves to one',
    ));

  it('a missing value', async () => {
    await expectRefused(['--port'], `--port needs a value: ${PORT_RULE}`);
    await expectRefused(
      ['--max-conns', '--chunked'],
      '--max-conns needs a value: a whole number from 1 to 1000000; it is followed by the option --chunked',
    );
  });

  it('an unknown option, with the nearest one', async () => {
    await expectRefused(['--prot', '11311'], 'unknown option --prot; did you mean --port?');
    await expectRefused(['--max-con', '10', '--bogus'], 'unknown option --max-con; did you mean --max-conns?', 'unknown option --bogus');
    await expectRefused(['-port', '1'], 'unknown option -port; did you mean --port?');
    await expectRefused(['--chunked=yes'], "--chunked is a switch and takes no value, got 'yes'");
    await expectRefused(['11311'], "unexpected argument '11311': options start with - or -- (memproxy --help lists them)");
  });

  it('flags that conflict', async () => {
    await expectRefused(['--l1-sock', '/tmp/mc.sock', '--l1-addr', '127.0.0.1:11311'], 'give --l1-sock or --l1-addr, not both');
    await expectRefused(['--chunked'], '--chunked needs a memcached L1 (--l1-sock or --l1-addr)');
    await expectRefused(['--max-item-size', '2m', '--l1-inmem-size', '1m'], '--max-item-size (2m) must not exceed --l1-inmem-size (1m)');
    await expectRefused(
      ['--use-domain-socket', '--port', '11311'],
      '--port cannot be combined with --use-domain-socket: it listens on --sock-path instead',
    );
  });

  it('a file that cannot be read', async () => {
    await expectRefused(
      ['--config', join(dir, 'missing.yml')],
      `--config ${join(dir, 'missing.yml')}: cannot read it: no such file (ENOENT)`,
    );
    await expectRefused(['--auth-file', dir], `--auth-file ${dir}: cannot read it: it is a directory (EISDIR)`);
    const yml = file('users-missing.yml', `auth-file: ${join(dir, 'no-users')}\n`);
    await expectRefused(['--config', yml], `auth-file in ${yml}: ${join(dir, 'no-users')}: cannot read it: no such file (ENOENT)`);
    await expectRefused(
      ['--log-file', join(dir, 'no-such-dir', 'mp.log')],
      `--log-file ${join(dir, 'no-such-dir', 'mp.log')}: cannot append to it: its directory ${join(dir, 'no-such-dir')} does not exist (ENOENT)`,
    );
    const sock = join(dir, 'no-such-dir', 'mp.sock');
    for (const check of [[], ['--check']]) {
      await expectRefused(
        ['--use-domain-socket', '--sock-path', sock, ...check],
        `--sock-path ${sock}: cannot listen there: its directory ${join(dir, 'no-such-dir')} does not exist (ENOENT)`,
      );
    }
  });

  it('every value-taking flag in --help names itself when its value is missing or wrong', () => {
    const flags = [...HELP.matchAll(/^\s+(?:-\w, )?--([a-z\d-]+) [A-Z]/gm)].map((m) => m[1]!);
    expect(flags.length).toBeGreaterThanOrEqual(20);
    const problem = (args: string[]) => {
      try {
        loadConfig(args);
      } catch (e) {
        expect(e).toBeInstanceOf(ConfigError);
        return (e as ConfigError).message;
      }
      throw new Error(`${args.join(' ')} was accepted`);
    };
    for (const flag of flags) {
      expect(problem([`--${flag}`])).toMatch(new RegExp(`^--${flag} needs a value: \\w`));
      // An empty value is wrong for every flag; numbers, sizes, times and addresses refuse "-1x" too.
      expect(problem([`--${flag}`, ''])).toMatch(new RegExp(`^--${flag} must be .+, got ''$`));
      if (
        ![
          'sock-path',
          'l1-sock',
          'l2-sock',
          'l1-lmdb',
          'l2-lmdb',
          'tls-cert',
          'tls-key',
          'tls-ca',
          'auth-file',
          'log-file',
          'config',
          'routes',
        ].includes(flag)
      ) {
        expect(problem([`--${flag}`, '-1x'])).toMatch(new RegExp(`^--${flag} must be .+, got '-1x'$`));
      }
    }
  });

  it('a port another server listens on: status 1, naming the flag', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as net.AddressInfo).port;
    try {
      const r = await runMemproxy(['--port', String(port)]);
      expect(r.stderr).toBe(`memproxy: cannot listen on 127.0.0.1:${port} (--port): another server listens there (EADDRINUSE)\n`);
      expect(r.code).toBe(1);
    } finally {
      taken.close();
    }
  });
});

describe('config files', () => {
  it('YAML with memproxy keys is read as YAML; sizes keep their suffixes', () => {
    const yml = file('memproxy.yml', 'port: 11311\nl1-inmem-size: 64m\nmax-item-size: 512k\nidle-timeout: 30s\n');
    expect(loadConfig(['--config', yml])).toMatchObject({
      port: 11311,
      l1InmemSize: 64 << 20,
      maxItemSize: 512 << 10,
      idleTimeout: 30_000,
    });
    const big = file('big.yml', 'l1-inmem-size: 1g\nmax-item-size: 16m\nuse-domain-socket: true\n');
    expect(loadConfig(['--config', big])).toMatchObject({ l1InmemSize: 1 << 30, maxItemSize: 16 << 20, useDomainSocket: true });
  });

  it('JSON keeps working, with the long option names or camelCase', () => {
    const json = file('memproxy.json', JSON.stringify({ 'max-conns': 10, l1InmemSize: '128m' }));
    expect(loadConfig(['--config', json, '-p', '0'])).toMatchObject({ port: 0, maxConns: 10, l1InmemSize: 128 << 20 });
  });

  it('a mistyped key names the file and suggests the nearest key', async () => {
    const yml = file('typo.yml', 'port: 11311\nmaxconns: 10\n');
    await expectRefused(['--config', yml], `maxconns in ${yml} is not a memproxy option; did you mean max-conns?`);
  });

  it('a bad value names the key and the file', async () => {
    const yml = file('bad.yml', 'port: -1\nchunked: yes\n');
    await expectRefused(
      ['--config', yml],
      `port in ${yml} must be ${PORT_RULE}, got -1`,
      `chunked in ${yml} must be true or false, got 'yes'`,
    );
    const json = file('bad.json', '{"maxConns": 0}');
    await expectRefused(['--config', json], `maxConns in ${json} must be a whole number from 1 to 1000000, got 0`);
  });

  it('a file that is neither, or holds no options', async () => {
    const broken = file('broken.yml', 'port: [1\n');
    const r = await runMemproxy(['--config', broken]);
    expect(r.stderr).toBe(
      refused(
        `--config ${broken}: cannot be read as JSON or as YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1`,
      ),
    );
    const list = file('list.yml', '- 1\n- 2\n');
    await expectRefused(
      ['--config', list],
      `--config ${list}: holds a list; give memproxy's options (one 'key: value' per line, e.g. port: 11311) or nutcracker pools`,
    );
  });

  it('a nutcracker.yml is told by its pools and checked as nutcracker checks it', async () => {
    const yml = file('nutcracker.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  hash: sha1\n  servers:\n   - 127.0.0.1:11211:1\n');
    await expectRefused(
      ['--config', yml],
      `--config ${yml}: pool 'alpha': hash: 'sha1' is not a valid hash (one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins)`,
    );
  });
});

describe('--check', () => {
  it('says what would be served and exits 0, listening on nothing', async () => {
    const yml = file('check.yml', `port: 11311\nl1-inmem-size: 128m\n`);
    const users = file('users', 'alice:secret\n');
    const r = await runMemproxy([
      '--config',
      yml,
      '--tls-port',
      '11312',
      '--tls-cert',
      tlsFixturePath('server.pem'),
      '--tls-key',
      tlsFixturePath('server-key.pem'),
      '--auth-file',
      users,
      '--check',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'memproxy: configuration OK: would listen on 127.0.0.1:11311 and 127.0.0.1:11312 (TLS) (loopback only; --host 0.0.0.0 to expose): ' +
        'in-memory L1 134217728 bytes, auth required (1 user), max item 1048576 bytes, max 1024 connections\n',
    );
    expect(r.code).toBe(0);
    const pools = file(
      'check-pools.yml',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n   - 127.0.0.1:11212:1\n',
    );
    const p = await runMemproxy(['--config', pools, '--check']);
    expect(p.stdout).toBe(
      "memproxy: configuration OK: would listen on 127.0.0.1:22121: pool 'alpha', 2 memcached servers (ketama/fnv1a_64)\n",
    );
    expect(p.code).toBe(0);
  });

  it('finds what would fail at start: a key that does not belong to the certificate, a CA file without certificates, a malformed auth file, a log file that is a directory', async () => {
    const tls = [
      '--tls-port',
      '11312',
      '--tls-cert',
      tlsFixturePath('server.pem'),
      '--tls-key',
      tlsFixturePath('client-key.pem'),
      '--check',
    ];
    const r = await runMemproxy(tls);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^memproxy: --tls-cert\/--tls-key: not usable PEM \(.*key values mismatch\): give a PEM certificate, the private key that belongs to it\n/,
    );
    const notCa = file('not-ca.pem', 'no certificate here\n');
    await expectRefused(
      [
        '--tls-port',
        '11312',
        '--tls-cert',
        tlsFixturePath('server.pem'),
        '--tls-key',
        tlsFixturePath('server-key.pem'),
        '--tls-ca',
        notCa,
        '--check',
      ],
      `--tls-ca ${notCa}: holds no PEM certificate; give the CA certificate(s) that sign the client certificates, in PEM`,
    );
    const users = file('bad-users', 'alice:secret\nbob\n');
    await expectRefused(['--auth-file', users, '--check'], `--auth-file ${users}: line 2: expected username:password`);
    mkdirSync(join(dir, 'logs.d'));
    await expectRefused(
      ['--log-file', join(dir, 'logs.d'), '--check'],
      `--log-file ${join(dir, 'logs.d')}: cannot append to it: it is a directory`,
    );
  });
});

describe('--version', () => {
  it('prints the package version, as -V too', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = await runMemproxy([flag]);
      expect(r.stdout).toBe(`memproxy ${version}\n`);
      expect(r.code).toBe(0);
    }
  });
});
