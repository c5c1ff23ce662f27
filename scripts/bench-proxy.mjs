#!/usr/bin/env node
// Side-by-side proxy benchmark: memproxy in front of memcached against nutcracker (twemproxy) in front
// of the same memcached, text protocol, in alternating rounds; then memproxy's chunked mode against
// plain mode with 10-100 KB values.
//
// usage: node scripts/bench-proxy.mjs [--rounds 3] [--seconds 3] [--mcload PATH]
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureMcload, fmt, freePort, mcload, pick, root, waitPort } from './bench-lib.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    mcload: { type: 'string', default: '/tmp/mcload' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
ensureMcload(values.mcload);

const procs = [];
const start = (cmd, args) => {
  const p = spawn(cmd, args, { stdio: 'ignore' });
  procs.push(p);
  return p;
};
process.on('exit', () => procs.forEach((p) => p.kill('SIGKILL')));

const mcPort = await freePort();
const nutPort = await freePort();
const mpPort = await freePort();
const chunkMcPort = await freePort();
const chunkPort = await freePort();
start('memcached', ['-u', 'root', '-U', '0', '-t', '1', '-m', '1024', '-l', '127.0.0.1', '-p', String(mcPort)]);
start('memcached', ['-u', 'root', '-U', '0', '-t', '1', '-m', '1024', '-l', '127.0.0.1', '-p', String(chunkMcPort)]);
await waitPort(mcPort);
await waitPort(chunkMcPort);

const dir = mkdtempSync(join(os.tmpdir(), 'cleave-nut-'));
const nutConf = join(dir, 'nutcracker.yml');
writeFileSync(
  nutConf,
  `pool:\n  listen: 127.0.0.1:${nutPort}\n  hash: fnv1a_64\n  distribution: ketama\n  timeout: 1000\n  backlog: 1024\n  preconnect: true\n  auto_eject_hosts: false\n  servers:\n   - 127.0.0.1:${mcPort}:1\n`,
);
start('nutcracker', ['-c', nutConf, '-s', String(await freePort()), '-o', join(dir, 'nut.log')]);
const memproxy = `${root}examples/memproxy/dist/memproxy.js`;
start(process.execPath, [memproxy, '-p', String(mpPort), '--l1-addr', `127.0.0.1:${mcPort}`]);
start(process.execPath, [memproxy, '-p', String(chunkPort), '--l1-addr', `127.0.0.1:${chunkMcPort}`, '--chunked', '--max-item-size', '16m']);
await waitPort(nutPort);
await waitPort(mpPort);
await waitPort(chunkPort);

const rows = [];
for (const depth of [1, 16]) {
  const nut = [];
  const mp = [];
  for (let r = 0; r < rounds; r++) {
    nut.push(mcload(values.mcload, nutPort, { depth, seconds }));
    mp.push(mcload(values.mcload, mpPort, { depth, seconds }));
  }
  const a = pick(nut);
  const b = pick(mp);
  rows.push({ name: `text, ${depth === 1 ? '1 in flight' : '16-deep'}`, nut: a, mp: b });
  process.stderr.write(`depth ${depth}: nutcracker ${a.ops} ops/s p99 ${a.p99}, memproxy ${b.ops} ops/s p99 ${b.p99}\n`);
}

// Large values: plain proxy vs chunked proxy, the same 10k-key space at 10-100 KB.
const sizes = [10 * 1024, 100 * 1024];
const large = [];
for (const valueSize of sizes) {
  const plain = [];
  const chunked = [];
  for (let r = 0; r < rounds; r++) {
    plain.push(mcload(values.mcload, mpPort, { depth: 1, conns: 20, seconds, valueSize, keys: 1000 }));
    chunked.push(mcload(values.mcload, chunkPort, { depth: 1, conns: 20, seconds, valueSize, keys: 1000 }));
  }
  large.push({ valueSize, plain: pick(plain), chunked: pick(chunked) });
}

const mcVersion = execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
const nutVersion = /nutcracker-[\d.]+/.exec(execFileSync('sh', ['-c', 'nutcracker --version 2>&1'], { encoding: 'utf8' }))?.[0] ?? 'nutcracker';
console.log(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${mcVersion} -t 1, ${nutVersion}`);
console.log(`Load: mcload, 50 connections, 90% get / 10% set, 100-byte values, 10k keys prepopulated, ${seconds} s per run, median of ${rounds} alternating rounds; both proxies reach memcached over TCP\n`);
console.log('| workload | nutcracker ops/s | memproxy ops/s | ratio | goal ≥ 1.0× | nutcracker p99 µs | memproxy p99 µs | p99 ratio | goal ≤ 1.5× |');
console.log('|---|---:|---:|---:|---|---:|---:|---:|---|');
for (const r of rows) {
  const ratio = r.mp.ops / r.nut.ops;
  const p99 = r.mp.p99 / r.nut.p99;
  console.log(
    `| ${r.name} | ${fmt(r.nut.ops)} | ${fmt(r.mp.ops)} | ${ratio.toFixed(2)}× | ${ratio >= 1 ? 'met' : 'not met'} | ${r.nut.p99} | ${r.mp.p99} | ${p99.toFixed(2)}× | ${p99 <= 1.5 ? 'met' : 'not met'} |`,
  );
}
console.log('\nLarge values (20 connections, 1 in flight, 1000 keys):\n');
console.log('| value size | plain ops/s | plain MB/s | chunked ops/s | chunked MB/s | chunked / plain |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const l of large) {
  const mb = (ops) => ((ops * l.valueSize) / 1e6).toFixed(1);
  console.log(`| ${l.valueSize / 1024} KB | ${fmt(l.plain.ops)} | ${mb(l.plain.ops)} | ${fmt(l.chunked.ops)} | ${mb(l.chunked.ops)} | ${(l.chunked.ops / l.plain.ops).toFixed(2)} |`);
}
process.exit(0);
