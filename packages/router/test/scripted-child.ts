/**
 * A child Handler for route tests whose answers a test scripts: it records every command it receives ("get k",
 * "set k v", ...) and answers with what `answer` says, synchronously, in a later microtask, or when the test
 * releases it. An Error answer is thrown (sync) or rejected; `servesKeys` plays a pool's key health.
 */
import {
  HandlerError,
  type ArithmeticCommand,
  type DeleteCommand,
  type GetCommand,
  type Handler,
  type ItemView,
  type MaybePromise,
  type StoreCommand,
  type TouchCommand,
} from '@cleave/protocol';
import type { AnyOutcome, RouteOp } from '../src/index.js';

export type Answer = AnyOutcome | Error;
export type Timing = 'sync' | 'async' | 'held';

export const k = (s: string): Buffer => Buffer.from(s);
export const item = (key: string, value: string): ItemView => ({ key: k(key), value: k(value), flags: 0, cas: 1n, exptime: 0 });
export const getCmd = (key: string): GetCommand => ({ key: k(key) });
export const setCmd = (key: string, value: string): StoreCommand => ({ key: k(key), mode: 'set', value: k(value), flags: 0, exptime: 0 });
export const deleteCmd = (key: string): DeleteCommand => ({ key: k(key) });
export const incrCmd = (key: string): ArithmeticCommand => ({ key: k(key), incr: true, delta: 1n });
export const touchCmd = (key: string): TouchCommand => ({ key: k(key), exptime: 10 });

/** One error of each kind a route tells apart (see failoverKind). */
export const errors = {
  tko: new HandlerError('backend unavailable', 'BACKEND_UNAVAILABLE'),
  connect_error: new HandlerError('connection refused', 'BACKEND_REFUSED'),
  connect_timeout: new HandlerError('connect timeout', 'BACKEND_CONNECT_TIMEOUT'),
  data_timeout: new HandlerError('backend timeout', 'BACKEND_TIMEOUT'),
  busy: new HandlerError('busy', 'BACKEND_BUSY'),
  try_again: new HandlerError('retries', 'CHUNKED_READ_RETRIES'),
  remote_error: new HandlerError('out of memory', 'BACKEND_ERROR'),
  local_error: new Error('a bug'),
  client_error: new HandlerError('bad key', 'BAD_KEY'),
} as const;

export class Scripted implements Handler {
  /** Every command received, in order: "get k", "set k v", "delete k", "incr k", "touch k". */
  readonly calls: string[] = [];
  /** The commands themselves, for what they point to after the route answered. */
  readonly cmds: Array<{ readonly key: Buffer; readonly value?: Buffer }> = [];
  servesKeys = true;
  flushed = 0;
  closed = 0;
  private readonly held: Array<() => void> = [];

  constructor(
    public answer: (op: RouteOp) => Answer,
    public timing: Timing = 'sync',
  ) {}

  /** A child that always answers `a`. */
  static always(a: Answer, timing: Timing = 'sync'): Scripted {
    return new Scripted(() => a, timing);
  }

  /** Release the held answers, in the order they were asked. */
  release(): void {
    for (const f of this.held.splice(0)) f();
  }

  get waiting(): number {
    return this.held.length;
  }

  serves(_key: Buffer): boolean {
    return this.servesKeys;
  }

  private reply<T>(op: RouteOp, call: string, cmd: { readonly key: Buffer; readonly value?: Buffer }): MaybePromise<T> {
    this.calls.push(call);
    this.cmds.push(cmd);
    const a = this.answer(op);
    if (this.timing === 'sync') {
      if (a instanceof Error) throw a;
      return a as T;
    }
    return new Promise<T>((resolve, reject) => {
      const settle = () => (a instanceof Error ? reject(a) : resolve(a as T));
      if (this.timing === 'async') queueMicrotask(settle);
      else this.held.push(settle);
    });
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.reply('get', `get ${cmd.key}`, cmd);
  }
  store(cmd: StoreCommand): MaybePromise<ItemView | 'NOT_STORED'> {
    return this.reply('store', `${cmd.mode} ${cmd.key} ${cmd.value}`, cmd);
  }
  delete(cmd: DeleteCommand): MaybePromise<'DELETED' | 'NOT_FOUND'> {
    return this.reply('delete', `delete ${cmd.key}`, cmd);
  }
  arithmetic(cmd: ArithmeticCommand): MaybePromise<ItemView | 'NOT_FOUND'> {
    return this.reply('arithmetic', `${cmd.incr ? 'incr' : 'decr'} ${cmd.key}`, cmd);
  }
  touch(cmd: TouchCommand): MaybePromise<'TOUCHED' | 'NOT_FOUND'> {
    return this.reply('touch', `touch ${cmd.key}`, cmd);
  }
  flush(): void {
    this.flushed++;
  }
  close(): void {
    this.closed++;
  }
}

/** An outcome, or the error it failed with: for expecting either. */
export async function outcome(p: MaybePromise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    return err;
  }
}

/** Whether `v` is ready now (not a Promise). */
export function ready(v: unknown): boolean {
  return !(v instanceof Promise);
}
