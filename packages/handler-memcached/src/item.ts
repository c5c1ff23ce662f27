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

/** Meta `t` (seconds left, -1 = never expires) as an absolute exptime. */
export function exptimeFromTtl(ttl: number | undefined, now: number): number {
  if (ttl === undefined || ttl < 0) return 0;
  return now + ttl;
}
