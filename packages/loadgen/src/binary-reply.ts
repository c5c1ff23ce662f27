/**
 * Client side of the binary protocol: an incremental parser of reply packets
 * (24-byte header with magic 0x81, then extras, key and value, as the
 * header's lengths say). A packet that arrived whole is handed out as a view
 * into the chunk; one that spans chunks is gathered into a buffer of its own.
 */
import { BINARY_HEADER_LENGTH, BINARY_RESPONSE_MAGIC, BinaryHeader as H } from '@cleave/protocol';

export class BinaryFramingError extends Error {
  constructor(
    message: string,
    /** The bytes that broke the framing (a bounded excerpt). */
    readonly bytes: Buffer,
  ) {
    super(message);
    this.name = 'BinaryFramingError';
  }
}

export class BinaryReplyParser {
  /** Header bytes gathered when a header spans chunks. */
  private readonly header = Buffer.alloc(BINARY_HEADER_LENGTH);
  private headerGot = 0;
  /** The packet being gathered across chunks (header + body). */
  private packet: Buffer | undefined = undefined;
  private packetGot = 0;

  constructor(private readonly maxBodyLength: number = 64 * 1024 * 1024) {}

  reset(): void {
    this.headerGot = 0;
    this.packet = undefined;
    this.packetGot = 0;
  }

  /** Bytes held for an unfinished packet. */
  get buffered(): number {
    return this.packet === undefined ? this.headerGot : this.packetGot;
  }

  /** Consume `chunk`, appending each complete packet (header included) to `out`. */
  feed(chunk: Buffer, out: Buffer[]): void {
    const len = chunk.length;
    let pos = 0;
    while (pos < len) {
      if (this.packet !== undefined) {
        const p = this.packet;
        const n = Math.min(p.length - this.packetGot, len - pos);
        chunk.copy(p, this.packetGot, pos, pos + n);
        this.packetGot += n;
        pos += n;
        if (this.packetGot === p.length) {
          out.push(p);
          this.packet = undefined;
          this.packetGot = 0;
        }
        continue;
      }
      if (this.headerGot > 0 || len - pos < BINARY_HEADER_LENGTH) {
        // A header split across chunks.
        const n = Math.min(BINARY_HEADER_LENGTH - this.headerGot, len - pos);
        chunk.copy(this.header, this.headerGot, pos, pos + n);
        this.headerGot += n;
        pos += n;
        if (this.headerGot < BINARY_HEADER_LENGTH) return;
        this.headerGot = 0;
        const body = this.bodyLength(this.header, 0);
        const p = Buffer.allocUnsafe(BINARY_HEADER_LENGTH + body);
        this.header.copy(p, 0);
        if (body === 0) {
          out.push(p);
        } else {
          this.packet = p;
          this.packetGot = BINARY_HEADER_LENGTH;
        }
        continue;
      }
      const body = this.bodyLength(chunk, pos);
      const total = BINARY_HEADER_LENGTH + body;
      if (len - pos >= total) {
        out.push(chunk.subarray(pos, pos + total));
        pos += total;
      } else {
        const p = Buffer.allocUnsafe(total);
        chunk.copy(p, 0, pos, len);
        this.packet = p;
        this.packetGot = len - pos;
        pos = len;
      }
    }
  }

  /** Check the header at b[o] and return its body length. */
  private bodyLength(b: Buffer, o: number): number {
    if (b[o + H.MAGIC] !== BINARY_RESPONSE_MAGIC) {
      throw new BinaryFramingError(
        `bad magic 0x${b[o]!.toString(16).padStart(2, '0')} (a reply starts with 0x81)`,
        Buffer.from(b.subarray(o, o + 48)),
      );
    }
    const body = b.readUInt32BE(o + H.BODY_LENGTH);
    const keyLength = b.readUInt16BE(o + H.KEY_LENGTH);
    const extras = b[o + H.EXTRAS_LENGTH]!;
    if (body > this.maxBodyLength) {
      throw new BinaryFramingError(
        `body length ${body} over the ${this.maxBodyLength} limit`,
        Buffer.from(b.subarray(o, o + BINARY_HEADER_LENGTH)),
      );
    }
    if (keyLength + extras > body) {
      throw new BinaryFramingError(
        `key length ${keyLength} + extras ${extras} exceed body length ${body}`,
        Buffer.from(b.subarray(o, o + BINARY_HEADER_LENGTH)),
      );
    }
    return body;
  }
}
