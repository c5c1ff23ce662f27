import type { ItemView } from '@cleave/protocol';

/** An item as the backend described it. One class, every field set in the same order: one hidden class. */
export class BackendItem implements ItemView {
  constructor(
    readonly key: Buffer,
    readonly value: Buffer,
    readonly flags: number,
    readonly cas: bigint,
    readonly exptime: number,
    readonly lastAccess: number,
    readonly fetched: boolean,
    readonly stale: boolean | undefined,
    readonly win: boolean | undefined,
    readonly tokenSent: boolean | undefined,
    readonly keyBinary: boolean | undefined,
    readonly previousExptime: number | undefined,
    readonly created: boolean | undefined,
  ) {}
}

/** memcached's realtime(): a wire exptime (0 never, up to 30 days relative, else absolute, negative expired) as Unix seconds. */
export function absoluteExptime(wire: number, now: number): number {
  if (wire === 0) return 0;
  if (wire < 0) return now;
  return wire > 2592000 ? wire : now + wire;
}

/** Meta `t` (seconds left, -1 = never expires) as an absolute exptime. */
export function exptimeFromTtl(ttl: number | undefined, now: number): number {
  if (ttl === undefined || ttl < 0) return 0;
  return now + ttl;
}
