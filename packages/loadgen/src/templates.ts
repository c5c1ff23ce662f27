/**
 * Request templates. The protocol package's request encoders build every
 * command once, with marker values where the key, client flags, length, CAS,
 * opaque and data block go; the result is cut at the markers into constant
 * pieces. In the hot loop a request is the pieces copied into the batch with
 * the variable parts written between them, digit by digit — no strings, no
 * Request objects.
 */
import {
  BINARY_HEADER_LENGTH,
  BinaryExtras,
  BinaryExtrasField as X,
  BinaryHeader as H,
  BinaryOpcode as Op,
  encodeBinaryRequest,
  encodeMetaRequest,
  encodeTextRequest,
  type MetaFlags,
  type Request,
  type StoreMode,
} from '@cleave/protocol';
import {
  ADD,
  APPEND,
  CAS,
  COMMAND_COUNT,
  COUNTER,
  DECR,
  DELETE,
  GAT,
  GET,
  GETS,
  INCR,
  PREPEND,
  REPLACE,
  SET,
  TOUCH,
  carriesValue,
} from './commands.js';
import type { KeySpace } from './keys.js';
import type { Op as Operation } from './op.js';
import type { Out } from './out.js';
import type { ValueSource } from './values.js';

export type ProtocolName = 'text' | 'meta' | 'binary';

const S_KEY = 0;
const S_FLAGS = 1;
const S_LEN = 2;
const S_CAS = 3;
const S_OPAQUE = 4;
const S_VALUE = 5;

const FLAGS_MARK = 3141592653;
const LEN_MARK = 27183;
const CAS_MARK = 2718281828459045235n;
const OPAQUE_MARK = '8675309';

interface Template {
  /** Constant pieces; the slot `slots[i]` goes between pieces[i] and pieces[i + 1]. */
  readonly pieces: Buffer[];
  readonly slots: number[];
  /** Bytes of the pieces, all together. */
  readonly fixed: number;
}

/** Cut `encoded` at each marker that occurs in it. */
function compile(encoded: Buffer, keyMark: Buffer, valueMark: Buffer): Template {
  const markers: Array<[number, Buffer]> = [
    [S_KEY, keyMark],
    [S_FLAGS, Buffer.from(String(FLAGS_MARK))],
    [S_LEN, Buffer.from(String(LEN_MARK))],
    [S_CAS, Buffer.from(CAS_MARK.toString())],
    [S_OPAQUE, Buffer.from(OPAQUE_MARK)],
    [S_VALUE, valueMark],
  ];
  // The data block comes after the line: search for line markers before it only.
  const lineEnd = encoded.indexOf('\r\n');
  const found: Array<{ at: number; n: number; slot: number }> = [];
  for (const [slot, mark] of markers) {
    const limit = slot === S_VALUE ? encoded.length : lineEnd;
    const at = encoded.indexOf(mark);
    if (at < 0 || at >= limit) continue;
    if (slot !== S_VALUE && encoded.indexOf(mark, at + 1) >= 0 && encoded.indexOf(mark, at + 1) < limit) {
      throw new Error(`template marker for slot ${slot} occurs twice in ${JSON.stringify(encoded.toString('latin1'))}`);
    }
    found.push({ at, n: mark.length, slot });
  }
  found.sort((a, b) => a.at - b.at);
  const pieces: Buffer[] = [];
  const slots: number[] = [];
  let pos = 0;
  for (const f of found) {
    pieces.push(Buffer.from(encoded.subarray(pos, f.at)));
    slots.push(f.slot);
    pos = f.at + f.n;
  }
  pieces.push(Buffer.from(encoded.subarray(pos)));
  return { pieces, slots, fixed: pieces.reduce((a, p) => a + p.length, 0) };
}

const MODES: Record<number, StoreMode> = {
  [SET]: 'set',
  [ADD]: 'add',
  [REPLACE]: 'replace',
  [APPEND]: 'append',
  [PREPEND]: 'prepend',
  [CAS]: 'set',
};

/** The binary opcode each command is sent with (the reply carries the same). */
export const BINARY_OPCODE: Record<number, number> = {
  [GET]: Op.GETK,
  [GETS]: Op.GETK,
  [GAT]: Op.GATK,
  [SET]: Op.SET,
  [ADD]: Op.ADD,
  [REPLACE]: Op.REPLACE,
  [APPEND]: Op.APPEND,
  [PREPEND]: Op.PREPEND,
  [CAS]: Op.SET,
  [DELETE]: Op.DELETE,
  [INCR]: Op.INCREMENT,
  [DECR]: Op.DECREMENT,
  [TOUCH]: Op.TOUCH,
};

/**
 * Meta return flags per command. `v`/`f`/`c` fetch what the checks need;
 * with verification on, `k` (key) and `O` (opaque) come back in every reply
 * so a reply can be matched to its request.
 */
function metaRet(cmd: number, verify: boolean): string {
  const echo = verify ? 'kO' : '';
  switch (cmd) {
    case GET:
      return (verify ? 'vf' : 'v') + echo;
    case GETS:
      return (verify ? 'vfc' : 'vc') + echo;
    case GAT:
      return (verify ? 'vf' : 'v') + 'T' + echo;
    case TOUCH:
      return 'T' + echo;
    case SET:
    case ADD:
    case REPLACE:
      return 'F' + echo;
    case CAS:
      return 'FC' + echo;
    case INCR:
    case DECR:
      return 'v' + echo;
    default:
      return echo;
  }
}

/** The Request the template of `cmd` is encoded from. */
function requestFor(protocol: ProtocolName, cmd: number, keyMark: Buffer, valueMark: Buffer, verify: boolean): Request {
  const base = {
    protocol,
    quiet: false,
    opcode: protocol === 'binary' ? BINARY_OPCODE[cmd]! : 0,
    opaque: 0,
  };
  const meta: MetaFlags | undefined =
    protocol === 'meta' ? { ret: metaRet(cmd, verify), opaqueToken: Buffer.from('O' + OPAQUE_MARK), wireKey: keyMark } : undefined;
  const withMeta = meta === undefined ? {} : { meta };
  // Binary bodies are written by hand after the header: encode them empty.
  const value = protocol === 'binary' ? Buffer.alloc(0) : valueMark;
  switch (cmd) {
    case GET:
    case GETS:
      return { ...base, ...withMeta, cmd: 'get', key: keyMark, withCas: cmd === GETS };
    case GAT:
      return { ...base, ...withMeta, cmd: 'get', key: keyMark, withCas: false, touch: 0 };
    case TOUCH:
      if (protocol === 'meta') return { ...base, ...withMeta, cmd: 'get', key: keyMark, withCas: false, touch: 0 };
      return { ...base, cmd: 'touch', key: keyMark, exptime: 0 };
    case SET:
    case ADD:
    case REPLACE:
    case APPEND:
    case PREPEND:
    case CAS:
      return {
        ...base,
        ...withMeta,
        cmd: 'store',
        mode: MODES[cmd]!,
        key: keyMark,
        value,
        flags: cmd === APPEND || cmd === PREPEND ? 0 : FLAGS_MARK,
        exptime: 0,
        ...(cmd === CAS ? { compareCas: protocol === 'binary' ? 0n : CAS_MARK } : {}),
      };
    case DELETE:
      return { ...base, ...withMeta, cmd: 'delete', key: keyMark };
    case INCR:
    case DECR:
      return { ...base, ...withMeta, cmd: cmd === INCR ? 'incr' : 'decr', key: keyMark, incr: cmd === INCR, delta: 1n };
    default:
      throw new Error(`no command ${cmd}`);
  }
}

/** Writes requests of one protocol into a batch. */
export class RequestWriter {
  private readonly templates: Template[] = [];
  /** Binary: header + extras of each command, with the key length already in place. */
  private readonly heads: Buffer[] = [];

  constructor(
    readonly protocol: ProtocolName,
    private readonly keys: KeySpace,
    private readonly values: ValueSource,
    verify: boolean,
  ) {
    const keyMark = Buffer.alloc(keys.keyLength, 0x7e); // '~' never occurs in a command word or number
    const valueMark = Buffer.alloc(LEN_MARK, 0);
    for (let cmd = 0; cmd < COMMAND_COUNT; cmd++) {
      const req = requestFor(protocol, cmd, keyMark, valueMark, verify);
      if (protocol === 'binary') {
        const packet = encodeBinaryRequest(req);
        this.heads.push(Buffer.from(packet.subarray(0, BINARY_HEADER_LENGTH + packet[H.EXTRAS_LENGTH]!)));
      } else {
        const encoded = protocol === 'text' ? encodeTextRequest(req) : encodeMetaRequest(req);
        this.templates.push(compile(encoded, keyMark, valueMark));
      }
    }
  }

  /** The request bytes for `cmd` as they would be sent for `op` (tests and reports). */
  encodeOne(out: Out, op: Operation): Buffer {
    this.write(out, op);
    return Buffer.from(out.take());
  }

  /** Append the request for `op` to the batch. */
  write(out: Out, op: Operation): void {
    if (this.protocol === 'binary') {
      this.writeBinary(out, op);
      return;
    }
    const t = this.templates[op.cmd]!;
    const keyLength = this.keys.keyLength;
    out.ensure(t.fixed + keyLength + op.len + 64);
    const pieces = t.pieces;
    const slots = t.slots;
    for (let i = 0; i < slots.length; i++) {
      out.put(pieces[i]!);
      switch (slots[i]) {
        case S_KEY:
          this.keys.write(out.buf, out.pos, op.family, op.key);
          out.pos += keyLength;
          break;
        case S_FLAGS:
          out.decimal(op.flags);
          break;
        case S_LEN:
          out.decimal(op.len);
          break;
        case S_CAS:
          out.decimal(op.cas);
          break;
        case S_OPAQUE:
          out.decimal(op.seq);
          break;
        case S_VALUE:
          this.writeValue(out, op);
          break;
      }
    }
    out.put(pieces[slots.length]!);
  }

  private writeValue(out: Out, op: Operation): void {
    if (op.family === COUNTER) {
      out.decimal(op.num);
      return;
    }
    this.values.write(out.buf, out.pos, op.key, op.flags, op.len);
    out.pos += op.len;
  }

  /**
   * Binary: copy the header and extras, then patch the total body length,
   * opaque, CAS and client flags at their offsets (protocol's BinaryHeader
   * and BinaryExtrasField).
   */
  private writeBinary(out: Out, op: Operation): void {
    const head = this.heads[op.cmd]!;
    const keyLength = this.keys.keyLength;
    const valueLength = carriesValue(op.cmd) ? op.len : 0;
    out.ensure(head.length + keyLength + valueLength);
    const buf = out.buf;
    const p = out.pos;
    head.copy(buf, p);
    buf.writeUInt32BE(head.length - BINARY_HEADER_LENGTH + keyLength + valueLength, p + H.BODY_LENGTH);
    buf.writeUInt32BE(op.seq >>> 0, p + H.OPAQUE);
    if (op.cmd === CAS) {
      buf.writeUInt32BE(Math.floor(op.cas / 4294967296) >>> 0, p + H.CAS);
      buf.writeUInt32BE(op.cas >>> 0, p + H.CAS + 4);
    }
    if (
      head.length >= BINARY_HEADER_LENGTH + BinaryExtras.STORE &&
      (op.cmd === SET || op.cmd === ADD || op.cmd === REPLACE || op.cmd === CAS)
    ) {
      buf.writeUInt32BE(op.flags >>> 0, p + BINARY_HEADER_LENGTH + X.STORE_FLAGS);
    }
    out.pos = p + head.length;
    this.keys.write(buf, out.pos, op.family, op.key);
    out.pos += keyLength;
    if (valueLength > 0) this.writeValue(out, op);
  }
}
