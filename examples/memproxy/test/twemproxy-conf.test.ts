/**
 * nutcracker.yml as cleave-twemproxy reads it (src/twemproxy/conf.ts): every pool key of nutcracker 0.5.0 with
 * its default, servers and listen addresses split as nutcracker splits them, the names servers get, the order
 * pools and servers come in, and a refusal naming pool, key and value for each bad input. Names and order are
 * checked against the real nutcracker's stats port; exit statuses of `-t` against the real nutcracker are in
 * twemproxy-cli.test.ts.
 */
import net from 'node:net';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, waitForListen } from '@cleave/testkit';
import { ConfError, parseConf, readConf, type ConfPool } from '../src/twemproxy/conf.js';

const NUTCRACKER = '/usr/sbin/nutcracker';

/** The problems parseConf reports for `text` (none: []). */
function problems(text: string): readonly string[] {
  try {
    parseConf(text, 'test.yml');
    return [];
  } catch (e) {
    if (e instanceof ConfError) return e.problems;
    throw e;
  }
}

const SERVERS = '  servers:\n   - 127.0.0.1:11211:1\n';
/** One pool `alpha` with `lines` (indented keys) and a server. */
const alpha = (lines: string) => `alpha:\n  listen: 127.0.0.1:22121\n${lines}${SERVERS}`;

describe('nutcracker.yml: what a pool reads', () => {
  it('fills in nutcracker 0.5.0 defaults', () => {
    const [p] = parseConf(alpha(''), 'test.yml');
    expect(p).toEqual({
      name: 'alpha',
      listen: '127.0.0.1:22121',
      listenAddress: { host: '127.0.0.1', port: 22121 },
      hash: 'fnv1a_64',
      distribution: 'ketama',
      backlog: 512,
      clientConnections: 0,
      preconnect: false,
      tcpkeepalive: false,
      redisDb: 0,
      autoEjectHosts: false,
      serverConnections: 1,
      serverRetryTimeoutMs: 30_000,
      serverFailureLimit: 2,
      servers: [{ spec: '127.0.0.1:11211:1', address: { host: '127.0.0.1', port: 11211 }, weight: 1, name: '127.0.0.1' }],
    } satisfies ConfPool);
    expect(p!.timeoutMs).toBeUndefined();
  });

  it('reads every key nutcracker 0.5.0 accepts', () => {
    const [p] = parseConf(
      alpha(
        [
          '  hash: murmur',
          '  hash_tag: "{}"',
          '  distribution: modula',
          '  timeout: 400',
          '  backlog: 1024',
          '  client_connections: 100',
          '  redis: false',
          '  tcpkeepalive: true',
          '  redis_db: 3',
          '  preconnect: true',
          '  auto_eject_hosts: true',
          '  server_connections: 4',
          '  server_retry_timeout: 2000',
          '  server_failure_limit: 1',
          '',
        ].join('\n'),
      ),
      'test.yml',
    );
    expect(p).toMatchObject({
      hash: 'murmur',
      hashTag: '{}',
      distribution: 'modula',
      timeoutMs: 400,
      backlog: 1024,
      clientConnections: 100,
      tcpkeepalive: true,
      redisDb: 3,
      preconnect: true,
      autoEjectHosts: true,
      serverConnections: 4,
      serverRetryTimeoutMs: 2000,
      serverFailureLimit: 1,
    });
  });

  it('takes timeout: 0 as not given (nutcracker: wait for ever)', () => {
    expect(parseConf(alpha('  timeout: 0\n'), 't.yml')[0]!.timeoutMs).toBeUndefined();
  });

  it('splits servers from the end, names them as nutcracker does, and sorts them by name', () => {
    const [p] = parseConf(
      [
        'alpha:',
        '  listen: 127.0.0.1:22121',
        '  servers:',
        '   - 10.0.0.1:11212:2',
        '   - 10.0.0.2:11211:1',
        '   - 10.0.0.3:011213:1',
        '   - ::1:11214:3',
        '   - /var/run/mc.sock:1',
        '   - 10.0.0.4:11215:5 cache-a',
        '   - /var/run/other.sock:2 b',
        '',
      ].join('\n'),
      'test.yml',
    );
    expect(p!.servers.map((s) => [s.name, s.spec, s.weight, s.address])).toEqual([
      ['b', '/var/run/other.sock:2', 2, { path: '/var/run/other.sock' }],
      ['cache-a', '10.0.0.4:11215:5', 5, { host: '10.0.0.4', port: 11215 }],
      ['10.0.0.2', '10.0.0.2:11211:1', 1, { host: '10.0.0.2', port: 11211 }],
      ['::1:11214', '::1:11214:3', 3, { host: '::1', port: 11214 }],
      ['10.0.0.1:11212', '10.0.0.1:11212:2', 2, { host: '10.0.0.1', port: 11212 }],
      // The port as written, and a socket's name ends with the colon nutcracker copies with it.
      ['10.0.0.3:011213', '10.0.0.3:011213:1', 1, { host: '10.0.0.3', port: 11213 }],
      ['/var/run/mc.sock:', '/var/run/mc.sock:1', 1, { path: '/var/run/mc.sock' }],
    ]);
  });

  it('reads listen: as host:port (split at the last colon) or a socket path with octal permissions', () => {
    const listen = (l: string) => parseConf(`alpha:\n  listen: ${l}\n${SERVERS}`, 't.yml')[0]!.listenAddress;
    expect(listen('0.0.0.0:22121')).toEqual({ host: '0.0.0.0', port: 22121 });
    expect(listen('::1:22121')).toEqual({ host: '::1', port: 22121 });
    expect(listen('/tmp/a.sock')).toEqual({ path: '/tmp/a.sock' });
    expect(listen('/tmp/a.sock 0666')).toEqual({ path: '/tmp/a.sock', mode: 0o666 });
    expect(listen('/tmp/a.sock 600')).toEqual({ path: '/tmp/a.sock', mode: 0o600 });
    // strtol(.., 8) reads no digit from these: 0, which leaves the socket as created (nutcracker accepts them).
    expect(listen('/tmp/a.sock 999')).toEqual({ path: '/tmp/a.sock' });
    expect(listen('/tmp/a.sock abc')).toEqual({ path: '/tmp/a.sock' });
  });

  it('lists pools in nutcracker order: shorter names first, then bytewise', () => {
    const pool = (name: string, port: number) => `${name}:\n  listen: 127.0.0.1:${port}\n${SERVERS}`;
    const pools = parseConf(pool('gamma', 1) + pool('beta', 2) + pool('alpha', 3) + pool('zz', 4), 't.yml');
    expect(pools.map((p) => p.name)).toEqual(['zz', 'beta', 'alpha', 'gamma']);
  });

  it('accepts what nutcracker accepts around the values: comments, quotes, a list written flush with its key', () => {
    expect(problems('# pools\n"alpha": # the first\n  listen: "127.0.0.1:22121" # here\n  servers:\n  - 127.0.0.1:11211:1\n')).toEqual([]);
    // nutcracker reads a list under any key as that key given once per item, and needs one list per pool.
    expect(problems('alpha:\n  listen: 127.0.0.1:22121\n  hash:\n   - md5\n  servers: 127.0.0.1:11211:1\n')).toEqual([]);
  });
});

describe('nutcracker.yml: refusals name the pool, the key and the value', () => {
  it.each([
    ['an unknown key', alpha('  reuseport: true\n'), ["pool 'alpha': reuseport: is unknown (value 'true')"]],
    ['a bool that is not true or false', alpha('  preconnect: True\n'), [`pool 'alpha': preconnect: 'True' is not "true" or "false"`]],
    ['auto_eject_hosts: 1', alpha('  auto_eject_hosts: 1\n'), [`pool 'alpha': auto_eject_hosts: '1' is not "true" or "false"`]],
    ['a negative number', alpha('  timeout: -1\n'), ["pool 'alpha': timeout: '-1' is not a number"]],
    ['a signed number', alpha('  server_failure_limit: +2\n'), ["pool 'alpha': server_failure_limit: '+2' is not a number"]],
    ['a number past a C int', alpha('  backlog: 99999999999\n'), ["pool 'alpha': backlog: '99999999999' is not a number"]],
    ['an unknown hash', alpha('  hash: sha1\n'), ["pool 'alpha': hash: 'sha1' is not a valid hash (one of one_at_a_time, md5,"]],
    [
      'an unknown distribution',
      alpha('  distribution: rendezvous\n'),
      ["pool 'alpha': distribution: 'rendezvous' is not a valid distribution"],
    ],
    ['a hash tag of three characters', alpha('  hash_tag: "{}x"\n'), ["pool 'alpha': hash_tag: '{}x' is not a valid hash tag"]],
    ['a key given twice', alpha('  hash: md5\n  hash: crc32\n'), ["pool 'alpha': hash: 'crc32' is a duplicate"]],
    ['an empty value', alpha('  hash:\n'), ["pool 'alpha': hash: has no value"]],
    ['server_connections: 0', alpha('  server_connections: 0\n'), ["pool 'alpha': server_connections: '0' cannot be 0"]],
    ['redis_auth in a memcached pool', alpha('  redis_auth: secret\n'), ["pool 'alpha': redis_auth: is only valid for a redis pool"]],
    ['a redis pool', alpha('  redis: true\n'), ["pool 'alpha': redis: 'true' is refused: cleave-twemproxy serves memcached pools only"]],
    ['no listen', `alpha:\n${SERVERS}`, ["pool 'alpha': listen: is missing"]],
    ['listen port 0', `alpha:\n  listen: 127.0.0.1:0\n${SERVERS}`, ["pool 'alpha': listen: '127.0.0.1:0' has an invalid port '0'"]],
    ['listen port 65536', `alpha:\n  listen: 127.0.0.1:65536\n${SERVERS}`, ["pool 'alpha': listen: '127.0.0.1:65536' has an invalid port"]],
    ['listen without a port', `alpha:\n  listen: localhost\n${SERVERS}`, [`pool 'alpha': listen: 'localhost' is not "hostname:port"`]],
    ['listen without a host', `alpha:\n  listen: :22121\n${SERVERS}`, ["pool 'alpha': listen: ':22121' has no hostname"]],
    [
      'socket permissions over 0777',
      `alpha:\n  listen: /tmp/a.sock 1777\n${SERVERS}`,
      ["pool 'alpha': listen: '/tmp/a.sock 1777' has an invalid file permission"],
    ],
    [
      'a listen from a block scalar',
      `alpha:\n  listen: |\n    127.0.0.1:22121\n${SERVERS}`,
      [`pool 'alpha': listen: "127.0.0.1:22121\\n" has an invalid port`],
    ],
    [
      'a server without weight',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211\n',
      [`pool 'alpha': servers: '127.0.0.1:11211' is not "hostname:port:weight [name]"`],
    ],
    [
      'a zero weight',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:0\n',
      ["pool 'alpha': servers: '127.0.0.1:11211:0' has a zero weight"],
    ],
    [
      'a server port 0',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:0:1\n',
      ["pool 'alpha': servers: '127.0.0.1:0:1' has an invalid port '0'"],
    ],
    [
      'a name with a space',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 my name\n',
      ["pool 'alpha': servers: '127.0.0.1:11211:1 my name' has an invalid weight '1 my'"],
    ],
    [
      'a socket path with a colon',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - /tmp/a:b.sock:1\n',
      ["pool 'alpha': servers: '/tmp/a:b.sock:1' is not"],
    ],
    [
      'two servers with one name',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1 a\n   - 127.0.0.1:11212:1 a\n',
      ["pool 'alpha': servers: '127.0.0.1:11211:1' and '127.0.0.1:11212:1' have the same name 'a'"],
    ],
    [
      'two servers at one address',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11212:1\n   - 127.0.0.1:11212:2\n',
      ["pool 'alpha': servers: '127.0.0.1:11212:1' and '127.0.0.1:11212:2' have the same name '127.0.0.1:11212'"],
    ],
    [
      'servers that are not a list',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers: 127.0.0.1:11211:1\n',
      ["pool 'alpha': servers: must be a list"],
    ],
    ['no servers', 'alpha:\n  listen: 127.0.0.1:22121\n  hash:\n   - md5\n', ["pool 'alpha': servers: is missing"]],
    [
      'an empty list item',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n   -\n',
      ["pool 'alpha': servers: a list item is empty"],
    ],
    [
      'two lists',
      alpha('  hash:\n   - md5\n'),
      ["pool 'alpha': only one key may hold a list (servers:); lists are given under hash, servers"],
    ],
    ['a nested mapping', alpha('  x:\n    y: z\n'), ["pool 'alpha': x: is nested too deep"]],
    [
      'a mapping in the list',
      'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - a: b\n',
      ["pool 'alpha': servers: a list item must be one value"],
    ],
    ['a flow list', 'alpha:\n  listen: 127.0.0.1:22121\n  servers: [127.0.0.1:11211:1]\n', ["pool 'alpha': servers: flow collections"]],
    ['an anchor', alpha('  hash: &h md5\n'), ["pool 'alpha': hash: anchors (&name) are not allowed"]],
    ['a tag', alpha('  hash: !!str md5\n'), ["pool 'alpha': hash: tags (!tag) are not allowed"]],
    ['a pool that is a value', 'alpha: 127.0.0.1:22121\n', ["pool 'alpha': must be followed by its keys"]],
    ['one pool name twice', alpha('') + 'alpha:\n  listen: 127.0.0.1:22122\n' + SERVERS, ["pool 'alpha': is defined more than once"]],
    [
      'two pools on one listen',
      alpha('') + 'beta:\n  listen: 127.0.0.1:22121\n' + SERVERS,
      ["pools 'alpha' and 'beta': listen: both listen on '127.0.0.1:22121'"],
    ],
  ])('%s', (_what, text, expected) => {
    const got = problems(text);
    expect(got).toHaveLength(expected.length);
    expected.forEach((e, i) => expect(got[i]).toContain(e));
  });

  it.each([
    ['no document', '# nothing\n', "'test.yml' must hold one YAML document"],
    ['two documents', alpha('') + '---\n' + alpha(''), "'test.yml' must hold one YAML document"],
    ['a document start marker', '---\n' + alpha(''), 'document markers'],
    ['a %YAML directive', '%YAML 1.1\n---\n' + alpha(''), 'directives (%YAML)'],
    ['a list at the top', '- a\n- b\n', 'the top level must be pool names'],
    ['tabs', 'alpha:\n\tlisten: 127.0.0.1:22121\n', 'line 2, column 1: Tabs are not allowed'],
  ])('refuses a file with %s', (_what, text, expected) => {
    expect(problems(text)[0]).toContain(expected);
  });

  it('reports every problem at once, not only the first', () => {
    expect(problems(alpha('  hash: sha1\n  timeout: soon\n  bogus: 1\n'))).toEqual([
      expect.stringContaining("pool 'alpha': hash: 'sha1'"),
      expect.stringContaining("pool 'alpha': timeout: 'soon'"),
      expect.stringContaining("pool 'alpha': bogus: is unknown"),
    ]);
  });

  it('says when the file cannot be read', () => {
    expect(() => readConf('/nonexistent/nutcracker.yml')).toThrow(/failed to open configuration '\/nonexistent\/nutcracker.yml'/);
  });
});

describe('nutcracker.yml: names and order against nutcracker 0.5.0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cleave-twemproxy-conf-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** nutcracker's stats document for `yml` (servers need not be up: nutcracker connects on first use). */
  async function nutcrackerStats(yml: string): Promise<Record<string, unknown>> {
    const file = join(dir, 'n.yml');
    writeFileSync(file, yml);
    const statsPort = await freePort();
    const child = spawn(NUTCRACKER, ['-c', file, '-s', String(statsPort), '-a', '127.0.0.1', '-o', join(dir, 'log')], { stdio: 'ignore' });
    try {
      await waitForListen({ port: statsPort });
      const text = await new Promise<string>((resolve, reject) => {
        let out = '';
        const s = net.connect(statsPort, '127.0.0.1');
        s.on('data', (d) => (out += d.toString()));
        s.on('end', () => resolve(out));
        s.on('error', reject);
      });
      return JSON.parse(text) as Record<string, unknown>;
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
  }

  it('gives pools and servers the names and the order nutcracker shows on its stats port', async () => {
    const [p1, p2] = [await freePort(), await freePort()];
    const yml = [
      'second:',
      `  listen: 127.0.0.1:${p1}`,
      '  servers:',
      '   - 127.0.0.1:11212:1',
      '   - 127.0.0.1:11211:1',
      '   - 127.0.0.1:011213:2',
      `   - ${dir}/mc.sock:1`,
      '   - 127.0.0.1:11214:1 zed',
      '   - localhost:11215:1 a',
      'one:',
      `  listen: 127.0.0.1:${p2}`,
      '  servers:',
      '   - 127.0.0.1:11216:1',
      '',
    ].join('\n');
    const stats = await nutcrackerStats(yml);
    const pools = parseConf(yml, 'n.yml');
    const theirPools = Object.keys(stats).filter((k) => typeof stats[k] === 'object');
    expect(pools.map((p) => p.name)).toEqual(theirPools);
    for (const p of pools) {
      const theirs = stats[p.name] as Record<string, unknown>;
      const theirServers = Object.keys(theirs).filter((k) => typeof theirs[k] === 'object');
      expect(p.servers.map((s) => s.name)).toEqual(theirServers);
    }
  });
});
