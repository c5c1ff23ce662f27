/**
 * The same request streams sent to real memcached and to listenAndServe
 * with TtlMapHandler must get the same replies (CAS uniques masked).
 * Then what the guide promises about the contract, seen on the wire.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HandlerError, type Handler, type StoreCommand, type StoreOutcome } from '@cleave/protocol';
import { listenAndServe, type Server } from '@cleave/server';
import { RawClient, RebuiltCommandsHandler, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { TtlMapHandler } from '../src/ttl-map-handler.js';

async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = await listenAndServe({ listen: { port: 0, host: '127.0.0.1' }, handler: handler });
  const addr = server.addresses[0]!;
  if (!('port' in addr)) throw new Error('expected a TCP listener');
  return { server, port: addr.port };
}

/** Masks CAS uniques in text (`VALUE k f n <cas>`) and meta (`c<cas>`) replies. */
function maskCas(reply: string): string {
  return reply.replace(/^(VALUE \S+ \d+ \d+) \d+\r$/gm, '$1 <cas>').replace(/(^(?:HD|VA \d+|OK|EN|NF|NS|EX)\b.*?) c\d+/gm, '$1 c<cas>');
}

/** The CAS unique in the last `VALUE` line of a gets reply. */
function casOf(reply: string): string {
  const m = /^VALUE \S+ \d+ \d+ (\d+)\r$/m.exec(reply);
  if (!m) throw new Error(`no CAS unique in ${JSON.stringify(reply)}`);
  return m[1]!;
}

/**
 * Each step is one request; `{cas}` is replaced by the CAS unique that this
 * server's last gets reply carried.
 */
const TEXT_STEPS: string[] = [
  'set a 5 0 3\r\nabc\r\n',
  'get a\r\n',
  'add a 0 0 1\r\nx\r\n',
  'add b 0 0 1\r\nx\r\n',
  'replace nope 0 0 1\r\nx\r\n',
  'replace b 3 0 2\r\nyy\r\n',
  'append b 9 0 2\r\n>>\r\n',
  'prepend b 9 0 2\r\n<<\r\n',
  'get b\r\n',
  'append nope 0 0 1\r\nx\r\n',
  'prepend nope 0 0 1\r\nx\r\n',
  'set n 0 0 2\r\n10\r\n',
  'incr n 5\r\n',
  'decr n 100\r\n',
  'incr n 18446744073709551615\r\n',
  'get n\r\n',
  'incr n 1\r\n',
  'incr nope 1\r\n',
  'decr nope 1\r\n',
  'set s 0 0 3\r\nabc\r\n',
  'incr s 1\r\n',
  'set sp 0 0 4\r\n 7 x\r\n',
  'incr sp 1\r\n',
  'set big 0 0 20\r\n18446744073709551616\r\n',
  'incr big 1\r\n',
  'touch a 100\r\n',
  'touch nope 100\r\n',
  'set neg 0 -1 1\r\nx\r\n',
  'get neg\r\n',
  'set past 0 2592001 1\r\nx\r\n',
  'get past\r\n',
  'set rel 0 2592000 1\r\nx\r\n',
  'get rel\r\n',
  'gets a\r\n',
  'cas a 0 0 1 {cas}\r\nz\r\n',
  'cas a 0 0 1 {cas}\r\nw\r\n',
  'cas nope 0 0 1 1\r\nx\r\n',
  'gets a\r\n',
  'cas a 0 0 1 0\r\nq\r\n',
  'get a b nope rel\r\n',
  'gat 100 b\r\n',
  'gats 100 b nope\r\n',
  'touch b -1\r\n',
  'get b\r\n',
  'delete a\r\n',
  'delete a\r\n',
  'set q 0 0 1 noreply\r\nx\r\n',
  'get q\r\n',
  'flush_all\r\n',
  'get q rel n\r\n',
  'set after 0 0 1\r\nx\r\n',
  'get after\r\n',
];

/** Meta commands, answered by the same handler methods. */
const META_STEPS: string[] = [
  'ms m1 2 F5 T0\r\nhi\r\n',
  'mg m1 v f\r\n',
  'mg m1 s v k c\r\n',
  'mg nothing v\r\n',
  'ms m1 2 MA\r\n>>\r\n',
  'ms m1 2 MP\r\n<<\r\n',
  'mg m1 v f\r\n',
  'ms m2 1 ME\r\nx\r\n',
  'ms m2 1 ME\r\ny\r\n',
  'ms m3 1 MR\r\nx\r\n',
  'ms m3 1 MA\r\nx\r\n',
  'ms m2 1 C1\r\nz\r\n',
  'md m2 C1\r\n',
  'md m2\r\n',
  'md m2\r\n',
  'md m2 q\r\n',
  'ma c1 q N0 J5\r\n',
  'ma c1 q\r\n',
  'ma c1 v\r\n',
  'ma c1 MD D100 v\r\n',
  'ma c1 MI D18446744073709551615 v\r\n',
  'ma c1 MI D2 v\r\n',
  'ma none\r\n',
  'ms s1 3\r\nabc\r\n',
  'ma s1\r\n',
  'mg m1 v T-1\r\n',
  'mg m1 v\r\n',
  'mn\r\n',
];

describe('text and meta replies match real memcached', () => {
  let memcached: MemcachedProcess;
  let ours: { server: Server; port: number };
  // The same handler given each command rebuilt from its typed fields: it relies on nothing else.
  let rebuilt: { server: Server; port: number };

  beforeAll(async () => {
    memcached = await startMemcached();
    ours = await serve(new TtlMapHandler());
    rebuilt = await serve(new RebuiltCommandsHandler(new TtlMapHandler()));
  });
  afterAll(async () => {
    await ours?.server.close();
    await rebuilt?.server.close();
    await memcached?.stop();
  });

  it('for text storage, arithmetic, touch, cas, delete and flush', async () => {
    await compare(TEXT_STEPS, ours.port);
  });

  it('for meta set modes, cas, delete, arithmetic with creation and touch', async () => {
    await compare(META_STEPS, ours.port);
  });

  it('with every command rebuilt from its typed fields alone', async () => {
    await compare(TEXT_STEPS, rebuilt.port);
    await compare(META_STEPS, rebuilt.port);
  });

  async function compare(steps: readonly string[], port: number): Promise<void> {
    const theirs = await RawClient.connect({ port: memcached.port });
    const mine = await RawClient.connect({ port });
    try {
      // Each comparison starts from two empty caches.
      for (const c of [theirs, mine]) expect((await c.exchange('flush_all\r\n')).toString()).toBe('OK\r\n');
      const cas = new Map<RawClient, string>();
      const send = async (c: RawClient, step: string) => {
        const reply = (await c.exchange(step.replace('{cas}', cas.get(c) ?? '0'))).toString('latin1');
        if (step.startsWith('gets ')) cas.set(c, casOf(reply));
        return reply;
      };
      for (const step of steps) {
        const [expected, got] = await Promise.all([send(theirs, step), send(mine, step)]);
        expect(maskCas(got), `reply to ${JSON.stringify(step)}`).toBe(maskCas(expected));
      }
    } finally {
      theirs.close();
      mine.close();
    }
  }
});

/**
 * A handler that refuses writes to keys under `ro:`, the way a real one
 * fails a command, and has a bug under `bug:`.
 */
class FailingHandler extends TtlMapHandler {
  override store(cmd: StoreCommand): StoreOutcome {
    const key = cmd.key.toString('latin1');
    if (key.startsWith('ro:')) throw new HandlerError('read only');
    if (key.startsWith('bug:')) throw new TypeError('a bug');
    return super.store(cmd);
  }
}

describe('the contract on the wire', () => {
  let ours: { server: Server; port: number };
  const reported: unknown[] = [];

  beforeAll(async () => {
    const server = await listenAndServe({
      listen: { port: 0, host: '127.0.0.1' },
      handler: new FailingHandler(),
      onError: (err) => reported.push(err),
    });
    const addr = server.addresses[0]!;
    if (!('port' in addr)) throw new Error('expected a TCP listener');
    ours = { server, port: addr.port };
  });

  /** Sends each request in turn; returns the replies, each read up to its terminator. */
  async function exchange(...steps: Array<[request: string, terminator: string]>): Promise<string[]> {
    const c = await RawClient.connect({ port: ours.port });
    try {
      const replies: string[] = [];
      for (const [request, terminator] of steps) replies.push((await c.request(request, terminator)).toString('latin1'));
      return replies;
    } finally {
      c.close();
    }
  }
  afterAll(async () => {
    await ours?.server.close();
  });

  it('answers a thrown HandlerError with SERVER_ERROR and keeps the connection', async () => {
    const c = await RawClient.connect({ port: ours.port });
    try {
      expect((await c.request('set ro:x 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('SERVER_ERROR read only\r\n');
      expect((await c.request('set rw:x 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('STORED\r\n');
    } finally {
      c.close();
    }
  });

  it('answers a meta request that fails the same way', async () => {
    expect(await exchange(['ms ro:m 1\r\nx\r\n', '\r\n'], ['mn\r\n', 'MN\r\n'])).toEqual(['SERVER_ERROR read only\r\n', 'MN\r\n']);
  });

  it('answers any other exception with SERVER_ERROR internal error, and reports it', async () => {
    const before = reported.length;
    expect(await exchange(['set bug:x 0 0 1\r\nx\r\n', '\r\n'], ['get bug:x\r\n', 'END\r\n'])).toEqual([
      'SERVER_ERROR internal error\r\n',
      'END\r\n',
    ]);
    expect(reported.slice(before).some((e) => e instanceof TypeError && e.message === 'a bug')).toBe(true);
  });

  it('answers a thrown HandlerError on the binary protocol with its status', async () => {
    const c = await RawClient.connect({ port: ours.port });
    try {
      const key = Buffer.from('ro:y');
      const extras = Buffer.alloc(8);
      const header = Buffer.alloc(24);
      header[0] = 0x80; // request magic
      header[1] = 0x01; // Set
      header.writeUInt16BE(key.length, 2);
      header[4] = extras.length;
      header.writeUInt32BE(extras.length + key.length + 1, 8);
      header.writeUInt32BE(0xabcd, 12); // opaque
      c.write(Buffer.concat([header, extras, key, Buffer.from('v')]));
      const head = await c.read(24);
      expect(head[0]).toBe(0x81); // response magic
      expect(head.readUInt16BE(6)).toBe(0x84); // EINTERNAL, HandlerError's default status
      expect(head.readUInt32BE(12)).toBe(0xabcd);
      const body = await c.read(head.readUInt32BE(8));
      expect(body.toString()).toContain('read only');
    } finally {
      c.close();
    }
  });

  it("lists the handler's stats after the server's, resets them, and refuses unknown groups", async () => {
    const [set, stats, reset, after, items] = await exchange(
      ['set st:a 0 0 1\r\nx\r\n', '\r\n'],
      ['stats\r\n', 'END\r\n'],
      ['stats reset\r\n', '\r\n'],
      ['stats\r\n', 'END\r\n'],
      ['stats items\r\n', '\r\n'],
    );
    expect(set).toBe('STORED\r\n');
    expect(stats).toMatch(/^STAT pid \d+\r\n/);
    expect(stats).toMatch(/STAT cmd_set [1-9]\d*\r\n/);
    expect(stats.indexOf('STAT curr_connections')).toBeLessThan(stats.indexOf('STAT curr_items'));
    expect(reset).toBe('RESET\r\n');
    expect(after).toContain('STAT cmd_set 0\r\n');
    expect(items).toBe('ERROR\r\n');
  });

  it('answers meta recache and invalidation plainly, since the handler ignores them', async () => {
    const [stored, recache, invalidate, afterInvalidate] = await exchange(
      ['ms rc 2 T10\r\nhi\r\n', '\r\n'],
      ['mg rc v R30\r\n', 'hi\r\n'],
      ['md rc I T30\r\n', '\r\n'],
      ['mg rc v\r\n', '\r\n'],
    );
    expect(stored).toBe('HD\r\n');
    expect(recache).toBe('VA 2\r\nhi\r\n'); // memcached: VA 2 W (this client should recache)
    expect(invalidate).toBe('HD\r\n');
    expect(afterInvalidate).toBe('EN\r\n'); // memcached: the item, marked X (stale) and W
    const [first] = await exchange(['ms sc 1 c\r\nx\r\n', '\r\n']);
    const cas = BigInt(/^HD c(\d+)\r\n$/.exec(first!)![1]!);
    const [older] = await exchange([`ms sc 1 I C${cas - 1n}\r\ny\r\n`, '\r\n']);
    expect(older).toBe('EX\r\n'); // memcached: HD, storing y marked stale
  });

  it('serves meta gets with vivify as plain gets, since the handler ignores it', async () => {
    const c = await RawClient.connect({ port: ours.port });
    try {
      // memcached itself would create the item and hand this client the recache token (W).
      expect((await c.request('mg viv v N30\r\n', '\r\n')).toString()).toBe('EN\r\n');
      expect((await c.request('ms viv 2\r\nhi\r\n', '\r\n')).toString()).toBe('HD\r\n');
      expect((await c.request('mg viv v N30\r\n', 'hi\r\n')).toString()).toBe('VA 2\r\nhi\r\n');
    } finally {
      c.close();
    }
  });
});
