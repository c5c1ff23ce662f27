/**
 * The reference model against a server over the wire: a Handler that speaks
 * the text and meta protocols to a memcached-compatible server, and a check
 * that runs a random command sequence through it and through the model. The
 * model's own test runs it against memcached; memproxy's thread suites run it
 * with the commands spread over connections that land on different threads.
 */
import type fc from 'fast-check';
import type {
  ArithmeticCommand,
  ArithmeticOutcome,
  DeleteCommand,
  DeleteOutcome,
  GetCommand,
  Handler,
  ItemView,
  StoreCommand,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import type { RawClient } from './raw-client.js';
import {
  MODEL_CAS_START,
  MODEL_KEYS,
  ModelRunner,
  ReferenceModel,
  modelCommandArb,
  show,
  type ItemSummary,
  type ModelCommand,
} from './reference-model.js';

/**
 * The model's sequences for a server on the real clock (TTLs a ticking second
 * cannot reach, no CAS from the future), minus `ma T`: memcached 1.6.18 applies T only to a
 * counter rewritten in place; when the result needs more digits its reply
 * shows the new TTL but the item keeps the old one (`set x 0 1000 1` `9`,
 * `ma x D1 T5000 v t` answers t5000, `mg x t` then t1000). cleave applies it
 * either way.
 */
export const wireModelCommandArb: fc.Arbitrary<ModelCommand> = modelCommandArb({ realClock: true, newCas: false }).map((c) => {
  if (c.t !== 'arithmetic' || c.touch === undefined) return c;
  const { touch: _, ...rest } = c;
  return rest;
});

/** What a reply of each kind cannot show. */
const NOT_ON_WIRE: (keyof ItemSummary)[] = ['exptime', 'previousExptime', 'created', 'fetched', 'lastAccess'];
const TEXT_GET_UNREPORTED: (keyof ItemSummary)[] = [...NOT_ON_WIRE, 'stale', 'win', 'tokenSent'];
const STORE_UNREPORTED: (keyof ItemSummary)[] = [...TEXT_GET_UNREPORTED, 'value', 'flags', 'cas'];
const INCR_UNREPORTED: (keyof ItemSummary)[] = [...TEXT_GET_UNREPORTED, 'flags', 'cas'];
const MA_UNREPORTED: (keyof ItemSummary)[] = [...TEXT_GET_UNREPORTED, 'flags'];

function item(key: Buffer, value: Buffer, fields: Partial<ItemView>, unreported: (keyof ItemSummary)[]): ItemView {
  return { key, value, flags: 0, cas: 0n, exptime: 0, lastAccess: 0, fetched: false, ...fields, unreported } as ItemView;
}

/** Cursor over a reply (latin1, length-delimited values). */
class Reply {
  private at = 0;
  constructor(private readonly text: string) {}
  line(): string {
    const end = this.text.indexOf('\r\n', this.at);
    if (end < 0) throw new Error(`reply ends early: ${JSON.stringify(this.text)}`);
    const l = this.text.slice(this.at, end);
    this.at = end + 2;
    return l;
  }
  data(n: number): Buffer {
    const d = Buffer.from(this.text.slice(this.at, this.at + n), 'latin1');
    this.at += n + 2;
    return d;
  }
}

/**
 * A memcached-compatible server behind the Handler interface, one command at
 * a time over text connections: text commands for what the text protocol
 * says, meta commands for the meta options (N, R, I, CAS on delete/append, ma
 * with N/T/C), for gets that take recache tokens (`tokens`), and for a
 * compare-and-swap set that must drop the old item when refused
 * (`unlinkOnFailure`). Given several connections it sends each command on the
 * next one in turn, so a server with several threads serves one sequence
 * from all of them.
 */
export class WireHandler implements Handler {
  private next = 0;
  private readonly clients: readonly RawClient[];

  constructor(clients: RawClient | readonly RawClient[]) {
    this.clients = Array.isArray(clients) ? clients : [clients as RawClient];
  }

  private async ask(req: Buffer | string): Promise<Reply> {
    const c = this.clients[this.next++ % this.clients.length]!;
    return new Reply((await c.exchange(req, 'text')).toString('latin1'));
  }

  private mgLine(cmd: GetCommand): string {
    const k = cmd.key.toString('latin1');
    let f = 'v c f';
    // T before N: memcached applies meta flags in order, so T touches an item that exists and
    // N gives a created one its exptime (vivify is the exptime a created item ends with).
    if (cmd.touch !== undefined) f += ` T${cmd.touch}`;
    if (cmd.vivify !== undefined) f += ` N${cmd.vivify}`;
    if (cmd.recache !== undefined) f += ` R${cmd.recache}`;
    if (cmd.noBump) f += ' u';
    return `mg ${k} ${f}\r\n`;
  }

  private mgReply(r: Reply, key: Buffer): ItemView | undefined {
    const l = r.line();
    if (l === 'EN') return undefined;
    const t = l.split(' ');
    if (t[0] !== 'VA') throw new Error(`mg: ${l}`);
    const value = r.data(Number(t[1]));
    const fields: Partial<ItemView> = { stale: false, win: false, tokenSent: false };
    for (const tok of t.slice(2)) {
      if (tok[0] === 'c') (fields as { cas: bigint }).cas = BigInt(tok.slice(1));
      else if (tok[0] === 'f') (fields as { flags: number }).flags = Number(tok.slice(1));
      else if (tok === 'W') (fields as { win: boolean }).win = true;
      else if (tok === 'X') (fields as { stale: boolean }).stale = true;
      else if (tok === 'Z') (fields as { tokenSent: boolean }).tokenSent = true;
    }
    return item(key, value, fields, NOT_ON_WIRE);
  }

  private valueReplies(r: Reply, keys: Buffer[]): (ItemView | undefined)[] {
    const byKey = new Map<string, ItemView[]>();
    for (;;) {
      const l = r.line();
      if (l === 'END') break;
      const t = l.split(' ');
      if (t[0] !== 'VALUE') throw new Error(`get: ${l}`);
      const key = Buffer.from(t[1]!, 'latin1');
      const it = item(key, r.data(Number(t[3])), { flags: Number(t[2]), cas: BigInt(t[4]!) }, TEXT_GET_UNREPORTED);
      const list = byKey.get(t[1]!) ?? [];
      list.push(it);
      byKey.set(t[1]!, list);
    }
    return keys.map((k) => byKey.get(k.toString('latin1'))?.shift());
  }

  private textGet(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    const keys = cmds.map((c) => c.key);
    const names = keys.map((k) => k.toString('latin1')).join(' ');
    const touch = cmds[0]!.touch;
    return this.ask(touch === undefined ? `gets ${names}\r\n` : `gats ${touch} ${names}\r\n`).then((r) => this.valueReplies(r, keys));
  }

  private static plain(cmd: GetCommand): boolean {
    return cmd.tokens !== true && cmd.vivify === undefined && cmd.recache === undefined && !cmd.noBump;
  }

  async get(cmd: GetCommand): Promise<ItemView | undefined> {
    if (WireHandler.plain(cmd)) return (await this.textGet([cmd]))[0];
    return this.mgReply(await this.ask(this.mgLine(cmd)), cmd.key);
  }

  async getMany(cmds: readonly GetCommand[]): Promise<(ItemView | undefined)[]> {
    if (cmds.every((c) => WireHandler.plain(c))) return this.textGet(cmds);
    const r = await this.ask(cmds.map((c) => this.mgLine(c)).join(''));
    return cmds.map((c) => this.mgReply(r, c.key));
  }

  async store(cmd: StoreCommand): Promise<StoreOutcome> {
    const k = cmd.key.toString('latin1');
    const value = Buffer.concat([cmd.value, Buffer.from('\r\n')]);
    const cas = cmd.compareCas;
    let line: string;
    const viaMs =
      cmd.invalidate || (cas !== undefined && (cmd.mode === 'append' || cmd.mode === 'prepend' || cmd.unlinkOnFailure === true));
    if (viaMs) {
      // memcached's ms modes: E add, A append, P prepend, R replace, S set.
      const mode = { set: 'S', add: 'E', replace: 'R', append: 'A', prepend: 'P' }[cmd.mode];
      line = `ms ${k} ${cmd.value.length} F${cmd.flags} T${cmd.exptime} M${mode}${cas !== undefined ? ` C${cas}` : ''}${cmd.invalidate ? ' I' : ''}\r\n`;
    } else if (cas !== undefined && (cmd.mode === 'set' || cmd.mode === 'replace')) {
      line = `cas ${k} ${cmd.flags} ${cmd.exptime} ${cmd.value.length} ${cas}\r\n`;
    } else {
      line = `${cmd.mode} ${k} ${cmd.flags} ${cmd.exptime} ${cmd.value.length}\r\n`;
    }
    const l = (await this.ask(Buffer.concat([Buffer.from(line, 'latin1'), value]))).line();
    const outcome: Record<string, StoreOutcome | undefined> = {
      STORED: item(cmd.key, cmd.value, {}, STORE_UNREPORTED),
      HD: item(cmd.key, cmd.value, {}, STORE_UNREPORTED),
      NOT_STORED: 'NOT_STORED',
      NS: 'NOT_STORED',
      EXISTS: 'EXISTS',
      EX: 'EXISTS',
      NOT_FOUND: 'NOT_FOUND',
      NF: 'NOT_FOUND',
      'SERVER_ERROR object too large for cache': 'TOO_LARGE',
    };
    const o = outcome[l];
    if (o === undefined) throw new Error(`${line.trim()}: ${l}`);
    return o;
  }

  async delete(cmd: DeleteCommand): Promise<DeleteOutcome> {
    const k = cmd.key.toString('latin1');
    if (cmd.compareCas === undefined && !cmd.invalidate) {
      const l = (await this.ask(`delete ${k}\r\n`)).line();
      if (l !== 'DELETED' && l !== 'NOT_FOUND') throw new Error(`delete: ${l}`);
      return l;
    }
    let f = '';
    if (cmd.compareCas !== undefined) f += ` C${cmd.compareCas}`;
    if (cmd.invalidate) f += ' I';
    if (cmd.exptime !== undefined) f += ` T${cmd.exptime}`;
    const l = (await this.ask(`md ${k}${f}\r\n`)).line();
    const o = ({ HD: 'DELETED', NF: 'NOT_FOUND', EX: 'EXISTS' } as const)[l as 'HD'];
    if (o === undefined) throw new Error(`md: ${l}`);
    return o;
  }

  async arithmetic(cmd: ArithmeticCommand): Promise<ArithmeticOutcome> {
    const k = cmd.key.toString('latin1');
    const nonNumeric = 'CLIENT_ERROR cannot increment or decrement non-numeric value';
    if (cmd.initial === undefined && cmd.touch === undefined && cmd.compareCas === undefined) {
      const l = (await this.ask(`${cmd.incr ? 'incr' : 'decr'} ${k} ${cmd.delta}\r\n`)).line();
      if (l === 'NOT_FOUND') return l;
      if (l === nonNumeric) return 'NON_NUMERIC';
      if (!/^\d+$/.test(l)) throw new Error(`incr: ${l}`);
      return item(cmd.key, Buffer.from(l, 'latin1'), {}, INCR_UNREPORTED);
    }
    let f = ` D${cmd.delta} M${cmd.incr ? 'I' : 'D'} v c`;
    if (cmd.initial !== undefined) f += ` N${cmd.exptime ?? 0} J${cmd.initial}`;
    if (cmd.touch !== undefined) f += ` T${cmd.touch}`;
    if (cmd.compareCas !== undefined) f += ` C${cmd.compareCas}`;
    const r = await this.ask(`ma ${k}${f}\r\n`);
    const l = r.line();
    if (l === 'NF') return 'NOT_FOUND';
    if (l === 'EX') return 'EXISTS';
    if (l === nonNumeric) return 'NON_NUMERIC';
    const t = l.split(' ');
    if (t[0] !== 'VA') throw new Error(`ma: ${l}`);
    const value = r.data(Number(t[1]));
    const cas = BigInt(t.find((x) => x[0] === 'c')!.slice(1));
    return item(cmd.key, value, { cas }, MA_UNREPORTED);
  }

  async touch(cmd: TouchCommand): Promise<TouchOutcome> {
    const l = (await this.ask(`touch ${cmd.key.toString('latin1')} ${cmd.exptime}\r\n`)).line();
    if (l !== 'TOUCHED' && l !== 'NOT_FOUND') throw new Error(`touch: ${l}`);
    return l;
  }

  async flush(delay: number): Promise<void> {
    const l = (await this.ask(`flush_all ${delay}\r\n`)).line();
    if (l !== 'OK') throw new Error(`flush_all: ${l}`);
  }

  close(): void {}
}

/**
 * Run `ops` through the model and through a server (over `clients`, in turn),
 * from a fresh start: flush_all (a pending delayed one goes too), then the
 * model's keys deleted for good (a later delayed flush_all would bring
 * flushed items back in memcached). Throws at the first reply, or final
 * value or flags of a key, that differs from the model's; resolves with the
 * number of commands run.
 */
export async function runModelOverWire(clients: RawClient | readonly RawClient[], ops: readonly ModelCommand[]): Promise<number> {
  const wire = new WireHandler(clients);
  await wire.flush(0);
  for (const k of MODEL_KEYS) await wire.delete({ key: Buffer.from(k, 'latin1') });
  const runner = new ModelRunner(new ReferenceModel({ clock: Date.now, casStart: MODEL_CAS_START }), { cas: 'bijection', access: false });
  for (const o of ops) if (o.t !== 'advance') await runner.run(wire, o);
  // Every key ends as the model says (text gets take no token).
  const end = await wire.getMany(MODEL_KEYS.map((k): GetCommand => ({ key: Buffer.from(k, 'latin1') })));
  MODEL_KEYS.forEach((k, i) => {
    const want = runner.model.peek(k);
    const value = end[i]?.value.toString('latin1');
    if (value !== want?.value.toString('latin1')) throw new Error(`final value of ${show(k)}: ${show(value)}, model ${show(want?.value)}`);
    if (end[i]?.flags !== want?.flags) throw new Error(`final flags of ${show(k)}: ${end[i]?.flags}, model ${want?.flags}`);
  });
  return runner.commands;
}
