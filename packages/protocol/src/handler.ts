import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  ItemView,
  MaybePromise,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from './model.js';

/** A statistic as `stats` prints it: `STAT <name> <value>`. */
export type StatValue = string | number | bigint | boolean;
export type StatsGroup = Record<string, StatValue>;

/**
 * Storage behind the server: the in-memory store, a memcached backend, or
 * one a user writes. Every method may answer synchronously (the in-memory
 * fast path never allocates a Promise) or with a Promise.
 *
 * Methods receive protocol-neutral commands. Their Buffers are views into
 * the connection's read buffer, valid until the call's result is settled:
 * copy keys and values you keep.
 *
 * To fail a command, throw (or reject with) a `HandlerError`; the client
 * receives `SERVER_ERROR <message>` or the binary status it carries, and
 * the connection carries on.
 */
export interface Handler {
  /**
   * Fetch one item, or `undefined` on a miss. `cmd.touch` updates the
   * exptime (gat); `vivify`/`recache` implement the meta protocol's
   * anti-dogpile tokens (a handler that ignores them serves plain gets).
   */
  get(cmd: GetCommand): MaybePromise<ItemView | undefined>;
  /**
   * Fetch several items at once. Optional: when absent, callers issue one
   * `get` per key. Result order matches `cmds`.
   */
  getMany?(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]>;
  /** set/add/replace/append/prepend, with optional compare-and-swap. */
  store(cmd: StoreCommand): MaybePromise<StoreOutcome>;
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome>;
  /**
   * incr/decr on a decimal unsigned 64-bit value: incr wraps at 2^64, decr
   * stops at 0, a non-numeric value is `NON_NUMERIC`.
   */
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome>;
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome>;
  /** Invalidate every item now (`delay` 0) or after `delay` seconds (wire exptime form). */
  flush(delay: number): MaybePromise<void>;
  /**
   * Statistics for `stats` (group '') and its groups (`settings`, `items`,
   * `slabs`, ...). Return `undefined` for a group the handler does not know.
   * A handler in front of remote stores may ask them (a Promise); one that
   * only reads its own counters answers synchronously.
   */
  stats?(group: string): MaybePromise<StatsGroup | undefined>;
  /**
   * memcached's administrative commands (`lru_crawler`, `stats cachedump`,
   * `slabs`, `lru`, `cache_memlimit`): the whole text reply, as memcached
   * would send it (`OK\r\n`; a dump's lines then `END\r\n`). A proxy asks
   * its backends. Optional: without it, or when it answers `undefined`, the
   * server answers as a memcached without the feature.
   */
  admin?(cmd: AdminCommand): MaybePromise<Buffer | undefined>;
  /**
   * Check that the storage can serve now: for a remote store, one round trip
   * to it. Settles once it answered; fails (throws or rejects with a
   * `HandlerError`) when it cannot. Health checks call it (a pool probing a
   * server it took out of service) instead of risking a client's request.
   * Optional: storage in this process, always up, may leave it out.
   */
  ping?(): MaybePromise<void>;
  /**
   * A store that keeps flush_all across restarts reports the one that still
   * applies to items stored from now on: the absolute time (wire form) of a
   * delayed flush_all that has not come, or of one whose threshold is this
   * second. A tier in front (L1L2) replays it into its own copies when it is
   * built, so they are flushed with the store's items. Optional: a store
   * that forgets flush_all on restart leaves it out.
   */
  pendingFlush?(): number | undefined;
  /**
   * Run `body`, in which the server calls this handler for the requests of
   * one read in turn, as one unit, and return what it returns. A handler
   * whose state threads share behind a lock (the in-memory store shared by
   * serving threads) takes the lock once here instead of once per command,
   * releasing it now and then inside a long run. `body` never waits on
   * another thread. Optional: without it the server simply runs `body`.
   */
  runBatch?<T>(body: () => T): T;
  /** Release resources (timers, sockets). Called once, on server close. */
  close(): MaybePromise<void>;
  /**
   * The handler stores an item with the CAS unique a command gives in
   * `newCas` (meta `E`). A tier in front of another copies items into this
   * handler with the other tier's CAS only when this is true; otherwise the
   * copy's CAS is its own, and fetches that show the CAS
   * (`ItemFacts.CAS`) are answered by the tier that owns it.
   */
  readonly keepsNewCas?: boolean;
}
