/**
 * Through the server: a cleave server whose only tier is a MemcachedHandler
 * (in front of one memcached) must answer byte streams exactly as another
 * memcached answers them directly, CAS uniques and the version text aside;
 * and memccapable's ascii and binary suites pass against it. The handlers
 * sit behind RebuiltCommandsHandler, so they see each command rebuilt from
 * its typed fields alone: the contract is all they rely on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1l2 } from '@cleave/tiers';
import { listenAndServe, type Server } from '@cleave/server';
import {
  L1L2_DIFFERS,
  RebuiltCommandsHandler,
  binarySideBySide,
  handlerBinaryCases,
  handlerMetaCases,
  handlerTextCases,
  runMemccapable,
  startMemcached,
  textSideBySide,
  type MemcachedProcess,
} from '@cleave/testkit';
import { MemcachedHandler } from '../src/index.js';

let reference: MemcachedProcess;

/** A cleave server and the memcached behind it. */
interface Setup {
  port: number;
  backend: MemcachedProcess;
  server: Server;
}
const setups: Record<'l1Only' | 'l1l2', Setup> = {} as never;

beforeAll(async () => {
  let l2: MemcachedProcess;
  let only: MemcachedProcess;
  [reference, only, l2] = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
  const serve = async (backend: MemcachedProcess, two: boolean): Promise<Setup> => {
    const handler = new MemcachedHandler({ address: { host: '127.0.0.1', port: backend.port } });
    const server = two
      ? await listenAndServe({ listen: { port: 0 }, handler: new RebuiltCommandsHandler(l1l2(new InMemoryHandler(), handler)) })
      : await listenAndServe({ listen: { port: 0 }, handler: new RebuiltCommandsHandler(handler) });
    return { port: (server.addresses[0] as { port: number }).port, backend, server };
  };
  setups.l1Only = await serve(only, false);
  setups.l1l2 = await serve(l2, true);
});

afterAll(async () => {
  for (const s of Object.values(setups)) {
    await s.server.close();
    await s.backend.stop();
  }
  await reference?.stop();
});

async function expectSameText(setup: Setup, steps: Array<Buffer | string>): Promise<void> {
  const [theirs, ours] = await textSideBySide(reference.port, setup.port, steps);
  expect(ours).toEqual(theirs);
}

async function expectSameBinary(setup: Setup, steps: Buffer[]): Promise<void> {
  const [theirs, ours] = await binarySideBySide(reference.port, setup.port, steps);
  expect(ours).toEqual(theirs);
}

for (const name of ['l1Only', 'l1l2'] as const) {
  const label = name === 'l1Only' ? 'MemcachedHandler alone' : 'InMemoryHandler L1 over MemcachedHandler L2';
  const keep = (what: string) => name === 'l1Only' || !L1L2_DIFFERS.has(what);
  describe(`text protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerTextCases)) if (keep(what)) it(what, () => expectSameText(setups[name], steps));
  });
  describe(`meta protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerMetaCases)) if (keep(what)) it(what, () => expectSameText(setups[name], steps));
  });
  describe(`binary protocol through ${label} matches memcached`, () => {
    for (const [what, steps] of Object.entries(handlerBinaryCases)) it(what, () => expectSameBinary(setups[name], steps));
  });
}

for (const name of ['l1Only', 'l1l2'] as const) {
  describe(`memccapable against ${name === 'l1Only' ? 'MemcachedHandler alone' : 'InMemoryHandler L1 over MemcachedHandler L2'}`, () => {
    for (const mode of ['-a', '-b'] as const) {
      it(`passes every ${mode === '-a' ? 'ascii' : 'binary'} test`, async () => {
        const r = await runMemccapable(setups[name].port, mode);
        expect(r.out).not.toMatch(/\[fail\]/);
        expect(r.out).toContain('All tests passed');
        expect(r.code).toBe(0);
      });
    }
  });
}
