// Test helpers for the binary protocol: packets built by hand (independent
// of the code under test) and feeding a parser in every chunking.
import { expect } from 'vitest';
import type { ParserLimits } from '../src/codec.js';
import { ProtocolError } from '../src/errors.js';
import type { Request } from '../src/model.js';
import { BinaryParser } from '../src/binary/parser.js';

export interface PacketSpec {
  opcode: number;
  key?: Buffer | string;
  extras?: Buffer;
  value?: Buffer | string;
  opaque?: number;
  cas?: bigint;
  magic?: number;
  dataType?: number;
  vbucket?: number;
  /** Override the lengths written in the header (to build inconsistent packets). */
  keyLength?: number;
  extrasLength?: number;
  bodyLength?: number;
}

const buf = (b: Buffer | string | undefined): Buffer =>
  b === undefined ? Buffer.alloc(0) : typeof b === 'string' ? Buffer.from(b, 'latin1') : b;

/** A request packet: 24-byte header, extras, key, value. */
export function pkt(s: PacketSpec): Buffer {
  const key = buf(s.key);
  const extras = s.extras ?? Buffer.alloc(0);
  const value = buf(s.value);
  const h = Buffer.alloc(24);
  h[0] = s.magic ?? 0x80;
  h[1] = s.opcode;
  h.writeUInt16BE(s.keyLength ?? key.length, 2);
  h[4] = s.extrasLength ?? extras.length;
  h[5] = s.dataType ?? 0;
  h.writeUInt16BE(s.vbucket ?? 0, 6);
  h.writeUInt32BE(s.bodyLength ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE(s.opaque ?? 0, 12);
  h.writeBigUInt64BE(s.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function storeExtras(flags: number, exptime: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags, 0);
  b.writeUInt32BE(exptime, 4);
  return b;
}

export function arithmeticExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(exptime, 16);
  return b;
}

export interface FeedResult {
  requests: Request[];
  /** What feed() threw, if anything. */
  thrown?: unknown;
  /** Largest `buffered` seen after any feed. */
  maxBuffered: number;
  /** `buffered` after the last feed. */
  buffered: number;
}

/**
 * Feed chunks in order, the way a server does: stop once a request ends
 * the connection (fatal ErrorRequest, quit) or feed() throws.
 */
export function feedChunks(chunks: Buffer[], limits?: Partial<ParserLimits>): FeedResult {
  const parser = new BinaryParser(limits);
  const requests: Request[] = [];
  let maxBuffered = 0;
  let thrown: unknown;
  for (const c of chunks) {
    try {
      parser.feed(c, requests);
    } catch (e) {
      thrown = e;
      break;
    }
    maxBuffered = Math.max(maxBuffered, parser.buffered);
    const last = requests[requests.length - 1];
    if (last && ((last.cmd === 'error' && last.error.fatal) || last.cmd === 'quit')) break;
  }
  return { requests, thrown, maxBuffered, buffered: parser.buffered };
}

export function bytewise(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
  return out;
}

/** Every chunking a parser test runs: whole, one byte at a time, and (for small inputs) split at each position. */
export function chunkings(b: Buffer, maxSplitLength = 600): Array<{ name: string; chunks: Buffer[] }> {
  const out = [
    { name: 'whole', chunks: [b] },
    { name: 'byte by byte', chunks: bytewise(b) },
  ];
  if (b.length <= maxSplitLength) {
    for (let i = 1; i < b.length; i++) out.push({ name: `split at ${i}`, chunks: [b.subarray(0, i), b.subarray(i)] });
  }
  return out;
}

function summary(r: FeedResult): unknown {
  return {
    requests: r.requests,
    thrown: r.thrown instanceof ProtocolError ? { code: r.thrown.code, fatal: r.thrown.fatal } : r.thrown,
    buffered: r.buffered,
  };
}

/**
 * Parse `input` whole, byte by byte and split at every position; every way
 * must give the same result, which is returned.
 */
export function parse(input: Buffer | Buffer[], limits?: Partial<ParserLimits>): FeedResult {
  const b = Array.isArray(input) ? Buffer.concat(input) : input;
  const whole = feedChunks([b], limits);
  const expected = summary(whole);
  for (const { name, chunks } of chunkings(b).slice(1)) {
    const r = feedChunks(chunks, limits);
    expect(summary(r), name).toEqual(expected);
  }
  return whole;
}
