import { Rng, mix32 } from './rng.js';

/**
 * Self-describing values. An item value is named by (key index, generation,
 * length): the generation travels as the item's client flags, the length is
 * the data block's, and the bytes are a slice of a fixed random pad at an
 * offset derived from key index, generation and length (so a truncated or
 * lengthened block no longer matches), with the key index folded
 * into the first four bytes. So a reply can be checked byte for byte from
 * what it carries alone — no table of what was written, and no race when
 * several connections write the same key: whichever write won, its value
 * still names itself.
 *
 * The pad's seed is a constant, not the run's seed, so an item written by an
 * earlier run (same key layout) still checks out.
 */
const PAD_SEED = 0x5eed_ca75;
const OFFSETS = 65536;
/** Up to these lengths, values are copied / compared byte by byte in JS: cheaper than a native call. */
const SHORT_COPY = 32;
const SHORT_COMPARE = 64;

export class ValueSource {
  readonly pad: Buffer;

  constructor(readonly maxLength: number) {
    this.pad = Buffer.allocUnsafe(maxLength + OFFSETS + 8);
    const rng = new Rng(PAD_SEED);
    const p = this.pad;
    let i = 0;
    for (; i + 4 <= p.length; i += 4) p.writeUInt32LE(rng.u32(), i);
    for (; i < p.length; i++) p[i] = rng.u32() & 0xff;
  }

  /** Where in the pad the value of (key, gen, length) starts: a shorter or longer block lands elsewhere. */
  static offset(key: number, gen: number, length: number): number {
    return mix32(key, mix32(gen, length)) & (OFFSETS - 1);
  }

  /** Write the value of (key, gen) with `length` bytes into buf at pos. */
  write(buf: Buffer, pos: number, key: number, gen: number, length: number): void {
    const off = ValueSource.offset(key, gen, length);
    const pad = this.pad;
    // Short values: a loop beats the native copy's call overhead.
    if (length <= SHORT_COPY) for (let i = 4; i < length; i++) buf[pos + i] = pad[off + i]!;
    else pad.copy(buf, pos + 4, off + 4, off + length);
    const n = length < 4 ? length : 4;
    for (let i = 0; i < n; i++) buf[pos + i] = pad[off + i]! ^ ((key >>> (24 - 8 * i)) & 0xff);
  }

  /** The expected value of (key, gen, length), as a new Buffer (reports only). */
  expected(key: number, gen: number, length: number): Buffer {
    const b = Buffer.allocUnsafe(length);
    this.write(b, 0, key, gen, length);
    return b;
  }

  /** -1 when `value` is exactly (key, gen, value.length), else the offset of the first wrong byte. */
  check(value: Buffer, key: number, gen: number): number {
    const length = value.length;
    if (length > this.maxLength) return this.firstDifference(value, key, gen);
    const off = ValueSource.offset(key, gen, length);
    const pad = this.pad;
    const n = length < 4 ? length : 4;
    for (let i = 0; i < n; i++) if (value[i] !== (pad[off + i]! ^ ((key >>> (24 - 8 * i)) & 0xff))) return i;
    if (length <= SHORT_COMPARE) {
      for (let i = 4; i < length; i++) if (value[i] !== pad[off + i]) return i;
      return -1;
    }
    if (value.compare(pad, off + 4, off + length, 4, length) === 0) return -1;
    return this.firstDifference(value, key, gen);
  }

  private firstDifference(value: Buffer, key: number, gen: number): number {
    const exp = this.expected(key, gen, Math.min(value.length, this.maxLength));
    for (let i = 0; i < exp.length; i++) if (value[i] !== exp[i]) return i;
    return exp.length;
  }
}
