import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITEM_HEADER_BYTES, type ItemView } from '@cleave/protocol';
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { ChunkedHandler, DEFAULT_CHUNK_ITEM_SIZE, CHUNK_KEY_SUFFIX_BYTES } from '../src/index.js';
import { Delayed, checkValue, isItem, makeValue, randomBytes, rng } from './helpers.js';

const MiB = 1024 * 1024;

/** A real memcached with a ChunkedHandler over a MemcachedHandler in front of it. */
interface Backend {
  mc: MemcachedProcess;
  inner: MemcachedHandler;
  h: ChunkedHandler;
  stop(): Promise<void>;
}

async function backend(args: string[], memoryMb: number, opts: ConstructorParameters<typeof ChunkedHandler>[1] = {}): Promise<Backend> {
  const mc = await startMemcached({ args: ['-I', '1m', ...args], memoryMb });
  const inner = new MemcachedHandler({ address: { host: mc.host, port: mc.port }, timeoutMs: 10_000 });
  const h = new ChunkedHandler(inner, opts);
  return {
    mc,
    inner,
    h,
    async stop() {
      await h.close();
      await mc.stop();
    },
  };
}

/** `stats <group>` of the memcached process itself, read over a raw connection. */
async function mcStats(mc: MemcachedProcess, group = ''): Promise<Map<string, string>> {
  const c = await RawClient.connect({ port: mc.port });
  try {
    const out = (await c.request(`stats${group ? ' ' + group : ''}\r\n`, 'END\r\n')).toString('latin1');
    const m = new Map<string, string>();
    for (const line of out.split('\r\n')) {
      const p = line.split(' ');
      if (p[0] === 'STAT') m.set(p[1]!, p[2]!);
    }
    return m;
  } finally {
    c.close();
  }
}

const key = (k: string) => Buffer.from(k);

describe('ChunkedHandler over MemcachedHandler and memcached 1.6 -I 1m', () => {
  let b: Backend;
  beforeAll(async () => {
    b = await backend([], 512);
  });
  afterAll(async () => {
    await b?.stop();
  });

  it('round-trips values from 0 bytes to 16 MiB byte-exact, 16 times the backend item limit', async () => {
    const k = key('roundtrip');
    const cs = b.h.chunkSizeFor(k.length);
    for (const n of [0, 1, cs - 1, cs, cs + 1, 2 * cs + 1, 5 * MiB, 16 * MiB - ITEM_HEADER_BYTES - 4 - k.length]) {
      const v = randomBytes(n, rng(n));
      expect(isItem(await b.h.store({ mode: 'set', key: k, value: v, flags: 0xabcdef01, exptime: 0 }))).toBe(true);
      const got = (await b.h.get({ key: k }))!;
      expect(got.value.length).toBe(n);
      expect(got.value.equals(v)).toBe(true);
      expect(got.flags).toBe(0xabcdef01);
    }
  });

  it('every command works on multi-MiB values: add, replace, cas, append, prepend, incr, touch, gat, delete', async () => {
    const h = b.h;
    const k = key('cmds');
    const a = randomBytes(3 * MiB, rng(1));
    const c = randomBytes(2 * MiB + 5, rng(2));
    expect(isItem(await h.store({ mode: 'add', key: k, value: a, flags: 1, exptime: 0 }))).toBe(true);
    expect(await h.store({ mode: 'add', key: k, value: c, flags: 1, exptime: 0 })).toBe('NOT_STORED');
    expect(await h.store({ mode: 'replace', key: key('cmds-none'), value: c, flags: 1, exptime: 0 })).toBe('NOT_STORED');
    const s1 = (await h.get({ key: k }))!;
    expect(s1.value.equals(a)).toBe(true);
    expect(await h.store({ mode: 'set', key: k, value: c, flags: 2, exptime: 0, compareCas: s1.cas + 1n })).toBe('EXISTS');
    const s2 = (await h.store({ mode: 'set', key: k, value: c, flags: 2, exptime: 0, compareCas: s1.cas })) as ItemView;
    expect(isItem(s2)).toBe(true);
    const g2 = (await h.get({ key: k }))!;
    expect(g2.value.equals(c)).toBe(true);
    expect(g2.cas).toBe(s2.cas);
    expect(isItem(await h.store({ mode: 'replace', key: k, value: a, flags: 3, exptime: 0 }))).toBe(true);
    expect(isItem(await h.store({ mode: 'append', key: k, value: Buffer.from('-tail'), flags: 0, exptime: 0 }))).toBe(true);
    expect(isItem(await h.store({ mode: 'prepend', key: k, value: Buffer.from('head-'), flags: 0, exptime: 0 }))).toBe(true);
    const g3 = (await h.get({ key: k }))!;
    expect(g3.value.equals(Buffer.concat([Buffer.from('head-'), a, Buffer.from('-tail')]))).toBe(true);
    expect(g3.flags).toBe(3);
    expect(await h.arithmetic({ key: k, incr: true, delta: 1n })).toBe('NON_NUMERIC');
    expect(await h.touch({ key: k, exptime: 3600 })).toBe('TOUCHED');
    const g4 = (await h.get({ key: k, touch: 7200 }))!;
    expect(g4.value.equals(g3.value)).toBe(true);
    expect(g4.exptime).toBeGreaterThan(Date.now() / 1000 + 7000);
    expect(await h.delete({ key: k })).toBe('DELETED');
    expect(await h.get({ key: k })).toBeUndefined();
    // Small values and counters are plain memcached items.
    await h.store({ mode: 'set', key: key('ctr'), value: Buffer.from('41'), flags: 0, exptime: 0 });
    expect(((await h.arithmetic({ key: key('ctr'), incr: true, delta: 1n })) as ItemView).value.toString()).toBe('42');
    await h.store({ mode: 'append', key: key('ctr'), value: Buffer.from('0'), flags: 0, exptime: 0 });
    expect((await h.get({ key: key('ctr') }))!.value.toString()).toBe('420');
  });

  it('a key holding a chunked value holds its metadata in memcached: 32 bytes, flags 0; incr on it is refused by memcached', async () => {
    const k = 'rawview';
    await b.h.store({ mode: 'set', key: key(k), value: randomBytes(2 * MiB, rng(3)), flags: 9, exptime: 0 });
    const c = await RawClient.connect({ port: b.mc.port });
    try {
      const out = (await c.request(`mg ${k} s f\r\n`, '\r\n')).toString('latin1');
      expect(out).toBe('HD s32 f0\r\n');
      expect((await c.request(`incr ${k} 1\r\n`, '\r\n')).toString('latin1')).toBe(
        'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
      );
    } finally {
      c.close();
    }
  });
});

describe('ChunkedHandler chunk items on memcached 1.6 slab classes', () => {
  it("a full chunk item is exactly memcached's largest slab class (slab_chunk_max), so memcached never splits it", async () => {
    const b = await backend([], 64);
    try {
      const settings = await mcStats(b.mc, 'settings');
      expect(Number(settings.get('slab_chunk_max'))).toBe(DEFAULT_CHUNK_ITEM_SIZE);
      expect(settings.get('growth_factor')).toBe('1.25');
      const k = key('slabfit');
      const cs = b.h.chunkSizeFor(k.length);
      // The documented figure: 524288 - 59 - (key + 22-byte suffix).
      expect(cs).toBe(524288 - 59 - (k.length + CHUNK_KEY_SUFFIX_BYTES));
      const full = 10;
      await b.h.store({ mode: 'set', key: k, value: randomBytes(full * cs + 1, rng(4)), flags: 7, exptime: 0 });
      const items = await mcStats(b.mc, 'items');
      const slabs = await mcStats(b.mc, 'slabs');
      const top = Number(
        [...slabs.keys()]
          .filter((s) => s.endsWith(':chunk_size'))
          .find((s) => slabs.get(s) === String(DEFAULT_CHUNK_ITEM_SIZE))!
          .split(':')[0],
      );
      // Ten items in the top class, each of exactly its chunk size...
      expect(Number(items.get(`items:${top}:number`))).toBe(full);
      expect(Number(items.get(`items:${top}:mem_requested`))).toBe(full * DEFAULT_CHUNK_ITEM_SIZE);
      expect(Number(slabs.get(`${top}:used_chunks`))).toBe(full);
      // ...and no item split by memcached: one slab chunk per item in every class.
      const general = await mcStats(b.mc);
      let usedChunks = 0;
      for (const [s, v] of slabs) if (s.endsWith(':used_chunks')) usedChunks += Number(v);
      expect(Number(general.get('curr_items'))).toBe(full + 2);
      expect(usedChunks).toBe(full + 2);
    } finally {
      await b.stop();
    }
  });
});

describe('ChunkedHandler over real memcached under concurrency', () => {
  for (const [name, chunkSize, sizes, writes, delayed] of [
    ['default 512 KiB chunk items, values up to 6 MiB', undefined, [MiB / 2, 6 * MiB], 6, false],
    ['4 KiB chunks, values up to 200 KiB', 4096, [1000, 200 * 1024], 40, false],
    ['4 KiB chunks, random delays before and after each backend call', 4096, [1000, 100 * 1024], 25, true],
  ] as const) {
    it(`writers overwriting one key and readers: only complete written values, never a miss, no orphans (${name})`, async () => {
      const b = await backend([], 1024, chunkSize === undefined ? {} : { chunkSize });
      // One ChunkedHandler per writer and reader, as separate cleave processes in front of one memcached
      // (one handler keeps its own calls on a key in order). Delays between ChunkedHandler and
      // MemcachedHandler widen the windows in which readers race writers.
      const handlers = Array.from(
        { length: 6 },
        (_, i) => new ChunkedHandler(delayed ? new Delayed(b.inner, 77 + i, 3) : b.inner, { chunkSize }),
      );
      const h = handlers[0]!;
      const sum = (name: string) => handlers.reduce((n, x) => n + Number(x.ownStats()[name]), 0);
      try {
        const k = key('hot');
        const started = new Map<number, number>([[0, 0]]);
        await h.store({ mode: 'set', key: k, value: makeValue(0, 0, sizes[0]), flags: 0, exptime: 0 });
        let writing = 3;
        const problems: string[] = [];
        let reads = 0;
        const writer = async (id: number) => {
          const r = rng(id * 31);
          for (let seq = 1; seq <= writes; seq++) {
            const n = Math.max(12, Math.floor(sizes[0] + r() * (sizes[1] - sizes[0])));
            started.set(id, seq);
            const out = await handlers[id - 1]!.store({ mode: 'set', key: k, value: makeValue(id, seq, n), flags: id, exptime: 0 });
            if (!isItem(out)) problems.push(`writer ${id}/${seq}: ${String(out)}`);
          }
          writing--;
        };
        const check = (got: ItemView | undefined, how: string) => {
          reads++;
          if (got === undefined) return problems.push(`${how}: miss`);
          const c = checkValue(got.value);
          if (typeof c === 'string') return problems.push(`${how}: ${c}`);
          if ((started.get(c.writer) ?? -1) < c.seq) problems.push(`${how}: ${c.writer}/${c.seq} before it was written`);
          if (got.flags !== c.writer) problems.push(`${how}: flags ${got.flags} for writer ${c.writer}`);
        };
        const reader = async (id: number) => {
          const r = handlers[3 + id]!;
          while (writing > 0) {
            if (id === 0) check(await r.get({ key: k }), 'get');
            else if (id === 1) check((await r.getMany([{ key: k }, { key: key('absent') }]))[0], 'getMany');
            else check(await r.get({ key: k, touch: 3600 }), 'gat');
          }
        };
        await Promise.all([writer(1), writer(2), writer(3), reader(0), reader(1), reader(2)]);
        expect(problems).toEqual([]);
        expect(reads).toBeGreaterThan(10);
        expect(sum('chunked_lost')).toBe(0);
        expect(b.inner.ownStats().backend_errors).toBe(0);
        // With delays, readers did have to follow a newer version (where a reader of a versionless layout would miss).
        if (delayed) expect(sum('chunked_read_retries')).toBeGreaterThan(0);
        // Nothing left in memcached but the key and the chunks of its value.
        for (const x of handlers) await x.idle();
        const final = (await h.get({ key: k }))!;
        const cs = h.chunkSizeFor(k.length);
        const expected = 1 + (final.value.length > cs ? Math.ceil(final.value.length / cs) : 0);
        expect(Number((await mcStats(b.mc)).get('curr_items'))).toBe(expected);
      } finally {
        await b.stop();
      }
    });
  }
});

describe('ChunkedHandler when real memcached runs out of memory or evicts', () => {
  it('memcached -M refusing a chunk mid-set (out of memory): the set answers OUT_OF_MEMORY, the old value stays, orphans are deleted', async () => {
    const b = await backend(['-M'], 16);
    try {
      const k = key('oom');
      const old = randomBytes(3 * MiB, rng(5));
      expect(isItem(await b.h.store({ mode: 'set', key: k, value: old, flags: 1, exptime: 0 }))).toBe(true);
      const before = Number((await mcStats(b.mc)).get('curr_items'));
      expect(await b.h.store({ mode: 'set', key: k, value: randomBytes(16 * MiB - 100, rng(6)), flags: 1, exptime: 0 })).toBe(
        'OUT_OF_MEMORY',
      );
      await b.h.idle();
      const got = (await b.h.get({ key: k }))!;
      expect(got.value.equals(old)).toBe(true);
      expect(Number((await mcStats(b.mc)).get('curr_items'))).toBe(before);
      expect((await b.h.stats(''))!.chunked_orphan_cleanups).toBe(1);
    } finally {
      await b.stop();
    }
  });

  it('with chunks evicted by memcached, each value reads whole or as a miss (never torn), and lost values are cleaned up', async () => {
    const b = await backend([], 24);
    try {
      const values: Buffer[] = [];
      for (let i = 0; i < 12; i++) {
        const v = makeValue(i, 1, 3 * MiB + i);
        values.push(v);
        expect(isItem(await b.h.store({ mode: 'set', key: key(`ev${i}`), value: v, flags: 0, exptime: 0 }))).toBe(true);
      }
      let whole = 0;
      let misses = 0;
      for (let i = 0; i < 12; i++) {
        const got = await b.h.get({ key: key(`ev${i}`) });
        if (got === undefined) misses++;
        else {
          expect(got.value.equals(values[i]!)).toBe(true);
          whole++;
        }
      }
      expect(Number((await mcStats(b.mc)).get('evictions'))).toBeGreaterThan(0);
      expect(misses).toBeGreaterThan(0);
      expect(whole).toBeGreaterThan(0);
      await b.h.idle();
      // A lost value's metadata is gone too: the next read is a plain miss, not another cleanup.
      const lost = (await b.h.stats(''))!.chunked_lost;
      for (let i = 0; i < 12; i++) await b.h.get({ key: key(`ev${i}`), noBump: true });
      expect((await b.h.stats(''))!.chunked_lost).toBe(lost);
    } finally {
      await b.stop();
    }
  });
});

describe('ChunkedHandler stats and admin commands over memcached', () => {
  let b: Backend;
  beforeAll(async () => {
    b = await backend([], 64);
    const big = randomBytes(3 * MiB, rng(7));
    expect(isItem(await b.h.store({ mode: 'set', key: key('big'), value: big, flags: 0, exptime: 0 }))).toBe(true);
    for (const k of ['s1', 's2'])
      expect(isItem(await b.h.store({ mode: 'set', key: key(k), value: key('v'), flags: 0, exptime: 0 }))).toBe(true);
  });
  afterAll(async () => {
    await b?.stop();
  });

  async function rawAdmin(line: string): Promise<string> {
    const c = await RawClient.connect({ port: b.mc.port });
    try {
      return (await c.request(`${line}\r\n`, 'END\r\n')).toString('latin1');
    } finally {
      c.close();
    }
  }

  it("stats: the inner store's figures (chunk items counted in curr_items) with the chunked counters", async () => {
    const st = (await b.h.stats(''))!;
    const own = await mcStats(b.mc);
    const chunks = Math.ceil((3 * MiB) / b.h.chunkSizeFor(3));
    expect(st.curr_items).toBe(3 + chunks);
    expect(st.curr_items).toBe(Number(own.get('curr_items')));
    expect(st.bytes).toBe(Number(own.get('bytes')));
    expect(st.chunked_stores).toBe(1);
    expect(st.backend_connections).toBe(2);
    const settings = (await b.h.stats('settings'))!;
    expect(settings.maxbytes).toBe(64 * MiB);
    expect(settings.item_size_max).toBe(b.h.maxItemSize);
    expect(Object.keys((await b.h.stats('items'))!)).toEqual([...(await mcStats(b.mc, 'items')).keys()]);
  });

  it("a metadump lists the client's keys, not the chunk items memcached holds", async () => {
    const direct = await rawAdmin('lru_crawler metadump hash');
    expect(direct.split('\n').filter((l) => l.startsWith('key=big%7C')).length).toBe(Math.ceil((3 * MiB) / b.h.chunkSizeFor(3)));
    const ours = (await b.h.admin({ name: 'lru_crawler', args: ['metadump', 'hash'] }))!.toString('latin1');
    const keys = ours
      .split('\n')
      .filter((l) => l.startsWith('key='))
      .map((l) => l.slice(4, l.indexOf(' ')))
      .sort();
    expect(keys).toEqual(['big', 's1', 's2']);
    // The lines kept are memcached's own.
    expect(
      direct
        .split('\n')
        .filter((l) => !l.includes('%7C'))
        .join('\n'),
    ).toBe(ours.split('\n').join('\n'));
    // The chunks' slab class, dumped through the handler: no entries.
    const cls = Object.keys((await b.h.stats('items'))!)
      .filter((f) => f.endsWith(':number'))
      .map((f) => f.split(':')[1]!)
      .pop()!;
    expect((await rawAdmin(`stats cachedump ${cls} 0`)).startsWith('ITEM big|')).toBe(true);
    expect((await b.h.admin({ name: 'stats', args: ['cachedump', cls, '0'] }))!.toString('latin1')).toBe('END\r\n');
  });

  it("other admin commands are memcached's replies", async () => {
    expect((await b.h.admin({ name: 'lru_crawler', args: ['sleep', '100'] }))!.toString('latin1')).toBe('OK\r\n');
    expect((await b.h.admin({ name: 'slabs', args: ['reassign', '1', '2'] }))!.toString('latin1')).toMatch(/^NOSPARE|^NOTFULL|^BUSY/);
  });
});
