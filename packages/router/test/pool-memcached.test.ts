/**
 * A pool of real memcached processes (over TCP and unix sockets) behind a
 * cleave server, asked through text, meta and binary clients and checked
 * against the memcached processes themselves:
 * - every key lands on exactly the server Placement names (asked directly);
 * - multi-key text gets, binary quiet-get pipelines and meta pipelines whose
 *   keys live on several servers answer in the client's order, byte for byte
 *   as one memcached answers them;
 * - the differential suite and memccapable pass through a pool of 3;
 * - compositions over a pool: an in-memory L1 in front, chunked values over it;
 * - flush_all reaches every server; stats shows the pool.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChunkedHandler } from '@cleave/chunked';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { listenAndServe, type Server, type ServerLimits } from '@cleave/server';
import { l1l2 } from '@cleave/tiers';
import {
  CLOSING_CASES,
  RawClient,
  binaryCases,
  binaryPacket,
  extras,
  metaCases,
  normalizeBinary,
  normalizeText,
  runMemccapable,
  startMemcached,
  textCases,
  type MemcachedProcess,
} from '@cleave/testkit';
import type { Handler } from '@cleave/protocol';
import { Placement, ringName } from '../src/placement.js';
import { pool, type Pool, type PoolOptions } from '../src/pool.js';

// ---------------------------------------------------------------------------
// Processes and servers
// ---------------------------------------------------------------------------

/** A memcached as a pool member: where it listens and the ketama name nutcracker would give it. */
interface Backend {
  readonly proc: MemcachedProcess;
  readonly target: { port: number } | { path: string };
  readonly name: string;
}

function backendOf(proc: MemcachedProcess): Backend {
  return proc.socketPath !== undefined
    ? { proc, target: { path: proc.socketPath }, name: ringName(proc.socketPath, undefined) }
    : { proc, target: { port: proc.port }, name: ringName(proc.host, proc.port) };
}

function memcachedHandler(b: Backend): MemcachedHandler {
  return new MemcachedHandler({ address: 'path' in b.target ? { path: b.target.path } : { host: '127.0.0.1', port: b.target.port } });
}

const cleanup: Array<() => Promise<unknown> | unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

async function serve(handler: Handler, limits?: Partial<ServerLimits>): Promise<number> {
  const server: Server = await listenAndServe({ listen: { port: 0 }, handler, ...(limits && { limits }) });
  cleanup.push(() => server.close());
  return (server.addresses[0] as { port: number }).port;
}

/** A pool over `backends` (weight 1, ketama names) with `extra` options, served on a port of its own. */
async function servePool(
  backends: readonly Backend[],
  extra: Partial<PoolOptions> = {},
  weights?: number[],
  names?: string[],
): Promise<{ pool: Pool; port: number }> {
  const p = pool({
    ...extra,
    servers: backends.map((b, i) => ({ handler: memcachedHandler(b), name: names?.[i] ?? b.name, weight: weights?.[i] ?? 1 })),
  });
  return { pool: p, port: await serve(p) };
}

/** The four members most tests use: two on TCP, two on unix sockets. */
let four: Backend[];
/** One memcached on its own: what a pool must answer like. */
let reference: MemcachedProcess;
/** The default pool over `four`. */
let main: { pool: Pool; port: number };

beforeAll(async () => {
  const procs = await Promise.all([
    startMemcached(),
    startMemcached({ unixSocket: true }),
    startMemcached(),
    startMemcached({ unixSocket: true }),
    startMemcached(),
  ]);
  for (const p of procs) cleanup.push(() => p.stop());
  reference = procs[4]!;
  four = procs.slice(0, 4).map(backendOf);
  main = await servePool(four);
});

// ---------------------------------------------------------------------------
// Asking memcached directly
// ---------------------------------------------------------------------------

async function direct<T>(target: { port: number } | { path: string }, f: (c: RawClient) => Promise<T>): Promise<T> {
  const c = await RawClient.connect(target);
  try {
    return await f(c);
  } finally {
    c.close();
  }
}

/** Which of `keys` (latin1 strings) this memcached holds: a quiet `mg` each, hits answer `HD k<key>`. */
function holding(target: { port: number } | { path: string }, keys: readonly string[]): Promise<Set<string>> {
  return direct(target, async (c) => {
    const reply = await c.exchange(keys.map((k) => `mg ${k} k q\r\n`).join(''));
    const held = new Set<string>();
    for (const line of reply.toString('latin1').split('\r\n')) if (line.startsWith('HD k')) held.add(line.slice(4));
    return held;
  });
}

/** `mg <key> <flags>` on one memcached, the reply's first line. */
function metaGet(target: { port: number } | { path: string }, key: string, flags: string): Promise<string> {
  return direct(target, async (c) => (await c.exchange(`mg ${key} ${flags}\r\n`)).toString('latin1').split('\r\n')[0]!);
}

async function flushAll(targets: ReadonlyArray<{ port: number } | { path: string }>): Promise<void> {
  for (const t of targets) await direct(t, (c) => c.request('flush_all\r\n', 'OK\r\n'));
}

/** Keys placed by `p`, at least `per` on each of its servers (tried in order `prefix0`, `prefix1`, ...). */
function spread(p: Pool, prefix: string, per: number): string[] {
  const count = new Map<string, number>();
  const keys: string[] = [];
  for (let i = 0; keys.length < per * p.members.length; i++) {
    if (i > 100_000) throw new Error('placement puts no keys on some server');
    const k = `${prefix}${i}`;
    const m = p.serverFor(Buffer.from(k, 'latin1'))!;
    const n = count.get(m.name) ?? 0;
    if (n >= per) continue;
    count.set(m.name, n + 1);
    keys.push(k);
  }
  return keys;
}

/** The backend `p` puts `key` on. */
function ownerOf(p: Pool, backends: readonly Backend[], key: string): Backend {
  const m = p.serverFor(Buffer.from(key, 'latin1'))!;
  return backends[p.members.indexOf(m)]!;
}

/** Text bytes of a store, pipelined. */
const setLine = (key: string, value: string, flags = 0, noreply = false) =>
  `set ${key} ${flags} 0 ${Buffer.byteLength(value, 'latin1')}${noreply ? ' noreply' : ''}\r\n${value}\r\n`;

/**
 * Send each step to the reference memcached and to `port` (one connection
 * each, from an empty cache), and expect the same replies once CAS uniques,
 * the version and positive TTLs are masked. Returns the pool's replies.
 */
async function sameAsMemcached(
  port: number,
  steps: ReadonlyArray<Buffer | string>,
  protocol: 'text' | 'binary',
  flush: () => Promise<void>,
): Promise<Buffer[]> {
  await flush();
  await flushAll([{ port: reference.port }]);
  const run = async (p: number) =>
    direct({ port: p }, async (c) => {
      const out: Buffer[] = [];
      for (const step of steps) out.push(await c.exchange(step, protocol, 10_000));
      return out;
    });
  const [theirs, ours] = await Promise.all([run(reference.port), run(port)]);
  const norm = protocol === 'text' ? normalizeText : normalizeBinary;
  expect(ours.map(norm)).toEqual(theirs.map(norm));
  return ours;
}

const flushMain = () => flushAll(four.map((b) => b.target));

// ---------------------------------------------------------------------------
// (a) placement
// ---------------------------------------------------------------------------

describe('keys land where Placement says', () => {
  /** ASCII keys, keys with bytes >= 0x80 (raw: the text protocol carries them), hash-tagged keys. */
  const KEYS = [
    ...Array.from({ length: 150 }, (_, i) => `user:${i}:profile`),
    ...Array.from({ length: 40 }, (_, i) => `k\xe9\xff${i}\x80\xc3`),
    ...Array.from({ length: 30 }, (_, i) => `{tag${i % 5}}:item${i}`),
    'a{}b',
    '{unclosed',
    'x}y{z',
  ];

  /** `names` maps the backends' own ketama names to the ones the configuration gives. */
  const configs: Array<{ what: string; options: Partial<PoolOptions>; weights?: number[]; names?: (own: string[]) => string[] }> = [
    { what: 'ketama, fnv1a_64 (the defaults), names from host:port and socket paths', options: {} },
    {
      what: 'modula, md5, weights, named servers',
      options: { distribution: 'modula', hash: 'md5' },
      weights: [1, 3, 2, 1],
      names: () => ['zeta', 'alpha', 'mu', 'beta-longer'],
    },
    { what: 'ketama, murmur, weights, hash_tag {}', options: { hash: 'murmur', hashTag: '{}' }, weights: [2, 1, 1, 3] },
    { what: 'ketama, crc32a, one server named', options: { hash: 'crc32a' }, names: (own) => own.map((n, i) => (i === 1 ? 'cache-b' : n)) },
  ];

  for (const cfg of configs) {
    it(cfg.what, async () => {
      const names = cfg.names?.(four.map((b) => b.name));
      const { pool: p, port } = await servePool(four, cfg.options, cfg.weights, names);
      await flushMain();
      const reply = await direct({ port }, (c) => c.exchange(KEYS.map((k, i) => setLine(k, `v${i}`)).join('')));
      expect(reply.toString('latin1')).toBe('STORED\r\n'.repeat(KEYS.length));
      // An independent Placement built from the same configuration.
      const placement = new Placement({
        distribution: cfg.options.distribution ?? 'ketama',
        hash: cfg.options.hash ?? 'fnv1a_64',
        hashTag: cfg.options.hashTag,
        servers: four.map((b, i) => ({ name: names?.[i] ?? b.name, weight: cfg.weights?.[i] ?? 1 })),
      });
      const held = await Promise.all(four.map((b) => holding(b.target, KEYS)));
      const misplaced: string[] = [];
      for (const k of KEYS) {
        const want = placement.serverFor(Buffer.from(k, 'latin1'));
        const on = held.flatMap((h, i) => (h.has(k) ? [i] : []));
        if (on.length !== 1 || on[0] !== want) misplaced.push(`${JSON.stringify(k)} on ${on.join(',') || 'none'}, placed on ${want}`);
        expect(p.serverFor(Buffer.from(k, 'latin1'))).toBe(p.members[want]);
      }
      expect(misplaced).toEqual([]);
      // Every server holds some of the keys: the test exercises a spread pool.
      for (const h of held) expect(h.size).toBeGreaterThan(0);
    });
  }
});

// ---------------------------------------------------------------------------
// (b) text multi-key gets
// ---------------------------------------------------------------------------

describe('text multi-key gets across servers', () => {
  let keys: string[];
  beforeAll(() => {
    keys = spread(main.pool, 'mk', 3);
  });

  /** Sets `keys` with flags i and values `value-i-<key>`. */
  const fill = (ks: readonly string[]) => ks.map((k, i) => setLine(k, `value-${i}-${k}`, i)).join('');
  const valueBlock = (k: string, i: number, cas?: string) =>
    `VALUE ${k} ${i} ${`value-${i}-${k}`.length}${cas === undefined ? '' : ` ${cas}`}\r\nvalue-${i}-${k}\r\n`;

  it('get answers in the client key order, misses skipped, a repeated key twice; byte for byte as memcached', async () => {
    // Reversed, with misses and a repeat: the order is the client's, not any server's.
    const asked = [...keys].reverse();
    asked.splice(3, 0, 'missing-1');
    asked.splice(7, 0, keys[0]!, 'missing-2');
    const [, got] = await sameAsMemcached(main.port, [fill(keys), `get ${asked.join(' ')}\r\n`], 'text', flushMain);
    const want =
      asked
        .filter((k) => !k.startsWith('missing'))
        .map((k) => valueBlock(k, keys.indexOf(k)))
        .join('') + 'END\r\n';
    expect(got!.toString('latin1')).toBe(want);
    expect(new Set(asked.map((k) => (k.startsWith('missing') ? undefined : ownerOf(main.pool, four, k)))).size).toBeGreaterThanOrEqual(4);
  });

  it('gets carries each key’s own CAS unique (the one its memcached holds), and cas through the pool uses it', async () => {
    await flushMain();
    const c = await RawClient.connect({ port: main.port });
    try {
      await c.exchange(fill(keys));
      const got = (await c.request(`gets ${keys.join(' ')}\r\n`, 'END\r\n')).toString('latin1');
      const cas = [...got.matchAll(/^VALUE (\S+) \d+ \d+ (\d+)\r$/gm)].map((m) => [m[1]!, m[2]!] as const);
      expect(cas.map(([k]) => k)).toEqual(keys);
      expect(got).toBe(cas.map(([k, u], i) => valueBlock(k, i, u)).join('') + 'END\r\n');
      for (const [k, unique] of cas) expect(await metaGet(ownerOf(main.pool, four, k).target, k, 'c')).toBe(`HD c${unique}`);
      // cas with each key's unique: stored once; the same unique again: EXISTS.
      const casAll = cas.map(([k, u]) => `cas ${k} 9 0 3 ${u}\r\nnew\r\n`).join('');
      expect((await c.exchange(casAll)).toString()).toBe('STORED\r\n'.repeat(keys.length));
      expect((await c.exchange(casAll)).toString()).toBe('EXISTS\r\n'.repeat(keys.length));
      expect((await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString()).toBe(
        keys.map((k) => `VALUE ${k} 9 3\r\nnew\r\n`).join('') + 'END\r\n',
      );
    } finally {
      c.close();
    }
  });

  it('gat and gats touch every key on its own server, in the client key order', async () => {
    const asked = [keys[5]!, 'nope', keys[0]!, keys[9]!, keys[2]!];
    const [, gat, gats] = await sameAsMemcached(
      main.port,
      [fill(keys), `gat 500 ${asked.join(' ')}\r\n`, `gats 700 ${asked.join(' ')}\r\n`],
      'text',
      flushMain,
    );
    const present = asked.filter((k) => k !== 'nope');
    expect(gat!.toString('latin1')).toBe(present.map((k) => valueBlock(k, keys.indexOf(k))).join('') + 'END\r\n');
    expect([...gats!.toString('latin1').matchAll(/^VALUE (\S+) /gm)].map((m) => m[1])).toEqual(present);
    for (const k of present) {
      const t = Number((await metaGet(ownerOf(main.pool, four, k).target, k, 't')).slice(4));
      expect(t).toBeGreaterThan(690);
      expect(t).toBeLessThanOrEqual(700);
    }
  });

  it('the trailing space twemproxy sends (`get a b \\r\\n`) over keys on two servers', async () => {
    const [a, b] = [keys[0]!, keys.find((k) => ownerOf(main.pool, four, k) !== ownerOf(main.pool, four, keys[0]!))!];
    const [, got] = await sameAsMemcached(main.port, [setLine(a, '1') + setLine(b, '2'), `get ${a} ${b} \r\n`], 'text', flushMain);
    expect(got!.toString()).toBe(`VALUE ${a} 0 1\r\n1\r\nVALUE ${b} 0 1\r\n2\r\nEND\r\n`);
  });

  it('noreply stores across servers answer nothing and land on their servers', async () => {
    await flushMain();
    const c = await RawClient.connect({ port: main.port });
    try {
      const noreply = keys.map((k, i) => setLine(k, `value-${i}-${k}`, i, true)).join('');
      expect((await c.exchange(noreply)).length).toBe(0);
      expect((await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString('latin1')).toBe(
        keys.map((k, i) => valueBlock(k, i)).join('') + 'END\r\n',
      );
      for (const k of keys)
        expect(await metaGet(ownerOf(main.pool, four, k).target, k, 'v')).toBe(`VA ${`value-${keys.indexOf(k)}-${k}`.length}`);
    } finally {
      c.close();
    }
  });
});

// ---------------------------------------------------------------------------
// (c) binary and meta pipelines
// ---------------------------------------------------------------------------

describe('binary and meta pipelines across servers', () => {
  const GETQ = 0x09;
  const GETKQ = 0x0d;
  const SETQ = 0x11;
  const NOOP = 0x0a;
  let keys: string[];
  beforeAll(() => {
    keys = spread(main.pool, 'bk', 2);
  });

  /** The binary responses in `b`: opcode, status, opaque and key of each. */
  function responses(b: Buffer): Array<{ opcode: number; status: number; opaque: number; key: string; value: string }> {
    const out = [];
    for (let p = 0; p + 24 <= b.length; ) {
      const keyLen = b.readUInt16BE(p + 2);
      const extLen = b[p + 4]!;
      const body = b.readUInt32BE(p + 8);
      out.push({
        opcode: b[p + 1]!,
        status: b.readUInt16BE(p + 6),
        opaque: b.readUInt32BE(p + 12),
        key: b.toString('latin1', p + 24 + extLen, p + 24 + extLen + keyLen),
        value: b.toString('latin1', p + 24 + extLen + keyLen, p + 24 + body),
      });
      p += 24 + body;
    }
    return out;
  }

  it('GetQ/GetKQ ending in Noop: hits in request order, quiet misses silent; SetQ silent', async () => {
    const sets = Buffer.concat([
      ...keys.map((k, i) => binaryPacket({ opcode: SETQ, key: k, value: `bv${i}`, extras: extras.store(i, 0), opaque: 1000 + i })),
      binaryPacket({ opcode: NOOP, opaque: 1 }),
    ]);
    // Keys in an order no server has, a miss between every two, alternating GetQ and GetKQ.
    const order = [...keys].reverse();
    const gets: Buffer[] = [];
    const want: Array<{ opcode: number; opaque: number; key: string; value: string }> = [];
    order.forEach((k, i) => {
      const opcode = i % 2 === 0 ? GETQ : GETKQ;
      gets.push(binaryPacket({ opcode, key: k, opaque: i * 2 }));
      gets.push(binaryPacket({ opcode, key: `absent-${i}`, opaque: i * 2 + 1 }));
      want.push({ opcode, opaque: i * 2, key: opcode === GETKQ ? k : '', value: `bv${keys.indexOf(k)}` });
    });
    gets.push(binaryPacket({ opcode: NOOP, opaque: 0xabcd }));
    const [setReply, getReply] = await sameAsMemcached(main.port, [sets, Buffer.concat(gets)], 'binary', flushMain);
    expect(responses(setReply!)).toEqual([{ opcode: NOOP, status: 0, opaque: 1, key: '', value: '' }]);
    const got = responses(getReply!);
    expect(got.slice(0, -1).map(({ opcode, opaque, key, value }) => ({ opcode, opaque, key, value }))).toEqual(want);
    expect(got.at(-1)).toEqual({ opcode: NOOP, status: 0, opaque: 0xabcd, key: '', value: '' });
  });

  it('meta mg pipeline with q and O: replies in request order, quiet misses silent, loud misses EN', async () => {
    const sets = keys.map((k, i) => `ms ${k} 3 F${i} O${i} q\r\nm${i}x\r\n`).join('') + 'mn\r\n';
    const mgs: string[] = [];
    const want: string[] = [];
    [...keys].reverse().forEach((k, i) => {
      mgs.push(`mg ${k} v f k O${100 + i} q\r\n`, `mg nothing-${i} v O${200 + i} q\r\n`, `mg nothing-${i} v O${300 + i}\r\n`);
      const j = keys.indexOf(k);
      want.push(`VA 3 f${j} k${k} O${100 + i}\r\nm${j}x\r\n`, `EN O${300 + i}\r\n`);
    });
    const [setReply, getReply] = await sameAsMemcached(main.port, [sets, mgs.join('') + 'mn\r\n'], 'text', flushMain);
    expect(setReply!.toString()).toBe('MN\r\n');
    expect(getReply!.toString('latin1')).toBe(want.join('') + 'MN\r\n');
  });
});

// ---------------------------------------------------------------------------
// (d) the differential suite and memccapable through a pool of 3
// ---------------------------------------------------------------------------

/**
 * Cases left out, and why:
 * - those that end with memcached closing the connection (testkit's
 *   CLOSING_CASES): each step here ends at a marker reply, and they never
 *   reach a handler (the server's own differential suite covers them);
 * - none differs because the keys live on three servers: every case's replies
 *   depend on each key's own item, which one server holds, and flush_all
 *   reaches all three. (Neither the text nor the binary shared suite holds
 *   `stats`, whose figures would be the pool's and the server's, not one
 *   memcached's.)
 */

describe('through a pool of 3 memcached, the differential suite matches one memcached', () => {
  let trio: Backend[];
  let port: number;
  beforeAll(async () => {
    const procs = await Promise.all([startMemcached(), startMemcached({ unixSocket: true }), startMemcached()]);
    for (const p of procs) cleanup.push(() => p.stop());
    trio = procs.map(backendOf);
    ({ port } = await servePool(trio));
  });
  const flushTrio = () => flushAll(trio.map((b) => b.target));

  for (const [protocol, cases] of [
    ['text', textCases],
    ['meta', metaCases],
    ['binary', binaryCases],
  ] as const) {
    describe(`${protocol} protocol`, () => {
      for (const [what, steps] of Object.entries(cases as Record<string, Array<Buffer | string>>)) {
        if (CLOSING_CASES.has(what)) continue;
        it(what, async () => {
          await sameAsMemcached(port, steps, protocol === 'binary' ? 'binary' : 'text', flushTrio);
        });
      }
    });
  }

  describe('memccapable through the pool', () => {
    for (const mode of ['-a', '-b'] as const) {
      it(`passes every ${mode === '-a' ? 'ascii' : 'binary'} test`, async () => {
        await flushTrio();
        const r = await runMemccapable(port, mode);
        expect(r.out).not.toMatch(/\[fail\]/);
        expect(r.out).toContain('All tests passed');
        expect(r.code).toBe(0);
      });
    }
  });
});

// ---------------------------------------------------------------------------
// (e) compositions
// ---------------------------------------------------------------------------

describe('compositions over a pool', () => {
  it('l1l2(inmem, pool): writes reach the pool member that owns the key, reads are served', async () => {
    const p = pool({ servers: four.map((b) => ({ handler: memcachedHandler(b), name: b.name })) });
    const port = await serve(l1l2(new InMemoryHandler(), p));
    await flushMain();
    const keys = spread(p, 'tier', 3);
    const c = await RawClient.connect({ port });
    try {
      expect((await c.exchange(keys.map((k, i) => setLine(k, `t${i}`, i)).join(''))).toString()).toBe('STORED\r\n'.repeat(keys.length));
      for (const [i, k] of keys.entries()) expect(await metaGet(ownerOf(p, four, k).target, k, 'v f')).toBe(`VA ${`t${i}`.length} f${i}`);
      expect((await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString()).toBe(
        keys.map((k, i) => `VALUE ${k} ${i} ${`t${i}`.length}\r\nt${i}\r\n`).join('') + 'END\r\n',
      );
      // An L1 miss reads the pool: a key written straight to the memcached that owns it.
      await direct(ownerOf(p, four, 'tier-direct').target, (d) => d.request('set tier-direct 4 0 2\r\nok\r\n', 'STORED\r\n'));
      expect((await c.request('get tier-direct\r\n', 'END\r\n')).toString()).toBe('VALUE tier-direct 4 2\r\nok\r\nEND\r\n');
      // incr reaches the owner (memcached pads a shorter result with spaces).
      expect((await c.exchange(`set ctr 0 0 2\r\n10\r\nincr ctr 5\r\n`)).toString()).toBe('STORED\r\n15\r\n');
      expect(await metaGet(ownerOf(p, four, 'ctr').target, 'ctr', 'v')).toBe('VA 2');
    } finally {
      c.close();
    }
  });

  it('chunked over a pool: a large value spreads its chunks over the servers and reads back intact', async () => {
    // md5, not the default fnv1a_64: nutcracker's fnv1a_64 keeps the low 32 bits of the 64-bit product,
    // which mix the last bytes of a key by a factor of 0x1b3 only, so chunk keys that differ in their
    // last hex digits (`<key>|<token>:0000`, `:0001`, ...) hash a few thousand apart and nearly always
    // meet the same ketama point: every chunk of a value on one server.
    const p = pool({ hash: 'md5', servers: four.map((b) => ({ handler: memcachedHandler(b), name: b.name })) });
    const chunked = new ChunkedHandler(p, { maxItemSize: 8 << 20 });
    const port = await serve(chunked, { maxItemSize: chunked.maxItemSize });
    await flushMain();
    const size = 6 * 1024 * 1024 + 12345;
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = (i * 131 + (i >>> 10)) & 0xff;
    const c = await RawClient.connect({ port });
    try {
      expect(
        (await c.request(Buffer.concat([Buffer.from(`set large 7 0 ${size}\r\n`), value, Buffer.from('\r\n')]), '\r\n', 20_000)).toString(),
      ).toBe('STORED\r\n');
      const head = Buffer.from(`VALUE large 7 ${size}\r\n`);
      const got = await c.request('get large\r\n', '\r\nEND\r\n', 20_000);
      expect(got.length).toBe(head.length + size + 7);
      expect(got.subarray(0, head.length).equals(head)).toBe(true);
      expect(got.subarray(head.length, head.length + size).equals(value)).toBe(true);
    } finally {
      c.close();
    }
    // Each memcached's keys (lru_crawler metadump lists them, URL-encoded): the chunks are spread, each
    // on the server placement names for its key.
    const dumps = await Promise.all(
      four.map((b) =>
        direct(b.target, async (d) => {
          const out = (await d.request('lru_crawler metadump hash\r\n', 'END\r\n', 10_000)).toString('latin1');
          return [...out.matchAll(/^key=(\S+) /gm)].map((m) => decodeURIComponent(m[1]!));
        }),
      ),
    );
    // A chunk item fills memcached's largest slab class (524288 bytes): 59 bytes of header, the chunk key
    // (`large|<16 hex>:<4 hex>`) and the chunk's value bytes (@cleave/chunked's README).
    const perChunk = 524_288 - 59 - ('large'.length + 22);
    expect(dumps.flat().filter((k) => k.startsWith('large|'))).toHaveLength(Math.ceil(size / perChunk));
    expect(dumps.filter((keysOnServer) => keysOnServer.some((k) => k.startsWith('large|'))).length).toBeGreaterThanOrEqual(3);
    dumps.forEach((keysOnServer, i) => {
      for (const k of keysOnServer) expect(p.serverFor(Buffer.from(k, 'latin1'))).toBe(p.members[i]);
    });
    expect(dumps.flat().filter((k) => k === 'large')).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------
// (f) flush_all, stats, serverFor
// ---------------------------------------------------------------------------

describe('flush_all, stats and serverFor', () => {
  it('flush_all reaches every server', async () => {
    const keys = spread(main.pool, 'fl', 3);
    const c = await RawClient.connect({ port: main.port });
    try {
      await c.exchange(keys.map((k) => setLine(k, 'x')).join(''));
      for (const b of four) expect((await holding(b.target, keys)).size).toBe(3);
      expect((await c.request('flush_all\r\n', 'OK\r\n')).toString()).toBe('OK\r\n');
      for (const b of four) expect((await holding(b.target, keys)).size).toBe(0);
      expect((await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n')).toString()).toBe('END\r\n');
    } finally {
      c.close();
    }
  });

  it('stats shows the pool figures and the sum of its members’ backend figures; stats settings how it places keys', async () => {
    const keys = spread(main.pool, 'st', 2);
    const c = await RawClient.connect({ port: main.port });
    try {
      await c.exchange('stats reset\r\n');
      await c.exchange(keys.map((k) => setLine(k, 'x')).join(''));
      await c.request(`get ${keys.join(' ')}\r\n`, 'END\r\n');
      const lines = (await c.request('stats\r\n', 'END\r\n')).toString().split('\r\n');
      const stat = (name: string) => lines.find((l) => l.startsWith(`STAT ${name} `))?.slice(`STAT ${name} `.length);
      expect(stat('pool_servers')).toBe('4');
      expect(stat('pool_servers_up')).toBe('4');
      expect(stat('pool_servers_ejected')).toBe('0');
      expect(stat('pool_server_ejects')).toBe('0');
      expect(stat('pool_forward_errors')).toBe('0');
      // One multi-get over keys on four servers: four fragments.
      expect(stat('pool_fragments')).toBe('4');
      expect(stat('backend_connections')).toBe('8');
      expect(Number(stat('backend_requests'))).toBeGreaterThanOrEqual(keys.length * 2);
      const settings = (await c.request('stats settings\r\n', 'END\r\n')).toString();
      expect(settings).toContain('STAT pool_distribution ketama\r\n');
      expect(settings).toContain('STAT pool_hash fnv1a_64\r\n');
      expect(settings).toContain(`STAT pool_servers ${four.map((b) => `${b.name}:1`).join(',')}\r\n`);
    } finally {
      c.close();
    }
    const m = main.pool.members;
    expect(m.map((x) => x.state)).toEqual(['up', 'up', 'up', 'up']);
    expect(m.reduce((n, x) => n + x.counters.responses, 0)).toBeGreaterThanOrEqual(keys.length * 2);
  });

  it('Pool.serverFor names the member whose memcached ends up holding the key', async () => {
    await flushMain();
    const keys = Array.from({ length: 40 }, (_, i) => `sf-${i}-${'z'.repeat(i)}`);
    await direct({ port: main.port }, (c) => c.exchange(keys.map((k) => setLine(k, 'x')).join('')));
    const held = await Promise.all(four.map((b) => holding(b.target, keys)));
    for (const k of keys) {
      const m = main.pool.serverFor(Buffer.from(k))!;
      expect(m.label).toBe(m.name);
      expect(held[main.pool.members.indexOf(m)]!.has(k)).toBe(true);
    }
  });
});
