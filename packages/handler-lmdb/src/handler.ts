/**
 * The LMDB handler (being written): this commit fixes its public shape so the CLI can be built against it.
 */
import type { Handler } from '@cleave/protocol';
import type { LmdbHandlerOptions } from './options.js';

export declare class LmdbHandler implements Handler {
  /** Opens (or creates) the store at `options.path` synchronously; throws when the path cannot hold a store. */
  constructor(options: LmdbHandlerOptions);
  readonly path: string;
  /** Resolves once every write queued so far is committed. */
  flushed(): Promise<void>;
  /** Reclaim expired and flushed items now; returns how many. */
  sweep(): number;
  get: Handler['get'];
  store: Handler['store'];
  delete: Handler['delete'];
  arithmetic: Handler['arithmetic'];
  touch: Handler['touch'];
  flush: Handler['flush'];
  stats: NonNullable<Handler['stats']>;
  /** Waits for queued writes, then closes the store. */
  close(): Promise<void>;
}
