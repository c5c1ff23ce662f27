import { describe, expect, it } from 'vitest';
import { TextParser } from '../src/text/parser.js';
import { ItemFacts, type Request } from '../src/index.js';
import { err, errorOf, parse, parseEveryWay, text } from './text-parser.helpers.js';

const CRLF = '\r\n';
const k = (n: number) => 'k'.repeat(n);

describe('text retrieval commands', () => {
  it('parses get with one key into a single-key get', () => {
    expect(parse('get foo\r\n')).toEqual([{ ...text, cmd: 'get', key: 'foo', withCas: false, want: 0 }]);
  });

  it('parses gets, gat and gats with their cas and touch options', () => {
    expect(parse('gets foo\r\ngat 10 foo\r\ngats -1 foo\r\n')).toEqual([
      { ...text, cmd: 'get', key: 'foo', withCas: true, want: ItemFacts.CAS },
      { ...text, cmd: 'get', key: 'foo', withCas: false, touch: 10, want: 0 },
      { ...text, cmd: 'get', key: 'foo', withCas: true, touch: -1, want: ItemFacts.CAS },
    ]);
  });

  it('parses several keys into one multi-get, ignoring extra and trailing spaces', () => {
    expect(parse('get a  b   c \r\ngets  x y\r\n')).toEqual([
      { ...text, cmd: 'mget', keys: ['a', 'b', 'c'], withCas: false },
      { ...text, cmd: 'mget', keys: ['x', 'y'], withCas: true },
    ]);
    expect(parse('gat 5 a b\r\n')).toEqual([{ ...text, cmd: 'mget', keys: ['a', 'b'], withCas: false, touch: 5 }]);
  });

  it('accepts a bare \\n line ending and leading spaces', () => {
    expect(parse('get a\n   get b\r\n')).toEqual([
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
      { ...text, cmd: 'get', key: 'b', withCas: false, want: 0 },
    ]);
  });

  it('keeps a key containing control bytes, tabs and high bytes; strips only one \\r', () => {
    expect(parse('get a\tb\x01\xff\r\nget a\r\r\n')).toEqual([
      { ...text, cmd: 'get', key: 'a\tb\x01\xff', withCas: false, want: 0 },
      { ...text, cmd: 'get', key: 'a\r', withCas: false, want: 0 },
    ]);
  });

  it('ends the line at a NUL byte like memcached (C string)', () => {
    expect(parse('get a\0b c\r\nget x\0\r\n')).toEqual([
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
      { ...text, cmd: 'get', key: 'x', withCas: false, want: 0 },
    ]);
    expect(parse('\0get a\r\n')).toEqual([err('ERROR')]);
  });

  it('answers gat with an exptime but no key with an empty multi-get (memcached says END)', () => {
    expect(parse('gat 10\r\n')).toEqual([{ ...text, cmd: 'mget', keys: [], withCas: false, touch: 10 }]);
  });

  it('treats the legacy bget as get', () => {
    expect(parse('bget a\r\n')).toEqual([{ ...text, cmd: 'get', key: 'a', withCas: false, want: 0 }]);
  });

  it('rejects get without keys, bad gat exptime and keys over 250 bytes', () => {
    expect(parse('get\r\nget \r\ngat\r\n')).toEqual([err('ERROR'), err('ERROR'), err('ERROR')]);
    expect(errorOf('gat x a\r\n').wire).toBe('CLIENT_ERROR invalid exptime argument');
    expect(errorOf(`get ${k(251)}\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf(`get a ${k(251)} b\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
    expect(parse(`get ${k(250)}\r\n`)).toEqual([{ ...text, cmd: 'get', key: k(250), withCas: false, want: 0 }]);
  });

  it('parses a multi-get with thousands of keys', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `key${i}`);
    const r = parseEveryWay(`get ${keys.join(' ')}\r\nget z\r\n`);
    expect(r.requests).toEqual([
      { ...text, cmd: 'mget', keys, withCas: false },
      { ...text, cmd: 'get', key: 'z', withCas: false, want: 0 },
    ]);
  });

  it('wants the CAS unique for gets and gats, whose replies show it, and nothing for get and gat', () => {
    expect(parse('get a\r\ngets a\r\ngat 1 a\r\ngats 1 a\r\n').map((r) => r.want)).toEqual([0, ItemFacts.CAS, 0, ItemFacts.CAS]);
  });

  it('enforces maxKeysPerGet with an in-order error', () => {
    expect(parse('get a b c\r\nget a b\r\n', { maxKeysPerGet: 2 })).toEqual([
      err('SERVER_ERROR too many keys in request'),
      { ...text, cmd: 'mget', keys: ['a', 'b'], withCas: false },
    ]);
  });
});

describe('text storage commands', () => {
  it('parses set/add/replace/append/prepend with flags, exptime and value', () => {
    const modes = ['set', 'add', 'replace', 'append', 'prepend'] as const;
    const input = modes.map((m) => `${m} key 5 100 3\r\nabc\r\n`).join('');
    expect(parse(input)).toEqual(
      modes.map((mode) => ({
        ...text,
        cmd: 'store',
        mode,
        key: 'key',
        value: 'abc',
        flags: 5,
        exptime: 100,
        textCas: false,
        unlinkOnFailure: mode === 'set',
      })),
    );
  });

  it('parses cas with its unique and marks it textCas', () => {
    expect(parse('cas k 0 0 1 18446744073709551615\r\nx\r\n')).toEqual([
      {
        ...text,
        cmd: 'store',
        mode: 'set',
        key: 'k',
        value: 'x',
        flags: 0,
        exptime: 0,
        compareCas: '18446744073709551615n',
        textCas: true,
        unlinkOnFailure: false,
      },
    ]);
  });

  it('unlinks the old item when a store fails only for set, as memcached does (not cas, add, replace, append, prepend)', () => {
    const r = parse(
      'set a 0 0 1\r\nx\r\nset a 0 0 1 noreply\r\nx\r\ncas a 0 0 1 5\r\nx\r\nadd a 0 0 1\r\nx\r\n' +
        'replace a 0 0 1\r\nx\r\nappend a 0 0 1\r\nx\r\nprepend a 0 0 1\r\nx\r\n',
    );
    expect(r.map((q) => [q.mode, q.textCas, q.unlinkOnFailure])).toEqual([
      ['set', false, true],
      ['set', false, true],
      ['set', true, false],
      ['add', false, false],
      ['replace', false, false],
      ['append', false, false],
      ['prepend', false, false],
    ]);
  });

  it('reads binary-safe values containing \\r\\n, NUL and spaces', () => {
    const value = 'a\r\nb\0 c\r\n';
    expect(parse(`set k 0 0 ${value.length}\r\n${value}\r\nget k\r\n`)).toEqual([
      { ...text, cmd: 'store', mode: 'set', key: 'k', value, flags: 0, exptime: 0, textCas: false, unlinkOnFailure: true },
      { ...text, cmd: 'get', key: 'k', withCas: false, want: 0 },
    ]);
  });

  it('reads an empty value and a value after a bare \\n line end', () => {
    expect(parse('set k 0 0 0\r\n\r\nset j 0 0 1\nx\r\n')).toEqual([
      { ...text, cmd: 'store', mode: 'set', key: 'k', value: '', flags: 0, exptime: 0, textCas: false, unlinkOnFailure: true },
      { ...text, cmd: 'store', mode: 'set', key: 'j', value: 'x', flags: 0, exptime: 0, textCas: false, unlinkOnFailure: true },
    ]);
  });

  it('marks noreply quiet and accepts any other word in its place', () => {
    expect(parse('set k 0 0 1 noreply\r\nx\r\nset k 0 0 1 whatever\r\ny\r\n')).toEqual([
      {
        ...text,
        quiet: true,
        cmd: 'store',
        mode: 'set',
        key: 'k',
        value: 'x',
        flags: 0,
        exptime: 0,
        textCas: false,
        unlinkOnFailure: true,
      },
      { ...text, cmd: 'store', mode: 'set', key: 'k', value: 'y', flags: 0, exptime: 0, textCas: false, unlinkOnFailure: true },
    ]);
  });

  it('truncates flags, exptime and length to 32 bits the way memcached does', () => {
    const r = parse(
      'set a 4294967296 4294967296 4294967297\r\nx\r\n' +
        'set b 18446744073709551615 -5 1\r\ny\r\n' +
        'set c +7 \t3 1\r\nz\r\n' +
        'set d -0 0 1\r\nw\r\n',
    );
    expect(r.map((q) => [q.key, q.flags, q.exptime, q.value])).toEqual([
      ['a', 0, 0, 'x'],
      ['b', 4294967295, -5, 'y'],
      ['c', 7, 3, 'z'],
      ['d', 0, 0, 'w'],
    ]);
  });

  it('answers wrong argument counts with ERROR and then reads the data line as a command', () => {
    expect(parse('set a 0 0\r\nhello\r\ncas a 0 0 1\r\nx\r\nset a 0 0 1 noreply extra\r\nx\r\n')).toEqual([
      err('ERROR'),
      err('ERROR'),
      err('ERROR'),
      err('ERROR'),
      err('ERROR'),
      err('ERROR'),
    ]);
  });

  it('rejects bad numbers, negative flags and bad cas without reading the data block', () => {
    for (const line of [
      'set a x 0 1',
      'set a -1 0 1',
      'set a 0 x 1',
      'set a 0 0 x',
      'set a 18446744073709551616 0 1',
      'cas a 0 0 1 -1',
      'cas a 0 0 1 z',
    ]) {
      expect(parse(`${line}\r\nx\r\n`), line).toEqual([err('CLIENT_ERROR bad command line format'), err('ERROR')]);
    }
  });

  it('rejects negative lengths and lengths at or above 2^31 - 2 with CLIENT_ERROR and no swallow', () => {
    for (const len of ['-1', '2147483646', '2147483647', '2147483648', '9223372036854775808']) {
      expect(parse(`set a 0 0 ${len}\r\nx\r\n`), len).toEqual([err('CLIENT_ERROR bad command line format'), err('ERROR')]);
    }
  });

  it('silences errors of a noreply store', () => {
    expect(parse('set a x 0 1 noreply\r\nx\r\n')).toEqual([err('CLIENT_ERROR bad command line format', true), err('ERROR')]);
    expect(parse(`set ${k(251)} 0 0 1 noreply\r\nx\r\n`)).toEqual([err('CLIENT_ERROR bad command line format', true), err('ERROR')]);
  });

  it('rejects a key over 250 bytes', () => {
    expect(parse(`set ${k(251)} 0 0 1\r\nx\r\n`)).toEqual([err('CLIENT_ERROR bad command line format'), err('ERROR')]);
  });

  it('answers a data block not ending in \\r\\n with bad data chunk, consuming exactly <bytes>+2', () => {
    // "abc\r\n" for 1 byte: "abc" is the block, then "\r\n" is an (unknown) empty command.
    expect(parse('set a 0 0 1\r\nabc\r\nget a\r\n')).toEqual([
      err('CLIENT_ERROR bad data chunk'),
      err('ERROR'),
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
    ]);
    expect(parse('set a 0 0 1\r\nab\nget a\r\n')).toEqual([
      err('CLIENT_ERROR bad data chunk'),
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
    ]);
    expect(parse('set a 0 0 1 noreply\r\nabc\r\n')).toEqual([err('CLIENT_ERROR bad data chunk', true), err('ERROR')]);
  });

  it('answers an item over the size limit with SERVER_ERROR and swallows its data block', () => {
    const big = 'x'.repeat(2000);
    // A refused `set` names the key whose old item memcached unlinks; other modes do not.
    expect(parse(`set a 0 0 2000\r\n${big}\r\nget a\r\n`, { maxItemSize: 1000 })).toEqual([
      { ...err('SERVER_ERROR object too large for cache'), unlinkKey: 'a' },
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
    ]);
    expect(parse(`set a 0 0 2000 noreply\r\n${big}\r\nget a\r\n`, { maxItemSize: 1000 })).toEqual([
      { ...err('SERVER_ERROR object too large for cache', true), unlinkKey: 'a' },
      { ...text, cmd: 'get', key: 'a', withCas: false, want: 0 },
    ]);
    expect(parse(`add a 0 0 2000\r\n${big}\r\n`, { maxItemSize: 1000 })).toEqual([err('SERVER_ERROR object too large for cache')]);
    expect(parse(`cas a 0 0 2000 1\r\n${big}\r\n`, { maxItemSize: 1000 })).toEqual([err('SERVER_ERROR object too large for cache')]);
  });

  it('swallows a huge declared block without buffering it', () => {
    const p = new TextParser();
    const out: Request[] = [];
    p.feed(Buffer.from('set a 0 0 2147483645\r\n'), out);
    expect(out.map((r) => (r.cmd === 'error' ? r.error.code : r.cmd))).toEqual(['TOO_LARGE']);
    const junk = Buffer.alloc(1 << 20, 0x78);
    for (let i = 0; i < 64; i++) p.feed(junk, out);
    expect(p.buffered).toBe(0);
    expect(out).toHaveLength(1);
  });

  it('assembles a value spanning chunks once, into a buffer of its final size', () => {
    const p = new TextParser();
    const out: Request[] = [];
    p.feed(Buffer.from('set a 0 0 10\r\n01234'), out);
    expect(p.buffered).toBe(12);
    p.feed(Buffer.from('56789\r\nget a\r\n'), out);
    expect(p.buffered).toBe(0);
    expect(out.map((r) => r.cmd)).toEqual(['store', 'get']);
    const v = (out[0] as { value: Buffer }).value;
    expect(v.toString()).toBe('0123456789');
    expect(v.buffer.byteLength).toBeGreaterThanOrEqual(12);
  });

  it('returns keys and values as views of the chunk when they lie within it', () => {
    const chunk = Buffer.from('set key 0 0 5\r\nhello\r\nget key\r\n');
    const out: Request[] = [];
    new TextParser().feed(chunk, out);
    const store = out[0] as { key: Buffer; value: Buffer };
    expect(store.key.buffer).toBe(chunk.buffer);
    expect(store.value.buffer).toBe(chunk.buffer);
    expect((out[1] as { key: Buffer }).key.buffer).toBe(chunk.buffer);
  });
});

describe('text delete, incr/decr, touch', () => {
  it('parses delete with noreply and the legacy zero hold time', () => {
    expect(parse('delete a\r\ndelete a noreply\r\ndelete a 0\r\ndelete a 0 noreply\r\n')).toEqual([
      { ...text, cmd: 'delete', key: 'a' },
      { ...text, quiet: true, cmd: 'delete', key: 'a' },
      { ...text, cmd: 'delete', key: 'a' },
      { ...text, quiet: true, cmd: 'delete', key: 'a' },
    ]);
  });

  it('answers other delete arguments with the usage error (silenced by noreply)', () => {
    const usage = 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]';
    expect(errorOf('delete a 1\r\n').wire).toBe(usage);
    expect(errorOf('delete a 0 x\r\n').wire).toBe(usage);
    expect(errorOf('delete a x noreply\r\n')).toEqual({ wire: usage, quiet: true, protocol: 'text' });
    expect(parse('delete\r\ndelete a 0 noreply x\r\n')).toEqual([err('ERROR'), err('ERROR')]);
    expect(errorOf(`delete ${k(251)}\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf(`delete ${k(251)} noreply\r\n`).quiet).toBe(true);
  });

  it('parses incr/decr with an unsigned 64-bit delta', () => {
    expect(parse('incr n 18446744073709551615\r\ndecr n 1 noreply\r\nincr n 5 junk\r\n')).toEqual([
      { ...text, cmd: 'incr', key: 'n', incr: true, delta: '18446744073709551615n' },
      { ...text, quiet: true, cmd: 'decr', key: 'n', incr: false, delta: '1n' },
      { ...text, cmd: 'incr', key: 'n', incr: true, delta: '5n' },
    ]);
  });

  it('parses deltas as strtoull does: sign, blanks, negation modulo 2^64', () => {
    const r = parse('incr n -0\r\nincr n -18446744073709551615\r\nincr n \t7\r\nincr n 5\t\r\nincr n 9223372036854775808\t\r\n');
    expect(r.map((q) => q.delta)).toEqual(['0n', '1n', '7n', '5n', '9223372036854775808n']);
  });

  it("rejects invalid deltas with memcached's message", () => {
    for (const d of ['-1', 'abc', '5x', '18446744073709551616', '9223372036854775808\t-']) {
      expect(errorOf(`incr n ${d}\r\n`).wire, d).toBe('CLIENT_ERROR invalid numeric delta argument');
    }
    expect(errorOf('incr n abc noreply\r\n').quiet).toBe(true);
    expect(parse('incr n\r\ndecr n 1 2 3\r\n')).toEqual([err('ERROR'), err('ERROR')]);
  });

  it('parses touch and rejects a bad exptime', () => {
    expect(parse('touch a 10\r\ntouch a -1 noreply\r\n')).toEqual([
      { ...text, cmd: 'touch', key: 'a', exptime: 10 },
      { ...text, quiet: true, cmd: 'touch', key: 'a', exptime: -1 },
    ]);
    expect(errorOf('touch a x\r\n').wire).toBe('CLIENT_ERROR invalid exptime argument');
    expect(errorOf('touch a x noreply\r\n').quiet).toBe(true);
    expect(errorOf('touch a\r\n').wire).toBe('ERROR');
  });
});

describe('text admin commands', () => {
  it('parses flush_all with optional delay and noreply', () => {
    expect(parse('flush_all\r\nflush_all 10\r\nflush_all noreply\r\nflush_all 0 noreply\r\nflush_all 10 x\r\nflush_all -1\r\n')).toEqual([
      { ...text, cmd: 'flush_all', delay: 0 },
      { ...text, cmd: 'flush_all', delay: 10 },
      { ...text, quiet: true, cmd: 'flush_all', delay: 0 },
      { ...text, quiet: true, cmd: 'flush_all', delay: 0 },
      { ...text, cmd: 'flush_all', delay: 10 },
      { ...text, cmd: 'flush_all', delay: -1 },
    ]);
    expect(errorOf('flush_all x\r\n').wire).toBe('CLIENT_ERROR invalid exptime argument');
    expect(errorOf('flush_all noreply 10\r\n').wire).toBe('CLIENT_ERROR invalid exptime argument');
    expect(errorOf('flush_all 1 2 3\r\n').wire).toBe('ERROR');
  });

  it('parses version, quit, stats and verbosity', () => {
    expect(
      parse('version\r\nversion foo\r\nquit\r\nstats\r\nstats settings x\r\nverbosity 1\r\nverbosity 1 noreply\r\nverbosity 1 2\r\n'),
    ).toEqual([
      { ...text, cmd: 'version' },
      { ...text, cmd: 'version' },
      { ...text, cmd: 'quit' },
      { ...text, cmd: 'stats', group: '' },
      { ...text, cmd: 'stats', group: 'settings' },
      { ...text, cmd: 'verbosity', level: 1 },
      { ...text, quiet: true, cmd: 'verbosity', level: 1 },
      { ...text, cmd: 'verbosity', level: 1 },
    ]);
    expect(errorOf('verbosity x\r\n').wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf('verbosity noreply\r\n')).toEqual({ wire: 'CLIENT_ERROR bad command line format', quiet: true, protocol: 'text' });
    expect(parse('verbosity\r\nverbosity 1 2 3\r\n')).toEqual([err('ERROR'), err('ERROR')]);
  });

  it('answers unknown commands, upper case, empty and blank lines with ERROR', () => {
    expect(parse('GET a\r\nfoo\r\n\r\n\n   \r\nversion\r\r\nx\r\nmx\r\n')).toEqual(Array.from({ length: 8 }, () => err('ERROR')));
    // shutdown is the server's to refuse or carry out.
    expect(parse('shutdown\r\nshutdown graceful\r\n')).toEqual([
      { ...text, cmd: 'admin', name: 'shutdown', args: [] },
      { ...text, cmd: 'admin', name: 'shutdown', args: ['graceful'] },
    ]);
  });

  it('parses admin commands with their checked arguments, noreply where memcached reads it', () => {
    const admin = (name: string, args: string[], quiet = false) => ({ ...text, quiet, cmd: 'admin', name, args });
    expect(parse('lru_crawler metadump all\r\nstats cachedump 1 +5\r\nslabs automove 2 noreply\r\ncache_memlimit 064\r\n')).toEqual([
      admin('lru_crawler', ['metadump', 'all']),
      admin('stats', ['cachedump', '1', '5']),
      admin('slabs', ['automove', '2'], true),
      admin('cache_memlimit', ['64']),
    ]);
    expect(errorOf('slabs automove invalid\r\n').wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf('stats cachedump 64 0\r\n').wire).toBe('CLIENT_ERROR Illegal slab id');
  });

  it('closes (fatal, no reply) on an unknown command whose last word starts with HTTP/', () => {
    for (const line of ['GET / HTTP/1.1', 'PUT /x HTTP/1.0', 'DELETE HTTP/1.1', 'HTTP/1.1']) {
      expect(parseEveryWay(`version\r\n${line}\r\nversion\r\n`)).toMatchObject({ requests: [{ cmd: 'version' }], fatal: 'ERROR' });
    }
    // Words memcached dispatches itself, and lines whose last word is not HTTP/..., are answered.
    for (const line of ['get / HTTP/1.1', 'delete HTTP/1.1', 'GET / HTTP', 'watch HTTP/1.1'])
      expect(parseEveryWay(`${line}\r\n`).fatal).toBeUndefined();
  });
});

describe('line length limits', () => {
  it('closes (fatal) on more than 2048 bytes without a newline unless the line is get/gets', () => {
    expect(parseEveryWay('x'.repeat(2048)).fatal).toBeUndefined();
    expect(parseEveryWay('version\r\n' + 'x'.repeat(2049)).fatal).toBe('CLIENT_ERROR line too long');
    expect(parseEveryWay('version\r\n' + 'x'.repeat(2049)).requests).toEqual([{ ...text, cmd: 'version' }]);
    expect(parseEveryWay(`gat 0 ${'a '.repeat(1100)}`).fatal).toBe('CLIENT_ERROR line too long');
    expect(parseEveryWay(`${' '.repeat(101)}get ${'a '.repeat(1100)}`).fatal).toBe('CLIENT_ERROR line too long');
    expect(parseEveryWay(`${' '.repeat(100)}get ${'a '.repeat(1100)}`).fatal).toBeUndefined();
    expect(parseEveryWay(`gets ${'a '.repeat(1100)}\r\n`).requests).toHaveLength(1);
  });

  it('counts the \\r before \\n in the 2048 bytes, so 2048 bytes + \\r\\n closes', () => {
    expect(parseEveryWay('x'.repeat(2047) + '\r\n').requests).toEqual([err('ERROR')]);
    expect(parseEveryWay('x'.repeat(2048) + '\r\n').fatal).toBe('CLIENT_ERROR line too long');
    expect(parseEveryWay('x'.repeat(2048) + '\n').requests).toEqual([err('ERROR')]);
  });

  it('bounds a retrieval line by maxMultiGetLineLength: discards it and answers in order', () => {
    const limits = { maxMultiGetLineLength: 4096 };
    const long = `get ${'key '.repeat(2000)}\r\nget b\r\n`;
    const r = parseEveryWay(long, limits, undefined, 0);
    expect(r.requests).toEqual([err('SERVER_ERROR request line too long'), { ...text, cmd: 'get', key: 'b', withCas: false, want: 0 }]);
  });

  it('never holds more than the line limit while a long line arrives', () => {
    const limits = { maxMultiGetLineLength: 8192 };
    const p = new TextParser(limits);
    const out: Request[] = [];
    p.feed(Buffer.from('get '), out);
    let max = 0;
    for (let i = 0; i < 5000; i++) {
      p.feed(Buffer.from('abcd '), out);
      max = Math.max(max, p.buffered);
    }
    expect(max).toBeLessThanOrEqual(8192 + 1);
    p.feed(Buffer.from('\r\n'), out);
    expect(out.map((r) => (r.cmd === 'error' ? r.error.wire.toString() : r.cmd))).toEqual(['SERVER_ERROR request line too long\r\n']);
    expect(p.buffered).toBe(0);
  });
});

describe('pipelining', () => {
  it('parses many requests from one chunk in order', () => {
    const n = 500;
    let input = '';
    for (let i = 0; i < n; i++) input += `get key:${i}\r\nset key:${i} ${i} 0 ${String(i).length}\r\n${i}\r\n`;
    const r = parseEveryWay(input, undefined, undefined, 0).requests;
    expect(r).toHaveLength(2 * n);
    expect(r[2 * 77]).toEqual({ ...text, cmd: 'get', key: 'key:77', withCas: false, want: 0 });
    expect(r[2 * 77 + 1]).toMatchObject({ cmd: 'store', key: 'key:77', value: '77', flags: 77 });
  });

  it('holds nothing after complete requests', () => {
    const p = new TextParser();
    const out: Request[] = [];
    p.feed(Buffer.from(`get a${CRLF}set b 0 0 1${CRLF}x${CRLF}`), out);
    expect(p.buffered).toBe(0);
    p.feed(Buffer.from('get'), out);
    expect(p.buffered).toBe(3);
  });
});

describe('release: letting the caller reuse its chunks', () => {
  /** Feed `chunks` through one reused buffer, overwritten after each release() that allows it. */
  function feedReusing(chunks: string[]): { out: Request[]; released: boolean[] } {
    const p = new TextParser();
    const out: Request[] = [];
    const released: boolean[] = [];
    for (const c of chunks) {
      const buf = Buffer.from(c);
      p.feed(buf, out);
      const ok = p.release();
      released.push(ok);
      if (ok) buf.fill(0xee);
    }
    return { out, released };
  }

  it('copies an unfinished line, so the chunk it came from may be overwritten', () => {
    const { out, released } = feedReusing(['get al', 'pha be', 'ta\r\n']);
    expect(released).toEqual([true, true, true]);
    expect(out).toMatchObject([{ cmd: 'mget', keys: [Buffer.from('alpha'), Buffer.from('beta')] }]);
  });

  it('says no while a storage request waits for its data block, whose key is a view of an earlier chunk', () => {
    const p = new TextParser();
    const out: Request[] = [];
    const first = Buffer.from('set key 0 0 5\r\nhel');
    p.feed(first, out);
    expect(p.release()).toBe(false);
    p.feed(Buffer.from('lo\r\n'), out);
    expect(p.release()).toBe(true);
    expect(out).toMatchObject([{ cmd: 'store', mode: 'set', key: Buffer.from('key'), value: Buffer.from('hello') }]);
  });
});
