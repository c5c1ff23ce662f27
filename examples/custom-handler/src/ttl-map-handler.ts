/**
 * TtlMapHandler: a storage handler written against cleave's `Handler`
 * contract, the way you would write your own. Items live in a `Map`, each
 * with its own exptime; the Map's insertion order doubles as the eviction
 * order.
 *
 * It answers every method synchronously: the server encodes the reply in the
 * same tick, without a Promise. A handler backed by a network service would
 * return Promises from the same methods instead.
 *
 * Meta-protocol extras the contract offers (`vivify`, `recache`, `invalidate`)
 * are not implemented: a handler may ignore them, and clients then see plain
 * gets, plain cas failures and plain deletes (see docs/guides/writing-a-handler.md).
 */
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { REALTIME_MAXDELTA, absoluteExptime } from '@cleave/protocol';

export interface TtlMapHandlerOptions {
  /** Most items kept; storing one more evicts the least recently used. Default 100,000. */
  maxItems?: number;
  /** Largest value in bytes (memcached `-I`). Default 1 MiB. */
  maxItemSize?: number;
  /** The current Unix time in whole seconds. Tests pass a clock they control. */
  clock?: () => number;
}

/** memcached reads an exptime up to 30 days as relative seconds, and a larger one as a Unix time. */
export const MAX_RELATIVE_EXPTIME = REALTIME_MAXDELTA;

/** Counters are unsigned 64-bit: incr wraps around at 2^64. */
const U64_MASK = (1n << 64n) - 1n;

/**
 * `absoluteExptime(exptime, now)` (from the protocol package) turns an exptime
 * as the client sent it into an absolute Unix time, 0 meaning "never
 * expires"; a negative one stores an item that is already expired: the client
 * is told STORED, and nobody can read it.
 */
export { absoluteExptime };

/**
 * Reads a counter the way memcached does (C's strtoull): leading blanks and
 * a '+' are allowed, digits follow, and anything after a blank is ignored.
 * Values that are not a number below 2^64 are not counters.
 */
function parseCounter(value: Buffer): bigint | undefined {
  const m = /^[ \t\n\v\f\r]*\+?(\d+)(?:[ \t\n\v\f\r]|$)/.exec(value.toString('latin1'));
  if (m === null) return undefined;
  const n = BigInt(m[1]!);
  return n <= U64_MASK ? n : undefined;
}

/**
 * Keys are bytes, not text: latin1 maps each byte to one character, so every
 * key (binary protocol keys included) has exactly one Map key.
 */
function mapKey(key: Buffer): string {
  return key.toString('latin1');
}

export class TtlMapHandler implements Handler {
  /** Stores take `newCas` as the item's CAS unique, so as an L1 under `l1l2` it answers gets with L2's CAS itself. */
  readonly keepsNewCas = true;
  /** Oldest access first: every write or fetch re-inserts its item at the end. */
  private readonly items = new Map<string, ItemView>();
  private readonly maxItems: number;
  private readonly maxItemSize: number;
  private readonly clock: () => number;
  /** The last CAS unique handed out; every new item version gets the next one. */
  private lastCas = 0n;
  /** When a delayed `flush_all` takes effect (Unix time), 0 when none is pending. */
  private flushAt = 0;
  /** Items dropped to make room (the server counts the commands themselves). */
  private evictions = 0;

  constructor(options: TtlMapHandlerOptions = {}) {
    this.maxItems = options.maxItems ?? 100_000;
    this.maxItemSize = options.maxItemSize ?? 1024 * 1024;
    this.clock = options.clock ?? (() => Math.floor(Date.now() / 1000));
    if (!(this.maxItems >= 1)) throw new RangeError('maxItems must be at least 1');
  }

  get(cmd: GetCommand): ItemView | undefined {
    const now = this.tick();
    const k = mapKey(cmd.key);
    const item = this.live(k, now);
    if (item === undefined) return undefined;
    // gat/gats (and meta `T`) set a new exptime and return the item with it;
    // previousExptime lets a meta `t` flag sent before `T` report the old one.
    const exptime = cmd.touch === undefined ? item.exptime : absoluteExptime(cmd.touch, now);
    const answer = exptime === item.exptime ? item : { ...item, exptime, previousExptime: item.exptime };
    if (cmd.noBump) {
      // Meta `u` / `me`: the item stays where it is and is not marked fetched.
      if (exptime !== item.exptime) this.items.set(k, { ...item, exptime });
    } else {
      // The answer tells how the item stood before this fetch (meta `h`, `l`);
      // the stored version remembers this one.
      this.put(k, { ...item, exptime, fetched: true, lastAccess: now });
    }
    return answer;
  }

  store(cmd: StoreCommand): StoreOutcome {
    const now = this.tick();
    if (cmd.value.length > this.maxItemSize) return 'TOO_LARGE';
    const k = mapKey(cmd.key);
    const old = this.live(k, now);

    if (cmd.compareCas !== undefined) {
      // cas: store only over an item nobody has changed since the client read it.
      if (old === undefined) return cmd.mode === 'append' || cmd.mode === 'prepend' ? 'NOT_STORED' : 'NOT_FOUND';
      if (old.cas !== cmd.compareCas) return 'EXISTS';
    }

    switch (cmd.mode) {
      case 'set':
        break;
      case 'add':
        // add stores only a missing key (with a CAS to compare, it acts as cas).
        if (old !== undefined && cmd.compareCas === undefined) return 'NOT_STORED';
        break;
      case 'replace':
        if (old === undefined) return 'NOT_STORED';
        break;
      case 'append':
      case 'prepend': {
        if (old === undefined) return 'NOT_STORED';
        const value = cmd.mode === 'append' ? Buffer.concat([old.value, cmd.value]) : Buffer.concat([cmd.value, old.value]);
        // memcached cannot allocate the grown item and does not store it.
        if (value.length > this.maxItemSize) return 'NOT_STORED';
        // The item keeps its flags and exptime; those sent with append/prepend are ignored.
        return this.put(k, { ...old, value, cas: cmd.newCas ?? this.nextCas(), lastAccess: now, fetched: false });
      }
    }

    return this.put(k, {
      // The command's Buffers are views into the connection's read buffer: copy them.
      key: Buffer.from(cmd.key),
      value: Buffer.from(cmd.value),
      flags: cmd.flags,
      cas: cmd.newCas ?? this.nextCas(),
      exptime: absoluteExptime(cmd.exptime, now),
      lastAccess: now,
      fetched: false,
    });
  }

  delete(cmd: DeleteCommand): DeleteOutcome {
    const now = this.tick();
    const k = mapKey(cmd.key);
    const item = this.live(k, now);
    if (item === undefined) return 'NOT_FOUND';
    if (cmd.compareCas !== undefined && item.cas !== cmd.compareCas) return 'EXISTS';
    this.items.delete(k);
    return 'DELETED';
  }

  arithmetic(cmd: ArithmeticCommand): ArithmeticOutcome {
    const now = this.tick();
    const k = mapKey(cmd.key);
    const item = this.live(k, now);
    if (item === undefined) {
      if (cmd.initial === undefined) return 'NOT_FOUND';
      // Binary incr/decr (and meta `N`) create a missing counter with the
      // initial value; the delta is not applied to it.
      const counter = this.put(k, {
        key: Buffer.from(cmd.key),
        value: Buffer.from(cmd.initial.toString()),
        flags: 0,
        cas: cmd.newCas ?? this.nextCas(),
        exptime: absoluteExptime(cmd.exptime ?? 0, now),
        lastAccess: now,
        fetched: false,
      });
      // Only the answer says so: memcached answers `ma … q` that created its counter.
      return { ...counter, created: true, previousExptime: 0 };
    }
    if (cmd.compareCas !== undefined && item.cas !== cmd.compareCas) return 'EXISTS';
    const current = parseCounter(item.value);
    if (current === undefined) return 'NON_NUMERIC';
    // incr wraps around at 2^64; decr stops at 0 instead of going negative.
    const next = cmd.incr ? (current + cmd.delta) & U64_MASK : current > cmd.delta ? current - cmd.delta : 0n;
    // Meta `T` on ma sets a new exptime along with the update.
    const exptime = cmd.touch === undefined ? item.exptime : absoluteExptime(cmd.touch, now);
    // memcached rewrites a shorter result in place, padded with spaces
    // ("100" decr 95 reads back as "5  "); this handler stores just the digits.
    const value = Buffer.from(next.toString());
    const updated = this.put(k, { ...item, value, exptime, cas: cmd.newCas ?? this.nextCas() });
    return exptime === item.exptime ? updated : { ...updated, previousExptime: item.exptime };
  }

  touch(cmd: TouchCommand): TouchOutcome {
    const now = this.tick();
    const k = mapKey(cmd.key);
    const item = this.live(k, now);
    if (item === undefined) return 'NOT_FOUND';
    // Only the exptime changes: a touch does not give the item a new CAS unique.
    this.put(k, { ...item, exptime: absoluteExptime(cmd.exptime, now) });
    return 'TOUCHED';
  }

  flush(delay: number): void {
    const now = this.clock();
    // The delay is read like an exptime: relative seconds, or a Unix time past 30 days.
    const at = delay <= 0 ? now : absoluteExptime(delay, now);
    // A new flush_all replaces one still pending.
    this.flushAt = at;
    this.tick();
  }

  stats(group: string): StatsGroup | undefined {
    if (group === 'reset') {
      // `stats reset` zeroes the counters (not curr_items); the client sees RESET.
      this.evictions = 0;
      return {};
    }
    if (group !== '') return undefined; // no `stats items`, `stats slabs`, ...: the client sees ERROR
    this.tick();
    // The server adds its command counters (cmd_get, get_hits, ...) to these.
    return {
      // Like memcached, expired items count until an access drops them.
      curr_items: this.items.size,
      evictions: this.evictions,
    };
  }

  close(): void {
    this.items.clear();
  }

  /**
   * The current time, after carrying out a delayed flush_all whose time has
   * come. Every method calls this first, so when a flush takes effect nothing
   * stored after its deadline is in the Map yet: clearing it all is exact.
   */
  private tick(): number {
    const now = this.clock();
    if (this.flushAt !== 0 && this.flushAt <= now) {
      this.items.clear();
      this.flushAt = 0;
    }
    return now;
  }

  /** The item under `k` unless it has expired; an expired one is dropped now (lazily, on access). */
  private live(k: string, now: number): ItemView | undefined {
    const item = this.items.get(k);
    if (item === undefined) return undefined;
    if (item.exptime !== 0 && item.exptime <= now) {
      this.items.delete(k);
      return undefined;
    }
    return item;
  }

  /**
   * Stores a new version of an item. ItemViews are never changed in place:
   * an earlier answer may not have been encoded yet and must keep its values.
   */
  private put(k: string, item: ItemView): ItemView {
    // Re-insert so the Map's first entry is always the least recently used.
    this.items.delete(k);
    this.items.set(k, item);
    if (this.items.size > this.maxItems) this.evictOldest();
    return item;
  }

  private evictOldest(): void {
    const first = this.items.entries().next();
    if (first.done) return;
    const [k, item] = first.value;
    this.items.delete(k);
    // Dropping an item that had expired anyway is not an eviction.
    if (item.exptime === 0 || item.exptime > this.clock()) this.evictions++;
  }

  private nextCas(): bigint {
    this.lastCas += 1n;
    return this.lastCas;
  }
}
