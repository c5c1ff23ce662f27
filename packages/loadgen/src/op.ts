/**
 * One request in flight. Each connection owns a ring of these, reused for
 * every request it sends (no allocation per request).
 */
export class Op {
  /** Command (commands.ts). */
  cmd = 0;
  /** Key family (ITEM, COUNTER, APPENDABLE). */
  family = 0;
  /** Key index within the key space. */
  key = 0;
  /** Client flags sent with a store; for items the generation. */
  flags = 0;
  /** Data block length. */
  len = 0;
  /** Counter sets: the decimal value. */
  num = 0;
  /** CAS unique for `cas` (a number: memcached's CAS counter stays far below 2^53). */
  cas = 0;
  /** Request sequence number: the binary opaque and meta `O` token. */
  seq = 0;
  /** performance.now() when the batch holding it was written. */
  sent = 0;
  /**
   * What a retrieval must find, known when this connection is the only
   * writer of the key: EXPECT_ANY (nothing known), EXPECT_MISS (deleted), or
   * the generation (≥ 1) of the last unconditional set.
   */
  expect = EXPECT_ANY;
  /** With an expected generation: that set's length. */
  expectLen = 0;
  /** Text retrievals: a VALUE reply was seen before END. */
  gotValue = false;
  /** Text retrievals: the VALUE failed a check (already counted). */
  failed = false;
  /** Extra tag a workload may use (e.g. prepopulation, the setget pair). */
  tag = 0;
}

export const EXPECT_ANY = -1;
export const EXPECT_MISS = -2;
