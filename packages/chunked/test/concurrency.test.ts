import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type {
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { ChunkedHandler, chunkKeysOf, parseChunkedHeader } from '../src/index.js';
import { Delayed, Forwarding, Recording, checkValue, isItem, makeValue, memInner, randomBytes, rng } from './helpers.js';

/** Sizes that cross chunk boundaries, including values small enough to be stored plain. */
function sizeFor(r: () => number, cs: number): number {
  const pick = r();
  if (pick < 0.2) return 12 + Math.floor(r() * (cs - 12)); // plain
  const chunks = 1 + Math.floor(r() * 12);
  const edge = [-1, 0, 1][Math.floor(r() * 3)]!;
  return Math.max(12, chunks * cs + edge + (pick > 0.8 ? Math.floor(r() * cs) : 0));
}

const key = (k: string) => Buffer.from(k);

/**
 * Several ChunkedHandlers over one store, as several cleave processes in front
 * of one memcached: one handler keeps its own calls on a key in order, so
 * races between writers and readers come from different handlers.
 */
class Proxies {
  readonly all: ChunkedHandler[];
  constructor(inner: Handler, n: number, options: ConstructorParameters<typeof ChunkedHandler>[1]) {
    this.all = Array.from({ length: n }, () => new ChunkedHandler(inner, options));
  }
  at(i: number): ChunkedHandler {
    return this.all[i % this.all.length]!;
  }
  stat(name: string): number {
    return this.all.reduce((sum, h) => sum + Number((h.stats('') as StatsGroup)[name]), 0);
  }
  async idle(): Promise<void> {
    for (const h of this.all) await h.idle();
  }
}

/** Everything the inner store still holds must be one of the keys or a chunk its metadata names. */
async function expectNoOrphans(h: { idle(): Promise<void> }, rec: Recording, keys: string | string[]): Promise<void> {
  await h.idle();
  const live = await rec.live();
  const expected = new Set<string>();
  for (const k of typeof keys === 'string' ? [keys] : keys) {
    const meta = await rec.inner.get({ key: key(k), noBump: true });
    if (meta === undefined) continue;
    expected.add(k);
    const hdr = parseChunkedHeader(meta.value);
    if (hdr !== undefined) for (const c of chunkKeysOf(meta.key, hdr)) expected.add(c.toString('latin1'));
  }
  expect(live).toEqual([...expected].sort());
}

describe('ChunkedHandler under concurrent writers and readers', () => {
  it('every read returns one complete written value, never torn, never a miss (random delays, 4 writers, 4 readers)', async () => {
    const CS = 1000;
    const rec = new Recording(memInner());
    const inner = new Delayed(rec, 12345, 3);
    const px = new Proxies(inner, 8, { chunkSize: CS });
    const started = new Map<number, number>();
    const k = 'hot';
    await px.at(0).store({ mode: 'set', key: key(k), value: makeValue(0, 0, 5 * CS), flags: 0, exptime: 0 });
    started.set(0, 0);

    const WRITERS = 4;
    const WRITES = 40;
    let writing = WRITERS;
    const problems: string[] = [];
    let reads = 0;

    const writer = async (id: number) => {
      const r = rng(id);
      for (let seq = 1; seq <= WRITES; seq++) {
        started.set(id, seq);
        const out = await px.at(id).store({ mode: 'set', key: key(k), value: makeValue(id, seq, sizeFor(r, CS)), flags: id, exptime: 0 });
        if (!isItem(out)) problems.push(`writer ${id} seq ${seq}: ${String(out)}`);
      }
      writing--;
    };
    const check = (got: ItemView | undefined, how: string) => {
      reads++;
      if (got === undefined) return problems.push(`${how}: miss`);
      const c = checkValue(got.value);
      if (typeof c === 'string') return problems.push(`${how}: ${c}`);
      // Only values a writer has begun to write can be read, with that writer's flags.
      if ((started.get(c.writer) ?? -1) < c.seq) problems.push(`${how}: value ${c.writer}/${c.seq} read before it was written`);
      if (got.flags !== c.writer) problems.push(`${how}: flags ${got.flags} on writer ${c.writer}'s value`);
    };
    const reader = async (id: number) => {
      const h = px.at(WRITERS + id);
      while (writing > 0) {
        const mode = id % 3;
        if (mode === 0) check(await h.get({ key: key(k) }), 'get');
        else if (mode === 1) check((await h.getMany([{ key: key(k) }, { key: key(k) }]))[1], 'getMany');
        else check(await h.get({ key: key(k), touch: 1000 }), 'gat');
      }
    };
    await Promise.all([...Array.from({ length: WRITERS }, (_, i) => writer(i + 1)), ...Array.from({ length: 4 }, (_, i) => reader(i))]);
    expect(problems).toEqual([]);
    expect(reads).toBeGreaterThan(100);
    // The run did race: readers had to follow a newer version, writers lost CAS switches.
    expect(px.stat('chunked_read_retries')).toBeGreaterThan(0);
    expect(px.stat('chunked_write_retries')).toBeGreaterThan(0);
    expect(px.stat('chunked_lost')).toBe(0);
    // The last value standing is one writer's last write.
    const final = checkValue((await px.at(0).get({ key: key(k) }))!.value);
    expect(typeof final === 'object' && final.seq).toBe(WRITES);
    await expectNoOrphans(px, rec, k);
  });

  it('fast-check schedules every inner call: readers see only complete written values, and no orphan chunks remain', async () => {
    const CS = 16;
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.array(fc.array(fc.integer({ min: 12, max: 5 * CS + 1 }), { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 3 }),
        fc.integer({ min: 1, max: 3 }),
        async (s, plan, readers) => {
          const rec = new Recording(memInner());
          const px = new Proxies(new Scheduled(rec, s), 6, { chunkSize: CS, maxItemSize: 64 * 1024 });
          const k = key('k');
          const first = makeValue(0, 0, 3 * CS);
          await s.waitFor(Promise.resolve(px.at(0).store({ mode: 'set', key: k, value: first, flags: 0, exptime: 0 })));
          const problems: string[] = [];
          let writing = plan.length;
          const writers = plan.map(async (sizes, w) => {
            for (let i = 0; i < sizes.length; i++) {
              const out = await px.at(w).store({ mode: 'set', key: k, value: makeValue(w + 1, i + 1, sizes[i]!), flags: 0, exptime: 0 });
              if (!isItem(out)) problems.push(`store: ${String(out)}`);
            }
            writing--;
          });
          const reads = Array.from({ length: readers }, async (_, i) => {
            do {
              const got = await px.at(3 + i).get({ key: k });
              if (got === undefined) problems.push('miss');
              else if (typeof checkValue(got.value) === 'string') problems.push(String(checkValue(got.value)));
            } while (writing > 0);
          });
          await s.waitFor(Promise.all([...writers, ...reads]));
          const idle = px.idle();
          await s.waitIdle();
          await idle;
          expect(problems).toEqual([]);
          await expectNoOrphans(px, rec, 'k');
        },
      ),
      { numRuns: 150 },
    );
  });

  it('concurrent appends and prepends each land exactly once, on small and chunked values', async () => {
    for (const initial of [Buffer.from('start'), makeValue(9, 9, 2500)]) {
      const rec = new Recording(memInner());
      const px = new Proxies(new Delayed(rec, 99, 2), 5, { chunkSize: 500 });
      const k = key('log');
      await px.at(0).store({ mode: 'set', key: k, value: initial, flags: 7, exptime: 0 });
      const N = 5;
      const EACH = 25;
      await Promise.all(
        Array.from({ length: N }, async (_, w) => {
          for (let i = 0; i < EACH; i++) {
            const rec = Buffer.from(`<${w}:${String(i).padStart(2, '0')}${'.'.repeat(40)}>`);
            const out = await px.at(w).store({ mode: w % 2 === 0 ? 'append' : 'prepend', key: k, value: rec, flags: 0, exptime: 0 });
            expect(isItem(out)).toBe(true);
          }
        }),
      );
      const got = (await px.at(0).get({ key: k }))!;
      expect(got.flags).toBe(7);
      const at = got.value.indexOf(initial);
      expect(at).toBeGreaterThanOrEqual(0);
      const text = got.value.subarray(0, at).toString('latin1') + got.value.subarray(at + initial.length).toString('latin1');
      const records = text.match(/<\d:\d\d\.+>/g) ?? [];
      expect(records.join('')).toBe(text);
      expect(records).toHaveLength(N * EACH);
      for (let w = 0; w < N; w++) {
        const mine = records.filter((r) => r.startsWith(`<${w}:`)).map((r) => Number(r.slice(3, 5)));
        // Appends come out in order after the initial value; prepends in reverse order before it.
        const before = got.value.subarray(0, at).toString('latin1');
        expect(mine.sort((a, b) => a - b)).toEqual(Array.from({ length: EACH }, (_, i) => i));
        if (w % 2 === 1) expect(before.includes(`<${w}:`)).toBe(true);
        else expect(before.includes(`<${w}:`)).toBe(false);
      }
      expect(px.stat('chunked_write_retries')).toBeGreaterThan(0);
      await expectNoOrphans(px, rec, 'log');
    }
  });

  it('concurrent gets-then-cas increments of a chunked counter lose no update', async () => {
    const rec = new Recording(memInner());
    const px = new Proxies(new Delayed(rec, 7, 2), 5, { chunkSize: 300 });
    const k = key('ctr');
    const encode = (n: number) => Buffer.concat([Buffer.from(String(n).padStart(10, '0')), Buffer.alloc(1000 + (n % 7) * 100, n & 0xff)]);
    await px.at(0).store({ mode: 'set', key: k, value: encode(0), flags: 0, exptime: 0 });
    const WORKERS = 5;
    const EACH = 12;
    let conflicts = 0;
    await Promise.all(
      Array.from({ length: WORKERS }, async (_, w) => {
        const h = px.at(w);
        for (let i = 0; i < EACH; i++) {
          for (;;) {
            const cur = (await h.get({ key: k }))!;
            const n = Number(cur.value.subarray(0, 10).toString());
            expect(cur.value.equals(encode(n))).toBe(true);
            const out = await h.store({ mode: 'set', key: k, value: encode(n + 1), flags: 0, exptime: 0, compareCas: cur.cas });
            if (isItem(out)) break;
            expect(out).toBe('EXISTS');
            conflicts++;
          }
        }
      }),
    );
    const final = (await px.at(0).get({ key: k }))!;
    expect(Number(final.value.subarray(0, 10).toString())).toBe(WORKERS * EACH);
    expect(conflicts).toBeGreaterThan(0);
    await expectNoOrphans(px, rec, 'ctr');
  });

  it('readers racing deletes and sets see a miss or a complete value, never a torn one', async () => {
    const rec = new Recording(memInner());
    const px = new Proxies(new Delayed(rec, 4242, 2), 4, { chunkSize: 700 });
    const h = px.at(0);
    const k = key('churn');
    let running = true;
    const problems: string[] = [];
    const ops = (async () => {
      const r = rng(5);
      for (let i = 1; i <= 80; i++) {
        const x = r();
        if (x < 0.25) await h.delete({ key: k });
        else if (x < 0.4) await h.store({ mode: 'add', key: k, value: makeValue(1, i, sizeFor(r, 700)), flags: 0, exptime: 0 });
        else await h.store({ mode: 'set', key: k, value: makeValue(1, i, sizeFor(r, 700)), flags: 0, exptime: 0 });
      }
      running = false;
    })();
    const readers = Array.from({ length: 3 }, async (_, i) => {
      while (running) {
        const got = await px.at(1 + i).get({ key: k });
        if (got !== undefined && typeof checkValue(got.value) === 'string') problems.push(String(checkValue(got.value)));
      }
    });
    await Promise.all([ops, ...readers]);
    expect(problems).toEqual([]);
    expect(px.stat('chunked_lost')).toBe(0);
    await expectNoOrphans(px, rec, 'churn');
  });
});

type Op =
  | { kind: 'set' | 'add' | 'replace' | 'append' | 'prepend'; key: string; size: number; flags: number }
  | { kind: 'get' | 'gat' | 'delete' | 'incr' | 'touch' | 'getMany' | 'counter' | 'flush'; key: string };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('set', 'add', 'replace', 'append', 'prepend'),
    key: fc.constantFrom('a', 'b'),
    size: fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 600 })),
    flags: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({
    kind: fc.constantFrom('get', 'gat', 'delete', 'incr', 'touch', 'getMany', 'counter', 'flush'),
    key: fc.constantFrom('a', 'b'),
  }),
);

/** Run one op; its answer as comparable text (CAS uniques left out: they depend on timing across keys). */
function apply(h: ChunkedHandler, op: Op, i: number): Promise<string> {
  const k = Buffer.from(op.key);
  const item = (it: ItemView | undefined) => (it === undefined ? 'miss' : `${it.value.toString('hex')}/${it.flags}`);
  const outcome = (r: StoreOutcome | ArithmeticOutcome | string) => (typeof r === 'string' ? r : item(r));
  let r: MaybePromise<unknown>;
  let show: (x: never) => string;
  switch (op.kind) {
    case 'get':
      [r, show] = [h.get({ key: k }), item];
      break;
    case 'gat':
      [r, show] = [h.get({ key: k, touch: 1000 }), item];
      break;
    case 'getMany':
      [r, show] = [
        h.getMany([{ key: Buffer.from('a') }, { key: k }, { key: Buffer.from('b') }]),
        (xs: (ItemView | undefined)[]) => xs.map(item).join(','),
      ];
      break;
    case 'delete':
      [r, show] = [h.delete({ key: k }), String];
      break;
    case 'incr':
      [r, show] = [h.arithmetic({ key: k, incr: true, delta: 3n }), outcome];
      break;
    case 'touch':
      [r, show] = [h.touch({ key: k, exptime: 1000 }), String];
      break;
    case 'counter':
      [r, show] = [h.store({ mode: 'set', key: k, value: Buffer.from(String(i)), flags: 0, exptime: 0 }), outcome];
      break;
    case 'flush':
      [r, show] = [h.flush(0), () => 'flushed'];
      break;
    default:
      [r, show] = [h.store({ mode: op.kind, key: k, value: randomBytes(op.size, rng(i + 1)), flags: op.flags, exptime: 0 }), outcome];
  }
  return Promise.resolve(r).then(
    (x) => (show as (x: unknown) => string)(x),
    (e: unknown) => `error ${String(e)}`,
  );
}

describe('one ChunkedHandler applies the commands it receives for a key in call order', () => {
  it('commands issued without waiting (a pipeline, delayed inner store) answer exactly as the same commands run one by one', async () => {
    const CS = 64;
    const opts = { chunkSize: CS, maxItemSize: 64 * 1024 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 1_000_000 }), async (ops, seed) => {
        const one = new ChunkedHandler(memInner(), opts);
        const want: string[] = [];
        for (let i = 0; i < ops.length; i++) want.push(await apply(one, ops[i]!, i));
        const rec = new Recording(memInner());
        const piped = new ChunkedHandler(new Delayed(rec, seed, 2), opts);
        const got = await Promise.all(ops.map((op, i) => apply(piped, op, i)));
        expect(got).toEqual(want);
        await expectNoOrphans(piped, rec, ['a', 'b']);
      }),
      { numRuns: 60 },
    );
  });

  it('a get pipelined after a large set sees it, one before it does not; a get after a delete misses (synchronous inner store)', async () => {
    const h = new ChunkedHandler(memInner(), { chunkSize: 100, maxItemSize: 1 << 20 });
    const k = Buffer.from('k');
    const old = randomBytes(1000, rng(1));
    const neu = randomBytes(2000, rng(2));
    await h.store({ mode: 'set', key: k, value: old, flags: 0, exptime: 0 });
    const before = h.get({ key: k });
    const set = h.store({ mode: 'set', key: k, value: neu, flags: 0, exptime: 0 });
    const after = h.get({ key: k });
    const del = h.delete({ key: k });
    const gone = h.get({ key: k });
    expect((await before)!.value.equals(old)).toBe(true);
    expect(isItem(await set)).toBe(true);
    expect((await after)!.value.equals(neu)).toBe(true);
    expect(await del).toBe('DELETED');
    expect(await gone).toBeUndefined();
    // Once nothing is in progress, small values over a synchronous store answer without a Promise again.
    const small = h.store({ mode: 'set', key: k, value: Buffer.from('x'), flags: 0, exptime: 0 });
    expect(small).not.toBeInstanceOf(Promise);
    expect(h.get({ key: k })).not.toBeInstanceOf(Promise);
    expect(h.arithmetic({ key: k, incr: true, delta: 1n })).not.toBeInstanceOf(Promise);
  });
});

/** Every inner call is a task the fast-check scheduler releases: once to take effect, once to answer. */
class Scheduled extends Forwarding {
  constructor(
    inner: Handler,
    private readonly s: fc.Scheduler,
  ) {
    super(inner);
  }
  private run<T>(label: string, f: () => MaybePromise<T>): Promise<T> {
    return this.s
      .schedule(Promise.resolve(), label)
      .then(f)
      .then((r) => this.s.schedule(Promise.resolve(r), `${label} answer`));
  }
  override get(cmd: GetCommand): Promise<ItemView | undefined> {
    return this.run(`get ${cmd.key.toString('latin1')}`, () => this.inner.get(cmd));
  }
  override store(cmd: StoreCommand): Promise<StoreOutcome> {
    return this.run(`store ${cmd.key.toString('latin1')}`, () => this.inner.store(cmd));
  }
  override delete(cmd: DeleteCommand): Promise<DeleteOutcome> {
    return this.run(`delete ${cmd.key.toString('latin1')}`, () => this.inner.delete(cmd));
  }
  override touch(cmd: TouchCommand): Promise<TouchOutcome> {
    return this.run(`touch ${cmd.key.toString('latin1')}`, () => this.inner.touch(cmd));
  }
}
