/**
 * memcached's exptime rules (realtime() in memcached.c), in absolute Unix
 * seconds:
 * - 0: never expires;
 * - negative: already expired;
 * - 1..2592000 (30 days): seconds from now;
 * - above 30 days: an absolute Unix time (one in the past is already expired).
 */

/** Largest exptime read as a relative number of seconds: 30 days. */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;

/** The absolute time given to an item stored with a negative exptime: long past. */
export const EXPIRED_EXPTIME = 1;

/** Absolute expiry (Unix seconds, 0 = never) for a wire exptime received at `now`. */
export function absoluteExptime(exptime: number, now: number): number {
  if (exptime === 0) return 0;
  if (exptime < 0) return EXPIRED_EXPTIME;
  if (exptime > REALTIME_MAXDELTA) return exptime;
  return now + exptime;
}

/**
 * The wire exptime that gives an item expiring at absolute `exptime` the same
 * expiry when stored at `now` (a copy into another store): 0 stays 0, up to 30
 * days left goes as seconds left, more as the absolute time; `undefined` when
 * the item has expired by `now`.
 */
export function remainingExptime(exptime: number, now: number): number | undefined {
  if (exptime === 0) return 0;
  const left = exptime - now;
  if (left <= 0) return undefined;
  return left <= REALTIME_MAXDELTA ? left : exptime;
}

/** Whether an item with absolute expiry `exptime` is expired at `now` (memcached: `exptime <= current_time`). */
export function isExpired(exptime: number, now: number): boolean {
  return exptime !== 0 && exptime <= now;
}
