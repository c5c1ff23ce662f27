/**
 * memproxy's LMDB flags (--l2-lmdb, --l1-lmdb and their -size and -sync): what a mistake is told, what --check
 * says would be served, and one memproxy per store. The built memproxy is run and its stderr compared whole.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawClient } from '@cleave/testkit';
import { loadConfig } from '../src/config.js';
import { runMemproxy, startMemproxy } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'memproxy-lmdb-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HINT = 'Run memproxy --help for the options.\n';

async function expectRefused(args: string[], ...lines: string[]): Promise<void> {
  const r = await runMemproxy(args);
  expect(r.stderr).toBe(lines.map((l) => `memproxy: ${l}\n`).join('') + HINT);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(2);
}

const store = join(dir, 'store');
const SMALLEST = 'the smallest LMDB store for items that large';

describe('LMDB flag values and combinations', () => {
  it('a path that is no path', () => expectRefused(['--l2-lmdb', ''], "--l2-lmdb must be a directory path, got ''"));

  it('a size below any store', async () => {
    await expectRefused(
      ['--l2-lmdb', store, '--l2-lmdb-size', '1m'],
      "--l2-lmdb-size must be a size of at least 8m (bytes, or with a k, m or g suffix: 1g, 10g), got '1m'",
    );
    await expectRefused(
      ['--l1-lmdb', store, '--l1-lmdb-size', 'big'],
      "--l1-lmdb-size must be a size of at least 8m (bytes, or with a k, m or g suffix: 1g, 10g), got 'big'",
    );
  });

  it('a size too small for --max-item-size names the minimum, the default included', async () => {
    await expectRefused(
      ['--l2-lmdb', store, '--l2-lmdb-size', '16m'],
      `--l2-lmdb-size (16m) must be at least 32m with --max-item-size 1m: ${SMALLEST}`,
    );
    await expectRefused(
      ['--l1-lmdb', store, '--max-item-size', '64m'],
      `--l1-lmdb-size (1g, the default) must be at least 2g with --max-item-size 64m: ${SMALLEST}`,
    );
  });

  it('-size and -sync need their store', async () => {
    await expectRefused(['--l2-lmdb-size', '1g'], '--l2-lmdb-size needs --l2-lmdb');
    await expectRefused(['--l2-lmdb-sync'], '--l2-lmdb-sync needs --l2-lmdb');
    await expectRefused(['--l1-lmdb-size', '1g', '--l1-lmdb-sync'], '--l1-lmdb-size needs --l1-lmdb', '--l1-lmdb-sync needs --l1-lmdb');
    // Each tier's flags are its own: the L2's do not size the single tier.
    await expectRefused(['--l1-lmdb', store, '--l2-lmdb-sync'], '--l2-lmdb-sync needs --l2-lmdb');
  });

  it('--l2-lmdb is the one L2', async () => {
    await expectRefused(['--l2-lmdb', store, '--l2-sock', '/run/mc.sock'], 'give --l2-lmdb or --l2-sock, not both: there is one L2');
    await expectRefused(
      ['--l2-lmdb', store, '--l2-enabled', '--l2-addr', '127.0.0.1:11311'],
      'give --l2-lmdb or --l2-addr, not both: there is one L2',
    );
    await expectRefused(['--l2-enabled'], '--l2-enabled needs --l2-sock, --l2-addr or --l2-lmdb');
    await expectRefused(
      ['--batch-port', '11312'],
      '--batch-port serves the L1L2Batch tiers and needs an L2 (--l2-enabled with --l2-sock or --l2-addr, or --l2-lmdb)',
    );
  });

  it('--l2-lmdb stands on its own, and is accepted with --l2-enabled, under either L1, with --batch-port', () => {
    for (const args of [
      ['--l2-lmdb', store],
      ['--l2-lmdb', store, '--l2-enabled'],
    ]) {
      expect(loadConfig(args)).toMatchObject({ l2Lmdb: store, l2Enabled: true, l2LmdbSize: 1 << 30, l2LmdbSync: false });
    }
    expect(
      loadConfig([
        '--l1-addr',
        '127.0.0.1:11311',
        '--chunked',
        '--l2-lmdb',
        store,
        '--l2-lmdb-size',
        '10g',
        '--l2-lmdb-sync',
        '--batch-port',
        '0',
      ]),
    ).toMatchObject({ l2Lmdb: store, l2LmdbSize: 10 * 2 ** 30, l2LmdbSync: true, batchPort: 0, chunked: true });
  });

  it('--l1-lmdb is the only tier', async () => {
    await expectRefused(['--l1-lmdb', store, '--l1-inmem'], '--l1-inmem cannot be combined with --l1-lmdb: the L1 is one or the other');
    await expectRefused(
      ['--l1-lmdb', store, '--l1-addr', '127.0.0.1:11311', '--l1-inmem-size', '64m'],
      '--l1-addr cannot be combined with --l1-lmdb: the L1 is one or the other',
      '--l1-inmem-size sizes the in-memory L1, and --l1-lmdb makes an LMDB store the only tier',
    );
    await expectRefused(
      ['--l1-lmdb', store, '--l2-enabled', '--l2-sock', '/run/mc.sock'],
      '--l1-lmdb cannot be combined with --l2-enabled, --l2-sock: it is the only tier (an LMDB store behind the in-memory L1 is --l2-lmdb alone)',
    );
    await expectRefused(
      ['--l1-lmdb', store, '--l2-lmdb', join(dir, 'other')],
      '--l1-lmdb cannot be combined with --l2-lmdb: it is the only tier (an LMDB store behind the in-memory L1 is --l2-lmdb alone)',
    );
    await expectRefused(
      ['--l1-lmdb', store, '--batch-port', '11312'],
      '--batch-port serves the L1L2Batch tiers and needs an L2; --l1-lmdb is a single tier',
    );
    await expectRefused(['--l1-lmdb', store, '--chunked'], '--chunked needs a memcached L1 (--l1-sock or --l1-addr)');
    // The in-memory L1's limit is not the store's: an item may be larger than the default --l1-inmem-size.
    expect(loadConfig(['--l1-lmdb', store, '--max-item-size', '128m', '--l1-lmdb-size', '4g'])).toMatchObject({
      l1Lmdb: store,
      maxItemSize: 128 << 20,
      l1LmdbSize: 4 * 2 ** 30,
    });
  });

  it('a config file takes the same names, and is named in the message', async () => {
    const yml = join(dir, 'lmdb.yml');
    writeFileSync(yml, `l2-lmdb: ${store}\nl2-lmdb-size: 16m\nl2-lmdb-sync: true\n`);
    await expectRefused(['--config', yml], `l2-lmdb-size in ${yml} (16m) must be at least 32m with --max-item-size 1m: ${SMALLEST}`);
    writeFileSync(yml, `l2-lmdb: ${store}\nl2-lmdb-size: 10g\nl2-lmdb-sync: true\n`);
    expect(loadConfig(['--config', yml])).toMatchObject({ l2Lmdb: store, l2LmdbSize: 10 * 2 ** 30, l2LmdbSync: true });
    const file = join(dir, 'a-file');
    writeFileSync(file, 'not a directory\n');
    writeFileSync(yml, `l1-lmdb: ${file}\n`);
    await expectRefused(['--config', yml], `l1-lmdb in ${yml}: ${file}: cannot hold an LMDB store: it exists and is not a directory`);
  });
});

describe('the store path, checked at start-up and by --check', () => {
  const file = join(dir, 'plain-file');

  it('a file, a missing parent, a path through a file', async () => {
    writeFileSync(file, 'not a directory\n');
    for (const check of [[], ['--check']]) {
      await expectRefused(['--l2-lmdb', file, ...check], `--l2-lmdb ${file}: cannot hold an LMDB store: it exists and is not a directory`);
      const missing = join(dir, 'no-such-dir', 'store');
      await expectRefused(
        ['--l1-lmdb', missing, ...check],
        `--l1-lmdb ${missing}: cannot hold an LMDB store: its parent directory ${join(dir, 'no-such-dir')} does not exist (ENOENT)`,
      );
      await expectRefused(
        ['--l2-lmdb', join(file, 'store'), ...check],
        `--l2-lmdb ${join(file, 'store')}: cannot hold an LMDB store: a part of the path is not a directory (ENOTDIR)`,
      );
    }
  });

  it('a directory memproxy may not write in, or create the store in', async () => {
    const locked = join(dir, 'read-only');
    mkdirSync(locked);
    chmodSync(dir, 0o755);
    chmodSync(locked, 0o555);
    // root writes anywhere: as root, run memproxy as nobody.
    const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : undefined;
    for (const [args, line] of [
      [['--l2-lmdb', locked], `--l2-lmdb ${locked}: cannot hold an LMDB store: cannot write in it: permission denied (EACCES)`],
      [
        ['--l1-lmdb', join(locked, 'store'), '--check'],
        `--l1-lmdb ${join(locked, 'store')}: cannot hold an LMDB store: cannot create it in ${locked}: permission denied (EACCES)`,
      ],
    ] as const) {
      const r = await runMemproxy([...args], as);
      expect(r.stderr).toBe(`memproxy: ${line}\n${HINT}`);
      expect(r.code).toBe(2);
    }
  });

  it('--check says what would be served, and creates nothing', async () => {
    const fresh = join(dir, 'fresh');
    const r = await runMemproxy([
      '-p',
      '11311',
      '--l2-lmdb',
      fresh,
      '--l2-lmdb-size',
      '10g',
      '--l2-lmdb-sync',
      '--batch-port',
      '11312',
      '--check',
    ]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(
      'memproxy: configuration OK: would listen on 127.0.0.1:11311 (loopback only; --host 0.0.0.0 to expose): ' +
        `in-memory L1 67108864 bytes, L2 LMDB ${fresh} 10737418240 bytes (sync), max item 1048576 bytes, max 1024 connections; ` +
        'L1L2Batch on 127.0.0.1:11312\n',
    );
    const one = await runMemproxy(['-p', '11311', '--l1-lmdb', fresh, '--max-item-size', '4m', '--check']);
    expect(one.stdout).toBe(
      'memproxy: configuration OK: would listen on 127.0.0.1:11311 (loopback only; --host 0.0.0.0 to expose): ' +
        `L1 LMDB ${fresh} 1073741824 bytes, max item 4194304 bytes, max 1024 connections\n`,
    );
    expect(existsSync(fresh)).toBe(false);
  });
});

describe('a store that cannot be opened', () => {
  it('is reported naming the flag, with status 1', async () => {
    const broken = join(dir, 'broken');
    // What LMDB opens as the store's file is a directory.
    mkdirSync(join(broken, 'data.mdb'), { recursive: true });
    const r = await runMemproxy(['-p', '0', '--l1-lmdb', broken]);
    expect(r.stderr).toMatch(new RegExp(`^memproxy: --l1-lmdb ${broken}: cannot open the store: \\S.*\n$`));
    expect(r.code).toBe(1);
  });
});

describe('--batch-port with an LMDB L2', () => {
  it('serves l1l2Batch over the same tiers: a bulk write reaches the store and leaves the L1 alone', async () => {
    const mp = await startMemproxy(['-p', '0', '--l2-lmdb', join(dir, 'batch'), '--batch-port', '0']);
    try {
      const batchPort = Number(/L1L2Batch on 127\.0\.0\.1:(\d+)/.exec(mp.stdout())?.[1]);
      const bulk = await RawClient.connect({ port: batchPort });
      const main = await RawClient.connect({ port: mp.port });
      try {
        expect((await bulk.exchange('set loaded 7 0 4\r\nbulk\r\n')).toString('latin1')).toBe('STORED\r\n');
        const stats = (await main.exchange('stats\r\n')).toString('latin1');
        expect(stats).toContain('\r\nSTAT curr_items 0\r\n');
        expect(stats).toContain('\r\nSTAT l2_curr_items 1\r\n');
        expect((await main.exchange('get loaded\r\n')).toString('latin1')).toBe('VALUE loaded 7 4\r\nbulk\r\nEND\r\n');
      } finally {
        bulk.close();
        main.close();
      }
    } finally {
      expect(await mp.stop()).toBe(0);
    }
  });
});

describe('one memproxy per store', () => {
  it('a second memproxy on the same path is refused, naming the flag; once the first is gone the path serves again', async () => {
    const shared = join(dir, 'shared');
    const first = await startMemproxy(['-p', '0', '--l2-lmdb', shared]);
    try {
      expect(first.stdout()).toContain(`in-memory L1 67108864 bytes, L2 LMDB ${shared} 1073741824 bytes,`);
      const second = await runMemproxy(['-p', '0', '--l1-lmdb', shared]);
      expect(second.stderr).toBe(`memproxy: --l1-lmdb ${shared}: another memproxy serves this store (one process per store)\n`);
      expect(second.code).toBe(1);
    } finally {
      expect(await first.stop()).toBe(0);
    }
    const again = await startMemproxy(['-p', '0', '--l1-lmdb', shared]);
    expect(await again.stop()).toBe(0);
  });
});
