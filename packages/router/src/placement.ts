// Which server of a pool a key goes to, exactly as nutcracker (twemproxy) 0.5.0 places it for the same
// nutcracker.yml: the ketama continuum, modula and random distributions, the twelve key hashes, server
// weights and names, hash_tag, and the rebuild over the live servers when servers are ejected.
//
// nutcracker's rules this follows (src/nc_server.c, src/nc_conf.c, src/hashkit/nc_{ketama,modula,random}.c):
// - Servers are kept sorted by name (shorter names first, then bytewise): the config loader sorts them to
//   find duplicates and keeps that order, so modula's slots and random's picks follow it, not the yml's.
// - ketama: each live server gets floor(weight / live weight * 40 * live servers) * 4 points, computed in
//   single-precision float; point group i of a server is the MD5 of "<name>-<i>", its four little-endian
//   words being four points. A key goes to the first point >= its hash, wrapping to the first point.
// - modula: each live server holds `weight` consecutive slots; a key goes to slot hash % slots.
// - random: one slot per live server; each request picks one at random.
// - A pool of one server answers it without hashing; an empty key hashes to 0.
// - hash_tag "ab": when the key holds an `a`, then later a `b` with at least one byte between them, the
//   bytes between are hashed instead of the key.
//
// mcrouter's placement (distribution ch3 / weighted_ch3, hashkit/mcrouter.ts) keeps the servers in the config's
// order, hashes with furc_hash (and mcrouter's salt and "|#|" hash stop) and never moves a key: a server that is not
// live leaves its keys without a server.
import { KEY_HASHES, md5Words, type KeyHash } from './hashkit/index.js';
import { McrouterHash, checkWeight } from './hashkit/mcrouter.js';
import { DISTRIBUTIONS, HASH_NAMES, type Distribution, type HashName, type RingServer } from './types.js';

/** What a pool's placement is built from: nutcracker.yml's `distribution`, `hash`, `hash_tag` and `servers`. */
export interface PlacementOptions {
  readonly distribution: Distribution;
  readonly hash: HashName;
  /** nutcracker's `hash_tag`: two characters (two bytes in UTF-8), opening and closing the hashed part of a key. */
  readonly hashTag?: string | undefined;
  /** ch3 and weighted_ch3 only: mcrouter's hash salt, appended to each key before hashing. */
  readonly salt?: string | undefined;
  readonly servers: readonly RingServer[];
}

/** Whether a distribution is mcrouter's (servers in config order, weights in [0, 1] for weighted_ch3). */
function isMcrouter(distribution: Distribution): distribution is 'ch3' | 'weighted_ch3' {
  return distribution === 'ch3' || distribution === 'weighted_ch3';
}

/**
 * The name nutcracker hashes a server onto the ketama ring with (and sorts servers by):
 * `name` when the config gives one; else `host` when the port is 11211 (libmemcached's
 * rule); else `host:port`. For a unix socket (`port` undefined) nutcracker takes the path
 * and the one byte after it in `/path:weight`, so the name is the path followed by ':'.
 * nutcracker copies `host:port` from the yml as written: give the port as it is written
 * there (e.g. "011212") when it is not plain decimal.
 */
export function ringName(host: string, port: number | string | undefined, name?: string): string {
  if (name !== undefined && name !== '') return name;
  if (port === undefined) return `${host}:`;
  if (Number(port) === 11211) return host;
  return `${host}:${port}`;
}

/** nutcracker's ketama: 160 points a server on average, placed in groups of 4 (one MD5 each). */
const KETAMA_POINTS_PER_SERVER = 160;
const KETAMA_POINTS_PER_HASH = 4;
/** nutcracker formats "<name>-<i>" into a 273-byte buffer: longer names are cut to 272 bytes. */
const KETAMA_MAX_HOSTLEN = 273;

const f32 = Math.fround;

/**
 * Points a live server gets on the ketama continuum, computed as nutcracker's C does it
 * in single-precision float (so 3 equal servers get 160 each, not 159).
 */
export function ketamaPoints(weight: number, totalWeight: number, liveServers: number): number {
  const pct = f32(f32(weight) / f32(totalWeight));
  const perGroup = f32(f32(f32(pct * KETAMA_POINTS_PER_SERVER) / 4) * f32(liveServers));
  // `+ 0.0000000001` is added in double, then the sum is cut back to float before floorf.
  return Math.floor(f32(perGroup + 0.0000000001)) * KETAMA_POINTS_PER_HASH;
}

/** Orders names as nutcracker's string_compare does: by length in bytes, then bytewise. */
function compareNames(a: Buffer, b: Buffer): number {
  return a.length !== b.length ? a.length - b.length : Buffer.compare(a, b);
}

/**
 * Key placement over a pool's servers. `serverFor` is allocation-free: a hash and
 * a binary search over a typed array (ketama), or a remainder (modula).
 */
export class Placement {
  readonly distribution: Distribution;
  readonly hash: HashName;
  readonly hashTag: string | undefined;
  readonly salt: string | undefined;
  readonly servers: readonly RingServer[];

  private readonly keyHash: KeyHash;
  /** ch3 / weighted_ch3: mcrouter's hash over all servers, and which servers are live. */
  private readonly mcrouter: McrouterHash | undefined;
  private live: Uint8Array = new Uint8Array(0);
  /** hash_tag's opening and closing bytes, or -1 when there is no hash_tag. */
  private readonly tagOpen: number;
  private readonly tagClose: number;
  /** Indexes into `servers` in nutcracker's server order (sorted by name). */
  private readonly order: Int32Array;
  /** Names as bytes, by index into `servers`. */
  private readonly nameBytes: readonly Buffer[];
  /** ketama: point values, ascending; unused otherwise. */
  private points: Uint32Array = new Uint32Array(0);
  /** The server (index into `servers`) of each point (ketama) or slot (modula, random). */
  private owners: Int32Array = new Int32Array(0);
  /** Points or slots in use. */
  private count = 0;
  private nlive = 0;

  constructor(options: PlacementOptions) {
    const { distribution, hash, hashTag, salt, servers } = options;
    if (!DISTRIBUTIONS.includes(distribution)) {
      throw new TypeError(`placement: unknown distribution ${JSON.stringify(distribution)}: use one of ${DISTRIBUTIONS.join(', ')}`);
    }
    if (!HASH_NAMES.includes(hash)) {
      throw new TypeError(`placement: unknown hash ${JSON.stringify(hash)}: use one of ${HASH_NAMES.join(', ')}`);
    }
    let tag: Buffer | undefined;
    if (hashTag !== undefined) {
      tag = typeof hashTag === 'string' ? Buffer.from(hashTag, 'utf8') : undefined;
      if (tag === undefined || tag.length !== 2) {
        throw new TypeError(`placement: hash_tag ${JSON.stringify(hashTag)} is not a hash tag of two characters (two bytes, e.g. "{}")`);
      }
    }
    const mcrouter = isMcrouter(distribution);
    if (mcrouter && hashTag !== undefined) {
      throw new TypeError(`placement: ${distribution} has no hash_tag (mcrouter hashes a key up to its "|#|" hash stop)`);
    }
    if (!mcrouter && salt !== undefined) throw new TypeError(`placement: a salt is for ch3 and weighted_ch3, not ${distribution}`);
    if (!Array.isArray(servers) || servers.length === 0) throw new TypeError('placement: a pool needs at least one server');
    const names = servers.map((s, i) => {
      if (s === null || typeof s !== 'object' || typeof s.name !== 'string' || s.name === '') {
        throw new TypeError(`placement: servers[${i}] needs a name (see ringName)`);
      }
      if (distribution === 'weighted_ch3') checkWeight(s.weight, `servers[${i}] (${s.name})`);
      else if (!Number.isSafeInteger(s.weight) || s.weight < 1) {
        throw new TypeError(`placement: servers[${i}] (${s.name}) has weight ${String(s.weight)}: a weight is a positive integer`);
      }
      return Buffer.from(s.name, 'utf8');
    });
    const order = names.map((_, i) => i).sort((a, b) => compareNames(names[a]!, names[b]!));
    for (let i = 1; i < order.length; i++) {
      if (compareNames(names[order[i - 1]!]!, names[order[i]!]!) === 0) {
        throw new TypeError(`placement: two servers have the name ${JSON.stringify(servers[order[i]!]!.name)}: names must differ`);
      }
    }
    this.distribution = distribution;
    this.hash = hash;
    this.hashTag = hashTag;
    this.salt = salt;
    this.servers = servers;
    this.keyHash = KEY_HASHES[hash];
    this.mcrouter = mcrouter
      ? new McrouterHash(distribution === 'ch3' ? 'Ch3' : 'WeightedCh3', servers.length, {
          salt,
          weights: distribution === 'weighted_ch3' ? servers.map((s) => s.weight) : undefined,
        })
      : undefined;
    this.tagOpen = tag ? tag[0]! : -1;
    this.tagClose = tag ? tag[1]! : -1;
    // mcrouter keeps the config's order; nutcracker's is by name.
    this.order = mcrouter ? Int32Array.from(servers, (_, i) => i) : Int32Array.from(order);
    this.nameBytes = names;
    this.rebuild(servers.map(() => true));
  }

  /** Live servers in the current build. */
  get liveServers(): number {
    return this.nlive;
  }

  /**
   * Rebuild over the servers with `live[i]` true, as nutcracker rebuilds when it
   * ejects servers or brings them back: ketama points are shared out by the live
   * servers' weight and count, modula gives each live server `weight` slots,
   * random one slot per live server. ch3 and weighted_ch3 move no key: a
   * server not live has no keys served. Not for the hot path.
   */
  rebuild(live: readonly boolean[]): void {
    const n = this.servers.length;
    if (!Array.isArray(live) || live.length !== n) {
      throw new TypeError(
        `placement: rebuild needs one live flag per server (${n}), got ${Array.isArray(live) ? live.length : typeof live}`,
      );
    }
    let nlive = 0;
    let totalWeight = 0;
    for (let i = 0; i < n; i++) {
      if (live[i]) {
        nlive++;
        totalWeight += this.servers[i]!.weight;
      }
    }
    this.nlive = nlive;
    if (this.mcrouter !== undefined) {
      this.live = Uint8Array.from(live, (l) => (l ? 1 : 0));
      return;
    }
    if (nlive === 0) {
      this.count = 0;
      return;
    }
    switch (this.distribution) {
      case 'ketama':
        this.buildKetama(live, nlive, totalWeight);
        break;
      case 'modula':
        this.buildSlots(live, totalWeight, (i) => this.servers[i]!.weight);
        break;
      case 'random':
        this.buildSlots(live, nlive, () => 1);
        break;
      default:
        throw new Error(`placement: no build for ${this.distribution}`);
    }
  }

  private buildSlots(live: readonly boolean[], slots: number, slotsOf: (server: number) => number): void {
    const owners = new Int32Array(slots);
    let at = 0;
    for (const s of this.order) {
      if (!live[s]) continue;
      for (let k = slotsOf(s); k > 0; k--) owners[at++] = s;
    }
    this.owners = owners;
    this.points = new Uint32Array(0);
    this.count = slots;
  }

  private buildKetama(live: readonly boolean[], nlive: number, totalWeight: number): void {
    const values: number[] = [];
    const servers: number[] = [];
    const words = new Uint32Array(4);
    const host = Buffer.alloc(KETAMA_MAX_HOSTLEN + 16);
    for (const s of this.order) {
      if (!live[s]) continue;
      const name = this.nameBytes[s]!;
      const groups = ketamaPoints(this.servers[s]!.weight, totalWeight, nlive) / KETAMA_POINTS_PER_HASH;
      for (let g = 0; g < groups; g++) {
        // snprintf("%.*s-%u", name, g) into 273 bytes: at most 272 of them are hashed.
        let len = name.copy(host, 0);
        len += host.write(`-${g}`, len, 'latin1');
        md5Words(host, 0, Math.min(len, KETAMA_MAX_HOSTLEN - 1), words);
        for (let w = 0; w < KETAMA_POINTS_PER_HASH; w++) {
          values.push(words[w]!);
          servers.push(s);
        }
      }
    }
    // nutcracker sorts with glibc's qsort, a merge sort here: equal points keep the order they were made in.
    const byValue = values.map((_, i) => i).sort((a, b) => values[a]! - values[b]! || a - b);
    const points = new Uint32Array(byValue.length);
    const owners = new Int32Array(byValue.length);
    for (let i = 0; i < byValue.length; i++) {
      points[i] = values[byValue[i]!]!;
      owners[i] = servers[byValue[i]!]!;
    }
    this.points = points;
    this.owners = owners;
    this.count = points.length;
  }

  /**
   * The index into `servers` of the server `key[start, end)` goes to, or -1
   * when no server is live (nutcracker answers such requests with an error);
   * for ch3 and weighted_ch3, -1 when the key's server is not live.
   */
  serverFor(key: Uint8Array, start = 0, end: number = key.length): number {
    if (this.nlive === 0) return -1;
    if (this.mcrouter !== undefined) {
      const s = this.mcrouter.select(key, start, end);
      return this.live[s] === 1 ? s : -1;
    }
    // nutcracker: "skip hashing and dispatching for pools with only one server".
    if (this.servers.length === 1) return 0;
    if (this.distribution === 'random') return this.owners[Math.floor(Math.random() * this.count)]!;
    if (this.tagOpen >= 0) {
      let open = start;
      while (open < end && key[open] !== this.tagOpen) open++;
      if (open < end) {
        let close = open + 1;
        while (close < end && key[close] !== this.tagClose) close++;
        if (close < end && close - open > 1) {
          start = open + 1;
          end = close;
        }
      }
    }
    const hash = end > start ? this.keyHash(key, start, end) : 0;
    if (this.distribution === 'modula') return this.owners[hash % this.count]!;
    // ketama: the first point >= hash, wrapping past the last to the first.
    const points = this.points;
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === this.count ? 0 : lo]!;
  }
}
