/**
 * The request/response model shared by every protocol.
 *
 * Parsers turn bytes of the text, meta or binary protocol into `Request`
 * objects; the server hands the storage part of a request (a command) to its
 * `Handler`, and an encoder for the request's protocol turns the outcome back
 * into bytes. A handler reads only the command's own fields, documented on
 * each command below; the request fields (`protocol`, `meta`, `opcode`, ...)
 * are for the encoder.
 *
 * Buffers in a request (keys, values) are views into the connection's read
 * buffer. They are valid until the request has been answered; a handler that
 * keeps one must copy it.
 */

/** The wire protocol a request arrived in, and so the one its reply is encoded in. */
export type Protocol = 'text' | 'meta' | 'binary';

export type MaybePromise<T> = T | Promise<T>;

// ---------------------------------------------------------------------------
// Items
// ---------------------------------------------------------------------------

/**
 * Facts about an item that only some replies show. A command's `want` names
 * the ones its reply needs, so a store that pays to learn them (a remote
 * memcached asked for extra meta flags) learns only those. A store that has
 * them at no cost may always report them.
 */
export const ItemFacts = {
  /** `ItemView.keyBinary`: whether the item was stored with a base64 key (meta mg `k`, `me`). */
  KEY_FORM: 1,
  /** `ItemView.lastAccess` and `ItemView.fetched` (meta `h`, `l`, `me`). */
  ACCESS: 2,
  /** `ItemView.created`: whether this request created the item (meta `ma N` with `q`, or `t` before `N`). */
  CREATED: 4,
  /**
   * `ItemView.cas`: the reply shows the CAS unique (text gets/gats, every
   * binary get, meta `c`), so it must be one a later compare-and-swap
   * through the same Handler accepts. A store always reports `cas`; a tier
   * whose copy carries a CAS unique of its own answers such a fetch from
   * the tier that owns the CAS.
   */
  CAS: 8,
} as const;

/**
 * An item as a handler returns it. Objects returned by a handler must not be
 * mutated afterwards (the encoder may read them after later requests ran).
 *
 * `key`, `value`, `flags`, `cas` and `exptime` are what every store reports.
 * The optional fields are facts only meta replies show; a store that leaves
 * them out answers text and binary clients, and meta clients that do not ask
 * for them, exactly as memcached does.
 */
export interface ItemView {
  /** The item's key. A handler answering a fetch may hand back the caller's own key Buffer (the same bytes). */
  readonly key: Buffer;
  readonly value: Buffer;
  /** 32-bit client flags, stored untouched. */
  readonly flags: number;
  /** 64-bit CAS unique. */
  readonly cas: bigint;
  /** Absolute expiry as a Unix time in seconds; 0 = never expires. */
  readonly exptime: number;
  /** Unix time (seconds) of the access before this one (meta `l`, `me la=`); absent = now. Wanted with `ItemFacts.ACCESS`. */
  readonly lastAccess?: number;
  /** Whether the item had been fetched before this access (meta `h`, `me fetch=`); absent = no. Wanted with `ItemFacts.ACCESS`. */
  readonly fetched?: boolean;
  /** Set by meta invalidation (`md I`, `ms I`): the item is stale (meta `X`). */
  readonly stale?: boolean;
  /** This fetch won the right to recache the item (meta `W`). Only fetches with `GetCommand.tokens` take part. */
  readonly win?: boolean;
  /** Another client already holds the recache token (meta `Z`). Only fetches with `GetCommand.tokens` take part. */
  readonly tokenSent?: boolean;
  /**
   * The key was stored through meta with `b` (a binary key). memcached
   * re-encodes the key of such an item in base64 for mg `k` and `me`, and
   * prints other items' keys raw even when the fetch used `b`.
   * `undefined` = follow the command's `keyBinary`. Wanted with `ItemFacts.KEY_FORM`.
   */
  readonly keyBinary?: boolean;
  /**
   * The absolute exptime before this request changed it (meta `T`, or `N`
   * creating the item: 0). memcached answers a `t` flag that comes before
   * `T`/`N` in the request with it. `undefined` = unchanged. A store that
   * touches an item reports it.
   */
  readonly previousExptime?: number;
  /**
   * This request created the item on a miss (meta `N` on mg/ma, binary
   * incr/decr with an initial value). memcached answers `ma ... q` that
   * created its counter with HD/VA instead of staying quiet. Wanted with
   * `ItemFacts.CREATED`.
   */
  readonly created?: boolean;
}

// ---------------------------------------------------------------------------
// Storage commands: what a handler sees
// ---------------------------------------------------------------------------
//
// A command carries every fact a handler needs, whichever protocol the
// request came in: a handler never looks at the request it was built from.
// The parsers fill in the optional fields where memcached's rules call for
// them; a command built by code (a tier, a router) leaves them out and gets
// memcached's plain text-protocol behaviour.

/** How a store treats an existing item (memcached's set/add/replace/append/prepend). */
export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend';

/** What every command on one key carries. */
export interface KeyCommand {
  /** The item's key: raw bytes (decoded when the client sent it base64). */
  readonly key: Buffer;
  /**
   * The client sent the key base64-encoded (meta `b`). memcached remembers
   * an item stored this way as having a binary key and prints it base64
   * again (mg `k`, `me`); a store that talks to another memcached sends
   * such a key base64 too.
   */
  readonly keyBinary?: boolean;
}

export interface GetCommand extends KeyCommand {
  /**
   * New exptime to apply while fetching (gat/gats, binary GAT, meta `T`), in
   * the wire form: relative seconds up to 30 days, else absolute Unix time.
   */
  readonly touch?: number;
  /**
   * Meta `N`: on a miss create an empty item with this exptime (wire form)
   * and win the recache token. With `touch` too, this is the exptime the
   * created item ends with (memcached applies T and N in request order, so
   * a T after N wins): a store applies `touch` to an item that exists and
   * `vivify` to one it creates.
   */
  readonly vivify?: number;
  /** Meta `R`: win the recache token when the remaining TTL is below this many seconds. */
  readonly recache?: number;
  /** Meta `u` / `me`: do not bump the item in the LRU nor mark it fetched. */
  readonly noBump?: boolean;
  /**
   * memcached's meta-get rules (mg): the fetch takes part in the recache
   * token (a stale item, or one under `recache`, hands `win` to the first
   * such fetch and `tokenSent` to the later ones), and a miss counts in
   * `get_misses` even with `touch`. Without it (text and binary gets), a
   * stale item is read without taking its token, and a miss with `touch`
   * counts in `touch_misses`.
   */
  readonly tokens?: boolean;
  /**
   * Meta `me` (debug): read the item without counting it in any statistic,
   * bumping it, or taking its token. Comes with `noBump`.
   */
  readonly debug?: boolean;
  /** `ItemFacts` bits the reply needs beyond value, flags, cas and exptime (absent = none). */
  readonly want?: number;
}

export interface StoreCommand extends KeyCommand {
  readonly mode: StoreMode;
  readonly value: Buffer;
  readonly flags: number;
  /** Wire exptime: 0 never, up to 30 days relative seconds, above that absolute Unix time, negative expired. */
  readonly exptime: number;
  /**
   * Compare-and-swap: store only when the item exists and its CAS unique
   * equals this (text `cas`, binary CAS field, meta `C`). `undefined` = no check.
   */
  readonly compareCas?: bigint;
  /** Meta `I`: with compareCas, an older CAS still stores but marks the item stale. */
  readonly invalidate?: boolean;
  /** Meta `E`: use this as the new item's CAS unique instead of generating one. */
  readonly newCas?: bigint;
  /**
   * When the item cannot be stored for its size (TOO_LARGE) or for memory
   * (OUT_OF_MEMORY), remove the item it would have replaced, so no stale
   * value outlives the failed write. memcached does this for text `set`,
   * binary Set (with or without a CAS) and every meta `ms`; not for text
   * `cas`, add, replace, append or prepend.
   */
  readonly unlinkOnFailure?: boolean;
}

export interface DeleteCommand extends KeyCommand {
  /** Delete only if the CAS unique matches (binary CAS, meta `C`). */
  readonly compareCas?: bigint;
  /** Meta `I`: mark stale instead of removing. */
  readonly invalidate?: boolean;
  /** Meta `T` with `I`: the stale item's new exptime. */
  readonly exptime?: number;
}

export interface ArithmeticCommand extends KeyCommand {
  readonly incr: boolean;
  /** Unsigned 64-bit delta. */
  readonly delta: bigint;
  /**
   * Create the counter with this value when missing (binary incr/decr unless
   * exptime is 0xffffffff, meta `N` + `J`). `undefined` = a miss is NOT_FOUND.
   */
  readonly initial?: bigint;
  /**
   * Exptime for a created counter (wire form): the one it ends with. On meta
   * `ma` with both `N` and `T`, the parser resolved memcached's request
   * order (a T after N wins), so a store applies `touch` to a counter that
   * exists and `exptime` to one it creates.
   */
  readonly exptime?: number;
  /** Meta `T` on ma: set the counter's exptime (wire form) along with the update. */
  readonly touch?: number;
  readonly compareCas?: bigint;
  /** Meta `E`. */
  readonly newCas?: bigint;
  /** `ItemFacts` bits the reply needs (absent = none). */
  readonly want?: number;
}

export interface TouchCommand extends KeyCommand {
  readonly exptime: number;
}

/** Outcomes of commands that do not return an item. */
export type StoreFailure = 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' | 'TOO_LARGE' | 'OUT_OF_MEMORY';
export type DeleteOutcome = 'DELETED' | 'NOT_FOUND' | 'EXISTS';
export type TouchOutcome = 'TOUCHED' | 'NOT_FOUND';
export type ArithmeticFailure = 'NOT_FOUND' | 'NON_NUMERIC' | 'EXISTS';

/**
 * A store answers with the stored item (its CAS goes back to binary and meta
 * clients) or with why it did not store.
 */
export type StoreOutcome = ItemView | StoreFailure;
/** incr/decr answer with the updated item (its value is the decimal digits) or a failure. */
export type ArithmeticOutcome = ItemView | ArithmeticFailure;

// ---------------------------------------------------------------------------
// Requests: what parsers produce and the server executes
// ---------------------------------------------------------------------------

/** Fields every request carries for its reply; handlers never look at them. */
export interface RequestBase {
  readonly protocol: Protocol;
  /** noreply (text), a quiet opcode (binary), `q` (meta): suppress the uneventful reply. */
  readonly quiet: boolean;
  /** Binary opcode the request came as (0 for text and meta). */
  readonly opcode: number;
  /** Binary opaque, echoed in the reply (0 for text and meta). */
  readonly opaque: number;
  /** Meta requests only: return flags and their tokens, in request order. */
  readonly meta?: MetaFlags;
}

/**
 * Meta return flags. `ret` lists the flag letters that shape the reply, in
 * the order the client sent them (memcached answers in that order).
 */
export interface MetaFlags {
  /** Flag letters (as char codes) to echo/answer: b c f h k l O q s t v ... in request order. */
  readonly ret: string;
  /** The `O` token as sent, letter included (`O123`), echoed verbatim. */
  readonly opaqueToken?: Buffer;
  /** `b`: the key on the wire is base64; replies carry it base64 again. */
  readonly base64Key?: boolean;
  /** The key as the client sent it (base64 form when `b`). */
  readonly wireKey: Buffer;
  /**
   * `N`'s own exptime as sent. The command's `vivify` (or `exptime` on ma)
   * is the exptime a created item ends with; a `t` between N and a later T
   * reports this one.
   */
  readonly vivifyAsSent?: number;
}

export interface GetRequest extends RequestBase, GetCommand {
  /**
   * One key: text get/gets/gat/gats with a single key, binary Get/GetK/GAT
   * and their quiet forms, meta `mg`; `me` is meta debug (fetch without bump).
   */
  readonly cmd: 'get' | 'me';
  /** Text gets/gats: the reply carries the CAS unique. */
  readonly withCas: boolean;
}

/**
 * A text retrieval of several keys: one request line, one END. The server
 * runs a GetCommand per key (with `touch` for gat/gats).
 */
export interface MultiGetRequest extends RequestBase {
  readonly cmd: 'mget';
  readonly keys: Buffer[];
  readonly withCas: boolean;
  readonly touch?: number;
}

export interface StoreRequest extends RequestBase, StoreCommand {
  /** set/add/replace/append/prepend/cas (text), Set*... (binary), ms (meta). */
  readonly cmd: 'store';
  /** Text `cas` command (how the reply is worded; the semantics are in compareCas and unlinkOnFailure). */
  readonly textCas?: boolean;
}

export interface DeleteRequest extends RequestBase, DeleteCommand {
  readonly cmd: 'delete';
}

export interface ArithmeticRequest extends RequestBase, ArithmeticCommand {
  readonly cmd: 'incr' | 'decr';
}

export interface TouchRequest extends RequestBase, TouchCommand {
  readonly cmd: 'touch';
}

export interface FlushRequest extends RequestBase {
  readonly cmd: 'flush_all';
  /** Seconds to wait before invalidating (0 = now). Absolute times allowed as for exptime. */
  readonly delay: number;
}

/**
 * One of memcached's administrative commands, its arguments already checked
 * by the parser: `lru_crawler metadump all` is `{ name: 'lru_crawler', args:
 * ['metadump', 'all'] }`, `stats cachedump 1 10` is `{ name: 'stats', args:
 * ['cachedump', '1', '10'] }`; likewise `slabs ...`, `lru ...`, `cache_memlimit N`.
 */
export interface AdminCommand {
  readonly name: string;
  readonly args: readonly string[];
}

export interface StatsRequest extends RequestBase {
  readonly cmd: 'stats';
  /**
   * '' for general stats, else the group: settings, items, slabs, sizes,
   * conns, reset, ...; text `stats detail <word>` is `detail <word>`, as the
   * binary key (`detail on`) says it.
   */
  readonly group: string;
}

export interface VerbosityRequest extends RequestBase {
  readonly cmd: 'verbosity';
  readonly level: number;
}

export interface SimpleRequest extends RequestBase {
  /** version, quit, noop (binary noop and meta mn). */
  readonly cmd: 'version' | 'quit' | 'noop';
}

export interface SaslRequest extends RequestBase {
  readonly cmd: 'sasl_list' | 'sasl_auth' | 'sasl_step';
  readonly mechanism: Buffer;
  readonly data: Buffer;
}

/**
 * A request that was malformed but left the stream in sync: it is answered in
 * order with `error.wire` (text/meta) or `error.status` (binary).
 */
export interface ErrorRequest extends RequestBase {
  readonly cmd: 'error';
  readonly error: import('./errors.js').ProtocolError;
  /**
   * A key memcached unlinks along with this error: a `set` refused as too
   * large removes the key's old item, so no stale value outlives the write.
   */
  readonly unlinkKey?: Buffer;
}

export type Request =
  | GetRequest
  | MultiGetRequest
  | StoreRequest
  | DeleteRequest
  | ArithmeticRequest
  | TouchRequest
  | FlushRequest
  | StatsRequest
  | VerbosityRequest
  | SimpleRequest
  | SaslRequest
  | ErrorRequest;

export type RequestCommand = Request['cmd'];
