/**
 * The parts under the engine: request templates (checked by parsing what
 * they write with cleave's own server-side parsers), the binary reply
 * parser, keys, self-describing values, size specs, options.
 */
import fc from 'fast-check';
import { BinaryParser, TextParser, type Request } from '@cleave/protocol';
import { describe, expect, it } from 'vitest';
import {
  ADD,
  APPEND,
  APPENDABLE,
  BinaryFramingError,
  BinaryReplyParser,
  CAS,
  COMMAND_NAMES,
  COUNTER,
  DECR,
  DELETE,
  GAT,
  GET,
  GETS,
  INCR,
  ITEM,
  KeySpace,
  Op,
  Out,
  PREPEND,
  REPLACE,
  RequestWriter,
  Rng,
  SET,
  Sizer,
  TOUCH,
  ValueSource,
  dump,
  parseSizeSpec,
  resolveOptions,
} from '../src/index.js';

const keys = new KeySpace('cl:', 16, 100_000);
const values = new ValueSource(70_000);

function op(fields: Partial<Op>): Op {
  return Object.assign(new Op(), fields);
}

/** Parse requests with cleave's server-side parser, whole and fed one byte at a time; both must agree. */
function parse(protocol: 'text' | 'meta' | 'binary', bytes: Buffer): Request[] {
  const make = () => (protocol === 'binary' ? new BinaryParser() : new TextParser());
  const whole: Request[] = [];
  make().feed(bytes, whole);
  const bytewise: Request[] = [];
  const p = make();
  for (let i = 0; i < bytes.length; i++) p.feed(bytes.subarray(i, i + 1), bytewise);
  expect(bytewise.length).toBe(whole.length);
  return whole;
}

describe('request templates', () => {
  for (const protocol of ['text', 'meta', 'binary'] as const) {
    for (const verify of [false, true]) {
      it(`${protocol}${verify ? ' (verify)' : ''}: every command writes the request it names`, () => {
        const writer = new RequestWriter(protocol, keys, values, verify);
        const out = new Out();
        const sent: Op[] = [];
        const cases: Array<Partial<Op>> = [
          { cmd: GET, family: ITEM, key: 7 },
          { cmd: GETS, family: ITEM, key: 99_999 },
          { cmd: GAT, family: ITEM, key: 0 },
          { cmd: SET, family: ITEM, key: 12345, flags: 4_000_000_000, len: 300 },
          { cmd: SET, family: ITEM, key: 1, flags: 1, len: 0 },
          { cmd: ADD, family: ITEM, key: 2, flags: 77, len: 5 },
          { cmd: REPLACE, family: ITEM, key: 3, flags: 78, len: 6 },
          { cmd: APPEND, family: APPENDABLE, key: 4, len: 10 },
          { cmd: PREPEND, family: APPENDABLE, key: 5, len: 11 },
          { cmd: CAS, family: ITEM, key: 6, flags: 9, len: 12, cas: 2 ** 52 + 12345 },
          { cmd: DELETE, family: ITEM, key: 8 },
          { cmd: INCR, family: COUNTER, key: 9 },
          { cmd: DECR, family: COUNTER, key: 10 },
          { cmd: TOUCH, family: ITEM, key: 11 },
          { cmd: SET, family: COUNTER, key: 12, num: 123456, len: 6 },
        ];
        cases.forEach((c, i) => {
          const o = op({ ...c, seq: 4_000_000_000 + i });
          sent.push(o);
          writer.write(out, o);
        });
        const requests = parse(protocol, out.take());
        expect(requests).toHaveLength(cases.length);
        requests.forEach((r, i) => {
          const o = sent[i]!;
          const name = COMMAND_NAMES[o.cmd];
          expect(r.cmd, name).not.toBe('error');
          if ('key' in r) expect(r.key.toString('latin1'), name).toBe(keys.name(o.family, o.key));
          if (protocol === 'binary') expect(r.opaque >>> 0, name).toBe(o.seq);
          if (protocol === 'meta' && verify) {
            expect(r.meta?.opaqueToken?.toString('latin1'), name).toBe(`O${o.seq}`);
            expect(r.meta?.ret, name).toContain('k');
          }
          switch (o.cmd) {
            case GET:
            case GETS:
            case GAT:
              expect(r.cmd).toBe('get');
              if (r.cmd === 'get') expect(r.touch).toBe(o.cmd === GAT ? 0 : undefined);
              break;
            case TOUCH:
              // meta has no touch command: mg <key> T0 does it.
              if (protocol === 'meta') expect(r.cmd === 'get' && r.touch === 0).toBe(true);
              // Binary Touch (0x1c) parses as a get that touches, answered without the item.
              else if (protocol === 'binary') expect(r.cmd === 'get' && r.touch === 0 && r.opcode === 0x1c).toBe(true);
              else expect(r.cmd === 'touch' && r.exptime === 0).toBe(true);
              break;
            case DELETE:
              expect(r.cmd).toBe('delete');
              break;
            case INCR:
            case DECR:
              expect(r.cmd).toBe(o.cmd === INCR ? 'incr' : 'decr');
              if (r.cmd === 'incr' || r.cmd === 'decr') {
                expect(r.delta).toBe(1n);
                expect(r.initial, 'a missing counter is NOT_FOUND, not created').toBeUndefined();
              }
              break;
            default: {
              expect(r.cmd).toBe('store');
              if (r.cmd !== 'store') break;
              expect(r.mode).toBe(
                { [SET]: 'set', [ADD]: 'add', [REPLACE]: 'replace', [APPEND]: 'append', [PREPEND]: 'prepend', [CAS]: 'set' }[o.cmd],
              );
              expect(r.value.length).toBe(o.len);
              if (o.family === COUNTER) expect(r.value.toString()).toBe(String(o.num));
              else expect(r.value.equals(values.expected(o.key, o.flags, o.len))).toBe(true);
              if (o.cmd !== APPEND && o.cmd !== PREPEND) expect(r.flags).toBe(o.flags);
              expect(r.compareCas).toBe(o.cmd === CAS ? BigInt(o.cas) : undefined);
            }
          }
        });
      });
    }
  }

  it('a batch too big for the slab moves to a new one and stays whole', () => {
    const writer = new RequestWriter('text', keys, values, false);
    const out = new Out();
    for (let i = 0; i < 5; i++) writer.write(out, op({ cmd: SET, family: ITEM, key: i, flags: i + 1, len: 60_000 }));
    const batch = out.take();
    const requests = parse('text', batch);
    expect(requests.map((r) => (r.cmd === 'store' ? r.value.length : -1))).toEqual([60_000, 60_000, 60_000, 60_000, 60_000]);
  });
});

// ---------------------------------------------------------------------------

function packet(opcode: number, status: number, opaque: number, extras: Buffer, key: Buffer, value: Buffer): Buffer {
  const h = Buffer.alloc(24);
  h[0] = 0x81;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h.writeUInt16BE(status, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(opaque, 12);
  h.writeUInt32BE(0x12345678, 20);
  return Buffer.concat([h, extras, key, value]);
}

describe('binary reply parser', () => {
  const stream = [
    packet(0x0c, 0, 1, Buffer.from([0, 0, 0, 5]), Buffer.from('cl:i000000000001'), Buffer.from('hello')),
    packet(0x01, 0, 2, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0)),
    packet(0x0c, 1, 3, Buffer.alloc(0), Buffer.alloc(0), Buffer.from('Not found')),
    packet(0x05, 0, 4, Buffer.alloc(0), Buffer.alloc(0), Buffer.from([0, 0, 0, 0, 0, 0, 0, 42])),
  ];
  const all = Buffer.concat(stream);

  const collect = (chunks: Buffer[]) => {
    const p = new BinaryReplyParser();
    const out: Buffer[] = [];
    for (const c of chunks) p.feed(c, out);
    expect(p.buffered).toBe(0);
    return out.map((b) => Buffer.from(b));
  };

  it('gives every packet back whole: fed at once, byte by byte, and split at every position', () => {
    expect(collect([all])).toEqual(stream);
    expect(collect([...all].map((b) => Buffer.from([b])))).toEqual(stream);
    for (let i = 1; i < all.length; i++) {
      for (const j of [i + 1, i + 13, all.length]) {
        if (j <= i || j > all.length) continue;
        expect(collect([all.subarray(0, i), all.subarray(i, j), all.subarray(j)])).toEqual(stream);
      }
    }
  });

  it('hands out packets that arrived whole as views into the chunk (no copy)', () => {
    const p = new BinaryReplyParser();
    const out: Buffer[] = [];
    p.feed(all, out);
    expect(out.every((b) => b.buffer === all.buffer)).toBe(true);
  });

  it('keeps a partial packet until the rest arrives', () => {
    const p = new BinaryReplyParser();
    const out: Buffer[] = [];
    p.feed(all.subarray(0, 30), out);
    expect(out).toHaveLength(0);
    expect(p.buffered).toBe(30);
    p.feed(all.subarray(30), out);
    expect(out).toHaveLength(4);
  });

  it('rejects bytes without the reply magic, showing them', () => {
    const p = new BinaryReplyParser();
    const bad = Buffer.from('END\r\n' + ' '.repeat(30));
    for (const feed of [() => p.feed(bad, []), () => new BinaryReplyParser().feed(Buffer.concat([stream[1]!, bad]), [])]) {
      try {
        feed();
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(BinaryFramingError);
        expect((e as BinaryFramingError).message).toMatch(/bad magic 0x45/);
        expect((e as BinaryFramingError).bytes.subarray(0, 5).toString()).toBe('END\r\n');
      }
    }
  });

  it('rejects a body over the limit and key + extras longer than the body, before buffering them', () => {
    const huge = packet(0x0c, 0, 1, Buffer.alloc(0), Buffer.alloc(0), Buffer.alloc(0));
    huge.writeUInt32BE(1 << 30, 8);
    expect(() => new BinaryReplyParser(1 << 20).feed(huge, [])).toThrow(/over the 1048576 limit/);
    const lying = packet(0x0c, 0, 1, Buffer.alloc(4), Buffer.from('k'), Buffer.alloc(0));
    lying.writeUInt16BE(100, 2);
    expect(() => new BinaryReplyParser().feed(lying, [])).toThrow(/exceed body length/);
  });
});

// ---------------------------------------------------------------------------

describe('keys', () => {
  it('are prefix + family letter + zero-padded index, of the asked length, and match only themselves', () => {
    expect(keys.name(ITEM, 42)).toBe('cl:i000000000042');
    expect(keys.name(COUNTER, 99_999)).toBe('cl:c000000099999');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99_999 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 99_999 }), (i, f, j) => {
        const b = Buffer.from(keys.name(f, i), 'latin1');
        expect(b.length).toBe(16);
        expect(keys.matches(b, f, i)).toBe(true);
        expect(keys.matches(b, f, j)).toBe(i === j);
        expect(keys.matches(b, (f + 1) % 3, i)).toBe(false);
        expect(keys.matches(b.subarray(1), f, i)).toBe(false);
      }),
    );
  });

  it('refuse a length too short for the key space', () => {
    expect(() => new KeySpace('cl:', 8, 100_000)).toThrow(/too short for 100000 keys/);
  });
});

describe('self-describing values', () => {
  it('check out exactly, and name the first wrong byte of a changed one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e7 }),
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.integer({ min: 1, max: 5000 }),
        fc.nat(),
        (key, gen, len, at) => {
          const v = values.expected(key, gen, len);
          expect(values.check(v, key, gen)).toBe(-1);
          const pos = at % len;
          v[pos]! ^= 1 << (at % 8);
          expect(values.check(v, key, gen)).toBe(pos);
        },
      ),
    );
  });

  it('differ between keys and generations, and a truncated value no longer matches', () => {
    let differ = 0;
    for (let k = 0; k < 200; k++) {
      const v = values.expected(k, 1, 40);
      if (values.check(v, k + 1, 1) >= 0) differ++;
      expect(values.check(v, k, 2)).toBeGreaterThanOrEqual(0);
      expect(values.check(v.subarray(0, 39), k, 1)).toBeGreaterThanOrEqual(0);
      expect(values.check(Buffer.concat([v, Buffer.from('x')]), k, 1)).toBeGreaterThanOrEqual(0);
    }
    expect(differ).toBe(200);
  });

  it('the empty value of any generation is empty', () => {
    expect(values.check(Buffer.alloc(0), 5, 9)).toBe(-1);
  });
});

describe('byte dumps', () => {
  it('show hex and printable text around the offending offset', () => {
    const b = Buffer.from('VALUE k 0 3\r\nab\x00\r\nEND\r\n');
    expect(dump(b)).toEqual({
      offset: 0,
      length: b.length,
      hex: [...b].map((x) => x.toString(16).padStart(2, '0')).join(' '),
      text: 'VALUE k 0 3..ab...END..',
    });
    const long = Buffer.alloc(1000, 0x61);
    const d = dump(long, 500);
    expect(d.offset).toBe(484);
    expect(d.hex.split(' ')).toHaveLength(64);
    expect(dump(long, 990).offset).toBe(936);
  });
});

describe('decimal numbers, digit by digit', () => {
  it('match String() for every safe integer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.constantFrom(0, 9, 10, 99, 100, 2 ** 32, 2 ** 53 - 1)), (v) => {
        const out = new Out();
        out.decimal(v);
        expect(out.take().toString()).toBe(String(v));
      }),
    );
  });
});

describe('value size specs', () => {
  it('read fixed, range, log-uniform and weighted sizes', () => {
    expect(parseSizeSpec('100')).toEqual({ kind: 'fixed', size: 100 });
    expect(parseSizeSpec('5-20000')).toEqual({ kind: 'range', min: 5, max: 20000 });
    expect(parseSizeSpec('log:0-1000')).toEqual({ kind: 'log', min: 0, max: 1000 });
    expect(parseSizeSpec('100:3,4000:1')).toEqual({ kind: 'weighted', sizes: [100, 4000], weights: [0.75, 0.25] });
    for (const bad of ['', 'x', '5-', '-5', '20-5', '100:', 'log:100', '1:0,2:0', '999999999999'])
      expect(() => parseSizeSpec(bad), bad).toThrow();
  });

  it('draw sizes inside the spec, in about the asked proportions', () => {
    const rng = new Rng(1);
    for (const spec of ['5-20000', 'log:5-20000', 'log:0-10', '0-0', '7']) {
      const s = parseSizeSpec(spec);
      const sizer = new Sizer(s, rng);
      const lo = s.kind === 'fixed' ? s.size : (s as { min: number }).min;
      const hi = s.kind === 'fixed' ? s.size : (s as { max: number }).max;
      const seen = new Set<number>();
      for (let i = 0; i < 20_000; i++) {
        const n = sizer.next();
        expect(n).toBeGreaterThanOrEqual(lo);
        expect(n).toBeLessThanOrEqual(hi);
        seen.add(n);
      }
      if (hi - lo <= 10) expect(seen.size, `${spec} reaches every size`).toBe(hi - lo + 1);
    }
    const w = new Sizer(parseSizeSpec('100:3,4000:1'), rng);
    let small = 0;
    for (let i = 0; i < 20_000; i++) if (w.next() === 100) small++;
    expect(small / 20_000).toBeGreaterThan(0.72);
    expect(small / 20_000).toBeLessThan(0.78);
    // log-uniform: as many values below 316 as above it (the geometric middle of 5-20000).
    const l = new Sizer(parseSizeSpec('log:5-20000'), rng);
    let below = 0;
    for (let i = 0; i < 20_000; i++) if (l.next() < 316) below++;
    expect(below / 20_000).toBeGreaterThan(0.45);
    expect(below / 20_000).toBeLessThan(0.55);
  });
});

describe('options', () => {
  it('fill in per-workload defaults', () => {
    const s = resolveOptions({ workload: 'setget' });
    expect(s).toMatchObject({
      host: '127.0.0.1',
      port: 11211,
      protocol: 'text',
      conns: 4,
      depth: 16,
      duration: 5,
      verify: true,
      keys: 10_000,
      keyLength: 16,
    });
    expect(s.valueSize).toEqual({ kind: 'range', min: 5, max: 20000 });
    expect(resolveOptions({ workload: 'mix' }).verify).toBe(false);
    expect(resolveOptions({ workload: 'fill' }).keys).toBe(1_000_000);
    expect(resolveOptions({ workload: 'mix', requests: 10 }).duration).toBeUndefined();
    expect(resolveOptions({ workload: 'sizes' }).duration).toBeUndefined();
    expect(resolveOptions({ workload: 'sizes', valueSize: '10-500' })).toMatchObject({ minSize: 10, maxSize: 500 });
    expect(resolveOptions({ workload: 'mix', keys: 10 ** 7, keyPrefix: 'a-much-longer-prefix:' }).keyLength).toBe(29);
  });

  it('reject unknown options and wrong types, naming each', () => {
    const both = () => resolveOptions({ workload: 'mix', conns: 0, protocol: 'udp' } as never);
    expect(both).toThrow('--protocol must be text, meta or binary, not "udp"\n--conns must be a whole number from 1 to 1024, not 0');
    expect(() => resolveOptions({ workload: 'mix', colour: 'red' } as never)).toThrow(/^unknown option --colour$/);
    expect(() => resolveOptions({ workload: 'mix', keyPrefix: 'has space' })).toThrow(
      /^--key-prefix must be printable ASCII without spaces, at most 200 bytes, not "has space"$/,
    );
    expect(() => resolveOptions({ workload: 'sizes', minSize: 10, maxSize: 5 })).toThrow(
      /^--min-size must be at most --max-size \(5\), not 10$/,
    );
    // Numbers as strings (argv) read as numbers; text that is not a number is refused, never taken as 0.
    expect(resolveOptions({ workload: 'mix', port: ' 11311 ', ratio: '0.5' }).port).toBe(11311);
    expect(() => resolveOptions({ workload: 'sizes', minSize: '' })).toThrow(
      /^--min-size must be a whole number from 0 to 134217728, not ""$/,
    );
  });
});
