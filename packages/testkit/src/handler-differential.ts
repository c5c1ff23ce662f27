/**
 * A server in front of a Handler, compared with memcached: the same byte
 * streams go to both, one step at a time on a fresh connection each, and
 * the replies of each step are collected for comparison. The cases are
 * memcached's commands as a storage handler behind the server sees them
 * (the server's differential cases, less those where memcached closes the
 * connection, plus cases of storage semantics).
 */
import { binaryPacket, extras, normalizeBinary, normalizeText } from './compare.js';
import { binaryCases, metaCases, textCases } from './differential-cases.js';
import { RawClient } from './raw-client.js';

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

/** How a side-by-side run sends its steps. */
export interface SideBySideOptions {
  /**
   * Fresh connections per server (default 1); step i goes on connection
   * i mod n, so on a server with threads the steps of one case are served by
   * different threads and each step must see what the earlier ones did.
   */
  connections?: number;
}

/**
 * Send each step's bytes on fresh connections to each server, followed by a
 * marker request (a meta miss, or a binary noop) whose reply shows where the
 * step's replies end; collect what each step answers, without the marker's.
 */
export async function sideBySide(
  referencePort: number,
  port: number,
  steps: Array<Buffer | string>,
  binary: boolean,
  options: SideBySideOptions = {},
): Promise<[Buffer[], Buffer[]]> {
  const [marker, end] = binary ? [NOOP, NOOP_REPLY] : [MARK, MARK_REPLY];
  const run = async (port: number) => {
    const conns = await Promise.all(Array.from({ length: options.connections ?? 1 }, () => RawClient.connect({ port })));
    const replies: Buffer[] = [];
    for (const [i, step] of steps.entries()) {
      const c = conns[i % conns.length]!;
      c.write(Buffer.concat([typeof step === 'string' ? Buffer.from(step, 'latin1') : step, marker]));
      const ok = await c.waitFor((b) => b.length >= end.length && b.subarray(b.length - end.length).equals(end), 10_000);
      if (!ok) throw new Error(`no end marker after ${JSON.stringify(step.toString().slice(0, 80))}`);
      const all = await c.read(c.received.length);
      replies.push(all.subarray(0, all.length - end.length));
    }
    for (const c of conns) c.close();
    return replies;
  };
  // Each case starts from an empty cache on both sides.
  for (const p of [referencePort, port]) {
    const c = await RawClient.connect({ port: p });
    await c.request('flush_all\r\n', 'OK\r\n');
    c.close();
  }
  return Promise.all([run(referencePort), run(port)]);
}

/**
 * Remaining TTLs (`t`) and idle times (`l`) count seconds of two different
 * processes' clocks, read at slightly different moments: ours may differ
 * from memcached's by a few seconds on a loaded machine. Such a value is
 * taken as equal when within 5 seconds of memcached's (and of the same sign).
 */
export function reconcileTimes(ours: string, theirs: string): string {
  const want = [...theirs.matchAll(/ ([tl])(-?\d+)/g)].map((m) => [m[1], Number(m[2])] as const);
  let i = 0;
  return ours.replace(/ ([tl])(-?\d+)/g, (whole, letter: string, digits: string) => {
    const w = want[i++];
    if (w === undefined || w[0] !== letter) return whole;
    const v = Number(digits);
    return Math.sign(v) === Math.sign(w[1]) && Math.abs(v - w[1]) <= 5 ? ` ${letter}${w[1]}` : whole;
  });
}

/** Each text or meta step's replies from memcached and from the server under test, normalized (CAS, version) and with remaining TTLs reconciled. */
export async function textSideBySide(
  referencePort: number,
  port: number,
  steps: Array<Buffer | string>,
  options: SideBySideOptions = {},
): Promise<[string[], string[]]> {
  const [theirs, ours] = await sideBySide(referencePort, port, steps, false, options);
  const t = theirs.map(normalizeText);
  return [t, ours.map(normalizeText).map((o, i) => reconcileTimes(o, t[i]!))];
}

/** Each binary step's replies from memcached and from the server under test, normalized. */
export async function binarySideBySide(
  referencePort: number,
  port: number,
  steps: Buffer[],
  options: SideBySideOptions = {},
): Promise<[string[], string[]]> {
  const [theirs, ours] = await sideBySide(referencePort, port, steps, true, options);
  return [theirs.map(normalizeBinary), ours.map(normalizeBinary)];
}

/**
 * The server's differential cases that end with memcached closing the
 * connection. A harness that ends every step at a marker reply leaves them
 * out: the server's own suite covers them, and they never reach a handler.
 */
export const CLOSING_CASES: ReadonlySet<string> = new Set([
  'quit closes the connection after earlier replies',
  'invalid extras length',
  'key too long',
  'quit answers then closes',
  'bad magic closes',
]);
const open = <T>(cases: Record<string, T>): Record<string, T> =>
  Object.fromEntries(Object.entries(cases).filter(([n]) => !CLOSING_CASES.has(n)));

export const handlerTextCases: Record<string, string[]> = {
  ...open(textCases),
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

export const handlerMetaCases: Record<string, string[]> = {
  ...open(metaCases),
  'ma N creating and quiet': ['ma c N0 J5 v q\r\nmn\r\n', 'ma c N0 J5 v q\r\nmn\r\n', 'ma c t N100 J5 v\r\n', 'ma d t N100 J1 v\r\n'],
  'vivify, then the token is taken': ['mg v N30 t v c\r\n', 'mg v N30 t v\r\n', 'mg v t N30 s\r\n'],
  'recache wins once': ['ms a 1 T100\r\nx\r\n', 'mg a R30 v\r\n', 'mg a R200 v t\r\n', 'mg a R200 v\r\n'],
  'invalidation makes items stale': ['ms a 1\r\nx\r\n', 'md a I T30\r\n', 'mg a v t\r\n', 'mg a v\r\n', 'ms a 1 I\r\ny\r\n', 'mg a v\r\n'],
  'touch through mg T, and h/l flags': ['ms a 1 T100\r\nx\r\n', 'mg a t T50 h l\r\n', 'mg a t h\r\n', 'mg a T0 t\r\n'],
};

export const handlerBinaryCases: Record<string, Buffer[]> = (() => {
  const SET = 0x01;
  const GET = 0x00;
  const GETK = 0x0c;
  const NOOP = 0x0a;
  const set = (key: string | Buffer, value: string, opts: { flags?: number; opcode?: number; cas?: bigint; opaque?: number } = {}) =>
    binaryPacket({ opcode: opts.opcode ?? SET, key, value, extras: extras.store(opts.flags ?? 0, 0), cas: opts.cas, opaque: opts.opaque });
  const keyOnly = (opcode: number, key: string | Buffer, opaque = 0) => binaryPacket({ opcode, key, opaque });
  return {
    ...open(binaryCases),
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
export const L1L2_DIFFERS = new Set([
  'incr and decr',
  'incr wraps at 2^64',
  'decr keeps the length with trailing spaces',
  'base64 keys',
  'touch through mg T, and h/l flags',
]);
