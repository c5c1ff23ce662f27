/**
 * What memproxy's thread suites share: the thread counts they run at, the
 * flags that ask for them, and a memproxy started with them.
 */
import { loopShares, servingLoops } from '@cleave/testkit';
import { startMemproxy, type Running } from './spawn.js';

/** The thread counts the proof names. */
export const THREADS = [2, 4] as const;

/**
 * Connections enough that, opened at once, every one of `threads` threads
 * serves some: the server keeps each thread within its share + 2
 * (ceil(connections / threads) + 2, packages/server), so threads - 1 of them
 * cannot hold threads * (2 * threads - 1).
 */
export const everyThread = (threads: number): number => threads * (2 * threads - 1);

/** The fewest threads `connections` opened at once can land on, by the same rule. */
export const leastThreads = (connections: number, threads: number): number =>
  Math.ceil(connections / (Math.ceil(connections / threads) + 2));

/** memproxy's flags for `threads` serving threads (none for one: the default). */
export const threadFlags = (threads: number): string[] => (threads > 1 ? ['--threads', String(threads)] : []);

/** memproxy on a free port with `threads` threads, in-memory unless `extra` names a backend. */
export const startThreaded = (threads: number, extra: string[] = []): Promise<Running> =>
  startMemproxy(['-p', '0', ...threadFlags(threads), ...extra]);

/** How many of the connections from `ports` each of memproxy's threads serves, largest first (testkit's servingLoops). */
export async function threadShares(mp: Running, ports: readonly number[]): Promise<number[]> {
  return loopShares(await servingLoops(mp.child.pid!, mp.port, ports));
}
