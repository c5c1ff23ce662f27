// cleave-load's own cost per request, one thread — what it spends in the hot
// loop besides the socket:
//  - encode: write 50k requests from the pre-encoded templates into a batch
//    (Out), one take() per 16 requests (a pipeline turn)
//  - parse + check: feed 50k replies in 64 KB chunks to the reply parser and
//    check each item against its self-describing value (100-byte values)
// Each benny op handles 50k requests; requests/s = ops/s x 50k.
// Run: cd packages/loadgen && npx tsx ../../scripts/run-bench.ts loadgen
import b from 'benny';
import type { CaseResult } from 'benny/lib/internal/common-types';
import { TextResponseParser, type TextReply } from '@cleave/protocol';
import { BinaryReplyParser } from '../src/binary-reply.js';
import { GET, ITEM, SET } from '../src/commands.js';
import { KeySpace } from '../src/keys.js';
import { Op } from '../src/op.js';
import { Out } from '../src/out.js';
import { RequestWriter, type ProtocolName } from '../src/templates.js';
import { ValueSource } from '../src/values.js';

const N = 50_000;
const CHUNK = 64 * 1024;
const KEYS = 10_000;
const keys = new KeySpace('cl:', 16, KEYS);
const values = new ValueSource(1024);

function encodeAll(writer: RequestWriter, cmd: number, len: number): number {
  const out = new Out();
  const op = new Op();
  op.cmd = cmd;
  op.family = ITEM;
  op.len = len;
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    op.key = i % KEYS;
    op.flags = (i & 0xffff) + 1;
    op.seq = i;
    writer.write(out, op);
    if ((i & 15) === 15) bytes += out.take().length;
  }
  return bytes;
}

const writers = Object.fromEntries(
  (['text', 'meta', 'binary'] as ProtocolName[]).map((p) => [p, new RequestWriter(p, keys, values, true)]),
) as Record<ProtocolName, RequestWriter>;

/** 50k get-hit replies, as a server would send them, cut into 64 KB chunks. */
function replies(protocol: ProtocolName): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < N; i++) {
    const k = i % KEYS;
    const gen = (i & 0xffff) + 1;
    const key = keys.name(ITEM, k);
    const v = values.expected(k, gen, 100);
    if (protocol === 'text') {
      parts.push(Buffer.from(`VALUE ${key} ${gen} 100\r\n`), v, Buffer.from('\r\nEND\r\n'));
    } else if (protocol === 'meta') {
      parts.push(Buffer.from(`VA 100 f${gen} k${key} O${i}\r\n`), v, Buffer.from('\r\n'));
    } else {
      const h = Buffer.alloc(28);
      h[0] = 0x81;
      h[1] = 0x0c;
      h.writeUInt16BE(16, 2);
      h[4] = 4;
      h.writeUInt32BE(4 + 16 + 100, 8);
      h.writeUInt32BE(i, 12);
      h.writeUInt32BE(gen, 24);
      parts.push(h, Buffer.from(key), v);
    }
  }
  const all = Buffer.concat(parts);
  const chunks: Buffer[] = [];
  for (let p = 0; p < all.length; p += CHUNK) chunks.push(all.subarray(p, p + CHUNK));
  return chunks;
}

const streams = { text: replies('text'), meta: replies('meta'), binary: replies('binary') };

function parseText(chunks: Buffer[]): number {
  const parser = new TextResponseParser();
  const out: TextReply[] = [];
  let i = 0;
  let bad = 0;
  for (const c of chunks) {
    parser.feed(c, out);
    for (const r of out) {
      if (r.kind === 'value') {
        if (!keys.matches(r.key, ITEM, i % KEYS) || values.check(r.value, i % KEYS, r.flags) >= 0) bad++;
      } else if (r.kind === 'meta') {
        if (!keys.matches(r.key!, ITEM, i % KEYS) || values.check(r.value!, i % KEYS, r.clientFlags!) >= 0) bad++;
        i++;
      } else if (r.kind === 'end') i++;
    }
    out.length = 0;
  }
  if (i !== N || bad !== 0) throw new Error(`parsed ${i} replies, ${bad} bad`);
  return i;
}

function parseBinary(chunks: Buffer[]): number {
  const parser = new BinaryReplyParser();
  const out: Buffer[] = [];
  let i = 0;
  let bad = 0;
  for (const c of chunks) {
    parser.feed(c, out);
    for (const p of out) {
      const k = i % KEYS;
      if (
        p.readUInt32BE(12) !== i ||
        !keys.matches(p.subarray(28, 44), ITEM, k) ||
        values.check(p.subarray(44), k, p.readUInt32BE(24)) >= 0
      )
        bad++;
      i++;
    }
    out.length = 0;
  }
  if (i !== N || bad !== 0) throw new Error(`parsed ${i} replies, ${bad} bad`);
  return i;
}

const perRequest = (r: CaseResult) =>
  `${((r.ops * N) / 1e6).toFixed(2)}M requests/s, ${(1e9 / (r.ops * N)).toFixed(0)} ns each (±${r.margin.toFixed(1)}%)`;

await b.suite(
  'cleave-load hot loop, 50k requests per op',
  b.add('encode text get', () => encodeAll(writers.text, GET, 0), { minSamples: 10, maxTime: 0.5 }),
  b.add('encode text set, 100-byte value', () => encodeAll(writers.text, SET, 100), { minSamples: 10, maxTime: 0.5 }),
  b.add('encode meta get (mg v f k O)', () => encodeAll(writers.meta, GET, 0), { minSamples: 10, maxTime: 0.5 }),
  b.add('encode meta set, 100-byte value', () => encodeAll(writers.meta, SET, 100), { minSamples: 10, maxTime: 0.5 }),
  b.add('encode binary GetK', () => encodeAll(writers.binary, GET, 0), { minSamples: 10, maxTime: 0.5 }),
  b.add('encode binary Set, 100-byte value', () => encodeAll(writers.binary, SET, 100), { minSamples: 10, maxTime: 0.5 }),
  b.add('parse + check text VALUE/END hits', () => parseText(streams.text), { minSamples: 10, maxTime: 0.5 }),
  b.add('parse + check meta VA hits', () => parseText(streams.meta), { minSamples: 10, maxTime: 0.5 }),
  b.add('parse + check binary GetK hits', () => parseBinary(streams.binary), { minSamples: 10, maxTime: 0.5 }),
  b.cycle((r: CaseResult) => `${r.name}: ${perRequest(r)}`),
  b.complete(),
);
