import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  MaybePromise,
  Orchestrator,
  OrchestratorFactory,
  StatsGroup,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';

/**
 * One tier: every request goes straight to the L1 handler. It adds nothing
 * on the request path (each method is a direct call), so an in-memory L1
 * keeps its synchronous, Promise-free answers.
 */
export class L1Only implements Orchestrator {
  readonly l1: Handler;
  /** As L1: every call is L1's own. */
  readonly keepsNewCas: boolean | undefined;

  /** Present exactly when L1 has it, so callers batch multi-gets only where L1 can. */
  readonly getMany?: (cmds: readonly GetCommand[]) => MaybePromise<(ItemView | undefined)[]>;

  constructor(l1: Handler) {
    this.l1 = l1;
    this.keepsNewCas = l1.keepsNewCas;
    if (l1.getMany) this.getMany = (cmds) => l1.getMany!(cmds);
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.l1.get(cmd);
  }

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.l1.store(cmd);
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.l1.delete(cmd);
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.l1.arithmetic(cmd);
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.l1.touch(cmd);
  }

  flush(delay: number): MaybePromise<void> {
    return this.l1.flush(delay);
  }

  stats(group: string): StatsGroup | undefined {
    return this.l1.stats?.(group);
  }

  close(): MaybePromise<void> {
    return this.l1.close();
  }
}

/** `l1Only(l1)`: serve from the L1 handler alone (the same as serving `l1` itself, named for symmetry with `l1l2`). */
export const l1Only: OrchestratorFactory = (l1: Handler) => new L1Only(l1);
