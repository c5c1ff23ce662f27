/**
 * Through the server: a cleave server whose only tier is a MemcachedHandler
 * (in front of one memcached) must answer byte streams exactly as another
 * memcached answers them directly, CAS uniques and the version text aside;
 * and memccapable's ascii and binary suites pass against it. The handlers
 * sit behind RebuiltCommandsHandler, so they see each command rebuilt from
 * its typed fields alone: the contract is all they rely on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1l2 } from '@cleave/tiers';
import { listenAndServe, type Server } from '@cleave/server';
import {
  RawClient,
  RebuiltCommandsHandler,
  binaryCases as sharedBinary,
  metaCases as sharedMeta,
  textCases as sharedText,
  runMemccapable,
  binaryPacket,
  extras,
  normalizeBinary,
  normalizeText,
  startMemcached,
  type MemcachedProcess,
} from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';

let reference: MemcachedProcess;

/** A cleave server and the memcached behind it. */
interface Setup {
  port: number;
  backend: MemcachedProcess;
  server: Server;
}
const setups: Record<'l1Only' | 'l1l2', Setup> = {} as never;

beforeAll(async () => {
  let l2: MemcachedProcess;
  let only: MemcachedProcess;
  [reference, only, l2] = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  const serve = async (backend: MemcachedProcess, two: boolean): Promise<Setup> => {
    const handler = new MemcachedHandler({ address: { host: '127.0.0.1', port: backend.port } });
    const server = two
      ? await listenAndServe({ listen: { port: 0 }, handler: new RebuiltCommandsHandler(l1l2(new InMemoryHandler(), handler)) })
      : await listenAndServe({ listen: { port: 0 }, handler: new RebuiltCommandsHandler(handler) });
    return { port: (server.addresses[0] as { port: number }).port, backend, server };
  };
  setups.l1Only = await serve(only, false);
  setups.l1l2 = await serve(l2, true);
});

afterAll(async () => {
  for (const s of Object.values(setups)) {
    await s.server.close();
    await s.backend.stop();
  }
  await reference?.stop();
});

/** A miss with an opaque no case uses (steps may hold `mn`s of their own): its reply ends a step. */
const MARK = Buffer.from('mg step-end-marker O424242\r\n');
const MARK_REPLY = Buffer.from('EN O424242\r\n');
/** A binary noop with an opaque no case uses: its reply ends a step. */
const NOOP = binaryPacket({ opcode: 0x0a, opaque: 0xfeedface });
const NOOP_REPLY = (() => {
  const b = Buffer.alloc(24);
  b[0] = 0x81;
  b[1] = 0x0a;
  b.writeUInt32BE(0xfeedface, 12);
  return b;
})();

/**
 * Send each step's bytes on one fresh connection per server, followed by a
 * marker request (a meta miss, or a binary noop) whose reply shows where the
 * step's replies end; collect what each step answers, without the marker's.
 */
async function both(setup: Setup, steps: Array<Buffer | string>, binary: boolean): Promise<[Buffer[], Buffer[]]> {
  const [marker, end] = binary ? [NOOP, NOOP_REPLY] : [MARK, MARK_REPLY];
  const run = async (port: number) => {
    const c = await RawClient.connect({ port });
    const replies: Buffer[] = [];
    for (const step of steps) {
      c.write(Buffer.concat([typeof step === 'string' ? Buffer.from(step, 'latin1') : step, marker]));
      const ok = await c.waitFor((b) => b.length >= end.length && b.subarray(b.length - end.length).equals(end), 10_000);
      expect(ok, `no end marker after ${JSON.stringify(step.toString().slice(0, 80))}`).toBe(true);
      const all = await c.read(c.received.length);
      replies.push(all.subarray(0, all.length - end.length));
    }
    c.close();
    return replies;
  };
  // Each case starts from an empty cache on both sides.
  for (const port of [reference.port, setup.port]) {
    const c = await RawClient.connect({ port });
    await c.request('flush_all\r\n', 'OK\r\n');
    c.close();
  }
  return Promise.all([run(reference.port), run(setup.port)]);
}

/**
 * Remaining TTLs (`t`) and idle times (`l`) count seconds of two different
 * processes' clocks, read at slightly different moments: ours may differ
 * from memcached's by a few seconds on a loaded machine. Such a value is
 * taken as equal when within 5 seconds of memcached's (and of the same sign).
 */
function reconcileTimes(ours: string, theirs: string): string {
  const want = [...theirs.matchAll(/ ([tl])(-?\d+)/g)].map((m) => [m[1], Number(m[2])] as const);
  let i = 0;
  return ours.replace(/ ([tl])(-?\d+)/g, (whole, letter: string, digits: string) => {
    const w = want[i++];
    if (w === undefined || w[0] !== letter) return whole;
    const v = Number(digits);
    return Math.sign(v) === Math.sign(w[1]) && Math.abs(v - w[1]) <= 5 ? ` ${letter}${w[1]}` : whole;
  });
}

async function expectSameText(setup: Setup, steps: Array<Buffer | string>): Promise<void> {
  const [theirs, ours] = await both(setup, steps, false);
  const t = theirs.map(normalizeText);
  expect(ours.map(normalizeText).map((o, i) => reconcileTimes(o, t[i]!))).toEqual(t);
}

async function expectSameBinary(setup: Setup, steps: Buffer[]): Promise<void> {
  const [theirs, ours] = await both(setup, steps, true);
  expect(ours.map(normalizeBinary)).toEqual(theirs.map(normalizeBinary));
}

/**
 * The server's differential cases, less those that end with memcached closing
 * the connection (this harness ends every step at a marker reply; the
 * server's own suite covers them, and they never reach a handler).
 */
const CLOSES = new Set([
  'quit closes the connection after earlier replies',
  'invalid extras length',
  'key too long',
  'quit answers then closes',
  'bad magic closes',
]);
const open = <T>(cases: Record<string, T>): Record<string, T> => Object.fromEntries(Object.entries(cases).filter(([n]) => !CLOSES.has(n)));

const textCases: Record<string, string[]> = {
  ...open(sharedText),
  'set then get, gets': ['set a 5 0 3\r\nabc\r\n', 'get a\r\n', 'gets a\r\n'],
  'multi-get in key order, misses skipped': [
    'set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n',
    'get a b \r\n',
    'get a missing b a\r\n',
    'gets b a\r\n',
  ],
  'cas: missing, mismatch': ['cas a 0 0 1 1\r\nx\r\n', 'set a 0 0 1\r\nx\r\n', 'cas a 0 0 1 999999\r\ny\r\n', 'get a\r\n'],
  delete: ['set a 0 0 1\r\nx\r\n', 'delete a\r\n', 'delete a\r\n', 'get a\r\n', 'delete a 0\r\n'],
  'incr keeps the flags': ['set n 9 0 1\r\n1\r\n', 'incr n 1\r\n', 'get n\r\n'],
  touch: ['touch a 10\r\n', 'set a 0 0 1\r\nx\r\n', 'touch a 10\r\n', 'get a\r\n'],
  flush_all: ['set a 0 0 1\r\nx\r\n', 'flush_all\r\n', 'get a\r\n', 'flush_all 0\r\n'],
  'flush_all inside a pipeline': ['set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\nflush_all\r\nget a b\r\nset a 0 0 1\r\nz\r\nget a b\r\n'],
  'large values round-trip': [`set big 1 0 1000000\r\n${'y'.repeat(1000000)}\r\n`, 'get big\r\n'],
};

const metaCases: Record<string, string[]> = {
  ...open(sharedMeta),
  'ma N creating and quiet': ['ma c N0 J5 v q\r\nmn\r\n', 'ma c N0 J5 v q\r\nmn\r\n', 'ma c t N100 J5 v\r\n', 'ma d t N100 J1 v\r\n'],
  'vivify, then the token is taken': ['mg v N30 t v c\r\n', 'mg v N30 t v\r\n', 'mg v t N30 s\r\n'],
  'recache wins once': ['ms a 1 T100\r\nx\r\n', 'mg a R30 v\r\n', 'mg a R200 v t\r\n', 'mg a R200 v\r\n'],
  'invalidation makes items stale': ['ms a 1\r\nx\r\n', 'md a I T30\r\n', 'mg a v t\r\n', 'mg a v\r\n', 'ms a 1 I\r\ny\r\n', 'mg a v\r\n'],
  'touch through mg T, and h/l flags': ['ms a 1 T100\r\nx\r\n', 'mg a t T50 h l\r\n', 'mg a t h\r\n', 'mg a T0 t\r\n'],
};

const binaryCases: Record<string, Buffer[]> = (() => {
  const SET = 0x01;
  const GET = 0x00;
  const GETK = 0x0c;
  const NOOP = 0x0a;
  const set = (key: string | Buffer, value: string, opts: { flags?: number; opcode?: number; cas?: bigint; opaque?: number } = {}) =>
    binaryPacket({ opcode: opts.opcode ?? SET, key, value, extras: extras.store(opts.flags ?? 0, 0), cas: opts.cas, opaque: opts.opaque });
  const keyOnly = (opcode: number, key: string | Buffer, opaque = 0) => binaryPacket({ opcode, key, opaque });
  return {
    ...open(sharedBinary),
    'flush and noop': [set('a', '1'), binaryPacket({ opcode: 0x08 }), keyOnly(GET, 'a'), binaryPacket({ opcode: NOOP, opaque: 99 })],
    'keys with bytes the text protocol cannot carry': [
      set(Buffer.from('a b\r\n\0'), 'spaced', { flags: 1 }),
      keyOnly(GETK, Buffer.from('a b\r\n\0'), 2),
      keyOnly(GETK, 'a', 3),
      keyOnly(0x04, Buffer.from('a b\r\n\0'), 4),
      keyOnly(GETK, Buffer.from('a b\r\n\0'), 5),
    ],
  };
})();

/**
 * Cases where an L1 in front of memcached answers differently, for reasons
 * of the two-tier orchestration rather than of this handler: the L1 copy of
 * a counter is not space-padded as memcached's is, nor marked as a binary
 * key, nor fetched in step with memcached (meta h/l describe the L1 copy).
 */
const L1L2_DIFFERS = new Set([
  'incr and decr',
  'incr wraps at 2^64',
  'decr keeps the length with trailing spaces',
  'base64 keys',
  'touch through mg T, and h/l flags',
]);

for (const name of ['l1Only', 'l1l2'] as const) {
  const label = name === 'l1Only' ? 'MemcachedHandler alone' : 'InMemoryHandler L1 over MemcachedHandler L2';
  const keep = (what: string) => name === 'l1Only' || !L1L2_DIFFERS.has(what);
  describe(`text protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(textCases)) if (keep(what)) it(what, () => expectSameText(setups[name], steps));
  });
  describe(`meta protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(metaCases)) if (keep(what)) it(what, () => expectSameText(setups[name], steps));
  });
  describe(`binary protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(binaryCases)) it(what, () => expectSameBinary(setups[name], steps));
  });
}

for (const name of ['l1Only', 'l1l2'] as const) {
  describe(`memccapable against ${name === 'l1Only' ? 'MemcachedHandler alone' : 'InMemoryHandler L1 over MemcachedHandler L2'}`, () => {
    for (const mode of ['-a', '-b'] as const) {
      it(`passes every ${mode === '-a' ? 'ascii' : 'binary'} test`, async () => {
        const r = await runMemccapable(setups[name].port, mode);
        expect(r.out).not.toMatch(/\[fail\]/);
        expect(r.out).toContain('All tests passed');
        expect(r.code).toBe(0);
      });
    }
  });
}
