/**
 * Authentication: memcached's ASCII auth (-Y) for text clients and SASL
 * PLAIN (-S) for binary ones. Every case runs the same bytes against a real
 * memcached started with the same users and against a cleave server, one
 * step at a time (memcached answers only the last of several pre-auth
 * requests that arrive in one read, so steps are never pipelined here).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { RawClient, binaryPacket, extras, normalizeBinary, normalizeText, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { AuthFileError, listenAndServe, parseAuthFile, type AuthOptions, type Server } from '../src/index.js';

const USERS = { alice: 'secret', bob: 'hunter2' };
const OP = {
  GET: 0x00,
  SET: 0x01,
  QUIT: 0x07,
  FLUSH: 0x08,
  GETQ: 0x09,
  NOOP: 0x0a,
  VERSION: 0x0b,
  STAT: 0x10,
  SETQ: 0x11,
  QUITQ: 0x17,
  LIST: 0x20,
  AUTH: 0x21,
  STEP: 0x22,
};

const errors: unknown[] = [];
const servers: Server[] = [];
async function serve(auth: AuthOptions | undefined): Promise<number> {
  const s = await listenAndServe({
    listen: { port: 0 },
    handler: new InMemoryHandler({ maxBytes: 16 << 20 }),
    ...(auth && { auth }),
    onError: (e) => errors.push(e),
  });
  servers.push(s);
  return (s.addresses[0] as { port: number }).port;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

/** A step's bytes; `silent` when neither server should answer it (a partial request). */
type Step = string | Buffer | { send: string | Buffer; silent: true };

const crlfEnded = (b: Buffer) => b.length >= 2 && b[b.length - 2] === 0x0d && b[b.length - 1] === 0x0a;
/** The buffer holds whole binary response packets and at least one. */
function packetsEnded(b: Buffer): boolean {
  let p = 0;
  while (p + 24 <= b.length) p += 24 + b.readUInt32BE(p + 8);
  return p > 0 && p === b.length;
}

/** Send one step, wait for a whole reply (or the close), then for quiet; take what arrived. */
async function step(c: RawClient, s: Step, ended: (b: Buffer) => boolean): Promise<Buffer> {
  const silent = typeof s === 'object' && !Buffer.isBuffer(s);
  c.write(silent ? s.send : s);
  await c.waitFor(ended, silent ? 300 : 5000);
  // Anything more (a second reply line, or a close) shows within this quiet period.
  let n = -1;
  while (n !== c.received.length && !c.closed) {
    n = c.received.length;
    await new Promise((r) => setTimeout(r, 60));
  }
  return c.read(c.received.length, 0);
}

interface Transcript {
  replies: string[];
  closed: boolean;
}

async function run(port: number, steps: Step[], protocol: 'text' | 'binary'): Promise<Transcript> {
  const c = await RawClient.connect({ port });
  const replies: string[] = [];
  for (const s of steps) {
    if (c.closed) {
      replies.push('<closed>');
      continue;
    }
    const r = await step(c, s, protocol === 'text' ? crlfEnded : packetsEnded);
    replies.push(protocol === 'text' ? normalizeText(r) : normalizeBinary(r));
  }
  await c.waitFor(() => c.closed, 200);
  const closed = c.closed;
  c.close();
  return { replies, closed };
}

/** Both servers, fresh connections, same steps: the same replies and the same open/closed state. */
async function differential(memcachedPort: number, cleavePort: number, steps: Step[], protocol: 'text' | 'binary'): Promise<Transcript> {
  const [mc, cl] = await Promise.all([run(memcachedPort, steps, protocol), run(cleavePort, steps, protocol)]);
  expect(cl).toEqual(mc);
  return cl;
}

const auth = (user: string, password: string, key = 'a') => {
  const data = `${user} ${password}`;
  return `set ${key} 0 0 ${Buffer.byteLength(data)}\r\n${data}\r\n`;
};

describe('parseAuthFile reads memcached -Y files', () => {
  it('reads one user:password per line; the password runs to the end of the line and may hold colons', () => {
    const users = parseAuthFile('alice:secret\r\nbob:a:b:c\n\ncarol:x\n');
    expect([...users]).toEqual([
      ['alice', 'secret'],
      ['bob', 'a:b:c'],
      ['carol', 'x'],
    ]);
  });

  it('names the bad line and never repeats a password in its message', () => {
    const cases: Array<[string, RegExp]> = [
      ['alice:secret\nnocolon-s3cr3t\n', /line 2: expected username:password/],
      [':s3cr3t\n', /line 1: empty username/],
      ['alice:\n', /line 1: empty password/],
      ['al ice:s3cr3t\n', /line 1: the username contains a space/],
      ['alice:s3cr3t pw\n', /line 1: the password contains a space or NUL/],
      ['alice:s3cr3t\nalice:s3cr3t2\n', /line 2: username "alice" appears twice/],
      ['\n\n', /no users/],
    ];
    for (const [text, message] of cases) {
      let err: unknown;
      try {
        parseAuthFile(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AuthFileError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toMatch(/s3cr3t/);
    }
  });
});

describe('text clients: memcached ASCII auth, byte for byte against memcached -Y', () => {
  let memcached: MemcachedProcess;
  let port: number;
  beforeAll(async () => {
    memcached = await startMemcached({ authUsers: USERS });
    port = await serve({
      users: parseAuthFile(
        Object.entries(USERS)
          .map(([u, p]) => `${u}:${p}`)
          .join('\n'),
      ),
    });
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  const cases: Record<string, Step[]> = {
    'every command before auth answers CLIENT_ERROR unauthenticated and the connection stays open': [
      'get a\r\n',
      'version\r\n',
      'stats\r\n',
      'mg a v\r\n',
      'mn\r\n',
      'flush_all\r\n',
      'quit\r\n',
      '\r\n',
      'SET a 0 0 12\r\n',
    ],
    'a storage command other than set is refused, and its data line too': ['add a 0 0 12\r\n', 'alice secret\r\n'],
    'good credentials answer STORED and the connection then works normally': [
      auth('alice', 'secret'),
      'get a\r\n',
      'set k 3 0 2\r\nhi\r\n',
      'get k\r\n',
      'ms m 2\r\nyo\r\n',
      'mg m v\r\n',
      'version\r\n',
      'quit\r\n',
    ],
    'the auth set stores nothing, whatever its key, flags, exptime or noreply': [
      'set anykey 123 456 12 noreply\r\nalice secret\r\n',
      'get anykey\r\n',
    ],
    'a second user': [auth('bob', 'hunter2'), 'get a\r\n'],
    'a wrong password, then a right one': [auth('alice', 'wrong'), 'get a\r\n', auth('alice', 'secret'), 'get a\r\n'],
    'passwords and usernames are case-sensitive': [auth('alice', 'SECRET'), auth('Alice', 'secret')],
    'an unknown user': [auth('nobody', 'secret')],
    "another user's password": [auth('alice', 'hunter2')],
    'data with one token is a bad token format': ['set a 0 0 5\r\nalice\r\n', 'set a 0 0 0\r\n\r\n'],
    'tokens past the password are ignored, runs of spaces are one separator': [auth('alice', 'secret x'), 'quit\r\n'],
    'leading and repeated spaces': ['set a 0 0 16\r\n  alice   secret\r\n', 'get a\r\n'],
    'data not ended by CRLF': ['set a 0 0 12\r\nalice secretXY', 'get a\r\n'],
    'set lines that name no length': ['set a 0 0\r\n', 'set a 0 0 x\r\n', 'set a 0 0 -1\r\n', 'set\r\n', 'set a 0 0 12x\r\n'],
    'a bare LF ends the set line': ['set a 0 0 12\nalice secret\r\n', 'get a\r\n'],
    'the auth set split across writes': [
      { send: 'set a 0 0 12\r', silent: true },
      { send: '\nalice ', silent: true },
      'secret\r\n',
      'get a\r\n',
    ],
    'requests after a successful auth in the same write run': ['set a 0 0 12\r\nalice secret\r\nset b 0 0 1\r\nx\r\nget b\r\n'],
    'no newline within 2048 bytes closes the connection without a reply': [
      { send: 'x'.repeat(2048), silent: true },
      { send: 'y', silent: true },
    ],
    'the largest auth data memcached can buffer works': [`set a 0 0 16382\r\nalice secret${' '.repeat(16382 - 12)}\r\n`, 'get a\r\n'],
    'auth data past 16 KiB closes the connection once that much has arrived': [
      { send: 'set a 0 0 20000\r\nalice secret', silent: true },
      { send: ' '.repeat(16000), silent: true },
      { send: ' '.repeat(1000), silent: true },
    ],
  };
  for (const [name, steps] of Object.entries(cases)) {
    it(name, async () => {
      await differential(memcached.port, port, steps, 'text');
    });
  }

  it('the answers are the ones memcached documents (not just the same on both sides)', async () => {
    const t = await differential(memcached.port, port, ['get a\r\n', auth('alice', 'nope'), auth('alice', 'secret'), 'get a\r\n'], 'text');
    expect(t.replies).toEqual(['CLIENT_ERROR unauthenticated\r\n', 'CLIENT_ERROR authentication failure\r\n', 'STORED\r\n', 'END\r\n']);
    expect(t.closed).toBe(false);
  });

  it('stats counts auth_cmds and auth_errors as memcached does (after every case above)', async () => {
    const counts = async (p: number) => {
      const c = await RawClient.connect({ port: p });
      try {
        const reply = (await c.request(`${auth('alice', 'nope')}${auth('alice', 'secret')}stats\r\n`, 'END\r\n')).toString();
        return reply.split('\r\n').filter((l) => /^STAT auth_(cmds|errors) /.test(l));
      } finally {
        c.close();
      }
    };
    const [theirs, ours] = [await counts(memcached.port), await counts(port)];
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(2);
    expect(Number(ours[1]!.split(' ')[2])).toBeGreaterThan(0);
  });
});

describe('binary clients: SASL PLAIN, byte for byte against memcached -S', () => {
  let memcached: MemcachedProcess;
  let port: number;
  beforeAll(async () => {
    memcached = await startMemcached({ saslUsers: USERS });
    port = await serve({ users: USERS });
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  let opaque = 0x5a000000;
  const pkt = (opcode: number, key = '', value: string | Buffer = '', ext?: Buffer) =>
    binaryPacket({ opcode, key, value, opaque: ++opaque, ...(ext && { extras: ext }) });
  const plain = (authzid: string, user: string, password: string) => Buffer.from(`${authzid}\0${user}\0${password}`, 'latin1');
  const login = (user = 'alice', password = 'secret') => pkt(OP.AUTH, 'PLAIN', plain('', user, password));
  /** One packet in pieces cut at `cuts`: the pieces before the last get no reply. */
  const split = (b: Buffer, ...cuts: number[]): Step[] => {
    const at = [0, ...cuts, b.length];
    return at.slice(1).map((end, i) => (end === b.length ? b.subarray(at[i]) : { send: b.subarray(at[i], end), silent: true as const }));
  };

  const cases: Record<string, Step[]> = {
    'list mechanisms: PLAIN, allowed before auth': [pkt(OP.LIST)],
    'Version is allowed before auth': [pkt(OP.VERSION), pkt(OP.LIST)],
    'a good PLAIN auth answers Authenticated, then commands work': [
      login(),
      pkt(OP.GET, 'a'),
      pkt(OP.SET, 'k', 'v', extras.store(7, 0)),
      pkt(OP.GET, 'k'),
      pkt(OP.NOOP),
    ],
    'the second user': [login('bob', 'hunter2'), pkt(OP.GET, 'a')],
    'a get before auth answers Auth failure and closes': [pkt(OP.GET, 'a'), pkt(OP.VERSION)],
    'a quiet get before auth is answered too, and closes': [pkt(OP.GETQ, 'a')],
    'a set before auth': [pkt(OP.SET, 'k', 'v', extras.store(0, 0))],
    'a quiet set before auth': [pkt(OP.SETQ, 'k', 'v', extras.store(0, 0))],
    'noop before auth': [pkt(OP.NOOP)],
    'quit before auth': [pkt(OP.QUIT)],
    'quiet quit before auth': [pkt(OP.QUITQ)],
    'stat before auth': [pkt(OP.STAT)],
    'flush before auth': [pkt(OP.FLUSH)],
    'an unknown opcode before auth': [pkt(0x50, 'k', 'v')],
    'a set before auth is refused once its key has arrived, before its value': [
      pkt(OP.SET, 'k', 'value', extras.store(0, 0)).subarray(0, 24 + 8 + 1),
    ],
    'a header split across writes, then the refusal': split(pkt(OP.GET, 'key'), 10, 26),
    'an auth split across writes, then commands': [...split(login(), 5, 30), pkt(OP.GET, 'a')],
    'a wrong password answers Auth failure; the connection stays open until a command': [
      login('alice', 'wrong'),
      pkt(OP.VERSION),
      pkt(OP.GET, 'a'),
    ],
    'an unknown user': [login('nobody', 'secret'), pkt(OP.VERSION)],
    'a wrong password, then a right one': [login('alice', 'wrong'), login(), pkt(OP.GET, 'a')],
    'authzid equal to the user is accepted, another one refused': [
      pkt(OP.AUTH, 'PLAIN', plain('alice', 'alice', 'secret')),
      pkt(OP.GET, 'a'),
      pkt(OP.AUTH, 'PLAIN', plain('bob', 'alice', 'secret')),
      pkt(OP.GET, 'a'),
    ],
    'the mechanism name is case-insensitive': [pkt(OP.AUTH, 'plain', plain('', 'alice', 'secret')), pkt(OP.GET, 'a')],
    'malformed PLAIN messages fail': [
      pkt(OP.AUTH, 'PLAIN', 'alice'),
      pkt(OP.AUTH, 'PLAIN', '\0alice'),
      pkt(OP.AUTH, 'PLAIN', '\0alice\0'),
      pkt(OP.AUTH, 'PLAIN', '\0\0'),
      pkt(OP.AUTH, 'PLAIN', '\0alice\0secret\0'),
      pkt(OP.VERSION),
    ],
    'an unknown mechanism fails': [pkt(OP.AUTH, 'CRAM-MD6', 'x'), pkt(OP.AUTH, 'P'.repeat(32), 'x'), pkt(OP.VERSION)],
    'a mechanism name over 32 bytes is Invalid arguments': [pkt(OP.AUTH, 'P'.repeat(33), 'x'), pkt(OP.VERSION)],
    'an auth with no mechanism is Invalid arguments and closes': [pkt(OP.AUTH, '', plain('', 'alice', 'secret')), pkt(OP.VERSION)],
    'a step with no mechanism is Invalid arguments and closes': [pkt(OP.STEP)],
    'an empty PLAIN auth continues; a step completes it': [
      pkt(OP.AUTH, 'PLAIN'),
      pkt(OP.STEP, 'PLAIN', plain('', 'alice', 'secret')),
      pkt(OP.GET, 'a'),
    ],
    'a failed step leaves the exchange open for another step': [
      pkt(OP.AUTH, 'PLAIN'),
      pkt(OP.STEP, 'PLAIN', plain('', 'alice', 'wrong')),
      pkt(OP.LIST),
      pkt(OP.VERSION),
      pkt(OP.STEP, 'PLAIN', plain('', 'alice', 'secret')),
      pkt(OP.GET, 'a'),
    ],
    'a step without an auth fails': [pkt(OP.STEP, 'PLAIN', plain('', 'alice', 'secret')), pkt(OP.VERSION)],
    'a step after a finished auth fails and drops the authentication': [
      login(),
      pkt(OP.STEP, 'PLAIN', plain('', 'alice', 'secret')),
      pkt(OP.GET, 'a'),
    ],
    'an empty auth after a finished one drops the authentication': [login(), pkt(OP.AUTH, 'PLAIN'), pkt(OP.GET, 'a')],
    'listing mechanisms after auth drops the authentication': [login(), pkt(OP.LIST), pkt(OP.GET, 'a')],
    'a failed auth after a good one drops the authentication': [login(), login('alice', 'wrong'), pkt(OP.GET, 'a')],
    'an auth and commands in one write': [Buffer.concat([login(), pkt(OP.SET, 'k', 'v', extras.store(0, 0)), pkt(OP.GET, 'k')])],
    'an auth, a failed auth and a command in one write': [Buffer.concat([login(), login('alice', 'x'), pkt(OP.GET, 'k')])],
  };
  for (const [name, steps] of Object.entries(cases)) {
    it(name, async () => {
      await differential(memcached.port, port, steps, 'binary');
    });
  }

  it('stats counts auth_cmds and auth_errors as memcached does (after every case above)', async () => {
    const counts = async (p: number) => {
      const c = await RawClient.connect({ port: p });
      try {
        // A failed login, a good one, then Stat: its packets end with one whose key is empty.
        c.write(Buffer.concat([login('alice', 'nope'), login(), pkt(OP.STAT)]));
        const out: string[] = [];
        let at = 0;
        await c.waitFor((b) => {
          for (;;) {
            if (at + 24 > b.length) return false;
            const klen = b.readUInt16BE(at + 2);
            const elen = b[at + 4]!;
            const body = b.readUInt32BE(at + 8);
            if (at + 24 + body > b.length) return false;
            const key = b.toString('latin1', at + 24 + elen, at + 24 + elen + klen);
            const value = b.toString('latin1', at + 24 + elen + klen, at + 24 + body);
            const isStat = b[at + 1] === OP.STAT;
            at += 24 + body;
            if (isStat && klen === 0) return true;
            if (key.startsWith('auth_')) out.push(`${key} ${value}`);
          }
        }, 5000);
        return out;
      } finally {
        c.close();
      }
    };
    const [theirs, ours] = [await counts(memcached.port), await counts(port)];
    expect(ours).toEqual(theirs);
    expect(ours).toHaveLength(2);
    expect(Number(ours[1]!.split(' ')[1])).toBeGreaterThan(0);
  });

  it('the statuses are the ones memcached documents (not just the same on both sides)', async () => {
    const t = await differential(memcached.port, port, [pkt(OP.LIST), login('alice', 'bad'), login(), pkt(OP.GET, 'zz')], 'binary');
    const status = (line: string) => line.slice(12, 16);
    expect(t.replies.map(status)).toEqual(['0000', '0020', '0000', '0001']);
    expect(t.replies[0]).toContain(Buffer.from('PLAIN').toString('hex'));
    expect(t.replies[1]).toContain(Buffer.from('Auth failure.').toString('hex'));
    expect(t.replies[2]).toContain(Buffer.from('Authenticated').toString('hex'));
  });
});

describe('with auth off', () => {
  let memcached: MemcachedProcess;
  let port: number;
  beforeAll(async () => {
    memcached = await startMemcached();
    port = await serve(undefined);
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  it('SASL commands answer Unknown command, as memcached without -S', async () => {
    const steps = [
      binaryPacket({ opcode: OP.LIST, opaque: 1 }),
      binaryPacket({ opcode: OP.AUTH, key: 'PLAIN', value: '\0alice\0secret', opaque: 2 }),
      binaryPacket({ opcode: OP.STEP, key: 'PLAIN', value: 'x', opaque: 3 }),
      binaryPacket({ opcode: OP.GET, key: 'a', opaque: 4 }),
    ];
    const t = await differential(memcached.port, port, steps, 'binary');
    expect(t.replies.slice(0, 3).map((l) => l.slice(12, 16))).toEqual(['0081', '0081', '0081']);
  });

  it('a text auth set is an ordinary set', async () => {
    await differential(memcached.port, port, [auth('alice', 'secret'), 'get a\r\n'], 'text');
  });
});

describe('credentials', () => {
  it('a verify function decides, with the username and password as sent', async () => {
    const seen: Array<[string, string]> = [];
    const port = await serve({
      verify: (u, p) => {
        seen.push([u, p]);
        return u === 'carol' && p === 'pa:ss';
      },
    });
    const c = await RawClient.connect({ port });
    expect((await c.request(auth('carol', 'wrong'), '\r\n')).toString()).toBe('CLIENT_ERROR authentication failure\r\n');
    expect((await c.request(auth('carol', 'pa:ss'), '\r\n')).toString()).toBe('STORED\r\n');
    c.close();
    const b = await RawClient.connect({ port });
    const ok = await b.request(binaryPacket({ opcode: OP.AUTH, key: 'PLAIN', value: '\0carol\0pa:ss' }), 'Authenticated');
    expect(ok.readUInt16BE(6)).toBe(0);
    b.close();
    expect(seen).toEqual([
      ['carol', 'wrong'],
      ['carol', 'pa:ss'],
      ['carol', 'pa:ss'],
    ]);
  });

  it('a verify function that throws refuses the client and reports the fault, without the password', async () => {
    const faults: unknown[] = [];
    const s = await listenAndServe({
      listen: { port: 0 },
      handler: new InMemoryHandler({ maxBytes: 1 << 20 }),
      auth: {
        verify: () => {
          throw new Error('directory unreachable');
        },
      },
      onError: (e) => faults.push(e),
    });
    try {
      const c = await RawClient.connect({ port: (s.addresses[0] as { port: number }).port });
      expect((await c.request(auth('alice', 'hush-hush'), '\r\n')).toString()).toBe('CLIENT_ERROR authentication failure\r\n');
      expect((await c.request('get a\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR unauthenticated\r\n');
      c.close();
      expect(faults).toHaveLength(1);
      expect(String(faults[0])).toContain('directory unreachable');
      expect(String(faults[0])).not.toContain('hush-hush');
    } finally {
      await s.close();
    }
  });

  it('an empty user list is refused at startup', async () => {
    await expect(
      listenAndServe({ listen: { port: 0 }, handler: new InMemoryHandler({ maxBytes: 1 << 20 }), auth: { users: {} } }),
    ).rejects.toThrow(/empty/);
  });

  it('no failed login reached onError as a server fault', () => {
    expect(errors).toEqual([]);
  });
});
