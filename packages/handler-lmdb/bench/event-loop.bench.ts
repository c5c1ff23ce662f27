// Event-loop delay of a server on the LMDB handler under a write-heavy load (issue #18: p99 under 1 ms).
// perf_hooks' monitorEventLoopDelay samples this process's event loop with a 1 ms timer; the delay reported is how
// much later than that 1 ms each timer ran. Three loads of sets of 1-100 KB values (uniform), each over a key
// space larger than the store's cap, so the store also evicts:
//  - cleave-load `fill` in a process of its own against a server in this one, 4 connections 16 deep (pipelined: as
//    fast as the server takes them), and 2 connections one request at a time;
//  - the handler called directly, no server, paced at 25 MB/s (stores every millisecond to keep to the rate), which
//    leaves out the server's own reading, parsing and copying.
// Configurations: the LMDB handler alone (default and sync: true), as L2 under an in-memory L1, and two controls:
// the in-memory handler alone (what the rest of the path costs) and the process idle (what the machine's other
// work alone does to a timer).
// Run (after npx pnpm build, which builds cleave-load): cd packages/handler-lmdb && npx tsx ../../scripts/run-bench.ts event-loop
// Environment: BENCH_SECONDS (default 10) per configuration and load.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { InMemoryHandler } from '@cleave/handler-inmem';
import type { Handler } from '@cleave/protocol';
import { listenAndServe } from '@cleave/server';
import { l1l2 } from '@cleave/tiers';
import { LmdbHandler } from '../src/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CAP = 256 * 1024 * 1024; // each store's cap; the loads write several times this
const MIN_VALUE = 1024;
const MAX_VALUE = 100 * 1024;
const KEYS = 100_000;
const PACED_BYTES_PER_SEC = 25e6;
const cleaveLoad = fileURLToPath(new URL('../../loadgen/dist/cli.js', import.meta.url));
if (!existsSync(cleaveLoad)) throw new Error(`${cleaveLoad} is missing: build first (npx pnpm build)`);

interface Config {
  name: string;
  handler: (dir: string) => Handler;
}

const configs: Config[] = [
  { name: 'LMDB handler', handler: (dir) => new LmdbHandler({ path: dir, maxBytes: CAP }) },
  { name: 'LMDB handler, sync: true', handler: (dir) => new LmdbHandler({ path: dir, maxBytes: CAP, sync: true }) },
  {
    name: 'in-memory L1 (64 MiB) + LMDB L2',
    handler: (dir) => l1l2(new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 }), new LmdbHandler({ path: dir, maxBytes: CAP })),
  },
  { name: 'control: in-memory handler alone', handler: () => new InMemoryHandler({ maxBytes: CAP }) },
];

/** What a load did: sets per second, value bytes per second, and the client's p99 when there is a client. */
interface Done {
  setsPerSec: number;
  bytesPerSec: number;
  clientP99Ms?: number;
}

interface Load {
  name: string;
  run: (handler: Handler) => Promise<Done>;
}

const LOADS: Load[] = [
  { name: 'cleave-load, 4 conns × 16 deep', run: (h) => served(h, 4, 16) },
  { name: 'cleave-load, 2 conns × 1', run: (h) => served(h, 2, 1) },
  { name: `direct calls, ${PACED_BYTES_PER_SEC / 1e6} MB/s`, run: paced },
];

interface LoadReport {
  ops_per_sec: number;
  errors: number;
  p99_us: number;
  bytes_sent: number;
  duration_s: number;
}

/** A server on `handler`, and cleave-load fill against it for SECONDS. */
async function served(handler: Handler, conns: number, depth: number): Promise<Done> {
  const server = await listenAndServe({ listen: { host: '127.0.0.1', port: 0 }, handler });
  try {
    const { port } = server.addresses[0] as { port: number };
    const r = await fill(port, conns, depth);
    return { setsPerSec: r.ops_per_sec, bytesPerSec: r.bytes_sent / r.duration_s, clientP99Ms: r.p99_us / 1000 };
  } finally {
    await server.close();
  }
}

/** The handler's store called directly for SECONDS, keeping to PACED_BYTES_PER_SEC with a batch every millisecond. */
async function paced(handler: Handler): Promise<Done> {
  let seed = 7;
  const values = Array.from({ length: 64 }, () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return Buffer.alloc(MIN_VALUE + (seed % (MAX_VALUE - MIN_VALUE + 1)), 0x76);
  });
  const waiting: Promise<unknown>[] = [];
  const t0 = performance.now();
  let bytes = 0;
  let sets = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    const due = ((performance.now() - t0) / 1000) * PACED_BYTES_PER_SEC;
    while (bytes < due) {
      const value = values[sets % values.length]!;
      const r = handler.store({ mode: 'set', key: Buffer.from(`k:${sets % KEYS}`), value, flags: 0, exptime: 0 });
      if (r instanceof Promise) waiting.push(r);
      bytes += value.length;
      sets++;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(waiting);
  const secs = (performance.now() - t0) / 1000;
  await handler.close();
  return { setsPerSec: sets / secs, bytesPerSec: bytes / secs };
}

/** cleave-load fill against `port` for SECONDS; resolves with its JSON report. */
function fill(port: number, conns: number, depth: number): Promise<LoadReport> {
  const args = [cleaveLoad, 'fill', '--port', String(port), '--value-size', `${MIN_VALUE}-${MAX_VALUE}`, '--keys', String(KEYS)];
  args.push('--conns', String(conns), '--depth', String(depth), '--duration', String(SECONDS), '--json', '--no-progress');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const report = JSON.parse(out) as LoadReport;
        if (code !== 0 || report.errors !== 0) throw new Error(`exit ${code}, ${report.errors} errors`);
        resolve(report);
      } catch (e) {
        reject(new Error(`cleave-load ${args.slice(1).join(' ')} failed: ${(e as Error).message}\n${err}${out}`));
      }
    });
  });
}

const RESOLUTION_MS = 1;
/** A sample's lateness: what monitorEventLoopDelay records is the time between timer runs, period included. */
const ms = (ns: number) => (Math.max(0, ns - RESOLUTION_MS * 1e6) / 1e6).toFixed(2);

/** Event-loop delay over `run`. */
async function sampled<T>(run: () => Promise<T>): Promise<{ result: T; h: ReturnType<typeof monitorEventLoopDelay> }> {
  const h = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  h.enable();
  const result = await run();
  h.disable();
  return { result, h };
}
const row = (h: ReturnType<typeof monitorEventLoopDelay>) =>
  `${ms(h.percentile(50))} | ${ms(h.percentile(99))} | ${ms(h.max)} | ${h.percentile(99) - RESOLUTION_MS * 1e6 < 1e6 ? 'yes' : 'no'}`;
console.log(
  `\nEvent-loop delay under sets of ${MIN_VALUE}-${MAX_VALUE}-byte values, ${SECONDS} s per configuration and load, store cap ${CAP / 2 ** 20} MiB` +
    ` (load average ${os
      .loadavg()
      .map((v) => v.toFixed(1))
      .join(' ')})`,
);
console.log('| configuration | load | sets/s | MB/s in | client p99 ms | loop delay p50 ms | p99 ms | max ms | p99 < 1 ms |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---|');
const idle = await sampled(() => new Promise((resolve) => setTimeout(resolve, SECONDS * 1000)));
console.log(`| control: idle | none | | | | ${row(idle.h)} |`);
for (const l of LOADS) {
  for (const c of configs) {
    const dir = mkdtempSync(join(os.tmpdir(), 'cleave-lmdb-eld-'));
    try {
      const { result: r, h } = await sampled(() => l.run(c.handler(dir)));
      const client = r.clientP99Ms === undefined ? '' : r.clientP99Ms.toFixed(2);
      console.log(
        `| ${c.name} | ${l.name} | ${Math.round(r.setsPerSec).toLocaleString('en-US')} | ${(r.bytesPerSec / 1e6).toFixed(0)} | ${client} | ${row(h)} |`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
