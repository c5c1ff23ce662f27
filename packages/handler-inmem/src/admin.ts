/**
 * memcached's admin commands over the in-memory store, with memcached
 * 1.6.18's replies: `lru_crawler` (metadump, crawl, tocrawl, sleep, enable,
 * disable), `stats cachedump`, `slabs reassign|automove`, `lru` and
 * `cache_memlimit`. The parser checked the arguments; what depends on the
 * store (its classes, its pages, whether its crawler runs) is checked here.
 *
 * Class ids are the store's own, as `stats items` and `stats slabs` number
 * them (1 for the smallest chunks; the class after the last holds the items
 * outside the slabs). A metadump's `size=` is memcached's size for the item,
 * as meta `me` prints it.
 */
import { memcachedItemSize, type AdminCommand } from '@cleave/protocol';
import type { FlushState } from './flush.js';
import type { Lru } from './lru.js';
import type { ItemMemory } from './memory.js';
import { CHUNK_HEADER, type Slabs } from './slabs.js';
import { CRAWLER, PICK_NEXT, TOCRAWL, type Header } from './state.js';
import {
  ATIME,
  CAS,
  CLS,
  EXPTIME,
  FETCHED,
  FLAGS,
  KEY_BINARY,
  KLEN,
  LINKED,
  NEXT,
  PREV,
  REF,
  STATE,
  STRIDE,
  VLEN,
  type ItemTable,
} from './table.js';

const line = (s: string) => Buffer.from(s + '\r\n', 'latin1');
const OK = line('OK');
const ERROR = line('ERROR');
const END = line('END');
const ITEM_SP = Buffer.from('ITEM ', 'latin1');
const CRAWLER_DISABLED = line('CLIENT_ERROR lru crawler disabled');
const CRAWLER_BADCLASS = line('BADCLASS invalid class id');
const CRAWLER_NOTSTARTED = line('NOTSTARTED no items to crawl');
const CRAWLER_ERROR = line('ERROR an unknown error happened');
const CRAWLER_NOT_STARTED = line('ERROR failed to start lru crawler thread');
const REASSIGN_BADCLASS = line('BADCLASS invalid src or dst class id');
const REASSIGN_NOSPARE = line('NOSPARE source class has no spare pages');
const REASSIGN_SAME = line('SAME src and dst class are identical');
const MEMLIMIT_FAILED = line('MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust');

/** memcached's MAX_NUMBER_OF_SLAB_CLASSES: class ids in a crawler's list must be below it. */
const MAX_CLASSES = 64;
/** memcached caps a cachedump reply at 2 MiB. */
const CACHEDUMP_MAX = 2 * 1024 * 1024;

/** The store's parts the admin commands read and change. */
export interface AdminParts {
  readonly table: ItemTable;
  readonly lru: Lru;
  readonly slabs: Slabs;
  readonly memory: ItemMemory;
  readonly flushes: FlushState;
  readonly header: Header;
  /** The store's limit on `maxBytes` (memcached's `cache_memlimit` takes megabytes): a shared store's is what it reserved. */
  readonly maxMaxBytes: number;
  /** Start or stop the background sweep (the LRU crawler). */
  crawler(enabled: boolean): void;
}

/** memcached's uriencode: every byte but letters, digits and `-._~` as %XX. */
const URI = (() => {
  const map: string[] = [];
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    map.push(/[A-Za-z0-9._~-]/.test(ch) ? ch : `%${c.toString(16).toUpperCase().padStart(2, '0')}`);
  }
  return map;
})();

export class AdminCommands {
  /** The settings live in the header, shared by threads sharing the store. */
  private readonly h: Int32Array;

  constructor(private readonly s: AdminParts) {
    this.h = s.header.i32;
  }

  /** The LRU crawler runs (`lru_crawler enable|disable`). */
  get crawlerEnabled(): boolean {
    return this.h[CRAWLER] !== 0;
  }
  set crawlerEnabled(on: boolean) {
    this.h[CRAWLER] = on ? 1 : 0;
  }

  /** `lru_crawler tocrawl`: items a crawl examines per class (0 = all). */
  private get tocrawl(): number {
    return this.h[TOCRAWL]!;
  }

  run(cmd: AdminCommand, now: number): Buffer | undefined {
    const a = cmd.args;
    switch (cmd.name) {
      case 'lru_crawler':
        return this.lruCrawler(a, now);
      case 'stats':
        return a[0] === 'cachedump' ? this.cachedump(Number(a[1]), Number(a[2])) : undefined;
      case 'slabs':
        return a[0] === 'reassign' ? this.reassign(Number(a[1]), Number(a[2]), now) : this.automove(a);
      case 'lru':
        // One LRU per class, no maintainer thread: memcached without one answers mode and temp_ttl ERROR.
        return a[0] === 'tune' ? OK : ERROR;
      case 'cache_memlimit':
        return this.memlimit(Number(a[0]), now);
      default:
        return undefined;
    }
  }

  private lruCrawler(a: readonly string[], now: number): Buffer {
    switch (a[0]) {
      case 'crawl':
      case 'metadump': {
        if (!this.crawlerEnabled) return CRAWLER_DISABLED;
        if (a[1] === 'hash') return a[0] === 'metadump' ? this.metadump(undefined, now) : CRAWLER_ERROR;
        const classes = this.classList(a[1]!);
        if (classes === undefined) return CRAWLER_BADCLASS;
        // strtok finds no id in "," : memcached starts no crawler.
        if (a[1]!.split(',').every((p) => p === '')) return CRAWLER_NOTSTARTED;
        if (a[0] === 'metadump') return this.metadump(classes, now);
        for (const c of classes) this.s.memory.crawl(c, this.tocrawl, now);
        return OK;
      }
      case 'tocrawl':
        this.h[TOCRAWL] = Number(a[1]);
        return OK;
      case 'sleep':
        // The crawl runs at once, without pauses between items.
        return OK;
      case 'enable':
        if (this.crawlerEnabled) return CRAWLER_NOT_STARTED;
        this.crawlerEnabled = true;
        this.s.crawler(true);
        return OK;
      default:
        this.crawlerEnabled = false;
        this.s.crawler(false);
        return OK;
    }
  }

  /**
   * The classes (store indexes) a crawler's list names: `all`, or ids
   * separated by commas (empty ones skipped, as strtok does), in class
   * order; undefined when one is not a class id memcached accepts (1 to 63).
   * Ids past the store's last class name no items.
   */
  private classList(text: string): number[] | undefined {
    const count = this.s.lru.classCount;
    if (text === 'all') return Array.from({ length: count }, (_, i) => i);
    const out: number[] = [];
    for (const part of text.split(',')) {
      if (part === '') continue;
      if (!/^[\t\n\v\f\r ]*\+?\d+(?:[\t\n\v\f\r ].*)?$/s.test(part)) return undefined;
      const id = Number.parseInt(part.trim(), 10);
      if (id < 1 || id >= MAX_CLASSES) return undefined;
      if (id <= count && !out.includes(id - 1)) out.push(id - 1);
    }
    return out.sort((x, y) => x - y);
  }

  /**
   * `key=<uriencoded> exp=<-1|abs> la=<abs> cas=<n> fetch=<yes|no> cls=<n>
   * size=<n>\n` per live item, then `END\r\n`: each class's LRU from its
   * tail (oldest first), or every item when `classes` is undefined (hash).
   */
  private metadump(classes: number[] | undefined, now: number): Buffer {
    const s = this.s;
    const t = s.table;
    const parts: string[] = [];
    const dump = (id: number) => {
      const e = t.f64[id * 8 + EXPTIME]!;
      // memcached leaves out items expired before this second and flushed ones.
      if ((e !== 0 && e < now) || (s.flushes.issued && s.flushes.itemFlushed(id, now))) return;
      const r = id * STRIDE;
      parts.push(
        `key=${this.uriKey(id)} exp=${e === 0 ? -1 : e} la=${t.u32[r + ATIME]} cas=${t.u64[id * 8 + CAS]} ` +
          `fetch=${(t.i32[r + STATE]! & FETCHED) !== 0 ? 'yes' : 'no'} cls=${t.i32[r + CLS]! + 1} ` +
          `size=${memcachedItemSize(t.i32[r + KLEN]!, t.u32[r + FLAGS]!, t.u32[r + VLEN]!)}\n`,
      );
    };
    if (classes === undefined) {
      for (let id = 1; id < t.highWater; id++) if ((t.i32[id * STRIDE + STATE]! & LINKED) !== 0) dump(id);
    } else {
      for (const c of classes) for (let id = s.lru.tails[c]!; id !== 0; id = t.i32[id * STRIDE + PREV]!) dump(id);
    }
    parts.push('END\r\n');
    return Buffer.from(parts.join(''), 'latin1');
  }

  private uriKey(id: number): string {
    const key = this.key(id);
    let out = '';
    for (let i = 0; i < key.length; i++) out += URI[key[i]!];
    return out;
  }

  /** The item's key bytes (a copy). */
  private key(id: number): Buffer {
    const s = this.s;
    const t = s.table;
    const klen = t.i32[id * STRIDE + KLEN]!;
    const large = s.memory.large.get(id);
    if (large !== undefined) return Buffer.from(large.key);
    const ref = t.u32[id * STRIDE + REF]!;
    const page = s.slabs.pages[s.slabs.pageOf(ref)]!;
    const o = s.slabs.offsetOf(ref) + CHUNK_HEADER;
    return Buffer.from(page.subarray(o, o + klen));
  }

  /**
   * `stats cachedump <class> <limit>`: `ITEM <key> [<bytes> b; <exptime> s]`
   * per item of the class from its LRU head (newest first), at most `limit`
   * (0 = all) and 2 MiB, then END. Like memcached, expired items not yet
   * reclaimed are listed, and items with a binary key are not.
   */
  private cachedump(id: number, limit: number): Buffer {
    const s = this.s;
    const t = s.table;
    if (id < 1 || id > s.lru.classCount) return END;
    const parts: Buffer[] = [];
    let bytes = 0;
    let shown = 0;
    for (let it = s.lru.heads[id - 1]!; it !== 0 && (limit === 0 || shown < limit); it = t.i32[it * STRIDE + NEXT]!) {
      if ((t.i32[it * STRIDE + STATE]! & KEY_BINARY) !== 0) continue;
      const e = t.f64[it * 8 + EXPTIME]!;
      const entry = Buffer.concat([ITEM_SP, this.key(it), line(` [${t.u32[it * STRIDE + VLEN]} b; ${e} s]`)]);
      if (bytes + entry.length + 6 > CACHEDUMP_MAX) break;
      parts.push(entry);
      bytes += entry.length;
      shown++;
    }
    parts.push(END);
    return Buffer.concat(parts);
  }

  /**
   * `slabs reassign <src> <dst>`: memcached's checks in its order (SAME
   * first, then the ids: 0 is the pool of free pages, -1 as `src` picks a
   * class with a page to spare), then one page of `src` moves to `dst`
   * (its items evicted) at once. This store keeps no pool: a page moved to
   * 0 is freed, and the pool has none to give.
   */
  private reassign(src: number, dst: number, now: number): Buffer {
    if (src === dst) return REASSIGN_SAME;
    const slabs = this.s.slabs;
    const last = slabs.classCount;
    if (src === -1) src = this.pickAny(dst);
    if (src < 0 || src > last || dst < 0 || dst > last) return REASSIGN_BADCLASS;
    if (src === 0) return REASSIGN_NOSPARE;
    return this.s.memory.movePage(src - 1, dst - 1, now) ? OK : REASSIGN_NOSPARE;
  }

  /** memcached's slabs_reassign_pick_any: the next class (round robin) other than `dst` with two pages or more; -1 if none. */
  private pickAny(dst: number): number {
    const slabs = this.s.slabs;
    const n = slabs.classCount;
    const h = this.h;
    for (let tries = n; tries > 0; tries--) {
      h[PICK_NEXT] = h[PICK_NEXT]! >= n ? 1 : h[PICK_NEXT]! + 1;
      if (h[PICK_NEXT] !== dst && slabs.pagesOf[h[PICK_NEXT]! - 1]! > 1) return h[PICK_NEXT]!;
    }
    return -1;
  }

  /** `slabs automove 0|1|2` turns moving pages for age off (0) or on; `ratio` is taken and has no use here. */
  private automove(a: readonly string[]): Buffer {
    if (a[1] !== 'ratio') this.s.memory.automove = a[1] !== '0';
    return OK;
  }

  /** `cache_memlimit <MB>`: the new limit, within what the store accepts; shrinking evicts at once. */
  private memlimit(mb: number, now: number): Buffer {
    const bytes = mb * 1024 * 1024;
    if (bytes > this.s.maxMaxBytes) return MEMLIMIT_FAILED;
    this.s.memory.setMaxBytes(bytes, now);
    return OK;
  }
}
