/**
 * memproxy in front of real memcached processes: plain, chunked, L1+L2 and the
 * L1L2Batch port. Each check looks into the backends directly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { RawClient, runMemccapable, startMemcached, stopProcess, type MemcachedProcess } from '@cleave/testkit';
import { ask, startMemproxy, stopAfterAll, type Running } from './spawn.js';

const track = stopAfterAll();

const memcached = async (opts: Parameters<typeof startMemcached>[0] = {}): Promise<MemcachedProcess> => track(await startMemcached(opts));

const memproxy = async (args: string[]): Promise<Running> => track(await startMemproxy(['-p', '0', ...args]));

const target = (mc: MemcachedProcess) => (mc.socketPath ? { path: mc.socketPath } : { port: mc.port });

describe('plain proxy: L1 is a memcached', () => {
  let tcp: MemcachedProcess;
  let unix: MemcachedProcess;
  let viaTcp: Running;
  let viaUnix: Running;
  beforeAll(async () => {
    tcp = await memcached();
    unix = await memcached({ unixSocket: true });
    viaTcp = await memproxy(['--l1-addr', `127.0.0.1:${tcp.port}`]);
    viaUnix = await memproxy(['--l1-sock', unix.socketPath!]);
  });

  it('stores through to the backend, over TCP and a unix socket', async () => {
    for (const [mp, mc] of [
      [viaTcp, tcp],
      [viaUnix, unix],
    ] as const) {
      expect(await ask({ port: mp.port }, 'set k 7 100 5\r\nhello\r\n', '\r\n')).toBe('STORED\r\n');
      const inBackend = await ask(target(mc), 'mg k v f t\r\n', '\r\n');
      expect(inBackend).toMatch(/^VA 5 f7 t(99|100)\r\nhello\r\n$/);
      expect(await ask({ port: mp.port }, 'get k\r\n', 'END\r\n')).toBe('VALUE k 7 5\r\nhello\r\nEND\r\n');
    }
  });

  it('answers every command like the backend would', async () => {
    // (decr stays within the digits' length: memcached may space-pad a shortened counter in place,
    // a detail protocol.txt tells clients not to rely on, and the meta `ma` the proxy uses does not pad.)
    const script =
      'set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 2\r\nappend n 0 0 1\r\n7\r\nprepend n 0 0 1\r\n1\r\nget n\r\n' +
      'add n 0 0 1\r\nx\r\nreplace n 0 0 1\r\n3\r\ntouch n 100\r\ngat 200 n\r\ndelete n\r\ndelete n\r\nmn\r\n';
    const direct = await ask({ port: tcp.port }, 'flush_all\r\n' + script, 'MN\r\n');
    const proxied = await ask({ port: viaTcp.port }, 'flush_all\r\n' + script, 'MN\r\n');
    expect(proxied).toBe(direct);
  });

  it('passes memccapable (ascii and binary)', async () => {
    for (const mode of ['-a', '-b'] as const) {
      const { out } = await runMemccapable(viaTcp.port, mode);
      expect(out).not.toMatch(/\[fail\]/);
      expect(out).toContain('All tests passed');
    }
  });
});

describe("chunked: values far larger than memcached's item limit", () => {
  it('stores a 5 MiB value as chunks and reads it back byte for byte', async () => {
    const mc = await memcached({ args: ['-I', '1m'] });
    const mp = await memproxy(['--l1-addr', `127.0.0.1:${mc.port}`, '--chunked', '--max-item-size', '16m']);
    const value = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 7 + (i >> 11)) & 0xff;
    const c = await RawClient.connect({ port: mp.port });
    c.write(Buffer.concat([Buffer.from(`set big 3 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    expect((await c.read(8, 10_000)).toString()).toBe('STORED\r\n');
    c.write('get big\r\n');
    const header = `VALUE big 3 ${value.length}\r\n`;
    const reply = await c.read(header.length + value.length + 7, 10_000);
    c.close();
    expect(reply.subarray(0, header.length).toString()).toBe(header);
    expect(Buffer.compare(reply.subarray(header.length, header.length + value.length), value)).toBe(0);
    expect(reply.subarray(header.length + value.length).toString()).toBe('\r\nEND\r\n');
    // In memcached the key holds only the small metadata item; the bytes live in chunk items.
    const meta = await ask({ port: mc.port }, 'mg big s\r\n', '\r\n');
    const size = Number(/^HD s(\d+)/.exec(meta)?.[1]);
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(1024);
    const stats = await ask({ port: mc.port }, 'stats\r\n', 'END\r\n');
    expect(Number(/STAT curr_items (\d+)/.exec(stats)?.[1])).toBeGreaterThan(10);
  });

  it('with an L2, chunks both tiers: a 5 MiB value is stored in each and read back from L2 once L1 lost it', async () => {
    const l1 = await memcached({ args: ['-I', '1m'] });
    const l2 = await memcached({ args: ['-I', '1m'] });
    const mp = await memproxy([
      '--l1-addr',
      `127.0.0.1:${l1.port}`,
      '--l2-enabled',
      '--l2-addr',
      `127.0.0.1:${l2.port}`,
      '--chunked',
      '--max-item-size',
      '16m',
    ]);
    expect(mp.stdout()).toContain(`L2 memcached 127.0.0.1:${l2.port} (chunked)`);
    expect(mp.stdout()).toContain(`max item ${16 * 1024 * 1024} bytes`);
    const value = Buffer.alloc(5 * 1024 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = (i * 13 + (i >> 9)) & 0xff;
    const c = await RawClient.connect({ port: mp.port });
    const readBig = async (): Promise<void> => {
      c.write('get big\r\n');
      const header = `VALUE big 5 ${value.length}\r\n`;
      const reply = await c.read(header.length + value.length + 7, 10_000);
      expect(reply.subarray(0, header.length).toString()).toBe(header);
      expect(Buffer.compare(reply.subarray(header.length, header.length + value.length), value)).toBe(0);
      expect(reply.subarray(header.length + value.length).toString()).toBe('\r\nEND\r\n');
    };
    c.write(Buffer.concat([Buffer.from(`set big 5 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    expect((await c.read(8, 10_000)).toString()).toBe('STORED\r\n');
    await readBig();
    // Each tier holds the key as a small metadata item plus chunk items.
    for (const mc of [l1, l2]) {
      const meta = await ask({ port: mc.port }, 'mg big s\r\n', '\r\n');
      expect(Number(/^HD s(\d+)/.exec(meta)?.[1])).toBeLessThan(1024);
    }
    // L1 loses everything: the value comes back from L2's chunks.
    expect(await ask({ port: l1.port }, 'flush_all\r\n', '\r\n')).toBe('OK\r\n');
    await readBig();
    c.close();
  });
});

describe('L1+L2 and the L1L2Batch port', () => {
  let l1: MemcachedProcess;
  let l2: MemcachedProcess;
  let mp: Running;
  let batchPort: number;
  beforeAll(async () => {
    l1 = await memcached();
    l2 = await memcached({ unixSocket: true });
    mp = await memproxy(['--l1-addr', `127.0.0.1:${l1.port}`, '--l2-enabled', '--l2-sock', l2.socketPath!, '--batch-port', '0']);
    batchPort = Number(/L1L2Batch on [\d.]+:(\d+)/.exec(mp.stdout())?.[1]);
    expect(batchPort).toBeGreaterThan(0);
  });

  it('writes reach L2 and L1 with the same TTL and CAS', async () => {
    expect(await ask({ port: mp.port }, 'set a 1 300 3\r\nabc\r\n', '\r\n')).toBe('STORED\r\n');
    const in1 = await ask({ port: l1.port }, 'mg a v t c f\r\n', 'abc\r\n');
    const in2 = await ask(target(l2), 'mg a v t c f\r\n', 'abc\r\n');
    expect(in2).toMatch(/^VA 3 t(299|300) c\d+ f1\r\nabc\r\n$/);
    expect(in1).toMatch(/^VA 3 t(299|300) c\d+ f1\r\nabc\r\n$/);
  });

  it("an L1 miss is served from L2 and copied into L1 with L2's remaining TTL", async () => {
    expect(await ask(target(l2), 'set only2 0 500 2\r\nhi\r\n', '\r\n')).toBe('STORED\r\n');
    expect(await ask({ port: l1.port }, 'mg only2\r\n', '\r\n')).toBe('EN\r\n');
    expect(await ask({ port: mp.port }, 'get only2\r\n', 'END\r\n')).toBe('VALUE only2 0 2\r\nhi\r\nEND\r\n');
    // Within a second: the remaining TTL crosses processes as an absolute time at one-second resolution.
    expect(await ask({ port: l1.port }, 'mg only2 v t\r\n', 'hi\r\n')).toMatch(/^VA 2 t(49[89]|50[01])\r\nhi\r\n$/);
  });

  it('delete and touch reach both tiers', async () => {
    await ask({ port: mp.port }, 'set d 0 0 1\r\nx\r\n', '\r\n');
    expect(await ask({ port: mp.port }, 'touch d 60\r\n', '\r\n')).toBe('TOUCHED\r\n');
    expect(await ask({ port: l1.port }, 'mg d t\r\n', '\r\n')).toMatch(/^HD t(59|60)\r\n$/);
    expect(await ask(target(l2), 'mg d t\r\n', '\r\n')).toMatch(/^HD t(59|60)\r\n$/);
    expect(await ask({ port: mp.port }, 'delete d\r\n', '\r\n')).toBe('DELETED\r\n');
    expect(await ask({ port: l1.port }, 'mg d\r\n', '\r\n')).toBe('EN\r\n');
    expect(await ask(target(l2), 'mg d\r\n', '\r\n')).toBe('EN\r\n');
  });

  it('the batch port writes to L2 and only replaces in L1, and does not fill L1 on reads', async () => {
    expect(await ask({ port: batchPort }, 'set bulk 0 0 4\r\nload\r\n', '\r\n')).toBe('STORED\r\n');
    expect(await ask(target(l2), 'mg bulk v\r\n', '\r\n')).toBe('VA 4\r\nload\r\n');
    expect(await ask({ port: l1.port }, 'mg bulk\r\n', '\r\n')).toBe('EN\r\n');
    expect(await ask({ port: batchPort }, 'get bulk\r\n', 'END\r\n')).toBe('VALUE bulk 0 4\r\nload\r\nEND\r\n');
    expect(await ask({ port: l1.port }, 'mg bulk\r\n', '\r\n')).toBe('EN\r\n');
    // A key L1 already holds is replaced there.
    await ask({ port: mp.port }, 'set hot 0 0 3\r\nold\r\n', '\r\n');
    await ask({ port: batchPort }, 'set hot 0 0 3\r\nnew\r\n', '\r\n');
    expect(await ask({ port: l1.port }, 'mg hot v\r\n', '\r\n')).toBe('VA 3\r\nnew\r\n');
  });
});

describe('backend faults', () => {
  it('answers SERVER_ERROR promptly while the backend is down and recovers by itself', async () => {
    const mc = await memcached();
    const mp = await memproxy(['--l1-addr', `127.0.0.1:${mc.port}`, '--backend-timeout', '300ms']);
    const c = await RawClient.connect({ port: mp.port });
    expect((await c.request('set a 0 0 1\r\nx\r\n', '\r\n')).toString()).toBe('STORED\r\n');
    await stopProcess(mc.pid);
    const t0 = Date.now();
    const stalled = (await c.request('get a\r\n', '\r\n', 3000)).toString();
    expect(stalled).toMatch(/^SERVER_ERROR /);
    expect(Date.now() - t0).toBeLessThan(1500);
    process.kill(mc.pid, 'SIGCONT');
    const deadline = Date.now() + 5000;
    let reply = '';
    while (Date.now() < deadline) {
      c.write('get a\r\n');
      await c.waitFor(
        (b) => b.toString().endsWith('\r\n') && (b.toString().startsWith('SERVER_ERROR') || b.toString().endsWith('END\r\n')),
      );
      reply = (await c.drain(20)).toString();
      if (reply.endsWith('END\r\n')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(reply).toBe('VALUE a 0 1\r\nx\r\nEND\r\n');
    c.close();
  });
});
