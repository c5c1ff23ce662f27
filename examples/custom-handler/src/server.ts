/**
 * A memcached-compatible server whose storage is TtlMapHandler:
 *
 *     PORT=11211 npx tsx examples/custom-handler/src/server.ts
 *
 * then talk to it with any memcached client, e.g.
 *
 *     printf 'set greeting 0 60 5\r\nhello\r\nget greeting\r\n' | nc 127.0.0.1 11211
 */
import { listenAndServe } from '@cleave/server';
import { TtlMapHandler } from './ttl-map-handler.js';

const server = await listenAndServe({
  listen: { port: Number(process.env.PORT ?? 11211), host: '127.0.0.1' },
  handler: new TtlMapHandler({ maxItems: 100_000 }),
});

for (const a of server.addresses) {
  console.log('path' in a ? `listening on ${a.path}` : `listening on ${a.host}:${a.port}`);
}

// Finish the requests in flight, close the connections and the handler, then exit.
let stopping = false;
const stop = (signal: NodeJS.Signals) => {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: closing`);
  server.close().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
