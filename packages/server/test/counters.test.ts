/**
 * The server's command counters and stats groups against a real memcached
 * 1.6.18: the same requests go to both, then `stats` must show the same
 * counter values (cmd_get, get_hits, cas_badval, ...), whichever protocol
 * asked. The counters are the server's (the in-memory store counts none of
 * them), so these also hold for any other handler giving the same outcomes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { RawClient, binaryCases, binaryPacket, extras, metaCases, startMemcached, textCases, type MemcachedProcess } from '@cleave/testkit';
import { listenAndServe, type Server } from '../src/index.js';

/** Every counter memcached's general stats has that the server counts for each request. */
const COUNTERS = [
  'cmd_get',
  'cmd_set',
  'cmd_flush',
  'cmd_touch',
  'cmd_meta',
  'get_hits',
  'get_misses',
  'delete_misses',
  'delete_hits',
  'incr_misses',
  'incr_hits',
  'decr_misses',
  'decr_hits',
  'cas_misses',
  'cas_hits',
  'cas_badval',
  'touch_hits',
  'touch_misses',
  'store_too_large',
  // Not curr_items, get_expired, get_flushed: memcached's LRU crawler reclaims expired and flushed
  // items in the background, at its own pace, so what a later get finds differs (the store's figures).
  'total_items',
];

let memcached: MemcachedProcess;
let server: Server;
let ports: { theirs: number; ours: number };

beforeAll(async () => {
  memcached = await startMemcached();
  server = await listenAndServe({ listen: { port: 0 }, handler: new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 }) });
  ports = { theirs: memcached.port, ours: (server.addresses[0] as { port: number }).port };
});

afterAll(async () => {
  await server?.close();
  await memcached?.stop();
});

function parseStats(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const [tag, name, ...rest] = line.split(' ');
    if (tag === 'STAT' && name !== undefined) m.set(name, rest.join(' '));
  }
  return m;
}

async function stats(port: number, group = ''): Promise<Map<string, string>> {
  const c = await RawClient.connect({ port });
  try {
    return parseStats((await c.request(`stats${group ? ` ${group}` : ''}\r\n`, 'END\r\n')).toString('latin1'));
  } finally {
    c.close();
  }
}

async function counters(port: number): Promise<Record<string, string | undefined>> {
  const s = await stats(port);
  return Object.fromEntries(COUNTERS.map((n) => [n, s.get(n)]));
}

/** Run each step on one connection per server (the same bytes to both), waiting for each reply. */
async function runBoth(steps: Array<Buffer | string>, protocol: 'text' | 'binary'): Promise<void> {
  await Promise.all(
    [ports.theirs, ports.ours].map(async (port) => {
      const c = await RawClient.connect({ port });
      for (const s of steps) if (!c.closed) await c.exchange(s, protocol);
      c.close();
    }),
  );
}

async function expectSameCounters(what: string): Promise<void> {
  const [theirs, ours] = await Promise.all([counters(ports.theirs), counters(ports.ours)]);
  expect(ours, what).toEqual(theirs);
}

const bin = {
  get: (key: string, opcode = 0x00) => binaryPacket({ opcode, key }),
  set: (key: string, value: string, opcode = 0x01, cas?: bigint) =>
    binaryPacket({ opcode, key, value, extras: extras.store(0, 0), ...(cas !== undefined && { cas }) }),
  del: (key: string, cas?: bigint) => binaryPacket({ opcode: 0x04, key, ...(cas !== undefined && { cas }) }),
  arith: (opcode: number, key: string, initial: bigint, exptime: number) =>
    binaryPacket({ opcode, key, extras: extras.arith(1n, initial, exptime) }),
  touch: (opcode: number, key: string) => binaryPacket({ opcode, key, extras: extras.u32(100) }),
  append: (key: string, value: string) => binaryPacket({ opcode: 0x0e, key, value }),
  flush: () => binaryPacket({ opcode: 0x08 }),
};

describe('command counters match memcached 1.6.18', () => {
  // Sequential: each step adds to both servers' counters, compared after every one.
  it('after every text, meta and binary differential case, counters are equal', async () => {
    for (const [name, steps] of Object.entries(textCases)) {
      await runBoth(steps, 'text');
      await expectSameCounters(`text: ${name}`);
    }
    for (const [name, steps] of Object.entries(metaCases)) {
      await runBoth(steps, 'text');
      await expectSameCounters(`meta: ${name}`);
    }
    for (const [name, steps] of Object.entries(binaryCases)) {
      await runBoth(steps, 'binary');
      await expectSameCounters(`binary: ${name}`);
    }
  });

  it('text: get, gets, multi-get, gat, gats, touch, cas outcomes, incr/decr, delete, noreply forms', async () => {
    const steps = [
      'set a 0 0 1\r\n1\r\n',
      'set b 0 0 1\r\nx\r\n',
      'get a\r\n',
      'get nope\r\n',
      'gets a b nope1 nope2\r\n',
      'gat 100 a nope\r\n',
      'gats 100 a b c\r\n',
      'touch a 10\r\n',
      'touch nope 10\r\n',
      'cas a 0 0 1 999\r\n2\r\n',
      'cas nope 0 0 1 999\r\n2\r\n',
      'add a 0 0 1\r\n1\r\n',
      'append nope 0 0 1\r\n1\r\n',
      'prepend a 0 0 1\r\n1\r\n',
      'replace nope 0 0 1\r\n1\r\n',
      'incr a 5\r\n',
      'incr nope 5\r\n',
      'decr a 1\r\n',
      'decr nope 1\r\n',
      'incr b 1\r\n',
      'delete b\r\n',
      'delete b\r\n',
      'set c 0 0 1 noreply\r\n1\r\n',
      'delete c noreply\r\n',
      'incr nope 1 noreply\r\n',
      'touch nope 1 noreply\r\n',
      'flush_all noreply\r\n',
      'get a\r\n',
    ];
    for (const s of steps) {
      await runBoth([s], 'text');
      await expectSameCounters(s);
    }
  });

  it('text: a cas hit, with the CAS each server gave', async () => {
    await Promise.all(
      [ports.theirs, ports.ours].map(async (port) => {
        const c = await RawClient.connect({ port });
        await c.request('set k 0 0 1\r\n1\r\n', 'STORED\r\n');
        const cas = /VALUE k 0 1 (\d+)/.exec((await c.request('gets k\r\n', 'END\r\n')).toString())![1];
        await c.request(`cas k 0 0 1 ${cas}\r\n2\r\n`, 'STORED\r\n');
        await c.request(`cas k 0 0 1 ${cas}\r\n3\r\n`, 'EXISTS\r\n');
        c.close();
      }),
    );
    await expectSameCounters('cas hit then badval');
  });

  it('meta: mg (T, N, q, k), me, ms (C, I, modes), md (C, I, q), ma (N, modes), mn', async () => {
    const steps = [
      'ms m 1\r\n1\r\n',
      'mg m v\r\n',
      'mg nope v\r\n',
      'mg m T30 v\r\n',
      'mg nope T30\r\n',
      'mg viv N30 v\r\n',
      'mg viv N30 v\r\n',
      'mg nope q\r\nmn\r\n',
      'me m\r\n',
      'me nope\r\n',
      'ms m 1 C999\r\n2\r\n',
      'ms nope 1 C999\r\n2\r\n',
      'ms m 1 C1 I\r\n2\r\n',
      'ms m 1 MA\r\n2\r\n',
      'ms nope 1 MA\r\n2\r\n',
      'ms m 1 ME\r\n2\r\n',
      'md m C999\r\n',
      'md m I\r\n',
      'md m\r\n',
      'md m q\r\nmn\r\n',
      'ma cnt\r\n',
      'ma cnt N0 J5\r\n',
      'ma cnt\r\n',
      'ma cnt MD\r\n',
      'ma nope MD\r\n',
      'ma m\r\n',
    ];
    for (const s of steps) {
      await runBoth([s], 'text');
      await expectSameCounters(s);
    }
  });

  it('binary: gets, GAT, Touch, CAS stores, incr with an initial value, delete with CAS, append, flush', async () => {
    const steps = [
      bin.set('a', '1'),
      bin.get('a'),
      bin.get('nope'),
      bin.get('a', 0x0c),
      Buffer.concat([bin.get('nope', 0x09), binaryPacket({ opcode: 0x0a })]),
      bin.touch(0x1d, 'a'),
      bin.touch(0x1d, 'nope'),
      bin.touch(0x1c, 'a'),
      bin.touch(0x1c, 'nope'),
      bin.set('a', '2', 0x01, 999n),
      bin.set('nope', '2', 0x01, 999n),
      bin.set('nope', '2', 0x03, 999n),
      bin.arith(0x05, 'n', 10n, 0),
      bin.arith(0x05, 'n', 10n, 0),
      bin.arith(0x06, 'n', 10n, 0),
      bin.arith(0x05, 'nope', 0n, 0xffffffff),
      bin.arith(0x06, 'nope', 0n, 0xffffffff),
      bin.arith(0x05, 'a', 0n, 0),
      bin.del('a', 999n),
      bin.del('a'),
      bin.del('a'),
      bin.append('n', '1'),
      bin.append('nope', '1'),
      bin.flush(),
    ];
    for (const s of steps) {
      await runBoth([s], 'binary');
      await expectSameCounters(`binary opcode 0x${s[1]!.toString(16)}`);
    }
  });
});

/** One request's whole reply from each server, on a fresh connection. */
async function replies(data: Buffer | string, protocol: 'text' | 'binary'): Promise<[Buffer, Buffer]> {
  const one = async (port: number) => {
    const c = await RawClient.connect({ port });
    try {
      return await c.exchange(data, protocol);
    } finally {
      c.close();
    }
  };
  const [theirs, ours] = await Promise.all([one(ports.theirs), one(ports.ours)]);
  return [theirs, ours];
}

describe('stats groups match memcached 1.6.18', () => {
  it('general stats: every field cleave reports in memcached order, memcached fields first', async () => {
    const [theirs, ours] = await Promise.all([stats(ports.theirs), stats(ports.ours)]);
    const order = [...theirs.keys()];
    const shared = [...ours.keys()].filter((k) => theirs.has(k));
    // The fields both have come in memcached's order, before any field of cleave's own.
    expect(shared).toEqual(order.filter((k) => ours.has(k)));
    const names = [...ours.keys()];
    expect(names.slice(0, shared.length)).toEqual(shared);
    for (const n of [...COUNTERS, 'pid', 'uptime', 'time', 'version', 'curr_connections', 'bytes_read', 'limit_maxbytes', 'evictions'])
      expect(ours.has(n), n).toBe(true);
  });

  it('stats settings: memcached fields in memcached order', async () => {
    const [theirs, ours] = await Promise.all([stats(ports.theirs, 'settings'), stats(ports.ours, 'settings')]);
    const names = [...ours.keys()].filter((k) => theirs.has(k));
    expect(names).toEqual([...theirs.keys()].filter((k) => ours.has(k)));
    for (const n of ['maxbytes', 'maxconns', 'tcpport', 'verbosity', 'evictions', 'item_size_max', 'detail_enabled', 'idle_timeout'])
      expect(ours.has(n), n).toBe(true);
    expect(ours.get('tcpport')).toBe(String(ports.ours));
    expect(ours.get('maxconns')).toBe(theirs.get('maxconns'));
    expect(ours.get('item_size_max')).toBe(theirs.get('item_size_max'));
    expect(ours.get('stat_key_prefix')).toBe(':');
  });

  it('stats settings: verbosity follows the verbosity command', async () => {
    const c = await RawClient.connect({ port: ports.ours });
    try {
      await c.request('verbosity 1\r\n', 'OK\r\n');
      expect(parseStats((await c.request('stats settings\r\n', 'END\r\n')).toString()).get('verbosity')).toBe('1');
      await c.request('verbosity 0\r\n', 'OK\r\n');
    } finally {
      c.close();
    }
  });

  it('stats conns: listener, then each connection with addr, listen_addr, state, secs_since_last_cmd', async () => {
    const idle = await Promise.all([RawClient.connect({ port: ports.theirs }), RawClient.connect({ port: ports.ours })]);
    try {
      const [theirs, ours] = await replies('stats conns\r\n', 'text');
      // Same line shapes, ids and ports aside.
      const shape = (b: Buffer) =>
        b
          .toString('latin1')
          .replace(/STAT \d+:/g, 'STAT N:')
          .replace(/:\d+\r\n/g, ':P\r\n')
          .replace(/secs_since_last_cmd \d+/g, 'secs_since_last_cmd S')
          .replace(/conn_(read|new_cmd|waiting)/g, 'conn_idle');
      expect(shape(ours)).toBe(shape(theirs));
      expect(ours.toString()).toContain(`listen_addr tcp:127.0.0.1:${ports.ours}\r\n`);
    } finally {
      for (const c of idle) c.close();
    }
  });

  it('stats sizes, unknown groups, stats detail usage errors: the same bytes', async () => {
    for (const cmd of ['stats sizes\r\n', 'stats bogus\r\n', 'stats detail\r\n', 'stats detail foo\r\n', 'stats detailx\r\n']) {
      const [theirs, ours] = await replies(cmd, 'text');
      expect(ours.toString('latin1'), cmd).toBe(theirs.toString('latin1'));
    }
  });

  it('stats detail on, counting text and binary gets, sets and deletes (not meta), dump byte for byte, off, reset', async () => {
    const steps: Array<[Buffer | string, 'text' | 'binary']> = [
      ['stats detail on\r\n', 'text'],
      ['set user:1 0 0 1\r\n1\r\nset user:2 0 0 1\r\n2\r\nset sess:9 0 0 1\r\n9\r\nset plain 0 0 1\r\n1\r\n', 'text'],
      ['get user:1 user:3 sess:9 plain\r\ngets user:2\r\ngat 10 sess:1\r\n', 'text'],
      ['delete user:1\r\ndelete nope:1\r\nincr user:2 1\r\ntouch sess:9 10\r\n', 'text'],
      ['mg user:2 v\r\nms meta:1 1\r\n1\r\nmd user:2\r\n', 'text'],
      [
        Buffer.concat([bin.get('bin:a'), bin.set('bin:b', '1'), bin.del('bin:b'), bin.touch(0x1c, 'bin:b'), bin.append('user:9', 'x')]),
        'binary',
      ],
      ['set :empty 0 0 1\r\n1\r\nget a:b:c\r\n', 'text'],
      ['stats detail dump\r\n', 'text'],
      [binaryPacket({ opcode: 0x10, key: 'detail dump' }), 'binary'],
      [binaryPacket({ opcode: 0x10, key: 'detail off' }), 'binary'],
      ['get user:1\r\nstats detail dump\r\n', 'text'],
      [binaryPacket({ opcode: 0x10, key: 'detail onX' }), 'binary'],
      ['get user:1\r\nstats detail dump\r\n', 'text'],
      ['stats detail off\r\nstats reset\r\nstats detail dump\r\n', 'text'],
    ];
    for (const [data, protocol] of steps) {
      const [theirs, ours] = await replies(data, protocol);
      expect(ours.toString('latin1'), data.toString('latin1')).toBe(theirs.toString('latin1'));
    }
    await expectSameCounters('after stats reset');
  });

  it('binary STAT groups: the same packets (terminator after every known group, "Not found" alone for unknown ones)', async () => {
    for (const key of [
      '',
      'settings',
      'settingsX',
      'sizes',
      'items',
      'slabs',
      'conns',
      'bogus',
      'detail',
      'detail on',
      'detail off',
      'detail bogus',
      'resetX',
      'reset',
    ]) {
      const [theirs, ours] = await replies(binaryPacket({ opcode: 0x10, key, opaque: 7 }), 'binary');
      const packets = (b: Buffer) => {
        const out: string[] = [];
        for (let p = 0; p + 24 <= b.length; ) {
          const keyLen = b.readUInt16BE(p + 2);
          const body = b.readUInt32BE(p + 8);
          out.push(`${b.readUInt16BE(p + 6)}:${b.subarray(p + 24, p + 24 + keyLen).toString('latin1')}`);
          p += 24 + body;
        }
        return out;
      };
      const ourPackets = packets(ours);
      const theirPackets = packets(theirs);
      // Group contents differ (memcached has fields cleave does not); the framing must not.
      expect(ourPackets.at(-1), key).toBe(theirPackets.at(-1));
      expect(ourPackets.length === 1, key).toBe(theirPackets.length === 1);
      // Not found, or a terminator alone, or one stat and the terminator: byte for byte.
      if (theirPackets.length <= 1) expect(ours.toString('latin1'), key).toBe(theirs.toString('latin1'));
    }
  });
});

describe('server.metrics', () => {
  it('counts requests and latency per command kind; errors for handler failures', async () => {
    const timed = await listenAndServe({ listen: { port: 0 }, handler: new InMemoryHandler(), metrics: true });
    try {
      const port = (timed.addresses[0] as { port: number }).port;
      const c = await RawClient.connect({ port });
      await c.exchange('set a 0 0 1\r\n1\r\nget a\r\nget a b c\r\nmg a v\r\ndelete a\r\nversion\r\nbogus\r\n');
      c.close();
      const m = timed.metrics;
      const at = (name: string) => m.commands.indexOf(name);
      // The exchange's marker is one more mg.
      expect(m.requests[at('get')]).toBe(4);
      expect(m.requests[at('set')]).toBe(1);
      expect(m.requests[at('delete')]).toBe(1);
      expect(m.requests[at('version')]).toBe(1);
      expect(m.requests[at('error')]).toBe(1);
      expect(m.errors.every((e) => e === 0)).toBe(true);
      const width = m.latencyBuckets.length + 1;
      const gets = m.latencyCounts.subarray(at('get') * width, (at('get') + 1) * width);
      expect(gets.reduce((a, b) => a + b, 0)).toBe(4);
      expect(m.latencySum[at('get')]).toBeGreaterThan(0);
    } finally {
      await timed.close();
    }
  });

  it('without ServerOptions.metrics, no latency is recorded', async () => {
    const c = await RawClient.connect({ port: ports.ours });
    await c.exchange('get a\r\n');
    c.close();
    expect(server.metrics.requests[server.metrics.commands.indexOf('get')]).toBeGreaterThan(0);
    expect(server.metrics.latencyCounts.every((n) => n === 0)).toBe(true);
    expect(server.metrics.latencySum.every((n) => n === 0)).toBe(true);
  });

  it('a handler failure counts an error for its kind', async () => {
    const failing = new InMemoryHandler();
    failing.get = () => {
      throw new Error('boom');
    };
    const s = await listenAndServe({ listen: { port: 0 }, handler: failing, onError: () => {} });
    try {
      const c = await RawClient.connect({ port: (s.addresses[0] as { port: number }).port });
      expect((await c.request('get a\r\n', '\r\n')).toString()).toBe('SERVER_ERROR internal error\r\n');
      c.close();
      const get = s.metrics.commands.indexOf('get');
      expect(s.metrics.errors[get]).toBe(1);
      expect(s.metrics.requests[get]).toBe(1);
    } finally {
      await s.close();
    }
  });
});
