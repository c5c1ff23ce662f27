import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../src/errors.js';
import { ItemFacts, type Request } from '../src/model.js';
import { BinaryParser } from '../src/binary/parser.js';
import { encodeBinaryRequest } from '../src/binary/request-encoder.js';
import { BinaryOpcode as Op, isQuietOpcode } from '../src/binary/constants.js';

const LIMITS = { maxKeyLength: 250, maxItemSize: 4096 };

const u32 = fc.nat({ max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const opaque = u32;
const key = fc.uint8Array({ minLength: 1, maxLength: 250 }).map((a) => Buffer.from(a));
const value = fc.uint8Array({ maxLength: 600 }).map((a) => Buffer.from(a));
const cas = fc.oneof(
  fc.constant(undefined),
  u64.filter((c) => c !== 0n),
);
const head = (opcodes: readonly number[]) =>
  fc.record({ opcode: fc.constantFrom(...opcodes), opaque }).map(({ opcode, opaque }) => ({
    protocol: 'binary' as const,
    quiet: isQuietOpcode(opcode),
    opcode,
    opaque,
  }));

/** Every request the parser produces, in the form it produces them. */
const request: fc.Arbitrary<Request> = fc.oneof(
  fc
    .record({ h: head([Op.GET, Op.GETQ, Op.GETK, Op.GETKQ]), key })
    .map(({ h, key }) => ({ ...h, cmd: 'get' as const, key, withCas: false, touch: undefined, want: ItemFacts.CAS })),
  fc
    .record({ h: head([Op.TOUCH, Op.GAT, Op.GATQ, Op.GATK, Op.GATKQ]), key, touch: u32 })
    .map(({ h, key, touch }) => ({ ...h, cmd: 'get' as const, key, withCas: false, touch, want: ItemFacts.CAS })),
  fc
    .record({ h: head([Op.SET, Op.SETQ, Op.ADD, Op.ADDQ, Op.REPLACE, Op.REPLACEQ]), key, value, flags: u32, exptime: u32, compareCas: cas })
    .map(({ h, compareCas, ...rest }) => ({
      ...h,
      ...rest,
      cmd: 'store' as const,
      mode:
        compareCas !== undefined || h.opcode === Op.SET || h.opcode === Op.SETQ
          ? ('set' as const)
          : h.opcode === Op.ADD || h.opcode === Op.ADDQ
            ? ('add' as const)
            : ('replace' as const),
      compareCas,
      // memcached drops the old item on a failed store for the Set opcode only, CAS or not.
      unlinkOnFailure: h.opcode === Op.SET || h.opcode === Op.SETQ,
    })),
  fc.record({ h: head([Op.APPEND, Op.APPENDQ, Op.PREPEND, Op.PREPENDQ]), key, value, compareCas: cas }).map(({ h, ...rest }) => ({
    ...h,
    ...rest,
    cmd: 'store' as const,
    mode: h.opcode === Op.APPEND || h.opcode === Op.APPENDQ ? ('append' as const) : ('prepend' as const),
    flags: 0,
    exptime: 0,
    unlinkOnFailure: false,
  })),
  fc
    .record({ h: head([Op.DELETE, Op.DELETEQ]), key, compareCas: cas })
    .map(({ h, ...rest }) => ({ ...h, ...rest, cmd: 'delete' as const })),
  fc
    .record({
      h: head([Op.INCREMENT, Op.INCREMENTQ, Op.DECREMENT, Op.DECREMENTQ]),
      key,
      delta: u64,
      create: fc.option(fc.record({ initial: u64, exptime: fc.nat({ max: 0xfffffffe }) }), { nil: undefined }),
      compareCas: cas,
    })
    .map(({ h, key, delta, create, compareCas }) => {
      const incr = h.opcode === Op.INCREMENT || h.opcode === Op.INCREMENTQ;
      return {
        ...h,
        cmd: incr ? ('incr' as const) : ('decr' as const),
        key,
        incr,
        delta,
        initial: create?.initial,
        exptime: create?.exptime,
        compareCas,
      };
    }),
  fc.record({ h: head([Op.FLUSH, Op.FLUSHQ]), delay: u32 }).map(({ h, delay }) => ({ ...h, cmd: 'flush_all' as const, delay })),
  fc
    .record({ h: head([Op.STAT]), group: fc.uint8Array({ maxLength: 250 }) })
    .map(({ h, group }) => ({ ...h, cmd: 'stats' as const, group: Buffer.from(group).toString('latin1') })),
  head([Op.NOOP]).map((h) => ({ ...h, cmd: 'noop' as const })),
  head([Op.VERSION]).map((h) => ({ ...h, cmd: 'version' as const })),
  head([Op.SASL_LIST_MECHS]).map((h) => ({ ...h, cmd: 'sasl_list' as const, mechanism: Buffer.alloc(0), data: Buffer.alloc(0) })),
  fc
    .record({ h: head([Op.SASL_AUTH, Op.SASL_STEP]), mechanism: key, data: value })
    .map(({ h, ...rest }) => ({ ...h, ...rest, cmd: h.opcode === Op.SASL_AUTH ? ('sasl_auth' as const) : ('sasl_step' as const) })),
);
const quit = head([Op.QUIT, Op.QUITQ]).map((h) => ({ ...h, cmd: 'quit' as const }));

/** Cut `b` at random positions. */
function chunked(b: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of points) {
    out.push(b.subarray(last, p));
    last = p;
  }
  out.push(b.subarray(last));
  return out;
}

const cuts = fc.array(fc.nat(), { maxLength: 20 });

interface Run {
  requests: Request[];
  thrown?: unknown;
}

/** Feed like a server: stop at a fatal error request, quit, or a throw; check the buffering bound after every feed. */
function run(chunks: Buffer[], limits = LIMITS): Run {
  const parser = new BinaryParser(limits);
  const requests: Request[] = [];
  for (const c of chunks) {
    try {
      parser.feed(c, requests);
    } catch (e) {
      return { requests, thrown: e };
    }
    // The most one packet may hold: header, extras, key and an item.
    expect(parser.buffered).toBeLessThanOrEqual(24 + 255 + limits.maxKeyLength + limits.maxItemSize);
    const last = requests[requests.length - 1];
    if (last && ((last.cmd === 'error' && last.error.fatal) || last.cmd === 'quit')) break;
  }
  return { requests };
}

describe('binary protocol properties', () => {
  it('encodeBinaryRequest then parse gives back every request, however the bytes are chunked', () => {
    fc.assert(
      fc.property(fc.array(request, { minLength: 1, maxLength: 30 }), fc.option(quit, { nil: undefined }), cuts, (reqs, q, cs) => {
        const all = q ? [...reqs, q] : reqs;
        const bytes = Buffer.concat(all.map(encodeBinaryRequest));
        const r = run(chunked(bytes, cs));
        expect(r.thrown).toBeUndefined();
        expect(r.requests).toEqual(all);
      }),
      { numRuns: 500 },
    );
  });

  it('arbitrary bytes never throw anything but a fatal ProtocolError nor buffer past the limit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), fc.boolean(), cuts, (bytes, magic, cs) => {
        const b = Buffer.from(bytes);
        // Half the time start with the request magic so the bytes get past the first header.
        if (magic && b.length > 0) b[0] = 0x80;
        const r = run(chunked(b, cs), { maxKeyLength: 32, maxItemSize: 256 });
        if (r.thrown !== undefined) {
          expect(r.thrown).toBeInstanceOf(ProtocolError);
          expect((r.thrown as ProtocolError).fatal).toBe(true);
        }
      }),
      { numRuns: 1000 },
    );
  });

  // Packets with a valid magic byte, any opcode and any lengths (consistent
  // or not), with random bodies: every chunking parses the same, only
  // ProtocolError escapes, buffering stays within the limit.
  const packet = fc
    .record({
      opcode: fc.oneof(fc.nat({ max: 0x30 }), fc.nat({ max: 255 })),
      keyLength: fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 0xffff })),
      extrasLength: fc.oneof(fc.constantFrom(0, 4, 8, 20), fc.nat({ max: 255 })),
      extraBody: fc.oneof(fc.nat({ max: 400 }), fc.constant(-1)),
      opaque,
      cas: u64,
      body: fc.uint8Array({ maxLength: 500 }),
    })
    .map((p) => {
      const h = Buffer.alloc(24);
      h[0] = 0x80;
      h[1] = p.opcode;
      h.writeUInt16BE(p.keyLength, 2);
      h[4] = p.extrasLength;
      const bodyLength = p.extraBody < 0 ? Math.max(0, p.keyLength + p.extrasLength - 1) : p.keyLength + p.extrasLength + p.extraBody;
      h.writeUInt32BE(bodyLength, 8);
      h.writeUInt32BE(p.opaque, 12);
      h.writeBigUInt64BE(p.cas, 16);
      return Buffer.concat([h, Buffer.from(p.body)]);
    });

  it('headers with any opcode and lengths and random bodies parse the same in any chunking, within limits', () => {
    const limits = { maxKeyLength: 40, maxItemSize: 300 };
    fc.assert(
      fc.property(fc.array(packet, { minLength: 1, maxLength: 8 }), cuts, (packets, cs) => {
        const bytes = Buffer.concat(packets);
        const whole = run([bytes], limits);
        const pieces = run(chunked(bytes, cs), limits);
        for (const r of [whole, pieces]) {
          if (r.thrown !== undefined) expect(r.thrown).toBeInstanceOf(ProtocolError);
        }
        expect(pieces.requests).toEqual(whole.requests);
        expect((pieces.thrown as ProtocolError | undefined)?.code).toBe((whole.thrown as ProtocolError | undefined)?.code);
      }),
      { numRuns: 1000 },
    );
  });
});
