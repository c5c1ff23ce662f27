// memproxy's LMDB stores (--l1-lmdb, --l2-lmdb): one memproxy per store, and a store that cannot be opened
// reported naming its flag.
//
// LMDB lets several processes open one store, but an LmdbHandler keeps the store's next CAS unique and its byte
// count in its own memory: two processes on one store would hand out the same CAS uniques and overrun the cap.
// So a memproxy holds a lock on its store while it serves: a unix socket listener named after the store's real
// path. The kernel removes it when the process ends, kill -9 included, so a crash never leaves a stale lock.

import { createHash } from 'node:crypto';
import { mkdirSync, realpathSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { Logger } from '@cleave/core';
import { LmdbHandler } from '@cleave/handler-lmdb';
import { fileNamed } from './config.js';

/** A store memproxy cannot serve: the message names the flag, the path and why. */
export class StoreProblem extends Error {
  override readonly name = 'StoreProblem';
}

/** The lock's socket: in Linux's abstract namespace (no file, no path length limit), elsewhere a file in the store. */
function lockAddress(dir: string): string {
  if (process.platform !== 'linux') return join(dir, 'memproxy.lock');
  const id = createHash('sha256').update(realpathSync(dir)).digest('hex').slice(0, 40);
  return `\0cleave-lmdb-${id}`;
}

const listen = (server: net.Server, path: string) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });

/** Whether a live process listens on `path` (a socket file a crashed memproxy left behind does not). */
const listened = (path: string) =>
  new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });

/**
 * Take the store at `dir` for this process (creating the directory when missing), or throw a StoreProblem when
 * another memproxy serves it. The lock lasts as long as the process.
 */
export async function lockStore(label: string, dir: string): Promise<void> {
  const named = fileNamed(label, dir);
  try {
    mkdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
      throw new StoreProblem(`${named}: cannot create the directory: ${(e as Error).message}`);
  }
  const path = lockAddress(dir);
  const server = net.createServer();
  for (let attempt = 0; ; attempt++) {
    try {
      await listen(server, path);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE')
        throw new StoreProblem(`${named}: cannot lock the store: ${(e as Error).message}`);
      if (attempt > 0 || (await listened(path)))
        throw new StoreProblem(`${named}: another memproxy serves this store (one process per store)`);
      // A socket file left by a memproxy that was killed: nobody listens, so it is taken over.
      unlinkSync(path);
    }
  }
  server.unref();
}

/** Open the LMDB store a flag names; a failure becomes a StoreProblem naming the flag. */
export function openStore(
  label: string,
  options: { path: string; maxBytes: number; sync: boolean; maxItemSize: number; logger: Logger },
): LmdbHandler {
  try {
    return new LmdbHandler(options);
  } catch (e) {
    // The handler's own message names the path; lmdb's reason is its cause.
    const why = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
    throw new StoreProblem(`${fileNamed(label, options.path)}: cannot open the store: ${why}`);
  }
}
