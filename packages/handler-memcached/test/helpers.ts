import net from 'node:net';
import { HandlerError } from '@cleave/protocol';
import { RawClient } from '@cleave/testkit';

export const k = (s: string): Buffer => Buffer.from(s, 'latin1');

/** What the backend holds for a key, read with a raw `mg` (no handler involved). */
export interface Stored {
  value: string;
  flags: number;
  ttl: number;
  cas: bigint;
  stale: boolean;
  hit: boolean;
}

export type Target = { port: number; host?: string } | { path: string };

/** Read a key straight from memcached: `mg <key> v f t c h u` (u: the check itself bumps nothing). */
export async function peek(target: Target, key: Buffer | string): Promise<Stored | undefined> {
  const c = await RawClient.connect(target);
  try {
    const kb = typeof key === 'string' ? k(key) : key;
    const raw = /[\s\0]/.test(kb.toString('latin1'));
    const token = raw ? `${kb.toString('base64')} b` : kb.toString('latin1');
    const reply = await c.request(`mg ${token} v f t c h u\r\nmn\r\n`, 'MN\r\n');
    const text = reply.toString('latin1');
    if (text.startsWith('EN')) return undefined;
    const m = /^VA (\d+) ([^\r]*)\r\n/.exec(text);
    if (!m) throw new Error(`unexpected mg reply ${JSON.stringify(text)}`);
    const len = Number(m[1]);
    const flags = Object.fromEntries(
      m[2]!
        .split(' ')
        .filter(Boolean)
        .map((t) => [t[0]!, t.slice(1)]),
    );
    const start = m[0].length;
    return {
      value: text.slice(start, start + len),
      flags: Number(flags.f),
      ttl: Number(flags.t),
      cas: BigInt(flags.c!),
      stale: 'X' in flags,
      hit: flags.h === '1',
    };
  } finally {
    c.close();
  }
}

/** Send raw bytes to memcached and return its reply up to `terminator`. */
export async function raw(target: Target, bytes: string, terminator: string): Promise<string> {
  const c = await RawClient.connect(target);
  try {
    return (await c.request(bytes, terminator)).toString('latin1');
  } finally {
    c.close();
  }
}

export const unixSeconds = (): number => Math.floor(Date.now() / 1000);

/** Await `p` and return the HandlerError it rejects with (fails the test when it resolves or rejects otherwise). */
export async function rejection(p: Promise<unknown> | unknown): Promise<HandlerError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HandlerError) return e;
    throw e;
  }
  throw new Error('expected a HandlerError, the call succeeded');
}

/** A memcached we control by PID on a fixed address (stop, continue, kill, start again there). */
export { FixedMemcached as Backend } from '@cleave/testkit';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `f` until it returns true or `ms` pass. */
export async function eventually(f: () => Promise<boolean> | boolean, ms = 5000, every = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      if (await f()) return true;
    } catch {
      /* not yet */
    }
    await sleep(every);
  }
  return false;
}

export interface Proxy {
  readonly port: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of memcached. Requests pass unchanged; replies pass
 * through `mangle` (given the reply chunk and the connection's index), and
 * with `drip` leave in pieces of 1 to `drip` bytes, one piece per turn.
 */
export async function startProxy(
  upstreamPort: number,
  opts: { mangle?: (chunk: Buffer, conn: number) => Buffer; drip?: number } = {},
): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((down) => {
    const index = accepted++;
    const up = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(down);
    sockets.add(up);
    const queue: Buffer[] = [];
    let pumping = false;
    const pump = () => {
      const next = queue[0];
      if (next === undefined) {
        pumping = false;
        return;
      }
      const n = Math.min(next.length, 1 + Math.floor(Math.random() * opts.drip!));
      down.write(next.subarray(0, n));
      if (n === next.length) queue.shift();
      else queue[0] = next.subarray(n);
      setImmediate(pump);
    };
    up.on('data', (d: Buffer) => {
      const out = opts.mangle ? opts.mangle(d, index) : d;
      if (!opts.drip) {
        down.write(out);
        return;
      }
      queue.push(out);
      if (!pumping) {
        pumping = true;
        setImmediate(pump);
      }
    });
    down.on('data', (d: Buffer) => up.write(d));
    const end = () => {
      up.destroy();
      down.destroy();
    };
    up.on('error', end);
    down.on('error', end);
    up.on('close', end);
    down.on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A server that accepts connections and never answers (a stalled backend seen from the network). */
export async function startSilent(): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    get accepted() {
      return accepted;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
