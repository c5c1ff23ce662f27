/**
 * TLS listeners: the same protocol handling over TLS (against memcached -Z
 * with the same certificate), client certificates, and hostile or broken
 * TLS clients that must never reach onError nor hold resources for long.
 */
import net from 'node:net';
import { once } from 'node:events';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { GetCommand, Handler, ItemView } from '@cleave/protocol';
import {
  RawClient,
  TlsRawClient,
  binaryCases,
  hasOpenssl,
  metaCases,
  normalizeBinary,
  normalizeText,
  opensslClient,
  startMemcached,
  textCases,
  tlsFixture,
  tlsFixturePath,
  type MemcachedProcess,
} from '@cleave/testkit';
import { listenAndServe, type ServerOptions, type Server } from '../src/index.js';

const errors: unknown[] = [];
const started: Server[] = [];

async function start(options: Partial<ServerOptions> & Pick<ServerOptions, 'listen'>): Promise<Server> {
  const s = await listenAndServe({
    handler: new InMemoryHandler({ maxBytes: 16 << 20 }),
    onError: (e) => errors.push(e),
    ...options,
  });
  started.push(s);
  return s;
}
const portOf = (s: Server, i = 0) => (s.addresses[i] as { port: number }).port;
const serverTls = { cert: tlsFixture('server.pem'), key: tlsFixture('server-key.pem') };

afterAll(async () => {
  await Promise.all(started.map((s) => s.close(500)));
  // Nothing a TLS client did in this file is a server fault.
  expect(errors).toEqual([]);
});

/** Wait until `pred` holds (polling), or fail after `ms`. */
async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A ClientHello's first bytes: a handshake record header and the message type. */
const CLIENT_HELLO_START = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]);

/** `inner`, with every get answering through a Promise after `ms` ms. */
function slowGets(inner: Handler, ms: number): Handler {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'get') return Reflect.get(target, prop, receiver);
      return (cmd: GetCommand) =>
        new Promise<ItemView | undefined>((resolve, reject) => {
          setTimeout(() => {
            try {
              resolve(target.get(cmd) as ItemView | undefined);
            } catch (e) {
              reject(e);
            }
          }, ms);
        });
    },
  });
}

describe('over TLS, replies are the bytes memcached -Z sends', () => {
  let memcached: MemcachedProcess;
  let port: number;
  beforeAll(async () => {
    memcached = await startMemcached({ tls: { cert: tlsFixturePath('server.pem'), key: tlsFixturePath('server-key.pem') } });
    port = portOf(await start({ listen: { port: 0, tls: serverTls } }));
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  async function both(steps: Array<Buffer | string>, protocol: 'text' | 'binary'): Promise<[string[], string[]]> {
    const run = async (p: number) => {
      const flush = await TlsRawClient.connect({ port: p });
      await flush.request('flush_all\r\n', 'OK\r\n');
      flush.close();
      const c = await TlsRawClient.connect({ port: p });
      const out: string[] = [];
      for (const s of steps) {
        const r = c.closed ? Buffer.alloc(0) : await c.exchange(s, protocol);
        out.push(protocol === 'text' ? normalizeText(r) : normalizeBinary(r));
      }
      c.close();
      return out;
    };
    return [await run(memcached.port), await run(port)];
  }

  // memcached -Z stalls on these: after swallowing a refused value it leaves the rest of a TLS
  // read unprocessed until the next one arrives (over plain TCP it answers at once).
  const stallsMemcachedTls = new Set([
    'item over the size limit is refused and its data swallowed',
    'a refused set unlinks the old item, a refused add does not',
    'a refused ms unlinks the old item',
    'too large set drops the old item, add and replace keep it',
  ]);
  const cases = (all: Record<string, Array<Buffer | string>>) => Object.entries(all).filter(([name]) => !stallsMemcachedTls.has(name));

  for (const [name, steps] of cases(textCases)) {
    it(`text: ${name}`, async () => {
      const [mc, cl] = await both(steps, 'text');
      expect(cl).toEqual(mc);
    });
  }
  for (const [name, steps] of cases(metaCases)) {
    it(`meta: ${name}`, async () => {
      const [mc, cl] = await both(steps, 'text');
      expect(cl).toEqual(mc);
    });
  }
  for (const [name, steps] of cases(binaryCases)) {
    it(`binary: ${name}`, async () => {
      const [mc, cl] = await both(steps, 'binary');
      expect(cl).toEqual(mc);
    });
  }

  it.runIf(hasOpenssl())('openssl s_client gets the exact reply, from both', async () => {
    const input = 'set tls-k 0 0 5\r\nhello\r\nget tls-k\r\nversion\r\nquit\r\n';
    const expected = 'STORED\r\nVALUE tls-k 0 5\r\nhello\r\nEND\r\nVERSION 1.6.18\r\n';
    for (const p of [memcached.port, port]) {
      const r = await opensslClient(p, input);
      expect(r.stdout.toString('latin1')).toBe(expected);
    }
  });
});

describe('client certificates, when a CA is given', () => {
  let memcached: MemcachedProcess;
  let port: number;
  beforeAll(async () => {
    memcached = await startMemcached({
      tls: { cert: tlsFixturePath('server.pem'), key: tlsFixturePath('server-key.pem'), ca: tlsFixturePath('ca.pem') },
    });
    port = portOf(await start({ listen: { port: 0, tls: { ...serverTls, ca: tlsFixture('ca.pem') } } }));
  });
  afterAll(async () => {
    await memcached?.stop();
  });

  /** What a client presenting `cert` gets for `version`: the reply, or that it was closed unanswered. */
  async function versionWith(p: number, cert?: 'client' | 'other-client'): Promise<string> {
    const c = await TlsRawClient.connect({ port: p, ...(cert && { cert }) });
    if (!c.closed) c.write('version\r\n');
    await c.waitFor((b) => b.length > 0 && b[b.length - 1] === 0x0a, 3000);
    const reply = c.received.toString('latin1');
    c.close();
    return reply === '' ? 'refused' : reply;
  }

  it('a client with a certificate the CA signed is served', async () => {
    expect(await versionWith(port, 'client')).toBe('VERSION 1.6.18\r\n');
    expect(await versionWith(memcached.port, 'client')).toBe('VERSION 1.6.18\r\n');
  });

  it('a client without a certificate is refused, as by memcached with ssl_verify_mode=2', async () => {
    expect(await versionWith(port)).toBe('refused');
    expect(await versionWith(memcached.port)).toBe('refused');
  });

  it('a client whose certificate another CA signed is refused', async () => {
    expect(await versionWith(port, 'other-client')).toBe('refused');
    expect(await versionWith(memcached.port, 'other-client')).toBe('refused');
  });

  it.runIf(hasOpenssl())('openssl s_client with the client certificate is served', async () => {
    const r = await opensslClient(port, 'version\r\nquit\r\n', { clientCert: true });
    expect(r.stdout.toString('latin1')).toBe('VERSION 1.6.18\r\n');
  });
});

describe('broken and hostile TLS clients', () => {
  it('plaintext spoken to the TLS port is dropped; the server goes on serving', async () => {
    const s = await start({ listen: { port: 0, tls: serverTls } });
    const raw = await RawClient.connect({ port: portOf(s) });
    raw.write('get a\r\nversion\r\n');
    await raw.waitFor(() => raw.closed, 5000);
    expect(raw.closed).toBe(true);
    // Whatever came back is at most a TLS alert record, never a memcached reply.
    expect(raw.received.toString('latin1')).not.toMatch(/END|VERSION|ERROR/);
    const c = await TlsRawClient.connect({ port: portOf(s) });
    expect((await c.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
    c.close();
    await until(() => s.counters.currConnections === 0);
  });

  it('junk after a good handshake meets the same limits as on a plain socket', async () => {
    const s = await start({ listen: { port: 0, tls: serverTls } });
    const c = await TlsRawClient.connect({ port: portOf(s) });
    // No newline within the line limit: memcached's rule closes the connection.
    c.write(Buffer.alloc(5000, 0xa5));
    expect(await c.waitClosed(5000)).toBe(true);
    await until(() => s.counters.currConnections === 0);
  });

  it('a client that never finishes the handshake is dropped after handshakeTimeoutMs, freeing its slot', async () => {
    const s = await start({ listen: { port: 0, tls: { ...serverTls, handshakeTimeoutMs: 300 } } });
    const silent = await RawClient.connect({ port: portOf(s) });
    // A ClientHello's first bytes, then nothing.
    silent.write(CLIENT_HELLO_START);
    await until(() => s.counters.currConnections === 1);
    const t0 = Date.now();
    expect(await silent.waitFor(() => silent.closed, 5000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(4000);
    await until(() => s.counters.currConnections === 0);
  });

  // Node reports no error for an EOF mid-handshake, and the EOF restarts the handshake timeout:
  // whichever way a client leaves, its slot must come free at once, not handshakeTimeoutMs later.
  // A reset right behind the ClientHello's first bytes reaches the server as an EOF too.
  const leaves: Record<string, (c: net.Socket) => void> = {
    'ends its side (FIN, still reading)': (c) => c.end(),
    'closes (FIN)': (c) => c.destroy(),
    'resets (RST)': (c) => c.resetAndDestroy(),
  };
  for (const [how, leave] of Object.entries(leaves)) {
    for (const hello of [false, true]) {
      it(`a client that ${how} ${hello ? 'partway through its ClientHello' : 'before its ClientHello'} frees its slot at once`, async () => {
        const s = await start({ listen: { port: 0, tls: { ...serverTls, handshakeTimeoutMs: 10_000 } }, limits: { maxConnections: 1 } });
        const c = net.connect(portOf(s), '127.0.0.1');
        c.on('error', () => {});
        await once(c, 'connect');
        if (hello) c.write(CLIENT_HELLO_START);
        await until(() => s.counters.currConnections === 1);
        const closed = once(c, 'close');
        const t0 = Date.now();
        leave(c);
        await until(() => s.counters.currConnections === 0, 2000);
        expect(Date.now() - t0).toBeLessThan(2000);
        // The server closed its side too (a client that only ended its own sees that).
        await closed;
        // The one slot serves the next client.
        const next = await TlsRawClient.connect({ port: portOf(s) });
        expect((await next.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
        next.close();
        await until(() => s.counters.currConnections === 0);
      });
    }
  }

  it('a secure client that ends its side after its requests still gets every reply, then the close', async () => {
    const s = await start({ listen: { port: 0, tls: serverTls }, handler: slowGets(new InMemoryHandler({ maxBytes: 1 << 20 }), 30) });
    const c = tls.connect({ port: portOf(s), host: '127.0.0.1', servername: 'localhost', ca: tlsFixture('ca.pem') });
    // Keep reading after our end, until the server closes.
    c.allowHalfOpen = true;
    const received: Buffer[] = [];
    c.on('data', (d: Buffer) => received.push(d));
    await once(c, 'secureConnect');
    // Like `printf ... | openssl s_client`: everything, then close_notify and FIN, likely in the
    // same read as the client's Finished (TLS 1.3), so the server sees the end as it turns secure.
    c.end('set a 0 0 1\r\nx\r\nget a\r\nget b\r\n');
    await once(c, 'close');
    expect(Buffer.concat(received).toString()).toBe('STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\n');
    await until(() => s.counters.currConnections === 0);
  });

  it('maxConnections counts TLS connections, those still in their handshake too', async () => {
    const s = await start({
      listen: [{ port: 0 }, { port: 0, tls: { ...serverTls, handshakeTimeoutMs: 5000 } }],
      limits: { maxConnections: 2 },
    });
    const plainPort = portOf(s, 0);
    const tlsPort = portOf(s, 1);
    const secure = await TlsRawClient.connect({ port: tlsPort });
    expect((await secure.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
    const halfOpen = await RawClient.connect({ port: tlsPort });
    await until(() => s.counters.currConnections === 2);

    // Over the limit: a TLS client is dropped before its handshake, a plain one told why.
    const third = await TlsRawClient.connect({ port: tlsPort });
    expect(third.closed).toBe(true);
    const plain = await RawClient.connect({ port: plainPort });
    expect((await plain.request('version\r\n', '\r\n')).toString()).toBe('ERROR Too many open connections\r\n');
    expect(s.counters.rejectedConnections).toBe(2);

    halfOpen.close();
    await until(() => s.counters.currConnections === 1);
    const fourth = await TlsRawClient.connect({ port: tlsPort });
    expect((await fourth.request('version\r\n', '\r\n')).toString()).toBe('VERSION 1.6.18\r\n');
    secure.close();
    fourth.close();
    plain.close();
    await until(() => s.counters.currConnections === 0);
  });

  it('close() finishes TLS connections gracefully, and does not wait past the handshake timeout for a half-open one', async () => {
    const s = await listenAndServe({
      listen: { port: 0, tls: { ...serverTls, handshakeTimeoutMs: 400 } },
      handler: new InMemoryHandler({ maxBytes: 1 << 20 }),
      onError: (e) => errors.push(e),
    });
    const c = await TlsRawClient.connect({ port: portOf(s) });
    expect((await c.request('set k 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('STORED\r\n');
    const halfOpen = await RawClient.connect({ port: portOf(s) });
    const t0 = Date.now();
    await s.close(3000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(await c.waitClosed(3000)).toBe(true);
    expect(await halfOpen.waitFor(() => halfOpen.closed, 3000)).toBe(true);
  });
});

describe('TLS with authentication', () => {
  it('text and binary clients authenticate over TLS as over plain TCP', async () => {
    const s = await start({ listen: { port: 0, tls: serverTls }, auth: { users: { alice: 'secret' } } });
    const t = await TlsRawClient.connect({ port: portOf(s) });
    expect((await t.request('get a\r\n', '\r\n')).toString()).toBe('CLIENT_ERROR unauthenticated\r\n');
    expect((await t.request('set a 0 0 12\r\nalice secret\r\n', '\r\n')).toString()).toBe('STORED\r\n');
    expect((await t.request('set k 0 0 1\r\nv\r\nget k\r\n', 'END\r\n')).toString()).toBe('STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n');
    t.close();
    const b = await TlsRawClient.connect({ port: portOf(s) });
    const get = Buffer.from('800000010000000100000000000000000000000000000000', 'hex');
    const reply = await b.exchange(Buffer.concat([get, Buffer.from('k')]), 'binary');
    expect(reply.readUInt16BE(6)).toBe(0x20);
    expect(b.closed).toBe(true);
  });
});

describe('TLS options are checked at startup', () => {
  const base = { handler: new InMemoryHandler({ maxBytes: 1 << 20 }) };
  it('a CA-less requestCert, a bad PEM and a key that does not match are refused', async () => {
    await expect(listenAndServe({ ...base, listen: { port: 0, tls: { ...serverTls, requestCert: true } } })).rejects.toThrow(
      /requestCert needs tls.ca/,
    );
    await expect(listenAndServe({ ...base, listen: { port: 0, tls: { cert: 'not a pem', key: serverTls.key } } })).rejects.toThrow();
    await expect(
      listenAndServe({ ...base, listen: { port: 0, tls: { cert: serverTls.cert, key: tlsFixture('client-key.pem') } } }),
    ).rejects.toThrow(/key values mismatch|KEY_VALUES_MISMATCH/i);
  });
});
