import { describe, expect, it } from 'vitest';
import { BinaryStatus, HandlerError, ProtocolError } from '../src/errors.js';
import type {
  ArithmeticRequest,
  DeleteRequest,
  FlushRequest,
  GetRequest,
  ItemView,
  Request,
  SaslRequest,
  StatsRequest,
  StoreRequest,
  TouchRequest,
} from '../src/model.js';
import { ResponseWriter } from '../src/writer.js';
import { binaryEncoder as enc } from '../src/binary/encoder.js';
import { BinaryOpcode as Op } from '../src/binary/constants.js';

interface ResponseSpec {
  opcode: number;
  status?: number;
  key?: Buffer | string;
  extras?: Buffer;
  value?: Buffer | string;
  opaque?: number;
  cas?: bigint;
}

const bytes = (b: Buffer | string | undefined): Buffer =>
  b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b, 'latin1') : b;

/** A response packet built by hand. */
function res(s: ResponseSpec): Buffer {
  const key = bytes(s.key);
  const extras = s.extras ?? Buffer.alloc(0);
  const value = bytes(s.value);
  const h = Buffer.alloc(24);
  h[0] = 0x81;
  h[1] = s.opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(s.status ?? 0, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(s.opaque ?? 0, 12);
  h.writeBigUInt64BE(s.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

const flagsExtra = (f: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(f);
  return b;
};

function written(fn: (w: ResponseWriter) => void): Buffer {
  const w = new ResponseWriter({ slabSize: 256 });
  fn(w);
  return Buffer.concat(w.take());
}

const OPAQUE = 0xa1b2c3d4;
const base = (opcode: number, quiet = false) => ({ protocol: 'binary' as const, opcode, opaque: OPAQUE, quiet });

function item(value: string | Buffer, over: Partial<ItemView> = {}): ItemView {
  return {
    key: Buffer.from('k'),
    value: bytes(value),
    flags: 0xdeadbeef,
    cas: 0x0102030405060708n,
    exptime: 0,
    lastAccess: 0,
    fetched: false,
    ...over,
  };
}

const getReq = (opcode: number, quiet = false, key = 'k'): GetRequest => ({
  ...base(opcode, quiet),
  cmd: 'get',
  key: Buffer.from(key),
  withCas: false,
});

describe('binaryEncoder.get', () => {
  it.each([
    ['Get', Op.GET, false, false],
    ['GetQ', Op.GETQ, true, false],
    ['GetK', Op.GETK, false, true],
    ['GetKQ', Op.GETKQ, true, true],
    ['GAT', Op.GAT, false, false],
    ['GATQ', Op.GATQ, true, false],
    ['GATK', Op.GATK, false, true],
    ['GATKQ', Op.GATKQ, true, true],
  ])('%s hit: flags extras, key only for K variants, value, item CAS', (_n, opcode, quiet, withKey) => {
    const out = written((w) => enc.get(w, getReq(opcode, quiet), item('hello')));
    expect(out).toEqual(
      res({
        opcode,
        opaque: OPAQUE,
        cas: 0x0102030405060708n,
        extras: flagsExtra(0xdeadbeef),
        key: withKey ? 'k' : undefined,
        value: 'hello',
      }),
    );
  });

  it.each([
    ['Get', Op.GET],
    ['GAT', Op.GAT],
    ['Touch', Op.TOUCH],
  ])('%s miss: KEY_ENOENT with "Not found"', (_n, opcode) => {
    expect(written((w) => enc.get(w, getReq(opcode), undefined))).toEqual(res({ opcode, opaque: OPAQUE, status: 1, value: 'Not found' }));
  });

  it.each([
    ['GetK', Op.GETK],
    ['GATK', Op.GATK],
  ])('%s miss: KEY_ENOENT carrying the key and no text', (_n, opcode) => {
    expect(written((w) => enc.get(w, getReq(opcode, false, 'missing'), undefined))).toEqual(
      res({ opcode, opaque: OPAQUE, status: 1, key: 'missing' }),
    );
  });

  it.each([Op.GETQ, Op.GETKQ, Op.GATQ, Op.GATKQ])('quiet opcode %i answers nothing on a miss', (opcode) => {
    expect(written((w) => enc.get(w, getReq(opcode, true), undefined))).toHaveLength(0);
  });

  it('Touch hit: flags extras and CAS, no value', () => {
    expect(written((w) => enc.get(w, { ...getReq(Op.TOUCH), touch: 10 }, item('hello')))).toEqual(
      res({ opcode: Op.TOUCH, opaque: OPAQUE, cas: 0x0102030405060708n, extras: flagsExtra(0xdeadbeef) }),
    );
  });

  it('an empty value and a 64-bit CAS', () => {
    const cas = 0xffff_ffff_ffff_fffen;
    expect(written((w) => enc.get(w, getReq(Op.GET), item('', { cas, flags: 0 })))).toEqual(
      res({ opcode: Op.GET, opaque: OPAQUE, cas, extras: flagsExtra(0) }),
    );
  });

  it('references large values instead of copying them', () => {
    const value = Buffer.alloc(64 * 1024, 7);
    const w = new ResponseWriter();
    enc.get(w, getReq(Op.GET), item(value));
    const chunks = w.take();
    expect(chunks).toContain(value);
    expect(Buffer.concat(chunks)).toEqual(
      res({ opcode: Op.GET, opaque: OPAQUE, cas: 0x0102030405060708n, extras: flagsExtra(0xdeadbeef), value }),
    );
  });

  it('batches many replies into few chunks', () => {
    const w = new ResponseWriter();
    for (let i = 0; i < 1000; i++) enc.get(w, getReq(Op.GETKQ, true), item('v'));
    const chunks = w.take();
    expect(chunks.length).toBeLessThanOrEqual(Math.ceil((1000 * 30) / (64 * 1024)) + 1);
    expect(Buffer.concat(chunks).length).toBe(1000 * (24 + 4 + 1 + 1));
  });
});

describe('binaryEncoder.store', () => {
  const storeReq = (opcode: number, mode: StoreRequest['mode'], quiet = false, compareCas?: bigint): StoreRequest => ({
    ...base(opcode, quiet),
    cmd: 'store',
    mode,
    key: Buffer.from('k'),
    value: Buffer.from('v'),
    flags: 0,
    exptime: 0,
    compareCas,
  });

  it('stored: empty success with the new CAS', () => {
    expect(written((w) => enc.store(w, storeReq(Op.SET, 'set'), item('v', { cas: 77n })))).toEqual(
      res({ opcode: Op.SET, opaque: OPAQUE, cas: 77n }),
    );
  });

  it.each([Op.SETQ, Op.ADDQ, Op.REPLACEQ, Op.APPENDQ, Op.PREPENDQ])('quiet opcode %i answers nothing when stored', (opcode) => {
    expect(written((w) => enc.store(w, storeReq(opcode, 'set', true), item('v')))).toHaveLength(0);
  });

  it.each([
    // [opcode, mode, compareCas, outcome, status, text]
    [Op.ADD, 'add', undefined, 'NOT_STORED', 0x02, 'Data exists for key.'],
    [Op.ADDQ, 'add', undefined, 'NOT_STORED', 0x02, 'Data exists for key.'],
    [Op.REPLACE, 'replace', undefined, 'NOT_STORED', 0x01, 'Not found'],
    [Op.SET, 'set', undefined, 'NOT_STORED', 0x05, 'Not stored.'],
    [Op.APPEND, 'append', undefined, 'NOT_STORED', 0x05, 'Not stored.'],
    [Op.PREPENDQ, 'prepend', undefined, 'NOT_STORED', 0x05, 'Not stored.'],
    [Op.ADD, 'set', 5n, 'NOT_STORED', 0x05, 'Not stored.'],
    [Op.SET, 'set', 5n, 'EXISTS', 0x02, 'Data exists for key.'],
    [Op.ADD, 'set', 5n, 'NOT_FOUND', 0x01, 'Not found'],
    [Op.APPEND, 'append', 5n, 'EXISTS', 0x02, 'Data exists for key.'],
    [Op.SETQ, 'set', undefined, 'TOO_LARGE', 0x03, 'Too large.'],
    [Op.APPEND, 'append', undefined, 'TOO_LARGE', 0x05, 'Not stored.'],
    [Op.SET, 'set', undefined, 'OUT_OF_MEMORY', 0x82, 'Out of memory allocating item'],
    [Op.PREPEND, 'prepend', undefined, 'OUT_OF_MEMORY', 0x05, 'Not stored.'],
  ] as const)('opcode %i (%s, cas %s) %s: status %i "%s"', (opcode, mode, compareCas, outcome, status, text) => {
    const quiet = opcode === Op.ADDQ || opcode === Op.SETQ || opcode === Op.PREPENDQ;
    expect(written((w) => enc.store(w, storeReq(opcode, mode, quiet, compareCas), outcome))).toEqual(
      res({ opcode, opaque: OPAQUE, status, value: text }),
    );
  });
});

describe('binaryEncoder: delete, arithmetic, touch, flush', () => {
  const del = (opcode: number, quiet = false): DeleteRequest => ({ ...base(opcode, quiet), cmd: 'delete', key: Buffer.from('k') });

  it('delete: success with CAS 0, silence when quiet, errors always', () => {
    expect(written((w) => enc.delete(w, del(Op.DELETE), 'DELETED'))).toEqual(res({ opcode: Op.DELETE, opaque: OPAQUE }));
    expect(written((w) => enc.delete(w, del(Op.DELETEQ, true), 'DELETED'))).toHaveLength(0);
    expect(written((w) => enc.delete(w, del(Op.DELETEQ, true), 'NOT_FOUND'))).toEqual(
      res({ opcode: Op.DELETEQ, opaque: OPAQUE, status: 1, value: 'Not found' }),
    );
    expect(written((w) => enc.delete(w, del(Op.DELETE), 'EXISTS'))).toEqual(
      res({ opcode: Op.DELETE, opaque: OPAQUE, status: 2, value: 'Data exists for key.' }),
    );
  });

  const arith = (opcode: number, quiet = false): ArithmeticRequest => ({
    ...base(opcode, quiet),
    cmd: 'incr',
    key: Buffer.from('c'),
    incr: true,
    delta: 1n,
  });
  const u64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    return b;
  };

  it.each([
    ['0', 0n],
    ['42', 42n],
    ['4294967296', 4294967296n],
    ['18446744073709551615', 18446744073709551615n],
    ['9   ', 9n], // memcached pads a shrunk counter with spaces
  ])('incr/decr value "%s" goes out as an 8-byte big-endian integer with the item CAS', (digits, v) => {
    expect(written((w) => enc.arithmetic(w, arith(Op.INCREMENT), item(digits, { cas: 9n })))).toEqual(
      res({ opcode: Op.INCREMENT, opaque: OPAQUE, cas: 9n, value: u64(v) }),
    );
  });

  it('incr/decr: quiet success is silent, failures carry memcached texts', () => {
    expect(written((w) => enc.arithmetic(w, arith(Op.INCREMENTQ, true), item('1')))).toHaveLength(0);
    expect(written((w) => enc.arithmetic(w, arith(Op.DECREMENTQ, true), 'NOT_FOUND'))).toEqual(
      res({ opcode: Op.DECREMENTQ, opaque: OPAQUE, status: 1, value: 'Not found' }),
    );
    expect(written((w) => enc.arithmetic(w, arith(Op.INCREMENT), 'NON_NUMERIC'))).toEqual(
      res({ opcode: Op.INCREMENT, opaque: OPAQUE, status: 6, value: 'Non-numeric server-side value for incr or decr' }),
    );
    expect(written((w) => enc.arithmetic(w, arith(Op.INCREMENT), 'EXISTS'))).toEqual(
      res({ opcode: Op.INCREMENT, opaque: OPAQUE, status: 2, value: 'Data exists for key.' }),
    );
  });

  it('a TouchRequest: flags-extras success, or Not found', () => {
    const t: TouchRequest = { ...base(Op.TOUCH), cmd: 'touch', key: Buffer.from('k'), exptime: 5 };
    expect(written((w) => enc.touch(w, t, 'TOUCHED'))).toEqual(res({ opcode: Op.TOUCH, opaque: OPAQUE, extras: flagsExtra(0) }));
    expect(written((w) => enc.touch(w, t, 'NOT_FOUND'))).toEqual(res({ opcode: Op.TOUCH, opaque: OPAQUE, status: 1, value: 'Not found' }));
  });

  it('flush answers, FlushQ does not', () => {
    const f = (opcode: number, quiet: boolean): FlushRequest => ({ ...base(opcode, quiet), cmd: 'flush_all', delay: 0 });
    expect(written((w) => enc.flush(w, f(Op.FLUSH, false)))).toEqual(res({ opcode: Op.FLUSH, opaque: OPAQUE }));
    expect(written((w) => enc.flush(w, f(Op.FLUSHQ, true)))).toHaveLength(0);
  });
});

describe('binaryEncoder: version, noop, quit, stats, sasl, errors', () => {
  it('version: the version string as the body', () => {
    expect(written((w) => enc.version(w, base(Op.VERSION), '1.6.18'))).toEqual(
      res({ opcode: Op.VERSION, opaque: OPAQUE, value: '1.6.18' }),
    );
  });

  it('noop answers; quit answers, QuitQ does not', () => {
    expect(written((w) => enc.noop(w, base(Op.NOOP)))).toEqual(res({ opcode: Op.NOOP, opaque: OPAQUE }));
    expect(written((w) => enc.quit(w, base(Op.QUIT)))).toEqual(res({ opcode: Op.QUIT, opaque: OPAQUE }));
    expect(written((w) => enc.quit(w, base(Op.QUITQ, true)))).toHaveLength(0);
  });

  it('stats: a packet per stat (name as key, text as value), then an empty one', () => {
    const req: StatsRequest = { ...base(Op.STAT), cmd: 'stats', group: '' };
    const out = written((w) =>
      enc.stats(w, req, [
        ['pid', 1234],
        ['version', '1.6.18'],
        ['rusage_user', 0.25],
        ['total_items', 2n ** 63n],
        ['cas_enabled', true],
        ['maxconns_fast', false],
        ['empty', ''],
      ]),
    );
    expect(out).toEqual(
      Buffer.concat([
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'pid', value: '1234' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'version', value: '1.6.18' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'rusage_user', value: '0.25' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'total_items', value: '9223372036854775808' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'cas_enabled', value: 'yes' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'maxconns_fast', value: 'no' }),
        res({ opcode: Op.STAT, opaque: OPAQUE, key: 'empty' }),
        res({ opcode: Op.STAT, opaque: OPAQUE }),
      ]),
    );
  });

  it('stats of an unknown group: Not found; of an empty group: only the end packet', () => {
    const req: StatsRequest = { ...base(Op.STAT), cmd: 'stats', group: 'nosuch' };
    expect(written((w) => enc.stats(w, req, undefined))).toEqual(res({ opcode: Op.STAT, opaque: OPAQUE, status: 1, value: 'Not found' }));
    expect(written((w) => enc.stats(w, req, []))).toEqual(res({ opcode: Op.STAT, opaque: OPAQUE }));
  });

  it('SASL without authentication configured answers UNKNOWN_COMMAND, as memcached without -S', () => {
    for (const [opcode, cmd] of [
      [Op.SASL_LIST_MECHS, 'sasl_list'],
      [Op.SASL_AUTH, 'sasl_auth'],
      [Op.SASL_STEP, 'sasl_step'],
    ] as const) {
      const req: SaslRequest = { ...base(opcode), cmd, mechanism: Buffer.from('PLAIN'), data: Buffer.alloc(0) };
      expect(written((w) => enc.sasl(w, req, false, ''))).toEqual(res({ opcode, opaque: OPAQUE, status: 0x81, value: 'Unknown command' }));
    }
  });

  it('SASL with authentication: payload on success, "Auth failure." otherwise', () => {
    const req: SaslRequest = { ...base(Op.SASL_LIST_MECHS), cmd: 'sasl_list', mechanism: Buffer.alloc(0), data: Buffer.alloc(0) };
    expect(written((w) => enc.sasl(w, req, true, 'PLAIN'))).toEqual(res({ opcode: Op.SASL_LIST_MECHS, opaque: OPAQUE, value: 'PLAIN' }));
    expect(written((w) => enc.sasl(w, req, false, 'denied'))).toEqual(
      res({ opcode: Op.SASL_LIST_MECHS, opaque: OPAQUE, status: 0x20, value: 'Auth failure.' }),
    );
  });

  it.each([
    [BinaryStatus.UNKNOWN_COMMAND, 'Unknown command'],
    [BinaryStatus.EINVAL, 'Invalid arguments'],
    [BinaryStatus.E2BIG, 'Too large.'],
    [BinaryStatus.KEY_ENOENT, 'Not found'],
    [BinaryStatus.KEY_EEXISTS, 'Data exists for key.'],
    [BinaryStatus.NOT_STORED, 'Not stored.'],
    [BinaryStatus.DELTA_BADVAL, 'Non-numeric server-side value for incr or decr'],
    [BinaryStatus.ENOMEM, 'Out of memory'],
    [BinaryStatus.AUTH_ERROR, 'Auth failure.'],
  ] as const)('protocolError with status 0x%s echoes opcode and opaque with memcached text "%s"', (status, text) => {
    const err = new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR x', status);
    const req: Request = { ...base(Op.SETQ, false), cmd: 'error', error: err };
    expect(written((w) => enc.protocolError(w, req, err))).toEqual(res({ opcode: Op.SETQ, opaque: OPAQUE, status, value: text }));
  });

  it('serverError: the given status with the message as body, even for quiet requests', () => {
    const err = new HandlerError('backend down');
    const req = getReq(Op.GETQ, true);
    expect(written((w) => enc.serverError(w, req, err.message, err.status))).toEqual(
      res({ opcode: Op.GETQ, opaque: OPAQUE, status: 0x84, value: 'backend down' }),
    );
  });
});
