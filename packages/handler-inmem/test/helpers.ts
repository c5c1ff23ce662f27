import type { ArithmeticOutcome, ItemView, StoreCommand, StoreMode, StoreOutcome } from '@cleave/protocol';
import { FakeClock } from '@cleave/testkit';
import { InMemoryHandler, type InMemoryHandlerOptions } from '../src/index.js';

/** A clock tests move by hand (shared with the reference model in the test kit). */
export { FakeClock };

export function makeHandler(options: InMemoryHandlerOptions = {}): { h: InMemoryHandler; clock: FakeClock } {
  const clock = new FakeClock();
  const h = new InMemoryHandler({ sweepIntervalMs: 0, clock: clock.now, ...options });
  return { h, clock };
}

/** A Buffer as a request would carry it: a view into a larger read buffer, not a standalone allocation. */
export function b(s: string | Buffer): Buffer {
  const src = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const backing = Buffer.alloc(src.length + 16, 0x23);
  src.copy(backing, 8);
  return backing.subarray(8, 8 + src.length);
}

export interface StoreOpts {
  flags?: number;
  exptime?: number;
  compareCas?: bigint;
  invalidate?: boolean;
  newCas?: bigint;
  protocol?: 'text' | 'meta' | 'binary';
}

export function store(h: InMemoryHandler, mode: StoreMode, key: string, value: string | Buffer, o: StoreOpts = {}): StoreOutcome {
  const cmd: StoreCommand & { protocol?: string } = {
    mode,
    key: b(key),
    value: b(value),
    flags: o.flags ?? 0,
    exptime: o.exptime ?? 0,
    ...(o.compareCas !== undefined ? { compareCas: o.compareCas } : {}),
    ...(o.invalidate !== undefined ? { invalidate: o.invalidate } : {}),
    ...(o.newCas !== undefined ? { newCas: o.newCas } : {}),
    ...(o.protocol !== undefined ? { protocol: o.protocol } : {}),
  };
  return h.store(cmd);
}

export function set(h: InMemoryHandler, key: string, value: string | Buffer, o: StoreOpts = {}): ItemView {
  const r = store(h, 'set', key, value, o);
  if (typeof r === 'string') throw new Error(`set ${key} failed: ${r}`);
  return r;
}

export function get(h: InMemoryHandler, key: string): ItemView | undefined {
  return h.get({ key: b(key) }) as ItemView | undefined;
}

/** The value of a key as a Latin-1 string, or undefined on a miss. */
export function val(h: InMemoryHandler, key: string): string | undefined {
  return get(h, key)?.value.toString('latin1');
}

export function incr(h: InMemoryHandler, key: string, delta: bigint, extra: { incr?: boolean; initial?: bigint; exptime?: number; compareCas?: bigint } = {}): ArithmeticOutcome {
  return h.arithmetic({ key: b(key), incr: extra.incr ?? true, delta, ...extra });
}

export function decr(h: InMemoryHandler, key: string, delta: bigint): ArithmeticOutcome {
  return h.arithmetic({ key: b(key), incr: false, delta });
}

export function stat(h: InMemoryHandler, name: string): number {
  const v = h.stats('')![name];
  if (typeof v !== 'number') throw new Error(`no numeric stat ${name}`);
  return v;
}

export function asItem<T>(r: T | string): T {
  if (typeof r === 'string') throw new Error(`expected an item, got ${r}`);
  return r;
}
