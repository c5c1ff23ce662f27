// Shared pieces of the side-by-side load benchmarks: free ports, process start-up, mcload runs, medians.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('..', import.meta.url));

/** Build the shared mcload load generator once (it lives beside the project, in ../shared/tools). */
export function ensureMcload(path) {
  if (!existsSync(path)) {
    const src = new URL('../../shared/tools/mcload.c', import.meta.url);
    execFileSync('cc', ['-O2', '-o', path, fileURLToPath(src)], { stdio: 'inherit' });
  }
  return path;
}

export const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

export async function waitPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`port ${port} never opened`);
}

/**
 * One mcload run; throws when mcload saw a wrong reply. keysPerGet > 1 makes every get a text multi-get
 * of that many keys (`-g`), counted as one op. prepopulate: false leaves out `-P` (the keys were set by an
 * earlier call). count is how many requests the timed part answered.
 */
export function mcload(
  bin,
  port,
  { binary = false, depth = 1, conns = 50, seconds = 3, setRatio = 0.1, valueSize = 100, keys = 10000, keysPerGet = 1, prepopulate = true },
) {
  const args = ['-p', String(port), '-c', String(conns), '-d', String(depth), '-r', String(setRatio), '-v', String(valueSize), '-k', String(keys), '-t', String(seconds)];
  if (prepopulate) args.push('-P');
  if (keysPerGet > 1) args.push('-g', String(keysPerGet));
  if (binary) args.push('-B');
  const out = execFileSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  const m = Object.fromEntries(out.trim().split(/\s+/).map((kv) => kv.split('=')));
  if (Number(m.errors) !== 0) throw new Error(`mcload reported errors against port ${port}: ${out}`);
  return {
    ops: Number(m['ops/s']),
    p50: Number(m.p50_us),
    p99: Number(m.p99_us),
    p999: Number(m.p999_us),
    count: Number(m.ops),
    hits: Number(m.hits),
    misses: Number(m.misses),
  };
}

export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Medians of throughput and latency over rounds. */
export const pick = (runs) => ({
  ops: median(runs.map((x) => x.ops)),
  p50: median(runs.map((x) => x.p50)),
  p99: median(runs.map((x) => x.p99)),
});

export const fmt = (n) => Math.round(n).toLocaleString('en-US');
