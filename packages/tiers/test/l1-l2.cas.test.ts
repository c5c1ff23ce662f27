/**
 * Which tier's CAS unique a client sees through L1L2. L2 is the CAS
 * authority: every CAS a reply shows must be one a compare-and-swap through
 * L1L2 (which L2 decides) accepts. A real memcached as L1 numbers its items
 * itself (memcached 1.6.18 refuses meta `E`, so it cannot take L2's), so a
 * fetch that shows the CAS is answered by L2; an in-memory L1 keeps the CAS
 * it is given (`keepsNewCas`) and answers such fetches itself, synchronously.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { ItemFacts, type GetCommand, type Handler, type ItemView, type StoreCommand } from '@cleave/protocol';
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { L1L2 } from '../src/index.js';

const k = (s: string) => Buffer.from(s, 'latin1');
const set = (key: string, value: string, extra: Partial<StoreCommand> = {}): StoreCommand => ({
  mode: 'set',
  key: k(key),
  value: k(value),
  flags: 0,
  exptime: 0,
  ...extra,
});
const gets = (key: string): GetCommand => ({ key: k(key), want: ItemFacts.CAS });
const item = (r: unknown): ItemView => {
  if (typeof r !== 'object' || r === null) throw new Error(`expected an item, got ${String(r)}`);
  return r as ItemView;
};

/** Ask a memcached directly. */
async function ask(mc: MemcachedProcess, bytes: string, until: string): Promise<string> {
  const c = await RawClient.connect({ port: mc.port });
  try {
    return (await c.request(bytes, until, 5000)).toString('latin1');
  } finally {
    c.close();
  }
}

/** The CAS unique and value a memcached holds for `key` (`mg <key> c v`), or undefined. */
async function held(mc: MemcachedProcess, key: string): Promise<{ cas: bigint; value: string } | undefined> {
  const reply = await ask(mc, `mg ${key} c v\r\nmn\r\n`, 'MN\r\n');
  const m = /^VA \d+ c(\d+)\r\n([^\r]*)\r\n/.exec(reply);
  return m ? { cas: BigInt(m[1]!), value: m[2]! } : undefined;
}

describe("L1L2 over two real memcached: every CAS a client sees is L2's", () => {
  let mc1: MemcachedProcess;
  let mc2: MemcachedProcess;
  let l1: MemcachedHandler;
  let l2: MemcachedHandler;
  let orch: L1L2;

  beforeAll(async () => {
    [mc1, mc2] = await Promise.all([startMemcached(), startMemcached()]);
    l1 = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc1.port } });
    l2 = new MemcachedHandler({ address: { host: '127.0.0.1', port: mc2.port } });
    orch = new L1L2(l1, l2);
  });
  afterAll(async () => {
    await orch?.close();
    await Promise.all([mc1?.stop(), mc2?.stop()]);
  });
  beforeEach(async () => {
    await Promise.all([ask(mc1, 'flush_all\r\n', 'OK\r\n'), ask(mc2, 'flush_all\r\n', 'OK\r\n')]);
    // L1 numbers its items ahead of L2, so a CAS L1 assigned cannot pass for L2's by chance.
    await ask(mc1, 'set pad 0 0 1\r\nx\r\n'.repeat(7), 'STORED\r\n'.repeat(7));
  });

  it('declares what its tiers keep: L1L2 keeps a given CAS exactly when L2 does', () => {
    const [tier1, tier2]: Handler[] = [l1, l2];
    expect(tier1!.keepsNewCas).not.toBe(true);
    expect(orch.keepsNewCas).toBe(tier2!.keepsNewCas);
  });

  it("a fetch that shows the CAS answers with L2's unique, which a cas then accepts; a stale one is refused", async () => {
    const stored = item(await orch.store(set('a', 'v1')));
    const inL2 = (await held(mc2, 'a'))!;
    const inL1 = (await held(mc1, 'a'))!;
    expect(stored.cas).toBe(inL2.cas);
    // The copy in L1 has a unique of L1's own.
    expect(inL1.value).toBe('v1');
    expect(inL1.cas).not.toBe(inL2.cas);

    const fetched = item(await orch.get(gets('a')));
    expect(fetched.value.toString()).toBe('v1');
    expect(fetched.cas).toBe(inL2.cas);

    const swapped = item(await orch.store(set('a', 'v2', { compareCas: fetched.cas })));
    expect(swapped.cas).toBe((await held(mc2, 'a'))!.cas);
    expect(await orch.store(set('a', 'v3', { compareCas: fetched.cas }))).toBe('EXISTS');
    expect((await held(mc2, 'a'))!.value).toBe('v2');
    expect((await held(mc1, 'a'))!.value).toBe('v2');
  });

  it("plain fetches are still L1's; only fetches that show the CAS go to L2", async () => {
    await orch.store(set('b', 'from-l2'));
    // A copy changed behind L1L2's back tells which tier answered.
    await ask(mc1, 'set b 0 0 7\r\nfrom-l1\r\n', 'STORED\r\n');
    expect(item(await orch.get({ key: k('b') })).value.toString()).toBe('from-l1');
    expect(item(await orch.get(gets('b'))).value.toString()).toBe('from-l2');
    // That fetch copied L2's item into L1: change L1's copy again.
    await ask(mc1, 'set b 0 0 7\r\nfrom-l1\r\n', 'STORED\r\n');
    const many = await orch.getMany([{ key: k('b') }, gets('b')]);
    expect(many.map((it) => it?.value.toString())).toEqual(['from-l1', 'from-l2']);
    expect(many[1]!.cas).toBe((await held(mc2, 'b'))!.cas);
  });

  it("a fetch that shows the CAS still copies L2's item into L1 for plain fetches", async () => {
    await ask(mc2, 'set c 3 0 2\r\nhi\r\n', 'STORED\r\n');
    const fetched = item(await orch.get(gets('c')));
    expect(fetched.cas).toBe((await held(mc2, 'c'))!.cas);
    expect((await held(mc1, 'c'))?.value).toBe('hi');
  });

  it("incr/decr and append answer with L2's CAS", async () => {
    await orch.store(set('n', '10'));
    const incr = item(await orch.arithmetic({ key: k('n'), incr: true, delta: 5n, want: ItemFacts.CAS }));
    expect(incr.value.toString()).toBe('15');
    expect(incr.cas).toBe((await held(mc2, 'n'))!.cas);
    expect((await held(mc1, 'n'))!.value).toBe('15');
    const appended = item(await orch.store(set('n', '0', { mode: 'append' })));
    expect(appended.cas).toBe((await held(mc2, 'n'))!.cas);
    expect(item(await orch.get(gets('n'))).cas).toBe(appended.cas);
  });
});

describe('L1L2 with an in-memory L1 (keepsNewCas)', () => {
  it("answers a fetch that shows the CAS from L1, synchronously, with L2's unique", () => {
    const l1 = new InMemoryHandler({ maxBytes: 1 << 22 });
    const l2 = new InMemoryHandler({ maxBytes: 1 << 22, casStart: 5000n });
    let l2Reads = 0;
    const counted: Handler = {
      get: (c) => (l2Reads++, l2.get(c)),
      store: (c) => l2.store(c),
      delete: (c) => l2.delete(c),
      arithmetic: (c) => l2.arithmetic(c),
      touch: (c) => l2.touch(c),
      flush: (d) => l2.flush(d),
      close: () => l2.close(),
      keepsNewCas: l2.keepsNewCas,
    };
    const orch = new L1L2(l1, counted);
    expect(l1.keepsNewCas).toBe(true);
    expect(orch.keepsNewCas).toBe(true);
    const stored = item(orch.store(set('a', 'v')));
    expect(stored.cas).toBe(l2.get({ key: k('a') })!.cas);
    const r = orch.get(gets('a'));
    expect(r).not.toBeInstanceOf(Promise);
    expect(item(r).cas).toBe(stored.cas);
    expect(l2Reads).toBe(0);
    const many = orch.getMany([gets('a'), { key: k('a') }]);
    expect(many).not.toBeInstanceOf(Promise);
    expect(l2Reads).toBe(0);
  });

  it("gives L1 the client command's key form (meta b), on writes and on copies of L2 hits", () => {
    const l1 = new InMemoryHandler({ maxBytes: 1 << 22 });
    const l2 = new InMemoryHandler({ maxBytes: 1 << 22 });
    const orch = new L1L2(l1, l2);
    const keyForm = (h: Handler, key: string) => item(h.get({ key: k(key), want: ItemFacts.KEY_FORM, noBump: true })).keyBinary;
    orch.store(set('w', 'v', { keyBinary: true }));
    expect(keyForm(l2, 'w')).toBe(true);
    expect(keyForm(l1, 'w')).toBe(true);
    l2.store(set('r', 'v', { keyBinary: true }));
    orch.get({ key: k('r'), keyBinary: true });
    expect(keyForm(l1, 'r')).toBe(true);
    orch.arithmetic({ key: k('c'), incr: true, delta: 1n, initial: 7n, keyBinary: true });
    expect(keyForm(l1, 'c')).toBe(true);
  });
});
