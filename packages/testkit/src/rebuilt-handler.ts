/**
 * A pass-through Handler that hands its inner handler every command rebuilt
 * as a plain object from the command's public typed fields, and nothing else.
 *
 * The server hands a handler the parsed request itself (a request extends its
 * command); a handler that reached for a request field the contract does not
 * name (`protocol`, `meta`, `cmd`, `textCas`, ...) would answer differently
 * behind this wrapper. Tests run the differential suites and memccapable
 * through it: the bytes must still match real memcached.
 *
 * Each rebuild lists every field of its command type; the `Exact<...>`
 * annotations make the compiler refuse a rebuild that misses a field the
 * contract gains later.
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

/** Every field of T present (possibly undefined): a literal of this type names them all. */
type Exact<T> = { [K in keyof Required<T>]: T[K] };

export function rebuildGet(c: GetCommand): GetCommand {
  const r: Exact<GetCommand> = {
    key: c.key,
    keyBinary: c.keyBinary,
    touch: c.touch,
    vivify: c.vivify,
    recache: c.recache,
    noBump: c.noBump,
    tokens: c.tokens,
    debug: c.debug,
    want: c.want,
  };
  return r;
}

export function rebuildStore(c: StoreCommand): StoreCommand {
  const r: Exact<StoreCommand> = {
    mode: c.mode,
    key: c.key,
    keyBinary: c.keyBinary,
    value: c.value,
    flags: c.flags,
    exptime: c.exptime,
    compareCas: c.compareCas,
    invalidate: c.invalidate,
    newCas: c.newCas,
    unlinkOnFailure: c.unlinkOnFailure,
  };
  return r;
}

export function rebuildDelete(c: DeleteCommand): DeleteCommand {
  const r: Exact<DeleteCommand> = {
    key: c.key,
    keyBinary: c.keyBinary,
    compareCas: c.compareCas,
    invalidate: c.invalidate,
    exptime: c.exptime,
  };
  return r;
}

export function rebuildArithmetic(c: ArithmeticCommand): ArithmeticCommand {
  const r: Exact<ArithmeticCommand> = {
    key: c.key,
    keyBinary: c.keyBinary,
    incr: c.incr,
    delta: c.delta,
    initial: c.initial,
    exptime: c.exptime,
    touch: c.touch,
    compareCas: c.compareCas,
    newCas: c.newCas,
    want: c.want,
  };
  return r;
}

export function rebuildTouch(c: TouchCommand): TouchCommand {
  const r: Exact<TouchCommand> = { key: c.key, keyBinary: c.keyBinary, exptime: c.exptime };
  return r;
}

/** `inner`, reached only through commands rebuilt from their typed fields. */
export class RebuiltCommandsHandler implements Handler {
  readonly getMany?: (cmds: readonly GetCommand[]) => MaybePromise<(ItemView | undefined)[]>;
  readonly keepsNewCas?: boolean;

  constructor(readonly inner: Handler) {
    if (inner.getMany) this.getMany = (cmds) => inner.getMany!(cmds.map(rebuildGet));
    if (inner.keepsNewCas !== undefined) this.keepsNewCas = inner.keepsNewCas;
  }

  get(cmd: GetCommand): MaybePromise<ItemView | undefined> {
    return this.inner.get(rebuildGet(cmd));
  }

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    return this.inner.store(rebuildStore(cmd));
  }

  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.inner.delete(rebuildDelete(cmd));
  }

  arithmetic(cmd: ArithmeticCommand): MaybePromise<ArithmeticOutcome> {
    return this.inner.arithmetic(rebuildArithmetic(cmd));
  }

  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    return this.inner.touch(rebuildTouch(cmd));
  }

  flush(delay: number): MaybePromise<void> {
    return this.inner.flush(delay);
  }

  stats(group: string): MaybePromise<StatsGroup | undefined> {
    return this.inner.stats?.(group);
  }

  admin(cmd: AdminCommand): MaybePromise<Buffer | undefined> {
    return this.inner.admin?.({ name: cmd.name, args: [...cmd.args] });
  }

  close(): MaybePromise<void> {
    return this.inner.close();
  }
}
