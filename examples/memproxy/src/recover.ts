// memproxy recover: refill a memcached (a replica that came back empty) from a healthy peer while traffic goes on.
// Keys come from the source's `lru_crawler metadump`; each is read with a meta get (value, flags, TTL left, key
// form) and written to the target with an add-only meta set, so a write made on the target during the copy is
// never overwritten. Both sides are spoken to through MemcachedHandler (pipelined meta commands on a few
// connections); only the listing has a connection of its own, read as it comes.

import net from 'node:net';
import { formatAddress, parseAddress, type Address } from '@cleave/core';
import { MemcachedHandler } from '@cleave/handler-memcached';
import { encodeTextRequest, HandlerError, ItemFacts, remainingExptime, type ItemView, type StoreOutcome } from '@cleave/protocol';
import { ConfigError, duration, INVALID, readArgs, show, whole, type Given, type Option, type Value } from './config.js';

export const RECOVER_HELP = `memproxy recover — refill a memcached from a healthy peer while traffic continues

Usage: memproxy recover --from ADDRESS --to ADDRESS [options]

      --from ADDRESS        the healthy memcached to copy from: HOST:PORT ([::1]:11211 for
                            IPv6) or a unix socket path (/path or ./path)
      --to ADDRESS          the memcached to refill (a replica that came back empty)
      --in-flight N         keys being copied at once (default 64)
      --conns N             connections to each of the two servers (default 2)
      --timeout TIME        how long one request may take (default 1s)
      --give-up TIME        stop once one server has failed every request for this long
                            (default 10s)
  -h, --help                show this help

Every key the source's lru_crawler metadump lists is read from the source (mg: value, flags,
remaining TTL; no LRU bump) and added to the target (ms in add mode, same flags and TTL). A key
the target holds already was written there since it came back: it keeps its newer value and
counts as skipped as newer. A key deleted or expired on the source since it was listed counts
as skipped gone. Progress goes to stderr each second; the summary to stdout at the end.
Exit status: 0 when every key was copied or skipped, 1 when any failed (running it again is
safe: adds never overwrite), 2 for a bad option.
`;

const ADDRESS: Value = {
  allowed: 'HOST:PORT (such as 127.0.0.1:11211 or [::1]:11211) or a unix socket path starting with / or ./',
  read: (raw) => {
    if (typeof raw !== 'string') return INVALID;
    try {
      return parseAddress(raw.trim());
    } catch {
      return INVALID;
    }
  },
};

const OPTIONS: readonly Option[] = [
  { name: 'from', value: ADDRESS },
  { name: 'to', value: ADDRESS },
  { name: 'in-flight', value: whole(1, 4096) },
  { name: 'conns', value: whole(1, 64) },
  { name: 'timeout', value: duration('a duration of more than 0, such as 1s or 250ms (a plain number is seconds)', true) },
  { name: 'give-up', value: duration('a duration of more than 0, such as 10s or 1m (a plain number is seconds)', true) },
  { name: 'help', short: 'h' },
];

export interface RecoverConfig {
  from: Address;
  to: Address;
  inFlight: number;
  conns: number;
  /** Milliseconds. */
  timeout: number;
  giveUp: number;
}

/** `memproxy recover`'s arguments (after `recover`), checked; throws ConfigError naming each flag at fault. */
export function loadRecoverConfig(argv: readonly string[]): RecoverConfig | 'help' {
  const { flags, problems } = readArgs(argv, OPTIONS, 'memproxy recover');
  if (flags.has('help')) return 'help';
  const read = (name: string, g: Given | undefined, dflt: unknown): unknown => {
    if (g === undefined) return dflt;
    const value = OPTIONS.find((o) => o.name === name)!.value!;
    const v = value.read(g.raw);
    if (v === INVALID) problems.push(`${g.label} must be ${value.allowed}, got ${show(g.raw)}`);
    return v;
  };
  const c = {
    from: read('from', flags.get('from'), undefined),
    to: read('to', flags.get('to'), undefined),
    inFlight: read('in-flight', flags.get('in-flight'), 64),
    conns: read('conns', flags.get('conns'), 2),
    timeout: read('timeout', flags.get('timeout'), 1000),
    giveUp: read('give-up', flags.get('give-up'), 10_000),
  } as RecoverConfig;
  for (const name of ['from', 'to'] as const) {
    if (!flags.has(name)) problems.push(`--${name} is required: ${ADDRESS.allowed}`);
  }
  if (problems.length === 0 && formatAddress(c.from) === formatAddress(c.to))
    problems.push(`--from and --to name the same server (${formatAddress(c.from)}): the target must be another memcached`);
  if (problems.length > 0) throw new ConfigError(problems);
  return c;
}

// ---------------------------------------------------------------------------
// The listing: `lru_crawler metadump`, read line by line as memcached sends it.
// ---------------------------------------------------------------------------

/** Why the listing could not be had or did not finish, in words. */
class ListingError extends Error {}

const HEX = /^[0-9a-fA-F]{2}$/;

/** metadump's key: bytes other than letters, digits and -._~ are %XX. */
function uriDecodeKey(text: string): Buffer {
  if (!text.includes('%')) return Buffer.from(text, 'latin1');
  const out = Buffer.allocUnsafe(text.length);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && HEX.test(text.slice(i + 1, i + 3))) {
      out[n++] = Number.parseInt(text.slice(i + 1, i + 3), 16);
      i += 2;
    } else {
      out[n++] = c;
    }
  }
  return out.subarray(0, n);
}

/** The key of a `key=<uriencoded> exp=<-1|abs> la=... cas=... fetch=... cls=... size=...` line, or undefined when the line is not one. */
function dumpedKey(line: string): Buffer | undefined {
  const m = /^key=(\S+) exp=-?\d+ /.exec(line);
  return m === null ? undefined : uriDecodeKey(m[1]!);
}

/** What a socket error means, in words. */
function socketProblem(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'nothing listens there (ECONNREFUSED)';
    case 'ENOENT':
      return 'no such socket (ENOENT)';
    case 'ECONNRESET':
      return 'it reset the connection (ECONNRESET)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `cannot be reached (${err.code})`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `the host name does not resolve (${err.code})`;
    default:
      return err.message;
  }
}

/**
 * One metadump of `mode` ('hash' or 'all') from `addr`: each key goes to `onKey` as it is read, resolves with
 * the number listed once END came, or with the line memcached refused the dump with (BUSY, BADCLASS, ERROR ...).
 * Rejects with a ListingError when the connection fails or goes silent for `timeoutMs`.
 */
function metadump(addr: Address, mode: string, timeoutMs: number, onKey: (key: Buffer) => void): Promise<number | string> {
  const request = encodeTextRequest({
    protocol: 'text',
    quiet: false,
    opcode: 0,
    opaque: 0,
    cmd: 'admin',
    name: 'lru_crawler',
    args: ['metadump', mode],
  });
  return new Promise((resolve, reject) => {
    const socket = 'path' in addr ? net.connect({ path: addr.path }) : net.connect({ port: addr.port, host: addr.host });
    let listed = 0;
    let rest = '';
    let settled = false;
    const finish = (outcome: number | string | ListingError) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (outcome instanceof ListingError) reject(outcome);
      else resolve(outcome);
    };
    socket.setTimeout(timeoutMs, () =>
      finish(new ListingError(`no answer for ${timeoutMs} ms${listed > 0 ? ` after ${listed} keys` : ''}`)),
    );
    socket.on('connect', () => socket.write(request));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new ListingError(socketProblem(err))));
    socket.on('close', () =>
      finish(new ListingError(`it closed the connection before the listing ended${listed > 0 ? ` (after ${listed} keys)` : ''}`)),
    );
    socket.on('data', (chunk: Buffer) => {
      // Keys are URL-encoded: every line is ASCII.
      const text = rest + chunk.toString('latin1');
      let at = 0;
      for (let nl = text.indexOf('\n', at); nl >= 0 && !settled; nl = text.indexOf('\n', at)) {
        const line = text.slice(at, nl > at && text[nl - 1] === '\r' ? nl - 1 : nl);
        at = nl + 1;
        if (line === 'END') return finish(listed);
        const key = dumpedKey(line);
        if (key !== undefined) {
          listed++;
          onKey(key);
        } else if (listed === 0) {
          return finish(line);
        } else {
          return finish(new ListingError(`an unexpected line in the listing: ${JSON.stringify(line.slice(0, 80))}`));
        }
      }
      rest = text.slice(at);
    });
  });
}

/** How long a busy LRU crawler (memcached's own, or another dump) is waited for. */
const BUSY_WAIT_MS = 30_000;
const BUSY_RETRY_MS = 200;

/**
 * The source's keys, to `onKey` as they come: `metadump hash` (every item in the hash table once, even one that
 * moves between LRU queues meanwhile), or `metadump all` from a memcached without it. Waits out a crawler busy
 * with other work. Resolves with the number of keys; rejects with a ListingError.
 */
async function listKeys(addr: Address, timeoutMs: number, onKey: (key: Buffer) => void, onBusy: () => void): Promise<number> {
  let mode = 'hash';
  const deadline = Date.now() + BUSY_WAIT_MS;
  for (;;) {
    const r = await metadump(addr, mode, timeoutMs, onKey);
    if (typeof r === 'number') return r;
    if (r.startsWith('BADCLASS') && mode === 'hash') {
      mode = 'all';
    } else if (r.startsWith('BUSY') && Date.now() < deadline) {
      onBusy();
      await new Promise((resolve) => setTimeout(resolve, BUSY_RETRY_MS));
    } else {
      throw new ListingError(`it refused lru_crawler metadump ${mode}: ${r}`);
    }
  }
}

// ---------------------------------------------------------------------------
// The copy.
// ---------------------------------------------------------------------------

/** What a failed request means, in words (MemcachedHandler's failures carry a code). */
function requestProblem(err: unknown, timeoutMs: number): string {
  if (!(err instanceof HandlerError)) return err instanceof Error ? err.message : String(err);
  switch (err.code) {
    case 'BACKEND_REFUSED':
      return 'nothing listens there (connection refused)';
    case 'BACKEND_CONNECT_TIMEOUT':
      return 'no connection within --timeout';
    case 'BACKEND_TIMEOUT':
      return `no answer within --timeout (${timeoutMs} ms)`;
    case 'BACKEND_CLOSED':
      return 'it closed the connection';
    case 'BACKEND_UNAVAILABLE':
      return 'unreachable';
    default:
      return err.message;
  }
}

interface Counts {
  listed: number;
  copied: number;
  newer: number;
  gone: number;
  failed: number;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

class Recovery {
  readonly counts: Counts = { listed: 0, copied: 0, newer: 0, gone: 0, failed: 0 };
  /** Failures by what failed ("reading from the source 127.0.0.1:11211: unreachable"), with their count. */
  readonly failures = new Map<string, number>();
  /** Why the copy stopped before the end, if it did. */
  stopped: string | undefined;
  /** Listed keys never tried (the copy stopped first). */
  untried = 0;
  private readonly queue: (Buffer | undefined)[] = [];
  private head = 0;
  private active = 0;
  private listingDone = false;
  private whenDone: (() => void) | undefined;
  /** Per side: since when every request failed (0 = the last one succeeded). */
  private failingSince = { source: 0, target: 0 };
  private readonly source: MemcachedHandler;
  private readonly target: MemcachedHandler;

  constructor(readonly config: RecoverConfig) {
    const handler = (address: Address) =>
      new MemcachedHandler({
        address,
        connections: config.conns,
        timeoutMs: config.timeout,
        connectTimeoutMs: config.timeout,
        // memcached's largest -I: an item is refused by the target's own limit, not by this copy.
        maxItemSize: 1024 * 1024 * 1024,
        counterFlags: false,
      });
    this.source = handler(config.from);
    this.target = handler(config.to);
  }

  /** The target answers (before anything is listed). */
  pingTarget(): Promise<void> {
    return this.target.ping();
  }

  add(key: Buffer): void {
    this.counts.listed++;
    this.queue.push(key);
    this.pump();
  }

  /** The listing ended (complete or not): resolves once every key started has finished. */
  endListing(): Promise<void> {
    this.listingDone = true;
    return new Promise((resolve) => {
      this.whenDone = resolve;
      this.pump();
    });
  }

  /** Start no more keys (an interrupt, or a server that stopped answering). */
  stop(why: string): void {
    this.stopped ??= why;
    this.pump();
  }

  close(): void {
    this.source.close();
    this.target.close();
  }

  private pump(): void {
    if (this.stopped !== undefined) {
      this.untried += this.queue.length - this.head;
      this.queue.length = 0;
      this.head = 0;
    }
    while (this.active < this.config.inFlight && this.head < this.queue.length) {
      const key = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      this.active++;
      this.copy(key).finally(() => {
        this.active--;
        this.pump();
      });
    }
    if (this.head > 65_536 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    if (this.listingDone && this.active === 0 && this.head >= this.queue.length) this.whenDone?.();
  }

  private async copy(key: Buffer): Promise<void> {
    let item: ItemView | undefined;
    try {
      item = await this.source.get({ key, noBump: true, want: ItemFacts.KEY_FORM });
      this.succeeded('source');
    } catch (err) {
      return this.fail('source', err);
    }
    // Deleted since listed, or expired since (its TTL left is none: T0 would keep it forever).
    const exptime = item === undefined ? undefined : remainingExptime(item.exptime, nowSeconds());
    if (item === undefined || exptime === undefined) {
      this.counts.gone++;
      return;
    }
    let outcome: StoreOutcome;
    try {
      outcome = await this.target.store({
        key,
        keyBinary: item.keyBinary === true,
        mode: 'add',
        value: item.value,
        flags: item.flags,
        exptime,
      });
      this.succeeded('target');
    } catch (err) {
      return this.fail('target', err);
    }
    if (typeof outcome !== 'string') this.counts.copied++;
    else if (outcome === 'NOT_STORED') this.counts.newer++;
    else {
      const why =
        outcome === 'TOO_LARGE' ? 'too large for its item size limit (-I)' : outcome === 'OUT_OF_MEMORY' ? 'out of memory' : outcome;
      this.count(`writing to the target ${formatAddress(this.config.to)}: ${why}`);
    }
  }

  private succeeded(side: 'source' | 'target'): void {
    this.failingSince[side] = 0;
  }

  private fail(side: 'source' | 'target', err: unknown): void {
    const address = formatAddress(side === 'source' ? this.config.from : this.config.to);
    const problem = requestProblem(err, this.config.timeout);
    this.count(`${side === 'source' ? 'reading from the source' : 'writing to the target'} ${address}: ${problem}`);
    const now = Date.now();
    const since = (this.failingSince[side] ||= now);
    if (now - since >= this.config.giveUp)
      this.stop(`the ${side} ${address} failed every request for ${Math.round((now - since) / 1000)} s (${problem})`);
  }

  private count(failure: string): void {
    this.counts.failed++;
    this.failures.set(failure, (this.failures.get(failure) ?? 0) + 1);
  }
}

// ---------------------------------------------------------------------------
// The command.
// ---------------------------------------------------------------------------

const done = (c: Counts) => c.copied + c.newer + c.gone + c.failed;

function progressLine(c: Counts, rate: number, listing: boolean): string {
  return (
    `memproxy recover: ${c.listed} listed${listing ? ' (listing)' : ''}, ${c.copied} copied, ${c.newer} skipped as newer, ` +
    `${c.gone} skipped gone, ${c.failed} failed; ${Math.round(rate)} keys/s`
  );
}

/** `memproxy recover ...` (argv after `recover`): exits 0, 1 (a key failed, or the copy could not run) or 2 (bad options). */
export async function recoverMain(argv: readonly string[]): Promise<never> {
  let config: RecoverConfig;
  try {
    const loaded = loadRecoverConfig(argv);
    if (loaded === 'help') {
      process.stdout.write(RECOVER_HELP);
      process.exit(0);
    }
    config = loaded;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${e.problems.map((p) => `memproxy recover: ${p}\n`).join('')}Run memproxy recover --help for the options.\n`);
    process.exit(2);
  }
  const from = formatAddress(config.from);
  const to = formatAddress(config.to);
  const recovery = new Recovery(config);
  const fatal = (message: string): never => {
    recovery.close();
    process.stderr.write(`memproxy recover: ${message}\n`);
    process.exit(1);
  };
  try {
    await recovery.pingTarget();
  } catch (err) {
    fatal(`cannot reach the target ${to} (--to): ${requestProblem(err, config.timeout)}`);
  }

  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  let listing = true;
  let last = { at: started, done: 0 };
  const report = () => {
    const now = Date.now();
    const n = done(recovery.counts);
    const rate = ((n - last.done) * 1000) / Math.max(1, now - last.at);
    last = { at: now, done: n };
    const line = progressLine(recovery.counts, rate, listing);
    process.stderr.write(tty ? `\r${line}\x1b[K` : `${line}\n`);
  };
  const ticker = setInterval(report, 1000);
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write(`${tty ? '\n' : ''}memproxy recover: ${signal}: finishing the keys in flight (${signal} again to exit at once)\n`);
    recovery.stop(`interrupted by ${signal}`);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let listingProblem: string | undefined;
  let busySaid = false;
  try {
    await listKeys(
      config.from,
      Math.max(config.timeout, 5000),
      (key) => recovery.add(key),
      () => {
        if (!busySaid)
          process.stderr.write(`memproxy recover: the source's LRU crawler is busy; waiting for it (up to ${BUSY_WAIT_MS / 1000} s)\n`);
        busySaid = true;
      },
    );
  } catch (err) {
    if (!(err instanceof ListingError)) throw err;
    listingProblem = `${recovery.counts.listed === 0 ? 'cannot list the source' : 'the listing from the source'} ${from} (--from): ${err.message}`;
    if (recovery.counts.listed === 0) fatal(listingProblem);
  }
  listing = false;
  await recovery.endListing();
  clearInterval(ticker);
  if (tty) process.stderr.write('\n');
  recovery.close();

  const c = recovery.counts;
  const seconds = (Date.now() - started) / 1000;
  const rate = Math.round(done(c) / Math.max(seconds, 0.001));
  const failed = c.failed + recovery.untried;
  const width = String(c.listed).length;
  const row = (label: string, n: number, note = '') => `  ${label.padEnd(18)}${String(n).padStart(width)}${note}\n`;
  process.stdout.write(
    `memproxy recover: ${from} -> ${to} ${recovery.stopped === undefined && listingProblem === undefined ? 'finished' : 'stopped'} ` +
      `in ${seconds.toFixed(1)} s, ${rate} keys/s\n` +
      row('keys listed', c.listed) +
      row('copied', c.copied) +
      row('skipped as newer', c.newer, '  (the target had them: written there during the copy)') +
      row('skipped gone', c.gone, '  (deleted or expired on the source since listed)') +
      row('failed', failed, recovery.untried > 0 ? `  (${recovery.untried} of them not tried)` : ''),
  );
  const problems = [
    ...(listingProblem !== undefined ? [`${listingProblem}; keys it did not list were not copied`] : []),
    ...(recovery.stopped !== undefined ? [recovery.stopped] : []),
    ...[...recovery.failures].map(([why, n]) => `${n} key${n === 1 ? '' : 's'} failed ${why}`),
  ];
  for (const p of problems) process.stderr.write(`memproxy recover: ${p}\n`);
  if (failed > 0 || listingProblem !== undefined) {
    process.stderr.write('memproxy recover: running it again is safe: it adds only what the target lacks\n');
    process.exit(1);
  }
  process.exit(0);
}
