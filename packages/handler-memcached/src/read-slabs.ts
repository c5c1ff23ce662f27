import { bufferView } from '@cleave/protocol';

/** Size of a slab that backend reads are carved from. */
const SLAB = 256 * 1024;
/** Every read gets at least Node's own read size; with less left, the next read starts a new slab. */
const MIN_READ = 64 * 1024;

/**
 * Where a backend connection's reads go: one region after another of a 256
 * KiB slab, never written twice. Replies are parsed into views of the bytes
 * read (values included) and those views may live on in clients' write
 * queues, so no byte is ever reused; a slab is collected once nothing views
 * it. Used as the socket's `onread` option, this skips Node's Buffer per read
 * and its Readable stream: one allocation per slab instead of per read.
 */
export class ReadSlabs {
  private slab: Buffer = Buffer.allocUnsafeSlow(SLAB);
  private ab: ArrayBufferLike = this.slab.buffer;
  /** Start of the region the pending read goes to. */
  private at = 0;

  /** The region for the next read (net's `onread.buffer` generator: called once at the start and after every read). */
  readonly next = (): Buffer => {
    if (this.slab.length - this.at < MIN_READ) {
      this.slab = Buffer.allocUnsafeSlow(SLAB);
      this.ab = this.slab.buffer;
      this.at = 0;
    }
    return bufferView(this.ab, this.at, this.slab.length - this.at);
  };

  /** The `n` bytes the last read brought into its region; the next region starts after them. */
  took(n: number): Buffer {
    const bytes = bufferView(this.ab, this.at, n);
    this.at += n;
    return bytes;
  }
}
