/**
 * Replies of memcached's meta protocol (mg, ms, md, ma, mn, me), byte for
 * byte as memcached 1.6.18 sends them.
 *
 * Return flags are answered in the order the client sent them; flags that
 * only steer the command (T, N, R, q, u, F, I, M, C, J, D, E, v) print
 * nothing. mg appends Z, X and W after the client's flags, in that order.
 *
 * The status line is assembled in a private scratch buffer and copied into
 * the writer's slab in one piece (together with the value when the value is
 * small enough to be copied at all).
 *
 * One file (over 600 lines) because the six replies share the flag loop and
 * its scratch-buffer arithmetic; split, each half would need the other's
 * internals.
 */
import type { ResponseEncoder } from '../codec.js';
import type { ProtocolError } from '../errors.js';
import { absoluteExptime } from '../exptime.js';
import { memcachedItemSize, slabClassFor } from '../item-size.js';
import type { StatValue } from '../handler.js';
import type {
  AdminRequest,
  ArithmeticOutcome,
  ArithmeticRequest,
  DeleteOutcome,
  DeleteRequest,
  FlushRequest,
  GetRequest,
  ItemView,
  MultiGetRequest,
  Request,
  RequestBase,
  SaslRequest,
  StatsRequest,
  StoreOutcome,
  StoreRequest,
  TouchOutcome,
  TouchRequest,
  VerbosityRequest,
} from '../model.js';
import { base64Length, putBase64 } from '../base64.js';
import { decimal64Length, decimalLength, putBytes, putDecimal, putDecimal64, putSigned } from '../put.js';
import { TextLines, textEncoder, writeServerError, writeStats, writeVersion } from '../text/encoder.js';
import type { ResponseWriter } from '../writer.js';

export interface MetaEncoderOptions {
  /**
   * The current Unix time in whole seconds, for the relative times in `t`,
   * `l` and `me`. Default: `Math.floor(Date.now() / 1000)`.
   */
  now?: () => number;
}

const MN = Buffer.from('MN\r\n', 'latin1');
const EN = Buffer.from('EN\r\n', 'latin1');

// Flag letters and reply codes as char codes.
const C_b = 0x62;
const C_c = 0x63;
const C_f = 0x66;
const C_h = 0x68;
const C_k = 0x6b;
const C_l = 0x6c;
const C_s = 0x73;
const C_t = 0x74;
const C_v = 0x76;
const C_N = 0x4e;
const C_O = 0x4f;
const C_T = 0x54;
const C_W = 0x57;
const C_X = 0x58;
const C_Z = 0x5a;
const SP = 0x20;
const MAX_SAFE = 0x1fffffffffffffn;

const H = 0x48;
const D = 0x44;
const E = 0x45;
const N = 0x4e;
const F = 0x46;
const S = 0x53;
const V = 0x56;
const A = 0x41;

// ---------------------------------------------------------------------------
// Line assembly
// ---------------------------------------------------------------------------

let scratch = Buffer.allocUnsafe(4096);

function scratchFor(n: number): Buffer {
  if (scratch.length < n) scratch = Buffer.allocUnsafe(Math.max(n, scratch.length * 2));
  return scratch;
}

/** ` k<key>`, or ` k<base64 key> b` for a binary key (memcached's META_KEY). */
function putKeyFlag(buf: Buffer, p: number, key: Buffer, binary: boolean): number {
  buf[p++] = SP;
  buf[p++] = C_k;
  if (!binary) return putBytes(buf, p, key);
  p = putBase64(buf, p, key);
  buf[p++] = SP;
  buf[p++] = C_b;
  return p;
}

/** ` O<opaque>`: the client's whole token (letter included), verbatim. */
function putOpaque(buf: Buffer, p: number, req: RequestBase): number {
  buf[p++] = SP;
  const token = req.meta?.opaqueToken;
  if (token === undefined) {
    buf[p++] = C_O;
    return p;
  }
  return putBytes(buf, p, token);
}

/** Digits `putTtl` writes. */
function ttlLength(exptime: number, now: number): number {
  if (exptime === 0) return 2;
  const left = exptime - now;
  return decimalLength(left > 0 ? left : 0);
}

/** `l`: seconds since the previous access (0 when the store does not report it). */
function idleSeconds(item: ItemView, now: number): number {
  const last = item.lastAccess;
  if (last === undefined) return 0;
  const idle = now - last;
  return idle > 0 ? idle : 0;
}

/** `t`: seconds left, or -1 for an item that never expires. */
function putTtl(buf: Buffer, p: number, exptime: number, now: number): number {
  if (exptime === 0) {
    buf[p] = 0x2d;
    buf[p + 1] = 0x31;
    return p + 2;
  }
  const left = exptime - now;
  return putDecimal(buf, p, left > 0 ? left : 0);
}

/** Room a status line can need: code, length, and every flag at its widest. */
function lineBound(req: RequestBase, key: Buffer, valueLength: number): number {
  const ret = req.meta?.ret.length ?? 0;
  const opaque = req.meta?.opaqueToken?.length ?? 0;
  return 64 + valueLength + ret * (32 + opaque + base64Length(key.length));
}

/** Copy scratch[0, n) to `buf` at `at`: a plain loop for a short line beats a native copy call. */
function copyLine(buf: Buffer, at: number, n: number): void {
  if (n <= 64) {
    const src = scratch;
    for (let i = 0; i < n; i++) buf[at + i] = src[i]!;
  } else {
    scratch.copy(buf, at, 0, n);
  }
}

/** Copy the line in scratch[0, n) to the writer, followed by `value` + `\r\n` when given. */
function emit(w: ResponseWriter, n: number, value: Buffer | undefined): void {
  if (value === undefined) {
    const at = w.reserveAt(n);
    copyLine(w.current, at, n);
    return;
  }
  const vlen = value.length;
  if (vlen < w.referenceThreshold) {
    const at = w.reserveAt(n + vlen + 2);
    const buf = w.current;
    copyLine(buf, at, n);
    const p = putBytes(buf, at + n, value);
    buf[p] = 13;
    buf[p + 1] = 10;
    return;
  }
  const at = w.reserveAt(n);
  copyLine(w.current, at, n);
  w.bytes(value);
  w.crlf();
}

/**
 * A bare code plus the O and k flags: misses, NF/NS/EX, md. With `cas`
 * (ms failures), a `c` flag reports it too.
 */
function writeCodeLine(w: ResponseWriter, req: RequestBase, key: Buffer, c0: number, c1: number, cas?: bigint): void {
  const buf = scratchFor(lineBound(req, key, 0));
  buf[0] = c0;
  buf[1] = c1;
  let p = 2;
  const meta = req.meta;
  if (meta !== undefined) {
    const ret = meta.ret;
    const binary = meta.base64Key === true;
    for (let i = 0; i < ret.length; i++) {
      const f = ret.charCodeAt(i);
      if (f === C_O) p = putOpaque(buf, p, req);
      else if (f === C_k) p = putKeyFlag(buf, p, key, binary);
      else if (f === C_c && cas !== undefined) {
        buf[p++] = SP;
        buf[p++] = C_c;
        p = putDecimal64(buf, p, cas);
      }
    }
  }
  buf[p++] = 13;
  buf[p++] = 10;
  emit(w, p, undefined);
}

function hasFlag(req: RequestBase, flag: number): boolean {
  const ret = req.meta?.ret;
  if (ret === undefined) return false;
  for (let i = 0; i < ret.length; i++) if (ret.charCodeAt(i) === flag) return true;
  return false;
}

/**
 * memcached applies T (and N on the item it just created) when its flag loop
 * reaches that flag, so a `t` reports the exptime as of its own position:
 * before T/N the item's previous exptime (0 for a created item), between
 * them the first one's value, after both the final exptime.
 */
function exptimeAtStart(item: ItemView): number {
  return item.created === true ? 0 : (item.previousExptime ?? item.exptime);
}

/** Index in `ret` of the last flag that changes the exptime (T, or N on a created item); -1 if none. */
function lastExptimeChange(ret: string, created: boolean): number {
  let last = -1;
  for (let i = 0; i < ret.length; i++) {
    const f = ret.charCodeAt(i);
    if (f === C_T || (f === C_N && created)) last = i;
  }
  return last;
}

/** A request's wire exptime (absent: never) as an absolute Unix time (0 = never). */
function requestExptime(wire: number | undefined, now: number): number {
  return wire === undefined ? 0 : absoluteExptime(wire, now);
}

export function createMetaEncoder(options: MetaEncoderOptions = {}): ResponseEncoder {
  const clock = options.now ?? (() => Math.floor(Date.now() / 1000));

  /**
   * mg hit: `VA <len> <flags>*` or `HD <flags>*`, then Z X W.
   *
   * The hottest meta reply, so it is written straight into the writer's slab:
   * a first pass over the flags measures the line exactly, a second writes it
   * (with the value too, when the value is small enough to be copied).
   */
  function writeHit(w: ResponseWriter, req: GetRequest, item: ItemView): void {
    const meta = req.meta;
    const ret = meta === undefined ? '' : meta.ret;
    const value = item.value;
    const vlen = value.length;
    const key = item.key;
    const opaque = meta === undefined ? undefined : meta.opaqueToken;
    const created = item.created === true;
    const lastChange = created || ret.indexOf('T') >= 0 ? lastExptimeChange(ret, created) : -1;
    // memcached picks base64 for `k` by how the item's key was stored, not by this request's `b`.
    const binary = item.keyBinary ?? (meta !== undefined && meta.base64Key === true);
    const start = exptimeAtStart(item);
    let now = -1;
    let cas = -1;

    // Pass 1: the exact line length.
    let withValue = false;
    let n = 4; // "HD" or "VA", and \r\n
    let exptime = start;
    for (let i = 0; i < ret.length; i++) {
      switch (ret.charCodeAt(i)) {
        case C_v:
          withValue = true;
          break;
        case C_s:
          n += 2 + decimalLength(vlen);
          break;
        case C_t:
          if (now < 0) now = clock();
          n += 2 + ttlLength(exptime, now);
          break;
        case C_T:
          if (i === lastChange) exptime = item.exptime;
          else {
            if (now < 0) now = clock();
            exptime = requestExptime(req.touch, now);
          }
          break;
        case C_N:
          // N sets the exptime only on the item it just created.
          if (!created) break;
          if (i === lastChange) exptime = item.exptime;
          else {
            if (now < 0) now = clock();
            exptime = requestExptime(req.meta?.vivifyAsSent, now);
          }
          break;
        case C_c:
          if (cas < 0) cas = item.cas <= MAX_SAFE ? Number(item.cas) : -2;
          n += 2 + (cas >= 0 ? decimalLength(cas) : decimal64Length(item.cas));
          break;
        case C_f:
          n += 2 + decimalLength(item.flags);
          break;
        case C_l:
          if (now < 0) now = clock();
          n += 2 + decimalLength(idleSeconds(item, now));
          break;
        case C_h:
          n += 3;
          break;
        case C_O:
          n += 1 + (opaque === undefined ? 1 : opaque.length);
          break;
        case C_k:
          n += 2 + (binary ? base64Length(key.length) + 2 : key.length);
          break;
      }
    }
    if (withValue) n += 1 + decimalLength(vlen);
    if (item.tokenSent === true) n += 2;
    if (item.stale === true) n += 2;
    if (item.win === true) n += 2;

    // Pass 2: write it.
    const inline = withValue && vlen < w.referenceThreshold;
    const at = w.reserveAt(inline ? n + vlen + 2 : n);
    const buf = w.current;
    let p = at;
    if (withValue) {
      buf[p] = V;
      buf[p + 1] = A;
      buf[p + 2] = SP;
      p = putDecimal(buf, p + 3, vlen);
    } else {
      buf[p] = H;
      buf[p + 1] = D;
      p += 2;
    }
    exptime = start;
    for (let i = 0; i < ret.length; i++) {
      switch (ret.charCodeAt(i)) {
        case C_s:
          buf[p++] = SP;
          buf[p++] = C_s;
          p = putDecimal(buf, p, vlen);
          break;
        case C_t:
          buf[p++] = SP;
          buf[p++] = C_t;
          p = putTtl(buf, p, exptime, now);
          break;
        case C_T:
          exptime = i === lastChange ? item.exptime : requestExptime(req.touch, now);
          break;
        case C_N:
          if (created) exptime = i === lastChange ? item.exptime : requestExptime(req.meta?.vivifyAsSent, now);
          break;
        case C_c:
          buf[p++] = SP;
          buf[p++] = C_c;
          p = cas >= 0 ? putDecimal(buf, p, cas) : putDecimal64(buf, p, item.cas);
          break;
        case C_f:
          buf[p++] = SP;
          buf[p++] = C_f;
          p = putDecimal(buf, p, item.flags);
          break;
        case C_l:
          buf[p++] = SP;
          buf[p++] = C_l;
          p = putDecimal(buf, p, idleSeconds(item, now));
          break;
        case C_h:
          buf[p++] = SP;
          buf[p++] = C_h;
          buf[p++] = item.fetched ? 0x31 : 0x30;
          break;
        case C_O:
          p = putOpaque(buf, p, req);
          break;
        case C_k:
          p = putKeyFlag(buf, p, key, binary);
          break;
      }
    }
    // memcached's order: Z (token already out) before X (stale) before W (won).
    if (item.tokenSent === true) {
      buf[p++] = SP;
      buf[p++] = C_Z;
    }
    if (item.stale === true) {
      buf[p++] = SP;
      buf[p++] = C_X;
    }
    if (item.win === true) {
      buf[p++] = SP;
      buf[p++] = C_W;
    }
    buf[p++] = 13;
    buf[p++] = 10;
    if (!withValue) return;
    if (inline) {
      p = putBytes(buf, p, value);
      buf[p] = 13;
      buf[p + 1] = 10;
      return;
    }
    w.bytes(value);
    w.crlf();
  }

  /** me: `ME <key> exp=<-ttl|-1> la=<idle> cas=<cas> fetch=<yes|no> cls=<class> size=<bytes>`. */
  function writeDebug(w: ResponseWriter, req: GetRequest, item: ItemView | undefined): void {
    if (item === undefined) {
      w.bytes(EN);
      return;
    }
    const now = clock();
    const key = item.key;
    const buf = scratchFor(160 + base64Length(key.length) + key.length);
    buf[0] = 0x4d;
    buf[1] = E;
    buf[2] = SP;
    let p = 3;
    // The key is re-encoded (without a trailing ` b`) when it was stored binary.
    if (item.keyBinary ?? req.meta?.base64Key === true) p = putBase64(buf, p, key);
    else p = putBytes(buf, p, key);
    p = putAscii(buf, p, ' exp=');
    // memcached prints current_time - exptime: the TTL left, negated.
    p = item.exptime === 0 ? putSigned(buf, p, -1) : putSigned(buf, p, now - item.exptime);
    p = putAscii(buf, p, ' la=');
    p = putDecimal(buf, p, idleSeconds(item, now));
    p = putAscii(buf, p, ' cas=');
    p = putDecimal64(buf, p, item.cas);
    p = putAscii(buf, p, item.fetched ? ' fetch=yes cls=' : ' fetch=no cls=');
    const size = memcachedItemSize(key.length, item.flags, item.value.length);
    p = putDecimal(buf, p, slabClassFor(size));
    p = putAscii(buf, p, ' size=');
    p = putDecimal(buf, p, size);
    buf[p++] = 13;
    buf[p++] = 10;
    emit(w, p, undefined);
  }

  return {
    get(w: ResponseWriter, req: GetRequest, item: ItemView | undefined): void {
      if (req.cmd === 'me') {
        writeDebug(w, req, item);
        return;
      }
      if (item !== undefined) {
        writeHit(w, req, item);
        return;
      }
      // q hides only the miss.
      if (req.quiet) return;
      if (req.meta === undefined) w.bytes(EN);
      else writeCodeLine(w, req, req.key, E, N);
    },

    mgetItem(w: ResponseWriter, req: MultiGetRequest, item: ItemView): void {
      textEncoder.mgetItem(w, req, item);
    },

    mgetEnd(w: ResponseWriter, req: MultiGetRequest): void {
      textEncoder.mgetEnd(w, req);
    },

    store(w: ResponseWriter, req: StoreRequest, outcome: StoreOutcome): void {
      let c0: number;
      let c1: number;
      // A store that did not happen reports CAS 0 (`c0`).
      let cas = 0n;
      if (typeof outcome === 'object') {
        // q hides only the nominal HD.
        if (req.quiet) return;
        c0 = H;
        c1 = D;
        cas = outcome.cas;
      } else {
        switch (outcome) {
          case 'NOT_STORED':
            c0 = N;
            c1 = S;
            break;
          case 'EXISTS':
            c0 = E;
            c1 = 0x58;
            break;
          case 'NOT_FOUND':
            c0 = N;
            c1 = F;
            break;
          case 'TOO_LARGE':
            w.bytes(TextLines.TOO_LARGE);
            return;
          default:
            w.bytes(TextLines.OUT_OF_MEMORY);
            return;
        }
      }
      writeCodeLine(w, req, req.key, c0, c1, cas);
    },

    delete(w: ResponseWriter, req: DeleteRequest, outcome: DeleteOutcome): void {
      if (outcome === 'DELETED') {
        if (!req.quiet) writeCodeLine(w, req, req.key, H, D);
      } else if (outcome === 'NOT_FOUND') {
        writeCodeLine(w, req, req.key, N, F);
      } else {
        writeCodeLine(w, req, req.key, E, 0x58);
      }
    },

    arithmetic(w: ResponseWriter, req: ArithmeticRequest, outcome: ArithmeticOutcome): void {
      if (typeof outcome !== 'object') {
        if (outcome === 'NOT_FOUND') writeCodeLine(w, req, req.key, N, F);
        else if (outcome === 'EXISTS') writeCodeLine(w, req, req.key, E, 0x58);
        else w.bytes(TextLines.NON_NUMERIC);
        return;
      }
      // q hides the HD/VA of an existing counter; one that N just created is still answered.
      if (req.quiet && outcome.created !== true) return;
      const meta = req.meta;
      const ret = meta?.ret ?? '';
      const value = outcome.value;
      const withValue = hasFlag(req, C_v);
      const key = req.key;
      const buf = scratchFor(lineBound(req, key, 0));
      let p: number;
      if (withValue) {
        buf[0] = V;
        buf[1] = A;
        buf[2] = SP;
        p = putDecimal(buf, 3, value.length);
      } else {
        buf[0] = H;
        buf[1] = D;
        p = 2;
      }
      const binary = meta?.base64Key === true;
      let exptime = exptimeAtStart(outcome);
      const created = outcome.created === true;
      const lastChange = lastExptimeChange(ret, created);
      for (let i = 0; i < ret.length; i++) {
        switch (ret.charCodeAt(i)) {
          case C_c:
            buf[p++] = SP;
            buf[p++] = C_c;
            p = putDecimal64(buf, p, outcome.cas);
            break;
          case C_t:
            buf[p++] = SP;
            buf[p++] = C_t;
            p = putTtl(buf, p, exptime, clock());
            break;
          case C_T:
            exptime = i === lastChange ? outcome.exptime : requestExptime(req.touch, clock());
            break;
          case C_N:
            if (created) exptime = i === lastChange ? outcome.exptime : requestExptime(req.meta?.vivifyAsSent, clock());
            break;
          case C_O:
            p = putOpaque(buf, p, req);
            break;
          case C_k:
            p = putKeyFlag(buf, p, key, binary);
            break;
        }
      }
      buf[p++] = 13;
      buf[p++] = 10;
      emit(w, p, withValue ? value : undefined);
    },

    touch(w: ResponseWriter, req: TouchRequest, outcome: TouchOutcome): void {
      textEncoder.touch(w, req, outcome);
    },

    flush(w: ResponseWriter, req: FlushRequest): void {
      textEncoder.flush(w, req);
    },

    version(w: ResponseWriter, _req: RequestBase, version: string): void {
      writeVersion(w, version);
    },

    verbosity(w: ResponseWriter, req: VerbosityRequest): void {
      textEncoder.verbosity(w, req);
    },

    noop(w: ResponseWriter): void {
      w.bytes(MN);
    },

    quit(w: ResponseWriter, req: RequestBase): void {
      textEncoder.quit(w, req);
    },

    stats(w: ResponseWriter, req: StatsRequest, entries: Iterable<readonly [string, StatValue]> | undefined): void {
      writeStats(w, req, entries);
    },

    admin(w: ResponseWriter, req: AdminRequest, reply: Buffer): void {
      textEncoder.admin(w, req, reply);
    },

    sasl(w: ResponseWriter, req: SaslRequest, ok: boolean, payload: string): void {
      textEncoder.sasl(w, req, ok, payload);
    },

    protocolError(w: ResponseWriter, _req: Request, err: ProtocolError): void {
      // Meta commands always report errors, q or not.
      w.bytes(err.wire);
    },

    serverError(w: ResponseWriter, _req: Request, message: string): void {
      writeServerError(w, message);
    },
  };
}

function putAscii(buf: Buffer, p: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[p++] = s.charCodeAt(i);
  return p;
}

/** The meta encoder on the wall clock. */
export const metaEncoder: ResponseEncoder = createMetaEncoder();
