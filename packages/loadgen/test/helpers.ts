import { InMemoryHandler } from '@cleave/handler-inmem';
import { l1Only } from '@cleave/orchestrator';
import type { Handler } from '@cleave/protocol';
import { listenAndServe, type Server } from '@cleave/server';

/** A cleave server on a free port, in this process. */
export async function startCleave(l1: Handler = new InMemoryHandler({ maxBytes: 64 << 20 })): Promise<{ server: Server; port: number }> {
  const server = await listenAndServe({ listen: { port: 0 }, orchestrator: l1Only, l1 });
  const a = server.addresses[0]!;
  if (!('port' in a)) throw new Error('expected a TCP listener');
  return { server, port: a.port };
}
