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
 * Bytes once read are never overwritten while anything may refer to them.
 * After each read: when nothing does (every request parsed so far has run
 * and been answered, and the parser kept no view: `ReadTarget.released`), the
 * next read goes to the start of the buffer again; otherwise it goes after
 * the bytes read so far, and once too little room is left, to a new buffer,
 * the old one being left to whatever still refers to it. Handlers are bound
 * never to keep a request's Buffers past the call's settling (the Handler
 * contract), so an in-memory store's synchronous answers let one buffer serve
 * a connection for its whole life, and a proxy's connection makes a new one
 * only every few hundred requests.
 *
 * TLS sockets, and any Node where the fields are not found, read as before.
 */

/** The first buffer of a connection: small, so an idle connection costs little (grown after a read that fills it). */
const READ_BUFFER = 4 * 1024;
/** After a read that filled its buffer (a large value, a long pipeline): Node's own read size. */
const READ_BUFFER_LARGE = 64 * 1024;
/**
 * While requests still refer to its bytes, a buffer takes further reads
 * after them until less than this is left; then a new buffer is made. (A new
 * buffer per read, as Node makes, churned enough external memory to cost a
 * proxy a quarter of its throughput and quadruple its p99.)
 */
const MIN_READ = 2048;

/**
 * Debug aid: before a buffer is read into again, overwrite the bytes of its
 * last read, so that anything still holding a view of them (a broken
 * handler, a bug here) reads garbage at once instead of some later request's
 * bytes. The test suite runs with it on.
 */
const POISON = process.env.CLEAVE_POISON_READ_BUFFERS === '1';

/** Reads into own buffers since start, and how many of them needed a new buffer (tests check the fast path is live). */
export const readBufferCounts = { reads: 0, newBuffers: 0 };

export interface ReadTarget {
  /** The bytes of one read; valid until `released()` says they may be overwritten. */
  onData(chunk: Buffer): void;
  /** Whether nothing refers to the bytes last given to `onData` any more. */
  released(): boolean;
}

/**
 * First buffers are carved from shared slabs, one region per connection for
 * as long as it keeps it: a connection that never sends costs no resident
 * page of its own (a buffer of its own cost ~4 KiB of RSS even unread).
 */
const FIRST_SLAB = 64 * READ_BUFFER;
let firstSlab = Buffer.allocUnsafeSlow(FIRST_SLAB);
let firstAt = 0;

function firstBuffer(): Buffer {
  if (firstAt + READ_BUFFER > firstSlab.length) {
    firstSlab = Buffer.allocUnsafeSlow(FIRST_SLAB);
    firstAt = 0;
  }
  const b = bufferView(firstSlab.buffer, firstAt, READ_BUFFER);
  firstAt += READ_BUFFER;
  return b;
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
  let buf = firstBuffer();
  let ab = buf.buffer;
  let base = buf.byteOffset;
  /** Where in `buf` the pending read goes, and how many bytes the last read brought. */
  let at = 0;
  let last = 0;
  const s = socket as unknown as Record<symbol, unknown>;
  s[fields.buffer] = buf;
  s[fields.callback] = (n: number): void => {
    last = n;
    readBufferCounts.reads++;
    target.onData(bufferView(ab, base + at, n));
  };
  // Called after every read's callback: where the next read goes (undefined: the same place).
  s[fields.generator] = (): Buffer | undefined => {
    const end = at + last;
    const full = end === buf.length;
    if (target.released()) {
      // Nothing refers to any byte of `buf`: read from its start again (grown after a read that filled it).
      if (POISON) buf.fill(0xee, 0, end);
      if (full && buf.length < READ_BUFFER_LARGE) return fresh(READ_BUFFER_LARGE);
      if (at === 0) return undefined;
      at = 0;
      return buf;
    }
    // Requests still refer to bytes read: read on after them while room is left.
    if (buf.length - end >= MIN_READ) {
      at = end;
      return bufferView(ab, base + at, buf.length - at);
    }
    return fresh(full ? READ_BUFFER_LARGE : buf.length);
  };
  const fresh = (size: number): Buffer => {
    readBufferCounts.newBuffers++;
    buf = Buffer.allocUnsafeSlow(size);
    ab = buf.buffer;
    base = 0;
    at = 0;
    return buf;
  };
  handle.useUserBuffer(buf);
  return true;
}
