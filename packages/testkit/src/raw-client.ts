import * as net from 'node:net';

let markerSeq = 0;

/**
 * A raw byte-level client for tests: send exact bytes, read back exactly what
 * the server answers. No protocol knowledge, so it can compare two servers.
 */
export class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closedFlag = false;
  /** Why the connection failed, if it did (a reset, a refused TLS handshake, ...). */
  error: Error | undefined;

  protected constructor(protected readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      this.wake();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
    socket.on('error', (e) => {
      // Surfaced through `closed` and `error`.
      this.error ??= e;
    });
  }

  static async connect(target: { port: number; host?: string } | { path: string }): Promise<RawClient> {
    const s = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1');
    const c = new RawClient(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
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

  /** The local port of the connection (TCP), which the server sees as the client's. */
  get localPort(): number | undefined {
    return this.socket.localPort;
  }

  /** Bytes received and not yet consumed. */
  get received(): Buffer {
    return this.buf;
  }

  write(data: Buffer | string): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Wait until `pred(received)` holds, the connection closes, or the timeout passes. */
  async waitFor(pred: (b: Buffer) => boolean, timeoutMs = 2000): Promise<boolean> {
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

  /** Take exactly n bytes (waiting for them). */
  async read(n: number, timeoutMs = 2000): Promise<Buffer> {
    await this.waitFor((b) => b.length >= n, timeoutMs);
    const out = this.buf.subarray(0, Math.min(n, this.buf.length));
    this.buf = this.buf.subarray(out.length);
    return Buffer.from(out);
  }

  /**
   * Collect whatever arrives until the stream has been quiet for `quietMs`
   * (or closes), and take it. Used to compare full replies of two servers.
   */
  async drain(quietMs = 60, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    let last = -1;
    while (Date.now() < deadline) {
      if (this.buf.length !== last) {
        last = this.buf.length;
        await new Promise((r) => setTimeout(r, quietMs));
        continue;
      }
      break;
    }
    const out = Buffer.from(this.buf);
    this.buf = Buffer.alloc(0);
    return out;
  }

  /** Send bytes and wait until the reply ends with `terminator` (e.g. "END\r\n"). */
  async request(data: Buffer | string, terminator: string | Buffer, timeoutMs = 2000): Promise<Buffer> {
    const t = typeof terminator === 'string' ? Buffer.from(terminator, 'latin1') : terminator;
    this.write(data);
    const ok = await this.waitFor((b) => b.length >= t.length && b.subarray(b.length - t.length).equals(t), timeoutMs);
    const out = Buffer.from(this.buf);
    this.buf = Buffer.alloc(0);
    if (!ok) throw new Error(`no reply ending in ${JSON.stringify(t.toString('latin1'))}; got ${JSON.stringify(out.toString('latin1'))}`);
    return out;
  }

  /**
   * Send `data` followed by a marker request whose reply is unique, wait for
   * the marker's reply (or the connection's close), and return everything the
   * server answered to `data`. Unlike `drain()`, this does not depend on
   * timing: a slow reply is waited for, not cut short.
   *
   * The marker is a meta miss with an opaque token for text connections
   * (`mg <unique key> O<n>` answers `EN O<n>`), a binary Noop with a unique
   * opaque for binary ones. `data` must hold complete requests.
   */
  async exchange(data: Buffer | string, protocol: 'text' | 'binary' = 'text', timeoutMs = 5000): Promise<Buffer> {
    const id = ++markerSeq;
    let marker: Buffer;
    let reply: Buffer;
    if (protocol === 'text') {
      marker = Buffer.from(`mg cleave-marker-${process.pid}-${id} O${id}\r\n`);
      reply = Buffer.from(`EN O${id}\r\n`);
    } else {
      const opaque = (0xc1ea0000 + id) >>> 0;
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
    if (!ok && !this.closedFlag) {
      throw new Error(`no marker reply within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 500))}`);
    }
    const out = ends(this.buf) ? this.buf.subarray(0, this.buf.length - reply.length) : this.buf;
    this.buf = Buffer.alloc(0);
    return Buffer.from(out);
  }

  close(): void {
    this.socket.destroy();
  }
}
