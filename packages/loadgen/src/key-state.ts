/**
 * What cleave-load knows about each item key, for exact checks.
 *
 * Generations: every store of an item key gets the key's next generation
 * (1, 2, ... wrapping below 2^31), sent as the item's client flags; the
 * value bytes follow from (key, generation, length) — see values.ts.
 *
 * Ownership: memcached answers the requests of one connection in order, so
 * while a single connection is the only writer of a key, that connection
 * knows exactly what a get must find: the generation and length of its last
 * unconditional set, or nothing after its delete (a miss is always allowed
 * — the item may have been evicted — but a hit on a deleted key, or a hit on
 * any other generation, is an error). Once a second connection writes the
 * key, the interleaving of the two connections at the server is unknown and
 * the key is "shared": a get may return any generation, and only the value's
 * own description is checked. That also holds for a get already in flight
 * when the second writer sent its write (the two may cross at the server),
 * so the expectation is confirmed when the reply arrives. Conditional stores (add, replace, cas) also
 * leave the outcome unknown until the next unconditional set.
 */
import { EXPECT_ANY, EXPECT_MISS } from './op.js';

const NO_OWNER = -1;
const SHARED = -2;
const GEN_LIMIT = 0x7fffffff;

/** A CAS unique no item plausibly has (binary treats CAS 0 as "no check"). */
export const UNKNOWN_CAS = 2 ** 52 + 12345;

export class KeyState {
  private readonly gens: Uint32Array;
  private readonly owners: Int32Array;
  private readonly states: Int32Array;
  private readonly lens: Uint32Array;
  /** Last CAS unique seen per key (0 = none), for `cas`. */
  readonly cas: Float64Array;

  constructor(readonly keys: number) {
    this.gens = new Uint32Array(keys);
    this.owners = new Int32Array(keys).fill(NO_OWNER);
    this.states = new Int32Array(keys).fill(EXPECT_ANY);
    this.lens = new Uint32Array(keys);
    this.cas = new Float64Array(keys);
  }

  /** The next generation of `key`. */
  nextGen(key: number): number {
    let g = this.gens[key]! + 1;
    if (g > GEN_LIMIT) g = 1;
    this.gens[key] = g;
    return g;
  }

  private own(conn: number, key: number): boolean {
    const o = this.owners[key]!;
    if (o === conn) return true;
    if (o === NO_OWNER) {
      this.owners[key] = conn;
      return true;
    }
    this.owners[key] = SHARED;
    return false;
  }

  /** An unconditional set of (gen, length) was sent by `conn`. */
  set(conn: number, key: number, gen: number, length: number): void {
    if (this.own(conn, key)) {
      this.states[key] = gen;
      this.lens[key] = length;
    } else {
      this.states[key] = EXPECT_ANY;
    }
  }

  /** A store whose outcome depends on the server's state was sent. */
  conditional(conn: number, key: number): void {
    this.own(conn, key);
    this.states[key] = EXPECT_ANY;
  }

  /** A delete was sent. */
  delete(conn: number, key: number): void {
    this.states[key] = this.own(conn, key) ? EXPECT_MISS : EXPECT_ANY;
  }

  /** A store failed or its outcome is unknown: forget what a get must find. */
  forget(key: number): void {
    this.states[key] = EXPECT_ANY;
  }

  /** What a get sent now by `conn` must find (EXPECT_ANY, EXPECT_MISS or a generation). */
  expect(conn: number, key: number): number {
    return this.owners[key] === conn ? this.states[key]! : EXPECT_ANY;
  }

  /**
   * Whether `conn` still is the only writer of `key`. A get's expectation
   * holds only if this is still true when its reply arrives: a write another
   * connection sent meanwhile may have reached the server first.
   */
  ownedBy(conn: number, key: number): boolean {
    return this.owners[key] === conn;
  }

  /** Length of the expected generation. */
  expectedLength(key: number): number {
    return this.lens[key]!;
  }
}
