import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryStatus, ProtocolError } from '../src/errors.js';
import type { StatValue } from '../src/handler.js';
import type { ItemView, MultiGetRequest, RequestBase, StoreFailure } from '../src/model.js';
import { textEncoder } from '../src/text/encoder.js';
import { ResponseWriter } from '../src/writer.js';

const text = (quiet = false): RequestBase => ({ protocol: 'text', quiet, opcode: 0, opaque: 0 });

function item(key: string, value: string | Buffer, flags = 0, cas = 1n): ItemView {
  return {
    key: Buffer.from(key, 'latin1'),
    value: typeof value === 'string' ? Buffer.from(value, 'latin1') : value,
    flags,
    cas,
    exptime: 0,
    lastAccess: 0,
    fetched: false,
  };
}

function encode(f: (w: ResponseWriter) => void, w = new ResponseWriter()): string {
  f(w);
  return Buffer.concat(w.take()).toString('latin1');
}

const getReq = (key: string, withCas = false) => ({ ...text(), cmd: 'get' as const, key: Buffer.from(key), withCas });
const mgetReq = (keys: string[], withCas = false): MultiGetRequest => ({
  ...text(),
  cmd: 'mget',
  keys: keys.map((k) => Buffer.from(k)),
  withCas,
});

describe('text encoder: retrievals', () => {
  it('writes a hit as VALUE <key> <flags> <bytes>, the data, and END', () => {
    expect(encode((w) => textEncoder.get(w, getReq('foo'), item('foo', 'abc', 5)))).toBe('VALUE foo 5 3\r\nabc\r\nEND\r\n');
  });

  it('adds the CAS unique for gets/gats, all 64 bits of it', () => {
    const it1 = item('k', 'v', 0, 2n ** 64n - 1n);
    expect(encode((w) => textEncoder.get(w, getReq('k', true), it1))).toBe('VALUE k 0 1 18446744073709551615\r\nv\r\nEND\r\n');
  });

  it('answers a miss with END alone', () => {
    expect(encode((w) => textEncoder.get(w, getReq('nope'), undefined))).toBe('END\r\n');
  });

  it('writes one VALUE block per multi-get hit and a single END', () => {
    const req = mgetReq(['a', 'b', 'a'], true);
    const out = encode((w) => {
      textEncoder.mgetItem(w, req, item('a', 'x', 1, 7n));
      textEncoder.mgetItem(w, req, item('a', 'x', 1, 7n));
      textEncoder.mgetEnd(w, req);
    });
    expect(out).toBe('VALUE a 1 1 7\r\nx\r\nVALUE a 1 1 7\r\nx\r\nEND\r\n');
  });

  it('keeps binary data, CR LF included, untouched in the data block', () => {
    const data = Buffer.from([0, 13, 10, 255, 13, 10]);
    const out = encode((w) => textEncoder.get(w, getReq('b'), item('b', data)));
    expect(Buffer.from(out, 'latin1')).toEqual(Buffer.concat([Buffer.from('VALUE b 0 6\r\n'), data, Buffer.from('\r\nEND\r\n')]));
  });

  it('formats any key, flags, length and CAS the way the protocol text spells them', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[!-~]{1,250}$/),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.uint8Array({ maxLength: 3000 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 }),
        (key, flags, bytes, cas, withCas, mode) => {
          const value = Buffer.from(bytes);
          const it1 = item(key, value, flags, cas);
          const head = `VALUE ${key} ${flags} ${value.length}${withCas ? ` ${cas}` : ''}\r\n`;
          const block = Buffer.concat([Buffer.from(head, 'latin1'), value, Buffer.from('\r\n')]);
          // A tiny slab forces every reservation onto a fresh slab.
          const w = new ResponseWriter({ slabSize: mode === 0 ? 64 : 64 * 1024, referenceThreshold: mode === 2 ? 16 : 1024 });
          const single = encode((x) => textEncoder.get(x, getReq(key, withCas), it1), w);
          expect(Buffer.from(single, 'latin1')).toEqual(Buffer.concat([block, Buffer.from('END\r\n')]));
          const req = mgetReq([key], withCas);
          const multi = encode((x) => {
            textEncoder.mgetItem(x, req, it1);
            textEncoder.mgetItem(x, req, it1);
            textEncoder.mgetEnd(x, req);
          }, w);
          expect(Buffer.from(multi, 'latin1')).toEqual(Buffer.concat([block, block, Buffer.from('END\r\n')]));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('references a value at or above the writer threshold instead of copying it', () => {
    const w = new ResponseWriter({ referenceThreshold: 1024 });
    const big = Buffer.alloc(1024, 0x61);
    textEncoder.get(w, getReq('k'), item('k', big));
    const chunks = w.take();
    expect(chunks.some((c) => c === big)).toBe(true);
    expect(Buffer.concat(chunks).toString('latin1')).toBe(`VALUE k 0 1024\r\n${'a'.repeat(1024)}\r\nEND\r\n`);
  });

  it('copies a small value, so later changes to the source do not leak into the reply', () => {
    const w = new ResponseWriter();
    const small = Buffer.from('hello');
    textEncoder.get(w, getReq('k'), item('k', small));
    small.fill(0x7a);
    expect(Buffer.concat(w.take()).toString('latin1')).toBe('VALUE k 0 5\r\nhello\r\nEND\r\n');
  });
});

describe('text encoder: storage and other commands', () => {
  const storeReq = (quiet: boolean) => ({
    ...text(quiet),
    cmd: 'store' as const,
    mode: 'set' as const,
    key: Buffer.from('k'),
    value: Buffer.from('v'),
    flags: 0,
    exptime: 0,
  });

  it.each<[StoreFailure | 'item', string]>([
    ['item', 'STORED\r\n'],
    ['NOT_STORED', 'NOT_STORED\r\n'],
    ['EXISTS', 'EXISTS\r\n'],
    ['NOT_FOUND', 'NOT_FOUND\r\n'],
    ['TOO_LARGE', 'SERVER_ERROR object too large for cache\r\n'],
    ['OUT_OF_MEMORY', 'SERVER_ERROR out of memory storing object\r\n'],
  ])('answers store outcome %s with %j, and nothing under noreply', (outcome, line) => {
    const o = outcome === 'item' ? item('k', 'v') : outcome;
    expect(encode((w) => textEncoder.store(w, storeReq(false), o))).toBe(line);
    expect(encode((w) => textEncoder.store(w, storeReq(true), o))).toBe('');
  });

  it('answers delete with DELETED / NOT_FOUND / EXISTS, nothing under noreply', () => {
    const req = (q: boolean) => ({ ...text(q), cmd: 'delete' as const, key: Buffer.from('k') });
    expect(encode((w) => textEncoder.delete(w, req(false), 'DELETED'))).toBe('DELETED\r\n');
    expect(encode((w) => textEncoder.delete(w, req(false), 'NOT_FOUND'))).toBe('NOT_FOUND\r\n');
    expect(encode((w) => textEncoder.delete(w, req(false), 'EXISTS'))).toBe('EXISTS\r\n');
    for (const o of ['DELETED', 'NOT_FOUND', 'EXISTS'] as const) expect(encode((w) => textEncoder.delete(w, req(true), o))).toBe('');
  });

  it('answers incr/decr with the item digits, NOT_FOUND or the non-numeric CLIENT_ERROR, nothing under noreply', () => {
    const req = (q: boolean) => ({ ...text(q), cmd: 'incr' as const, key: Buffer.from('k'), incr: true, delta: 1n });
    expect(encode((w) => textEncoder.arithmetic(w, req(false), item('k', '18446744073709551615')))).toBe('18446744073709551615\r\n');
    expect(encode((w) => textEncoder.arithmetic(w, req(false), 'NOT_FOUND'))).toBe('NOT_FOUND\r\n');
    expect(encode((w) => textEncoder.arithmetic(w, req(false), 'NON_NUMERIC'))).toBe(
      'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n',
    );
    for (const o of [item('k', '1'), 'NOT_FOUND', 'NON_NUMERIC', 'EXISTS'] as const) {
      expect(encode((w) => textEncoder.arithmetic(w, req(true), o))).toBe('');
    }
  });

  it('answers touch with TOUCHED / NOT_FOUND, nothing under noreply', () => {
    const req = (q: boolean) => ({ ...text(q), cmd: 'touch' as const, key: Buffer.from('k'), exptime: 10 });
    expect(encode((w) => textEncoder.touch(w, req(false), 'TOUCHED'))).toBe('TOUCHED\r\n');
    expect(encode((w) => textEncoder.touch(w, req(false), 'NOT_FOUND'))).toBe('NOT_FOUND\r\n');
    expect(encode((w) => textEncoder.touch(w, req(true), 'NOT_FOUND'))).toBe('');
  });

  it('answers flush_all and verbosity with OK, nothing under noreply; version with VERSION', () => {
    expect(encode((w) => textEncoder.flush(w, { ...text(), cmd: 'flush_all', delay: 0 }))).toBe('OK\r\n');
    expect(encode((w) => textEncoder.flush(w, { ...text(true), cmd: 'flush_all', delay: 0 }))).toBe('');
    expect(encode((w) => textEncoder.verbosity(w, { ...text(), cmd: 'verbosity', level: 1 }))).toBe('OK\r\n');
    expect(encode((w) => textEncoder.verbosity(w, { ...text(true), cmd: 'verbosity', level: 1 }))).toBe('');
    expect(encode((w) => textEncoder.version(w, text(), '1.6.18'))).toBe('VERSION 1.6.18\r\n');
  });

  it('lists stats as STAT lines then END, booleans as yes/no; ERROR for an unknown group; RESET for reset', () => {
    const entries: [string, StatValue][] = [
      ['pid', 42],
      ['rusage_user', '0.123456'],
      ['total_items', 2n ** 64n - 1n],
      ['cas_enabled', true],
      ['temp_lru', false],
      ['offset', -3],
    ];
    expect(encode((w) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: '' }, entries))).toBe(
      'STAT pid 42\r\nSTAT rusage_user 0.123456\r\nSTAT total_items 18446744073709551615\r\nSTAT cas_enabled yes\r\nSTAT temp_lru no\r\nSTAT offset -3\r\nEND\r\n',
    );
    expect(encode((w) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: 'bogus' }, undefined))).toBe('ERROR\r\n');
    expect(encode((w) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: 'reset' }, []))).toBe('RESET\r\n');
    expect(encode((w) => textEncoder.stats(w, { ...text(), cmd: 'stats', group: 'items' }, []))).toBe('END\r\n');
  });

  it('answers nothing to quit and ERROR to SASL (a text connection has none)', () => {
    expect(encode((w) => textEncoder.quit(w, text()))).toBe('');
    const sasl = { ...text(), cmd: 'sasl_list' as const, mechanism: Buffer.alloc(0), data: Buffer.alloc(0) };
    expect(encode((w) => textEncoder.sasl(w, sasl, false, ''))).toBe('ERROR\r\n');
  });
});

describe('text encoder: errors', () => {
  const err = new ProtocolError('BAD_DATA_CHUNK', 'CLIENT_ERROR bad data chunk', BinaryStatus.EINVAL);

  it('answers a rejected request with its error line, except under noreply (memcached stays silent)', () => {
    const req = { ...text(), cmd: 'error' as const, error: err };
    expect(encode((w) => textEncoder.protocolError(w, req, err))).toBe('CLIENT_ERROR bad data chunk\r\n');
    expect(encode((w) => textEncoder.protocolError(w, { ...req, quiet: true }, err))).toBe('');
    // A meta request's error is never silenced.
    expect(encode((w) => textEncoder.protocolError(w, { ...req, protocol: 'meta', quiet: true }, err))).toBe(
      'CLIENT_ERROR bad data chunk\r\n',
    );
  });

  it('answers a handler failure with SERVER_ERROR <message> on one line', () => {
    const req = { ...text(), cmd: 'delete' as const, key: Buffer.from('k') };
    expect(encode((w) => textEncoder.serverError(w, req, 'backend down', BinaryStatus.EINTERNAL))).toBe('SERVER_ERROR backend down\r\n');
    expect(encode((w) => textEncoder.serverError(w, req, 'two\r\nlines', BinaryStatus.EINTERNAL))).toBe('SERVER_ERROR two  lines\r\n');
    expect(encode((w) => textEncoder.serverError(w, { ...req, quiet: true }, 'x', BinaryStatus.EINTERNAL))).toBe('');
  });
});
