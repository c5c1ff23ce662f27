import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BinaryParser, TextParser } from '@cleave/protocol';
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  GetCommand,
  ItemView,
  Request,
  StoreCommand,
  StoreMode,
  StoreOutcome,
} from '@cleave/protocol';
import { FakeClock } from '@cleave/testkit';
import { InMemoryHandler, sharedStore, type InMemoryHandlerOptions } from '../src/index.js';

/** A clock tests move by hand (shared with the reference model in the test kit). */
export { FakeClock };

/**
 * The two ways to have a store: a handler of its own, and a handler over a
 * store shared by threads (`sharedStore`; here used by this thread alone),
 * built from the same options, for tests that must hold for both.
 */
export const STORE_KINDS = [
  { kind: 'a handler of its own', build: (options: InMemoryHandlerOptions) => new InMemoryHandler(options) },
  {
    kind: 'a store shared by threads',
    build: ({ clock, statsReporter, ...store }: InMemoryHandlerOptions) =>
      new InMemoryHandler({
        shared: sharedStore(store),
        ...(clock !== undefined ? { clock } : {}),
        ...(statsReporter !== undefined ? { statsReporter } : {}),
      }),
  },
] as const;

export function makeHandler(options: InMemoryHandlerOptions = {}): { h: InMemoryHandler; clock: FakeClock } {
  const clock = new FakeClock();
  const h = new InMemoryHandler({ sweepIntervalMs: 0, clock: clock.now, ...options });
  return { h, clock };
}

/** A Buffer as a request would carry it: a view into a larger read buffer, not a standalone allocation. */
export function b(s: string | Buffer): Buffer {
  const src = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const backing = Buffer.alloc(src.length + 16, 0x23);
  src.copy(backing, 8);
  return backing.subarray(8, 8 + src.length);
}

export interface StoreOpts {
  flags?: number;
  exptime?: number;
  compareCas?: bigint;
  invalidate?: boolean;
  newCas?: bigint;
  unlinkOnFailure?: boolean;
  keyBinary?: boolean;
}

export function store(h: InMemoryHandler, mode: StoreMode, key: string, value: string | Buffer, o: StoreOpts = {}): StoreOutcome {
  const cmd: StoreCommand = {
    mode,
    key: b(key),
    value: b(value),
    flags: o.flags ?? 0,
    exptime: o.exptime ?? 0,
    ...(o.compareCas !== undefined ? { compareCas: o.compareCas } : {}),
    ...(o.invalidate !== undefined ? { invalidate: o.invalidate } : {}),
    ...(o.newCas !== undefined ? { newCas: o.newCas } : {}),
    ...(o.unlinkOnFailure !== undefined ? { unlinkOnFailure: o.unlinkOnFailure } : {}),
    ...(o.keyBinary !== undefined ? { keyBinary: o.keyBinary } : {}),
  };
  return h.store(cmd);
}

export function set(h: InMemoryHandler, key: string, value: string | Buffer, o: StoreOpts = {}): ItemView {
  const r = store(h, 'set', key, value, o);
  if (typeof r === 'string') throw new Error(`set ${key} failed: ${r}`);
  return r;
}

export function get(h: InMemoryHandler, key: string): ItemView | undefined {
  return h.get({ key: b(key) }) as ItemView | undefined;
}

/** The value of a key as a Latin-1 string, or undefined on a miss. */
export function val(h: InMemoryHandler, key: string): string | undefined {
  return get(h, key)?.value.toString('latin1');
}

export function incr(
  h: InMemoryHandler,
  key: string,
  delta: bigint,
  extra: { incr?: boolean; initial?: bigint; exptime?: number; compareCas?: bigint } = {},
): ArithmeticOutcome {
  return h.arithmetic({ key: b(key), incr: extra.incr ?? true, delta, ...extra });
}

export function decr(h: InMemoryHandler, key: string, delta: bigint): ArithmeticOutcome {
  return h.arithmetic({ key: b(key), incr: false, delta });
}

export function stat(h: InMemoryHandler, name: string): number {
  const v = h.stats('')![name];
  if (typeof v !== 'number') throw new Error(`no numeric stat ${name}`);
  return v;
}

export function asItem<T>(r: T | string): T {
  if (typeof r === 'string') throw new Error(`expected an item, got ${r}`);
  return r;
}

/** Parser limits that let every value through, so the handler is the one that judges sizes. */
const PARSE_LIMITS = { maxItemSize: 8 * 1024 * 1024 };

/**
 * The one request the project's own parser makes of `wire` (text and meta,
 * or with `binary` the binary protocol): the command exactly as the server
 * hands it to a handler.
 */
export function parsed(wire: string | Buffer, binary = false): Request {
  const out: Request[] = [];
  const parser = binary ? new BinaryParser(PARSE_LIMITS) : new TextParser(PARSE_LIMITS);
  parser.feed(typeof wire === 'string' ? Buffer.from(wire, 'latin1') : wire, out);
  if (out.length !== 1) throw new Error(`expected one request, parsed ${out.length}`);
  return out[0]!;
}

export function parsedGet(wire: string | Buffer, binary = false): GetCommand {
  const r = parsed(wire, binary);
  if (r.cmd !== 'get' && r.cmd !== 'me') throw new Error(`expected a fetch, parsed ${r.cmd}`);
  return r;
}

export function parsedStore(wire: string | Buffer, binary = false): StoreCommand {
  const r = parsed(wire, binary);
  if (r.cmd !== 'store') throw new Error(`expected a store, parsed ${r.cmd}`);
  return r;
}

export function parsedArithmetic(wire: string | Buffer, binary = false): ArithmeticCommand {
  const r = parsed(wire, binary);
  if (r.cmd !== 'incr' && r.cmd !== 'decr') throw new Error(`expected incr/decr, parsed ${r.cmd}`);
  return r;
}

const pkg = fileURLToPath(new URL('..', import.meta.url));

/**
 * The handler's sources bundled as plain JavaScript (tsup, ESM), for what
 * runs outside vitest: child processes and worker threads. Returns the
 * bundle's path and a function that removes it.
 */
export function bundleSources(name: string): { file: string; remove(): void } {
  // Inside the package, so the bundle resolves @cleave/protocol through the workspace's node_modules.
  mkdirSync(join(pkg, '.tmp'), { recursive: true });
  const outDir = mkdtempSync(join(pkg, '.tmp', `${name}-`));
  execFileSync(
    join(pkg, '..', '..', 'node_modules', '.bin', 'tsup'),
    ['src/index.ts', '--format', 'esm', '--target', 'node20', '--tsconfig', '../../tsconfig.build.json', '--out-dir', outDir, '--silent'],
    { cwd: pkg, stdio: 'pipe' },
  );
  return { file: join(outDir, 'index.js'), remove: () => rmSync(outDir, { recursive: true, force: true }) };
}
