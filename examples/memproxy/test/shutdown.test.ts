/**
 * Graceful shutdown under load. Clients pipeline sets and gets through
 * memproxy to memcached when memproxy gets SIGTERM; then:
 *
 * (a) every set a client saw acknowledged is in the backend memcached (read
 *     directly), with the acknowledged value or a later one of that client;
 * (b) every client's byte stream ends on a reply boundary: the connection may
 *     close before the replies to requests memproxy never read, never in the
 *     middle of a reply;
 * (c) memproxy exits with status 0 within its grace period;
 * (d) the library's close(graceMs) with requests stuck on a stalled backend:
 *     at grace expiry the connections close cleanly (nothing half written)
 *     and close() resolves.
 */
import net from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe } from '@cleave/server';
import {
  RawClient,
  encodeGet,
  encodeSet,
  flagsFor,
  makeValue,
  parseReply,
  readValue,
  sleep,
  startMemcached,
  startSlowRelay,
  stopProcess,
  type ClientProtocol,
  type MemcachedProcess,
} from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function memcached(): Promise<MemcachedProcess> {
  const mc = await startMemcached();
  cleanup.push(() => mc.stop());
  return mc;
}

interface Sent {
  kind: 'get' | 'set';
  key: string;
  opaque: number;
  seq: number;
}

let writers = 0;

/**
 * One client connection that keeps `window` requests in flight, written in
 * batches, each to keys of its own. It records what was acknowledged and
 * keeps whatever bytes did not make a whole reply.
 */
class PipelinedClient {
  readonly writer: string;
  readonly socket: net.Socket;
  private readonly sent: Sent[] = [];
  private answered = 0;
  private buf: Buffer = Buffer.alloc(0);
  private seq = 0;
  private opaque = 0;
  private running = true;
  readonly problems: string[] = [];
  /** Highest sequence number acknowledged per key, and highest sent. */
  readonly acked = new Map<string, number>();
  readonly sentMax = new Map<string, number>();
  replies = 0;
  error: string | undefined;
  readonly closed: Promise<void>;
  /** Reading paused (a slow reader). */
  stalled = false;

  constructor(
    port: number,
    readonly protocol: ClientProtocol,
    private readonly window: number,
    private readonly valueSize: () => number,
    private readonly getRatio = 0.3,
  ) {
    this.writer = `${protocol[0]}w${++writers}`;
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => this.pump());
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('error', (e: Error) => {
      this.error = e.message;
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  get keys(): string[] {
    return Array.from({ length: 8 }, (_, i) => `${this.writer}-k${i}`);
  }

  stop(): void {
    this.running = false;
  }

  private pump(): void {
    if (!this.running || this.socket.destroyed) return;
    const outstanding = this.sent.length - this.answered;
    if (outstanding > this.window / 2) return;
    const parts: Buffer[] = [];
    for (let i = 0; i < this.window / 2; i++) {
      const key = `${this.writer}-k${Math.floor(Math.random() * 8)}`;
      const opaque = ++this.opaque;
      if (Math.random() < this.getRatio) {
        this.sent.push({ kind: 'get', key, opaque, seq: 0 });
        parts.push(encodeGet(this.protocol, key, opaque));
      } else {
        const seq = ++this.seq;
        this.sent.push({ kind: 'set', key, opaque, seq });
        this.sentMax.set(key, seq);
        parts.push(...encodeSet(this.protocol, key, flagsFor(key), makeValue(key, this.writer, seq, this.valueSize()), opaque));
      }
    }
    this.socket.write(Buffer.concat(parts));
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const req = this.sent[this.answered];
      if (req === undefined) {
        if (this.buf.length > 0) this.problems.push(`${this.buf.length} bytes with no request waiting`);
        this.buf = Buffer.alloc(0);
        break;
      }
      const r = parseReply(this.protocol, this.buf, req);
      if (r === undefined) break;
      this.buf = this.buf.subarray(r.used);
      this.answered++;
      this.replies++;
      if (r.outcome === 'violation') this.problems.push(r.detail!);
      if (r.outcome === 'stored') this.acked.set(req.key, Math.max(this.acked.get(req.key) ?? 0, req.seq));
      if (r.outcome === 'hit') {
        const v = readValue(r.value!);
        if (typeof v === 'string' || v.key !== req.key || v.writer !== this.writer)
          this.problems.push(`get ${req.key}: ${JSON.stringify(v)}`);
      }
      if (r.outcome === 'error') this.problems.push(`error reply ${r.detail}`);
    }
    this.pump();
  }

  /** Stop reading for `ms` (replies pile up in the socket buffers), then read again. */
  async stallReading(ms: number): Promise<void> {
    this.stalled = true;
    this.socket.pause();
    await sleep(ms);
    this.socket.resume();
    this.stalled = false;
  }

  /** What the stream ended with: unparsed bytes are a reply cut in the middle. */
  leftover(): Buffer {
    return this.buf;
  }

  get unanswered(): number {
    return this.sent.length - this.answered;
  }
}

/** Every acknowledged set is in memcached with that value or a later one of the same writer. */
async function checkBackend(mc: MemcachedProcess, clients: PipelinedClient[]): Promise<number> {
  const c = await RawClient.connect({ port: mc.port });
  let checked = 0;
  try {
    for (const client of clients) {
      for (const [key, seq] of client.acked) {
        const reply = await c.request(`mg ${key} v\r\nmn\r\n`, 'MN\r\n', 5000);
        const m = /^VA (\d+)\r\n/.exec(reply.toString('latin1'));
        expect(m, `${key}: acknowledged seq ${seq}, backend answered ${reply.toString('latin1', 0, 40)}`).not.toBeNull();
        const v = readValue(reply.subarray(m![0].length, m![0].length + Number(m![1])));
        if (typeof v === 'string') throw new Error(`${key}: ${v}`);
        expect(v.key).toBe(key);
        expect(v.writer).toBe(client.writer);
        expect(v.seq).toBeGreaterThanOrEqual(seq);
        expect(v.seq).toBeLessThanOrEqual(client.sentMax.get(key)!);
        checked++;
      }
    }
  } finally {
    c.close();
  }
  return checked;
}

async function sigtermUnderLoad(
  mp: Running,
  clients: PipelinedClient[],
  loadMs: number,
): Promise<{ code: number | null; exitMs: number; repliesAfterTerm: number }> {
  await sleep(loadMs);
  const before = clients.reduce((n, c) => n + c.replies, 0);
  const t0 = Date.now();
  const exited = new Promise<number | null>((resolve) => mp.child.once('exit', (code) => resolve(code)));
  mp.child.kill('SIGTERM');
  const code = await exited;
  const exitMs = Date.now() - t0;
  for (const c of clients) c.stop();
  await Promise.race([Promise.all(clients.map((c) => c.closed)), sleep(5000)]);
  return { code, exitMs, repliesAfterTerm: clients.reduce((n, c) => n + c.replies, 0) - before };
}

function connected(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
}

/** memproxy's grace period for connections (Server.close's default). */
const GRACE_MS = 5000;
const PROTOCOLS: ClientProtocol[] = ['text', 'text', 'meta', 'binary', 'binary'];

describe('memproxy SIGTERM under load', () => {
  it('straight to memcached: acknowledged sets are stored, streams end on reply boundaries, exit 0 within the grace', async () => {
    const mc = await memcached();
    const mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${mc.port}`]);
    cleanup.push(() => mp.stop());
    const clients = PROTOCOLS.map((p) => new PipelinedClient(mp.port, p, 64, () => 50 + Math.floor(Math.random() * 2000)));
    const { code, exitMs } = await sigtermUnderLoad(mp, clients, 400);
    expect(code).toBe(0);
    expect(exitMs).toBeLessThan(GRACE_MS);
    for (const c of clients) {
      expect(c.problems, c.writer).toEqual([]);
      expect(
        c.leftover().length,
        `${c.writer}: stream ends inside a reply: ${JSON.stringify(c.leftover().toString('latin1', 0, 80))}`,
      ).toBe(0);
      expect(c.replies).toBeGreaterThan(0);
    }
    expect(await checkBackend(mc, clients)).toBeGreaterThan(0);
  });

  it('with requests waiting on a slow backend: they are finished and answered before memproxy exits', async () => {
    const mc = await memcached();
    const relay = await startSlowRelay({ target: { port: mc.port }, delayMs: 150 });
    cleanup.push(() => relay.close());
    const mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${relay.port}`]);
    cleanup.push(() => mp.stop());
    const clients = PROTOCOLS.map((p) => new PipelinedClient(mp.port, p, 64, () => 50 + Math.floor(Math.random() * 2000)));
    // Mid-load: every client has a window of requests at the backend.
    await sleep(400);
    const waiting = clients.map((c) => c.unanswered);
    expect(waiting.every((n) => n > 0)).toBe(true);
    const { code, exitMs, repliesAfterTerm } = await sigtermUnderLoad(mp, clients, 0);
    expect(code).toBe(0);
    // The requests waiting on the backend (150 ms a reply) were finished and answered after the SIGTERM.
    expect(repliesAfterTerm).toBeGreaterThan(0);
    expect(exitMs).toBeLessThan(GRACE_MS);
    for (const c of clients) {
      expect(c.problems, c.writer).toEqual([]);
      expect(c.leftover().length, `${c.writer}: stream ends inside a reply`).toBe(0);
    }
    expect(await checkBackend(mc, clients)).toBeGreaterThan(0);
  });

  it('a client that stops reading and keeps sending: the replies written before the close arrive whole', async () => {
    const mc = await startMemcached({ args: ['-I', '2m'] });
    cleanup.push(() => mc.stop());
    const mp = await startMemproxy(['-p', '0', '--l1-addr', `127.0.0.1:${mc.port}`]);
    cleanup.push(() => mp.stop());
    const size = 900_000;
    const big = makeValue('big', 'seed', 1, size);
    const setup = await RawClient.connect({ port: mp.port });
    expect(
      (await setup.request(Buffer.concat([Buffer.from(`set big 0 0 ${size}\r\n`), big, Buffer.from('\r\n')]), '\r\n', 5000)).toString(),
    ).toBe('STORED\r\n');
    setup.close();
    const s = await connected(mp.port);
    const received: Buffer[] = [];
    s.on('data', (d: Buffer) => received.push(d));
    s.on('error', () => {});
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    // 30 replies of 900 KB: far more than the socket buffers hold while the client does not read.
    s.pause();
    s.write('get big\r\n'.repeat(30));
    await sleep(300);
    // memproxy stops reading (its output is over budget); these stay unread in its socket.
    const filler = Buffer.alloc(100_000, 'f');
    for (let i = 0; i < 30; i++) s.write(Buffer.concat([Buffer.from(`set f${i} 0 0 ${filler.length}\r\n`), filler, Buffer.from('\r\n')]));
    await sleep(100);
    const exit = new Promise<number | null>((resolve) => mp.child.once('exit', (code) => resolve(code)));
    mp.child.kill('SIGTERM');
    await sleep(300);
    s.resume();
    expect(await exit).toBe(0);
    await Promise.race([closed, sleep(5000)]);
    const all = Buffer.concat(received);
    const one = Buffer.concat([Buffer.from(`VALUE big 0 ${size}\r\n`), big, Buffer.from('\r\nEND\r\n')]);
    // Whole replies only; every one the 30 gets asked for (memproxy had read them all before the SIGTERM).
    expect(all.length % one.length, `the stream ends ${all.length % one.length} bytes into a reply`).toBe(0);
    for (let at = 0; at < all.length; at += one.length) expect(all.subarray(at, at + one.length).equals(one)).toBe(true);
    expect(all.length / one.length).toBe(30);
  });
});

describe('Server.close(graceMs) with requests stuck on a stalled backend', () => {
  /** A client's connection: what it received, and when it closed. */
  async function client(port: number) {
    const s = await connected(port);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    const closed = new Promise<number>((resolve) => s.once('close', () => resolve(Date.now())));
    return { s, received: () => Buffer.concat(chunks), closed };
  }

  async function setup(timeoutMs: number) {
    const mc = await memcached();
    const errors: unknown[] = [];
    const handler = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc.port }, timeoutMs, connectTimeoutMs: timeoutMs });
    const server = await listenAndServe({ listen: { port: 0 }, handler: handler, onError: (e) => errors.push(e) });
    const port = (server.addresses[0] as { port: number }).port;
    const text = await client(port);
    const bin = await client(port);
    // Answered before the stall: these replies must arrive whole.
    text.s.write('set a 0 0 5\r\nhello\r\nget a\r\n');
    bin.s.write(encodeGet('binary', 'a', 7));
    await sleep(200);
    await stopProcess(mc.pid);
    cleanup.push(() => process.kill(mc.pid, 'SIGCONT'));
    await sleep(20);
    // Stuck: the backend will not answer these in time.
    text.s.write('get a\r\nset b 0 0 1\r\nx\r\n');
    bin.s.write(encodeGet('binary', 'a', 8));
    await sleep(100);
    return { mc, server, text, bin, errors };
  }

  it('at grace expiry the connections close between replies (nothing half written) and close() resolves', async () => {
    const { mc, server, text, bin, errors } = await setup(10_000);
    const t0 = Date.now();
    await server.close(300);
    const closeMs = Date.now() - t0;
    expect(closeMs).toBeGreaterThanOrEqual(280);
    expect(closeMs).toBeLessThan(300 + 1500);
    await Promise.all([text.closed, bin.closed]);
    // The replies sent before the stall, whole; none for the stuck requests.
    expect(text.received().toString()).toBe('STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\n');
    const b = bin.received();
    expect(b.length).toBe(24 + 4 + 5);
    expect(b.readUInt32BE(12)).toBe(7);
    expect(b.subarray(28).toString()).toBe('hello');
    // The stuck requests failed inside the handler when it closed: nothing reported as a fault.
    expect(errors).toEqual([]);
    process.kill(mc.pid, 'SIGCONT');
  });

  it('with a backend timeout shorter than the grace, the stuck requests are answered SERVER_ERROR before the close', async () => {
    const { mc, server, text, bin, errors } = await setup(300);
    const t0 = Date.now();
    await server.close(5000);
    const closeMs = Date.now() - t0;
    // Closed once the timeouts answered, long before the grace.
    expect(closeMs).toBeLessThan(300 + 1500);
    await Promise.all([text.closed, bin.closed]);
    expect(text.received().toString()).toBe(
      'STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nSERVER_ERROR backend timeout\r\nSERVER_ERROR backend timeout\r\n',
    );
    const b = bin.received();
    expect(b.readUInt32BE(12)).toBe(7);
    const second = b.subarray(24 + b.readUInt32BE(8));
    expect(second.readUInt32BE(12)).toBe(8);
    expect(second.readUInt16BE(6)).toBe(0x86);
    expect(second.length).toBe(24 + second.readUInt32BE(8));
    expect(errors).toEqual([]);
    process.kill(mc.pid, 'SIGCONT');
  });
});
