/**
 * `memproxy recover`: the built CLI refills one real memcached from another while a writer keeps writing to the
 * target. Every source key ends on the target with the source's value, flags, key form and TTL, except keys the
 * target got newer values for (before or during the copy), which keep them; the summary counts what happened.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { ItemFacts } from '@cleave/protocol';
import { freePort, startMemcached, startSlowRelay, type MemcachedProcess } from '@cleave/testkit';
import { MEMPROXY, runMemproxy } from './spawn.js';

const DAY = 86_400;
const now = () => Math.floor(Date.now() / 1000);

interface Put {
  key: Buffer;
  keyBinary: boolean;
  value: Buffer;
  flags: number;
  /** Wire exptime. */
  exptime: number;
}

/** The source's items: ASCII keys, keys of bytes >= 0x80, keys that need base64 (stored base64), TTLs none, 1 h, 40 days. */
function sourceItems(): Put[] {
  const items: Put[] = [];
  const ttl = (i: number) => [0, 3600, now() + 40 * DAY][i % 3]!;
  for (let i = 0; i < 4000; i++) {
    items.push({
      key: Buffer.from(`user:${i}`),
      keyBinary: false,
      value: randomBytes(i % 700),
      flags: i % 5 === 0 ? 0 : i * 7919,
      exptime: ttl(i),
    });
  }
  for (let i = 0; i < 300; i++) {
    const key = Buffer.concat([Buffer.from([0x80 + (i % 128), 0xff, 0x25]), Buffer.from(`é-${i}`)]);
    items.push({ key, keyBinary: false, value: Buffer.from(`bin\r\n${i}\r\nEND\r\n`), flags: 0xffffffff - i, exptime: ttl(i + 1) });
  }
  for (let i = 0; i < 200; i++) {
    const key = Buffer.from(`spaced key\n${i}\0`);
    items.push({ key, keyBinary: true, value: randomBytes(50), flags: i, exptime: ttl(i + 2) });
  }
  return items;
}

async function putAll(h: MemcachedHandler, items: readonly Put[]): Promise<void> {
  const outcomes = await Promise.all(items.map((it) => h.store({ ...it, mode: 'set' })));
  expect(outcomes.every((o) => typeof o !== 'string')).toBe(true);
}

// Generous timeouts: the machine is busy with other tests.
const handler = (m: MemcachedProcess) =>
  new MemcachedHandler({ address: { host: m.host, port: m.port }, timeoutMs: 5000, connectTimeoutMs: 5000 });

/** Run `memproxy recover ARGS` to its end. */
function recover(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runMemproxy(['recover', ...args]);
}

/** The summary's figure for `label` ("  copied   4375"). */
function figure(stdout: string, label: string): number {
  const m = new RegExp(`^  ${label} +(\\d+)`, 'm').exec(stdout);
  if (m === null) throw new Error(`no '${label}' in the summary: ${stdout}`);
  return Number(m[1]);
}

describe('memproxy recover', () => {
  let source: MemcachedProcess;
  let target: MemcachedProcess;
  let src: MemcachedHandler;
  let dst: MemcachedHandler;

  beforeAll(async () => {
    [source, target] = await Promise.all([startMemcached(), startMemcached()]);
    src = handler(source);
    dst = handler(target);
  });
  afterAll(async () => {
    src?.close();
    dst?.close();
    await Promise.all([source?.stop(), target?.stop()]);
  });

  it('copies every key with its value, flags, key form and TTL; newer values on the target stay', async () => {
    const items = sourceItems();
    await putAll(src, items);
    // Already on the target with newer values: every 40th key.
    const before = items.filter((_, i) => i % 40 === 0).map((it) => ({ ...it, value: Buffer.from('newer, before the copy'), flags: 1 }));
    await putAll(dst, before);
    // Written to the target while the copy runs: every 13th key (not already there), one after another.
    const during = items
      .filter((_, i) => i % 13 === 0 && i % 40 !== 0)
      .map((it) => ({ ...it, value: Buffer.from('newer, during the copy'), flags: 2 }));

    const run = recover([
      '--from',
      `${source.host}:${source.port}`,
      '--to',
      `${target.host}:${target.port}`,
      '--in-flight',
      '16',
      '--timeout',
      '5s',
    ]);
    let exited = false;
    void run.then(() => (exited = true));
    const writer = (async () => {
      for (const it of during) {
        expect(typeof (await dst.store({ ...it, mode: 'set' }))).not.toBe('string');
        // Spread over the copy while it lasts; the rest at once after.
        if (!exited) await new Promise((r) => setImmediate(r));
      }
    })();
    const [r] = await Promise.all([run, writer]);

    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^memproxy recover: 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ finished in [\d.]+ s, \d+ keys\/s\n/);
    const listed = figure(r.stdout, 'keys listed');
    const copied = figure(r.stdout, 'copied');
    const newer = figure(r.stdout, 'skipped as newer');
    expect(listed).toBe(items.length);
    expect(figure(r.stdout, 'skipped gone')).toBe(0);
    expect(figure(r.stdout, 'failed')).toBe(0);
    expect(copied + newer).toBe(items.length);
    // The keys there before always; those written during the copy when the write came before the key's add.
    expect(newer).toBeGreaterThanOrEqual(before.length);
    expect(newer).toBeLessThanOrEqual(before.length + during.length);

    const expected = new Map(items.map((it) => [it.key.toString('latin1'), it]));
    for (const it of [...before, ...during]) expected.set(it.key.toString('latin1'), it);
    const [got, onSource] = await Promise.all(
      [dst, src].map((h) => Promise.all(items.map((it) => h.get({ key: it.key, noBump: true, want: ItemFacts.KEY_FORM })))),
    );
    let copiedSeen = 0;
    for (let i = 0; i < items.length; i++) {
      const want = expected.get(items[i]!.key.toString('latin1'))!;
      const have = got![i];
      expect(have, `key ${JSON.stringify(want.key.toString('latin1'))}`).toBeDefined();
      expect(have!.value.equals(want.value)).toBe(true);
      expect(have!.flags).toBe(want.flags >>> 0);
      expect(have!.keyBinary === true).toBe(want.keyBinary);
      if (want !== items[i]) continue;
      // A copy expires when the source's item does (memcached's clock ticks in whole seconds); one without a TTL never.
      const source = onSource![i]!;
      expect(source.value.equals(want.value)).toBe(true);
      if (want.exptime === 0) expect(have!.exptime).toBe(0);
      else expect(Math.abs(have!.exptime - source.exptime)).toBeLessThanOrEqual(2);
      // Over 30 days left: sent as an absolute time (as seconds it would read as a time long past).
      if (want.exptime > 30 * DAY) expect(have!.exptime - now()).toBeGreaterThan(39 * DAY);
      copiedSeen++;
    }
    // Copied: every key the target got no newer value for, and those written during the copy after their add.
    expect(copiedSeen).toBe(items.length - before.length - during.length);
    expect(copied - copiedSeen).toBeGreaterThanOrEqual(0);
    expect(copied - copiedSeen).toBeLessThanOrEqual(during.length);
  });

  it('a key deleted or expired on the source after it was listed counts as skipped gone', async () => {
    const [from, to] = await Promise.all([startMemcached(), startMemcached()]);
    // Requests to the source arrive 5 s late: the keys are listed (at 5 s) well before they are read (10 s or later).
    const relay = await startSlowRelay({ target: { port: from.port }, delayMs: 5000, direction: 'requests' });
    const f = handler(from);
    try {
      const item = (key: string, exptime: number) => ({
        key: Buffer.from(key),
        keyBinary: false,
        value: Buffer.from(key),
        flags: 3,
        exptime,
      });
      // TTL 7: live when listed, expired when read, with 2 s to spare each way (memcached's clock ticks in whole seconds).
      await putAll(f, [item('stays', 0), item('deleted', 0), item('expires', 7)]);
      const run = start(['--from', `127.0.0.1:${relay.port}`, '--to', `${to.host}:${to.port}`, '--timeout', '20s']);
      // The progress line once the listing ended and before any read arrived.
      await run.waitFor(/^memproxy recover: 3 listed, 0 copied.*$/m);
      expect(await f.delete({ key: Buffer.from('deleted') })).toBe('DELETED');
      const r = await run.exit;
      expect(r.code).toBe(0);
      expect(figure(r.stdout, 'keys listed')).toBe(3);
      expect(figure(r.stdout, 'copied')).toBe(1);
      expect(figure(r.stdout, 'skipped gone')).toBe(2);
      expect(figure(r.stdout, 'failed')).toBe(0);
    } finally {
      f.close();
      await relay.close();
      await Promise.all([from.stop(), to.stop()]);
    }
  }, 40_000);

  it('a source that dies mid-copy: the keys not read count as failed, the reason is said, exit 1', async () => {
    const [from, to] = await Promise.all([startMemcached(), startMemcached()]);
    const relay = await startSlowRelay({ target: { port: from.port }, delayMs: 3000, direction: 'requests' });
    const f = handler(from);
    try {
      await putAll(
        f,
        Array.from({ length: 200 }, (_, i) => ({
          key: Buffer.from(`k${i}`),
          keyBinary: false,
          value: Buffer.from('v'),
          flags: 0,
          exptime: 0,
        })),
      );
      const run = start(['--from', `127.0.0.1:${relay.port}`, '--to', `${to.host}:${to.port}`, '--timeout', '20s', '--give-up', '1s']);
      await run.waitFor(/^memproxy recover: 200 listed, 0 copied.*$/m);
      await from.stop();
      const r = await run.exit;
      expect(r.code).toBe(1);
      expect(figure(r.stdout, 'keys listed')).toBe(200);
      expect(figure(r.stdout, 'copied')).toBe(0);
      expect(figure(r.stdout, 'failed')).toBe(200);
      expect(r.stdout).toMatch(/ finished in /);
      expect(r.stderr).toMatch(
        new RegExp(`^memproxy recover: \\d+ keys failed reading from the source 127\\.0\\.0\\.1:${relay.port}: `, 'm'),
      );
      expect(r.stderr).toMatch(/^memproxy recover: running it again is safe/m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    } finally {
      f.close();
      await relay.close();
      await Promise.all([from.stop(), to.stop()]);
    }
  }, 40_000);
});

describe('memproxy recover refuses what it cannot do', () => {
  const HINT = 'Run memproxy recover --help for the options.\n';

  it('bad flags name the flag and what is allowed, exit 2', async () => {
    const r = await recover(['--from', 'localhost', '--in-flight', '0', '--bogus']);
    expect(r.stderr).toBe(
      'memproxy recover: unknown option --bogus\n' +
        "memproxy recover: --from must be HOST:PORT (such as 127.0.0.1:11211 or [::1]:11211) or a unix socket path starting with / or ./, got 'localhost'\n" +
        'memproxy recover: --in-flight must be a whole number from 1 to 4096, got 0\n' +
        'memproxy recover: --to is required: HOST:PORT (such as 127.0.0.1:11211 or [::1]:11211) or a unix socket path starting with / or ./\n' +
        HINT,
    );
    expect(r.stdout).toBe('');
    expect(r.code).toBe(2);
    const same = await recover(['--from', '127.0.0.1:11211', '--to', '127.0.0.1:11211']);
    expect(same.stderr).toBe(
      'memproxy recover: --from and --to name the same server (127.0.0.1:11211): the target must be another memcached\n' + HINT,
    );
    expect(same.code).toBe(2);
  });

  it('--help prints its own usage; memproxy --help mentions it', async () => {
    const r = await recover(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^memproxy recover — /);
    expect(r.stdout).toContain('--from ADDRESS');
    const main = await runMemproxy(['--help']);
    expect(main.stdout).toContain('memproxy recover --from HOST:PORT --to HOST:PORT');
  });

  it('a source that is down: a clear message, exit 1', async () => {
    const to = await startMemcached();
    try {
      const port = await freePort();
      const r = await recover(['--from', `127.0.0.1:${port}`, '--to', `${to.host}:${to.port}`]);
      expect(r.stderr).toBe(`memproxy recover: cannot list the source 127.0.0.1:${port} (--from): nothing listens there (ECONNREFUSED)\n`);
      expect(r.stdout).toBe('');
      expect(r.code).toBe(1);
    } finally {
      await to.stop();
    }
  });

  it('a target that is down: a clear message, exit 1', async () => {
    const port = await freePort();
    const r = await recover(['--from', '127.0.0.1:11211', '--to', `127.0.0.1:${port}`]);
    expect(r.stderr).toBe(
      `memproxy recover: cannot reach the target 127.0.0.1:${port} (--to): nothing listens there (connection refused)\n`,
    );
    expect(r.code).toBe(1);
  });
});

/** `memproxy recover ARGS` running: its stderr watched as it comes, and its end. */
function start(args: string[]): {
  waitFor: (re: RegExp) => Promise<void>;
  exit: Promise<{ code: number | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, [MEMPROXY, 'recover', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<() => void> = [];
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    for (const w of waiters.splice(0)) w();
  });
  const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const exit = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(kill);
      for (const w of waiters.splice(0)) w();
      resolve({ code, stdout, stderr });
    }),
  );
  const waitFor = async (re: RegExp) => {
    while (!re.test(stderr)) {
      if (child.exitCode !== null) throw new Error(`memproxy recover exited before ${re}: ${stdout} ${stderr}`);
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  return { waitFor, exit };
}
