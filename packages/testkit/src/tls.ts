import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { RawClient } from './raw-client.js';

/**
 * Test-only certificates (see fixtures/tls/README.md): a CA, a server
 * certificate for localhost / 127.0.0.1 and a client certificate it signed,
 * and a client certificate signed by another, untrusted CA.
 */
export const TLS_FIXTURES = fileURLToPath(new URL('../fixtures/tls/', import.meta.url));

export type TlsFixture =
  | 'ca.pem'
  | 'server.pem'
  | 'server-key.pem'
  | 'client.pem'
  | 'client-key.pem'
  | 'other-ca.pem'
  | 'other-client.pem'
  | 'other-client-key.pem';

/** Absolute path of a fixture file. */
export function tlsFixturePath(name: TlsFixture): string {
  return join(TLS_FIXTURES, name);
}

/** A fixture's PEM bytes. */
export function tlsFixture(name: TlsFixture): Buffer {
  return readFileSync(tlsFixturePath(name));
}

export interface TlsClientOptions {
  port: number;
  host?: string;
  /** Client certificate to present: the trusted one, the one from the untrusted CA, or none (default). */
  cert?: 'client' | 'other-client';
}

/**
 * A RawClient over TLS (trusting the fixture CA), for tests that compare
 * exact replies. Handshake failures do not throw: they show as `closed` with
 * `error` set.
 */
export class TlsRawClient extends RawClient {
  /** Connect and finish the handshake (or fail it: then `closed` is true and `error` says why). */
  static override async connect(o: TlsClientOptions): Promise<TlsRawClient> {
    const options: tls.ConnectionOptions = {
      host: o.host ?? '127.0.0.1',
      port: o.port,
      servername: 'localhost',
      ca: tlsFixture('ca.pem'),
    };
    if (o.cert === 'client') {
      options.cert = tlsFixture('client.pem');
      options.key = tlsFixture('client-key.pem');
    } else if (o.cert === 'other-client') {
      options.cert = tlsFixture('other-client.pem');
      options.key = tlsFixture('other-client-key.pem');
    }
    const socket = tls.connect(options);
    const c = new TlsRawClient(socket);
    await new Promise<void>((resolve) => {
      socket.once('secureConnect', () => resolve());
      socket.once('close', () => resolve());
    });
    return c;
  }
}

/** Whether the `openssl` command is installed. */
export function hasOpenssl(): boolean {
  return spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Run `openssl s_client -connect HOST:PORT -quiet` (verifying the server
 * against the fixture CA, optionally presenting the trusted client
 * certificate), write `input` to its stdin and return what it printed once
 * the server closed the connection (end `input` with `quit\r\n`).
 */
export function opensslClient(
  port: number,
  input: string | Buffer,
  o: { clientCert?: boolean; timeoutMs?: number } = {},
): Promise<{ stdout: Buffer; stderr: string; code: number | null }> {
  const args = ['s_client', '-connect', `127.0.0.1:${port}`, '-quiet', '-verify_return_error', '-CAfile', tlsFixturePath('ca.pem')];
  if (o.clientCert) args.push('-cert', tlsFixturePath('client.pem'), '-key', tlsFixturePath('client-key.pem'));
  return new Promise((resolve) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 10_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ stdout: Buffer.concat(out), stderr: err, code });
    });
    child.stdin.on('error', () => {});
    // -quiet keeps reading after stdin's end; the server's close (after quit) ends it.
    child.stdin.write(input);
  });
}
