/**
 * Differential tests: the same byte streams go to a real memcached and to a
 * cleave server (in-memory storage), and the replies must be the same bytes —
 * CAS uniques and the version text aside. Each case runs twice: with the
 * handler given the parsed requests, and behind RebuiltCommandsHandler,
 * which hands it each command rebuilt from its typed fields alone (the
 * handler relies on nothing the contract does not name).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import {
  RawClient,
  RebuiltCommandsHandler,
  runMemccapable,
  binaryCases,
  metaCases,
  normalizeBinary,
  normalizeText,
  startMemcached,
  textCases,
  type MemcachedProcess,
} from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

let memcached: MemcachedProcess;
const servers: Server[] = [];
const ports = { parsed: 0, rebuilt: 0 };

beforeAll(async () => {
  memcached = await startMemcached();
  const serve = async (rebuilt: boolean) => {
    const store = new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 });
    const server = await listenAndServe({ listen: { port: 0 }, handler: rebuilt ? new RebuiltCommandsHandler(store) : store });
    servers.push(server);
    return (server.addresses[0] as { port: number }).port;
  };
  ports.parsed = await serve(false);
  ports.rebuilt = await serve(true);
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await memcached?.stop();
});

/** Send each step's bytes on one fresh connection per server; collect what each step answers. */
async function both(steps: Array<Buffer | string>, protocol: 'text' | 'binary', cleavePort: number): Promise<[Buffer[], Buffer[]]> {
  const run = async (port: number) => {
    const c = await RawClient.connect({ port });
    const replies: Buffer[] = [];
    for (const s of steps) {
      // Once a server has closed the connection, later steps have no reply.
      replies.push(c.closed ? Buffer.alloc(0) : await c.exchange(s, protocol));
    }
    c.close();
    return replies;
  };
  // Each case starts from an empty cache on both sides.
  for (const port of [memcached.port, cleavePort]) {
    const c = await RawClient.connect({ port });
    await c.request('flush_all\r\n', 'OK\r\n');
    c.close();
  }
  return Promise.all([run(memcached.port), run(cleavePort)]);
}

async function expectSameText(port: number, steps: Array<Buffer | string>): Promise<void> {
  const [theirs, ours] = await both(steps, 'text', port);
  expect(ours.map(normalizeText)).toEqual(theirs.map(normalizeText));
}

async function expectSameBinary(port: number, steps: Buffer[]): Promise<void> {
  const [theirs, ours] = await both(steps, 'binary', port);
  expect(ours.map(normalizeBinary)).toEqual(theirs.map(normalizeBinary));
}

for (const via of ['parsed', 'rebuilt'] as const) {
  const label = via === 'parsed' ? 'parsed requests' : 'commands rebuilt from their typed fields';
  describe(`text protocol matches memcached (${label})`, () => {
    for (const [name, steps] of Object.entries(textCases)) it(name, () => expectSameText(ports[via], steps));
  });

  describe(`meta protocol matches memcached (${label})`, () => {
    for (const [name, steps] of Object.entries(metaCases)) it(name, () => expectSameText(ports[via], steps));
  });

  describe(`binary protocol matches memcached (${label})`, () => {
    for (const [name, steps] of Object.entries(binaryCases)) it(name, () => expectSameBinary(ports[via], steps));
  });
}

describe('memccapable through commands rebuilt from their typed fields', () => {
  for (const mode of ['-a', '-b'] as const) {
    it(`passes every ${mode === '-a' ? 'ascii' : 'binary'} test`, async () => {
      const r = await runMemccapable(ports.rebuilt, mode);
      expect(r.out).not.toMatch(/\[fail\]/);
      expect(r.out).toContain('All tests passed');
      expect(r.code).toBe(0);
    });
  }
});
