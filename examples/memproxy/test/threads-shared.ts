/**
 * What memproxy's thread suites share: the thread counts they run at, the
 * flags that ask for them, and a memproxy started with them.
 */
import { RawClient, loopShares, servingLoops } from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

/** The thread counts the proof names. */
export const THREADS = [2, 4] as const;

/** memproxy's flags for `threads` serving threads (none for one: the default). */
export const threadFlags = (threads: number): string[] => (threads > 1 ? ['--threads', String(threads)] : []);

/** memproxy on a free port with `threads` threads, in-memory unless `extra` names a backend. */
export const startThreaded = (threads: number, extra: string[] = []): Promise<Running> =>
  startMemproxy(['-p', '0', ...threadFlags(threads), ...extra]);

/** How many of the connections from `ports` each of memproxy's threads serves, largest first (testkit's servingLoops). */
export async function threadShares(mp: Running, ports: readonly number[]): Promise<number[]> {
  return loopShares(await servingLoops(mp.child.pid!, mp.port, ports));
}

/**
 * Open `count` connections at once, each answering a request, and tell how
 * many each thread serves, largest first; the connections are closed again.
 */
export async function spreadOf(mp: Running, count: number): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: count }, () => RawClient.connect({ port: mp.port })));
  try {
    await Promise.all(clients.map((c) => c.request('version\r\n', '\r\n')));
    return await threadShares(
      mp,
      clients.map((c) => c.localPort!),
    );
  } finally {
    for (const c of clients) c.close();
  }
}
