/**
 * Differential tests: the same byte streams go to a real memcached and to a
 * cleave server (in-memory L1), and the replies must be the same bytes —
 * CAS uniques and the version text aside.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1Only } from '@cleave/orchestrator';
import {
  RawClient,
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
let server: Server;
let cleavePort: number;

beforeAll(async () => {
  memcached = await startMemcached();
  server = await listenAndServe({
    listen: { port: 0 },
    orchestrator: l1Only,
    l1: new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 }),
  });
  cleavePort = (server.addresses[0] as { port: number }).port;
});

afterAll(async () => {
  await server?.close();
  await memcached?.stop();
});

/** Send each step's bytes on one fresh connection per server; collect what each step answers. */
async function both(steps: Array<Buffer | string>, protocol: 'text' | 'binary'): Promise<[Buffer[], Buffer[]]> {
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

async function expectSameText(...steps: Array<Buffer | string>): Promise<void> {
  const [theirs, ours] = await both(steps, 'text');
  expect(ours.map(normalizeText)).toEqual(theirs.map(normalizeText));
}

async function expectSameBinary(...steps: Buffer[]): Promise<void> {
  const [theirs, ours] = await both(steps, 'binary');
  expect(ours.map(normalizeBinary)).toEqual(theirs.map(normalizeBinary));
}

describe('text protocol matches memcached', () => {
  for (const [name, steps] of Object.entries(textCases)) it(name, () => expectSameText(...steps));
});

describe('meta protocol matches memcached', () => {
  for (const [name, steps] of Object.entries(metaCases)) it(name, () => expectSameText(...steps));
});

describe('binary protocol matches memcached', () => {
  for (const [name, steps] of Object.entries(binaryCases)) it(name, () => expectSameBinary(...steps));
});
