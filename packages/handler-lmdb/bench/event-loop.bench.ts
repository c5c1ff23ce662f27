// Event-loop delay of a server on the LMDB handler under a write-heavy load (issue #18: p99 under 1 ms).
// This process runs the server; cleave-load, in a process of its own, sends sets of 1-100 KB values (`fill`: sets
// only, over a key space larger than the store's cap, so the store also evicts), at two intensities: 4 connections
// 16 deep (pipelined: as fast as the server takes them) and 2 connections one at a time. While it runs,
// perf_hooks' monitorEventLoopDelay samples the event loop with a 1 ms timer; the delay reported is how much later
// than that 1 ms each timer ran. Configurations: the LMDB handler alone (default and sync: true), as L2 under an
// in-memory L1, and two controls: the in-memory handler alone (the server's own cost of parsing and copying
// 1-100 KB values) and the process idle, no load (what the machine's other work alone does to a timer).
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
const CAP = 256 * 1024 * 1024; // each store's cap; the load writes several times this
const VALUES = '1024-102400';
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

const LOADS = [
  { conns: 4, depth: 16 },
  { conns: 2, depth: 1 },
];
type Load = (typeof LOADS)[number];

interface LoadReport {
  ops_per_sec: number;
  errors: number;
  p99_us: number;
  bytes_sent: number;
  duration_s: number;
}

/** cleave-load fill against `port` for SECONDS; resolves with its JSON report. */
function load(port: number, { conns, depth }: Load): Promise<LoadReport> {
  const args = [cleaveLoad, 'fill', '--port', String(port), '--value-size', VALUES, '--keys', '100000'];
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
  `\nEvent-loop delay under cleave-load fill: ${VALUES}-byte values, ${SECONDS} s per configuration and load, store cap ${CAP / 2 ** 20} MiB` +
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
      const server = await listenAndServe({ listen: { host: '127.0.0.1', port: 0 }, handler: c.handler(dir) });
      const { port } = server.addresses[0] as { port: number };
      const { result: r, h } = await sampled(() => load(port, l));
      await server.close();
      console.log(
        `| ${c.name} | ${l.conns} × ${l.depth} deep | ${Math.round(r.ops_per_sec).toLocaleString('en-US')} | ${(r.bytes_sent / r.duration_s / 1e6).toFixed(0)} | ` +
          `${(r.p99_us / 1000).toFixed(2)} | ${row(h)} |`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
