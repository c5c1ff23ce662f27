/**
 * The handler against real memcached 1.6.18: the same text and meta commands
 * go to both, and the replies must be byte-identical (CAS uniques included).
 * The project's own parser turns each command into what the handler is
 * given; a tiny encoder in this file stands in for the server's, so only the
 * handler's semantics (and the typed fields the parser fills in) are
 * compared.
 */
import { RawClient, startMemcached, type MemcachedProcess } from '@cleave/testkit';
import { describe, expect, it } from 'vitest';
import type { ItemView } from '@cleave/protocol';
import type { InMemoryHandler, InMemoryHandlerOptions } from '../src/index.js';
import { STORE_KINDS, parsed } from './helpers.js';

const k = (s: string) => Buffer.from(s, 'latin1');

/** Run one command (line + data block) on the handler; answer as memcached would. */
function runText(h: InMemoryHandler, raw: Buffer): Buffer {
  const line = raw.subarray(0, raw.indexOf('\r\n')).toString('latin1');
  const t = line.split(' ');
  const name = t[0]!;
  const r = parsed(raw);
  const out: Buffer[] = [];
  const value = (it: ItemView, withCas: boolean) => {
    out.push(k(`VALUE ${it.key.toString('latin1')} ${it.flags} ${it.value.length}${withCas ? ` ${it.cas}` : ''}\r\n`), it.value, k('\r\n'));
  };
  switch (r.cmd) {
    case 'store': {
      const o = h.store(r);
      if (name === 'ms') {
        const code: Record<string, string> = { NOT_STORED: 'NS', EXISTS: 'EX', NOT_FOUND: 'NF' };
        const c = t.slice(3).includes('c');
        if (typeof o === 'string') return k(`${code[o] ?? o}${c ? ' c0' : ''}\r\n`);
        return k(`HD${c ? ` c${o.cas}` : ''}\r\n`);
      }
      const text: Record<string, string> = {
        TOO_LARGE: 'SERVER_ERROR object too large for cache',
        OUT_OF_MEMORY: 'SERVER_ERROR out of memory storing object',
      };
      return k(`${typeof o === 'string' ? (text[o] ?? o) : 'STORED'}\r\n`);
    }
    case 'get': {
      const it = h.get(r);
      if (name === 'mg') return metaGetReply(it, t.slice(2));
      if (it) value(it, r.withCas);
      out.push(k('END\r\n'));
      return Buffer.concat(out);
    }
    case 'mget':
      for (const key of r.keys) {
        const it = h.get(r.touch === undefined ? { key } : { key, touch: r.touch });
        if (it) value(it, r.withCas);
      }
      out.push(k('END\r\n'));
      return Buffer.concat(out);
    case 'incr':
    case 'decr': {
      const o = h.arithmetic(r);
      if (o === 'NON_NUMERIC') return k('CLIENT_ERROR cannot increment or decrement non-numeric value\r\n');
      return Buffer.concat([typeof o === 'string' ? k(o) : o.value, k('\r\n')]);
    }
    case 'delete': {
      const o = h.delete(r);
      if (name === 'md') return k(`${o === 'DELETED' ? 'HD' : o === 'EXISTS' ? 'EX' : 'NF'}\r\n`);
      return k(`${o}\r\n`);
    }
    case 'touch':
      return k(`${h.touch(r)}\r\n`);
    case 'flush_all':
      h.flush(r.delay);
      return k('OK\r\n');
    default:
      throw new Error(`the shim does not answer ${line}`);
  }
}

/** An mg reply for the flags v c f s t h, in memcached's order (request order, then Z X W). */
function metaGetReply(it: ItemView | undefined, flags: string[]): Buffer {
  if (it === undefined) return k('EN\r\n');
  const now = Math.floor(Date.now() / 1000);
  const v = flags.includes('v');
  let line = v ? `VA ${it.value.length}` : 'HD';
  for (const f of flags) {
    if (f === 'c') line += ` c${it.cas}`;
    else if (f === 'f') line += ` f${it.flags}`;
    else if (f === 's') line += ` s${it.value.length}`;
    else if (f === 't') line += ` t${it.exptime === 0 ? -1 : it.exptime - now}`;
    else if (f === 'h') line += ` h${it.fetched === true ? 1 : 0}`;
  }
  if (it.tokenSent === true) line += ' Z';
  if (it.stale === true) line += ' X';
  if (it.win === true) line += ' W';
  return Buffer.concat([k(line + '\r\n'), ...(v ? [it.value, k('\r\n')] : [])]);
}

/** The store's own counters (the command counters are the server's: packages/server/test/counters.test.ts). */
const STAT_NAMES = ['get_expired', 'get_flushed', 'store_too_large', 'curr_items', 'total_items'];

class Pair {
  readonly h: InMemoryHandler;
  constructor(
    readonly client: RawClient,
    build: (options: InMemoryHandlerOptions) => InMemoryHandler,
  ) {
    this.h = build({ sweepIntervalMs: 0 });
  }
  /** Send a command to both; return [memcached's reply, the handler's reply]. */
  async send(cmd: string | Buffer): Promise<[string, string]> {
    const raw = typeof cmd === 'string' ? Buffer.from(cmd, 'latin1') : cmd;
    const head = raw
      .subarray(0, raw.indexOf(' ') > 0 ? raw.indexOf(' ') : raw.length)
      .toString('latin1')
      .trim();
    const terminator = /^(get|gets|gat|gats)$/.test(head) ? 'END\r\n' : '\r\n';
    const real = await this.client.request(raw, terminator);
    const ours = runText(this.h, raw);
    return [real.toString('latin1'), ours.toString('latin1')];
  }
  async same(cmd: string | Buffer): Promise<string> {
    const [real, ours] = await this.send(cmd);
    expect(ours, typeof cmd === 'string' ? cmd : cmd.subarray(0, 60).toString('latin1')).toBe(real);
    return real;
  }
  async stats(): Promise<[Record<string, number>, Record<string, number>]> {
    const text = (await this.client.request('stats\r\n', 'END\r\n')).toString('latin1');
    const real: Record<string, number> = {};
    for (const l of text.split('\r\n')) {
      const [, n, v] = l.split(' ');
      if (n && STAT_NAMES.includes(n)) real[n] = Number(v);
    }
    const all = this.h.stats('')!;
    const ours: Record<string, number> = {};
    for (const n of STAT_NAMES) ours[n] = Number(all[n]);
    return [real, ours];
  }
}

describe.each(STORE_KINDS)('differential against memcached 1.6.18, $kind', ({ build }) => {
  // memcached keeps one CAS counter per process, so each test starts its own.
  let own: MemcachedProcess | undefined;
  async function isolated(): Promise<Pair> {
    own = await startMemcached();
    const c = await RawClient.connect({ port: own.port });
    return new Pair(c, build);
  }
  async function done(p: Pair): Promise<void> {
    p.client.close();
    p.h.close();
    await own?.stop();
    own = undefined;
  }

  it('incr/decr: accepted value forms, wrap, floor, padding and replies', async () => {
    const p = await isolated();
    try {
      const values = [
        ' 5',
        '5 ',
        '5x',
        '-1',
        '+5',
        '-0',
        '0000000000000000000000007',
        '18446744073709551615',
        '18446744073709551616',
        '',
        '5 abc',
        '-18446744073709551615',
        '999',
        'abc',
        '\t7',
      ];
      for (const v of values) {
        await p.same(`set n 3 0 ${v.length}\r\n${v}\r\n`);
        await p.same('incr n 1\r\n');
        await p.same('gets n\r\n');
        await p.same('decr n 3\r\n');
        await p.same('gets n\r\n');
      }
      await p.same('set n 0 0 2\r\n10\r\n');
      await p.same('decr n 1\r\n');
      await p.same('get n\r\n');
      await p.same('incr n 18446744073709551615\r\n');
      await p.same('get n\r\n');
      await p.same('decr n 100\r\n');
      await p.same('incr nope 1\r\n');
      await p.same('decr nope 1\r\n');
      const [real, ours] = await p.stats();
      // memcached rewrites a counter in place only while no other thread holds
      // the item; when its LRU maintainer does, it links a new item instead, so
      // its total_items is timing-dependent here.
      delete real.total_items;
      delete ours.total_items;
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });

  it('a counter in a chunked (over 512 KiB) item is non-numeric', async () => {
    const p = await isolated();
    try {
      for (const n of [524228, 524229]) {
        const v = Buffer.alloc(n, 0x20);
        v[0] = 0x35;
        await p.same(Buffer.concat([Buffer.from(`set k 0 0 ${n}\r\n`), v, Buffer.from('\r\n')]));
        await p.same('incr k 1\r\n');
      }
    } finally {
      await done(p);
    }
  });

  it('item size limit and append/prepend past it; a failed set drops the old item', async () => {
    const p = await isolated();
    try {
      const block = (cmd: string, n: number, fill = 0x31) =>
        Buffer.concat([Buffer.from(`${cmd} ${n}\r\n`), Buffer.alloc(n, fill), Buffer.from('\r\n')]);
      await p.same(block('set k 0 0', 1048516));
      await p.same(block('set k 0 0', 1048517));
      await p.same('get k\r\n');
      await p.same(block('set k 5 0', 1048512));
      await p.same(block('set k 5 0', 1048513));
      await p.same(block('set a 0 0', 1_000_000));
      await p.same(block('append a 0 0', 48_000));
      await p.same(block('append a 0 0', 100_000));
      await p.same(block('prepend a 0 0', 516));
      await p.same(block('prepend a 0 0', 1));
      await p.same('set b 0 0 1\r\nx\r\n');
      await p.same(block('add b 0 0', 1048576));
      await p.same(block('replace b 0 0', 1048576));
      await p.same('get b\r\n');
      await p.same(block('set b 0 0', 1048576));
      await p.same('get b\r\n');
      const [real, ours] = await p.stats();
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });

  it('exptime: negative, absolute past and future, the 30-day boundary, relative expiry', async () => {
    const p = await isolated();
    try {
      const now = Math.floor(Date.now() / 1000);
      await p.same('set neg 0 -1 1\r\nx\r\n');
      await p.same('get neg\r\n');
      await p.same(`set past 0 ${now - 100} 1\r\nx\r\n`);
      await p.same('get past\r\n');
      await p.same(`set future 0 ${now + 100} 1\r\nx\r\n`);
      await p.same('get future\r\n');
      await p.same('set d30 0 2592000 1\r\nx\r\n');
      await p.same('get d30\r\n');
      await p.same('set d30p 0 2592001 1\r\nx\r\n');
      await p.same('get d30p\r\n');
      await p.same('set rel 0 2 1\r\nx\r\n');
      await p.same('set keep 0 0 1\r\nx\r\n');
      await p.same('touch keep 2\r\n');
      await p.same('gat 2 future\r\n');
      await p.same('touch nope 2\r\n');
      await p.same('get rel keep future\r\n');
      await new Promise((r) => setTimeout(r, 3100));
      await p.same('get rel keep future d30\r\n');
      await p.same('touch rel 10\r\n');
      await p.same('set keep 0 -1 1\r\ny\r\n');
      await p.same('get keep\r\n');
      const [real, ours] = await p.stats();
      // total_items/curr_items and the expired counters depend on when memcached's crawler runs; the rest must agree.
      for (const n of ['curr_items', 'total_items', 'get_expired']) {
        delete real[n];
        delete ours[n];
      }
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });

  it('cas: match, mismatch, zero, missing; CAS uniques identical to memcached', async () => {
    const p = await isolated();
    try {
      await p.same('set k 0 0 1\r\na\r\n');
      const reply = await p.same('gets k\r\n');
      const cas = /VALUE k 0 1 (\d+)/.exec(reply)![1];
      await p.same(`cas k 0 0 1 ${BigInt(cas!) + 1n}\r\nb\r\n`);
      await p.same(`cas k 0 0 1 ${cas}\r\nc\r\n`);
      await p.same(`cas k 0 0 1 ${cas}\r\nd\r\n`);
      await p.same('cas k 0 0 1 0\r\ne\r\n');
      await p.same('cas nope 0 0 1 1\r\nf\r\n');
      await p.same('gets k\r\n');
      await p.same('append k 0 0 2\r\nzz\r\n');
      await p.same('prepend k 0 0 2\r\naa\r\n');
      await p.same('gets k\r\n');
      await p.same('add k 0 0 1\r\nx\r\n');
      await p.same('replace k 9 0 1\r\nr\r\n');
      await p.same('replace nope 0 0 1\r\nr\r\n');
      await p.same('append nope 0 0 1\r\nr\r\n');
      await p.same('gets k nope\r\n');
      await p.same('delete k\r\n');
      await p.same('delete k\r\n');
      const [real, ours] = await p.stats();
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });

  it('flush_all now and delayed; items set after a delayed flush_all but before it fires are flushed', async () => {
    const p = await isolated();
    try {
      await p.same('set a 0 0 1\r\n1\r\n');
      await p.same('flush_all\r\n');
      await p.same('get a\r\n');
      await p.same('set b 0 0 1\r\n2\r\n');
      await p.same('gets b\r\n');
      await p.same('flush_all 2\r\n');
      await p.same('get b\r\n');
      // Well inside the delay: memcached's clock ticks each second at a phase of its own, so an item set a
      // whole second after `flush_all 2` may fall after the flush's threshold there and before it here.
      await new Promise((r) => setTimeout(r, 300));
      await p.same('set c 0 0 1\r\n3\r\n');
      await new Promise((r) => setTimeout(r, 2900));
      await p.same('get b c\r\n');
      await p.same('set d 0 0 1\r\n4\r\n');
      await p.same('gets d\r\n');
      const [real, ours] = await p.stats();
      // memcached's LRU crawler may reclaim flushed items before the get finds them.
      for (const n of ['curr_items', 'get_flushed']) {
        delete real[n];
        delete ours[n];
      }
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });

  it('meta: invalidation, stale CAS stores, win/token flags, vivify and recache', async () => {
    const p = await isolated();
    try {
      await p.same('set k 0 0 1\r\na\r\n');
      await p.same('set k 0 100 1\r\nb\r\n');
      await p.same('mg k c v\r\n');
      await p.same('ms k 1 C1 I c T0\r\nz\r\n');
      await p.same('mg k c v f\r\n');
      await p.same('mg k c v\r\n');
      await p.same('ms k 1 C1 I c\r\ny\r\n');
      await p.same('ms k 1 C99 I c\r\ny\r\n');
      await p.same('ms k 1 C4 c\r\nw\r\n');
      await p.same('mg k c v s\r\n');
      await p.same('ms k 1 T0 c\r\nq\r\n');
      await p.same('mg k c h\r\n');
      await p.same('mg k c h\r\n');
      await p.same('md k I T30\r\n');
      await p.same('mg k c v\r\n');
      await p.same('mg k c v\r\n');
      await p.same('md k I\r\n');
      await p.same('mg k c\r\n');
      await p.same('md k C1\r\n');
      await p.same('md k\r\n');
      await p.same('mg k c\r\n');
      await p.same('mg v N30 c v h\r\n');
      await p.same('mg v N30 c v h\r\n');
      await p.same('ms v 1 T100\r\nq\r\n');
      await p.same('mg v c v R30\r\n');
      await p.same('mg v c v R200\r\n');
      await p.same('mg v c v R200\r\n');
      await p.same('mg v c\r\n');
      await p.same('mg nope N0 c v\r\n');
      await p.same('mg nope c v\r\n');
      await p.same('ms m 1 MA\r\nx\r\n');
      await p.same('ms m 1 ME\r\nx\r\n');
      await p.same('ms m 1 ME\r\ny\r\n');
      await p.same('ms m 1 MA C1\r\ny\r\n');
      await p.same('mg m v\r\n');
      const [real, ours] = await p.stats();
      expect(ours).toEqual(real);
    } finally {
      await done(p);
    }
  });
});
