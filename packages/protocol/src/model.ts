/**
 * The request/response model shared by every protocol.
 *
 * Parsers turn bytes of the text, meta or binary protocol into `Request`
 * objects; the server hands the storage part of a request to an orchestrator
 * (which calls `Handler`s), and an encoder for the request's protocol turns
 * the outcome back into bytes. Handlers only ever see the protocol-neutral
 * fields: `key`, `value`, `flags`, `exptime`, `cas` and the command options.
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
 * An item as a handler returns it. Objects returned by a handler must not be
 * mutated afterwards (the encoder may read them after later requests ran).
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
  /** Unix time (seconds) of the access before this one (meta `l`, `me la=`). */
  readonly lastAccess: number;
  /** Whether the item had been fetched before this access (meta `h`, `me fetch=`). */
  readonly fetched: boolean;
  /** Set by meta invalidation (`md I`, `ms I`): the item is stale (meta `X`). */
  readonly stale?: boolean;
  /** This fetch won the right to recache the item (meta `W`). */
  readonly win?: boolean;
  /** Another client already holds the recache token (meta `Z`). */
  readonly tokenSent?: boolean;
  /**
   * The key was stored through meta with `b` (a binary key). memcached
   * re-encodes the key of such an item in base64 for mg `k` and `me`, and
   * prints other items' keys raw even when the fetch used `b`.
   * `undefined` = follow the request's `b`.
   */
  readonly keyBinary?: boolean;
  /**
   * The absolute exptime before this request changed it (meta `T`, or `N`
   * creating the item: 0). memcached answers a `t` flag that comes before
   * `T`/`N` in the request with it. `undefined` = unchanged.
   */
  readonly previousExptime?: number;
  /**
   * This request created the item on a miss (meta `N` on mg/ma, binary
   * incr/decr with an initial value). memcached answers `ma ... q` that
   * created its counter with HD/VA instead of staying quiet.
   */
  readonly created?: boolean;
}

// ---------------------------------------------------------------------------
// Storage commands: what a handler sees
// ---------------------------------------------------------------------------

/** How a store treats an existing item (memcached's set/add/replace/append/prepend). */
export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend';

export interface GetCommand {
  readonly key: Buffer;
  /**
   * New exptime to apply while fetching (gat/gats, binary GAT, meta `T`), in
   * the wire form: relative seconds up to 30 days, else absolute Unix time.
   */
  readonly touch?: number;
  /** Meta `N`: on a miss create an empty item with this exptime and win the recache token. */
  readonly vivify?: number;
  /** Meta `R`: win the recache token when the remaining TTL is below this many seconds. */
  readonly recache?: number;
  /** Meta `u` / `me`: do not bump the item in the LRU nor mark it fetched. */
  readonly noBump?: boolean;
}

export interface StoreCommand {
  readonly mode: StoreMode;
  readonly key: Buffer;
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
}

export interface DeleteCommand {
  readonly key: Buffer;
  /** Delete only if the CAS unique matches (binary CAS, meta `C`). */
  readonly compareCas?: bigint;
  /** Meta `I`: mark stale instead of removing. */
  readonly invalidate?: boolean;
  /** Meta `T` with `I`: the stale item's new exptime. */
  readonly exptime?: number;
}

export interface ArithmeticCommand {
  readonly key: Buffer;
  readonly incr: boolean;
  /** Unsigned 64-bit delta. */
  readonly delta: bigint;
  /**
   * Create the counter with this value when missing (binary incr/decr unless
   * exptime is 0xffffffff, meta `N` + `J`). `undefined` = a miss is NOT_FOUND.
   */
  readonly initial?: bigint;
  /** Exptime for a created counter (wire form). */
  readonly exptime?: number;
  /** Meta `T` on ma: set the counter's exptime (wire form) along with the update. */
  readonly touch?: number;
  readonly compareCas?: bigint;
  /** Meta `E`. */
  readonly newCas?: bigint;
}

export interface TouchCommand {
  readonly key: Buffer;
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
  /** Text `cas` command (for stats and replies; semantics are in compareCas). */
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

export interface StatsRequest extends RequestBase {
  readonly cmd: 'stats';
  /** '' for general stats, else the group: settings, items, slabs, sizes, conns, reset, ... */
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
