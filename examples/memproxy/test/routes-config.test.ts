/**
 * memproxy --routes FILE: how an mcrouter config is read (src/routes/schema.ts), each mistake named by its path in
 * the file, and how the CLI refuses a bad file or a flag that does not apply (exit 2). Serving: routes-serve.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readRoutes, ROUTE_TYPES, RoutesError } from '../src/routes/schema.js';
import { runMemproxy } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-routes-conf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The problems reading `config` (an object, written as JSON, or YAML text) reports; none: []. */
function problems(config: unknown): readonly string[] {
  try {
    readRoutes(typeof config === 'string' ? config : JSON.stringify(config));
    return [];
  } catch (e) {
    if (e instanceof RoutesError) return e.problems;
    throw e;
  }
}

const POOLS = { main: { servers: ['127.0.0.1:11311', '127.0.0.1:11312'] }, backup: { servers: ['unix:/tmp/mc.sock'] } };
const TYPES = ROUTE_TYPES.join(', ');

describe('reading an mcrouter config', () => {
  it('reads pools, the short forms and every route type into one tree', () => {
    const spec = readRoutes(
      JSON.stringify({
        pools: { ...POOLS, weighted: { servers: ['[::1]:11313', 'localhost:11314:ascii:plain'], weights: [1, 0.5] } },
        route: {
          type: 'OperationSelectorRoute',
          operation_policies: {
            get: { type: 'ReplicaRoute', children: ['PoolRoute|main', 'PoolRoute|backup'], read: 'round-robin' },
            delete: 'AllSyncRoute|Pool|main',
          },
          default_policy: {
            type: 'FailoverRoute',
            children: [
              { type: 'PoolRoute', pool: 'main', shadows: [{ target: 'PoolRoute|weighted', key_fraction_range: [0, 0.1] }] },
              { type: 'WarmUpRoute', cold: 'PoolRoute|backup', warm: 'PoolRoute|weighted', exptime: 30 },
            ],
            failover_errors: ['connect_error', 'tko'],
            failover_policy: { type: 'DefaultFailoverPolicy', max_tries: 2 },
          },
        },
      }),
    );
    expect([...spec.pools.keys()].sort()).toEqual(['backup', 'main', 'weighted']);
    expect(spec.pools.get('backup')!.servers).toEqual([{ text: 'unix:/tmp/mc.sock', address: { path: '/tmp/mc.sock' } }]);
    expect(spec.pools.get('weighted')!.servers.map((s) => s.address)).toEqual([
      { host: '::1', port: 11313 },
      { host: 'localhost', port: 11314 },
    ]);
    const root = spec.route;
    if (root.type !== 'OperationSelectorRoute') throw new Error(root.type);
    // "Pool|main" is the pool's servers, one child each.
    expect(root.policies.delete).toEqual({
      type: 'AllSyncRoute',
      children: POOLS.main.servers.map((text) => ({
        type: 'Server',
        pool: 'main',
        server: { text, address: { host: '127.0.0.1', port: Number(text.split(':')[1]) } },
      })),
    });
    const fo = root.defaultPolicy;
    if (fo.type !== 'FailoverRoute') throw new Error(fo.type);
    expect(fo.maxTries).toBe(2);
    expect(fo.failoverErrors).toEqual(['connect_error', 'tko']);
    expect(fo.children[0]).toMatchObject({ type: 'PoolRoute', pool: 'main', hash: { func: 'Ch3', salt: '' } });
    // A pool with weights is placed by WeightedCh3 over them, as mcrouter does.
    expect(fo.children[1]).toMatchObject({
      warm: { type: 'PoolRoute', pool: 'weighted', hash: { func: 'WeightedCh3', weights: [1, 0.5] } },
    });
  });

  it('reads the same tree from YAML, and one routes entry with its aliases', () => {
    const yaml = [
      'pools:',
      '  main:',
      '    servers: ["127.0.0.1:11311"]',
      'routes:',
      '  - aliases: ["/a/b/"]',
      '    route: PoolRoute|main',
      '',
    ];
    const spec = readRoutes(yaml.join('\n'));
    expect(spec.aliases).toEqual(['/a/b/']);
    expect(spec.route).toMatchObject({ type: 'PoolRoute', pool: 'main' });
  });

  it('names the path of an unknown route type, with the types it may be', () => {
    expect(problems({ pools: POOLS, route: { type: 'FailoverRoute', children: ['PoolRoute|main', { type: 'BogusRoute' }] } })).toEqual([
      `route.children[1].type: unknown route type 'BogusRoute'; one of ${TYPES}`,
    ]);
    expect(problems({ pools: POOLS, route: 'FailoverRoute|AllSyncRote|Pool|main' })).toEqual([
      `route: unknown route type 'AllSyncRote'; did you mean 'AllSyncRoute'?; one of ${TYPES}`,
    ]);
  });

  it('names a missing field, an unknown field and a wrong value', () => {
    expect(problems({ pools: POOLS, route: { type: 'WarmUpRoute', cold: 'PoolRoute|main' } })).toEqual([
      'route: WarmUpRoute needs warm (a route (a string such as "PoolRoute|A", or an object with a type))',
    ]);
    expect(problems({ pools: POOLS, route: { type: 'HashRoute', children: 'Pool|main', hash_fnc: 'Ch3' } })).toEqual([
      'route.hash_fnc: unknown field of HashRoute; did you mean hash_func?',
    ]);
    expect(problems({ pools: POOLS, route: { type: 'LatestRoute', children: 'Pool|main', failover_count: 0 } })).toEqual([
      'route.failover_count: must be a whole number of at least 1, got 0',
    ]);
    expect(problems({ pools: { main: {} }, route: 'PoolRoute|main' })).toEqual([
      'pools.main: pool \'main\' needs servers (a list of "host:port" strings)',
    ]);
    expect(problems({ pools: { main: { servers: ['127.0.0.1'] } }, route: 'PoolRoute|main' })).toEqual([
      'pools.main.servers[0]: "127.0.0.1" is not a server address; give "host:port", "[ipv6]:port" or "unix:/path/to/socket"',
    ]);
  });

  it('reports a bad pool once, however many routes name it', () => {
    expect(problems({ pools: { main: { servers: [] } }, route: 'AllSyncRoute|Pool|main' })).toEqual([
      'pools.main.servers: must be a list of "host:port" strings, got []',
    ]);
    expect(
      problems({ pools: { main: { servers: 'x' } }, route: { type: 'AllSyncRoute', children: ['PoolRoute|main', 'Pool|main'] } }),
    ).toEqual(['pools.main.servers: must be a list of "host:port" strings, got "x"']);
  });

  it('names a pool that does not exist', () => {
    expect(problems({ pools: POOLS, route: 'PoolRoute|mian' })).toEqual(["route: no pool named 'mian'; did you mean 'main'?"]);
    expect(problems({ pools: POOLS, route: { type: 'AllSyncRoute', children: ['PoolRoute|main', 'Pool|elsewhere'] } })).toEqual([
      "route.children[1]: no pool named 'elsewhere'; pools: main, backup",
    ]);
  });

  it('refuses macros with a clear message', () => {
    expect(problems({ pools: POOLS, route: '@route(main)' })).toEqual([
      'route: "@route(main)" is an mcrouter macro; macros are not supported: write the config out',
    ]);
    expect(problems({ pools: POOLS, macros: { route: {} }, route: 'PoolRoute|main' })).toEqual([
      "macros: macros is not supported: macros are not supported: write the config out (e.g. with mcrouter's own config tools)",
    ]);
    expect(problems({ pools: { main: { servers: ['%host%:11211'] } }, route: 'PoolRoute|main' })).toEqual([
      'pools.main.servers[0]: "%host%:11211" is an mcrouter macro; macros are not supported: write the config out',
    ]);
  });

  it('reports a file that is neither JSON nor YAML', () => {
    expect(problems('pools:\n  main: [unclosed\n')).toEqual([expect.stringMatching(/^cannot be read as JSON or as YAML: /)]);
  });

  it('refuses what cleave cannot honour, and lists what it ignores', () => {
    expect(problems({ pools: { main: { servers: ['127.0.0.1:11311'], protocol: 'umbrella' } }, route: 'PoolRoute|main' })).toEqual([
      'pools.main.protocol: protocol is not supported: cleave talks to memcached in its own protocol; leave protocol out',
    ]);
    expect(
      problems({
        pools: POOLS,
        route: { type: 'PoolRoute', pool: 'main', shadows: [{ target: 'PoolRoute|backup', index_range: [0, 0] }] },
      }),
    ).toEqual([
      'route.shadows[0].index_range: cleave shadows every server of the pool; give [0, 1] or leave index_range out (use key_fraction_range for a share)',
    ]);
    expect(
      problems({
        pools: POOLS,
        routes: [
          { aliases: ['/a/'], route: 'PoolRoute|main' },
          { aliases: ['/b/'], route: 'PoolRoute|backup' },
        ],
      }),
    ).toEqual([
      'routes: memproxy serves one route: give route, or routes with one entry (keys with routing prefixes are not routed by alias)',
    ]);
    expect(
      problems({
        pools: POOLS,
        route: { type: 'AllSyncRoute', children: [{ type: 'PoolRoute', pool: 'main', hash: { salt: 'a' } }, 'PoolRoute|main'] },
      }),
    ).toEqual([
      "route.children[1]: pool 'main' is placed differently at route.children[0]; routes over one pool share its placement (hash_func, salt, weights)",
    ]);
    const spec = readRoutes(JSON.stringify({ pools: { main: { servers: ['127.0.0.1:11311'], region: 'west' } }, route: 'PoolRoute|main' }));
    expect(spec.warnings).toEqual(['pools.main.region: ignored (it changes nothing in cleave)']);
  });
});

describe('memproxy --routes: refusals (exit 2)', () => {
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('a bad file: every problem named by file and path, status 2', async () => {
    const f = file(
      'bad.json',
      JSON.stringify({ pools: POOLS, route: { type: 'FailoverRoute', children: ['PoolRoute|mian', { type: 'BogusRoute' }] } }),
    );
    const r = await runMemproxy(['--routes', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `memproxy: --routes ${f}: route.children[0]: no pool named 'mian'; did you mean 'main'?\n` +
        `memproxy: --routes ${f}: route.children[1].type: unknown route type 'BogusRoute'; one of ${TYPES}\n` +
        'Run memproxy --help for the options.\n',
    );
  });

  it('bad YAML and a file that is missing', async () => {
    const f = file('bad.yaml', 'pools:\n  main: [unclosed\n');
    const r = await runMemproxy(['--routes', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`^memproxy: --routes ${f}: cannot be read as JSON or as YAML: .+\\nRun memproxy --help for the options\\.\\n$`),
    );
    const missing = join(dir, 'none.json');
    const m = await runMemproxy(['--routes', missing]);
    expect(m.code).toBe(2);
    expect(m.stderr).toBe(`memproxy: --routes ${missing}: cannot read it: no such file\nRun memproxy --help for the options.\n`);
  });

  it('a macro', async () => {
    const f = file('macro.json', JSON.stringify({ pools: POOLS, route: '@route(main)' }));
    const r = await runMemproxy(['--routes', f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `memproxy: --routes ${f}: route: "@route(main)" is an mcrouter macro; macros are not supported: write the config out\n` +
        'Run memproxy --help for the options.\n',
    );
  });

  it('with the tiers flags or a nutcracker.yml --config', async () => {
    const f = file('ok.json', JSON.stringify({ pools: POOLS, route: 'PoolRoute|main' }));
    const r = await runMemproxy(['--routes', f, '--l1-addr', '127.0.0.1:11311', '--chunked']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'memproxy: --l1-addr cannot be combined with --routes: the routes file says where keys go (its pools and routes)\n' +
        'memproxy: --chunked cannot be combined with --routes: the routes file says where keys go (its pools and routes)\n' +
        'Run memproxy --help for the options.\n',
    );
    const yml = file('nutcracker.yml', 'alpha:\n  listen: 127.0.0.1:22121\n  servers:\n   - 127.0.0.1:11211:1\n');
    const n = await runMemproxy(['--config', yml, '--routes', f]);
    expect(n.code).toBe(2);
    expect(n.stderr).toBe(
      `memproxy: --routes cannot be combined with a nutcracker.yml --config ${yml}: give one or the other\nRun memproxy --help for the options.\n`,
    );
  });

  it('--check says what would be served, with the fields it ignores', async () => {
    const f = file(
      'check.json',
      JSON.stringify({ pools: { main: { servers: ['127.0.0.1:11311'], region: 'west' } }, route: 'PoolRoute|main' }),
    );
    const r = await runMemproxy(['--routes', f, '--port', '0', '--check']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      `memproxy: --routes ${f}: pools.main.region: ignored (it changes nothing in cleave)\n` +
        `memproxy: configuration OK: would listen on 127.0.0.1:0 (loopback only; --host 0.0.0.0 to expose): routes ${f}: ` +
        '1 pool (main: 1 server), root PoolRoute, max item 1048576 bytes\n',
    );
  });

  it('--help documents --routes', async () => {
    const r = await runMemproxy(['--help']);
    expect(r.stdout).toMatch(/--routes FILE {9}serve the route tree of an mcrouter config/);
  });
});
