import { FAMILY_LETTERS } from './commands.js';

/**
 * Key layout: `<prefix><family letter><index, zero-padded>` of exactly
 * `keyLength` bytes, e.g. `cl:i000004711` — printable, no spaces, so the same
 * key works in text, meta and binary. Keys are written digit by digit into
 * the request batch and checked the same way in replies (no strings).
 */
export class KeySpace {
  private readonly head: Buffer[];
  readonly digits: number;

  constructor(
    readonly prefix: string,
    readonly keyLength: number,
    readonly keys: number,
  ) {
    const p = Buffer.from(prefix, 'latin1');
    this.head = FAMILY_LETTERS.map((l) => Buffer.concat([p, Buffer.from(l, 'latin1')]));
    this.digits = keyLength - p.length - 1;
    if (this.digits < minDigits(keys)) {
      throw new Error(
        `--key-length ${keyLength} is too short for ${keys} keys with prefix "${prefix}" (need ${minKeyLength(prefix, keys)})`,
      );
    }
  }

  /** Write the key into buf at pos (keyLength bytes). */
  write(buf: Buffer, pos: number, family: number, index: number): void {
    const h = this.head[family]!;
    for (let i = 0; i < h.length; i++) buf[pos + i] = h[i]!;
    let p = pos + this.keyLength - 1;
    const stop = pos + h.length;
    // Indexes stay below 2^31 (the key space is capped well under it): integer division by |0.
    let t = index | 0;
    while (p >= stop) {
      const q = (t / 10) | 0;
      buf[p--] = 48 + (t - q * 10);
      t = q;
    }
  }

  /** Whether `key` is exactly this family's key `index`. */
  matches(key: Buffer, family: number, index: number): boolean {
    if (key.length !== this.keyLength) return false;
    const h = this.head[family]!;
    for (let i = 0; i < h.length; i++) if (key[i] !== h[i]) return false;
    let t = index | 0;
    for (let p = this.keyLength - 1; p >= h.length; p--) {
      const q = (t / 10) | 0;
      if (key[p] !== 48 + (t - q * 10)) return false;
      t = q;
    }
    return true;
  }

  /** The key as a string, for reports. */
  name(family: number, index: number): string {
    const b = Buffer.allocUnsafe(this.keyLength);
    this.write(b, 0, family, index);
    return b.toString('latin1');
  }
}

function minDigits(keys: number): number {
  return String(Math.max(0, keys - 1)).length;
}

/** Shortest key length that holds `keys` distinct keys. */
export function minKeyLength(prefix: string, keys: number): number {
  return Buffer.byteLength(prefix, 'latin1') + 1 + minDigits(keys);
}
