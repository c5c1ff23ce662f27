import * as net from 'node:net';

export interface SlowRelayOptions {
  /** Where the relay forwards to: a real memcached's TCP port or unix socket. */
  target: { port: number; host?: string } | { path: string };
  /** Delay added to every chunk, in ms (default 0); change it at any time with `delayMs`. */
  delayMs?: number;
  /** Which direction is delayed: replies (default), requests, or both. */
  direction?: 'replies' | 'requests' | 'both';
}

/** A TCP relay in front of a real server that holds each chunk for a while: a slow backend seen from the network. */
export interface SlowRelay {
  /** The relay's port on 127.0.0.1. */
  readonly port: number;
  /** Current delay per chunk in ms. Chunks already waiting keep theirs; order is always kept. */
  delayMs: number;
  /** Client connections accepted so far. */
  readonly accepted: number;
  /** Client connections open now. */
  readonly open: number;
  /** Stop listening and cut every relayed connection. */
  close(): Promise<void>;
}

/** One direction of one relayed connection: chunks leave in arrival order, each no earlier than its due time. */
class DelayedPipe {
  private readonly queue: Array<{ due: number; data: Buffer }> = [];
  private lastDue = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly to: net.Socket,
    private readonly delay: () => number,
  ) {}

  push(data: Buffer): void {
    const d = this.delay();
    if (d <= 0 && this.queue.length === 0) {
      this.to.write(data);
      return;
    }
    // A shorter delay set meanwhile must not let a chunk overtake one queued earlier.
    const due = Math.max(this.lastDue, Date.now() + d);
    this.lastDue = due;
    this.queue.push({ due, data });
    if (this.timer === undefined) this.arm();
  }

  private arm(): void {
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(this.fire, Math.max(0, head.due - Date.now()));
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now) {
      if (!this.to.destroyed) this.to.write(this.queue.shift()!.data);
      else this.queue.shift();
    }
    this.arm();
  };

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

/**
 * Start a relay on a free port of 127.0.0.1 that forwards every connection
 * to `target`, delaying each chunk by `delayMs`. When either side closes,
 * the other is closed too (data still waiting is dropped).
 */
export async function startSlowRelay(options: SlowRelayOptions): Promise<SlowRelay> {
  let delayMs = options.delayMs ?? 0;
  const direction = options.direction ?? 'replies';
  const delayReplies = direction !== 'requests';
  const delayRequests = direction !== 'replies';
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let open = 0;
  const server = net.createServer((down) => {
    accepted++;
    open++;
    const target = options.target;
    const up = 'path' in target ? net.connect(target.path) : net.connect(target.port, target.host ?? '127.0.0.1');
    up.setNoDelay(true);
    down.setNoDelay(true);
    sockets.add(down);
    sockets.add(up);
    const toClient = new DelayedPipe(down, () => (delayReplies ? delayMs : 0));
    const toServer = new DelayedPipe(up, () => (delayRequests ? delayMs : 0));
    up.on('data', (d: Buffer) => toClient.push(d));
    down.on('data', (d: Buffer) => toServer.push(d));
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      open--;
      toClient.stop();
      toServer.stop();
      up.destroy();
      down.destroy();
      sockets.delete(up);
      sockets.delete(down);
    };
    up.on('error', end);
    down.on('error', end);
    up.on('close', end);
    down.on('close', end);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    get delayMs() {
      return delayMs;
    },
    set delayMs(ms: number) {
      delayMs = ms;
    },
    get accepted() {
      return accepted;
    },
    get open() {
      return open;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
