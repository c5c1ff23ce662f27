import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GetCommand } from '@cleave/protocol';
import { FakeClock } from '@cleave/testkit';
import { LmdbHandler, type LmdbHandlerOptions } from '../src/index.js';

export { FakeClock };

/** A fresh directory for one store; `cleanup` removes it. */
export function tempStore(): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), 'cleave-lmdb-'));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A handler on a fresh directory with a fake clock and no background timer. */
export function makeHandler(options: Partial<LmdbHandlerOptions> = {}): {
  h: LmdbHandler;
  clock: FakeClock;
  path: string;
  reopen: () => Promise<LmdbHandler>;
  dispose: () => Promise<void>;
} {
  const clock = new FakeClock();
  const store = tempStore();
  const open = () => new LmdbHandler({ path: store.path, clock: clock.now, sweepIntervalMs: 0, ...options });
  const state = { h: open() };
  return {
    get h() {
      return state.h;
    },
    clock,
    path: store.path,
    reopen: async () => {
      await state.h.close();
      state.h = open();
      return state.h;
    },
    dispose: async () => {
      await state.h.close();
      store.cleanup();
    },
  };
}

/** A Buffer as a request would carry it: a view into a larger read buffer, not a standalone allocation. */
export function b(s: string | Buffer): Buffer {
  const src = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const backing = Buffer.alloc(src.length + 16, 0x23);
  src.copy(backing, 8);
  return backing.subarray(8, 8 + src.length);
}

/** A side-effect-free read (meta `me`). */
export function peek(key: string): GetCommand {
  return { key: Buffer.from(key, 'latin1'), noBump: true, debug: true } as GetCommand;
}
