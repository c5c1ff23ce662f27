import { describe, expect, it } from 'vitest';
import { startMemcached } from '@cleave/testkit';
import { ProtocolError } from '../src/errors.js';
import { TextResponseParser, type MetaReply, type TextReply, type TextResponseParserOptions } from '../src/text/response-parser.js';
import { ReplySession } from './text-reply-session.js';

/** A reply with Buffers shown as latin1 strings, for comparing parses. */
function plain(r: TextReply): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) o[k] = Buffer.isBuffer(v) ? `<${v.toString('latin1')}>` : v;
  return o;
}

function parseWhole(bytes: Buffer, opts?: TextResponseParserOptions): TextReply[] {
  const out: TextReply[] = [];
  new TextResponseParser(opts).feed(bytes, out);
  return out;
}

function parseBytewise(bytes: Buffer, opts?: TextResponseParserOptions): TextReply[] {
  const out: TextReply[] = [];
  const p = new TextResponseParser(opts);
  for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1), out);
  expect(p.buffered).toBe(0);
  return out;
}

/**
 * Parse `bytes` whole, one byte at a time, and (for small inputs) split at
 * every position; all must agree. Returns the whole-buffer parse.
 */
function parseAll(input: string | Buffer, opts?: TextResponseParserOptions): TextReply[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const whole = parseWhole(bytes, opts);
  const expected = whole.map(plain);
  expect(parseBytewise(bytes, opts).map(plain)).toEqual(expected);
  if (bytes.length <= 400) {
    for (let cut = 1; cut < bytes.length; cut++) {
      const out: TextReply[] = [];
      const p = new TextResponseParser(opts);
      p.feed(bytes.subarray(0, cut), out);
      p.feed(bytes.subarray(cut), out);
      expect(out.map(plain)).toEqual(expected);
    }
  }
  return whole;
}

/** The error a feed throws, whole and byte by byte (the same code either way). */
function failure(input: string | Buffer, opts?: TextResponseParserOptions): ProtocolError {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  const errs: unknown[] = [];
  for (const feed of [parseWhole, parseBytewise]) {
    try {
      feed(bytes, opts);
      errs.push(undefined);
    } catch (e) {
      errs.push(e);
    }
  }
  for (const e of errs) expect(e).toBeInstanceOf(ProtocolError);
  const [a, b] = errs as ProtocolError[];
  expect(a!.code).toBe(b!.code);
  expect(a!.fatal).toBe(true);
  return a!;
}

describe('response parser: text replies', () => {
  it('reads VALUE blocks with and without CAS, then END', () => {
    const r = parseAll('VALUE foo 5 3\r\nabc\r\nVALUE bar 4294967295 0 18446744073709551615\r\n\r\nEND\r\n');
    expect(r.map(plain)).toEqual([
      { kind: 'value', key: '<foo>', flags: 5, cas: undefined, value: '<abc>' },
      { kind: 'value', key: '<bar>', flags: 4294967295, cas: 18446744073709551615n, value: '<>' },
      { kind: 'end' },
    ]);
  });

  it('takes the data block by its length, whatever bytes it holds', () => {
    const data = Buffer.from('END\r\nVALUE x 0 1\r\n\u0000\u00ff', 'latin1');
    const bytes = Buffer.concat([Buffer.from(`VALUE k 0 ${data.length}\r\n`), data, Buffer.from('\r\nEND\r\n')]);
    const r = parseAll(bytes);
    expect(r.length).toBe(2);
    expect(r[0]!.kind === 'value' && r[0]!.value.equals(data)).toBe(true);
  });

  it('reads every one-word status', () => {
    const words = ['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK', 'RESET'];
    const r = parseAll(words.map((w) => `${w}\r\n`).join(''));
    expect(r).toEqual(words.map((status) => ({ kind: 'status', status })));
  });

  it('reads incr/decr values as unsigned 64-bit numbers', () => {
    const r = parseAll('0\r\n42\r\n18446744073709551615\r\n');
    expect(r.map((x) => (x.kind === 'number' ? x.value : x.kind))).toEqual([0n, 42n, 18446744073709551615n]);
  });

  it('does not mistake a number beyond 64 bits for an incr reply', () => {
    expect(parseAll('18446744073709551616\r\n')[0]!.kind).toBe('line');
  });

  it('reads VERSION, STAT lines and errors', () => {
    const r = parseAll(
      'VERSION 1.6.18\r\nSTAT pid 1234\r\nSTAT libevent 2.1.12-stable\r\nEND\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nSERVER_ERROR out of memory storing object\r\nERROR: shutdown not enabled\r\n',
    );
    expect(r.map(plain)).toEqual([
      { kind: 'version', version: '1.6.18' },
      { kind: 'stat', name: 'pid', value: '1234' },
      { kind: 'stat', name: 'libevent', value: '2.1.12-stable' },
      { kind: 'end' },
      { kind: 'error', error: 'ERROR', message: '', line: '<ERROR>' },
      { kind: 'error', error: 'CLIENT_ERROR', message: 'bad data chunk', line: '<CLIENT_ERROR bad data chunk>' },
      {
        kind: 'error',
        error: 'SERVER_ERROR',
        message: 'out of memory storing object',
        line: '<SERVER_ERROR out of memory storing object>',
      },
      { kind: 'error', error: 'ERROR', message: 'shutdown not enabled', line: '<ERROR: shutdown not enabled>' },
    ]);
  });

  it('passes other lines through whole (admin replies, dumps)', () => {
    const r = parseAll('BUSY currently processing reassign request\r\nITEM foo [3 b; 0 s]\r\n');
    expect(r.map(plain)).toEqual([
      { kind: 'line', line: '<BUSY currently processing reassign request>' },
      { kind: 'line', line: '<ITEM foo [3 b; 0 s]>' },
    ]);
  });
});

describe('response parser: meta replies', () => {
  it('reads VA with its value and every return flag', () => {
    const [r] = parseAll('VA 3 s3 t-1 c13 f5 h1 l7 kfoo O123 b W X Z\r\nabc\r\n') as MetaReply[];
    expect(plain(r!)).toEqual({
      kind: 'meta',
      code: 'VA',
      value: '<abc>',
      flags: '<s3 t-1 c13 f5 h1 l7 kfoo O123 b W X Z>',
      cas: 13n,
      clientFlags: 5,
      hit: true,
      lastAccess: 7,
      size: 3,
      ttl: -1,
      opaque: '<123>',
      key: '<foo>',
      base64Key: true,
      win: true,
      stale: true,
      tokenSent: true,
    });
  });

  it('reads HD, EN, NS, EX, NF and MN, with or without flags', () => {
    const r = parseAll('HD\r\nHD c19 km O9\r\nEN\r\nEN kzz Oab\r\nNS km O1 c0\r\nEX c0\r\nNF kr O5\r\nMN\r\n') as MetaReply[];
    expect(r.map((x) => [x.code, x.flags.toString(), x.key?.toString(), x.opaque?.toString(), x.cas])).toEqual([
      ['HD', '', undefined, undefined, undefined],
      ['HD', 'c19 km O9', 'm', '9', 19n],
      ['EN', '', undefined, undefined, undefined],
      ['EN', 'kzz Oab', 'zz', 'ab', undefined],
      ['NS', 'km O1 c0', 'm', '1', 0n],
      ['EX', 'c0', undefined, undefined, 0n],
      ['NF', 'kr O5', 'r', '5', undefined],
      ['MN', '', undefined, undefined, undefined],
    ]);
  });

  it('keeps an empty VA value and values that contain CR LF', () => {
    const r = parseAll('VA 0 W\r\n\r\nVA 4\r\n\r\n\r\n\r\n') as MetaReply[];
    expect(r.map((x) => [x.code, x.value?.toString('latin1'), x.win])).toEqual([
      ['VA', '', true],
      ['VA', '\r\n\r\n', false],
    ]);
  });

  it('reads the me debug line', () => {
    const [r] = parseAll('ME a exp=-100 la=1 cas=11 fetch=yes cls=1 size=67\r\n');
    expect(plain(r!)).toEqual({
      kind: 'me',
      key: '<a>',
      exp: -100,
      la: 1,
      cas: 11n,
      fetched: true,
      cls: 1,
      size: 67,
      fields: '<exp=-100 la=1 cas=11 fetch=yes cls=1 size=67>',
    });
  });
});

describe('response parser: buffers and memory', () => {
  /** A chunk with an ArrayBuffer of its own (small Buffer.from results share Node's pool). */
  const own = (s: string): Buffer => {
    const b = Buffer.alloc(s.length);
    b.write(s, 'latin1');
    return b;
  };

  it('returns keys and values as views into the chunk fed, without copying', () => {
    const chunk = own('VALUE foo 0 3\r\nabc\r\nVA 2 kbar\r\nhi\r\n');
    const out: TextReply[] = [];
    new TextResponseParser().feed(chunk, out);
    const v = out[0]!;
    const m = out[1] as MetaReply;
    expect(v.kind === 'value' && v.value.buffer === chunk.buffer && v.key.buffer === chunk.buffer).toBe(true);
    expect(m.value!.buffer).toBe(chunk.buffer);
    expect(m.key!.buffer).toBe(chunk.buffer);
    // Writing through the view shows it is the chunk's memory.
    chunk[15] = 0x41;
    expect(v.kind === 'value' && v.value.toString()).toBe('Abc');
  });

  it('copies a value that spans chunks once, into a buffer of its own', () => {
    const a = own('VALUE k 0 6\r\nabc');
    const b = own('def\r\nEND\r\n');
    const out: TextReply[] = [];
    const p = new TextResponseParser();
    p.feed(a, out);
    expect(p.buffered).toBe(3);
    p.feed(b, out);
    const v = out[0]!;
    expect(v.kind === 'value' && v.value.toString()).toBe('abcdef');
    expect(v.kind === 'value' && (v.value.buffer === a.buffer || v.value.buffer === b.buffer)).toBe(false);
    expect(out[1]!.kind).toBe('end');
  });

  it('keeps replies of an earlier split line intact when later lines split too', () => {
    const out: TextReply[] = [];
    const p = new TextResponseParser();
    p.feed(Buffer.from('HD kfir'), out);
    p.feed(Buffer.from('st\r\nHD ksec'), out);
    p.feed(Buffer.from('ond\r\n'), out);
    expect((out as MetaReply[]).map((r) => r.key!.toString())).toEqual(['first', 'second']);
  });

  it('rejects a value over the size limit from its header, before any data arrives', () => {
    const err = failure('VALUE k 0 1025\r\n', { maxValueSize: 1024 });
    expect(err.code).toBe('TOO_LARGE');
    expect(failure('VA 2000\r\n', { maxValueSize: 1024 }).code).toBe('TOO_LARGE');
    // At the limit is fine.
    expect(parseAll(`VA 16\r\n${'x'.repeat(16)}\r\n`, { maxValueSize: 16 }).length).toBe(1);
  });

  it('rejects a line over the line limit without holding more than the limit', () => {
    const p = new TextResponseParser({ maxLineLength: 64 });
    const out: TextReply[] = [];
    let thrown: unknown;
    try {
      for (let i = 0; i < 1000; i++) {
        p.feed(Buffer.from('x'), out);
        expect(p.buffered).toBeLessThanOrEqual(65);
      }
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect((thrown as ProtocolError).code).toBe('LINE_TOO_LONG');
    expect(failure(`STAT ${'y'.repeat(100)}\r\n`, { maxLineLength: 64 }).code).toBe('LINE_TOO_LONG');
    // A line of exactly the limit passes.
    expect(parseAll(`STAT ${'y'.repeat(59)}\r\n`, { maxLineLength: 64 }).length).toBe(1);
  });

  it('rejects a data block not followed by CR LF', () => {
    expect(failure('VALUE k 0 3\r\nabcd\r\n').code).toBe('BAD_DATA_CHUNK');
    expect(failure('VA 1\r\nab').code).toBe('BAD_DATA_CHUNK');
  });

  it('rejects malformed VALUE headers and meta flags', () => {
    for (const bad of [
      'VALUE  0 1\r\n',
      'VALUE k x 1\r\n',
      'VALUE k 0\r\n',
      'VALUE k 4294967296 1\r\n',
      'VALUE k 0 1 abc\r\n',
      'VA x\r\n',
      'HD cabc\r\n',
      'HD h2\r\n',
      'HD t\r\n',
    ]) {
      expect(failure(bad).code).toBe('BAD_FORMAT');
    }
  });

  it('starts clean after reset()', () => {
    const out: TextReply[] = [];
    const p = new TextResponseParser();
    p.feed(Buffer.from('VALUE k 0 10\r\nabc'), out);
    p.reset();
    expect(p.buffered).toBe(0);
    p.feed(Buffer.from('STORED\r\n'), out);
    expect(out).toEqual([{ kind: 'status', status: 'STORED' }]);
  });

  it('never throws anything but ProtocolError, and holds at most the configured limits, on random bytes', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.uint8Array({ maxLength: 40 }),
            fc.constantFrom('VALUE k 0 5\r\n', 'VA 3 c1\r\n', 'HD k', '\r\n', 'END').map((s) => Buffer.from(s)),
          ),
          {
            maxLength: 30,
          },
        ),
        (parts) => {
          const p = new TextResponseParser({ maxLineLength: 128, maxValueSize: 256 });
          const out: TextReply[] = [];
          try {
            for (const part of parts) {
              p.feed(Buffer.from(part), out);
              expect(p.buffered).toBeLessThanOrEqual(256 + 2 + 129);
            }
          } catch (e) {
            expect(e).toBeInstanceOf(ProtocolError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('response parser: real memcached replies', () => {
  it('parses a transcript of memcached answers identically whole, byte by byte and split anywhere', async () => {
    const mc = await startMemcached();
    const s = await ReplySession.open(mc.port);
    try {
      const cmds = [
        'set a 5 0 3\r\nabc\r\n',
        'set n 0 0 2\r\n10\r\n',
        'get a n missing a\r\n',
        'gets a\r\n',
        'incr n 5\r\n',
        'add a 0 0 1\r\nx\r\n',
        'mg a s v t c f h l k O123\r\n',
        'mg missing k O1\r\n',
        'ms m 2 c k O9\r\nhi\r\n',
        'md m q\r\nmd m k\r\n',
        'ma n v c\r\n',
        'me a\r\n',
        'incr a 1\r\n',
        'version\r\n',
        'stats settings\r\n',
        'bogus\r\n',
      ];
      const transcript: Buffer[] = [];
      for (const c of cmds) transcript.push((await s.send(c)).raw);
      const all = Buffer.concat(transcript);
      const r = parseAll(all);
      const kinds = r.map((x) => (x.kind === 'meta' ? x.code : x.kind === 'status' ? x.status : x.kind));
      expect(kinds.slice(0, 16)).toEqual([
        'STORED',
        'STORED',
        'value',
        'value',
        'value',
        'end',
        'value',
        'end',
        'number',
        'NOT_STORED',
        'VA',
        'EN',
        'HD',
        'NF',
        'VA',
        'me',
      ]);
      expect(r.filter((x) => x.kind === 'stat').length).toBeGreaterThan(20);
      expect(r[r.length - 1]).toMatchObject({ kind: 'error', error: 'ERROR' });
    } finally {
      s.close();
      await mc.stop();
    }
  });
});
