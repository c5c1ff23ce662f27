/**
 * What memproxy's thread suites share: the thread counts they run at, the
 * flags that ask for them, and a memproxy started with them.
 */
import { startMemproxy, type Running } from './spawn.js';

/** The thread counts the proof names. */
export const THREADS = [2, 4] as const;

/** memproxy's flags for `threads` serving threads (none for one: the default). */
export const threadFlags = (threads: number): string[] => (threads > 1 ? ['--threads', String(threads)] : []);

/** memproxy on a free port with `threads` threads, in-memory unless `extra` names a backend. */
export const startThreaded = (threads: number, extra: string[] = []): Promise<Running> =>
  startMemproxy(['-p', '0', ...threadFlags(threads), ...extra]);
