/**
 * Helpers for text/meta parser tests: every input is parsed whole, one byte at
 * a time and (for small inputs) split in two at every position; all ways
 * must give the same requests, and that common result is returned in a
 * plain, comparable form (Buffers as latin1 strings, bigints as `<n>n`,
 * errors as their reply line).
 */
import { expect } from 'vitest';
import { ProtocolError, type ParserLimits, type Request } from '../src/index.js';
import { TextParser, type TextParserOptions } from '../src/text/parser.js';

export type Plain = Record<string, unknown>;

export function plain(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value.toString('latin1');
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof ProtocolError) return value.wire.toString('latin1').replace(/\r\n$/, '');
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    const o: Plain = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) o[k] = plain(v);
    return o;
  }
  return value;
}

export interface Parsed {
  requests: Plain[];
  /** Reply line of a fatal error thrown by feed (memcached closes the connection). */
  fatal?: string;
  /** `buffered` after the last chunk. */
  buffered: number;
}

export function runChunks(chunks: Buffer[], limits?: Partial<ParserLimits>, options?: TextParserOptions): Parsed {
  const parser = new TextParser(limits, options);
  const out: Request[] = [];
  try {
    for (const c of chunks) parser.feed(c, out);
  } catch (e) {
    if (!(e instanceof ProtocolError)) throw e;
    expect(e.fatal).toBe(true);
    return { requests: out.map((r) => plain(r) as Plain), fatal: plain(e) as string, buffered: parser.buffered };
  }
  return { requests: out.map((r) => plain(r) as Plain), buffered: parser.buffered };
}

export function bytesOf(input: string | Buffer): Buffer {
  return typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
}

/** Parse `input` whole, byte by byte and split at every position (inputs up to `splitLimit` bytes); all must agree. */
export function parseEveryWay(
  input: string | Buffer,
  limits?: Partial<ParserLimits>,
  options?: TextParserOptions,
  splitLimit = 600,
): Parsed {
  const buf = bytesOf(input);
  const whole = runChunks([buf], limits, options);
  const bytes: Buffer[] = [];
  for (let i = 0; i < buf.length; i++) bytes.push(buf.subarray(i, i + 1));
  const byByte = runChunks(bytes, limits, options);
  expect(byByte.requests, 'byte-by-byte').toEqual(whole.requests);
  expect(byByte.fatal, 'byte-by-byte fatal').toEqual(whole.fatal);
  if (buf.length <= splitLimit) {
    for (let i = 1; i < buf.length; i++) {
      const split = runChunks([buf.subarray(0, i), buf.subarray(i)], limits, options);
      expect(split.requests, `split at ${i}`).toEqual(whole.requests);
      expect(split.fatal, `split at ${i} fatal`).toEqual(whole.fatal);
    }
  }
  return whole;
}

/** Just the requests, checked every way. */
export function parse(input: string | Buffer, limits?: Partial<ParserLimits>, options?: TextParserOptions): Plain[] {
  const r = parseEveryWay(input, limits, options);
  expect(r.fatal).toBeUndefined();
  return r.requests;
}

/** The reply line of a single error request parsed from `input`. */
export function errorOf(input: string | Buffer): { wire: string; quiet: boolean; protocol: unknown } {
  const reqs = parse(input);
  expect(reqs).toHaveLength(1);
  expect(reqs[0]!.cmd).toBe('error');
  return { wire: reqs[0]!.error as string, quiet: reqs[0]!.quiet as boolean, protocol: reqs[0]!.protocol };
}

export const text = { protocol: 'text', quiet: false, opcode: 0, opaque: 0 } as const;
export const meta = { protocol: 'meta', quiet: false, opcode: 0, opaque: 0 } as const;
export const err = (wire: string, quiet = false, protocol: 'text' | 'meta' = 'text'): Plain => ({
  protocol,
  quiet,
  opcode: 0,
  opaque: 0,
  cmd: 'error',
  error: wire,
});
