/**
 * Verification catches servers that are wrong: values corrupted by a
 * handler wrapper inside a cleave server, and scripted raw servers that
 * answer with another key, a wrong opaque, or broken framing. Every error is
 * counted, carries the offending bytes, and none is reported for a reply
 * that was right.
 */
import net from 'node:net';
import type { Server } from '@cleave/server';
import { afterEach, describe, expect, it } from 'vitest';
import { runLoad } from '../src/index.js';
import { CorruptingHandler, startCleave, type Corruption } from './helpers.js';

const open: Array<{ close(): unknown }> = [];
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});

async function corruptingServer(mode: Corruption): Promise<{ handler: CorruptingHandler; port: number; server: Server }> {
  const handler = new CorruptingHandler(mode);
  const { server, port } = await startCleave(handler);
  open.push(server);
  return { handler, port, server };
}

describe('a server that corrupts one value in a thousand', () => {
  for (const protocol of ['text', 'meta', 'binary'] as const) {
    it(`setget over ${protocol} reports each flipped byte, with the bytes`, async () => {
      const { handler, port } = await corruptingServer('flip');
      // A request budget, not a duration: the number of corruptions then does not depend on the machine's speed.
      const r = await runLoad({ workload: 'setget', port, protocol, requests: 6000, seed: 3 });
      expect(handler.corrupted).toBeGreaterThan(0);
      // Every corruption is caught, and nothing else is reported.
      expect(r.errors_by_kind).toEqual({ wrong_value: handler.corrupted });
      expect(r.errors).toBe(handler.corrupted);
      const s = r.error_samples[0]!;
      expect(s.command).toBe('get');
      expect(s.key).toMatch(/^cl:i\d+$/);
      expect(s.got!.hex).not.toBe(s.expected!.hex);
      // The dump starts at most 16 bytes before the wrong byte, which differs by the flipped bit.
      const at = Number(/at byte (\d+)/.exec(s.detail)![1]);
      const i = at - s.got!.offset;
      const got = parseInt(s.got!.hex.split(' ')[i]!, 16);
      const want = parseInt(s.expected!.hex.split(' ')[i]!, 16);
      expect(got ^ want).toBe(0x20);
      expect(s.got!.text).toHaveLength(s.got!.hex.split(' ').length);
    });
  }

  it('a value one byte short no longer matches its own description', async () => {
    const { handler, port } = await corruptingServer('truncate');
    const r = await runLoad({ workload: 'setget', port, protocol: 'meta', requests: 4000, conns: 2 });
    expect(handler.corrupted).toBeGreaterThan(0);
    expect(r.errors).toBe(handler.corrupted);
  });

  it('a value with the wrong generation in its flags is caught (wrong or stale value)', async () => {
    const { handler, port } = await corruptingServer('generation');
    const r = await runLoad({ workload: 'mix', port, protocol: 'binary', requests: 5000, keys: 500, ratio: 0.9, verify: true });
    expect(handler.corrupted).toBeGreaterThan(0);
    expect(r.errors).toBe(handler.corrupted);
    expect(Object.keys(r.errors_by_kind).every((k) => k === 'wrong_value' || k === 'stale_value')).toBe(true);
  });

  it('without --verify nothing is checked (the errors above come from verification)', async () => {
    const { handler, port } = await corruptingServer('flip');
    const r = await runLoad({ workload: 'mix', port, requests: 3000, keys: 500, ratio: 1 });
    expect(handler.corrupted).toBeGreaterThan(0);
    expect(r.errors).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Scripted servers
// ---------------------------------------------------------------------------

/** A raw server answering each request (a text line, or a binary packet) with `answer`. */
async function scripted(kind: 'line' | 'binary', answer: (request: Buffer) => Buffer): Promise<number> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    let buf = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const out: Buffer[] = [];
      for (;;) {
        if (kind === 'line') {
          const nl = buf.indexOf('\r\n');
          if (nl < 0) break;
          out.push(answer(buf.subarray(0, nl)));
          buf = buf.subarray(nl + 2);
        } else {
          if (buf.length < 24) break;
          const total = 24 + buf.readUInt32BE(8);
          if (buf.length < total) break;
          out.push(answer(buf.subarray(0, total)));
          buf = buf.subarray(total);
        }
      }
      if (out.length) s.write(Buffer.concat(out));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  open.push({
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  });
  return (server.address() as net.AddressInfo).port;
}

const getsOnly = { workload: 'mix', ratio: 1, prepopulate: false, verify: true, keys: 100, conns: 1, depth: 4, requests: 50 } as const;

describe('scripted wrong servers', () => {
  it('text: an item for another key is a wrong_key error showing that key', async () => {
    const port = await scripted('line', (line) => {
      const key = line.toString('latin1').split(' ')[1]!;
      const other = key.slice(0, -1) + (key.endsWith('0') ? '1' : '0');
      return Buffer.from(`VALUE ${other} 1 3\r\nabc\r\nEND\r\n`);
    });
    const r = await runLoad({ ...getsOnly, port });
    expect(r.errors_by_kind).toEqual({ wrong_key: 50 });
    expect(r.error_samples[0]!.got!.text).toMatch(/^cl:i\d+$/);
    expect(r.error_samples[0]!.got!.text).not.toBe(r.error_samples[0]!.key);
  });

  it('meta: an opaque token that is not the one sent is a wrong_opaque error', async () => {
    const port = await scripted('line', (line) => {
      const tokens = line.toString('latin1').split(' ');
      const o = tokens.find((t) => t.startsWith('O'))!;
      return Buffer.from(`EN k${tokens[1]} O${Number(o.slice(1)) + 1}\r\n`);
    });
    const r = await runLoad({ ...getsOnly, port, protocol: 'meta' });
    expect(r.errors_by_kind).toEqual({ wrong_opaque: 50 });
    expect(r.error_samples[0]!.got!.text).toMatch(/^EN k\S+ O\d+\.\.$/);
  });

  it('binary: a reply with another opaque is a wrong_opaque error with the header bytes', async () => {
    const port = await scripted('binary', (req) => {
      const reply = Buffer.alloc(24);
      reply[0] = 0x81;
      reply[1] = req[1]!;
      reply.writeUInt16BE(0x0001, 6); // key not found
      reply.writeUInt32BE((req.readUInt32BE(12) + 7) >>> 0, 12);
      return reply;
    });
    const r = await runLoad({ ...getsOnly, port, protocol: 'binary' });
    expect(r.errors_by_kind).toEqual({ wrong_opaque: 50 });
    expect(r.error_samples[0]!.got!.hex.startsWith('81 0c 00 00 00 00 00 01')).toBe(true);
  });

  it('binary: a right opaque with the wrong opcode is an unexpected reply', async () => {
    const port = await scripted('binary', (req) => {
      const reply = Buffer.alloc(24);
      reply[0] = 0x81;
      reply[1] = 0x01; // Set, to a get
      reply.writeUInt32BE(req.readUInt32BE(12), 12);
      return reply;
    });
    const r = await runLoad({ ...getsOnly, port, protocol: 'binary' });
    expect(r.errors_by_kind).toEqual({ unexpected_reply: 50 });
  });

  it('text: a data block longer than its VALUE line says breaks the framing; the connection is replaced', async () => {
    const port = await scripted('line', (line) => {
      const key = line.toString('latin1').split(' ')[1]!;
      return Buffer.from(`VALUE ${key} 1 3\r\nabcdef\r\nEND\r\n`);
    });
    const r = await runLoad({ ...getsOnly, port, requests: 20, depth: 1 });
    expect(r.errors_by_kind.framing).toBeGreaterThan(0);
    expect(r.reconnects).toBeGreaterThan(0);
    const s = r.error_samples.find((e) => e.kind === 'framing')!;
    expect(s.detail).toMatch(/\\r\\n/);
    expect(s.got!.text).toContain('VALUE');
  });

  it('binary: a reply without the 0x81 magic breaks the framing', async () => {
    const port = await scripted('binary', () => Buffer.from('ERROR\r\n'.padEnd(24, ' ')));
    const r = await runLoad({ ...getsOnly, port, protocol: 'binary', requests: 10, depth: 1 });
    expect(r.errors_by_kind.framing).toBeGreaterThan(0);
    expect(r.error_samples[0]!.detail).toMatch(/bad magic 0x45/);
    expect(r.error_samples[0]!.got!.text.startsWith('ERROR..')).toBe(true);
  });

  it('a server that stops answering is a timeout, and the run still ends', async () => {
    const port = await scripted('line', () => Buffer.alloc(0));
    const t0 = Date.now();
    const r = await runLoad({ ...getsOnly, port, requests: 10, timeout: 0.5 });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.errors_by_kind.timeout).toBeGreaterThan(0);
    expect(r.ops).toBe(0);
  });

  it('an ERROR reply to a correct request is an error_reply', async () => {
    const port = await scripted('line', () => Buffer.from('SERVER_ERROR out of memory\r\n'));
    const r = await runLoad({ ...getsOnly, port });
    expect(r.errors_by_kind).toEqual({ error_reply: 50 });
    expect(r.error_samples[0]!.got!.text).toBe('SERVER_ERROR out of memory..');
  });
});
