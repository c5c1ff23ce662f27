import net, { type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { bufferView } from '@cleave/protocol';

/**
 * Reads into a buffer the connection owns and reuses, instead of a new
 * Buffer per read pushed through the socket's Readable stream.
 *
 * Node's `onread` socket option does this for sockets a program creates; a
 * server's accepted sockets are set up the same way here, through the
 * option's own fields (found on a probe socket, so nothing is guessed). Per
 * unpipelined request this saves an allocation of the read buffer, its
 * ArrayBuffer and the stream's push/emit path: about a sixth of a Node
 * server's CPU time per request on the project's machine (docs/benchmarks.md).
 *
 * A buffer is read into again only when nothing refers to the bytes of its
 * last read: every request parsed from it has run and been answered
 * synchronously, and the parser kept no view of it (`ReadTarget.released`).
 * Otherwise the next read gets a new buffer and the old one is left to
 * whatever still refers to it, as Node's own reads would be. Handlers are
 * already bound never to keep a request's Buffers past the call's settling
 * (the Handler contract), so an in-memory store's synchronous answers let one
 * buffer serve a connection for its whole life.
 *
 * TLS sockets, and any Node where the fields are not found, read as before.
 */

/** The first buffer of a connection (memcached's read buffer is 16 KiB too). */
const READ_BUFFER = 16 * 1024;
/** After a read that filled its buffer (a large value, a long pipeline): Node's own read size. */
const READ_BUFFER_LARGE = 64 * 1024;

/**
 * Debug aid: before a buffer is read into again, overwrite the bytes of its
 * last read, so that anything still holding a view of them (a broken
 * handler, a bug here) reads garbage at once instead of some later request's
 * bytes. The test suite runs with it on.
 */
const POISON = process.env['CLEAVE_POISON_READ_BUFFERS'] === '1';

/** Reads into own buffers since start, and how many of them needed a new buffer (tests check the fast path is live). */
export const readBufferCounts = { reads: 0, newBuffers: 0 };

export interface ReadTarget {
  /** The bytes of one read; valid until `released()` says they may be overwritten. */
  onData(chunk: Buffer): void;
  /** Whether nothing refers to the bytes last given to `onData` any more. */
  released(): boolean;
}

interface OnReadFields {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** The symbols under which net.Socket keeps its `onread` option, found by value on probe sockets. */
function probeFields(): OnReadFields | undefined {
  try {
    const buffer = Buffer.alloc(1);
    const callback = (): boolean => true;
    const generator = (): Buffer => buffer;
    // The constructor takes the option too, though the typings list it for connect() only.
    const make = (onread: net.OnReadOpts) => new net.Socket({ onread } as net.SocketConstructorOpts) as unknown as Record<symbol, unknown>;
    const withBuffer = make({ buffer, callback });
    const withGenerator = make({ buffer: generator, callback });
    const find = (o: Record<symbol, unknown>, v: unknown) => Object.getOwnPropertySymbols(o).find((s) => o[s] === v);
    const b = find(withBuffer, buffer);
    const c = find(withBuffer, callback);
    const g = find(withGenerator, generator);
    if (b === undefined || c === undefined || g === undefined || b === c || b === g) return undefined;
    return { buffer: b, callback: c, generator: g };
  } catch {
    return undefined;
  }
}

const fields = probeFields();

interface UserBufferHandle {
  useUserBuffer(buf: Uint8Array): void;
}

/**
 * Make `socket` read into buffers of its own for `target`. Returns false when
 * it cannot (TLS, an unknown Node): then the caller listens for 'data'.
 * Call before the socket's first read callback, e.g. when it is accepted.
 */
export function readIntoOwnBuffers(socket: Socket, target: ReadTarget): boolean {
  if (fields === undefined || socket instanceof TLSSocket) return false;
  const handle = (socket as unknown as { _handle?: Partial<UserBufferHandle> | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  // allocUnsafeSlow: each buffer has an ArrayBuffer of its own at offset 0, so a read's view is made from `ab`.
  let buf = Buffer.allocUnsafeSlow(READ_BUFFER);
  let ab = buf.buffer;
  let last = 0;
  const s = socket as unknown as Record<symbol, unknown>;
  s[fields.buffer] = buf;
  s[fields.callback] = (n: number): void => {
    last = n;
    readBufferCounts.reads++;
    target.onData(bufferView(ab, 0, n));
  };
  // Called after every read's callback: the buffer for the next read (undefined: the same one).
  s[fields.generator] = (): Buffer | undefined => {
    const full = last === buf.length;
    if (target.released() && !(full && buf.length < READ_BUFFER_LARGE)) {
      if (POISON) buf.fill(0xee, 0, last);
      return undefined;
    }
    readBufferCounts.newBuffers++;
    buf = Buffer.allocUnsafeSlow(full ? READ_BUFFER_LARGE : buf.length);
    ab = buf.buffer;
    return buf;
  };
  handle.useUserBuffer(buf);
  return true;
}
