// Differential test: crafted binary streams go to a real memcached 1.6.18
// and through BinaryParser -> a small reference store -> binaryEncoder. The
// reply bytes must be equal: header fields, statuses, extras, keys, values
// and error texts. CAS values differ between the two stores, so each reply
// header's CAS is reduced to "zero / non-zero" before comparing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawClient, memcachedVersion, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { ProtocolError } from '../src/errors.js';
import type {
  ArithmeticOutcome,
  ArithmeticRequest,
  DeleteOutcome,
  DeleteRequest,
  GetRequest,
  ItemView,
  Request,
  StoreOutcome,
  StoreRequest,
} from '../src/model.js';
import { ResponseWriter } from '../src/writer.js';
import { BinaryParser } from '../src/binary/parser.js';
import { binaryEncoder as enc } from '../src/binary/encoder.js';
import { BinaryOpcode as Op } from '../src/binary/constants.js';
import { arithmeticExtras, bytewise, pkt, storeExtras, u32 } from './binary.helpers.js';

interface Entry {
  value: Buffer;
  flags: number;
  cas: bigint;
  exptime: number;
}

/** Just enough of memcached's storage semantics to drive the encoder with the outcomes memcached reaches. */
class ReferenceStore {
  private readonly items = new Map<string, Entry>();
  private nextCas = 1n;

  private view(key: Buffer, e: Entry): ItemView {
    return { key, value: e.value, flags: e.flags, cas: e.cas, exptime: e.exptime, lastAccess: 0, fetched: false };
  }

  private put(key: Buffer, value: Buffer, flags: number, exptime: number): ItemView {
    const e = { value: Buffer.from(value), flags, exptime, cas: this.nextCas++ };
    this.items.set(key.toString('hex'), e);
    return this.view(key, e);
  }

  get(req: GetRequest): ItemView | undefined {
    const e = this.items.get(req.key.toString('hex'));
    if (e === undefined) return undefined;
    if (req.touch !== undefined) e.exptime = req.touch;
    return this.view(req.key, e);
  }

  store(req: StoreRequest): StoreOutcome {
    const old = this.items.get(req.key.toString('hex'));
    if (req.mode === 'append' || req.mode === 'prepend') {
      if (old === undefined) return 'NOT_STORED';
      if (req.compareCas !== undefined && req.compareCas !== old.cas) return 'EXISTS';
      const value = req.mode === 'append' ? Buffer.concat([old.value, req.value]) : Buffer.concat([req.value, old.value]);
      return this.put(req.key, value, old.flags, old.exptime);
    }
    if (req.compareCas !== undefined) {
      if (old === undefined) return 'NOT_FOUND';
      if (old.cas !== req.compareCas) return 'EXISTS';
    } else if (req.mode === 'add' && old !== undefined) {
      return 'NOT_STORED';
    } else if (req.mode === 'replace' && old === undefined) {
      return 'NOT_STORED';
    }
    return this.put(req.key, req.value, req.flags, req.exptime);
  }

  delete(req: DeleteRequest): DeleteOutcome {
    const k = req.key.toString('hex');
    const old = this.items.get(k);
    if (old === undefined) return 'NOT_FOUND';
    if (req.compareCas !== undefined && req.compareCas !== old.cas) return 'EXISTS';
    this.items.delete(k);
    return 'DELETED';
  }

  arithmetic(req: ArithmeticRequest): ArithmeticOutcome {
    const old = this.items.get(req.key.toString('hex'));
    if (old === undefined) {
      if (req.initial === undefined) return 'NOT_FOUND';
      return this.put(req.key, Buffer.from(req.initial.toString()), 0, req.exptime ?? 0);
    }
    if (req.compareCas !== undefined && req.compareCas !== old.cas) return 'EXISTS';
    const text = old.value.toString('latin1');
    if (!/^\d{1,20}$/.test(text) || BigInt(text) >= 2n ** 64n) return 'NON_NUMERIC';
    let v = BigInt(text);
    v = req.incr ? (v + req.delta) % 2n ** 64n : v > req.delta ? v - req.delta : 0n;
    return this.put(req.key, Buffer.from(v.toString()), old.flags, old.exptime);
  }

  flush(): void {
    this.items.clear();
  }
}

interface Reply {
  bytes: Buffer;
  closed: boolean;
}

/** What cleave answers: parse, run against the reference store, encode. */
function cleave(chunks: Buffer[], store: ReferenceStore): Reply {
  const parser = new BinaryParser();
  const reqs: Request[] = [];
  let closed = false;
  for (const c of chunks) {
    try {
      parser.feed(c, reqs);
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      closed = true;
      break;
    }
    const last = reqs[reqs.length - 1];
    if (last && (last.cmd === 'quit' || (last.cmd === 'error' && last.error.fatal))) break;
  }
  const w = new ResponseWriter();
  for (const r of reqs) {
    switch (r.cmd) {
      case 'get':
        enc.get(w, r, store.get(r));
        break;
      case 'store':
        enc.store(w, r, store.store(r));
        break;
      case 'delete':
        enc.delete(w, r, store.delete(r));
        break;
      case 'incr':
      case 'decr':
        enc.arithmetic(w, r, store.arithmetic(r));
        break;
      case 'flush_all':
        store.flush();
        enc.flush(w, r);
        break;
      case 'stats':
        // Only groups whose answer does not depend on the server's state are compared.
        enc.stats(w, r, r.group === 'reset' ? [] : undefined);
        break;
      case 'version':
        enc.version(w, r, memcachedVersion());
        break;
      case 'noop':
        enc.noop(w, r);
        break;
      case 'quit':
        enc.quit(w, r);
        closed = true;
        break;
      case 'sasl_list':
      case 'sasl_auth':
      case 'sasl_step':
        enc.sasl(w, r, false, '');
        break;
      case 'error':
        enc.protocolError(w, r, r.error);
        if (r.error.fatal) closed = true;
        break;
      default:
        throw new Error(`the binary parser produced ${r.cmd}`);
    }
  }
  return { bytes: Buffer.concat(w.take()), closed };
}

let mc: MemcachedProcess;

/** What memcached answers to the same bytes on a fresh connection. */
async function memcached(stream: Buffer, expected: Reply): Promise<Reply> {
  const c = await RawClient.connect({ port: mc.port });
  try {
    c.write(stream);
    await c.waitFor((b) => b.length >= expected.bytes.length, 5000);
    const bytes = await c.drain(80, 5000);
    // Give memcached time to close when it is expected to, and a moment to show it does not otherwise.
    await c.waitFor(() => false, expected.closed ? 2000 : 80);
    return { bytes, closed: c.closed };
  } finally {
    c.close();
  }
}

/** Reply packets with each CAS reduced to zero / non-zero (all ones). */
function normalise(reply: Buffer): Buffer {
  const b = Buffer.from(reply);
  let i = 0;
  while (i + 24 <= b.length) {
    const cas = b.subarray(i + 16, i + 24);
    if (cas.some((x) => x !== 0)) cas.fill(0xff);
    i += 24 + b.readUInt32BE(i + 8);
  }
  return b;
}

let scenario = 0;
async function compare(build: (key: (name: string) => string) => Buffer[]): Promise<Reply> {
  // Unique keys per scenario: memcached's items outlive a scenario, the reference store's do not.
  const prefix = `s${++scenario}:`;
  const stream = Buffer.concat(build((name) => prefix + name));
  const ours = cleave([stream], new ReferenceStore());
  // The parser gives the same answer fed one byte at a time (small streams).
  if (stream.length < 4096) expect(cleave(bytewise(stream), new ReferenceStore())).toEqual(ours);
  const theirs = await memcached(stream, ours);
  expect(normalise(ours.bytes).toString('hex')).toBe(normalise(theirs.bytes).toString('hex'));
  expect(ours.closed).toBe(theirs.closed);
  return ours;
}

const noop = (opaque = 0xaaaa) => pkt({ opcode: Op.NOOP, opaque });
const set = (
  opcode: number,
  key: string,
  value: string | Buffer,
  o: { flags?: number; exptime?: number; cas?: bigint; opaque?: number } = {},
) => pkt({ opcode, key, extras: storeExtras(o.flags ?? 0, o.exptime ?? 0), value, cas: o.cas, opaque: o.opaque ?? 0x11 });

beforeAll(async () => {
  mc = await startMemcached();
});
afterAll(async () => {
  await mc?.stop();
});

describe('binary replies equal memcached 1.6.18 byte for byte', () => {
  it('set then every Get variant, hit and miss', async () => {
    await compare((k) => [
      set(Op.SET, k('a'), 'hello', { flags: 0xdeadbeef, opaque: 1 }),
      ...[Op.GET, Op.GETK, Op.GETQ, Op.GETKQ].map((opcode, i) => pkt({ opcode, key: k('a'), opaque: 10 + i })),
      ...[Op.GET, Op.GETK, Op.GETQ, Op.GETKQ].map((opcode, i) => pkt({ opcode, key: k('missing'), opaque: 20 + i })),
      set(Op.SET, k('empty'), ''),
      pkt({ opcode: Op.GET, key: k('empty'), opaque: 30 }),
      noop(),
    ]);
  });

  it('add, replace and their quiet forms, stored and refused', async () => {
    await compare((k) => [
      set(Op.ADD, k('a'), 'one', { opaque: 1 }),
      set(Op.ADD, k('a'), 'two', { opaque: 2 }),
      set(Op.ADDQ, k('a'), 'two', { opaque: 3 }),
      set(Op.ADDQ, k('b'), 'new', { opaque: 4 }),
      set(Op.REPLACE, k('a'), 'three', { opaque: 5 }),
      set(Op.REPLACE, k('none'), 'x', { opaque: 6 }),
      set(Op.REPLACEQ, k('none'), 'x', { opaque: 7 }),
      set(Op.REPLACEQ, k('b'), 'newer', { opaque: 8 }),
      set(Op.SETQ, k('c'), 'quiet', { opaque: 9 }),
      pkt({ opcode: Op.GETK, key: k('a') }),
      pkt({ opcode: Op.GETK, key: k('b') }),
      pkt({ opcode: Op.GETK, key: k('c') }),
      noop(),
    ]);
  });

  it('a non-zero CAS turns Set/Add/Replace into a CAS store', async () => {
    await compare((k) => [
      set(Op.SET, k('a'), 'v'),
      set(Op.SET, k('a'), 'x', { cas: 0xffffff01n, opaque: 1 }),
      set(Op.SETQ, k('a'), 'x', { cas: 0xffffff01n, opaque: 2 }),
      set(Op.ADD, k('a'), 'x', { cas: 0xffffff01n, opaque: 3 }),
      set(Op.ADD, k('missing'), 'x', { cas: 5n, opaque: 4 }),
      set(Op.REPLACE, k('missing'), 'x', { cas: 5n, opaque: 5 }),
      set(Op.SET, k('missing'), 'x', { cas: 5n, opaque: 6 }),
      noop(),
    ]);
  });

  it('append and prepend: missing, stored, quiet, CAS mismatch', async () => {
    await compare((k) => [
      pkt({ opcode: Op.APPEND, key: k('a'), value: 'x', opaque: 1 }),
      pkt({ opcode: Op.PREPENDQ, key: k('a'), value: 'x', opaque: 2 }),
      set(Op.SET, k('a'), 'mid', { flags: 7 }),
      pkt({ opcode: Op.APPEND, key: k('a'), value: '>', opaque: 3 }),
      pkt({ opcode: Op.PREPENDQ, key: k('a'), value: '<', opaque: 4 }),
      pkt({ opcode: Op.APPENDQ, key: k('a'), value: '', opaque: 5 }),
      pkt({ opcode: Op.APPEND, key: k('a'), value: '!', cas: 0xfffffffffn, opaque: 6 }),
      pkt({ opcode: Op.GET, key: k('a'), opaque: 7 }),
      noop(),
    ]);
  });

  it('delete: missing, quiet, CAS mismatch, deleted', async () => {
    await compare((k) => [
      pkt({ opcode: Op.DELETE, key: k('a'), opaque: 1 }),
      pkt({ opcode: Op.DELETEQ, key: k('a'), opaque: 2 }),
      set(Op.SET, k('a'), 'v'),
      set(Op.SET, k('b'), 'v'),
      pkt({ opcode: Op.DELETE, key: k('a'), cas: 0xfffffffffn, opaque: 3 }),
      pkt({ opcode: Op.DELETE, key: k('a'), opaque: 4 }),
      pkt({ opcode: Op.DELETEQ, key: k('b'), opaque: 5 }),
      pkt({ opcode: Op.GET, key: k('b'), opaque: 6 }),
      noop(),
    ]);
  });

  it('increment and decrement: create, count, floor at zero, wrap, no-create miss, non-numeric, CAS mismatch', async () => {
    await compare((k) => [
      pkt({ opcode: Op.INCREMENT, key: k('c'), extras: arithmeticExtras(5n, 10n, 0), opaque: 1 }),
      pkt({ opcode: Op.INCREMENT, key: k('c'), extras: arithmeticExtras(5n, 10n, 0), opaque: 2 }),
      pkt({ opcode: Op.DECREMENT, key: k('c'), extras: arithmeticExtras(100n, 0n, 0), opaque: 3 }),
      pkt({ opcode: Op.INCREMENTQ, key: k('c'), extras: arithmeticExtras(1n, 0n, 0), opaque: 4 }),
      pkt({ opcode: Op.INCREMENT, key: k('c'), extras: arithmeticExtras(0n, 0n, 0), opaque: 5 }),
      pkt({ opcode: Op.DECREMENT, key: k('d'), extras: arithmeticExtras(1n, 2n ** 64n - 1n, 0), opaque: 6 }),
      pkt({ opcode: Op.INCREMENT, key: k('w'), extras: arithmeticExtras(0n, 2n ** 64n - 1n, 0), opaque: 7 }),
      pkt({ opcode: Op.INCREMENT, key: k('w'), extras: arithmeticExtras(2n, 0n, 0), opaque: 8 }),
      pkt({ opcode: Op.INCREMENT, key: k('none'), extras: arithmeticExtras(1n, 1n, 0xffffffff), opaque: 9 }),
      pkt({ opcode: Op.DECREMENTQ, key: k('none'), extras: arithmeticExtras(1n, 1n, 0xffffffff), opaque: 10 }),
      set(Op.SET, k('text'), 'abc'),
      pkt({ opcode: Op.INCREMENT, key: k('text'), extras: arithmeticExtras(1n, 0n, 0), opaque: 11 }),
      pkt({ opcode: Op.DECREMENTQ, key: k('text'), extras: arithmeticExtras(1n, 0n, 0), opaque: 12 }),
      pkt({ opcode: Op.INCREMENT, key: k('c'), extras: arithmeticExtras(1n, 0n, 0), cas: 0xfffffffffn, opaque: 13 }),
      // a quiet create answers nothing either
      pkt({ opcode: Op.INCREMENTQ, key: k('q'), extras: arithmeticExtras(1n, 7n, 0), opaque: 14 }),
      pkt({ opcode: Op.GET, key: k('q'), opaque: 15 }),
      noop(),
    ]);
  });

  it('touch and every GAT variant, hit and miss', async () => {
    await compare((k) => [
      set(Op.SET, k('a'), 'hello', { flags: 42 }),
      pkt({ opcode: Op.TOUCH, key: k('a'), extras: u32(100), opaque: 1 }),
      pkt({ opcode: Op.TOUCH, key: k('missing'), extras: u32(100), opaque: 2 }),
      ...[Op.GAT, Op.GATK, Op.GATQ, Op.GATKQ].map((opcode, i) => pkt({ opcode, key: k('a'), extras: u32(3600), opaque: 10 + i })),
      ...[Op.GAT, Op.GATK, Op.GATQ, Op.GATKQ].map((opcode, i) => pkt({ opcode, key: k('missing'), extras: u32(3600), opaque: 20 + i })),
      noop(),
    ]);
  });

  it('flush and FlushQ, with and without the expiration extra', async () => {
    await compare((k) => [
      set(Op.SET, k('a'), 'v'),
      pkt({ opcode: Op.FLUSHQ, opaque: 1 }),
      pkt({ opcode: Op.GET, key: k('a'), opaque: 2 }),
      pkt({ opcode: Op.FLUSH, opaque: 3 }),
      pkt({ opcode: Op.FLUSH, extras: u32(0), opaque: 4 }),
      noop(),
    ]);
  });

  it('version, noop with data type and vbucket set, stats reset, unknown stats group', async () => {
    await compare(() => [
      pkt({ opcode: Op.VERSION, opaque: 1 }),
      pkt({ opcode: Op.NOOP, opaque: 2, dataType: 1, vbucket: 99 }),
      pkt({ opcode: Op.STAT, key: 'reset', opaque: 3 }),
      pkt({ opcode: Op.STAT, key: 'nosuchgroup', opaque: 4 }),
      noop(),
    ]);
  });

  it('Stat and Touch bodies past their key are read as the next packet', async () => {
    await compare((k) => [
      set(Op.SET, k('a'), 'v'),
      pkt({ opcode: Op.STAT, key: 'nosuchgroup', value: noop(5), opaque: 1 }),
      pkt({ opcode: Op.TOUCH, key: k('a'), extras: u32(10), value: noop(6), opaque: 2 }),
      pkt({ opcode: Op.GATK, key: k('a'), extras: u32(10), value: pkt({ opcode: Op.VERSION, opaque: 7 }), opaque: 3 }),
      noop(),
    ]);
  });

  it('SASL without authentication configured: Unknown command', async () => {
    await compare(() => [
      pkt({ opcode: Op.SASL_LIST_MECHS, opaque: 1 }),
      pkt({ opcode: Op.SASL_AUTH, key: 'PLAIN', value: '\0user\0secret', opaque: 2 }),
      pkt({ opcode: Op.SASL_STEP, key: 'PLAIN', value: 'more', opaque: 3 }),
      noop(),
    ]);
  });

  it('unknown opcodes (and Verbosity) answer Unknown command and skip extras + key + bodyLength bytes', async () => {
    await compare(() => [
      pkt({ opcode: Op.VERBOSITY, extras: u32(1), opaque: 1 }),
      Buffer.alloc(4, 0xee),
      pkt({ opcode: 0x50, key: 'ab', extras: Buffer.alloc(3), value: 'xyz', opaque: 2 }),
      Buffer.alloc(5, 0xee),
      pkt({ opcode: 0xff, value: 'abc', opaque: 3 }),
      noop(),
    ]);
  });

  it('items over the item size limit: Too large, value skipped, stream goes on', async () => {
    const max = 1024 * 1024;
    await compare((k) => {
      const key = k('big');
      const fits = max - 59 - key.length;
      return [
        set(Op.SET, key, Buffer.alloc(fits, 0x61), { opaque: 1 }),
        set(Op.SET, key, Buffer.alloc(fits + 1, 0x61), { opaque: 2 }),
        set(Op.SETQ, k('other'), Buffer.alloc(fits + 1000, 0x61), { opaque: 3 }),
        set(Op.ADD, k('f1'), Buffer.alloc(fits - 4, 0x61), { flags: 1, opaque: 4 }),
        set(Op.ADD, k('f2'), Buffer.alloc(fits - 3, 0x61), { flags: 1, opaque: 5 }),
        pkt({ opcode: Op.APPENDQ, key, value: Buffer.alloc(fits + 1, 0x62), opaque: 6 }),
        noop(),
      ];
    });
  });

  it('quit answers and closes; QuitQ closes silently; nothing after either is run', async () => {
    await compare((k) => [noop(1), pkt({ opcode: Op.QUIT, opaque: 2 }), set(Op.SET, k('a'), 'v'), noop(3)]);
    await compare((k) => [noop(1), pkt({ opcode: Op.QUITQ, opaque: 2 }), set(Op.SET, k('a'), 'v'), noop(3)]);
  });

  it('a bad magic byte closes the connection without a reply', async () => {
    await compare(() => [noop(1), pkt({ opcode: Op.NOOP, magic: 0x81, opaque: 2 }), noop(3)]);
  });

  const fatal: Array<[string, (k: (n: string) => string) => Buffer]> = [
    ['Get with extras', (k) => pkt({ opcode: Op.GET, key: k('a'), extras: u32(0), opaque: 9 })],
    ['GetQ without key', () => pkt({ opcode: Op.GETQ, opaque: 9 })],
    ['GetKQ with a value', (k) => pkt({ opcode: Op.GETKQ, key: k('a'), value: 'v', opaque: 9 })],
    ['SetQ with 4 bytes of extras', (k) => pkt({ opcode: Op.SETQ, key: k('a'), extras: u32(0), value: 'v', opaque: 9 })],
    ['Add without key', () => pkt({ opcode: Op.ADD, extras: storeExtras(0, 0), value: 'v', opaque: 9 })],
    ['Delete with extras', (k) => pkt({ opcode: Op.DELETE, key: k('a'), extras: u32(0), opaque: 9 })],
    ['Increment with 8 bytes of extras', (k) => pkt({ opcode: Op.INCREMENT, key: k('a'), extras: Buffer.alloc(8), opaque: 9 })],
    ['Append with extras', (k) => pkt({ opcode: Op.APPEND, key: k('a'), extras: u32(0), value: 'v', opaque: 9 })],
    ['Quit with a body', () => pkt({ opcode: Op.QUIT, value: 'x', opaque: 9 })],
    ['Flush with a value', () => pkt({ opcode: Op.FLUSH, extras: u32(0), value: 'abcd', opaque: 9 })],
    ['Noop with a key', () => pkt({ opcode: Op.NOOP, key: 'x', opaque: 9 })],
    ['Version with a body', () => pkt({ opcode: Op.VERSION, value: 'x', opaque: 9 })],
    ['Stat with extras', () => pkt({ opcode: Op.STAT, extras: u32(1), opaque: 9 })],
    ['GAT without extras', (k) => pkt({ opcode: Op.GAT, key: k('a'), opaque: 9 })],
    ['SASL auth without key', () => pkt({ opcode: Op.SASL_AUTH, value: 'x', opaque: 9 })],
    ['SASL list with a body', () => pkt({ opcode: Op.SASL_LIST_MECHS, value: 'x', opaque: 9 })],
    ['a 251-byte key', () => pkt({ opcode: Op.GET, key: 'k'.repeat(251), opaque: 9 })],
    ['a 251-byte key on an unknown opcode', () => pkt({ opcode: 0x70, key: 'k'.repeat(251), opaque: 9 })],
    [
      'key and extras longer than the body',
      (k) => pkt({ opcode: Op.SET, key: k('a'), extras: storeExtras(0, 0), bodyLength: 8, opaque: 9 }),
    ],
    ['key longer than the body', () => pkt({ opcode: Op.GET, key: 'abc', bodyLength: 2, opaque: 9 })],
  ];
  it.each(fatal)('%s: answered, then the connection is closed', async (_n, bad) => {
    const r = await compare((k) => [noop(1), bad(k), noop(2)]);
    expect(r.closed).toBe(true);
  });
});
