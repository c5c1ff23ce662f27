import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';

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

let markerSeq = 0;

export interface TlsClientOptions {
  port: number;
  host?: string;
  /** Client certificate to present: the trusted one, the one from the untrusted CA, or none (default). */
  cert?: 'client' | 'other-client';
}

/**
 * A raw byte-level client over TLS (trusting the fixture CA), for tests that
 * compare exact replies. Handshake failures do not throw: they show as
 * `closed` with `error` set.
 */
export class TlsRawClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closedFlag = false;
  /** Why the connection failed, if it did (e.g. the server refused the certificate). */
  error: Error | undefined;

  private constructor(private readonly socket: tls.TLSSocket) {
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
    socket.on('error', (e) => {
      this.error ??= e;
    });
  }

  /** Connect and finish the handshake (or fail it: then `closed` is true and `error` says why). */
  static async connect(o: TlsClientOptions): Promise<TlsRawClient> {
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
    socket.setNoDelay(true);
    const c = new TlsRawClient(socket);
    await new Promise<void>((resolve) => {
      socket.once('secureConnect', () => resolve());
      socket.once('close', () => resolve());
    });
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  get received(): Buffer {
    return this.buf;
  }

  write(data: Buffer | string): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Wait until `pred(received)` holds, the connection closes, or the timeout passes. */
  async waitFor(pred: (b: Buffer) => boolean, timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.buf)) {
      if (this.closedFlag) return pred(this.buf);
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return true;
  }

  /** Wait for the connection to close; false if it is still open after `timeoutMs`. */
  waitClosed(timeoutMs = 3000): Promise<boolean> {
    return this.waitFor(() => this.closedFlag, timeoutMs).then(() => this.closedFlag);
  }

  /** Send bytes and wait until the reply ends with `terminator`; returns (and consumes) everything received. */
  async request(data: Buffer | string, terminator: string, timeoutMs = 3000): Promise<Buffer> {
    const t = Buffer.from(terminator, 'latin1');
    this.write(data);
    const ok = await this.waitFor((b) => b.length >= t.length && b.subarray(b.length - t.length).equals(t), timeoutMs);
    const out = Buffer.from(this.buf);
    this.buf = Buffer.alloc(0);
    if (!ok) throw new Error(`no reply ending in ${JSON.stringify(terminator)}; got ${JSON.stringify(out.toString('latin1'))}`);
    return out;
  }

  /**
   * Send complete requests followed by a marker whose reply is unique (a
   * meta miss with an opaque for text, a binary Noop for binary), and return
   * what the server answered before the marker's reply.
   */
  async exchange(data: Buffer | string, protocol: 'text' | 'binary' = 'text', timeoutMs = 5000): Promise<Buffer> {
    const id = ++markerSeq;
    let marker: Buffer;
    let reply: Buffer;
    if (protocol === 'text') {
      marker = Buffer.from(`mg cleave-tls-marker-${process.pid}-${id} O${id}\r\n`);
      reply = Buffer.from(`EN O${id}\r\n`);
    } else {
      const opaque = (0xc1ea5000 + id) >>> 0;
      marker = Buffer.alloc(24);
      marker[0] = 0x80;
      marker[1] = 0x0a;
      marker.writeUInt32BE(opaque, 12);
      reply = Buffer.alloc(24);
      reply[0] = 0x81;
      reply[1] = 0x0a;
      reply.writeUInt32BE(opaque, 12);
    }
    const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    this.socket.write(Buffer.concat([bytes, marker]));
    const ends = (b: Buffer) => b.length >= reply.length && b.subarray(b.length - reply.length).equals(reply);
    const ok = await this.waitFor(ends, timeoutMs);
    if (!ok && !this.closedFlag) throw new Error(`no marker reply within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1'))}`);
    const out = ends(this.buf) ? this.buf.subarray(0, this.buf.length - reply.length) : this.buf;
    this.buf = Buffer.alloc(0);
    return Buffer.from(out);
  }

  close(): void {
    this.socket.destroy();
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
