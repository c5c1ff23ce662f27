import { describe, expect, it } from 'vitest';
import { ItemFacts } from '../src/model.js';
import { err, errorOf, meta, parse } from './text-parser.helpers.js';

const k = (n: number) => 'k'.repeat(n);
const m = (ret: string, wireKey: string, extra: Record<string, unknown> = {}) => ({ ret, base64Key: false, wireKey, ...extra });
const merr = (wire: string) => err(wire, false, 'meta');

describe('mg', () => {
  it('parses mg with return flags in request order', () => {
    expect(parse('mg foo v\r\nmg foo s t c f k v h l\r\nmg foo\r\n')).toEqual([
      { ...meta, cmd: 'get', key: 'foo', keyBinary: false, withCas: false, noBump: false, tokens: true, want: 0, meta: m('v', 'foo') },
      {
        ...meta,
        cmd: 'get',
        key: 'foo',
        keyBinary: false,
        withCas: false,
        noBump: false,
        tokens: true,
        want: ItemFacts.CAS | ItemFacts.KEY_FORM | ItemFacts.ACCESS,
        meta: m('stcfkvhl', 'foo'),
      },
      { ...meta, cmd: 'get', key: 'foo', keyBinary: false, withCas: false, noBump: false, tokens: true, want: 0, meta: m('', 'foo') },
    ]);
  });

  it('types T, N, R, u, q and O', () => {
    expect(parse('mg foo T30 N-1 R5 u q O123 k\r\n')).toEqual([
      {
        ...meta,
        quiet: true,
        cmd: 'get',
        key: 'foo',
        keyBinary: false,
        withCas: false,
        touch: 30,
        // T comes before N: the created item keeps N's exptime.
        vivify: -1,
        recache: 5,
        noBump: true,
        tokens: true,
        want: ItemFacts.KEY_FORM,
        meta: m('TNRuqOk', 'foo', { opaqueToken: 'O123', vivifyAsSent: -1 }),
      },
    ]);
  });

  it('decodes a base64 key with b and keeps the wire form', () => {
    expect(parse('mg Zm9v b v\r\nmg YQ==YQ== b\r\nmg YQ=x b\r\n')).toEqual([
      {
        ...meta,
        cmd: 'get',
        key: 'foo',
        keyBinary: true,
        withCas: false,
        noBump: false,
        tokens: true,
        want: 0,
        meta: { ret: 'bv', base64Key: true, wireKey: 'Zm9v' },
      },
      // memcached stops after the first padded group, and a group with one '=' keeps two bytes.
      {
        ...meta,
        cmd: 'get',
        key: 'a',
        keyBinary: true,
        withCas: false,
        noBump: false,
        tokens: true,
        want: 0,
        meta: { ret: 'b', base64Key: true, wireKey: 'YQ==YQ==' },
      },
      {
        ...meta,
        cmd: 'get',
        key: 'a\x00',
        keyBinary: true,
        withCas: false,
        noBump: false,
        tokens: true,
        want: 0,
        meta: { ret: 'b', base64Key: true, wireKey: 'YQ=x' },
      },
    ]);
  });

  it('wants only the item facts its return flags show: c the CAS, k the key form, h and l the access facts', () => {
    const r = parse('mg a v\r\nmg a c\r\nmg a k\r\nmg a h\r\nmg a l\r\nmg a l k v c h\r\nmg a s t f O1 q u T5 N5 R5\r\n');
    expect(r.map((q) => q.want)).toEqual([
      0,
      ItemFacts.CAS,
      ItemFacts.KEY_FORM,
      ItemFacts.ACCESS,
      ItemFacts.ACCESS,
      ItemFacts.CAS | ItemFacts.KEY_FORM | ItemFacts.ACCESS,
      0,
    ]);
    expect(parse('mg YQ== b\r\nmg YQ== b k\r\n').map((q) => [q.keyBinary, q.want])).toEqual([
      [true, 0],
      [true, ItemFacts.KEY_FORM],
    ]);
  });

  it('gives N the exptime the created item ends with: a T after N wins, a T before it does not', () => {
    // memcached applies T and N in request order to an item N created.
    const r = parse('mg a N30 T10\r\nmg a T10 N30\r\nmg a N30 t T10\r\nmg a T10 t N30\r\nmg a N30\r\nmg a T10\r\nmg a N-1 T0\r\n');
    expect(r.map((q) => [q.touch, q.vivify])).toEqual([
      [10, 10],
      [10, 30],
      [10, 10],
      [10, 30],
      [undefined, 30],
      [10, undefined],
      [0, 0],
    ]);
  });

  it('rejects keys base64 cannot decode', () => {
    for (const key of ['YQ=', 'YQ', '!!!!', '====', '-_-_', 'Y', 'YQ\t=']) {
      expect(errorOf(`mg ${key} b\r\n`).wire, key).toBe('CLIENT_ERROR error decoding key');
    }
  });

  it('looks only at the first byte of a flag token', () => {
    expect(parse('mg a vv\tk\r\n')).toEqual([
      { ...meta, cmd: 'get', key: 'a', keyBinary: false, withCas: false, noBump: false, tokens: true, want: 0, meta: m('v', 'a') },
    ]);
  });

  it('answers memcached 1.6.18 errors for bad flags', () => {
    expect(errorOf('mg a v v\r\n').wire).toBe('CLIENT_ERROR duplicate flag');
    expect(errorOf('mg a \xff\r\n').wire).toBe('CLIENT_ERROR duplicate flag');
    expect(errorOf('mg a x\r\n').wire).toBe('CLIENT_ERROR invalid flag');
    expect(errorOf('mg a 1\r\n').wire).toBe('CLIENT_ERROR invalid flag');
    expect(errorOf('mg a E5\r\n').wire).toBe('CLIENT_ERROR invalid flag');
    expect(errorOf('mg a S5\r\n').wire).toBe('CLIENT_ERROR invalid flag');
    expect(errorOf('mg a T\r\n').wire).toBe('CLIENT_ERROR bad token in command line format');
    expect(errorOf('mg a Tx\r\n').wire).toBe('CLIENT_ERROR bad token in command line format');
    expect(errorOf('mg a Nx\r\n').wire).toBe('CLIENT_ERROR bad token in command line format');
    expect(errorOf('mg a Cx\r\n').wire).toBe('CLIENT_ERROR bad token in command line format');
    expect(errorOf('mg a Fx\r\n').wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf('mg a Jx\r\n').wire).toBe('CLIENT_ERROR invalid numeric initial value');
    expect(errorOf('mg a Dx\r\n').wire).toBe('CLIENT_ERROR invalid numeric delta value');
    expect(errorOf('mg a MSS\r\n').wire).toBe('CLIENT_ERROR incorrect length for M token');
  });

  it('reports the last bad value, but stops at once on a duplicate or unknown flag', () => {
    expect(errorOf('mg a Fx Jx\r\n').wire).toBe('CLIENT_ERROR invalid numeric initial value');
    expect(errorOf('mg a Tx v v\r\n').wire).toBe('CLIENT_ERROR duplicate flag');
    expect(errorOf('mg a Tx x\r\n').wire).toBe('CLIENT_ERROR invalid flag');
    expect(errorOf('mg a T T\r\n').wire).toBe('CLIENT_ERROR duplicate flag');
  });

  it('limits the opaque token to 32 bytes and the line to 17 flags', () => {
    expect(parse(`mg a O${'x'.repeat(31)}\r\n`)[0]).toMatchObject({ cmd: 'get', meta: { opaqueToken: `O${'x'.repeat(31)}` } });
    expect(errorOf(`mg a O${'x'.repeat(32)}\r\n`).wire).toBe('CLIENT_ERROR opaque token too long');
    expect(parse('mg a a b c d e f g h i j k l m n o p q\r\n')).toEqual([merr('CLIENT_ERROR invalid flag')]);
    expect(errorOf('mg a a b c d e f g h i j k l m n o p q r s\r\n').wire).toBe('CLIENT_ERROR options flags are too long');
  });

  it('rejects a missing or over-long key', () => {
    expect(parse('mg\r\n')).toEqual([merr('ERROR')]);
    expect(errorOf(`mg ${k(251)}\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
    expect(errorOf(`mg ${k(251)} b\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
  });
});

describe('ms', () => {
  it('parses ms with its data block and typed flags', () => {
    expect(parse('ms foo 3 F5 T-1 C9 I q O1 k b\r\nabc\r\n'.replace(' b', ''))).toEqual([
      {
        ...meta,
        quiet: true,
        cmd: 'store',
        mode: 'set',
        key: 'foo',
        keyBinary: false,
        value: 'abc',
        flags: 5,
        exptime: -1,
        compareCas: '9n',
        invalidate: true,
        unlinkOnFailure: true,
        meta: m('FTCIqOk', 'foo', { opaqueToken: 'O1' }),
      },
    ]);
  });

  it('maps the M mode letters to store modes', () => {
    const r = parse('ms a 1 MS\r\nx\r\nms a 1 ME\r\nx\r\nms a 1 MA\r\nx\r\nms a 1 MP\r\nx\r\nms a 1 MR\r\nx\r\nms a 1\r\nx\r\n');
    expect(r.map((q) => q.mode)).toEqual(['set', 'add', 'append', 'prepend', 'replace', 'set']);
  });

  it('unlinks the old item when the store fails in every mode, with or without C (memcached ms does)', () => {
    const r = parse('ms a 1 MS\r\nx\r\nms a 1 ME\r\nx\r\nms a 1 MA\r\nx\r\nms a 1 MP\r\nx\r\nms a 1 MR\r\nx\r\nms a 1 C5 q\r\nx\r\n');
    expect(r.map((q) => [q.mode, q.unlinkOnFailure])).toEqual([
      ['set', true],
      ['add', true],
      ['append', true],
      ['prepend', true],
      ['replace', true],
      ['set', true],
    ]);
  });

  it('truncates flags and the data length to 32 bits', () => {
    expect(parse('ms a 4294967297 F4294967296\r\nz\r\n')[0]).toMatchObject({ cmd: 'store', value: 'z', flags: 0 });
  });

  it('decodes a base64 key', () => {
    expect(parse('ms YWI= 1 b k\r\nz\r\n')[0]).toMatchObject({
      cmd: 'store',
      key: 'ab',
      keyBinary: true,
      meta: { ret: 'bk', base64Key: true, wireKey: 'YWI=' },
    });
  });

  it('swallows the data block after a flag error', () => {
    const cases: Array<[string, string]> = [
      ['ms a 1 x', 'CLIENT_ERROR invalid flag'],
      ['ms a 1 MX', 'CLIENT_ERROR invalid mode for ms M token'],
      ['ms a 1 M+', 'CLIENT_ERROR invalid mode for ms M token'],
      ['ms a 1 MSS', 'CLIENT_ERROR incorrect length for M token'],
      ['ms a 1 Fx', 'CLIENT_ERROR bad command line format'],
      ['ms a 1 F-1', 'CLIENT_ERROR bad command line format'],
      ['ms a 1 C', 'CLIENT_ERROR bad token in command line format'],
      ['ms a 1 Tx MX', 'CLIENT_ERROR bad token in command line format'],
      ['ms a 1 Tx b', 'CLIENT_ERROR error decoding key'],
      ['ms a 1 b Tx', 'CLIENT_ERROR bad token in command line format'],
      ['ms a 1 Fx Tx', 'CLIENT_ERROR bad token in command line format'],
      ['ms a 1 Tx Fx', 'CLIENT_ERROR bad token in command line format'],
      ['ms a 1 E5', 'CLIENT_ERROR invalid flag'],
      ['ms a 1 S5', 'CLIENT_ERROR invalid flag'],
      ['ms a 1 v v', 'CLIENT_ERROR duplicate flag'],
      [`ms a 1 O${'x'.repeat(40)}`, 'CLIENT_ERROR opaque token too long'],
      [`ms a 1 MX O${'x'.repeat(40)}`, 'CLIENT_ERROR invalid mode for ms M token'],
      [`ms a 1 O${'x'.repeat(40)} b`, 'CLIENT_ERROR error decoding key'],
    ];
    for (const [line, wire] of cases) {
      expect(parse(`${line}\r\nz\r\nmn\r\n`), line).toEqual([merr(wire), { ...meta, cmd: 'noop' }]);
    }
  });

  it('reads the data block as commands after errors that precede the length', () => {
    const cases: Array<[string, string]> = [
      ['ms a x', 'CLIENT_ERROR bad command line format'],
      ['ms a -1', 'CLIENT_ERROR bad command line format'],
      ['ms a 2147483646', 'CLIENT_ERROR bad command line format'],
      [`ms ${k(251)} 1`, 'CLIENT_ERROR bad command line format'],
      ['ms a 1 a b c d e f g h i j k l m n o p q r', 'CLIENT_ERROR options flags too long'],
    ];
    for (const [line, wire] of cases) {
      expect(parse(`${line}\r\nz\r\nmn\r\n`), line).toEqual([merr(wire), err('ERROR'), { ...meta, cmd: 'noop' }]);
    }
    expect(parse('ms a\r\n')).toEqual([merr('CLIENT_ERROR bad command line format')]);
    expect(parse('ms\r\n')).toEqual([merr('ERROR')]);
  });

  it('reports bad data chunks and too-large items even with q', () => {
    expect(parse('ms a 1 q\r\nzz\r\nmn\r\n')).toEqual([merr('CLIENT_ERROR bad data chunk'), err('ERROR'), { ...meta, cmd: 'noop' }]);
    expect(parse(`ms a 20 q\r\n${'x'.repeat(20)}\r\nmn\r\n`, { maxItemSize: 10 })).toEqual([
      { ...merr('SERVER_ERROR object too large for cache'), unlinkKey: 'a' },
      { ...meta, cmd: 'noop' },
    ]);
  });

  it('accepts E with the option for newer flags', () => {
    expect(parse('ms a 1 E77\r\nz\r\n', undefined, { metaNewCas: true })[0]).toMatchObject({
      cmd: 'store',
      newCas: '77n',
      meta: { ret: 'E' },
    });
  });
});

describe('md, ma, me, mn', () => {
  it('parses md with C, I, T and q', () => {
    expect(parse('md a\r\nmd a C5 I T30 q O1 k\r\nmd a T30\r\n')).toEqual([
      { ...meta, cmd: 'delete', key: 'a', keyBinary: false, invalidate: false, meta: m('', 'a') },
      {
        ...meta,
        quiet: true,
        cmd: 'delete',
        key: 'a',
        keyBinary: false,
        compareCas: '5n',
        invalidate: true,
        exptime: 30,
        meta: m('CITqOk', 'a', { opaqueToken: 'O1' }),
      },
      // T without I does nothing in memcached.
      { ...meta, cmd: 'delete', key: 'a', keyBinary: false, invalidate: false, meta: m('T', 'a') },
    ]);
  });

  it('answers md and ma flag errors with "invalid or duplicate flag"', () => {
    for (const line of [
      'md a x',
      'md a Tx',
      'md a v v',
      'md a E5',
      'md YQ= b',
      'ma n D-1',
      'ma n Dx',
      'ma n Jx',
      'ma n E5',
      'ma n x',
      'ma n Tx',
      'ma n D18446744073709551616',
    ]) {
      expect(errorOf(`${line}\r\n`).wire, line).toBe('CLIENT_ERROR invalid or duplicate flag');
    }
    expect(errorOf(`md a O${'x'.repeat(40)}\r\n`).wire).toBe('CLIENT_ERROR opaque token too long');
    expect(errorOf(`md a x O${'x'.repeat(40)}\r\n`).wire).toBe('CLIENT_ERROR invalid or duplicate flag');
    expect(errorOf('md a a b c d e f g h i j k l m n o p q r\r\n').wire).toBe('CLIENT_ERROR options flags too long');
    expect(errorOf(`md ${k(251)}\r\n`).wire).toBe('CLIENT_ERROR bad command line format');
    expect(parse('md\r\nma\r\n')).toEqual([merr('ERROR'), merr('ERROR')]);
  });

  it('parses ma modes, delta and autovivify', () => {
    const r = parse('ma n\r\nma n MI D5\r\nma n M+\r\nma n MD\r\nma n M- D2 q\r\nma n N0 J10 v\r\nma n N30\r\nma n C1 J4\r\n');
    expect(r.map((q) => [q.cmd, q.delta, q.initial, q.exptime, q.compareCas, q.quiet])).toEqual([
      ['incr', '1n', undefined, undefined, undefined, false],
      ['incr', '5n', undefined, undefined, undefined, false],
      ['incr', '1n', undefined, undefined, undefined, false],
      ['decr', '1n', undefined, undefined, undefined, false],
      ['decr', '2n', undefined, undefined, undefined, true],
      ['incr', '1n', '10n', 0, undefined, false],
      ['incr', '1n', '0n', 30, undefined, false],
      ['incr', '1n', undefined, undefined, '1n', false],
    ]);
    expect(errorOf('ma n Mx\r\n').wire).toBe('CLIENT_ERROR invalid mode for ma M token');
    expect(errorOf('ma n Mi\r\n').wire).toBe('CLIENT_ERROR invalid mode for ma M token');
  });

  it('wants CREATED on ma only when the reply depends on it: N with q (answered only then) or a t before N', () => {
    const r = parse('ma n N0 q\r\nma n t N0\r\nma n N0 t\r\nma n N0\r\nma n N0 v\r\nma n q\r\nma n t\r\nma n q t N0 v\r\nma n N0 t q\r\n');
    expect(r.map((q) => q.want)).toEqual([ItemFacts.CREATED, ItemFacts.CREATED, 0, 0, 0, 0, 0, ItemFacts.CREATED, ItemFacts.CREATED]);
  });

  it('gives ma N the exptime the created counter ends with: a T after N wins, a T before it does not', () => {
    const r = parse('ma n N30 T10\r\nma n T10 N30\r\nma n N30\r\nma n T10\r\n');
    expect(r.map((q) => [q.touch, q.exptime])).toEqual([
      [10, 10],
      [10, 30],
      [undefined, 30],
      [10, undefined],
    ]);
  });

  it('marks a base64 key on md and ma', () => {
    expect(parse('md YQ== b\r\nma YQ== b\r\nmd a\r\nma a\r\n').map((q) => [q.cmd, q.key, q.keyBinary])).toEqual([
      ['delete', 'a', true],
      ['incr', 'a', true],
      ['delete', 'a', false],
      ['incr', 'a', false],
    ]);
  });

  it('parses me as a debug fetch without bump, with an optional base64 key', () => {
    // me prints the key in its stored form and the access facts (la=, fetch=).
    const debugWants = ItemFacts.KEY_FORM | ItemFacts.ACCESS | ItemFacts.CAS;
    expect(parse('me a\r\nme YQ== b\r\nme a x y\r\n')).toEqual([
      { ...meta, cmd: 'me', key: 'a', keyBinary: false, withCas: false, noBump: true, debug: true, want: debugWants, meta: m('', 'a') },
      {
        ...meta,
        cmd: 'me',
        key: 'a',
        keyBinary: true,
        withCas: false,
        noBump: true,
        debug: true,
        want: debugWants,
        meta: { ret: 'b', base64Key: true, wireKey: 'YQ==' },
      },
      { ...meta, cmd: 'me', key: 'a', keyBinary: false, withCas: false, noBump: true, debug: true, want: debugWants, meta: m('', 'a') },
    ]);
    expect(parse(`me\r\nme a b\r\nme ${k(251)}\r\n`)).toEqual([
      merr('CLIENT_ERROR bad command line format'),
      merr('CLIENT_ERROR bad command line format'),
      merr('CLIENT_ERROR bad command line format'),
    ]);
  });

  it('parses mn with or without arguments', () => {
    expect(parse('mn\r\nmn foo\r\n')).toEqual([
      { ...meta, cmd: 'noop' },
      { ...meta, cmd: 'noop' },
    ]);
  });
});
