/**
 * Client side of the meta protocol: commands written as mg/ms/md/ma/me/mn
 * request lines, straight into a `SlabWriter` (no strings, no per-request
 * allocation), for a client that talks to memcached.
 *
 * A request's flags are a `MetaFlagOrder`: letters in the order they go on
 * the line, compiled once. A letter that takes a value gets it from the
 * command's typed fields (`T` the exptime, `C` the CAS to compare, ...) and
 * is left out when the command has none; `b` goes where it stands when the
 * key travels base64; `O` carries the caller's opaque; every other letter
 * (v f c t k h l s u q ...) goes as it is. Order matters to memcached: it
 * applies T and N in request order, and `t` reports the exptime as of where
 * it stands.
 *
 * `encodeMetaRequest` (text/request-encoder.ts) builds a request's whole
 * line from a parsed `Request` with these writers.
 */
import { base64Length, putBase64 } from '../base64.js';
import type { ArithmeticCommand, DeleteCommand, GetCommand, StoreCommand, StoreMode, TouchCommand } from '../model.js';
import { putBytes, putDecimal, putDecimal64, putSigned } from '../put.js';
import type { SlabWriter } from '../writer.js';

/** memcached's KEY_MAX_LENGTH: it bounds the key token as sent, base64 included. */
export const META_KEY_MAX_LENGTH = 250;

/** How a key travels on a meta request line. */
export const MetaKeyForm = {
  RAW: 0,
  /** Base64 with the `b` flag. */
  BASE64: 1,
  /** Not at all: empty, or too long once base64-encoded. */
  INVALID: -1,
} as const;

/**
 * How `key` travels on a meta line. memcached splits meta request lines on
 * spaces and ends them at `\n` (a `\r` before it is dropped), and keys reach
 * C strings, so space, CR, LF and NUL need base64; every other byte, control
 * characters and bytes >= 0x80 included, travels raw. `keyBinary` (the
 * client sent the key base64, so memcached must remember it as binary)
 * picks base64 whenever it fits.
 */
export function metaKeyForm(key: Buffer, keyBinary: boolean): number {
  const n = key.length;
  if (n === 0) return MetaKeyForm.INVALID;
  const fits = base64Length(n) <= META_KEY_MAX_LENGTH;
  if (keyBinary && fits) return MetaKeyForm.BASE64;
  if (n <= META_KEY_MAX_LENGTH) {
    let raw = true;
    for (let i = 0; i < n; i++) {
      const c = key[i]!;
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x00) {
        raw = false;
        break;
      }
    }
    if (raw) return MetaKeyForm.RAW;
  }
  return fits ? MetaKeyForm.BASE64 : MetaKeyForm.INVALID;
}

const SP = 0x20;
const C_b = 0x62;
const C_C = 0x43;
const C_D = 0x44;
const C_E = 0x45;
const C_F = 0x46;
const C_I = 0x49;
const C_J = 0x4a;
const C_M = 0x4d;
const C_N = 0x4e;
const C_O = 0x4f;
const C_R = 0x52;
const C_T = 0x54;

/** Letters whose token carries a value; one the command has nothing for is left out. */
function takesValue(c: number): boolean {
  return c === C_T || c === C_N || c === C_R || c === C_F || c === C_C || c === C_E || c === C_I || c === C_M || c === C_D || c === C_J;
}

/** The widest flag token: a space, the letter, a sign and 20 digits. */
const FLAG_BOUND = 24;

/**
 * The flags of one kind of meta request, in line order. Compile each order
 * once and reuse it: letters without a value are joined into pieces copied
 * whole, so a line costs a step per piece and per letter that needs the
 * command.
 */
export class MetaFlagOrder {
  /** The letters as char codes. */
  readonly letters: Uint8Array;
  /** What to write, in order: a letter that needs the command or the caller (b, O, a value), or `-1 - i` for `pieces[i]`. */
  readonly steps: Int16Array;
  /** Runs of letters without a value, as they go on the line (` t v f c`). */
  readonly pieces: readonly Buffer[];
  /** Bytes the flags take at most, the opaque's own bytes aside. */
  readonly bound: number;

  /**
   * `keepDefaults`: write every letter that has a value, memcached's
   * defaults included (`F0`, `T0`, `MS`, `MI`, `D1`, `J0`), as a client that
   * typed those letters sent them. Otherwise such a letter is left out when
   * its value is the default, which means the same to memcached in fewer
   * bytes.
   */
  constructor(
    letters: string,
    readonly keepDefaults = false,
  ) {
    this.letters = Uint8Array.from(Buffer.from(letters, 'latin1'));
    const steps: number[] = [];
    const pieces: Buffer[] = [];
    let run = '';
    const endRun = (): void => {
      if (run === '') return;
      steps.push(-1 - pieces.length);
      pieces.push(Buffer.from(run, 'latin1'));
      run = '';
    };
    for (const c of this.letters) {
      if (c === C_b || c === C_O || takesValue(c)) {
        endRun();
        steps.push(c);
      } else {
        run += ' ' + String.fromCharCode(c);
      }
    }
    endRun();
    this.steps = Int16Array.from(steps);
    this.pieces = pieces;
    this.bound = this.letters.length * FLAG_BOUND;
  }
}

/** The opaque an `O` letter carries: a number (`O<n>`), a client's whole token (letter included), or none (a bare `O`). */
export type MetaOpaque = number | Buffer | undefined;

const MG = Buffer.from('mg ', 'latin1');
const MS = Buffer.from('ms ', 'latin1');
const MD = Buffer.from('md ', 'latin1');
const MA = Buffer.from('ma ', 'latin1');
const ME = Buffer.from('me ', 'latin1');
const MN_LINE = Buffer.from('mn\r\n', 'latin1');

/** ms `M`: the mode letters memcached reads. */
const MODE_LETTER: Record<StoreMode, number> = { set: 0x53, add: 0x45, replace: 0x52, append: 0x41, prepend: 0x50 };

/** Bytes a line needs at most besides its command: the key, every flag at its widest, the opaque, the line end. */
function lineBound(key: Buffer, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): number {
  const keyBytes = base64 ? base64Length(key.length) : key.length;
  const opaqueBytes = typeof opaque === 'number' ? 12 : opaque === undefined ? 2 : opaque.length + 1;
  return 16 + keyBytes + flags.bound + opaqueBytes;
}

/** Room for the whole line, and `<command> <key>` written at its start: returns the position after the key in `w.current`. */
function startLine(w: SlabWriter, command: Buffer, key: Buffer, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): number {
  const at = w.room(lineBound(key, base64, flags, opaque));
  const buf = w.current;
  const p = putBytes(buf, at, command);
  return base64 ? putBase64(buf, p, key) : putBytes(buf, p, key);
}

/** ` <letter>` */
function putFlag(buf: Buffer, p: number, letter: number): number {
  buf[p] = SP;
  buf[p + 1] = letter;
  return p + 2;
}

/** ` <letter><v>` for a signed number; nothing when there is none. */
function putNumberFlag(buf: Buffer, p: number, letter: number, v: number | undefined): number {
  return v === undefined ? p : putSigned(buf, putFlag(buf, p, letter), v);
}

/** ` <letter><v>` for an unsigned 64-bit number; nothing when there is none. */
function putU64Flag(buf: Buffer, p: number, letter: number, v: bigint | undefined): number {
  return v === undefined ? p : putDecimal64(buf, putFlag(buf, p, letter), v);
}

/** A step every command writes alike: a piece of letters without a value, `b` (when base64), or `O` (the opaque). */
function putOther(buf: Buffer, p: number, step: number, flags: MetaFlagOrder, base64: boolean, opaque: MetaOpaque): number {
  if (step < 0) return putBytes(buf, p, flags.pieces[-1 - step]!);
  if (step === C_b) return base64 ? putFlag(buf, p, C_b) : p;
  if (step === C_O) {
    if (typeof opaque === 'number') return putDecimal(buf, putFlag(buf, p, C_O), opaque);
    if (opaque === undefined) return putFlag(buf, p, C_O);
    buf[p] = SP;
    return putBytes(buf, p + 1, opaque);
  }
  // A value letter this command has no value for.
  return p;
}

function endLine(buf: Buffer, p: number): number {
  buf[p] = 13;
  buf[p + 1] = 10;
  return p + 2;
}

/** `mg <key> <flags>`: T the touch, N the vivify exptime, R the recache threshold. */
export function writeMetaGet(w: SlabWriter, cmd: GetCommand, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): void {
  let p = startLine(w, MG, cmd.key, base64, flags, opaque);
  const buf = w.current;
  const steps = flags.steps;
  for (let i = 0; i < steps.length; i++) {
    const c = steps[i]!;
    switch (c) {
      case C_T:
        p = putNumberFlag(buf, p, C_T, cmd.touch);
        break;
      case C_N:
        p = putNumberFlag(buf, p, C_N, cmd.vivify);
        break;
      case C_R:
        p = putNumberFlag(buf, p, C_R, cmd.recache);
        break;
      default:
        p = putOther(buf, p, c, flags, base64, opaque);
    }
  }
  w.commit(endLine(buf, p));
}

/** A touch as `mg <key> <flags>`: T the new exptime (memcached's meta protocol has no touch of its own). */
export function writeMetaTouch(w: SlabWriter, cmd: TouchCommand, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): void {
  let p = startLine(w, MG, cmd.key, base64, flags, opaque);
  const buf = w.current;
  const steps = flags.steps;
  for (let i = 0; i < steps.length; i++) {
    const c = steps[i]!;
    if (c === C_T) p = putNumberFlag(buf, p, C_T, cmd.exptime);
    else p = putOther(buf, p, c, flags, base64, opaque);
  }
  w.commit(endLine(buf, p));
}

/**
 * `ms <key> <datalen> <flags>` and the data block: F the client flags, T the
 * exptime, C the CAS to compare, E the new CAS, I invalidate, M the mode.
 * The value is copied, or referenced when it is large (the caller keeps it
 * unchanged until the batch is sent).
 */
export function writeMetaStore(w: SlabWriter, cmd: StoreCommand, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): void {
  const value = cmd.value;
  const all = flags.keepDefaults;
  let p = startLine(w, MS, cmd.key, base64, flags, opaque);
  const buf = w.current;
  buf[p++] = SP;
  p = putDecimal(buf, p, value.length);
  const steps = flags.steps;
  for (let i = 0; i < steps.length; i++) {
    const c = steps[i]!;
    switch (c) {
      case C_F:
        if (all || cmd.flags !== 0) p = putDecimal(buf, putFlag(buf, p, C_F), cmd.flags >>> 0);
        break;
      case C_T:
        if (all || cmd.exptime !== 0) p = putNumberFlag(buf, p, C_T, cmd.exptime);
        break;
      case C_C:
        p = putU64Flag(buf, p, C_C, cmd.compareCas);
        break;
      case C_E:
        p = putU64Flag(buf, p, C_E, cmd.newCas);
        break;
      case C_I:
        if (cmd.invalidate === true) p = putFlag(buf, p, C_I);
        break;
      case C_M:
        if (all || cmd.mode !== 'set') {
          p = putFlag(buf, p, C_M);
          buf[p++] = MODE_LETTER[cmd.mode];
        }
        break;
      default:
        p = putOther(buf, p, c, flags, base64, opaque);
    }
  }
  w.commit(endLine(buf, p));
  w.bytes(value);
  w.crlf();
}

/** `md <key> <flags>`: C the CAS to compare, I invalidate, T the exptime a stale item gets. */
export function writeMetaDelete(w: SlabWriter, cmd: DeleteCommand, base64: boolean, flags: MetaFlagOrder, opaque: MetaOpaque): void {
  let p = startLine(w, MD, cmd.key, base64, flags, opaque);
  const buf = w.current;
  const steps = flags.steps;
  for (let i = 0; i < steps.length; i++) {
    const c = steps[i]!;
    switch (c) {
      case C_C:
        p = putU64Flag(buf, p, C_C, cmd.compareCas);
        break;
      case C_I:
        if (cmd.invalidate === true) p = putFlag(buf, p, C_I);
        break;
      case C_T:
        // memcached reads T only with I; a T without it keeps a harmless 0.
        p = putNumberFlag(buf, p, C_T, cmd.exptime ?? (flags.keepDefaults ? 0 : undefined));
        break;
      default:
        p = putOther(buf, p, c, flags, base64, opaque);
    }
  }
  w.commit(endLine(buf, p));
}

/**
 * `ma <key> <flags>`: M the direction, D the delta, N the exptime of a
 * counter created on a miss (only with `initial`), J its initial value, T
 * the touch, C the CAS to compare, E the new CAS. memcached applies T and N
 * in request order: put T before N for a created counter to end with N.
 */
export function writeMetaArithmetic(
  w: SlabWriter,
  cmd: ArithmeticCommand,
  base64: boolean,
  flags: MetaFlagOrder,
  opaque: MetaOpaque,
): void {
  const all = flags.keepDefaults;
  let p = startLine(w, MA, cmd.key, base64, flags, opaque);
  const buf = w.current;
  const steps = flags.steps;
  for (let i = 0; i < steps.length; i++) {
    const c = steps[i]!;
    switch (c) {
      case C_M:
        if (all || !cmd.incr) {
          p = putFlag(buf, p, C_M);
          buf[p++] = cmd.incr ? C_I : C_D;
        }
        break;
      case C_D:
        if (all || cmd.delta !== 1n) p = putU64Flag(buf, p, C_D, BigInt.asUintN(64, cmd.delta));
        break;
      case C_N:
        if (cmd.initial !== undefined) p = putNumberFlag(buf, p, C_N, cmd.exptime ?? 0);
        break;
      case C_J: {
        // memcached reads J only with N; its default is 0.
        const initial = cmd.initial;
        if (all || (initial !== undefined && initial !== 0n)) p = putU64Flag(buf, p, C_J, BigInt.asUintN(64, initial ?? 0n));
        break;
      }
      case C_T:
        p = putNumberFlag(buf, p, C_T, cmd.touch);
        break;
      case C_C:
        p = putU64Flag(buf, p, C_C, cmd.compareCas);
        break;
      case C_E:
        p = putU64Flag(buf, p, C_E, cmd.newCas);
        break;
      default:
        p = putOther(buf, p, c, flags, base64, opaque);
    }
  }
  w.commit(endLine(buf, p));
}

/** `me <key>`, with `b` for a base64 key (memcached reads b there only as the first flag). */
export function writeMetaDebug(w: SlabWriter, key: Buffer, base64: boolean): void {
  const at = w.room(16 + (base64 ? base64Length(key.length) : key.length));
  const buf = w.current;
  let p = putBytes(buf, at, ME);
  p = base64 ? putFlag(buf, putBase64(buf, p, key), C_b) : putBytes(buf, p, key);
  w.commit(endLine(buf, p));
}

/** `mn`: memcached answers MN once every request before it has been answered. */
export function writeMetaNoop(w: SlabWriter): void {
  const at = w.reserveAt(MN_LINE.length);
  putBytes(w.current, at, MN_LINE);
}
