/**
 * Buffer views for hot paths.
 *
 * `buf.subarray(a, b)` costs about twice what a view needs: it looks up the
 * species constructor and reads `buf.buffer` and `buf.byteOffset`, each a
 * call into V8 (about 50 ns in all on the project's machine, against 20 ns
 * for the constructor alone). Code that takes many views of one Buffer (a
 * parser of one read, a slab) reads the ArrayBuffer and offset once and
 * builds each view with `bufferView`, which makes a Buffer exactly as Node
 * does: with Node's own Buffer class, `Buffer[Symbol.species]`.
 */

type ViewConstructor = new (ab: ArrayBufferLike, offset: number, length: number) => Buffer;

function nodeBufferClass(): ViewConstructor | undefined {
  const species = (Buffer as unknown as Record<symbol, unknown>)[Symbol.species];
  if (typeof species !== 'function') return undefined;
  try {
    const ctor = species as ViewConstructor;
    const probe = new ctor(new ArrayBuffer(4), 1, 2);
    return Buffer.isBuffer(probe) && probe.length === 2 && probe.byteOffset === 1 ? ctor : undefined;
  } catch {
    return undefined;
  }
}

const NodeBuffer = nodeBufferClass();

/** A Buffer of `length` bytes of `ab` from `offset` (no copy). */
export const bufferView: (ab: ArrayBufferLike, offset: number, length: number) => Buffer =
  NodeBuffer !== undefined
    ? (ab, offset, length) => new NodeBuffer(ab, offset, length)
    : (ab, offset, length) => Buffer.from(ab as ArrayBuffer, offset, length);

/**
 * Views of one Buffer at a time: its ArrayBuffer and offset are read once
 * per Buffer, not once per view.
 */
export class Viewer {
  private src: Buffer | null = null;
  private ab: ArrayBufferLike = new ArrayBuffer(0);
  private base = 0;

  /** `buf[start..end)` as a Buffer that shares its memory. */
  view(buf: Buffer, start: number, end: number): Buffer {
    if (buf !== this.src) {
      this.src = buf;
      this.ab = buf.buffer;
      this.base = buf.byteOffset;
    }
    return bufferView(this.ab, this.base + start, end - start);
  }
}
