/**
 * Which backend connection a request goes to: the one with the fewest
 * requests outstanding, except that a key with requests outstanding stays on
 * the connection they are on, so one key's requests keep their order (a
 * pipelined get after a set sees the set).
 *
 * Keys share SLOTS counters by hash: two keys in one slot merely share a
 * connection while either has requests outstanding. A connection releases a
 * request's slot when the request leaves its queue (answered or failed).
 */
import { fnv1a32 } from '@cleave/core';

const SLOTS = 4096;

/** Outstanding requests per slot, and the connection the slot's requests are on. Shared with the connections, which release. */
export class KeySlots {
  readonly pending = new Uint32Array(SLOTS);
  readonly conn = new Uint16Array(SLOTS);

  /** A request in `slot` was queued on connection `conn`. */
  take(slot: number, conn: number): void {
    this.conn[slot] = conn;
    this.pending[slot]!++;
  }

  /** A request in `slot` has left its connection's queue. */
  release(slot: number): void {
    if (slot >= 0 && this.pending[slot]! > 0) this.pending[slot]!--;
  }
}

/** Something with requests outstanding. */
export interface Outstanding {
  readonly inFlight: number;
}

/** The slot of `key`. */
export function keySlot(key: Buffer): number {
  return fnv1a32(key) & (SLOTS - 1);
}

/**
 * The connection for a request in `slot`: its slot's connection while the
 * slot has requests outstanding, else the least loaded (the first of equals).
 */
export function pickConnection(slots: KeySlots, conns: readonly Outstanding[], slot: number): number {
  if (slots.pending[slot]! > 0) return slots.conn[slot]!;
  let i = 0;
  let least = conns[0]!.inFlight;
  for (let j = 1; j < conns.length && least > 0; j++) {
    const n = conns[j]!.inFlight;
    if (n < least) {
      least = n;
      i = j;
    }
  }
  return i;
}
