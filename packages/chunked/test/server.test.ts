/**
 * Through the server: a cleave server with a 16 MiB item limit whose tier is
 * a ChunkedHandler over a MemcachedHandler (in front of a memcached with the
 * default 1 MiB `-I`) must answer multi-MiB values byte for byte as a
 * memcached started with `-I 16m` answers them, CAS uniques aside, in the
 * text, meta and binary protocols.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenAndServe, type Server } from '@cleave/server';
import { RawClient, binaryPacket, extras, normalizeBinary, normalizeText, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { ChunkedHandler } from '../src/index.js';
import { randomBytes, rng } from './helpers.js';

const MiB = 1024 * 1024;
let reference: MemcachedProcess;
let backend: MemcachedProcess;
let server: Server;
let chunkedHandler: ChunkedHandler;
let cleavePort: number;

beforeAll(async () => {
  [reference, backend] = await Promise.all([
    startMemcached({ args: ['-I', '16m'], memoryMb: 512 }),
    startMemcached({ args: ['-I', '1m'], memoryMb: 512 }),
  ]);
  chunkedHandler = new ChunkedHandler(new MemcachedHandler({ address: { host: '127.0.0.1', port: backend.port }, timeoutMs: 10_000 }));
  server = await listenAndServe({
    listen: { port: 0 },
    handler: chunkedHandler,
    limits: { maxItemSize: 16 * MiB },
  });
  cleavePort = (server.addresses[0] as { port: number }).port;
});

afterAll(async () => {
  await server?.close();
  await Promise.all([reference?.stop(), backend?.stop()]);
});

const MN = Buffer.from('mn\r\n');
const MN_REPLY = Buffer.from('MN\r\n');
const NOOP_OPAQUE = 0x5eed1e55;
const NOOP = binaryPacket({ opcode: 0x0a, opaque: NOOP_OPAQUE });

/** Whether a binary reply stream ends with the answer to NOOP. */
function endsWithNoop(b: Buffer): boolean {
  if (b.length < 24) return false;
  const h = b.subarray(b.length - 24);
  return h[0] === 0x81 && h[1] === 0x0a && h.readUInt32BE(8) === 0 && h.readUInt32BE(12) === NOOP_OPAQUE;
}

/**
 * Send each step on one connection per server and collect its reply. Every
 * step is followed by a no-op (meta `mn`, binary Noop) whose answer marks the
 * end of the step's reply; the marker is cut off again.
 */
async function both(steps: Array<Buffer | string>, binary = false): Promise<[Buffer[], Buffer[]]> {
  const run = async (port: number) => {
    const c = await RawClient.connect({ port });
    const replies: Buffer[] = [];
    try {
      for (const step of steps) {
        c.write(Buffer.concat([typeof step === 'string' ? Buffer.from(step) : step, binary ? NOOP : MN]));
        const done = binary ? endsWithNoop : (b: Buffer) => b.length >= 4 && b.subarray(b.length - 4).equals(MN_REPLY);
        if (!(await c.waitFor(done, 20_000))) throw new Error(`no end marker after ${c.received.length} bytes`);
        const all = await c.read(c.received.length);
        replies.push(all.subarray(0, all.length - (binary ? 24 : 4)));
      }
    } finally {
      c.close();
    }
    return replies;
  };
  return [await run(reference.port), await run(cleavePort)];
}

/** A reply as text with CAS masked, its long values replaced by their length and digest (readable on failure). */
function summarize(reply: string): string {
  return reply.replace(/[^\r\n]{200,}/g, (v) => `<${v.length} bytes ${createHash('sha1').update(v, 'latin1').digest('hex').slice(0, 12)}>`);
}

const text = (s: string, v?: Buffer) => (v === undefined ? Buffer.from(s) : Buffer.concat([Buffer.from(s), v, Buffer.from('\r\n')]));

describe('ChunkedHandler behind the server answers like memcached -I 16m', () => {
  it('text and meta commands on 1-16 MiB values: same bytes as memcached, CAS aside', async () => {
    const a = randomBytes(5 * MiB, rng(1));
    const b = randomBytes(3 * MiB + 7, rng(2));
    const c = randomBytes(16 * MiB - 59 - 4 - 'top'.length, rng(3));
    const steps = [
      text(`set big 5 0 ${a.length}\r\n`, a),
      'get big\r\n',
      'gets big\r\n',
      text('append big 9 9 3\r\n', Buffer.from('abc')),
      text('prepend big 9 9 3\r\n', Buffer.from('xyz')),
      'get big\r\n',
      'incr big 1\r\n',
      'touch big 1000\r\n',
      'gat 2000 big\r\n',
      text(`add big 0 0 ${b.length}\r\n`, b),
      text(`replace big 7 0 ${b.length}\r\n`, b),
      text(`cas big 0 0 ${b.length} 1\r\n`, b),
      text(`set top 4294967295 0 ${c.length}\r\n`, c),
      'set small 3 0 2\r\nhi\r\n',
      'get big small missing top\r\n',
      text(`ms meta ${b.length} F12 T0\r\n`, b),
      'mg meta s f v\r\nmg meta k s\r\nmg missing s v\r\n',
      text(`ms meta ${a.length} MA\r\n`, a),
      'mg meta s f v\r\n',
      'delete big\r\nget big\r\n',
      text(`set over 0 0 ${16 * MiB}\r\n`, Buffer.alloc(16 * MiB)),
      'get top\r\n',
    ];
    const [mine, theirs] = await both(steps);
    for (let i = 0; i < steps.length; i++) {
      const want = normalizeText(mine[i]!);
      const got = normalizeText(theirs[i]!);
      // Compare in full, report a readable summary.
      if (got !== want) expect(`step ${i}: ${summarize(got)}`).toBe(`step ${i}: ${summarize(want)}`);
    }
    expect(mine[1]!.length).toBeGreaterThan(5 * MiB);
    expect(mine[14]!.length).toBeGreaterThan(16 * MiB);
  });

  it('binary set and get of a 4 MiB value: same packets as memcached, CAS aside', async () => {
    const v = randomBytes(4 * MiB, rng(4));
    const steps = [
      binaryPacket({ opcode: 0x01, key: 'bin', extras: extras.store(0xfeed, 0), value: v, opaque: 1 }),
      binaryPacket({ opcode: 0x00, key: 'bin', opaque: 2 }),
      binaryPacket({ opcode: 0x0c, key: 'bin', opaque: 3 }),
      binaryPacket({ opcode: 0x0e, key: 'bin', value: 'tail', opaque: 4 }),
      binaryPacket({ opcode: 0x00, key: 'bin', opaque: 5 }),
      binaryPacket({ opcode: 0x05, key: 'bin', extras: extras.arith(1n, 0n, 0xffffffff), opaque: 6 }),
      binaryPacket({ opcode: 0x04, key: 'bin', opaque: 7 }),
      binaryPacket({ opcode: 0x00, key: 'bin', opaque: 8 }),
    ];
    const [mine, theirs] = await both(steps, true);
    for (let i = 0; i < steps.length; i++) {
      const want = normalizeBinary(mine[i]!);
      const got = normalizeBinary(theirs[i]!);
      if (got !== want) expect(`step ${i}: ${got.slice(0, 300)}`).toBe(`step ${i}: ${want.slice(0, 300)}`);
    }
    expect(mine[1]!.length).toBeGreaterThan(4 * MiB);
  });

  it('the backend memcached holds no value over its 1 MiB limit: chunk items and metadata only', async () => {
    await chunkedHandler.idle();
    const c = await RawClient.connect({ port: backend.port });
    try {
      const out = (await c.request('stats settings\r\n', 'END\r\n')).toString('latin1');
      expect(out).toContain('STAT item_size_max 1048576\r\n');
      const items = (await c.request('stats items\r\n', 'END\r\n')).toString('latin1');
      // Only slab classes up to slab_chunk_max (524288) hold items.
      const classes = [...items.matchAll(/items:(\d+):number (\d+)/g)].map((m) => Number(m[1]));
      const slabs = (await c.request('stats slabs\r\n', 'END\r\n')).toString('latin1');
      for (const cls of classes) {
        const size = Number(new RegExp(`STAT ${cls}:chunk_size (\\d+)`).exec(slabs)![1]);
        expect(size).toBeLessThanOrEqual(524288);
      }
    } finally {
      c.close();
    }
  });
});
