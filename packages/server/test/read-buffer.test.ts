import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler, ItemView, StoreCommand, StoreOutcome } from '@cleave/protocol';
import { RawClient, binaryPacket } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';
import { readBufferCounts } from '../src/read-buffer.js';

// The suite runs with CLEAVE_POISON_READ_BUFFERS=1 (vitest.workspace.ts): a reused buffer is overwritten
// with 0xee before each reuse, so a view kept past its request reads garbage.

const started: Server[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.close(500)));
});

async function serve(l1: Handler = new InMemoryHandler({ maxBytes: 1 << 24 })): Promise<number> {
  const server = await listenAndServe({ listen: { port: 0 }, handler: l1 });
  started.push(server);
  const a = server.addresses[0]!;
  return 'port' in a ? a.port : 0;
}

/** Send `data` in pieces of `size` bytes, each after the previous one has had time to arrive as a read of its own. */
async function trickle(c: RawClient, data: string | Buffer, size: number): Promise<void> {
  const b = Buffer.from(data);
  for (let p = 0; p < b.length; p += size) {
    c.write(b.subarray(p, p + size));
    await sleep(3);
  }
}

describe('reads into buffers the connection owns', () => {
  it('is in use, and one buffer serves a connection whose requests are answered at once', async () => {
    expect(process.env.CLEAVE_POISON_READ_BUFFERS).toBe('1');
    const port = await serve();
    const c = await RawClient.connect({ port });
    await c.request('set k 0 0 5\r\nhello\r\n', 'STORED\r\n');
    const before = { ...readBufferCounts };
    for (let i = 0; i < 300; i++) {
      const r = await c.request(`get k\r\n`, 'END\r\n');
      expect(r.toString()).toBe('VALUE k 0 5\r\nhello\r\nEND\r\n');
    }
    expect(readBufferCounts.reads - before.reads).toBeGreaterThanOrEqual(300);
    expect(readBufferCounts.newBuffers - before.newBuffers).toBe(0);
    c.close();
  });

  it('parses text lines and data blocks split over many reads, byte by byte', async () => {
    const port = await serve();
    const c = await RawClient.connect({ port });
    await trickle(c, 'set split 5 0 11\r\nhello world\r\nget split\r\nmg split v f\r\n', 1);
    expect(await c.waitFor((b) => b.toString().endsWith('VA 11 f5\r\nhello world\r\n'))).toBe(true);
    expect(c.received.toString()).toBe('STORED\r\nVALUE split 5 11\r\nhello world\r\nEND\r\nVA 11 f5\r\nhello world\r\n');
    c.close();
  });

  it('parses binary packets split over many reads', async () => {
    const port = await serve();
    const c = await RawClient.connect({ port });
    const extras = Buffer.alloc(8);
    const set = binaryPacket({ opcode: 0x01, key: 'bk', value: 'binary value', extras, opaque: 7 });
    const getk = binaryPacket({ opcode: 0x0c, key: 'bk', opaque: 8 });
    await trickle(c, Buffer.concat([set, getk]), 5);
    expect(await c.waitFor((b) => b.length >= 24 + 24 + 4 + 2 + 12)).toBe(true);
    const r = c.received;
    expect(r.readUInt32BE(12)).toBe(7);
    expect(r.readUInt32BE(24 + 12)).toBe(8);
    expect(r.subarray(24 + 24 + 4).toString()).toBe('bkbinary value');
    c.close();
  });

  it('keeps a read while an asynchronous handler still holds its requests', async () => {
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    // Stores answer later; the request's key and value are read only then.
    const slow: Handler = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'store') {
          return (cmd: StoreCommand) =>
            new Promise<StoreOutcome>((resolve) => setTimeout(() => resolve(target.store(cmd) as StoreOutcome), 20));
        }
        return Reflect.get(target, prop, receiver);
      },
    });
    const port = await serve(slow);
    const c = await RawClient.connect({ port });
    // Later reads arrive while the stores of earlier ones wait.
    for (let i = 0; i < 20; i++) {
      c.write(`set key${i} 0 0 6\r\nvalue${i % 10}\r\n`);
      await sleep(1);
    }
    expect(await c.waitFor((b) => b.toString().split('STORED').length === 21, 5000)).toBe(true);
    let get = 'get';
    let want = '';
    for (let i = 0; i < 20; i++) {
      get += ` key${i}`;
      want += `VALUE key${i} 0 6\r\nvalue${i % 10}\r\n`;
    }
    const r = (await c.request(`${get}\r\n`, 'END\r\n')).toString();
    expect(r.replaceAll('STORED\r\n', '')).toBe(`${want}END\r\n`);
    c.close();
  });

  it('overwrites a reused buffer, so a handler that keeps a view of a key past its call is caught', async () => {
    // Breaks the Handler contract on purpose: remembers the Buffer of the last stored key without copying.
    const inner = new InMemoryHandler({ maxBytes: 1 << 24 });
    let kept: Buffer | undefined;
    const careless: Handler = new Proxy(inner, {
      get(target, prop, receiver) {
        if (prop === 'store') {
          return (cmd: StoreCommand) => {
            kept = cmd.key;
            return target.store(cmd);
          };
        }
        if (prop === 'get') return (cmd: { key: Buffer }) => target.get(cmd as never) as ItemView | undefined;
        return Reflect.get(target, prop, receiver);
      },
    });
    const port = await serve(careless);
    const c = await RawClient.connect({ port });
    await c.request('set remembered 0 0 1\r\nx\r\n', 'STORED\r\n');
    // The store was answered at once, so the buffer was released (and overwritten) right after the read.
    expect([...kept!]).toEqual(new Array(10).fill(0xee));
    expect((await c.request('get remembered\r\n', 'END\r\n')).toString()).toBe('VALUE remembered 0 1\r\nx\r\nEND\r\n');
    c.close();
  });
});
