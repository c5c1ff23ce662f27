/**
 * Helpers for differential tests: build raw binary packets and mask the
 * parts of two servers' replies that legitimately differ (CAS uniques,
 * version text), so the rest can be compared byte for byte.
 */

export interface BinaryPacketSpec {
  opcode: number;
  key?: Buffer | string;
  extras?: Buffer;
  value?: Buffer | string;
  opaque?: number;
  cas?: bigint;
  magic?: number;
  /** Override the header's total body length (for malformed packets). */
  totalBody?: number;
  /** Override the header's key length. */
  keyLength?: number;
  /** Override the header's extras length. */
  extrasLength?: number;
  dataType?: number;
  vbucket?: number;
}

/** A binary request packet, built byte by byte (deliberately independent of the parser under test). */
export function binaryPacket(spec: BinaryPacketSpec): Buffer {
  const key = typeof spec.key === 'string' ? Buffer.from(spec.key, 'latin1') : (spec.key ?? Buffer.alloc(0));
  const extras = spec.extras ?? Buffer.alloc(0);
  const value = typeof spec.value === 'string' ? Buffer.from(spec.value, 'latin1') : (spec.value ?? Buffer.alloc(0));
  const h = Buffer.alloc(24);
  h[0] = spec.magic ?? 0x80;
  h[1] = spec.opcode;
  h.writeUInt16BE(spec.keyLength ?? key.length, 2);
  h[4] = spec.extrasLength ?? extras.length;
  h[5] = spec.dataType ?? 0;
  h.writeUInt16BE(spec.vbucket ?? 0, 6);
  h.writeUInt32BE(spec.totalBody ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE(spec.opaque ?? 0, 12);
  h.writeBigUInt64BE(spec.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** Extras helpers for binary requests. */
export const extras = {
  /** Set/Add/Replace: flags, exptime. */
  store(flags: number, exptime: number): Buffer {
    const b = Buffer.alloc(8);
    b.writeUInt32BE(flags >>> 0, 0);
    b.writeUInt32BE(exptime >>> 0, 4);
    return b;
  },
  /** Increment/Decrement: delta, initial, exptime. */
  arith(delta: bigint, initial: bigint, exptime: number): Buffer {
    const b = Buffer.alloc(20);
    b.writeBigUInt64BE(delta, 0);
    b.writeBigUInt64BE(initial, 8);
    b.writeUInt32BE(exptime >>> 0, 16);
    return b;
  },
  /** Touch/GAT/Flush/Verbosity: one 32-bit field. */
  u32(v: number): Buffer {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v >>> 0, 0);
    return b;
  },
};

/** Text and meta replies with CAS uniques and the version masked. */
export function normalizeText(reply: Buffer): string {
  return (
    reply
      .toString('latin1')
      // VALUE <key> <flags> <bytes> <cas>
      .replace(/^(VALUE \S+ \d+ \d+) \d+\r$/gm, '$1 <cas>\r')
      .replace(/^VERSION .*\r$/gm, 'VERSION <v>\r')
      // meta return flags: c<cas>
      .replace(/^((?:VA \d+|HD|EX|NS|NF|EN)(?: \S+)*?) c\d+/gm, '$1 c<cas>')
      .replace(/^ME (\S+) .*\r$/gm, 'ME $1 <debug>\r')
      // meta remaining TTL: two processes' clocks tick on different second boundaries, so a
      // positive TTL may differ by one; "never expires" (t-1) is kept.
      .replace(/^((?:VA \d+|HD)(?: \S+)*?) t\d+/gm, '$1 t<ttl>')
  );
}

/** A binary reply stream with CAS fields and Version bodies masked; unparsable tails kept as hex. */
export function normalizeBinary(reply: Buffer): string {
  const out: string[] = [];
  let p = 0;
  while (p + 24 <= reply.length) {
    const h = reply.subarray(p, p + 24);
    const body = h.readUInt32BE(8);
    if (p + 24 + body > reply.length) break;
    const opcode = h[1]!;
    const masked = Buffer.from(h);
    const cas = masked.readBigUInt64BE(16);
    masked.fill(0, 16, 24);
    let bodyBuf = reply.subarray(p + 24, p + 24 + body);
    if (opcode === 0x0b) {
      bodyBuf = Buffer.from('<version>');
      masked.fill(0, 8, 12);
    }
    out.push(`${masked.toString('hex')} cas=${cas === 0n ? '0' : 'set'} ${bodyBuf.toString('hex')}`);
    p += 24 + body;
  }
  if (p < reply.length) out.push(`tail ${reply.subarray(p).toString('hex')}`);
  return out.join('\n');
}
