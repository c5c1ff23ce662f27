/**
 * memcached's `stats detail`: while on, gets (and their hits), sets and
 * deletes counted per key prefix (the key up to the first ':'), dumped as
 * memcached's stats_prefix.c dumps them: its 256-bucket hash table in bucket
 * order (MurmurHash3, memcached's default hash), newest prefix first within a
 * bucket, matched as memcached matches them.
 */
const BUCKETS = 256;
const DELIMITER = 0x3a; // ':'
const COLON = Buffer.from(':');

interface Prefix {
  readonly bytes: Buffer;
  gets: number;
  hits: number;
  sets: number;
  dels: number;
}

export class PrefixStats {
  /** Counting is on (`stats detail on`); off costs the server one field read per request. */
  enabled = false;
  private readonly buckets: (Prefix[] | undefined)[] = new Array<Prefix[] | undefined>(BUCKETS);

  recordGet(key: Buffer, hit: boolean): void {
    const p = this.find(key);
    if (p === undefined) return;
    p.gets++;
    if (hit) p.hits++;
  }

  recordSet(key: Buffer): void {
    const p = this.find(key);
    if (p !== undefined) p.sets++;
  }

  recordDelete(key: Buffer): void {
    const p = this.find(key);
    if (p !== undefined) p.dels++;
  }

  /** `stats reset` forgets every prefix. */
  clear(): void {
    this.buckets.fill(undefined);
  }

  /** Every prefix and its counts, in dump order (to merge threads' counts with `add`). */
  entries(): [prefix: Buffer, gets: number, hits: number, sets: number, dels: number][] {
    const out: [Buffer, number, number, number, number][] = [];
    for (const b of this.buckets) if (b !== undefined) for (const p of b) out.push([p.bytes, p.gets, p.hits, p.sets, p.dels]);
    return out;
  }

  /** Add another PrefixStats' `entries()` (given in dump order, so a bucket keeps its order). */
  add(entries: readonly (readonly [Uint8Array, number, number, number, number])[]): void {
    for (let i = entries.length - 1; i >= 0; i--) {
      const [bytes, gets, hits, sets, dels] = entries[i]!;
      const p = this.find(Buffer.concat([bytes, COLON]));
      if (p === undefined) continue;
      p.gets += gets;
      p.hits += hits;
      p.sets += sets;
      p.dels += dels;
    }
  }

  /** `PREFIX <p> get N hit N set N del N` lines, then END. */
  dump(): string {
    let out = '';
    for (const b of this.buckets) {
      if (b === undefined) continue;
      for (const p of b) out += `PREFIX ${p.bytes.toString('latin1')} get ${p.gets} hit ${p.hits} set ${p.sets} del ${p.dels}\r\n`;
    }
    return out + 'END\r\n';
  }

  private find(key: Buffer): Prefix | undefined {
    let length = 0;
    // Keys without the delimiter (before any NUL) are not counted.
    for (; length < key.length && key[length] !== 0; length++) if (key[length] === DELIMITER) break;
    if (length === key.length || key[length] !== DELIMITER) return undefined;
    const h = murmur3(key, length) % BUCKETS;
    let b = this.buckets[h];
    if (b !== undefined) {
      // memcached's strncmp(prefix, key, length): a longer prefix that starts with this one matches too.
      for (const p of b) if (p.bytes.length >= length && p.bytes.compare(key, 0, length, 0, length) === 0) return p;
    } else {
      b = this.buckets[h] = [];
    }
    const p: Prefix = { bytes: Buffer.from(key.subarray(0, length)), gets: 0, hits: 0, sets: 0, dels: 0 };
    b.unshift(p);
    return p;
  }
}

/** MurmurHash3_x86_32 with seed 0 over `data[0..length)` (memcached's murmur3_hash.c). */
export function murmur3(data: Buffer, length: number): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  let h = 0;
  const blocks = length & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = length & 3;
  if (rest !== 0) {
    let k = data[blocks]!;
    if (rest > 1) k |= data[blocks + 1]! << 8;
    if (rest > 2) k |= data[blocks + 2]! << 16;
    k = Math.imul(k, c1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, c2);
    h ^= k;
  }
  h ^= length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
