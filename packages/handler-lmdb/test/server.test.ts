/**
 * Through the server: a cleave server whose store is the LMDB handler (alone,
 * and as the L2 under an in-memory L1) must answer byte streams exactly as
 * memcached answers them, CAS uniques and the version text aside; and
 * memccapable's ascii and binary suites pass against it. The handler sits
 * behind RebuiltCommandsHandler, so it sees each command rebuilt from its
 * typed fields alone: the contract is all it relies on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { type Server, listenAndServe } from '@cleave/server';
import {
  L1L2_DIFFERS,
  type MemcachedProcess,
  RebuiltCommandsHandler,
  binarySideBySide,
  handlerBinaryCases,
  handlerMetaCases,
  handlerTextCases,
  runMemccapable,
  startMemcached,
  textSideBySide,
} from '@cleave/testkit';
import { l1l2 } from '@cleave/tiers';
import { LmdbHandler } from '../src/index.js';
import { tempStore } from './helpers.js';

let reference: MemcachedProcess;
const stores = [tempStore(), tempStore()];
const servers: Record<'alone' | 'l1l2', { server: Server; port: number }> = {} as never;

beforeAll(async () => {
  reference = await startMemcached();
  const serve = async (two: boolean) => {
    const lmdb = new LmdbHandler({ path: stores[two ? 1 : 0]!.path, maxBytes: 256 * 1024 * 1024 });
    const handler = new RebuiltCommandsHandler(two ? l1l2(new InMemoryHandler(), lmdb) : lmdb);
    const server = await listenAndServe({ listen: { port: 0 }, handler });
    return { server, port: (server.addresses[0] as { port: number }).port };
  };
  servers.alone = await serve(false);
  servers.l1l2 = await serve(true);
});

afterAll(async () => {
  for (const s of Object.values(servers)) await s.server.close();
  for (const s of stores) s.cleanup();
  await reference?.stop();
});

for (const name of ['alone', 'l1l2'] as const) {
  const label = name === 'alone' ? 'LmdbHandler alone' : 'InMemoryHandler L1 over LmdbHandler L2';
  const keep = (what: string) => name === 'alone' || !L1L2_DIFFERS.has(what);
  const text = async (steps: Array<Buffer | string>) => {
    const [theirs, ours] = await textSideBySide(reference.port, servers[name].port, steps);
    expect(ours).toEqual(theirs);
  };
  describe(`text protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerTextCases)) if (keep(what)) it(what, () => text(steps));
  });
  describe(`meta protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerMetaCases)) if (keep(what)) it(what, () => text(steps));
  });
  describe(`binary protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerBinaryCases)) {
      it(what, async () => {
        const [theirs, ours] = await binarySideBySide(reference.port, servers[name].port, steps);
        expect(ours).toEqual(theirs);
      });
    }
  });
  describe(`memccapable against ${label}`, () => {
    for (const mode of ['-a', '-b'] as const) {
      it(`passes every ${mode === '-a' ? 'ascii' : 'binary'} test`, async () => {
        const r = await runMemccapable(servers[name].port, mode);
        expect(r.out).not.toMatch(/\[fail\]/);
        expect(r.out).toContain('All tests passed');
        expect(r.code).toBe(0);
      });
    }
  });
}
