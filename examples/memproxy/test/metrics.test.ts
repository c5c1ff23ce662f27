/**
 * --metrics-port: the exposition read by a real Prometheus text-format parser, after a known load: per-command
 * counts, hits and misses, bytes in and out, connections, the latency histogram consistent with the counts,
 * per-backend figures in proxy mode (and the backend's health when it dies), Node's default metrics, 404 elsewhere.
 */
import { afterAll, describe, expect, it, vi } from 'vitest';
import parsePrometheusTextFormat, { type PromFamily, type PromSample } from 'parse-prometheus-text-format';
import { FixedMemcached, RawClient, freePort } from '@cleave/testkit';
import { logLines, runMemproxy, startMemproxy, type Running } from './spawn.js';

const cleanup: Array<() => unknown> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

const WAIT = { timeout: 15_000, interval: 20 };

/** Start memproxy with --metrics-port 0 and read where the metrics are served from its log. */
async function withMetrics(args: string[]): Promise<{ mp: Running; url: string }> {
  const mp = await startMemproxy(['-p', '0', '--metrics-port', '0', ...args]);
  cleanup.push(() => mp.stop());
  const url = await vi.waitFor(() => {
    const line = logLines(mp.stdout()).find((l) => typeof l.metrics === 'string');
    if (line === undefined) throw new Error(`no metrics line yet: ${mp.stdout()}`);
    return line.metrics as string;
  }, WAIT);
  return { mp, url };
}

type Scrape = Map<string, PromFamily> & { text: string };

async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  return Object.assign(new Map(parsePrometheusTextFormat(text).map((f) => [f.name, f])), { text });
}

const LATENCY = 'memproxy_command_duration_seconds';

/**
 * One command's latency histogram. The parser reads a histogram of one series only (it folds every series into
 * one and takes _sum and _count without labels), so it is given that command's series alone, its label removed.
 */
function latencyOf(m: Scrape, command: string): PromSample {
  const label = `command="${command}"`;
  const text = m.text
    .split('\n')
    .filter((line) => !line.startsWith(`${LATENCY}_`) || line.includes(label))
    .map((line) => (line.startsWith(`${LATENCY}_`) ? line.replace(`{${label}}`, '').replace(`${label},`, '') : line))
    .join('\n');
  const family = parsePrometheusTextFormat(text).find((f) => f.name === LATENCY)!;
  expect(family.type).toBe('HISTOGRAM');
  expect(family.metrics).toHaveLength(1);
  return family.metrics[0]!;
}

/** The sample of `name` whose labels include `labels`. */
function sample(m: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): PromSample {
  const family = m.get(name);
  if (family === undefined) throw new Error(`no metric ${name}`);
  const found = family.metrics.find((s) => Object.entries(labels).every(([k, v]) => s.labels?.[k] === v));
  if (found === undefined) throw new Error(`no ${name}${JSON.stringify(labels)} in ${JSON.stringify(family.metrics)}`);
  return found;
}
const value = (m: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}) => Number(sample(m, name, labels).value);

/** A histogram sample consistent with itself: buckets never decrease, +Inf is the count; the count. */
function histogramCount(s: PromSample): number {
  const buckets = Object.entries(s.buckets!)
    .map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), Number(n)] as const)
    .sort((a, b) => a[0] - b[0]);
  expect(buckets.length).toBeGreaterThan(2);
  for (let i = 1; i < buckets.length; i++) expect(buckets[i]![1]).toBeGreaterThanOrEqual(buckets[i - 1]![1]);
  expect(buckets.at(-1)![0]).toBe(Infinity);
  expect(buckets.at(-1)![1]).toBe(Number(s.count));
  return Number(s.count);
}

const SETS = 50;
const HITS = 30;
const MISSES = 45;

/** SETS sets, then HITS gets of stored keys and MISSES of absent ones, one request at a time; bytes sent and received. */
async function knownLoad(port: number): Promise<{ sent: number; received: number }> {
  const c = await RawClient.connect({ port });
  let sent = 0;
  let received = 0;
  const req = async (text: string, end: string) => {
    sent += Buffer.byteLength(text);
    const reply = await c.request(text, end);
    received += reply.length;
    return reply.toString();
  };
  for (let i = 0; i < SETS; i++) expect(await req(`set key:${i} 0 0 ${String(i).length + 1}\r\nv${i}\r\n`, '\r\n')).toBe('STORED\r\n');
  for (let i = 0; i < HITS; i++)
    expect(await req(`get key:${i}\r\n`, 'END\r\n')).toBe(`VALUE key:${i} 0 ${String(i).length + 1}\r\nv${i}\r\nEND\r\n`);
  for (let i = 0; i < MISSES; i++) expect(await req(`get absent:${i}\r\n`, 'END\r\n')).toBe('END\r\n');
  c.close();
  return { sent, received };
}

describe('memproxy --metrics-port', () => {
  it('in-memory: counts match a known load exactly, and the latency histogram agrees with them', async () => {
    const { mp, url } = await withMetrics([]);
    const before = await scrape(url);
    expect(value(before, 'memproxy_commands_total', { command: 'get' })).toBe(0);
    expect(value(before, 'memproxy_connections')).toBe(0);

    const { sent, received } = await knownLoad(mp.port);
    // The client has closed: wait until the server has seen it.
    await vi.waitFor(async () => expect(value(await scrape(url), 'memproxy_connections')).toBe(0), WAIT);
    const m = await scrape(url);
    expect(m.get('memproxy_commands_total')!.type).toBe('COUNTER');
    expect(value(m, 'memproxy_commands_total', { command: 'set' })).toBe(SETS);
    expect(value(m, 'memproxy_commands_total', { command: 'get' })).toBe(HITS + MISSES);
    expect(value(m, 'memproxy_commands_total', { command: 'delete' })).toBe(0);
    expect(value(m, 'memproxy_command_errors_total', { command: 'get' })).toBe(0);
    expect(value(m, 'memproxy_get_hits_total')).toBe(HITS);
    expect(value(m, 'memproxy_get_misses_total')).toBe(MISSES);
    expect(value(m, 'memproxy_connections_total')).toBe(1);
    expect(value(m, 'memproxy_bytes_read_total')).toBe(sent);
    expect(value(m, 'memproxy_bytes_written_total')).toBe(received);
    expect(value(m, 'memproxy_output_stalls_total')).toBe(0);

    const getLatency = latencyOf(m, 'get');
    expect(histogramCount(getLatency)).toBe(HITS + MISSES);
    expect(Number(getLatency.sum)).toBeGreaterThan(0);
    expect(histogramCount(latencyOf(m, 'set'))).toBe(SETS);
    for (const s of m.get('memproxy_commands_total')!.metrics) {
      expect(histogramCount(latencyOf(m, s.labels!.command!))).toBe(Number(s.value));
    }

    // Node's defaults: event-loop lag, heap, GC.
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'process_cpu_user_seconds_total']) {
      expect(value(m, name)).toBeGreaterThanOrEqual(0);
    }
    expect(m.has('nodejs_gc_duration_seconds')).toBe(true);
    // No backend in this mode.
    expect(m.get('memproxy_backend_requests_total')?.metrics ?? []).toEqual([]);

    const other = await fetch(url.replace(/\/metrics$/, '/other'));
    expect(other.status).toBe(404);
    await other.text();
    expect(await mp.stop()).toBe(0);
  });

  it('proxy mode: per-backend requests, errors and health, and the backend going away', async () => {
    const backend = new FixedMemcached({ port: await freePort() });
    cleanup.push(() => backend.kill());
    await backend.start();
    const address = `127.0.0.1:${(backend.target as { port: number }).port}`;
    const { mp, url } = await withMetrics(['--l1-addr', address, '--backend-timeout', '500ms']);
    await vi.waitFor(async () => expect(value(await scrape(url), 'memproxy_backend_up', { backend: address, tier: 'l1' })).toBe(1), WAIT);

    await knownLoad(mp.port);
    let m = await scrape(url);
    const labels = { backend: address, tier: 'l1' };
    expect(value(m, 'memproxy_backend_requests_total', labels)).toBe(SETS + HITS + MISSES);
    expect(value(m, 'memproxy_backend_errors_total', labels)).toBe(0);
    expect(value(m, 'memproxy_backend_timeouts_total', labels)).toBe(0);
    expect(value(m, 'memproxy_backend_connections_ready', labels)).toBe(2);
    expect(value(m, 'memproxy_get_hits_total')).toBe(HITS);
    expect(value(m, 'memproxy_get_misses_total')).toBe(MISSES);
    expect(histogramCount(latencyOf(m, 'get'))).toBe(HITS + MISSES);

    await backend.kill();
    await vi.waitFor(async () => expect(value(await scrape(url), 'memproxy_backend_up', labels)).toBe(0), WAIT);
    const c = await RawClient.connect({ port: mp.port });
    expect((await c.request('get key:1\r\n', '\r\n')).toString()).toMatch(/^SERVER_ERROR /);
    c.close();
    m = await scrape(url);
    expect(value(m, 'memproxy_backend_errors_total', labels)).toBeGreaterThanOrEqual(1);
    expect(value(m, 'memproxy_command_errors_total', { command: 'get' })).toBe(1);
    // Its connections try again after their backoff.
    await vi.waitFor(
      async () => expect(value(await scrape(url), 'memproxy_backend_reconnects_total', labels)).toBeGreaterThanOrEqual(1),
      WAIT,
    );
    expect(await mp.stop()).toBe(0);
  });

  it('refuses --metrics-host without --metrics-port, and the metrics port on the memcached port', async () => {
    let r = await runMemproxy(['--metrics-host', '0.0.0.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('memproxy: --metrics-host needs --metrics-port\n');
    r = await runMemproxy(['-p', '11999', '--metrics-port', '11999']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('memproxy: --metrics-port must differ from --port (both 11999)\n');
  });
});
