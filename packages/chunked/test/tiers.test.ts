/**
 * ChunkedHandler in a composition: the typed fields of the client's command
 * reach the item under its key (keyBinary, newCas), and two independent
 * instances chunk an L1 and an L2 over two stores with memcached's 1 MiB item
 * limit, so a 5 MB value goes through both tiers.
 */
import { describe, expect, it } from 'vitest';
import { ItemFacts, type ItemView, type StoreCommand } from '@cleave/protocol';
import { L1L2 } from '@cleave/tiers';
import { ChunkedHandler, parseChunkedHeader } from '../src/index.js';
import { Recording, isItem, memInner, randomBytes, rng, view } from './helpers.js';

const CS = 1000;
const MB5 = 5_000_000;

describe('ChunkedHandler passes the client command on to the item under its key', () => {
  /** The stores that reached the inner store under the client's key `k` (chunk items have keys of their own). */
  const underKey = (rec: Recording): StoreCommand[] => rec.storeCalls.filter((c) => c.key.toString('latin1') === 'k');

  it('keyBinary reaches every write of the item under the key: small, chunked, cas switch, add, append rewrite', async () => {
    const rec = new Recording(memInner());
    const h = new ChunkedHandler(rec, { chunkSize: CS });
    const k = () => view('k');
    const stored = (await h.store({ mode: 'set', key: k(), keyBinary: true, value: view('small'), flags: 0, exptime: 0 })) as ItemView;
    await h.store({
      mode: 'set',
      key: k(),
      keyBinary: true,
      value: randomBytes(3 * CS, rng(1)),
      flags: 0,
      exptime: 0,
      compareCas: stored.cas,
    });
    await h.store({ mode: 'append', key: k(), keyBinary: true, value: randomBytes(CS, rng(2)), flags: 0, exptime: 0 });
    await h.store({ mode: 'prepend', key: k(), keyBinary: true, value: view('x'), flags: 0, exptime: 0 });
    await h.delete({ key: k(), keyBinary: true });
    await h.store({ mode: 'add', key: k(), keyBinary: true, value: randomBytes(2 * CS, rng(3)), flags: 0, exptime: 0 });
    await h.store({ mode: 'append', key: k(), keyBinary: true, value: view('y'), flags: 0, exptime: 0 });
    const writes = underKey(rec);
    // set, cas switch, append rewrite, prepend rewrite, add, append rewrite.
    expect(writes.length).toBe(6);
    for (const w of writes) expect(w.keyBinary).toBe(true);
    const got = (await h.get({ key: k(), keyBinary: true, want: ItemFacts.KEY_FORM }))!;
    expect(parseChunkedHeader(got.value)).toBeUndefined();
    expect(got.value.length).toBe(2 * CS + 1);
  });

  it("newCas gives the item under the key the CAS asked for, chunked or not; keepsNewCas is the inner store's", async () => {
    const mem = memInner();
    const h = new ChunkedHandler(mem, { chunkSize: CS });
    expect(h.keepsNewCas).toBe(mem.keepsNewCas);
    for (const [size, cas] of [
      [10, 77n],
      [3 * CS, 78n],
    ] as const) {
      const r = (await h.store({
        mode: 'set',
        key: view('k'),
        value: randomBytes(size, rng(size)),
        flags: 0,
        exptime: 0,
        newCas: cas,
      })) as ItemView;
      expect(r.cas).toBe(cas);
      expect((await h.get({ key: view('k') }))!.cas).toBe(cas);
    }
    const r = (await h.store({ mode: 'append', key: view('k'), value: view('tail'), flags: 0, exptime: 0, newCas: 90n })) as ItemView;
    expect(r.cas).toBe(90n);
  });
});

describe('two ChunkedHandlers as L1 and L2 over two stores with a 1 MiB item limit', () => {
  const rig = () => {
    const m1 = memInner();
    const m2 = memInner();
    const l1 = new ChunkedHandler(m1);
    const l2 = new ChunkedHandler(m2);
    return { m1, m2, l1, l2, tiers: new L1L2(l1, l2) };
  };

  it('a 5 MB set is stored chunked in both tiers and read back whole from either', async () => {
    const { m1, m2, l1, l2, tiers } = rig();
    expect(l1.maxItemSize).toBe(16 * 1024 * 1024);
    expect((await l2.stats('settings'))!.item_size_max).toBe(16 * 1024 * 1024);
    const key = view('big');
    const v = randomBytes(MB5, rng(5));
    expect(isItem(await tiers.store({ mode: 'set', key, value: v, flags: 7, exptime: 0, unlinkOnFailure: true }))).toBe(true);
    for (const m of [m1, m2]) expect(parseChunkedHeader(m.get({ key, noBump: true })!.value)!.length).toBe(MB5);
    const hit = (await tiers.get({ key }))!;
    expect(hit.value.equals(v)).toBe(true);
    expect(hit.flags).toBe(7);
    // An L1 miss is answered by L2 and copied into L1, chunked again.
    await l1.flush(0);
    expect((await tiers.get({ key }))!.value.equals(v)).toBe(true);
    expect((await l1.get({ key }))!.value.equals(v)).toBe(true);
    await tiers.close();
  });

  it('gets then cas of a 5 MB value: the unique a client sees is accepted once, and a stale one is refused', async () => {
    const { tiers } = rig();
    const key = view('big');
    await tiers.store({ mode: 'set', key, value: randomBytes(MB5, rng(1)), flags: 0, exptime: 0 });
    const seen = (await tiers.get({ key, want: ItemFacts.CAS }))!;
    const next = randomBytes(MB5, rng(2));
    expect(isItem(await tiers.store({ mode: 'set', key, value: next, flags: 0, exptime: 0, compareCas: seen.cas }))).toBe(true);
    expect(await tiers.store({ mode: 'set', key, value: randomBytes(MB5, rng(3)), flags: 0, exptime: 0, compareCas: seen.cas })).toBe(
      'EXISTS',
    );
    expect((await tiers.get({ key }))!.value.equals(next)).toBe(true);
    await tiers.close();
  });
});
