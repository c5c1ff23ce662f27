import { InMemoryHandler } from '@cleave/handler-inmem';
import { listenAndServe } from '@cleave/server';

// A memcached-compatible server: text, meta and binary protocol, 64 MiB in-memory L1.
const server = await listenAndServe({
  listen: { host: '127.0.0.1', port: Number(process.env.PORT ?? 11211) },
  handler: new InMemoryHandler({ maxBytes: 64 * 1024 * 1024 }),
});

const address = server.addresses[0]!;
console.log('listening on', 'port' in address ? `${address.host}:${address.port}` : address.path);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void server.close().then(() => process.exit(0)));
}
