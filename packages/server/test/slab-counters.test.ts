/**
 * `stats slabs`' per-class command counters (`<class>:get_hits`, `cmd_set`,
 * `delete_hits`, `incr_hits`, `decr_hits`, `cas_hits`, `cas_badval`,
 * `touch_hits`): the same commands on small items (all in class 1) sent to a
 * real memcached and to the in-memory store behind the server leave the same
 * figures, text and meta alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

let memcached: MemcachedProcess;
let server: Server;

beforeAll(async () => {
  memcached = await startMemcached();
  server = await listenAndServe({ listen: { port: 0 }, handler: new InMemoryHandler({ sweepIntervalMs: 0 }) });
});

afterAll(async () => {
  await server?.close();
  await memcached?.stop();
});

const FIELDS = ['get_hits', 'cmd_set', 'delete_hits', 'incr_hits', 'decr_hits', 'cas_hits', 'cas_badval', 'touch_hits'];

/** Run the commands on `port` one by one, then read class 1's command counters from `stats slabs`. */
async function classOneAfter(port: number): Promise<string[]> {
  const c = await RawClient.connect({ port });
  const ask = async (line: string, until = '\r\n') => (await c.request(`${line}\r\n`, until, 5000)).toString('latin1');
  try {
    await ask('set a 0 0 1\r\nx');
    await ask('set b 0 0 1\r\ny');
    await ask('add a 0 0 1\r\nz');
    await ask('append a 0 0 1\r\nw');
    await ask('prepend none 0 0 1\r\nw');
    await ask('get a', 'END\r\n');
    await ask('get a none b', 'END\r\n');
    const cas = /VALUE a 0 2 (\d+)/.exec(await ask('gets a', 'END\r\n'))![1]!;
    await ask(`cas a 0 0 1 ${cas}\r\nv`);
    await ask(`cas a 0 0 1 ${cas}\r\nu`);
    await ask('cas none 0 0 1 1\r\nu');
    await ask('delete b');
    await ask('delete b');
    await ask('set n 0 0 2\r\n10');
    await ask('incr n 3');
    await ask('decr n 1');
    await ask('incr none 1');
    await ask('touch a 100');
    await ask('touch none 100');
    await ask('gat 100 a none', 'END\r\n');
    await ask('mg a v');
    await ask('mg a T30 v');
    await ask('mg none v');
    await ask('ms m 1 T0\r\nq');
    await ask('md m');
    await ask('ma n');
    await ask('ma n MD');
    const slabs = await ask('stats slabs', 'END\r\n');
    return FIELDS.map((f) => new RegExp(`STAT 1:${f} \\d+\\r\\n`).exec(slabs)?.[0] ?? `no 1:${f}`);
  } finally {
    c.close();
  }
}

describe('stats slabs per-class command counters', () => {
  it('match memcached after the same commands', async () => {
    const ours = await classOneAfter((server.addresses[0] as { port: number }).port);
    const theirs = await classOneAfter(memcached.port);
    expect(ours).toEqual(theirs);
    // The sequence moved every figure.
    for (const line of theirs) expect(line, line).not.toMatch(/ 0\r\n$/);
  });
});
