/**
 * A route tree that can be replaced while it serves (a configuration reloaded). Every command goes to the tree
 * current when it arrives; `swap(next)` makes `next` current at once, and resolves once every command already sent
 * to the old tree has settled, so the caller can then close what only the old tree used. Commands are counted only
 * while they are pending: an answer ready at once costs no allocation.
 */
import type {
  AdminCommand,
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { isPromise } from '@cleave/core';

/** One tree and its commands in flight. */
class Generation {
  pending = 0;
  private drainedCallbacks: (() => void)[] = [];
  constructor(readonly handler: Handler) {}

  /** Count a pending answer until it settles; hands back the same promise. */
  track<T>(r: MaybePromise<T>): MaybePromise<T> {
    if (!isPromise(r)) return r;
    this.pending++;
    r.then(this.settled, this.settled);
    return r;
  }

  readonly settled = (): void => {
    if (--this.pending === 0 && this.drainedCallbacks.length > 0) {
      const cbs = this.drainedCallbacks;
      this.drainedCallbacks = [];
      for (const cb of cbs) cb();
    }
  };

  drained(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainedCallbacks.push(resolve));
  }
}

export class Reloadable implements Handler {
  private current: Generation;

  constructor(tree: Handler) {
    this.current = new Generation(tree);
  }

  /** The tree that new commands go to. */
  get tree(): Handler {
    return this.current.handler;
  }

  /** Commands sent to the current tree that have not settled yet. */
  get pending(): number {
    return this.current.pending;
  }

  /**
   * Send new commands to `next` from now on. Resolves once every command sent to the previous tree settled (it is
   * not closed here: the caller closes what `next` does not share).
   */
  swap(next: Handler): Promise<void> {
    const old = this.current;
    this.current = new Generation(next);
    return old.drained();
  }

  get keepsNewCas(): boolean {
    return this.current.handler.keepsNewCas === true;
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    const g = this.current;
    return g.track(g.handler.get(cmd));
  }

  getMany(cmds: readonly GetCommand[]): MaybePromise<(ItemView | undefined)[]> {
    const g = this.current;
    const h = g.handler;
    if (h.getMany !== undefined) return g.track(h.getMany(cmds));
    const items: (ItemView | undefined)[] = new Array(cmds.length);
    let pending: Promise<unknown>[] | undefined;
    for (let i = 0; i < cmds.length; i++) {
      const r = h.get(cmds[i]!);
      if (isPromise(r)) {
        (pending ??= []).push(
          r.then((it) => {
            items[i] = it;
          }),
        );
      } else items[i] = r;
    }
    return pending === undefined ? items : g.track(Promise.all(pending).then(() => items));
  }

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const g = this.current;
    return g.track(g.handler.store(cmd));
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    const g = this.current;
    return g.track(g.handler.delete(cmd));
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    const g = this.current;
    return g.track(g.handler.arithmetic(cmd));
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    const g = this.current;
    return g.track(g.handler.touch(cmd));
  }

  flush(delay: number): MaybePromise<void> {
    const g = this.current;
    return g.track(g.handler.flush(delay));
  }

  stats(group: string): MaybePromise<StatsGroup | undefined> {
    const g = this.current;
    return g.handler.stats === undefined ? undefined : g.track(g.handler.stats(group));
  }

  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    const g = this.current;
    return g.handler.admin === undefined ? undefined : g.track(g.handler.admin(cmd));
  }

  ping(): MaybePromise<void> {
    const g = this.current;
    return g.handler.ping === undefined ? undefined : g.track(g.handler.ping());
  }

  /** Closes the current tree (trees swapped out are the caller's to close). */
  close(): MaybePromise<void> {
    return this.current.handler.close();
  }
}
