/**
 * An item's state bits and the meta protocol's item rules, as memcached 1.6
 * applies them: the recache token (anti-dogpiling: `W` to one fetcher, `Z`
 * to the others), stale items (`md I`, `ms I`), vivify-on-miss (`mg N`) and
 * base64 keys (`b`). Each rule is a small function of an item's state bits
 * and the command's typed fields; every store applies them to its records.
 */
import { absoluteExptime } from './exptime.js';
import type { GetCommand, KeyCommand } from './model.js';

/** State bits a store keeps per item for the meta protocol. */
export const ItemState = {
  /** Fetched since it was stored (meta `h`, memcached's ITEM_FETCHED). */
  FETCHED: 2,
  /** Marked stale by meta invalidation (`md I`, `ms I`). */
  STALE: 4,
  /** A fetch already took the recache token (meta `W` given, later `Z`). */
  TOKEN_SENT: 8,
  /** Stored through meta with a base64 key: memcached prints it base64 again in mg k and me. */
  KEY_BINARY: 16,
} as const;
const { FETCHED, KEY_BINARY, STALE, TOKEN_SENT } = ItemState;

/** The state bit an item stored by this command carries for its key's form: KEY_BINARY for a base64 (`b`) key. */
export function keyBits(cmd: KeyCommand): number {
  return cmd.keyBinary === true ? KEY_BINARY : 0;
}

/**
 * Whether this fetch wins the recache token (meta `W`) of an item in state
 * `state` expiring at `exptime` (absolute; 0 = never). The token goes to the
 * first fetch that takes part (`tokens`: mg, not text or binary gets, not
 * `me`) once the item is stale, or once its remaining TTL is below the
 * fetch's `recache` threshold; later fetches see it sent (`Z`).
 */
export function winsToken(cmd: GetCommand, state: number, exptime: number, now: number): boolean {
  if ((state & TOKEN_SENT) !== 0 || cmd.tokens !== true || cmd.debug === true) return false;
  if ((state & STALE) !== 0) return true;
  const recache = cmd.recache;
  if (recache === undefined) return false;
  const threshold = absoluteExptime(recache, now);
  // Strictly below: a TTL equal to the threshold does not win (memcached 1.6.18).
  return exptime !== 0 && threshold !== 0 && exptime < threshold;
}

/**
 * `mg N` on a miss creates an empty item this fetch wins the token of: its
 * state bits (fetched unless `noBump`, and its key's form).
 */
export function vivifiedBits(cmd: GetCommand): number {
  return TOKEN_SENT | (cmd.noBump === true ? 0 : FETCHED) | keyBits(cmd);
}

/**
 * `md I`: the item stays but is stale, and its token is free again so the
 * next fetcher wins the recache (memcached also gives it a new CAS and
 * counts no delete_hits).
 */
export function invalidatedState(state: number): number {
  return (state | STALE) & ~TOKEN_SENT;
}

/**
 * `ms I` with a CAS older than the item's: memcached stores the value
 * anyway, marked stale, keeping the old item's token state (and its TTL).
 * `compareCas` 0 means "no CAS" and never takes this path.
 */
export function storesStale(invalidate: boolean | undefined, compareCas: bigint, cas: bigint): boolean {
  return invalidate === true && compareCas !== 0n && compareCas < cas;
}

/** The state bits of the stale item `ms I` stores over an item in state `oldState`. */
export function staleStoreBits(oldState: number, cmd: KeyCommand): number {
  return STALE | (oldState & TOKEN_SENT) | keyBits(cmd);
}
