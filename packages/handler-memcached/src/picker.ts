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

/** A connection as the picker sees it. */
export interface Outstanding {
  /** Requests written or queued and not yet answered. */
  readonly inFlight: number;
  /** Connected and answering (not connecting, nor backing off after a failure). */
  readonly ready: boolean;
}

/** The slot of `key`. */
export function keySlot(key: Buffer): number {
  return fnv1a32(key) & (SLOTS - 1);
}

/**
 * The connection for a request in `slot`: its slot's connection while the
 * slot has requests outstanding, else the least loaded of the ready ones (the
 * first of equals). A connection that is not ready (opening, or backing off
 * after a failure, when it refuses at once) is picked only when none is.
 */
export function pickConnection(slots: KeySlots, conns: readonly Outstanding[], slot: number): number {
  if (slots.pending[slot]! > 0) return slots.conn[slot]!;
  let i = -1;
  let least = 0;
  for (let j = 0; j < conns.length; j++) {
    const c = conns[j]!;
    if (!c.ready) continue;
    const n = c.inFlight;
    if (i < 0 || n < least) {
      least = n;
      i = j;
      if (n === 0) break;
    }
  }
  return i >= 0 ? i : 0;
}
