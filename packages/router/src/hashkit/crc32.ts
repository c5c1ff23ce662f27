// nutcracker 0.5.0's two CRC-32 hashes, over the standard reflected table (polynomial 0xedb88320):
// `hash: crc32a` is the plain CRC-32; `hash: crc32` keeps only bits 16..30 of it (libmemcached's
// 15-bit crc32, "apple" -> 10542).

const TABLE = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  let c = i;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  TABLE[i] = c;
}

function crcRegister(key: Uint8Array, start: number, end: number): number {
  let crc = -1;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ TABLE[(crc ^ key[i]!) & 0xff]!;
  return ~crc;
}

/** crc32 over `key[start, end)`: 15 bits, 0..32767. */
export function crc32(key: Uint8Array, start: number, end: number): number {
  return (crcRegister(key, start, end) >>> 16) & 0x7fff;
}

/** crc32a over `key[start, end)`: the full CRC-32 as an unsigned 32-bit number. */
export function crc32a(key: Uint8Array, start: number, end: number): number {
  return crcRegister(key, start, end) >>> 0;
}
