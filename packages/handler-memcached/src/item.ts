/** Meta `t` (seconds left, -1 = never expires) as an absolute exptime. */
export function exptimeFromTtl(ttl: number | undefined, now: number): number {
  if (ttl === undefined || ttl < 0) return 0;
  return now + ttl;
}
