/**
 * memcached's administrative commands (`lru_crawler ...`, `stats cachedump`,
 * `slabs ...`, `lru ...`, `cache_memlimit`), each on a connection of its own:
 * memcached refuses a metadump behind other commands on its connection
 * ("ERROR cannot pipeline other commands before metadump") and reads nothing
 * after one, so these never share the batched connections. The reply comes
 * back as memcached sent it, byte for byte (a metadump's lines end with a
 * bare `\n`, its END with `\r\n`).
 */
import net from 'node:net';
import { encodeTextRequest, type AdminCommand } from '@cleave/protocol';
import type { BackendAddress, Counters } from './connection.js';
import { Errors } from './errors.js';

const LF = 0x0a;
const END_LINE = Buffer.from('END\r\n', 'latin1');
/** First lines of a dump's entries: metadump's `key=...`, cachedump's `ITEM ...`, mgdump's `mg ...`. */
const DUMP_LINES = [Buffer.from('key=', 'latin1'), Buffer.from('ITEM ', 'latin1'), Buffer.from('mg ', 'latin1')];

/** A command whose reply is a listing closed by `END` (unless it fails with one line instead). */
export function isDump(cmd: AdminCommand): boolean {
  const sub = cmd.args[0];
  if (cmd.name === 'lru_crawler') return sub === 'metadump' || sub === 'mgdump';
  return cmd.name === 'stats' && sub === 'cachedump';
}

/** The bytes read so far on an admin connection, and whether they are a whole reply yet. */
class Reply {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  /** The first line, once its `\n` has been read. */
  private first: Buffer | undefined = undefined;
  /** The last bytes read (at most END_LINE's length + 1), to see a dump's closing line. */
  private tail = Buffer.alloc(0);

  constructor(private readonly dump: boolean) {}

  add(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.first === undefined) {
      const nl = chunk.indexOf(LF);
      if (nl >= 0) {
        const all = Buffer.concat(this.chunks, this.length);
        this.first = all.subarray(0, this.length - chunk.length + nl + 1);
      }
    }
    const keep = END_LINE.length + 1;
    this.tail = Buffer.concat([this.tail, chunk.subarray(Math.max(0, chunk.length - keep))]);
    if (this.tail.length > keep) this.tail = this.tail.subarray(this.tail.length - keep);
  }

  /** A dump's entries (rather than the one line a dump fails with, or the END of an empty one). */
  private get listing(): boolean {
    const first = this.first!;
    return this.dump && DUMP_LINES.some((w) => first.subarray(0, w.length).equals(w));
  }

  /** Whether the reply is complete: its one line, or a dump's lines up to END. */
  get done(): boolean {
    if (this.first === undefined) return false;
    if (!this.listing) return true;
    const t = this.tail;
    // END on a line of its own, after a dump line's `\n`.
    return t.length === END_LINE.length + 1 && t[0] === LF && t.subarray(1).equals(END_LINE);
  }

  /** The reply: a one-line answer is that line alone. */
  bytes(): Buffer {
    return this.listing ? Buffer.concat(this.chunks, this.length) : this.first!;
  }
}

export interface AdminConfig {
  readonly address: BackendAddress;
  readonly connectTimeoutMs: number;
  readonly timeoutMs: number;
}

/**
 * Send `cmd` to memcached on a connection of its own and resolve with the
 * whole reply. Fails as a request would: refused or closed (`backend
 * unavailable`), no connection within connectTimeoutMs, or nothing read
 * for timeoutMs (`backend timeout`; a long dump may take longer, as long as
 * it keeps coming).
 */
export function sendAdmin(cfg: AdminConfig, cmd: AdminCommand, counters: Counters, open: Set<net.Socket>): Promise<Buffer> {
  // Without noreply, whatever the client sent: the reply is what this returns.
  const line = encodeTextRequest({ protocol: 'text', quiet: false, opcode: 0, opaque: 0, cmd: 'admin', name: cmd.name, args: cmd.args });
  const reply = new Reply(isDump(cmd));
  const addr = cfg.address;
  counters.requests++;
  return new Promise<Buffer>((resolve, reject) => {
    const socket = 'path' in addr ? net.connect({ path: addr.path }) : net.connect({ port: addr.port, host: addr.host });
    open.add(socket);
    let connected = false;
    let settled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (err: unknown, bytes?: Buffer): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      open.delete(socket);
      socket.destroy();
      if (err === undefined) {
        resolve(bytes!);
      } else {
        counters.errors++;
        reject(err);
      }
    };
    const arm = (ms: number): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        if (connected) counters.timeouts++;
        else counters.connectTimeouts++;
        finish(connected ? Errors.timeout : Errors.connectTimeout);
      }, ms);
      timer.unref();
    };
    arm(cfg.connectTimeoutMs);
    socket.setNoDelay(true);
    socket.on('connect', () => {
      connected = true;
      arm(cfg.timeoutMs);
      counters.bytesWritten += line.length;
      socket.write(line);
    });
    socket.on('data', (chunk: Buffer) => {
      counters.bytesRead += chunk.length;
      reply.add(chunk);
      if (reply.done) finish(undefined, reply.bytes());
      else arm(cfg.timeoutMs);
    });
    let refused = false;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      refused = !connected && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT');
    });
    socket.on('close', () => finish(refused ? Errors.refused : open.has(socket) ? Errors.closed : Errors.shutdown));
  });
}
