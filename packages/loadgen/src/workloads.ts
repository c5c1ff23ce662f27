/**
 * Workloads: what each connection sends next. `next` fills the command,
 * key family, key and value length of a ring slot; the engine assigns
 * generations, CAS and sequence numbers and writes the bytes.
 */
import {
  ADD,
  APPEND,
  APPENDABLE,
  CAS,
  COUNTER,
  DECR,
  DELETE,
  GAT,
  GET,
  GETS,
  INCR,
  ITEM,
  PREPEND,
  REPLACE,
  SET,
  TOUCH,
} from './commands.js';
import type { Op } from './op.js';
import type { Rng } from './rng.js';
import type { Sizer } from './sizes.js';

/** The connection asking: `slot` is stable (0..conns-1), `id` changes when it reconnects. */
export interface ConnInfo {
  readonly slot: number;
  readonly id: number;
}

/** How a request ended. */
export const HIT = 0;
export const MISS = 1;
export const FAILED = 2;

export interface Workload {
  readonly name: string;
  /** Fill `op` with the next request for `conn`; false when this connection has nothing more to send. */
  next(conn: ConnInfo, op: Op): boolean;
  /** Told of every completed request. */
  done?(conn: ConnInfo, op: Op, outcome: number): void;
}

/** Keys owned by one connection slot: slot, slot + conns, slot + 2 conns, ... */
function partitionKey(rng: Rng, keys: number, conns: number, slot: number): number {
  const n = Math.floor((keys - 1 - slot) / conns) + 1;
  return slot + conns * rng.below(n);
}

// ---------------------------------------------------------------------------

interface Choice {
  cmd: number;
  family: number;
  weight: number;
}

/**
 * Every storage command at random. Items take get/gets/gat/set/add/replace/
 * cas/delete/touch; counters incr/decr (a counter that is missing is set to
 * a number next); appendables append/prepend (missing ones are set next) —
 * kept apart so item values stay self-describing and counters numeric.
 */
const BLAST: Choice[] = [
  { cmd: GET, family: ITEM, weight: 20 },
  { cmd: GETS, family: ITEM, weight: 6 },
  { cmd: GAT, family: ITEM, weight: 4 },
  { cmd: SET, family: ITEM, weight: 14 },
  { cmd: ADD, family: ITEM, weight: 4 },
  { cmd: REPLACE, family: ITEM, weight: 4 },
  { cmd: CAS, family: ITEM, weight: 5 },
  { cmd: DELETE, family: ITEM, weight: 4 },
  { cmd: TOUCH, family: ITEM, weight: 4 },
  { cmd: INCR, family: COUNTER, weight: 5 },
  { cmd: DECR, family: COUNTER, weight: 4 },
  { cmd: APPEND, family: APPENDABLE, weight: 4 },
  { cmd: PREPEND, family: APPENDABLE, weight: 4 },
  { cmd: GET, family: APPENDABLE, weight: 2 },
  { cmd: SET, family: APPENDABLE, weight: 1 },
];

export class BlastWorkload implements Workload {
  readonly name = 'blast';
  private readonly table: Uint8Array;
  /** Per slot: keys to (re)create before anything else, as family * 2^32 + key. */
  private readonly repairs: number[][];

  constructor(
    private readonly keys: number,
    conns: number,
    private readonly sizer: Sizer,
    private readonly rng: Rng,
  ) {
    // A 1024-entry lookup table of choices, so a pick is one random index.
    const total = BLAST.reduce((a, c) => a + c.weight, 0);
    this.table = new Uint8Array(1024);
    let i = 0;
    BLAST.forEach((c, idx) => {
      const n = idx === BLAST.length - 1 ? 1024 - i : Math.round((c.weight / total) * 1024);
      this.table.fill(idx, i, i + n);
      i += n;
    });
    this.repairs = Array.from({ length: conns }, () => []);
  }

  next(conn: ConnInfo, op: Op): boolean {
    const rng = this.rng;
    const repairs = this.repairs[conn.slot]!;
    if (repairs.length > 0) {
      const r = repairs.pop()!;
      op.family = Math.floor(r / 4294967296);
      op.key = r % 4294967296;
      op.cmd = SET;
      this.size(op);
      return true;
    }
    const c = BLAST[this.table[rng.u32() & 1023]!]!;
    op.cmd = c.cmd;
    op.family = c.family;
    op.key = rng.below(this.keys);
    this.size(op);
    return true;
  }

  private size(op: Op): void {
    switch (op.family) {
      case COUNTER:
        op.num = this.rng.below(1_000_000);
        break;
      case APPENDABLE:
        op.len = op.cmd === SET ? 1 + this.rng.below(64) : 1 + this.rng.below(32);
        break;
      default:
        op.len = this.sizer.next();
    }
  }

  done(conn: ConnInfo, op: Op, outcome: number): void {
    if (outcome !== MISS) return;
    const repairs = this.repairs[conn.slot]!;
    if (repairs.length >= 64) return;
    if ((op.cmd === INCR || op.cmd === DECR) && op.family === COUNTER) repairs.push(COUNTER * 4294967296 + op.key);
    else if ((op.cmd === APPEND || op.cmd === PREPEND) && op.family === APPENDABLE) repairs.push(APPENDABLE * 4294967296 + op.key);
  }
}

// ---------------------------------------------------------------------------

/**
 * Set a key, then get it back, on the same connection. Each connection
 * writes only its own keys, so the get must return exactly what the set
 * stored (or miss, if the item was evicted).
 */
export class SetGetWorkload implements Workload {
  readonly name = 'setget';
  private readonly pending: Int32Array;

  constructor(
    private readonly keys: number,
    private readonly conns: number,
    private readonly sizer: Sizer,
    private readonly rng: Rng,
  ) {
    this.pending = new Int32Array(conns).fill(-1);
  }

  next(conn: ConnInfo, op: Op): boolean {
    op.family = ITEM;
    const p = this.pending[conn.slot]!;
    if (p >= 0) {
      op.cmd = GET;
      op.key = p;
      op.len = 0;
      this.pending[conn.slot] = -1;
      return true;
    }
    op.cmd = SET;
    op.key = partitionKey(this.rng, this.keys, this.conns, conn.slot);
    op.len = this.sizer.next();
    this.pending[conn.slot] = op.key;
    return true;
  }
}

/**
 * Every value size from `min` to `max` in steps of `step`, each set and then
 * read back on the same connection (keys owned per connection, as setget).
 * Ends after the largest size.
 */
export class SizesWorkload implements Workload {
  readonly name = 'sizes';
  private cursor: number;
  private readonly pending: Int32Array;
  private readonly turn: Int32Array;

  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly step: number,
    private readonly keys: number,
    private readonly conns: number,
  ) {
    this.cursor = min;
    this.pending = new Int32Array(conns).fill(-1);
    this.turn = new Int32Array(conns);
  }

  /** How many sizes a full pass sends. */
  get total(): number {
    return Math.floor((this.max - this.min) / this.step) + 1;
  }

  next(conn: ConnInfo, op: Op): boolean {
    op.family = ITEM;
    const p = this.pending[conn.slot]!;
    if (p >= 0) {
      op.cmd = GET;
      op.key = p;
      op.len = 0;
      this.pending[conn.slot] = -1;
      return true;
    }
    if (this.cursor > this.max) return false;
    op.cmd = SET;
    op.len = this.cursor;
    this.cursor += this.step;
    // Rotate through this connection's keys.
    const slot = conn.slot;
    const perSlot = Math.floor((this.keys - 1 - slot) / this.conns) + 1;
    op.key = slot + this.conns * (this.turn[slot]! % perSlot);
    this.turn[slot]!++;
    this.pending[slot] = op.key;
    return true;
  }
}

/** Sets only, walking the key space in order (and around again): set rate and eviction. */
export class FillWorkload implements Workload {
  private cursor = 0;

  constructor(
    private readonly keys: number,
    private readonly sizer: Sizer,
    /** Stop after one pass over the key space (prepopulation). */
    private readonly once = false,
    readonly name = 'fill',
  ) {}

  next(_conn: ConnInfo, op: Op): boolean {
    if (this.cursor >= this.keys) {
      if (this.once) return false;
      this.cursor = 0;
    }
    op.cmd = SET;
    op.family = ITEM;
    op.key = this.cursor++;
    op.len = this.sizer.next();
    return true;
  }
}

/** Gets with probability `ratio`, else sets, on keys drawn uniformly from the key space. */
export class MixWorkload implements Workload {
  readonly name = 'mix';

  constructor(
    private readonly keys: number,
    private readonly ratio: number,
    private readonly sizer: Sizer,
    private readonly rng: Rng,
  ) {}

  next(_conn: ConnInfo, op: Op): boolean {
    const rng = this.rng;
    op.family = ITEM;
    op.key = rng.below(this.keys);
    if (rng.float() < this.ratio) {
      op.cmd = GET;
      op.len = 0;
    } else {
      op.cmd = SET;
      op.len = this.sizer.next();
    }
    return true;
  }
}
