/**
 * Byte streams for differential tests: each case is a list of steps, sent in
 * order on one connection to a real memcached and to a cleave server, whose
 * replies must be the same bytes (after normalizeText/normalizeBinary).
 * Steps hold complete requests (RawClient.exchange appends a marker).
 */
import { binaryPacket, extras } from './compare.js';

const long = (n: number) => 'k'.repeat(n);

/** Text protocol: storage, retrieval, counters, noreply, errors and limits. */
export const textCases: Record<string, string[]> = {
  'set then get': ['set a 0 0 1\r\na\r\n', 'get a\r\n'],
  'gets returns a cas unique': ['set a 5 0 3\r\nabc\r\n', 'gets a\r\n'],
  'flags are 32-bit and untouched': ['set a 4294967295 0 1\r\nx\r\n', 'get a\r\n'],
  'multi-get with the trailing space twemproxy sends': ['set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n', 'get a b \r\n', 'get a missing b\r\n'],
  'get of a missing key': ['get nothing\r\n'],
  'pipelined storage and retrieval in one write': [
    'set a 0 0 1\r\n1\r\nset b 0 0 2\r\n22\r\nget a\r\nget b\r\nget a b\r\ndelete a\r\nget a b\r\n',
  ],
  'add and replace': ['add a 0 0 1\r\n1\r\n', 'add a 0 0 1\r\n2\r\n', 'replace b 0 0 1\r\n1\r\n', 'replace a 3 0 1\r\n3\r\n', 'get a\r\n'],
  'append and prepend keep flags': [
    'append a 0 0 1\r\nx\r\n',
    'set a 7 0 2\r\nbc\r\n',
    'append a 0 0 1\r\nd\r\n',
    'prepend a 0 0 1\r\na\r\n',
    'get a\r\n',
  ],
  'cas: missing, stale, then a match by a later gets': [
    'cas a 0 0 1 1\r\nx\r\n',
    'set a 0 0 1\r\nx\r\n',
    'cas a 0 0 1 999999\r\ny\r\n',
    'get a\r\n',
  ],
  delete: ['set a 0 0 1\r\nx\r\n', 'delete a\r\n', 'delete a\r\n', 'get a\r\n'],
  'delete with the legacy zero time, and with another time': [
    'set a 0 0 1\r\nx\r\n',
    'delete a 0\r\n',
    'delete a 5\r\n',
    'delete a 0 noreply\r\n',
  ],
  'incr and decr': ['set n 0 0 2\r\n10\r\n', 'incr n 5\r\n', 'decr n 100\r\n', 'get n\r\n', 'incr n 18446744073709551615\r\n', 'get n\r\n'],
  'incr wraps at 2^64': ['set n 0 0 20\r\n18446744073709551615\r\n', 'incr n 2\r\n'],
  'decr keeps the length with trailing spaces': ['set n 0 0 3\r\n100\r\n', 'decr n 1\r\n', 'get n\r\n'],
  'incr on a missing key and on a non-number': ['incr nope 1\r\n', 'set s 0 0 3\r\nabc\r\n', 'incr s 1\r\n'],
  'incr with a bad delta': ['set n 0 0 1\r\n1\r\n', 'incr n abc\r\n', 'incr n -1\r\n', 'incr n 18446744073709551616\r\n'],
  touch: ['touch a 10\r\n', 'set a 0 0 1\r\nx\r\n', 'touch a 10\r\n', 'get a\r\n'],
  'gat and gats': ['set a 3 0 1\r\nx\r\n', 'gat 100 a\r\n', 'gats 100 a missing\r\n', 'gat 0\r\n'],
  'noreply everywhere memcached allows it': [
    'set a 0 0 1 noreply\r\nx\r\nadd a 0 0 1 noreply\r\ny\r\nreplace a 0 0 1 noreply\r\nz\r\nappend a 0 0 1 noreply\r\n1\r\nprepend a 0 0 1 noreply\r\n0\r\nget a\r\n',
    'set n 0 0 1 noreply\r\n5\r\nincr n 1 noreply\r\ndecr n 2 noreply\r\ntouch n 10 noreply\r\nget n\r\ndelete n noreply\r\nget n\r\n',
    'flush_all noreply\r\nverbosity 1 noreply\r\nget a\r\n',
  ],
  flush_all: ['set a 0 0 1\r\nx\r\n', 'flush_all\r\n', 'get a\r\n', 'flush_all 0\r\n'],
  'version and verbosity': ['version\r\n', 'verbosity 1\r\n', 'verbosity\r\n'],
  'unknown commands': ['foo\r\n', 'GET a\r\n', '\r\n', 'gets\r\n', 'get\r\n'],
  'malformed storage lines': ['set a 0 0\r\n', 'set a x 0 1\r\n', 'set a 0 0 -1\r\n', 'set a 0 0 1 2 3\r\n', 'set a -1 0 1\r\nx\r\n'],
  'bad data chunk': ['set a 0 0 1\r\nabc\r\n', 'get a\r\n'],
  'key of 250 bytes works, 251 does not': [
    `set ${long(250)} 0 0 1\r\nx\r\n`,
    `get ${long(250)}\r\n`,
    `get ${long(251)}\r\n`,
    `set ${long(251)} 0 0 1\r\nx\r\n`,
  ],
  'item over the size limit is refused and its data swallowed': [`set big 0 0 1048577\r\n${'x'.repeat(1048577)}\r\n`, 'get big\r\n'],
  'a refused set unlinks the old item, a refused add does not': [
    'set a 0 0 1\r\nx\r\nset b 0 0 1\r\ny\r\n',
    `set a 0 0 1048577\r\n${'x'.repeat(1048577)}\r\nadd b 0 0 1048577\r\n${'x'.repeat(1048577)}\r\n`,
    'get a b\r\n',
  ],
  'newline-only line endings': ['set a 0 0 1\nx\r\n', 'get a\n'],
  'negative exptime expires at once': ['set a 0 -1 1\r\nx\r\n', 'get a\r\n'],
  'quit closes the connection after earlier replies': ['set a 0 0 1\r\nx\r\nget a\r\nquit\r\nget a\r\n'],
};
/** Meta protocol: return flags, modes, quiet mode, opaque tokens, base64 keys, errors. */
export const metaCases: Record<string, string[]> = {
  'ms then mg with return flags in request order': ['ms a 2 T100 F5\r\nhi\r\n', 'mg a v f t s k\r\n', 'mg a s k v\r\n'],
  'mg miss, quiet miss, mn': ['mg nope v\r\n', 'mg nope v q\r\nmn\r\n'],
  'opaque tokens are echoed': ['ms a 1 O42\r\nx\r\n', 'mg a O123 v\r\n', 'mg nope O7 v\r\n', 'md a O9\r\n'],
  'mg without v answers HD': ['ms a 1\r\nx\r\n', 'mg a\r\n', 'mg a f\r\n'],
  'md hit, miss and quiet': ['ms a 1\r\nx\r\n', 'md a q\r\nmn\r\n', 'md a\r\n', 'md a q\r\nmn\r\n'],
  'ms modes': [
    'ms a 1 ME\r\nx\r\n',
    'ms a 1 ME\r\ny\r\n',
    'ms b 1 MR\r\nz\r\n',
    'ms a 1 MA\r\n2\r\n',
    'ms a 1 MP\r\n0\r\n',
    'mg a v\r\n',
    'ms a 1 MX\r\n0\r\n',
  ],
  'ma arithmetic': ['ma n\r\n', 'ms n 1\r\n5\r\n', 'ma n v\r\n', 'ma n MD D10 v\r\n', 'ma n MI D7\r\n', 'mg n v\r\n', 'ma x N0 J13 v\r\n'],
  'ms with cas compare': ['ms a 1 C1\r\nx\r\n', 'ms a 1\r\nx\r\n', 'ms a 1 C99999\r\ny\r\n', 'mg a v\r\n'],
  'base64 keys': ['ms Zm9v 2 b\r\nhi\r\n', 'mg Zm9v b k v\r\n', 'get foo\r\n'],
  'meta errors': ['mg\r\n', 'ms a\r\n', 'ms a x\r\n', 'ms a 1 Fx\r\nx\r\n', `mg ${long(251)} v\r\n`, 'mz a\r\n'],
  'me debug': ['ms a 1\r\nx\r\n', 'me a\r\n', 'me nope\r\n'],
  'a refused ms unlinks the old item': ['ms a 1\r\nx\r\n', `ms a 1048577 T0\r\n${'x'.repeat(1048577)}\r\n`, 'mg a v\r\n'],
  'ma with T sets the exptime': ['ms n 1 T0\r\n5\r\n', 'ma n T100 v t\r\n', 'mg n t v\r\n'],
  'mixed text and meta in one pipeline': ['set a 0 0 1\r\nx\r\nmg a v\r\nget a\r\nmn\r\n'],
};
/** Binary protocol: every family of opcodes, quiet variants, errors that keep or close the connection. */
export const binaryCases: Record<string, Buffer[]> = (() => {
  const SET = 0x01;
  const GET = 0x00;
  const GETK = 0x0c;
  const GETQ = 0x09;
  const GETKQ = 0x0d;
  const NOOP = 0x0a;
  const set = (key: string, value: string, opts: { flags?: number; opcode?: number; cas?: bigint; opaque?: number } = {}) =>
    binaryPacket({ opcode: opts.opcode ?? SET, key, value, extras: extras.store(opts.flags ?? 0, 0), cas: opts.cas, opaque: opts.opaque });
  const keyOnly = (opcode: number, key: string, opaque = 0) => binaryPacket({ opcode, key, opaque });
  return {
    'set then get, getk': [set('a', 'hello', { flags: 7, opaque: 1 }), keyOnly(GET, 'a', 2), keyOnly(GETK, 'a', 3)],
    'quiet gets answer hits only, noop ends the batch': [
      set('a', '1'),
      Buffer.concat([
        keyOnly(GETQ, 'a', 10),
        keyOnly(GETQ, 'b', 11),
        keyOnly(GETKQ, 'a', 12),
        keyOnly(GETKQ, 'b', 13),
        binaryPacket({ opcode: NOOP, opaque: 14 }),
      ]),
    ],
    'get miss': [keyOnly(GET, 'nope', 5), keyOnly(GETK, 'nope', 6)],
    'add, replace, quiet variants': [
      set('a', '1', { opcode: 0x02 }),
      set('a', '2', { opcode: 0x02 }),
      set('b', '2', { opcode: 0x03 }),
      Buffer.concat([set('a', '3', { opcode: 0x13 }), set('a', '4', { opcode: 0x12 }), binaryPacket({ opcode: NOOP })]),
    ],
    'cas mismatch and missing': [set('a', '1'), set('a', '2', { cas: 12345n }), set('zz', '2', { cas: 12345n })],
    'delete and deleteq': [
      set('a', '1'),
      keyOnly(0x04, 'a'),
      keyOnly(0x04, 'a'),
      Buffer.concat([keyOnly(0x14, 'a'), binaryPacket({ opcode: NOOP })]),
    ],
    'increment creates, decrement floors': [
      binaryPacket({ opcode: 0x05, key: 'n', extras: extras.arith(5n, 10n, 0) }),
      binaryPacket({ opcode: 0x05, key: 'n', extras: extras.arith(5n, 10n, 0) }),
      binaryPacket({ opcode: 0x06, key: 'n', extras: extras.arith(100n, 0n, 0) }),
      binaryPacket({ opcode: 0x05, key: 'm', extras: extras.arith(1n, 0n, 0xffffffff) }),
      set('s', 'abc'),
      binaryPacket({ opcode: 0x05, key: 's', extras: extras.arith(1n, 0n, 0) }),
    ],
    'append and prepend': [
      binaryPacket({ opcode: 0x0e, key: 'a', value: 'x' }),
      set('a', 'b'),
      binaryPacket({ opcode: 0x0e, key: 'a', value: 'c' }),
      binaryPacket({ opcode: 0x0f, key: 'a', value: 'a' }),
      keyOnly(GET, 'a'),
    ],
    'touch and gat': [
      binaryPacket({ opcode: 0x1c, key: 'a', extras: extras.u32(10) }),
      set('a', 'v', { flags: 3 }),
      binaryPacket({ opcode: 0x1c, key: 'a', extras: extras.u32(10) }),
      binaryPacket({ opcode: 0x1d, key: 'a', extras: extras.u32(10) }),
      binaryPacket({ opcode: 0x23, key: 'a', extras: extras.u32(10) }),
    ],
    'flush, noop, version': [
      set('a', '1'),
      binaryPacket({ opcode: 0x08 }),
      keyOnly(GET, 'a'),
      binaryPacket({ opcode: NOOP, opaque: 99 }),
      binaryPacket({ opcode: 0x0b }),
    ],
    // (With a key or body memcached also skips that many bytes of the next packet; the protocol package's own differential test covers that quirk.)
    'unknown opcode': [binaryPacket({ opcode: 0x50, opaque: 3 }), binaryPacket({ opcode: NOOP })],
    'invalid extras length': [binaryPacket({ opcode: SET, key: 'a', value: 'x', extras: Buffer.alloc(3) }), binaryPacket({ opcode: NOOP })],
    'key too long': [keyOnly(GET, long(251))],
    // A Set refused as too large (memcached's default -I 1m) drops the key's old item; Add and Replace leave it.
    'too large set drops the old item, add and replace keep it': [
      set('big', 'old'),
      set('big', 'x'.repeat(1024 * 1024 + 1)),
      keyOnly(GET, 'big'),
      set('keep', 'old'),
      set('keep', 'x'.repeat(1024 * 1024 + 1), { opcode: 0x03 }),
      set('keep', 'x'.repeat(1024 * 1024 + 1), { opcode: 0x02 }),
      keyOnly(GET, 'keep', 7),
      set('q', 'old'),
      Buffer.concat([set('q', 'y'.repeat(1024 * 1024 + 100), { opcode: 0x11, opaque: 8 }), keyOnly(GETK, 'q', 9)]),
    ],
    'quit answers then closes': [Buffer.concat([binaryPacket({ opcode: 0x07, opaque: 4 }), keyOnly(GET, 'a')])],
    'bad magic closes': [binaryPacket({ opcode: GET, key: 'a' }), Buffer.concat([binaryPacket({ opcode: GET, key: 'a', magic: 0x81 })])],
  };
})();
