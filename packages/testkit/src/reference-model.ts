/**
 * A reference model of memcached 1.6's item semantics, for model-based tests:
 * a Map of items and the rules written out plainly (no LRU, no memory limit,
 * no slabs), plus random command sequences and a runner that applies one
 * command to a Handler under test and to the model and compares the replies.
 *
 * Rules the model states (each from memcached 1.6, checked against the real
 * binary where the source leaves room for doubt):
 * - exptime: 0 never; 1..2592000 (30 days) seconds from now; above that an
 *   absolute Unix time; negative = already expired. An item is dead once
 *   `exptime <= now` (whole seconds of the clock).
 * - set/add/replace/append/prepend; `cas` (set/replace with compareCas):
 *   NOT_FOUND on a missing item, EXISTS on a different (or 0) CAS; append and
 *   prepend with a CAS compare it unless it is 0; they keep the old item's
 *   flags and exptime. add on an existing item refreshes it (LRU bump).
 * - meta `I` with a CAS older than the item's stores the value as stale,
 *   keeping the item's exptime and its recache token.
 * - an item over item_size_max (59-byte header + key + value, +4 with flags)
 *   is TOO_LARGE; a failed `set` (not text `cas`, which keeps it) also unlinks
 *   the old item; an append/prepend whose result would be too large is
 *   NOT_STORED.
 * - incr/decr: the value is read like strtoull (leading spaces, one sign,
 *   digits, then the end, a space or a NUL; at most 2^64-1), incr wraps at
 *   2^64, decr stops at 0; digits that fit the old length are written in
 *   place, space-padded (the item keeps its state, gets a new CAS); longer
 *   digits make a new item. The reply carries the bare digits.
 * - touch/gat set a new exptime; fetches (not `noBump`) and touches mark the
 *   item fetched and refresh its access time at most once per 60 s.
 * - meta: `N` (vivify) creates an empty item on a miss and wins the recache
 *   token (a `T` applies to it after N, as memcached does when T follows N);
 *   a stale item, or one whose remaining TTL is below `R`, hands the token
 *   (win) to the first meta fetcher and `tokenSent` to the later ones (text
 *   and binary gets read a stale item without taking the token); `ma` with
 *   N creates a missing counter with its initial value (T after N again
 *   sets the exptime); `md I`
 *   marks the item stale with a new CAS (and optionally a new exptime) and
 *   clears the token.
 * - flush_all [delay]: items last updated at or before `abs(delay) - 1`
 *   are invalid once that time has come (so `flush_all 1` acts at once, and
 *   items stored before a delayed flush fires are flushed too); a new
 *   flush_all replaces a pending one; an immediate one consumes a CAS unique.
 *   A flushed item stays flushed (an item stored after a newer flush_all is
 *   judged by that one alone): memcached can bring one back when a later
 *   delayed flush_all replaces the threshold before its crawler reclaimed it
 *   (`set q; flush_all; flush_all 100; get q` answers q on 1.6.18), a
 *   timing-dependent quirk that cleave does not copy.
 *
 * One file (over 600 lines) because the model, its random command sequences and
 * the runner that compares a Handler with it share the ModelCommand type and
 * change together whenever a rule does.
 */
import fc from 'fast-check';
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StoreCommand,
  StoreMode,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { REALTIME_MAXDELTA, absoluteExptime, isExpired } from '@cleave/protocol';

const U64_MAX = (1n << 64n) - 1n;
/** memcached's ITEM_UPDATE_INTERVAL: an access refreshes an item's time at most once per 60 s. */
const UPDATE_INTERVAL = 60;
/** memcached's item header as item_size_ok() counts it: 48-byte struct + key NUL + value CRLF + 8-byte CAS. */
const ITEM_HEADER = 59;

/** A clock tests move by hand (milliseconds). Starts on a whole second, long after 30 days past the epoch. */
export class FakeClock {
  ms = 1_700_000_000_000;
  readonly now = (): number => this.ms;
  /** Current Unix time in seconds. */
  get sec(): number {
    return Math.floor(this.ms / 1000);
  }
  /** Move forward by `seconds` (fractions allowed). */
  advance(seconds: number): void {
    this.ms += Math.round(seconds * 1000);
  }
}

export interface ReferenceModelOptions {
  /** Current time in milliseconds (the same clock the handler under test reads). */
  clock: () => number;
  /** memcached's item_size_max (default 1 MiB). */
  maxItemSize?: number;
  /** First CAS unique (default 1), to match the handler's. */
  casStart?: bigint;
}

interface ModelItem {
  key: string;
  value: Buffer;
  flags: number;
  cas: bigint;
  /** Absolute expiry in Unix seconds, 0 = never. */
  exptime: number;
  /** memcached's it->time: when stored, refreshed by an access at most once per 60 s. */
  time: number;
  fetched: boolean;
  stale: boolean;
  tokenSent: boolean;
}

/** The fields of an ItemView a reply carries, as plain values (booleans never undefined). */
export interface ItemSummary {
  value: string;
  flags: number;
  cas: bigint;
  exptime: number;
  stale: boolean;
  win: boolean;
  tokenSent: boolean;
  previousExptime: number | undefined;
  created: boolean;
  fetched?: boolean;
  lastAccess?: number;
}

/** An ItemView as a comparable summary; `access` adds `fetched` and `lastAccess`. */
export function summarize(it: ItemView, access: boolean): ItemSummary {
  const s: ItemSummary = {
    value: it.value.toString('latin1'),
    flags: it.flags,
    cas: it.cas,
    exptime: it.exptime,
    stale: it.stale === true,
    win: it.win === true,
    tokenSent: it.tokenSent === true,
    previousExptime: it.previousExptime,
    created: it.created === true,
  };
  if (access) {
    s.fetched = it.fetched;
    s.lastAccess = it.lastAccess;
  }
  return s;
}

function view(it: ModelItem, win: boolean, previousExptime: number | undefined, created: boolean, value: Buffer = it.value): ItemView {
  return {
    key: Buffer.from(it.key, 'latin1'),
    value: Buffer.from(value),
    flags: it.flags,
    cas: it.cas,
    exptime: it.exptime,
    lastAccess: it.time,
    fetched: it.fetched,
    stale: it.stale,
    win,
    tokenSent: it.tokenSent,
    previousExptime,
    created,
  };
}

/**
 * The counter in `value` as memcached's safe_strtoull reads it, or undefined
 * when memcached answers non-numeric: strtoull negates a `-` modulo 2^64, and
 * memcached then refuses a result >= 2^63 when a `-` occurs before any NUL.
 */
export function modelCounter(value: Buffer): bigint | undefined {
  const s = value.toString('latin1');
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-9]+)(?:[ \t\n\v\f\r\0]|$)/.exec(s);
  if (!m) return undefined;
  const mag = BigInt(m[2]!);
  if (mag > U64_MAX) return undefined;
  const result = m[1] === '-' && mag !== 0n ? (1n << 64n) - mag : mag;
  if (result >= 1n << 63n && s.split('\0')[0]!.includes('-')) return undefined;
  return result;
}

/**
 * memcached as a plain Map. It is a synchronous Handler, so a runner calls it
 * exactly as it calls the handler under test.
 */
export class ReferenceModel implements Handler {
  private readonly items = new Map<string, ModelItem>();
  private readonly clock: () => number;
  private readonly maxItemSize: number;
  private casNext: bigint;
  /** The threshold of the latest flush_all: items with time <= it are invalid once it is <= now (0 = none). */
  private oldestLive = 0;

  constructor(options: ReferenceModelOptions) {
    this.clock = options.clock;
    this.maxItemSize = options.maxItemSize ?? 1024 * 1024;
    this.casNext = options.casStart ?? 1n;
  }

  now(): number {
    return Math.floor(this.clock() / 1000);
  }

  private abs(exptime: number): number {
    return absoluteExptime(exptime, this.now());
  }

  private nextCas(): bigint {
    const c = this.casNext;
    this.casNext = c === U64_MAX ? 1n : c + 1n;
    return c;
  }

  private tooLarge(keyLength: number, flags: number, valueLength: number): boolean {
    return ITEM_HEADER + keyLength + (flags !== 0 ? 4 : 0) + valueLength > this.maxItemSize;
  }

  private dead(it: ModelItem, now: number): boolean {
    if (isExpired(it.exptime, now)) return true;
    return this.oldestLive !== 0 && this.oldestLive <= now && it.time <= this.oldestLive;
  }

  /** The live item for `key`; a dead one is dropped. */
  private live(key: string): ModelItem | undefined {
    const it = this.items.get(key);
    if (it === undefined) return undefined;
    if (this.dead(it, this.now())) {
      this.items.delete(key);
      return undefined;
    }
    return it;
  }

  private bump(it: ModelItem): void {
    const now = this.now();
    if (it.time < now - UPDATE_INTERVAL) it.time = now;
  }

  /** Store a new item (replacing any old one); one already expired is never linked. */
  private put(
    key: string,
    value: Buffer,
    flags: number,
    exptime: number,
    state: { stale?: boolean; tokenSent?: boolean; fetched?: boolean },
    newCas: bigint | undefined,
  ): ModelItem {
    const now = this.now();
    const it: ModelItem = {
      key,
      value: Buffer.from(value),
      flags,
      cas: newCas ?? this.nextCas(),
      exptime,
      time: now,
      fetched: false,
      stale: state.stale === true,
      tokenSent: state.tokenSent === true,
    };
    if (isExpired(exptime, now)) this.items.delete(key);
    else this.items.set(key, { ...it, fetched: state.fetched === true });
    return it;
  }

  // -- Handler ---------------------------------------------------------------

  get(cmd: GetCommand): ItemView | undefined {
    const key = cmd.key.toString('latin1');
    const noBump = cmd.noBump === true;
    const it = this.live(key);
    if (it === undefined) {
      if (cmd.vivify === undefined || this.tooLarge(cmd.key.length, 0, 0)) return undefined;
      // N creates an empty item and wins the token; vivify is the exptime it ends with.
      const exptime = this.abs(cmd.vivify);
      const created = this.put(key, Buffer.alloc(0), 0, exptime, { tokenSent: true, fetched: !noBump }, undefined);
      return view({ ...created, tokenSent: false }, true, undefined, true);
    }
    let previousExptime: number | undefined;
    if (cmd.touch !== undefined) {
      previousExptime = it.exptime;
      it.exptime = this.abs(cmd.touch);
    }
    // Meta gets (tokens) take part in the recache token; text and binary gets read a stale item without it.
    let win = false;
    if (!it.tokenSent && cmd.tokens === true) {
      if (it.stale) win = true;
      else if (cmd.recache !== undefined) {
        const threshold = this.abs(cmd.recache);
        win = it.exptime !== 0 && threshold !== 0 && it.exptime < threshold;
      }
    }
    // The reply shows the fetched mark and access time from before this fetch.
    const out = view(it, win, previousExptime, false);
    if (win) it.tokenSent = true;
    if (!noBump) {
      it.fetched = true;
      this.bump(it);
    }
    return out;
  }

  getMany(cmds: readonly GetCommand[]): (ItemView | undefined)[] {
    return cmds.map((c) => this.get(c));
  }

  store(cmd: StoreCommand): StoreOutcome {
    const key = cmd.key.toString('latin1');
    const { mode, compareCas } = cmd;
    if (this.tooLarge(cmd.key.length, cmd.flags, cmd.value.length)) {
      // A refused set (unlinkOnFailure) unlinks the old item so it cannot outlive the update; text `cas` keeps it.
      if (cmd.unlinkOnFailure === true && this.live(key) !== undefined) this.items.delete(key);
      return 'TOO_LARGE';
    }
    const old = this.live(key);
    if (old === undefined) {
      if (compareCas !== undefined && (mode === 'set' || mode === 'replace')) return 'NOT_FOUND';
      if (mode !== 'set' && mode !== 'add') return 'NOT_STORED';
      return view(this.put(key, cmd.value, cmd.flags, this.abs(cmd.exptime), {}, cmd.newCas), false, undefined, false);
    }
    switch (mode) {
      case 'add':
        this.bump(old);
        return 'NOT_STORED';
      case 'append':
      case 'prepend': {
        if (compareCas !== undefined && compareCas !== 0n && compareCas !== old.cas) return 'EXISTS';
        if (this.tooLarge(cmd.key.length, old.flags, old.value.length + cmd.value.length)) return 'NOT_STORED';
        const value = mode === 'append' ? Buffer.concat([old.value, cmd.value]) : Buffer.concat([cmd.value, old.value]);
        return view(this.put(key, value, old.flags, old.exptime, {}, cmd.newCas), false, undefined, false);
      }
      default: {
        if (compareCas !== undefined && !(compareCas !== 0n && compareCas === old.cas)) {
          if (cmd.invalidate === true && compareCas !== 0n && compareCas < old.cas) {
            const state = { stale: true, tokenSent: old.tokenSent };
            return view(this.put(key, cmd.value, cmd.flags, old.exptime, state, cmd.newCas), false, undefined, false);
          }
          return 'EXISTS';
        }
        return view(this.put(key, cmd.value, cmd.flags, this.abs(cmd.exptime), {}, cmd.newCas), false, undefined, false);
      }
    }
  }

  delete(cmd: DeleteCommand): DeleteOutcome {
    const key = cmd.key.toString('latin1');
    const it = this.live(key);
    if (it === undefined) return 'NOT_FOUND';
    if (cmd.compareCas !== undefined && cmd.compareCas !== it.cas) return 'EXISTS';
    if (cmd.invalidate === true) {
      if (cmd.exptime !== undefined) it.exptime = this.abs(cmd.exptime);
      it.stale = true;
      it.tokenSent = false;
      it.cas = this.nextCas();
      return 'DELETED';
    }
    this.items.delete(key);
    return 'DELETED';
  }

  arithmetic(cmd: ArithmeticCommand): ArithmeticOutcome {
    const key = cmd.key.toString('latin1');
    const it = this.live(key);
    if (it === undefined) {
      if (cmd.initial === undefined) return 'NOT_FOUND';
      // N creates the counter with `initial` (no delta); `exptime` is the one it ends with (the parser applied T and N in request order).
      const digits = Buffer.from(BigInt.asUintN(64, cmd.initial).toString(), 'latin1');
      return view(this.put(key, digits, 0, this.abs(cmd.exptime ?? 0), {}, cmd.newCas), false, undefined, true);
    }
    // memcached checks an empty value, then the CAS, then the digits.
    if (it.value.length === 0) return 'NON_NUMERIC';
    if (cmd.compareCas !== undefined && cmd.compareCas !== 0n && cmd.compareCas !== it.cas) return 'EXISTS';
    const current = modelCounter(it.value);
    if (current === undefined) return 'NON_NUMERIC';
    const result = cmd.incr ? (current + cmd.delta) & U64_MAX : cmd.delta > current ? 0n : current - cmd.delta;
    const digits = Buffer.from(result.toString(), 'latin1');
    const previousExptime = cmd.touch !== undefined ? it.exptime : undefined;
    const exptime = cmd.touch !== undefined ? this.abs(cmd.touch) : it.exptime;
    const width = it.value.length;
    if (digits.length <= width) {
      // In place, space-padded to the old length; the reply carries the bare digits.
      it.value = Buffer.concat([digits, Buffer.alloc(width - digits.length, 0x20)]);
      it.cas = cmd.newCas ?? this.nextCas();
      it.exptime = exptime;
      this.bump(it);
      return view(it, false, previousExptime, false, digits);
    }
    return view(this.put(key, digits, it.flags, exptime, {}, cmd.newCas), false, previousExptime, false);
  }

  touch(cmd: TouchCommand): TouchOutcome {
    const it = this.live(cmd.key.toString('latin1'));
    if (it === undefined) return 'NOT_FOUND';
    it.exptime = this.abs(cmd.exptime);
    it.fetched = true;
    this.bump(it);
    return 'TOUCHED';
  }

  /**
   * flush_all. An absolute time in the past flushes at once (memcached 1.6.18
   * takes one from before its own start as "no flush at all", and so cancels a
   * pending one: a quirk cleave does not copy).
   */
  flush(delay: number): void {
    const now = this.now();
    // A threshold that has come keeps what it flushed flushed when the next flush_all replaces it.
    if (this.oldestLive !== 0 && this.oldestLive <= now) this.keys();
    this.oldestLive = (delay > 0 ? this.abs(delay) : now) - 1;
    if (this.oldestLive <= now) {
      this.items.clear();
      this.nextCas();
    }
  }

  close(): void {}

  // -- inspection --------------------------------------------------------------

  /** The live item for `key` without any side effect (no fetched mark, no bump, no token). */
  peek(key: string): ItemView | undefined {
    const it = this.items.get(key);
    return it === undefined || this.dead(it, this.now()) ? undefined : view(it, false, undefined, false);
  }

  /** Keys of the live items (dead ones are dropped). */
  keys(): string[] {
    for (const k of [...this.items.keys()]) this.live(k);
    return [...this.items.keys()];
  }
}

// ---------------------------------------------------------------------------
// Random command sequences
// ---------------------------------------------------------------------------

/**
 * How a command picks its CAS: the current item's (`match`), one above every
 * CAS ever issued (`wrong`), one below every CAS issued (`older`, for meta
 * `I`), or 0 (which text `cas` sends and memcached never matches).
 */
export type CasChoice = 'match' | 'wrong' | 'older' | 'zero';

export type ModelCommand =
  | { t: 'get'; key: string; touch?: number; vivify?: number; recache?: number; noBump?: boolean; protocol?: 'text' | 'binary' }
  | { t: 'getMany'; keys: string[]; touch?: number; protocol?: 'text' }
  | {
      t: 'store';
      mode: StoreMode;
      key: string;
      value: string;
      flags: number;
      exptime: number;
      cas?: CasChoice;
      invalidate?: boolean;
      newCas?: bigint;
      /** A refused store unlinks the old item (set, binary Set, meta ms; not text `cas`). */
      unlinkOnFailure?: boolean;
    }
  | { t: 'delete'; key: string; cas?: CasChoice; invalidate?: boolean; exptime?: number }
  | { t: 'arithmetic'; key: string; incr: boolean; delta: bigint; initial?: bigint; exptime?: number; touch?: number; cas?: CasChoice }
  | { t: 'touch'; key: string; exptime: number }
  | { t: 'flush'; delay: number }
  | { t: 'advance'; ms: number };

/** First CAS unique to give the model and the handler under test, so `older` (1) is below every CAS issued. */
export const MODEL_CAS_START = 1000n;
/** A CAS above every one a test issues (counters stay far below it, meta E values too). */
export const WRONG_CAS = (1n << 62n) + 7n;
const OLDER_CAS = 1n;
/** meta `E` values: far above the counters, so they never collide with a generated CAS. */
const NEW_CAS_BASE = 1n << 40n;

export interface ModelCommandOptions {
  /** Keys to draw from (latin1); a few, so commands meet the same items. */
  keys?: readonly string[];
  /** When set, some values are sized around this item_size_max to hit TOO_LARGE and refused appends. */
  maxItemSize?: number;
  /** Include the meta-only options: N, R, I, E, ma with N/T/C, md with C/I/T (default true). */
  meta?: boolean;
  /** Weight of clock moves (default 2). */
  advanceWeight?: number;
  /** Include flush_all (default true). */
  flush?: boolean;
  /** Include meta `E` (a CAS the client picks; memcached 1.6.18 lacks it) (default true). */
  newCas?: boolean;
  /**
   * For a server on the real clock (memcached itself): no clock moves, and
   * only TTLs, recache thresholds and flush delays far enough from each
   * other and from now that a second ticking during a sequence cannot
   * change an answer.
   */
  realClock?: boolean;
}

export const MODEL_KEYS: readonly string[] = ['a', 'b', 'c', 'dd', 'k\u00ff'];
/** The fake clock's start, in Unix seconds (absolute exptimes are drawn around it). */
const CLOCK_START = 1_700_000_000;

/** Wire exptimes: never, relative, negative, the 30-day boundary, absolute around the clock's start. */
export const anyExptimeArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 120 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: -1 }) },
  { weight: 1, arbitrary: fc.constantFrom(REALTIME_MAXDELTA, REALTIME_MAXDELTA + 1) },
  { weight: 1, arbitrary: fc.integer({ min: CLOCK_START - 10, max: CLOCK_START + 600 }) },
);

/** Wire exptimes that a second ticking cannot reach: never, expired, long TTLs, 30 days, absolute past. */
const realClockExptimeArb: fc.Arbitrary<number> = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1000, max: 5000 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: -1 }) },
  { weight: 1, arbitrary: fc.constantFrom(REALTIME_MAXDELTA, REALTIME_MAXDELTA + 1, CLOCK_START - 10) },
);

/** A random command sequence's steps. */
export function modelCommandArb(options: ModelCommandOptions = {}): fc.Arbitrary<ModelCommand> {
  const meta = options.meta ?? true;
  const real = options.realClock === true;
  const exptimeArb = real ? realClockExptimeArb : anyExptimeArb;
  const key = fc.constantFrom(...(options.keys ?? MODEL_KEYS));
  const numeric = fc.constantFrom(
    '0',
    '9',
    '10',
    '99',
    ' 5',
    '+7',
    '-0',
    '007',
    '18446744073709551615',
    '18446744073709551616',
    '1\u00002',
    '12 x',
    '-1',
  );
  // No value of whitespace alone: memcached's incr/decr parses it with strtoull, which skips the whitespace and the
  // item's \r\n and reads on into whatever memory follows the item, so memcached's answer is undefined (seen: 335).
  const text = fc.string({ maxLength: 12, unit: 'binary-ascii' }).filter((s) => !/^[ \t\n\v\f\r]+$/.test(s));
  const small = fc.oneof(
    { weight: 2, arbitrary: numeric },
    { weight: 1, arbitrary: fc.constantFrom('', 'abc') },
    { weight: 2, arbitrary: text },
  );
  const max = options.maxItemSize;
  const value =
    max === undefined
      ? small
      : fc.oneof(
          { weight: 8, arbitrary: small },
          // Around the limit: 59-byte header + key (1-3 bytes) + 4 with flags.
          { weight: 1, arbitrary: fc.integer({ min: Math.max(0, max - 80), max: max - 50 }).map((n) => 'x'.repeat(n)) },
        );
  const cas = fc.constantFrom<CasChoice>('match', 'match', 'wrong', 'older', 'zero');
  const flags = fc.constantFrom(0, 0, 1, 0xffffffff);
  const store = fc
    .record(
      {
        mode: fc.constantFrom<StoreMode>('set', 'set', 'add', 'replace', 'append', 'prepend'),
        key,
        value,
        flags,
        exptime: exptimeArb,
        cas,
        textCas: fc.boolean(),
        invalidate: fc.boolean(),
        newCas: fc.bigInt({ min: 0n, max: 3n }).map((n) => NEW_CAS_BASE + n),
      },
      { requiredKeys: ['mode', 'key', 'value', 'flags', 'exptime'] },
    )
    .map((r): ModelCommand => {
      const c: ModelCommand = { t: 'store', mode: r.mode, key: r.key, value: r.value, flags: r.flags, exptime: r.exptime };
      if (r.cas !== undefined) c.cas = r.cas;
      if (meta && r.invalidate === true) c.invalidate = true;
      if (meta && (options.newCas ?? true) && r.newCas !== undefined) c.newCas = r.newCas;
      // What memcached does to the old item when the store is refused for size depends on the command
      // that carries it: meta ms always unlinks, text set unlinks, the text cas command does not.
      const viaMs = c.invalidate === true || (r.cas !== undefined && (r.mode === 'append' || r.mode === 'prepend'));
      const textCas = r.cas !== undefined && r.textCas === true && (r.mode === 'set' || r.mode === 'replace');
      if (viaMs || (r.mode === 'set' && !textCas)) c.unlinkOnFailure = true;
      return c;
    });
  const get = fc
    .record(
      {
        key,
        touch: exptimeArb,
        vivify: real ? fc.constantFrom(-1, 0, 3000) : fc.integer({ min: -1, max: 60 }),
        // Real clock: thresholds far below or far above the TTLs (1000-5000 s).
        recache: real ? fc.constantFrom(-1, 0, 100, 500, 10_000, 50_000) : fc.integer({ min: -1, max: 90 }),
        noBump: fc.boolean(),
        protocol: fc.constantFrom('text' as const, 'binary' as const),
      },
      { requiredKeys: ['key'] },
    )
    .map((r): ModelCommand => {
      const c: ModelCommand = { t: 'get', key: r.key };
      // Meta options come with meta requests only (no protocol here: the default).
      if (r.protocol !== undefined && r.vivify === undefined && r.recache === undefined && r.noBump === undefined) c.protocol = r.protocol;
      if (r.touch !== undefined) c.touch = r.touch;
      if (meta && r.vivify !== undefined) c.vivify = r.vivify;
      if (meta && r.recache !== undefined) c.recache = r.recache;
      if (r.noBump !== undefined) c.noBump = r.noBump;
      return c;
    });
  const getMany = fc
    .record(
      { keys: fc.array(key, { minLength: 1, maxLength: 4 }), touch: exptimeArb, text: fc.boolean() },
      { requiredKeys: ['keys', 'text'] },
    )
    .map((r): ModelCommand => {
      const c: ModelCommand = { t: 'getMany', keys: r.keys };
      if (r.touch !== undefined) c.touch = r.touch;
      if (r.text) c.protocol = 'text';
      return c;
    });
  const del = fc.record({ key, cas, invalidate: fc.boolean(), exptime: exptimeArb }, { requiredKeys: ['key'] }).map((r): ModelCommand => {
    const c: ModelCommand = { t: 'delete', key: r.key };
    if (meta && r.cas !== undefined) c.cas = r.cas;
    if (meta && r.invalidate === true) {
      c.invalidate = true;
      if (r.exptime !== undefined) c.exptime = r.exptime;
    }
    return c;
  });
  const delta = fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: U64_MAX }), fc.constant(U64_MAX));
  const arith = fc
    .record(
      { key, incr: fc.boolean(), delta, initial: fc.bigInt({ min: 0n, max: 1000n }), exptime: exptimeArb, touch: exptimeArb, cas },
      { requiredKeys: ['key', 'incr', 'delta'] },
    )
    .map((r): ModelCommand => {
      const c: ModelCommand = { t: 'arithmetic', key: r.key, incr: r.incr, delta: r.delta };
      if (meta && r.initial !== undefined) {
        c.initial = r.initial;
        if (r.exptime !== undefined) c.exptime = r.exptime;
      }
      if (meta && r.touch !== undefined) c.touch = r.touch;
      if (meta && r.cas !== undefined) c.cas = r.cas;
      return c;
    });
  const touch = fc.record({ key, exptime: exptimeArb }).map((r): ModelCommand => ({ t: 'touch', ...r }));
  const flush = (
    real
      ? // No delay: memcached brings back what a flush_all flushed when a delayed one replaces it
        // (see the header), and takes an absolute time before its start as "no flush" (see flush()).
        fc.constantFrom(0, -1)
      : fc.oneof(
          { weight: 3, arbitrary: fc.constant(0) },
          { weight: 3, arbitrary: fc.integer({ min: 1, max: 120 }) },
          { weight: 1, arbitrary: fc.constantFrom(-1, REALTIME_MAXDELTA + 1) },
          { weight: 1, arbitrary: fc.integer({ min: CLOCK_START - 5, max: CLOCK_START + 600 }) },
        )
  ).map((delay): ModelCommand => ({ t: 'flush', delay }));
  const advance = fc
    .oneof(fc.integer({ min: 0, max: 90_000 }), fc.integer({ min: 1, max: 999 }))
    .map((ms): ModelCommand => ({ t: 'advance', ms }));
  const arbs: fc.WeightedArbitrary<ModelCommand>[] = [
    { weight: 6, arbitrary: store },
    { weight: 5, arbitrary: get },
    { weight: 1, arbitrary: getMany },
    { weight: 2, arbitrary: del },
    { weight: 3, arbitrary: arith },
    { weight: 1, arbitrary: touch },
  ];
  if (!real) arbs.push({ weight: options.advanceWeight ?? 2, arbitrary: advance });
  if (options.flush ?? true) arbs.push({ weight: 1, arbitrary: flush });
  return fc.oneof(...arbs);
}

// ---------------------------------------------------------------------------
// Applying a command to a handler and to the model
// ---------------------------------------------------------------------------

export interface ModelRunnerOptions {
  /**
   * `exact` (default): CAS uniques must equal the model's (same start, same
   * order of CAS-consuming commands). `bijection`: the handler may hand out
   * CAS uniques in another order (concurrent commands on different keys), so
   * the runner only requires a one-to-one correspondence between its CAS
   * uniques and the model's.
   */
  cas?: 'exact' | 'bijection';
  /** Compare `fetched` and `lastAccess` too (default true); a tier in front answers them from its own copy. */
  access?: boolean;
  /**
   * Item fields a handler cannot report, by the kind of reply carrying the
   * item (a wire protocol's `STORED` carries none, `incr` no flags).
   */
  ignore?: { readonly [kind in ReplyKind]?: readonly (keyof ItemSummary)[] };
}

/** The kinds of reply that carry an item. */
export type ReplyKind = 'get' | 'store' | 'arithmetic';

/** One command, applied to the model and ready to be sent to a handler. */
export interface PreparedCall {
  /** What the command was, for failure messages. */
  readonly label: string;
  /** Send the command to a handler. */
  invoke(h: Handler): MaybePromise<unknown>;
  /** Throw unless `actual` (the handler's reply) is the model's. */
  check(actual: unknown): void;
}

/** JSON for failure messages: bigints as `123n`, Buffers as latin1 text. */
export function show(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : Buffer.isBuffer(x) ? x.toString('latin1') : x));
}

function isItem(v: unknown): v is ItemView {
  return typeof v === 'object' && v !== null && 'value' in v;
}

/**
 * Applies commands to the reference model and compares a handler's replies
 * with it. The model takes each command when it is prepared, so commands
 * issued concurrently are modelled in the order they were issued.
 */
export class ModelRunner {
  readonly model: ReferenceModel;
  readonly casMode: 'exact' | 'bijection';
  readonly access: boolean;
  private readonly ignore: NonNullable<ModelRunnerOptions['ignore']>;
  /** Commands prepared so far (clock moves excluded). */
  commands = 0;
  private readonly modelToReal = new Map<bigint, bigint>();
  private readonly realToModel = new Map<bigint, bigint>();

  constructor(model: ReferenceModel, options: ModelRunnerOptions = {}) {
    this.model = model;
    this.casMode = options.cas ?? 'exact';
    this.access = options.access ?? true;
    this.ignore = options.ignore ?? {};
  }

  /** The CAS a command sends, as [model's, handler's]. */
  private casFor(key: string, choice: CasChoice | undefined): [bigint, bigint] | undefined {
    switch (choice) {
      case undefined:
        return undefined;
      case 'zero':
        return [0n, 0n];
      case 'older':
        return [OLDER_CAS, OLDER_CAS];
      case 'wrong':
        return [WRONG_CAS, WRONG_CAS];
      case 'match': {
        const cur = this.model.peek(key)?.cas;
        if (cur === undefined) return [WRONG_CAS, WRONG_CAS];
        if (this.casMode === 'exact') return [cur, cur];
        // The handler's CAS for this item is known once a reply carried it.
        const real = this.modelToReal.get(cur);
        return real === undefined ? [WRONG_CAS, WRONG_CAS] : [cur, real];
      }
    }
  }

  private sameCas(label: string, real: bigint, model: bigint): void {
    if (this.casMode === 'exact') {
      if (real !== model) throw new Error(`${label}: CAS ${real}, model ${model}`);
      return;
    }
    const r = this.modelToReal.get(model);
    const m = this.realToModel.get(real);
    if (r === undefined && m === undefined) {
      this.modelToReal.set(model, real);
      this.realToModel.set(real, model);
      return;
    }
    if (r !== real || m !== model) throw new Error(`${label}: CAS ${real} does not correspond to the model's ${model} (seen: ${r} / ${m})`);
  }

  private compareItem(label: string, actual: ItemView | undefined, expected: ItemView | undefined, kind: ReplyKind = 'get'): void {
    if (expected === undefined || actual === undefined) {
      if (expected !== actual)
        throw new Error(
          `${label}: got ${show(actual && summarize(actual, this.access))}, model ${show(expected && summarize(expected, this.access))}`,
        );
      return;
    }
    const a: Partial<ItemSummary> = summarize(actual, this.access);
    const e: Partial<ItemSummary> = summarize(expected, this.access);
    // A handler may list the fields its reply cannot carry (a wire protocol's): `unreported` on the item.
    const unreported = (actual as { unreported?: readonly (keyof ItemSummary)[] }).unreported ?? [];
    for (const f of [...(this.ignore[kind] ?? []), ...unreported]) {
      delete a[f];
      delete e[f];
    }
    const { cas: ac, ...ar } = a;
    const { cas: ec, ...er } = e;
    if (show(ar) !== show(er)) throw new Error(`${label}: got ${show(a)}, model ${show(e)}`);
    if (ac !== undefined && ec !== undefined) this.sameCas(label, ac, ec);
  }

  private compareOutcome(label: string, actual: unknown, expected: unknown, kind: ReplyKind = 'get'): void {
    if (isItem(expected) || isItem(actual)) {
      if (!isItem(expected) || !isItem(actual))
        throw new Error(
          `${label}: got ${show(isItem(actual) ? summarize(actual, this.access) : actual)}, model ${show(isItem(expected) ? summarize(expected, this.access) : expected)}`,
        );
      this.compareItem(label, actual, expected, kind);
      return;
    }
    if (actual !== expected) throw new Error(`${label}: got ${show(actual)}, model ${show(expected)}`);
  }

  /** Apply `c` to the model now; the returned call sends it to a handler and checks the reply. `advance` is the caller's. */
  prepare(c: Exclude<ModelCommand, { t: 'advance' }>): PreparedCall {
    this.commands++;
    const m = this.model;
    const kb = (k: string) => Buffer.from(k, 'latin1');
    const label = `${show(c)} at ${m.now()}`;
    switch (c.t) {
      case 'get': {
        const cmd: GetCommand = {
          key: kb(c.key),
          ...(c.touch !== undefined ? { touch: c.touch } : {}),
          ...(c.vivify !== undefined ? { vivify: c.vivify } : {}),
          ...(c.recache !== undefined ? { recache: c.recache } : {}),
          ...(c.noBump !== undefined ? { noBump: c.noBump } : {}),
          // A get of no protocol is a meta get: it takes part in recache tokens.
          ...(c.protocol === undefined ? { tokens: true } : {}),
        };
        const want = m.get(cmd);
        return { label, invoke: (h) => h.get(cmd), check: (got) => this.compareItem(label, got as ItemView | undefined, want) };
      }
      case 'getMany': {
        const cmds: GetCommand[] = c.keys.map((k) => ({
          key: kb(k),
          ...(c.touch !== undefined ? { touch: c.touch } : {}),
          ...(c.protocol === undefined ? { tokens: true } : {}),
        }));
        const want = m.getMany(cmds);
        return {
          label,
          invoke: (h) => (h.getMany ? h.getMany(cmds) : Promise.all(cmds.map((g) => h.get(g)))),
          check: (got) => {
            const list = got as (ItemView | undefined)[];
            if (!Array.isArray(list) || list.length !== want.length) throw new Error(`${label}: got ${show(got)}`);
            for (let i = 0; i < want.length; i++) this.compareItem(`${label} [${i}]`, list[i], want[i]);
          },
        };
      }
      case 'store': {
        const cas = this.casFor(c.key, c.cas);
        const base = {
          mode: c.mode,
          key: kb(c.key),
          value: kb(c.value),
          flags: c.flags,
          exptime: c.exptime,
          ...(c.invalidate ? { invalidate: true } : {}),
          ...(c.newCas !== undefined ? { newCas: c.newCas } : {}),
          ...(c.unlinkOnFailure ? { unlinkOnFailure: true } : {}),
        };
        const modelCmd: StoreCommand = cas ? { ...base, compareCas: cas[0] } : base;
        const realCmd: StoreCommand = cas ? { ...base, compareCas: cas[1] } : base;
        const want = m.store(modelCmd);
        return { label, invoke: (h) => h.store(realCmd), check: (got) => this.compareOutcome(label, got, want, 'store') };
      }
      case 'delete': {
        const cas = this.casFor(c.key, c.cas);
        const base = {
          key: kb(c.key),
          ...(c.invalidate ? { invalidate: true } : {}),
          ...(c.exptime !== undefined ? { exptime: c.exptime } : {}),
        };
        const want = m.delete(cas ? { ...base, compareCas: cas[0] } : base);
        const realCmd: DeleteCommand = cas ? { ...base, compareCas: cas[1] } : base;
        return { label, invoke: (h) => h.delete(realCmd), check: (got) => this.compareOutcome(label, got, want) };
      }
      case 'arithmetic': {
        const cas = this.casFor(c.key, c.cas);
        const base = {
          key: kb(c.key),
          incr: c.incr,
          delta: c.delta,
          ...(c.initial !== undefined ? { initial: c.initial } : {}),
          ...(c.exptime !== undefined ? { exptime: c.exptime } : {}),
          ...(c.touch !== undefined ? { touch: c.touch } : {}),
        };
        const want = m.arithmetic(cas ? { ...base, compareCas: cas[0] } : base);
        const realCmd: ArithmeticCommand = cas ? { ...base, compareCas: cas[1] } : base;
        return { label, invoke: (h) => h.arithmetic(realCmd), check: (got) => this.compareOutcome(label, got, want, 'arithmetic') };
      }
      case 'touch': {
        const cmd: TouchCommand = { key: kb(c.key), exptime: c.exptime };
        const want = m.touch(cmd);
        return { label, invoke: (h) => h.touch(cmd), check: (got) => this.compareOutcome(label, got, want) };
      }
      case 'flush': {
        m.flush(c.delay);
        return {
          label,
          invoke: (h) => h.flush(c.delay),
          check: (got) => {
            if (got !== undefined) throw new Error(`${label}: got ${show(got)}`);
          },
        };
      }
    }
  }

  /** Apply `c` to the model and to `h`, and check the reply (synchronously when `h` answers synchronously). */
  run(h: Handler, c: Exclude<ModelCommand, { t: 'advance' }>): MaybePromise<void> {
    const p = this.prepare(c);
    const got = p.invoke(h);
    if (got instanceof Promise) return got.then((v) => p.check(v));
    p.check(got);
    return undefined;
  }

  /** Throw unless `peek` (a side-effect-free read of the handler) shows the model's item for every key. */
  checkState(keys: readonly string[], peek: (key: Buffer) => ItemView | undefined): void {
    for (const k of keys) {
      const got = peek(Buffer.from(k, 'latin1'));
      this.compareItem(`state of ${show(k)} at ${this.model.now()}`, got, this.model.peek(k));
    }
  }
}

/**
 * A side-effect-free read of an InMemoryHandler-like handler: meta `me`
 * (no LRU bump, no fetched mark, no recache token).
 */
export function peekCommand(key: Buffer): GetCommand {
  return { key, noBump: true, cmd: 'me' } as GetCommand;
}
