/**
 * Hostile input against whole server connections, not just parsers: random
 * bytes and mutations of valid text, meta and binary streams. The server must
 * answer or close each connection cleanly, never throw past it, and keep
 * serving a well-behaved client throughout. Two servers take it: an open one,
 * and one that requires authentication and has a tiny output budget, where
 * the streams also start with (mutated) logins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { RawClient, binaryPacket, extras } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

const servers: Server[] = [];
const serverErrors: unknown[] = [];
let openPort: number;
let guardedPort: number;

beforeAll(async () => {
  const start = async (extra: { auth?: { users: Record<string, string> }; maxOutputBytes?: number }) => {
    const server = await listenAndServe({
      listen: { port: 0 },
      handler: new InMemoryHandler({ maxBytes: 16 * 1024 * 1024 }),
      limits: { maxItemSize: 64 * 1024, ...(extra.maxOutputBytes ? { maxOutputBytes: extra.maxOutputBytes } : {}) },
      auth: extra.auth,
      onError: (err) => serverErrors.push(err),
    });
    servers.push(server);
    return (server.addresses[0] as { port: number }).port;
  };
  openPort = await start({});
  guardedPort = await start({ auth: { users: { fuzz: 'secret' } }, maxOutputBytes: 16 * 1024 });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close(200)));
});

/** memcached's text login: a set whose data is "user password". */
const TEXT_LOGIN = Buffer.from('set auth 0 0 11\r\nfuzz secret\r\n');
/** SASL PLAIN login: mechanism as key, "\0user\0password" as value. */
const SASL_LOGIN = binaryPacket({ opcode: 0x21, key: 'PLAIN', value: '\0fuzz\0secret', opaque: 7 });

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

/** Seeds for the guarded server: a login (right or wrong once mutated) before the requests. */
const guardedSeeds: Buffer[] = [
  Buffer.concat([TEXT_LOGIN, seeds[0]!]),
  Buffer.concat([TEXT_LOGIN, seeds[1]!]),
  Buffer.concat([SASL_LOGIN, seeds[2]!]),
  Buffer.concat([binaryPacket({ opcode: 0x20, opaque: 6 }), SASL_LOGIN, seeds[2]!]),
];

const mutate = (from: Buffer[]) =>
  fc
    .tuple(
      fc.constantFrom(...from),
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

const hostileFor = (from: Buffer[]) =>
  fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 512 }).map((a) => Buffer.from(a)),
    // Text-looking noise: command words, numbers, spaces and line ends in any order.
    fc
      .array(
        fc.constantFrom('get', 'set', 'mg', 'ms', 'incr', ' ', '\r\n', '\n', '0', '-1', '99999999999', 'k', 'noreply', 'T', 'q', '\0'),
        { maxLength: 60 },
      )
      .map((parts) => Buffer.from(parts.join(''), 'latin1')),
    mutate(from),
  );

/** Send one stream on its own connection; resolve once the server went quiet or closed it. */
async function send(port: number, stream: Buffer): Promise<void> {
  const c = await RawClient.connect({ port });
  try {
    c.write(stream);
    await c.drain(15, 1000);
  } finally {
    c.close();
  }
}

/** `npx pnpm fuzz --minutes N` sets this to run the same properties for N minutes in all instead of 60 rounds each. */
const minutes = Number(process.env.CLEAVE_FUZZ_MINUTES ?? 0) / 2; // the time is shared by the two servers
const budget =
  minutes > 0
    ? { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: minutes * 60_000, markInterruptAsFailure: false }
    : { numRuns: 60 };

const targets = [
  { name: 'an open server', port: () => openPort, hostile: hostileFor(seeds), login: undefined },
  {
    name: 'a server that requires authentication, with a 16 KiB output budget',
    port: () => guardedPort,
    hostile: hostileFor(guardedSeeds),
    login: TEXT_LOGIN,
  },
];

describe.each(targets)('hostile input on whole connections: $name', ({ port, hostile, login }) => {
  it('never crashes the server, and a well-behaved client keeps being served', { timeout: minutes * 60_000 + 60_000 }, async () => {
    const good = await RawClient.connect({ port: port() });
    if (login) expect((await good.request(login, '\r\n')).toString()).toBe('STORED\r\n');
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(hostile, { minLength: 1, maxLength: 4 }), async (streams) => {
        await Promise.all(streams.map((st) => send(port(), st)));
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
