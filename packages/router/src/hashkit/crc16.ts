// nutcracker 0.5.0's crc16 (`hash: crc16`): CRC-16/XMODEM (polynomial 0x1021, no reflection, initial 0)
// computed in a 32-bit register that is never cut to 16 bits. The low 16 bits are the CRC; the high
// 16 bits hold the register's shifted-out bits, and nutcracker hashes with all 32 ("apple" -> 3662830516).

const TABLE = new Uint16Array(256);
for (let i = 0; i < 256; i++) {
  let c = i << 8;
  for (let bit = 0; bit < 8; bit++) c = c & 0x8000 ? (c << 1) ^ 0x1021 : c << 1;
  TABLE[i] = c;
}

/** crc16 over `key[start, end)` as an unsigned 32-bit number. */
export function crc16(key: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ TABLE[((crc >>> 8) ^ key[i]!) & 0xff]!;
  return crc >>> 0;
}
