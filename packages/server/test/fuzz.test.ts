/**
 * Hostile input against whole server connections, not just parsers: random
 * bytes and mutations of valid text, meta and binary streams. The server must
 * answer or close each connection cleanly, never throw past it, and keep
 * serving a well-behaved client throughout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1Only } from '@cleave/orchestrator';
import { RawClient, binaryPacket, extras } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

let server: Server;
let port: number;
const serverErrors: unknown[] = [];

beforeAll(async () => {
  server = await listenAndServe({
    listen: { port: 0 },
    orchestrator: l1Only,
    l1: new InMemoryHandler({ maxBytes: 16 * 1024 * 1024 }),
    limits: { maxItemSize: 64 * 1024 },
    onError: (err) => serverErrors.push(err),
  });
  port = (server.addresses[0] as { port: number }).port;
});

afterAll(async () => {
  await server?.close(200);
});

/** Valid streams the mutations start from: every protocol, storage and retrieval, pipelined. */
const seeds: Buffer[] = [
  Buffer.from('set a 0 0 5\r\nhello\r\nget a b\r\ngets a\r\nincr n 1\r\ndelete a\r\ntouch a 10\r\ngat 10 a\r\nstats\r\nversion\r\n'),
  Buffer.from('ms k 3 T10 F5\r\nabc\r\nmg k v f t c k O9\r\nma n N0 J1 v\r\nmd k q\r\nmn\r\nme k\r\n'),
  Buffer.concat([
    binaryPacket({ opcode: 0x01, key: 'k', value: 'v', extras: extras.store(1, 0), opaque: 1 }),
    binaryPacket({ opcode: 0x0d, key: 'k', opaque: 2 }),
    binaryPacket({ opcode: 0x05, key: 'n', extras: extras.arith(1n, 5n, 0), opaque: 3 }),
    binaryPacket({ opcode: 0x1d, key: 'k', extras: extras.u32(10), opaque: 4 }),
    binaryPacket({ opcode: 0x0a, opaque: 5 }),
  ]),
];

const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('flip', 'insert', 'delete')), { maxLength: 8 }),
    fc.option(fc.nat(), { nil: undefined }),
  )
  .map(([seed, edits, cut]) => {
    const bytes = [...seed];
    for (const [at, b, op] of edits) {
      const i = at % (bytes.length + 1);
      if (op === 'flip' && i < bytes.length) bytes[i] = b;
      else if (op === 'insert') bytes.splice(i, 0, b);
      else if (op === 'delete' && i < bytes.length) bytes.splice(i, 1);
    }
    return Buffer.from(cut === undefined ? bytes : bytes.slice(0, cut % (bytes.length + 1)));
  });

const hostile = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 512 }).map((a) => Buffer.from(a)),
  // Text-looking noise: command words, numbers, spaces and line ends in any order.
  fc
    .array(fc.constantFrom('get', 'set', 'mg', 'ms', 'incr', ' ', '\r\n', '\n', '0', '-1', '99999999999', 'k', 'noreply', 'T', 'q', '\0'), { maxLength: 60 })
    .map((parts) => Buffer.from(parts.join(''), 'latin1')),
  mutated,
);

/** Send one stream on its own connection; resolve once the server went quiet or closed it. */
async function send(stream: Buffer): Promise<void> {
  const c = await RawClient.connect({ port });
  try {
    c.write(stream);
    await c.drain(15, 1000);
  } finally {
    c.close();
  }
}

/** `npx pnpm fuzz --minutes N` sets this to run the same property for N minutes instead of 60 rounds. */
const minutes = Number(process.env.CLEAVE_FUZZ_MINUTES ?? 0);
const budget = minutes > 0 ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: minutes * 60_000, markInterruptAsFailure: false } : { numRuns: 60 };

describe('hostile input on whole connections', () => {
  it('never crashes the server, and a well-behaved client keeps being served', { timeout: minutes * 60_000 + 60_000 }, async () => {
    const good = await RawClient.connect({ port });
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 4 }), async (streams) => {
        await Promise.all(streams.map(send));
        // The well-behaved connection, opened before all of this, still gets exact answers.
        round++;
        const v = `v${round}`;
        const reply = await good.request(`set good 0 0 ${v.length}\r\n${v}\r\nget good\r\n`, 'END\r\n', 3000);
        expect(reply.toString()).toBe(`STORED\r\nVALUE good 0 ${v.length}\r\n${v}\r\nEND\r\n`);
      }),
      budget,
    );
    good.close();
    if (minutes > 0) console.log(`fuzz: ${round} rounds in ${minutes} min`);
    // Nothing reached the server's own error channel: every bad stream was answered or closed as input.
    expect(serverErrors).toEqual([]);
  });
});
