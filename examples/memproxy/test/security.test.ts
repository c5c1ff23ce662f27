/**
 * memproxy's security flags: --tls-port/--tls-cert/--tls-key/--tls-ca/--tls-only
 * and --auth-file, with real clients (memjs with SASL credentials, libmemcached's
 * memccat, openssl s_client) against memproxy and, for the same outcome, against
 * a real memcached started with the same users.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import memjs from 'memjs';
import { RawClient, TlsRawClient, hasOpenssl, opensslClient, startMemcached, tlsFixturePath, type MemcachedProcess } from '@cleave/testkit';
import { runMemproxy, startMemproxy, type Running } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-security-'));
const AUTH_FILE = join(dir, 'users');
writeFileSync(AUTH_FILE, 'alice:secret\nbob:hunter2\n');
const USERS = { alice: 'secret', bob: 'hunter2' };
const CERT = tlsFixturePath('server.pem');
const KEY = tlsFixturePath('server-key.pem');
const CA = tlsFixturePath('ca.pem');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The TLS port from the startup line ("... 127.0.0.1:N (TLS) ..."). */
function tlsPortOf(mp: Running): number {
  const m = /127\.0\.0\.1:(\d+) \(TLS\)/.exec(mp.stdout());
  if (!m) throw new Error(`no TLS address in: ${mp.stdout()}`);
  return Number(m[1]);
}

describe('bad security flags exit with status 2 and say why', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['--tls-port without a certificate', ['--tls-port', '0'], /--tls-port needs --tls-cert and --tls-key/],
    ['--tls-port without a key', ['--tls-port', '0', '--tls-cert', CERT], /--tls-port needs --tls-cert and --tls-key/],
    ['--tls-cert without --tls-port', ['--tls-cert', CERT, '--tls-key', KEY], /--tls-cert needs --tls-port/],
    ['--tls-ca without --tls-port', ['--tls-ca', CA], /--tls-ca needs --tls-port/],
    ['--tls-only without --tls-port', ['--tls-only'], /--tls-only needs --tls-port/],
    [
      '--tls-only with a unix socket',
      ['--tls-only', '--use-domain-socket', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY],
      /--tls-only cannot be combined with --use-domain-socket/,
    ],
    [
      'the TLS port equal to the plaintext one',
      ['-p', '23456', '--tls-port', '23456', '--tls-cert', CERT, '--tls-key', KEY],
      /--tls-port must differ from --port/,
    ],
    [
      'a certificate file that does not exist',
      ['--tls-port', '0', '--tls-cert', join(dir, 'nope.pem'), '--tls-key', KEY],
      /--tls-cert .*nope\.pem: cannot read it: no such file \(ENOENT\)/,
    ],
    [
      'a certificate that is not PEM',
      ['--tls-port', '0', '--tls-cert', AUTH_FILE, '--tls-key', KEY],
      /--tls-cert\/--tls-key: not usable PEM/,
    ],
    [
      'a key that does not match the certificate',
      ['--tls-port', '0', '--tls-cert', CERT, '--tls-key', tlsFixturePath('client-key.pem')],
      /not usable PEM \(.*key values mismatch/,
    ],
    [
      'an auth file that does not exist',
      ['--auth-file', join(dir, 'missing')],
      /--auth-file .*missing: cannot read it: no such file \(ENOENT\)/,
    ],
    ['an auth file that is a directory', ['--auth-file', dir], /--auth-file .*: cannot read it: it is a directory \(EISDIR\)/],
  ];
  for (const [name, args, message] of cases) {
    it(name, async () => {
      const r = await runMemproxy(args);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
    });
  }

  it('a malformed auth file names the line and never prints a password', async () => {
    const bad = join(dir, 'bad-users');
    writeFileSync(bad, 'alice:topsecret1\nbob topsecret2\n');
    const r = await runMemproxy(['--auth-file', bad]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--auth-file .*bad-users: line 2: expected username:password/);
    expect(r.stdout + r.stderr).not.toMatch(/topsecret/);
    const empty = join(dir, 'empty-users');
    writeFileSync(empty, '\n');
    const e = await runMemproxy(['--auth-file', empty]);
    expect(e.code).toBe(2);
    expect(e.stderr).toMatch(/no users/);
  });
});

describe('listeners', () => {
  it('the TLS listener runs beside the plaintext one, both on 127.0.0.1, and the startup line says which is which', async () => {
    const mp = await startMemproxy(['-p', '0', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY]);
    try {
      expect(mp.stdout()).toMatch(/memproxy listening on 127\.0\.0\.1:\d+ and 127\.0\.0\.1:\d+ \(TLS\) \(loopback only/);
      const plain = await RawClient.connect({ port: mp.port });
      expect((await plain.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
      plain.close();
      const secure = await TlsRawClient.connect({ port: tlsPortOf(mp) });
      expect((await secure.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
      secure.close();
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  it('--tls-only serves TLS alone', async () => {
    const mp = await startMemproxy(['--tls-only', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY]);
    try {
      expect(mp.stdout()).toMatch(/memproxy listening on 127\.0\.0\.1:\d+ \(TLS\) \(loopback only[^\n]*\n/);
      expect(mp.stdout()).not.toMatch(/ and /);
      const secure = await TlsRawClient.connect({ port: tlsPortOf(mp) });
      expect((await secure.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
      secure.close();
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  it('with --tls-ca, only clients with a certificate the CA signed are served', async () => {
    const mp = await startMemproxy(['-p', '0', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY, '--tls-ca', CA]);
    try {
      const port = tlsPortOf(mp);
      const good = await TlsRawClient.connect({ port, cert: 'client' });
      expect((await good.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
      good.close();
      for (const cert of [undefined, 'other-client'] as const) {
        const c = await TlsRawClient.connect({ port, ...(cert && { cert }) });
        if (!c.closed) c.write('version\r\n');
        expect(await c.waitClosed(5000)).toBe(true);
        expect(c.received.length).toBe(0);
      }
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });

  it.runIf(hasOpenssl())('openssl s_client through the TLS port gets the exact replies', async () => {
    const mp = await startMemproxy(['-p', '0', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY]);
    try {
      const r = await opensslClient(tlsPortOf(mp), 'set k 1 0 5\r\nhello\r\nget k\r\nmg k v f\r\nquit\r\n');
      expect(r.stdout.toString('latin1')).toBe('STORED\r\nVALUE k 1 5\r\nhello\r\nEND\r\nVA 5 f1\r\nhello\r\n');
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });
});

describe('--auth-file', () => {
  let mp: Running;
  let memcached: MemcachedProcess;
  beforeAll(async () => {
    [mp, memcached] = await Promise.all([
      startMemproxy(['-p', '0', '--tls-port', '0', '--tls-cert', CERT, '--tls-key', KEY, '--auth-file', AUTH_FILE]),
      startMemcached({ saslUsers: USERS }),
    ]);
  });
  afterAll(async () => {
    await memcached?.stop();
    if (mp) expect(await mp.stop()).toBe(0);
  });

  it('the startup line says authentication is required', () => {
    expect(mp.stdout()).toMatch(/auth required \(2 users\)/);
  });

  /** What memjs makes of `creds` against `port`: the value it reads back, or its error. */
  async function withMemjs(port: number, creds: string): Promise<string> {
    const client = memjs.Client.create(`${creds}127.0.0.1:${port}`, { retries: 0, timeout: 2, logger: { log: () => {} } });
    try {
      await client.set('memjs-key', 'hello', {});
      return `value ${(await client.get('memjs-key')).value?.toString()}`;
    } catch (e) {
      return `error ${String(e)}`;
    } finally {
      client.close();
    }
  }

  it('memjs with SASL credentials logs in, as with memcached -S', async () => {
    for (const creds of ['alice:secret@', 'bob:hunter2@']) {
      expect(await withMemjs(mp.port, creds)).toBe('value hello');
      expect(await withMemjs(memcached.port, creds)).toBe('value hello');
    }
  });

  it('memjs with a wrong password or none is refused, as by memcached -S', async () => {
    for (const creds of ['alice:wrong@', 'nobody:secret@', '']) {
      const ours = await withMemjs(mp.port, creds);
      expect(ours).toBe('error Memcached server authentication failed!');
      expect(await withMemjs(memcached.port, creds)).toBe(ours);
    }
  });

  /** Run libmemcached's memccat (binary protocol, SASL) for one key. */
  function memccat(port: number, user: string, password: string, key: string): Promise<{ code: number | null; out: string }> {
    return new Promise((resolve) => {
      const child = spawn('memccat', ['--binary', `--username=${user}`, `--password=${password}`, `--servers=127.0.0.1:${port}`, key]);
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.once('exit', (code) => {
        clearTimeout(t);
        resolve({ code, out });
      });
    });
  }

  it('memccat --binary with a good username and password reads the item, as from memcached -S', async () => {
    for (const port of [mp.port, memcached.port]) {
      expect(await withMemjs(port, 'alice:secret@')).toBe('value hello');
      const r = await memccat(port, 'alice', 'secret', 'memjs-key');
      expect(r).toEqual({ code: 0, out: 'hello\n' });
    }
  });

  it('memccat --binary with a wrong password fails with an authentication failure, as against memcached -S', async () => {
    for (const port of [mp.port, memcached.port]) {
      const r = await memccat(port, 'alice', 'wrong', 'memjs-key');
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/AUTHENTICATION FAILURE/);
      expect(r.out).not.toMatch(/hello/);
    }
  });

  it('text clients log in with the auth set, on the plaintext and the TLS listener alike', async () => {
    const plain = await RawClient.connect({ port: mp.port });
    const secure = await TlsRawClient.connect({ port: tlsPortOf(mp) });
    for (const c of [plain, secure]) {
      expect((await c.request('get memjs-key\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR unauthenticated\r\n');
      expect((await c.request('set x 0 0 12\r\nbob hunter2x\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR authentication failure\r\n');
      expect((await c.request('set x 0 0 11\r\nbob hunter2\r\n', '\r\n')).toString()).toBe('STORED\r\n');
      expect((await c.request('get memjs-key\r\n', 'END\r\n')).toString()).toBe('VALUE memjs-key 0 5\r\nhello\r\nEND\r\n');
      c.close();
    }
  });

  it('binary clients are held to SASL on the TLS listener too', async () => {
    const c = await TlsRawClient.connect({ port: tlsPortOf(mp) });
    const noop = Buffer.alloc(24);
    noop[0] = 0x80;
    noop[1] = 0x0a;
    c.write(noop);
    expect(await c.waitClosed(5000)).toBe(true);
    expect(c.received.readUInt16BE(6)).toBe(0x20);
    expect(c.received.subarray(24).toString()).toBe('Auth failure.');
  });

  it('no password from the auth file or from a failed login shows in memproxy output', () => {
    expect(mp.stdout() + mp.stderr()).not.toMatch(/secret|hunter2|wrong/);
  });
});
