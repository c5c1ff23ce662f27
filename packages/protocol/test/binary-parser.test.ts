import { describe, expect, it } from 'vitest';
import { BinaryStatus, ProtocolError } from '../src/errors.js';
import { ItemFacts, type ErrorRequest, type Request } from '../src/model.js';
import { BinaryParser } from '../src/binary/parser.js';
import { BinaryOpcode as Op } from '../src/binary/constants.js';
import { arithmeticExtras, feedChunks, parse, pkt, storeExtras, u32 } from './binary.helpers.js';

const OPAQUE = 0xdeadbeef;
const noop = (opaque = 0x01020304) => pkt({ opcode: Op.NOOP, opaque });
const noopRequest = (opaque = 0x01020304) => ({ protocol: 'binary', quiet: false, opcode: Op.NOOP, opaque, cmd: 'noop' });

function only(input: Buffer | Buffer[]): Request {
  const r = parse(input);
  expect(r.thrown).toBeUndefined();
  expect(r.requests).toHaveLength(1);
  return r.requests[0]!;
}

function errorOf(r: Request): ErrorRequest {
  expect(r.cmd).toBe('error');
  return r as ErrorRequest;
}

describe('BinaryParser: retrieval', () => {
  it.each([
    ['Get', Op.GET, false],
    ['GetQ', Op.GETQ, true],
    ['GetK', Op.GETK, false],
    ['GetKQ', Op.GETKQ, true],
  ])('%s becomes a single-key get with the opcode, opaque and quiet flag', (_n, opcode, quiet) => {
    const req = only(pkt({ opcode, key: 'user:42', opaque: OPAQUE, cas: 99n }));
    // Every binary reply to a get carries the CAS unique.
    expect(req).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: OPAQUE,
      cmd: 'get',
      key: Buffer.from('user:42'),
      withCas: false,
      want: ItemFacts.CAS,
    });
  });

  it.each([
    ['Touch', Op.TOUCH, false],
    ['GAT', Op.GAT, false],
    ['GATQ', Op.GATQ, true],
    ['GATK', Op.GATK, false],
    ['GATKQ', Op.GATKQ, true],
  ])('%s becomes a get with touch set to the expiration extra', (_n, opcode, quiet) => {
    const req = only(pkt({ opcode, key: 'k', extras: u32(0xfffffff0), opaque: 7 }));
    expect(req).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: 7,
      cmd: 'get',
      key: Buffer.from('k'),
      withCas: false,
      touch: 0xfffffff0,
      want: ItemFacts.CAS,
    });
  });

  it('keys of a packet inside one chunk are views into that chunk (no copy)', () => {
    const chunk = Buffer.concat([pkt({ opcode: Op.GET, key: 'abc' }), pkt({ opcode: Op.GET, key: 'defg' })]);
    const out: Request[] = [];
    new BinaryParser().feed(chunk, out);
    expect(out).toHaveLength(2);
    for (const r of out) {
      if (r.cmd !== 'get') throw new Error('expected get');
      expect(r.key.buffer).toBe(chunk.buffer);
    }
  });

  it('a packet spanning chunks is assembled into a buffer of exactly its body size', () => {
    const p = pkt({ opcode: Op.SET, key: 'k', extras: storeExtras(1, 2), value: 'x'.repeat(1000) });
    const parser = new BinaryParser();
    const out: Request[] = [];
    parser.feed(p.subarray(0, 30), out);
    expect(out).toHaveLength(0);
    expect(parser.buffered).toBe(8 + 1 + 1000);
    parser.feed(p.subarray(30, 500), out);
    expect(parser.buffered).toBe(8 + 1 + 1000);
    parser.feed(p.subarray(500), out);
    expect(parser.buffered).toBe(0);
    expect(out).toHaveLength(1);
    const r = out[0]!;
    if (r.cmd !== 'store') throw new Error('expected store');
    expect(r.value.equals(Buffer.from('x'.repeat(1000)))).toBe(true);
    // key and value share the one assembled buffer
    expect(r.key.buffer).toBe(r.value.buffer);
    expect(r.value.buffer.byteLength).toBeGreaterThanOrEqual(1009);
  });

  it('a split header is held in its 24 bytes only', () => {
    const parser = new BinaryParser();
    const out: Request[] = [];
    parser.feed(noop().subarray(0, 10), out);
    expect(parser.buffered).toBe(10);
    parser.feed(noop().subarray(10), out);
    expect(parser.buffered).toBe(0);
    expect(out).toEqual([noopRequest()]);
  });

  it('pipelined requests come out in order', () => {
    const r = parse([
      pkt({ opcode: Op.GETKQ, key: 'a', opaque: 1 }),
      pkt({ opcode: Op.GETKQ, key: 'b', opaque: 2 }),
      pkt({ opcode: Op.SETQ, key: 'c', extras: storeExtras(0, 0), value: 'v', opaque: 3 }),
      noop(4),
    ]);
    expect(r.requests.map((q) => [q.cmd, q.opaque])).toEqual([
      ['get', 1],
      ['get', 2],
      ['store', 3],
      ['noop', 4],
    ]);
  });

  it('ignores data type and vbucket as memcached does', () => {
    expect(only(pkt({ opcode: Op.NOOP, dataType: 5, vbucket: 700, opaque: 0x01020304 }))).toEqual(noopRequest());
  });
});

describe('BinaryParser: storage', () => {
  it.each([
    ['Set', Op.SET, 'set', false],
    ['SetQ', Op.SETQ, 'set', true],
    ['Add', Op.ADD, 'add', false],
    ['AddQ', Op.ADDQ, 'add', true],
    ['Replace', Op.REPLACE, 'replace', false],
    ['ReplaceQ', Op.REPLACEQ, 'replace', true],
  ] as const)('%s carries flags, exptime and value with its mode, and unlinks on failure only as a Set', (_n, opcode, mode, quiet) => {
    const req = only(pkt({ opcode, key: 'k1', extras: storeExtras(0xcafebabe, 0xffffffff), value: 'hello', opaque: 5 }));
    expect(req).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: 5,
      cmd: 'store',
      mode,
      key: Buffer.from('k1'),
      value: Buffer.from('hello'),
      flags: 0xcafebabe,
      exptime: 0xffffffff,
      compareCas: undefined,
      unlinkOnFailure: mode === 'set',
    });
  });

  it.each([
    ['Set', Op.SET],
    ['Add', Op.ADD],
    ['ReplaceQ', Op.REPLACEQ],
  ])('%s with a non-zero CAS is a CAS store (mode set + compareCas), as memcached makes it', (_n, opcode) => {
    const req = only(pkt({ opcode, key: 'k', extras: storeExtras(0, 0), value: 'v', cas: 0x1_0000_0001n }));
    expect(req).toMatchObject({ cmd: 'store', mode: 'set', opcode, compareCas: 0x1_0000_0001n });
  });

  // memcached (proto_bin.c, process_bin_update) drops the old item when an
  // item cannot be allocated only for the Set opcode (SetQ counts as Set),
  // CAS or not; an Add or Replace with a CAS becomes a CAS store but keeps
  // the old item.
  it.each([
    ['Set', true, Op.SET],
    ['SetQ', true, Op.SETQ],
    ['Add', false, Op.ADD],
    ['AddQ', false, Op.ADDQ],
    ['Replace', false, Op.REPLACE],
    ['ReplaceQ', false, Op.REPLACEQ],
  ])('%s with a non-zero CAS unlinks the old item on failure: %s', (_n, unlink, opcode) => {
    const req = only(pkt({ opcode, key: 'k', extras: storeExtras(0, 0), value: 'v', cas: 5n }));
    expect(req).toMatchObject({ cmd: 'store', mode: 'set', compareCas: 5n, unlinkOnFailure: unlink });
  });

  it('accepts an empty value', () => {
    expect(only(pkt({ opcode: Op.SET, key: 'k', extras: storeExtras(0, 0) }))).toMatchObject({ value: Buffer.alloc(0) });
  });

  it.each([
    ['Append', Op.APPEND, 'append', false],
    ['AppendQ', Op.APPENDQ, 'append', true],
    ['Prepend', Op.PREPEND, 'prepend', false],
    ['PrependQ', Op.PREPENDQ, 'prepend', true],
  ] as const)('%s carries its value and CAS', (_n, opcode, mode, quiet) => {
    expect(only(pkt({ opcode, key: 'k', value: 'tail', cas: 12n, opaque: 9 }))).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: 9,
      cmd: 'store',
      mode,
      key: Buffer.from('k'),
      value: Buffer.from('tail'),
      flags: 0,
      exptime: 0,
      compareCas: 12n,
      unlinkOnFailure: false,
    });
    expect(only(pkt({ opcode, key: 'k', value: '' }))).toMatchObject({ compareCas: undefined, value: Buffer.alloc(0) });
  });

  it.each([
    ['Delete', Op.DELETE, false],
    ['DeleteQ', Op.DELETEQ, true],
  ])('%s carries the CAS to compare, undefined when zero', (_n, opcode, quiet) => {
    expect(only(pkt({ opcode, key: 'gone', cas: 0xffff_ffff_ffff_ffffn }))).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: 0,
      cmd: 'delete',
      key: Buffer.from('gone'),
      compareCas: 0xffff_ffff_ffff_ffffn,
    });
    expect(only(pkt({ opcode, key: 'gone' }))).toMatchObject({ compareCas: undefined });
  });

  it.each([
    ['Increment', Op.INCREMENT, true, false],
    ['IncrementQ', Op.INCREMENTQ, true, true],
    ['Decrement', Op.DECREMENT, false, false],
    ['DecrementQ', Op.DECREMENTQ, false, true],
  ])('%s carries delta, initial and exptime', (_n, opcode, incr, quiet) => {
    const req = only(pkt({ opcode, key: 'ctr', extras: arithmeticExtras(0xffff_ffff_ffff_fffen, 2n ** 40n, 3600), cas: 3n }));
    expect(req).toEqual({
      protocol: 'binary',
      quiet,
      opcode,
      opaque: 0,
      cmd: incr ? 'incr' : 'decr',
      key: Buffer.from('ctr'),
      incr,
      delta: 0xffff_ffff_ffff_fffen,
      initial: 2n ** 40n,
      exptime: 3600,
      compareCas: 3n,
    });
  });

  it('an arithmetic expiration of 0xffffffff means "do not create": no initial', () => {
    expect(only(pkt({ opcode: Op.INCREMENT, key: 'c', extras: arithmeticExtras(1n, 5n, 0xffffffff) }))).toMatchObject({
      initial: undefined,
      exptime: undefined,
      compareCas: undefined,
    });
  });
});

describe('BinaryParser: other commands', () => {
  it.each([
    ['Noop', Op.NOOP, 'noop'],
    ['Version', Op.VERSION, 'version'],
  ])('%s', (_n, opcode, cmd) => {
    expect(only(pkt({ opcode, opaque: 77 }))).toEqual({ protocol: 'binary', quiet: false, opcode, opaque: 77, cmd });
  });

  it.each([
    ['Quit', Op.QUIT, false],
    ['QuitQ', Op.QUITQ, true],
  ])('%s ends the stream: what follows is ignored (memcached closes)', (_n, opcode, quiet) => {
    const r = parse([pkt({ opcode, opaque: 3 }), noop(), pkt({ opcode: 0x77, magic: 0x00 })]);
    expect(r.thrown).toBeUndefined();
    expect(r.requests).toEqual([{ protocol: 'binary', quiet, opcode, opaque: 3, cmd: 'quit' }]);
    const parser = new BinaryParser();
    const out: Request[] = [];
    parser.feed(pkt({ opcode }), out);
    parser.feed(noop(), out);
    expect(out).toHaveLength(1);
  });

  it.each([
    ['Flush', Op.FLUSH, false],
    ['FlushQ', Op.FLUSHQ, true],
  ])('%s with and without the optional expiration extra', (_n, opcode, quiet) => {
    expect(only(pkt({ opcode }))).toEqual({ protocol: 'binary', quiet, opcode, opaque: 0, cmd: 'flush_all', delay: 0 });
    expect(only(pkt({ opcode, extras: u32(86400) }))).toMatchObject({ cmd: 'flush_all', delay: 86400 });
  });

  it('Stat takes its key as the group', () => {
    expect(only(pkt({ opcode: Op.STAT }))).toEqual({
      protocol: 'binary',
      quiet: false,
      opcode: Op.STAT,
      opaque: 0,
      cmd: 'stats',
      group: '',
    });
    expect(only(pkt({ opcode: Op.STAT, key: 'settings' }))).toMatchObject({ group: 'settings' });
  });

  it('Stat and Touch/GAT bodies past the key are parsed as the next packet, as memcached does', () => {
    for (const [opcode, extras] of [
      [Op.STAT, undefined],
      [Op.TOUCH, u32(1)],
      [Op.GATKQ, u32(1)],
    ] as const) {
      const r = parse(pkt({ opcode, key: 'items', extras, value: noop(44) }));
      expect(r.requests.map((q) => q.cmd)).toEqual([opcode === Op.STAT ? 'stats' : 'get', 'noop']);
      expect(r.requests[1]).toEqual(noopRequest(44));
    }
  });

  it('SASL list, auth and step', () => {
    expect(only(pkt({ opcode: Op.SASL_LIST_MECHS, opaque: 1 }))).toEqual({
      protocol: 'binary',
      quiet: false,
      opcode: Op.SASL_LIST_MECHS,
      opaque: 1,
      cmd: 'sasl_list',
      mechanism: Buffer.alloc(0),
      data: Buffer.alloc(0),
    });
    expect(only(pkt({ opcode: Op.SASL_AUTH, key: 'PLAIN', value: '\0user\0pass' }))).toMatchObject({
      cmd: 'sasl_auth',
      mechanism: Buffer.from('PLAIN'),
      data: Buffer.from('\0user\0pass'),
    });
    expect(only(pkt({ opcode: Op.SASL_STEP, key: 'CRAM-MD5', value: 'resp' }))).toMatchObject({
      cmd: 'sasl_step',
      mechanism: Buffer.from('CRAM-MD5'),
      data: Buffer.from('resp'),
    });
  });
});

describe('BinaryParser: errors that keep the stream in sync', () => {
  it('an unknown opcode answers UNKNOWN_COMMAND once extras, key and then bodyLength more bytes are skipped', () => {
    // memcached skips bodyLength bytes *after* extras and key: 3 + 2 + 5 = 10.
    const unknown = pkt({ opcode: 0x50, extras: Buffer.alloc(3), key: 'ab', value: 'x', bodyLength: 5 });
    expect(unknown.length).toBe(24 + 6);
    const r = parse([unknown, Buffer.alloc(4), noop(8)]);
    expect(r.requests).toHaveLength(2);
    const e = errorOf(r.requests[0]!);
    expect(e).toMatchObject({ protocol: 'binary', opcode: 0x50, opaque: 0, quiet: false });
    expect(e.error).toMatchObject({ code: 'UNKNOWN_COMMAND', status: BinaryStatus.UNKNOWN_COMMAND, fatal: false });
    expect(r.requests[1]).toEqual(noopRequest(8));
  });

  it('the error of a skipped packet comes out only once its skip is complete', () => {
    // key (2) + bodyLength (2) = 4 bytes to skip; only the 2 key bytes are here
    const r = parse(pkt({ opcode: 0x60, key: 'ab', opaque: 2 }));
    expect(r.requests).toHaveLength(0);
    const done = parse([pkt({ opcode: 0x60, key: 'ab', opaque: 2 }), Buffer.from('xy')]);
    expect(done.requests).toHaveLength(1);
    expect(r.buffered).toBe(0);
  });

  it('Verbosity is an unknown command in memcached 1.6 (and its extras are over-skipped like any unknown body)', () => {
    const r = parse([pkt({ opcode: Op.VERBOSITY, extras: u32(1), opaque: 6 }), Buffer.alloc(4), noop()]);
    expect(r.requests.map((q) => q.cmd)).toEqual(['error', 'noop']);
    expect(errorOf(r.requests[0]!)).toMatchObject({ opcode: Op.VERBOSITY, opaque: 6, error: { status: BinaryStatus.UNKNOWN_COMMAND } });
  });

  it('an item over the size limit answers E2BIG after its value is skipped, without buffering it', () => {
    const limit = 4096;
    const key = 'big';
    const okLength = limit - 59 - key.length;
    const fits = pkt({ opcode: Op.SET, key, extras: storeExtras(0, 0), value: Buffer.alloc(okLength, 1) });
    const tooBig = pkt({ opcode: Op.SETQ, key, extras: storeExtras(0, 0), value: Buffer.alloc(okLength + 1, 1), opaque: 5 });
    const r = parse([fits, tooBig, noop()], { maxItemSize: limit });
    expect(r.requests.map((q) => q.cmd)).toEqual(['store', 'error', 'noop']);
    expect(errorOf(r.requests[1]!)).toMatchObject({
      opcode: Op.SETQ,
      opaque: 5,
      quiet: false,
      error: { code: 'TOO_LARGE', status: BinaryStatus.E2BIG, fatal: false },
    });
    // fed in small pieces, the skipped value is never held
    const pieces: Buffer[] = [];
    const all = Buffer.concat([tooBig, noop()]);
    for (let i = 0; i < all.length; i += 100) pieces.push(all.subarray(i, i + 100));
    const small = feedChunks(pieces, { maxItemSize: limit });
    expect(small.requests.map((q) => q.cmd)).toEqual(['error', 'noop']);
    expect(small.maxBuffered).toBeLessThanOrEqual(24);
  });

  it('a Set refused as too large names its key for unlinking (memcached drops the old item); Add and Replace do not', () => {
    const limit = 4096;
    const big = Buffer.alloc(limit, 2);
    const packets = [
      pkt({ opcode: Op.SET, key: 'sk', extras: storeExtras(0, 0), value: big }),
      pkt({ opcode: Op.SETQ, key: 'sq', extras: storeExtras(0, 0), value: big, cas: 9n }),
      // Within 4 bytes of the limit the flags decide, once the whole packet is read.
      pkt({ opcode: Op.SET, key: 'sf', extras: storeExtras(1, 0), value: Buffer.alloc(limit - 59 - 2 - 4 + 1) }),
      pkt({ opcode: Op.ADD, key: 'ad', extras: storeExtras(0, 0), value: big }),
      pkt({ opcode: Op.REPLACE, key: 'rp', extras: storeExtras(0, 0), value: big }),
      noop(),
    ];
    const whole = parse(packets, { maxItemSize: limit });
    const all = Buffer.concat(packets);
    const bytes: Buffer[] = [];
    for (let i = 0; i < all.length; i++) bytes.push(all.subarray(i, i + 1));
    const byByte = feedChunks(bytes, { maxItemSize: limit });
    for (const r of [whole, byByte]) {
      expect(r.requests.map((q) => q.cmd)).toEqual(['error', 'error', 'error', 'error', 'error', 'noop']);
      const keys = r.requests.slice(0, 5).map((q) => errorOf(q).unlinkKey?.toString());
      expect(keys).toEqual(['sk', 'sq', 'sf', undefined, undefined]);
      for (const q of r.requests.slice(0, 5)) expect(errorOf(q).error.code).toBe('TOO_LARGE');
    }
  });

  it('non-zero flags take 4 more bytes of the item, as in memcached', () => {
    const limit = 4096;
    const okLength = limit - 59 - 1 - 4;
    const withFlags = (n: number) => pkt({ opcode: Op.SET, key: 'k', extras: storeExtras(1, 0), value: Buffer.alloc(n) });
    expect(parse(withFlags(okLength), { maxItemSize: limit }).requests[0]!.cmd).toBe('store');
    const r = parse([withFlags(okLength + 1), noop()], { maxItemSize: limit });
    expect(r.requests.map((q) => q.cmd)).toEqual(['error', 'noop']);
    expect(errorOf(r.requests[0]!).error.code).toBe('TOO_LARGE');
  });

  it('Append/Prepend values over the limit answer E2BIG too', () => {
    const r = parse([pkt({ opcode: Op.PREPENDQ, key: 'k', value: Buffer.alloc(200) }), noop()], { maxItemSize: 200 });
    expect(r.requests.map((q) => q.cmd)).toEqual(['error', 'noop']);
    expect(errorOf(r.requests[0]!)).toMatchObject({ opcode: Op.PREPENDQ, error: { status: BinaryStatus.E2BIG } });
  });

  it('SASL data over the item limit is skipped and answered UNKNOWN_COMMAND (as memcached without SASL does)', () => {
    const r = parse([pkt({ opcode: Op.SASL_AUTH, key: 'PLAIN', value: Buffer.alloc(101) }), noop()], { maxItemSize: 100 });
    expect(r.requests.map((q) => q.cmd)).toEqual(['error', 'noop']);
    expect(errorOf(r.requests[0]!).error.status).toBe(BinaryStatus.UNKNOWN_COMMAND);
  });
});

describe('BinaryParser: errors memcached closes the connection on', () => {
  function fatal(input: Buffer, limits?: { maxKeyLength?: number }): ErrorRequest {
    const r = parse([input, noop()], limits);
    expect(r.thrown).toBeUndefined();
    expect(r.requests).toHaveLength(1);
    const e = errorOf(r.requests[0]!);
    expect(e.error.fatal).toBe(true);
    return e;
  }

  const invalid: Array<[string, Buffer]> = [
    ['Get with extras', pkt({ opcode: Op.GET, key: 'k', extras: u32(0) })],
    ['GetQ without key', pkt({ opcode: Op.GETQ })],
    ['GetK with a value', pkt({ opcode: Op.GETK, key: 'k', value: 'v' })],
    ['Set with 4 bytes of extras', pkt({ opcode: Op.SET, key: 'k', extras: u32(0), value: 'v' })],
    ['Add without key', pkt({ opcode: Op.ADD, extras: storeExtras(0, 0), value: 'v' })],
    ['Replace without extras', pkt({ opcode: Op.REPLACE, key: 'k', value: 'v' })],
    ['Delete with a value', pkt({ opcode: Op.DELETE, key: 'k', value: 'v' })],
    ['DeleteQ with extras', pkt({ opcode: Op.DELETEQ, key: 'k', extras: u32(0) })],
    ['Increment with 8 bytes of extras', pkt({ opcode: Op.INCREMENT, key: 'k', extras: Buffer.alloc(8) })],
    ['Decrement without key', pkt({ opcode: Op.DECREMENT, extras: arithmeticExtras(1n, 0n, 0) })],
    ['IncrementQ with a value', pkt({ opcode: Op.INCREMENTQ, key: 'k', extras: arithmeticExtras(1n, 0n, 0), value: 'x' })],
    ['Append with extras', pkt({ opcode: Op.APPEND, key: 'k', extras: storeExtras(0, 0), value: 'v' })],
    ['Prepend without key', pkt({ opcode: Op.PREPEND, value: 'v' })],
    ['Quit with a body', pkt({ opcode: Op.QUIT, value: 'x' })],
    ['QuitQ with a key', pkt({ opcode: Op.QUITQ, key: 'x' })],
    ['Flush with a key', pkt({ opcode: Op.FLUSH, key: 'x' })],
    ['FlushQ with 8 bytes of extras', pkt({ opcode: Op.FLUSHQ, extras: Buffer.alloc(8) })],
    ['Flush with a value after its extras', pkt({ opcode: Op.FLUSH, extras: u32(0), value: 'abcd' })],
    ['Noop with a body', pkt({ opcode: Op.NOOP, value: 'x' })],
    ['Version with a body', pkt({ opcode: Op.VERSION, value: 'x' })],
    ['Stat with extras', pkt({ opcode: Op.STAT, extras: u32(1) })],
    ['Touch without extras', pkt({ opcode: Op.TOUCH, key: 'k' })],
    ['GAT without key', pkt({ opcode: Op.GAT, extras: u32(1) })],
    ['GATKQ with 8 bytes of extras', pkt({ opcode: Op.GATKQ, key: 'k', extras: Buffer.alloc(8) })],
    ['SASL list with a key', pkt({ opcode: Op.SASL_LIST_MECHS, key: 'PLAIN' })],
    ['SASL auth without key', pkt({ opcode: Op.SASL_AUTH, value: 'x' })],
    ['SASL step with extras', pkt({ opcode: Op.SASL_STEP, key: 'PLAIN', extras: u32(0) })],
  ];
  it.each(invalid)('%s: EINVAL, nothing parsed after it', (_n, input) => {
    const opaque = input.readUInt32BE(12);
    const e = fatal(input);
    expect(e).toMatchObject({ protocol: 'binary', opcode: input[1], opaque, quiet: false });
    expect(e.error).toMatchObject({ code: 'BAD_FORMAT', status: BinaryStatus.EINVAL, fatal: true });
  });

  it('a key over the key limit: EINVAL, for known and unknown opcodes alike', () => {
    for (const opcode of [Op.GET, Op.SETQ, 0x55]) {
      const e = fatal(pkt({ opcode, key: 'k'.repeat(251), extras: opcode === Op.SETQ ? storeExtras(0, 0) : undefined, opaque: 9 }));
      expect(e).toMatchObject({ opcode, opaque: 9, error: { code: 'KEY_TOO_LONG', status: BinaryStatus.EINVAL } });
    }
    expect(only(pkt({ opcode: Op.GET, key: 'k'.repeat(250) }))).toMatchObject({ cmd: 'get' });
    expect(fatal(pkt({ opcode: Op.GET, key: 'k'.repeat(11) }), { maxKeyLength: 10 }).error.code).toBe('KEY_TOO_LONG');
  });

  it('key and extras longer than the body: UNKNOWN_COMMAND', () => {
    const e = fatal(pkt({ opcode: Op.SET, key: 'k', extras: storeExtras(0, 0), bodyLength: 8 }));
    expect(e.error).toMatchObject({ code: 'BAD_PACKET', status: BinaryStatus.UNKNOWN_COMMAND, fatal: true });
    expect(fatal(pkt({ opcode: Op.GET, key: 'abc', bodyLength: 2 })).error.code).toBe('BAD_PACKET');
  });

  it('is answered only once extras and key have arrived, which memcached waits for', () => {
    const p = pkt({ opcode: Op.GET, key: 'k'.repeat(300) });
    const parser = new BinaryParser();
    const out: Request[] = [];
    parser.feed(p.subarray(0, 24 + 299), out);
    expect(out).toHaveLength(0);
    expect(parser.buffered).toBe(0); // counted, not kept
    parser.feed(p.subarray(24 + 299), out);
    expect(out).toHaveLength(1);
  });

  it('feeding after a fatal error throws that error', () => {
    const parser = new BinaryParser();
    const out: Request[] = [];
    parser.feed(pkt({ opcode: Op.NOOP, value: 'x' }), out);
    const e = errorOf(out[0]!);
    expect(() => parser.feed(noop(), out)).toThrow(e.error);
  });

  it('a bad magic byte throws a fatal BAD_MAGIC after the requests before it', () => {
    const r = parse([noop(1), pkt({ opcode: Op.NOOP, magic: 0x81 }), noop(2)]);
    expect(r.requests).toEqual([noopRequest(1)]);
    expect(r.thrown).toBeInstanceOf(ProtocolError);
    expect(r.thrown).toMatchObject({ code: 'BAD_MAGIC', fatal: true });
  });
});
