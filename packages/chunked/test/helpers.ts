import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreMode,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { InMemoryHandler, type InMemoryHandlerOptions } from '@cleave/handler-inmem';

/** A clock tests move by hand (milliseconds), well past 30 days after the epoch. */
export { FakeClock } from '@cleave/testkit';

/** An in-memory inner store roomy enough for the tests' large values, with memcached's 1 MiB item limit. */
export function memInner(options: InMemoryHandlerOptions = {}): InMemoryHandler {
  return new InMemoryHandler({ sweepIntervalMs: 0, maxBytes: 1024 * 1024 * 1024, ...options });
}

/** A small deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(n: number, rand: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE((rand() * 4294967296) >>> 0, i);
  for (; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/** A Buffer as a request carries it: a view into a larger buffer. */
export function view(src: Buffer | string): Buffer {
  const s = typeof src === 'string' ? Buffer.from(src, 'latin1') : src;
  const backing = Buffer.alloc(s.length + 16, 0x23);
  s.copy(backing, 8);
  return backing.subarray(8, 8 + s.length);
}

export interface StoreOpts {
  flags?: number;
  exptime?: number;
  compareCas?: bigint;
  invalidate?: boolean;
  /** As the parsers set it for text set, binary Set and every meta ms. */
  unlinkOnFailure?: boolean;
}

export function storeCmd(mode: StoreMode, key: string, value: Buffer | string, o: StoreOpts = {}): StoreCommand {
  return {
    mode,
    key: view(key),
    value: view(value),
    flags: o.flags ?? 0,
    exptime: o.exptime ?? 0,
    compareCas: o.compareCas,
    invalidate: o.invalidate,
    unlinkOnFailure: o.unlinkOnFailure,
  };
}

/**
 * Forwards every call to `inner`, optionally after hooks: the base for the
 * delaying, failing and recording wrappers below.
 */
export class Forwarding implements Handler {
  constructor(readonly inner: Handler) {}
  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.inner.get(cmd);
  }
  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.inner.store(cmd);
  }
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.inner.delete(cmd);
  }
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.inner.arithmetic(cmd);
  }
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.inner.touch(cmd);
  }
  flush(delay: number): MaybePromise<void> {
    return this.inner.flush(delay);
  }
  stats(group: string): MaybePromise<StatsGroup | undefined> {
    return this.inner.stats?.(group);
  }
  close(): MaybePromise<void> {
    return this.inner.close();
  }
}

/** Remembers every key ever stored, so tests can list what is left in the inner store. */
export class Recording extends Forwarding {
  readonly keys = new Set<string>();
  readonly storeCalls: StoreCommand[] = [];
  override store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    this.keys.add(cmd.key.toString('latin1'));
    this.storeCalls.push(cmd);
    return this.inner.store(cmd);
  }
  override get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    if (cmd.vivify !== undefined) this.keys.add(cmd.key.toString('latin1'));
    return this.inner.get(cmd);
  }
  override arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    this.keys.add(cmd.key.toString('latin1'));
    return this.inner.arithmetic(cmd);
  }
  /** Keys that still hold a live item, read without bumping. */
  async live(): Promise<string[]> {
    const out: string[] = [];
    for (const k of this.keys) {
      if ((await this.inner.get({ key: Buffer.from(k, 'latin1'), noBump: true })) !== undefined) out.push(k);
    }
    return out.sort();
  }
}

/**
 * Answers every call asynchronously after a random delay (the effect lands
 * after a first delay, the answer after a second), so concurrent commands
 * through a ChunkedHandler interleave.
 */
export class Delayed extends Forwarding {
  private readonly rand: () => number;
  constructor(
    inner: Handler,
    seed: number,
    private readonly maxDelayMs = 2,
  ) {
    super(inner);
    this.rand = rng(seed);
  }
  private pause(): Promise<void> {
    const ms = this.rand() * this.maxDelayMs;
    // Some calls only yield to the microtask queue: interleavings at every granularity.
    if (ms < this.maxDelayMs / 4) return Promise.resolve();
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  private async later<T>(f: () => MaybePromise<T>): Promise<T> {
    await this.pause();
    const r = await f();
    await this.pause();
    return r;
  }
  override get(cmd: GetCommand): Promise<ItemView | undefined> {
    return this.later(() => this.inner.get(cmd));
  }
  getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    // One batch, like a pipelined multi-get: each key is read at its own moment.
    return Promise.all(cmds.map((c) => this.get(c)));
  }
  override store(cmd: StoreCommand): Promise<StoreOutcome> {
    return this.later(() => this.inner.store(cmd));
  }
  override delete(cmd: DeleteCommand): Promise<DeleteOutcome> {
    return this.later(() => this.inner.delete(cmd));
  }
  override arithmetic(cmd: ArithmeticCommand): Promise<ArithmeticOutcome> {
    return this.later(() => this.inner.arithmetic(cmd));
  }
  override touch(cmd: TouchCommand): Promise<TouchOutcome> {
    return this.later(() => this.inner.touch(cmd));
  }
}

/** Fails the stores `fail` picks: by throwing, by rejecting, or with an outcome. */
export class Faulty extends Forwarding {
  constructor(
    inner: Handler,
    private readonly fail: (cmd: StoreCommand, n: number) => 'throw' | 'reject' | StoreOutcome | undefined,
  ) {
    super(inner);
  }
  private n = 0;
  override store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const f = this.fail(cmd, this.n++);
    if (f === 'throw') throw new Error('injected store failure');
    if (f === 'reject') return Promise.reject(new Error('injected store failure'));
    if (f !== undefined) return f;
    return this.inner.store(cmd);
  }
}

export function isItem(r: unknown): r is ItemView {
  return typeof r === 'object' && r !== null && 'value' in r;
}

/**
 * A value that names its writer and sequence number and whose other bytes
 * follow from them, so a reader can tell a complete written value from a
 * torn one: [writer u32][seq u32][length u32][bytes from a PRNG seeded by writer and seq].
 */
export function makeValue(writer: number, seq: number, length: number): Buffer {
  const body = randomBytes(length - 12, rng(writer * 100_003 + seq));
  const v = Buffer.allocUnsafe(length);
  v.writeUInt32BE(writer, 0);
  v.writeUInt32BE(seq, 4);
  v.writeUInt32BE(length, 8);
  body.copy(v, 12);
  return v;
}

/** The writer and seq of a complete value, or why it is not one. */
export function checkValue(v: Buffer): { writer: number; seq: number } | string {
  if (v.length < 12) return `value of ${v.length} bytes is too short to be a written value`;
  const writer = v.readUInt32BE(0);
  const seq = v.readUInt32BE(4);
  if (v.readUInt32BE(8) !== v.length) return `length field ${v.readUInt32BE(8)} != ${v.length} (torn)`;
  if (!makeValue(writer, seq, v.length).equals(v)) return `bytes of writer ${writer} seq ${seq} differ (torn)`;
  return { writer, seq };
}
