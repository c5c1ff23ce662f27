// Prometheus metrics for memproxy (--metrics-port): prom-client metrics whose values are read when scraped, from
// the counters the servers and backends keep anyway (typed arrays and plain numbers). Serving a request costs
// nothing more with metrics on than off, except the server's latency histogram (ServerOptions.metrics).

import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatAddress } from '@cleave/core';
import type { MemcachedHandler } from '@cleave/handler-memcached';
import type { PoolMember } from '@cleave/router';
import type { Server } from '@cleave/server';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** A backend memcached memproxy talks to, and which tier or pool it serves. */
export interface MetricsBackend {
  readonly handler: MemcachedHandler;
  /** `l1`, `l2`, or the nutcracker pool's name. */
  readonly tier: string;
  /** The pool member it is, with --config pools: its health as the pool routes by it. */
  readonly member?: PoolMember;
}

export interface MetricsSources {
  /** Every server memproxy runs (main, batch port, one per pool); their figures are added up. */
  readonly servers: readonly Server[];
  readonly backends: readonly MetricsBackend[];
}

/** The per-command figures a server keeps (`server.metrics`), indexed by command kind. */
type ServerMetrics = Server['metrics'];

const PREFIX = 'memproxy_';

/** A backend's own figures (never a round trip to it), with its address as the `backend` label. */
function backendFigures(b: MetricsBackend): { labels: { backend: string; tier: string }; figures: Record<string, number> } {
  return { labels: { backend: formatAddress(b.handler.address), tier: b.tier }, figures: b.handler.ownStats() as Record<string, number> };
}

/**
 * Server-side latency per command, as a histogram read from the server's bucket counts (one non-cumulative count
 * per bucket, the last +Inf) instead of observed here.
 */
class LatencyHistogram extends Histogram<'command'> {
  static readonly NAME = `${PREFIX}command_duration_seconds`;
  static readonly HELP =
    'Time from the read that carried a request to the write that carries its reply, per command (server side, backends included).';
  /** Labels shared by every sample (none): prom-client caches their text by this object. */
  private static readonly NO_SHARED = {};

  constructor(private readonly sources: MetricsSources) {
    super({ name: LatencyHistogram.NAME, help: LatencyHistogram.HELP, labelNames: ['command'], registers: [] });
  }

  /** What the registry writes: _bucket (cumulative, `le` last), _sum and _count per command. */
  async getForPromString() {
    const metrics = this.sources.servers.map((s) => s.metrics).filter((m) => m.timed);
    const first = metrics[0];
    const shared = LatencyHistogram.NO_SHARED;
    const values: Array<{ labels: Record<string, string | number>; sharedLabels: object; value: number; metricName: string }> = [];
    if (first !== undefined) {
      const bounds = first.latencyBuckets;
      const width = bounds.length + 1;
      first.commands.forEach((command, kind) => {
        let acc = 0;
        for (let b = 0; b < width; b++) {
          for (const m of metrics) acc += m.latencyCounts[kind * width + b]!;
          const le = b < bounds.length ? bounds[b]! : '+Inf';
          values.push({ labels: { command, le }, sharedLabels: shared, value: acc, metricName: `${LatencyHistogram.NAME}_bucket` });
        }
        let sum = 0;
        for (const m of metrics) sum += m.latencySum[kind]!;
        values.push({ labels: { command }, sharedLabels: shared, value: sum, metricName: `${LatencyHistogram.NAME}_sum` });
        values.push({ labels: { command }, sharedLabels: shared, value: acc, metricName: `${LatencyHistogram.NAME}_count` });
      });
    }
    return { name: LatencyHistogram.NAME, help: LatencyHistogram.HELP, type: 'histogram', values, aggregator: 'sum' };
  }
}

/** The registry memproxy serves: every metric above, and prom-client's default Node metrics. */
export function metricsRegistry(sources: MetricsSources): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const perCommand = (name: string, help: string, pick: (m: ServerMetrics) => Float64Array) =>
    new Counter({
      name: PREFIX + name,
      help,
      labelNames: ['command'],
      registers: [registry],
      collect() {
        this.reset();
        const metrics = sources.servers.map((s) => s.metrics);
        const first = metrics[0];
        if (first === undefined) return;
        first.commands.forEach((command, kind) => {
          let v = 0;
          for (const m of metrics) v += pick(m)[kind]!;
          this.inc({ command }, v);
        });
      },
    });
  perCommand('commands_total', 'Requests served, per command (meta and binary forms counted as their text command).', (m) => m.requests);
  perCommand(
    'command_errors_total',
    'Requests answered with a server error (a backend failed, timed out, was busy), per command.',
    (m) => m.errors,
  );
  registry.registerMetric(new LatencyHistogram(sources));

  const sum = (name: string, help: string, read: (s: Server) => number, type: 'counter' | 'gauge' = 'counter') => {
    const collect = function (this: Counter | Gauge) {
      let v = 0;
      for (const s of sources.servers) v += read(s);
      this.reset();
      if (this instanceof Gauge) this.set(v);
      else this.inc(v);
    };
    if (type === 'gauge') new Gauge({ name: PREFIX + name, help, registers: [registry], collect });
    else new Counter({ name: PREFIX + name, help, registers: [registry], collect });
  };
  sum('get_hits_total', 'Keys fetched and found (memcached get_hits).', (s) => s.counters.getHits);
  sum('get_misses_total', 'Keys fetched and not found (memcached get_misses).', (s) => s.counters.getMisses);
  sum('connections', 'Client connections open now.', (s) => s.counters.currConnections, 'gauge');
  sum('connections_total', 'Client connections accepted.', (s) => s.counters.totalConnections);
  sum('rejected_connections_total', 'Client connections refused at the connection limit.', (s) => s.counters.rejectedConnections);
  sum('bytes_read_total', 'Bytes read from clients.', (s) => s.counters.bytesRead);
  sum('bytes_written_total', 'Bytes written to clients.', (s) => s.counters.bytesWritten);
  sum(
    'output_stalls_total',
    'Times a connection stopped running requests until its client read its replies (the output budget, --max-output-bytes).',
    (s) => s.counters.outputStalls,
  );

  const perBackend = (name: string, help: string, field: string, type: 'counter' | 'gauge' = 'counter') => {
    const collect = function (this: Counter<'backend' | 'tier'> | Gauge<'backend' | 'tier'>) {
      this.reset();
      for (const b of sources.backends) {
        const { labels, figures } = backendFigures(b);
        const v = figures[field] ?? 0;
        if (this instanceof Gauge) this.set(labels, v);
        else this.inc(labels, v);
      }
    };
    const labelNames = ['backend', 'tier'] as const;
    if (type === 'gauge') new Gauge({ name: PREFIX + name, help, labelNames, registers: [registry], collect });
    else new Counter({ name: PREFIX + name, help, labelNames, registers: [registry], collect });
  };
  perBackend('backend_requests_total', 'Requests sent to the backend memcached.', 'backend_requests');
  perBackend(
    'backend_errors_total',
    'Backend requests that failed (timeouts, lost connections, SERVER_ERROR, refused at once).',
    'backend_errors',
  );
  perBackend('backend_timeouts_total', 'Times a backend connection was dropped because a reply did not come in time.', 'backend_timeouts');
  perBackend('backend_reconnects_total', 'Backend connection attempts after the first one of each connection.', 'backend_reconnects');
  perBackend('backend_connections_ready', 'Backend connections ready now.', 'backend_connections_ready', 'gauge');
  perBackend('backend_in_flight', 'Backend requests written or queued and not yet answered.', 'backend_in_flight', 'gauge');
  new Gauge({
    name: `${PREFIX}backend_up`,
    help: 'Whether the backend is usable: 1 when a connection to it is ready (and, in a pool, it is in service), else 0.',
    labelNames: ['backend', 'tier'],
    registers: [registry],
    collect() {
      this.reset();
      for (const b of sources.backends) {
        const { labels, figures } = backendFigures(b);
        const up = (figures.backend_connections_ready ?? 0) > 0 && (b.member === undefined || b.member.state === 'up');
        this.set(labels, up ? 1 : 0);
      }
    },
  });
  return registry;
}

export interface MetricsServer {
  /** Where it listens (the port resolved when 0 was asked). */
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Serve `registry` at http://host:port/metrics (404 elsewhere). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<MetricsServer> {
  const http: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found: metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (err: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  return {
    address: http.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}
