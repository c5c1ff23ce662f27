/**
 * Every workload, in every protocol, against real memcached 1.6 and against
 * a cleave server (in-memory handler): short runs with verification on must
 * find nothing wrong — and must actually exercise the commands.
 */
import { startMemcached, type MemcachedProcess } from '@cleave/testkit';
import type { Server } from '@cleave/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad, type LoadResult } from '../src/index.js';
import { startCleave } from './helpers.js';

const PROTOCOLS = ['text', 'meta', 'binary'] as const;

let memcached: MemcachedProcess;
let cleave: { server: Server; port: number };

beforeAll(async () => {
  // Room for every workload's items: at -m 64 the fills of both protocols filled it, and a set memcached
  // could not make room for was answered "Out of memory allocating item" (a busy run, once).
  memcached = await startMemcached({ memoryMb: 1024 });
  cleave = await startCleave();
});

afterAll(async () => {
  await memcached?.stop();
  await cleave?.server.close();
});

function expectClean(r: LoadResult): void {
  if (r.errors > 0) console.error(JSON.stringify(r.error_samples.slice(0, 3), null, 2));
  expect(r.errors, `${r.workload}/${r.protocol} errors: ${JSON.stringify(r.errors_by_kind)}`).toBe(0);
  expect(r.aborted).toBe(0);
  expect(r.ops).toBeGreaterThan(0);
  expect(r.ops).toBe(r.hits + r.misses);
}

const servers = [
  ['memcached', () => memcached.port],
  ['cleave', () => cleave.port],
] as const;

/** Each run writes keys of its own, so what one run left behind does not change the next one's hit rates. */
let runs = 0;
const prefix = () => `t${++runs}:`;

describe.each(servers)('against %s', (_name, port) => {
  describe.each(PROTOCOLS)('%s protocol', (protocol) => {
    // blast and mix run a number of requests, not a time, so their counts do not shrink on a busy machine.
    it('blast sends every command and gets only answers memcached would give', async () => {
      const r = await runLoad({
        workload: 'blast',
        keyPrefix: prefix(),
        port: port(),
        protocol,
        requests: 5000,
        keys: 500,
        verify: true,
        seed: 7,
      });
      expectClean(r);
      // All thirteen commands ran, and the mix produced both hits and misses.
      expect(Object.keys(r.commands).sort()).toEqual(
        ['add', 'append', 'cas', 'decr', 'delete', 'gat', 'get', 'gets', 'incr', 'prepend', 'replace', 'set', 'touch'].sort(),
      );
      for (const name of ['get', 'add', 'delete', 'incr', 'append'] as const) {
        const c = r.commands[name]!;
        expect(c.hits, `${name} hits`).toBeGreaterThan(0);
        expect(c.misses, `${name} misses`).toBeGreaterThan(0);
      }
      expect(r.commands.cas!.hits, 'a cas with the CAS from a gets stores').toBeGreaterThan(0);
    });

    it('setget reads back every value it wrote, byte for byte', async () => {
      const r = await runLoad({ workload: 'setget', keyPrefix: prefix(), port: port(), protocol, duration: 0.6, seed: 11 });
      expectClean(r);
      expect(r.verify).toBe(true);
      // Nothing was evicted in a 64 MB cache: each get hits the set before it.
      expect(r.commands.get!.hits).toBe(r.commands.get!.ops);
      expect(r.commands.set!.ops - r.commands.get!.ops).toBeLessThanOrEqual(r.conns);
    });

    it('sizes sets and reads back every size in the range', async () => {
      const r = await runLoad({
        workload: 'sizes',
        keyPrefix: prefix(),
        port: port(),
        protocol,
        minSize: 0,
        maxSize: 3000,
        step: 1,
        conns: 3,
      });
      expectClean(r);
      expect(r.sizes).toEqual({ min: 0, max: 3000, step: 1, total: 3001, sent: 3001 });
      expect(r.commands.get!.hits).toBe(3001);
    });

    it('fill only sets, and every set is stored', async () => {
      const r = await runLoad({ workload: 'fill', keyPrefix: prefix(), port: port(), protocol, duration: 0.6, keys: 20_000, verify: true });
      expectClean(r);
      expect(Object.keys(r.commands)).toEqual(['set']);
      expect(r.hits).toBe(r.ops);
      expect(typeof r.evictions).toBe('number');
    });

    it('mix prepopulates, then gets and sets at the asked ratio', async () => {
      const r = await runLoad({
        workload: 'mix',
        keyPrefix: prefix(),
        port: port(),
        protocol,
        requests: 5000,
        keys: 2000,
        ratio: 0.8,
        verify: true,
        seed: 5,
      });
      expectClean(r);
      expect(r.prepopulate?.ops).toBe(2000);
      const gets = r.commands.get!.ops;
      const share = gets / r.ops;
      expect(share).toBeGreaterThan(0.75);
      expect(share).toBeLessThan(0.85);
      // Every key was set first, so gets hit.
      expect(r.commands.get!.hits).toBe(gets);
    });
  });
});

describe('exact checks', () => {
  it('with one connection, mix knows each key exactly (its own writes), and still finds no error', async () => {
    const r = await runLoad({
      workload: 'mix',
      keyPrefix: prefix(),
      port: memcached.port,
      conns: 1,
      depth: 32,
      duration: 0.4,
      keys: 100,
      ratio: 0.5,
      verify: true,
    });
    expectClean(r);
  });

  it('a unix socket target works', async () => {
    const mc = await startMemcached({ unixSocket: true });
    try {
      const r = await runLoad({ workload: 'setget', keyPrefix: prefix(), socket: mc.socketPath!, duration: 0.3, protocol: 'meta' });
      expectClean(r);
    } finally {
      await mc.stop();
    }
  });

  it('--requests stops after exactly that many requests', async () => {
    const r = await runLoad({ workload: 'mix', keyPrefix: prefix(), port: memcached.port, requests: 5000, prepopulate: false, keys: 100 });
    expect(r.ops).toBe(5000);
    expect(r.errors).toBe(0);
  });

  it('a server that is not there is one connection error, not an exception', async () => {
    const { freePort } = await import('@cleave/testkit');
    const r = await runLoad({ workload: 'mix', keyPrefix: prefix(), port: await freePort(), duration: 0.2 });
    expect(r.errors).toBe(1);
    expect(r.errors_by_kind).toEqual({ connection: 1 });
    expect(r.error_samples[0]!.detail).toMatch(/ECONNREFUSED/);
  });
});
