/**
 * Replies of memcached's text protocol, byte for byte as memcached 1.6 sends
 * them. Fixed replies come from preallocated Buffers; numbers are written
 * digit by digit straight into the writer's slab; values of a size the
 * writer references are never copied.
 */
import type { ResponseEncoder } from '../codec.js';
import type { ProtocolError } from '../errors.js';
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
import { decimalLength, putBytes, putDecimal, putDecimal64 } from '../put.js';
import type { ResponseWriter } from '../writer.js';

const line = (s: string): Buffer => Buffer.from(s + '\r\n', 'latin1');

/** Fixed reply lines (each with its `\r\n`), shared by the text and meta encoders. */
export const TextLines = {
  END: line('END'),
  STORED: line('STORED'),
  NOT_STORED: line('NOT_STORED'),
  EXISTS: line('EXISTS'),
  NOT_FOUND: line('NOT_FOUND'),
  DELETED: line('DELETED'),
  TOUCHED: line('TOUCHED'),
  OK: line('OK'),
  RESET: line('RESET'),
  ERROR: line('ERROR'),
  TOO_LARGE: line('SERVER_ERROR object too large for cache'),
  OUT_OF_MEMORY: line('SERVER_ERROR out of memory storing object'),
  NON_NUMERIC: line('CLIENT_ERROR cannot increment or decrement non-numeric value'),
} as const;

const VALUE_SP = Buffer.from('VALUE ', 'latin1');
const STAT_SP = Buffer.from('STAT ', 'latin1');
const VERSION_SP = Buffer.from('VERSION ', 'latin1');
const SERVER_ERROR_SP = Buffer.from('SERVER_ERROR ', 'latin1');
const YES = Buffer.from('yes', 'latin1');
const META_MN = line('MN');
const NO = Buffer.from('no', 'latin1');

const MAX_SAFE = 0x1fffffffffffffn;

/** Replace CR and LF so a handler's message cannot break the reply stream. */
export function oneLine(message: string): string {
  return message.indexOf('\r') < 0 && message.indexOf('\n') < 0 ? message : message.replace(/[\r\n]/g, ' ');
}

// ---------------------------------------------------------------------------
// Text replies
// ---------------------------------------------------------------------------

/**
 * `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`, and `END\r\n` when
 * `end`. The header (and a value below the writer's reference threshold)
 * goes into the slab in one reservation; a large value is referenced.
 */
function writeValue(w: ResponseWriter, item: ItemView, withCas: boolean, end: boolean): void {
  const key = item.key;
  const value = item.value;
  const vlen = value.length;
  const flags = item.flags;
  let head = 6 + key.length + 1 + decimalLength(flags) + 1 + decimalLength(vlen) + 2;
  // One BigInt comparison and conversion; -1 marks a CAS beyond 2^53 (written from its string).
  let cas = -1;
  if (withCas) {
    const c = item.cas;
    if (c <= MAX_SAFE) {
      cas = Number(c);
      head += 1 + decimalLength(cas);
    } else {
      head += 1 + c.toString().length;
    }
  }
  const inline = vlen < w.referenceThreshold;
  const tail = end ? 7 : 2;
  const total = inline ? head + vlen + tail : head;
  const at = w.reserveAt(total);
  const buf = w.current;
  let p = putBytes(buf, at, VALUE_SP);
  p = putBytes(buf, p, key);
  buf[p++] = 32;
  p = putDecimal(buf, p, flags);
  buf[p++] = 32;
  p = putDecimal(buf, p, vlen);
  if (withCas) {
    buf[p++] = 32;
    p = cas >= 0 ? putDecimal(buf, p, cas) : putDecimal64(buf, p, item.cas);
  }
  buf[p++] = 13;
  buf[p++] = 10;
  if (inline) {
    p = putBytes(buf, p, value);
    buf[p++] = 13;
    buf[p++] = 10;
    if (end) putBytes(buf, p, TextLines.END);
    return;
  }
  w.bytes(value);
  if (end) {
    const e = w.reserveAt(7);
    const b = w.current;
    b[e] = 13;
    b[e + 1] = 10;
    putBytes(b, e + 2, TextLines.END);
  } else {
    w.crlf();
  }
}

/** Text requests with `noreply` answer nothing at all, errors included (memcached's out_string). */
function silent(req: RequestBase): boolean {
  return req.quiet && req.protocol !== 'meta';
}

function statValue(w: ResponseWriter, v: StatValue): void {
  switch (typeof v) {
    case 'number':
      if (Number.isSafeInteger(v)) w.signed(v);
      else w.ascii(String(v));
      return;
    case 'bigint':
      if (v >= 0n) w.decimal64(v);
      else w.ascii(v.toString());
      return;
    case 'boolean':
      // memcached prints boolean settings as yes/no.
      w.bytes(v ? YES : NO);
      return;
    default:
      w.ascii(oneLine(v));
  }
}

/** `STAT <name> <value>` lines and END; shared by the meta encoder (stats is a text command). */
export function writeStats(w: ResponseWriter, req: StatsRequest, entries: Iterable<readonly [string, StatValue]> | undefined): void {
  if (entries === undefined) {
    // memcached answers an unknown stats group with a bare ERROR.
    w.bytes(TextLines.ERROR);
    return;
  }
  if (req.group === 'reset') {
    w.bytes(TextLines.RESET);
    return;
  }
  for (const [name, value] of entries) {
    w.bytes(STAT_SP);
    w.ascii(name);
    w.byte(32);
    statValue(w, value);
    w.crlf();
  }
  w.bytes(TextLines.END);
}

export function writeServerError(w: ResponseWriter, message: string): void {
  w.bytes(SERVER_ERROR_SP);
  w.ascii(oneLine(message));
  w.crlf();
}

export function writeVersion(w: ResponseWriter, version: string): void {
  w.bytes(VERSION_SP);
  w.ascii(oneLine(version));
  w.crlf();
}

export const textEncoder: ResponseEncoder = {
  get(w: ResponseWriter, req: GetRequest, item: ItemView | undefined): void {
    if (item === undefined) w.bytes(TextLines.END);
    else writeValue(w, item, req.withCas, true);
  },

  mgetItem(w: ResponseWriter, req: MultiGetRequest, item: ItemView): void {
    writeValue(w, item, req.withCas, false);
  },

  mgetEnd(w: ResponseWriter): void {
    w.bytes(TextLines.END);
  },

  store(w: ResponseWriter, req: StoreRequest, outcome: StoreOutcome): void {
    if (silent(req)) return;
    if (typeof outcome === 'object') {
      w.bytes(TextLines.STORED);
      return;
    }
    switch (outcome) {
      case 'NOT_STORED':
        w.bytes(TextLines.NOT_STORED);
        return;
      case 'EXISTS':
        w.bytes(TextLines.EXISTS);
        return;
      case 'NOT_FOUND':
        w.bytes(TextLines.NOT_FOUND);
        return;
      case 'TOO_LARGE':
        w.bytes(TextLines.TOO_LARGE);
        return;
      case 'OUT_OF_MEMORY':
        w.bytes(TextLines.OUT_OF_MEMORY);
        return;
    }
  },

  delete(w: ResponseWriter, req: DeleteRequest, outcome: DeleteOutcome): void {
    if (silent(req)) return;
    w.bytes(outcome === 'DELETED' ? TextLines.DELETED : outcome === 'NOT_FOUND' ? TextLines.NOT_FOUND : TextLines.EXISTS);
  },

  arithmetic(w: ResponseWriter, req: ArithmeticRequest, outcome: ArithmeticOutcome): void {
    if (silent(req)) return;
    if (typeof outcome === 'object') {
      // The reply is the new value itself: the item's decimal digits.
      const v = outcome.value;
      const at = w.reserveAt(v.length + 2);
      const buf = w.current;
      const p = putBytes(buf, at, v);
      buf[p] = 13;
      buf[p + 1] = 10;
      return;
    }
    w.bytes(outcome === 'NOT_FOUND' ? TextLines.NOT_FOUND : outcome === 'NON_NUMERIC' ? TextLines.NON_NUMERIC : TextLines.EXISTS);
  },

  touch(w: ResponseWriter, req: TouchRequest, outcome: TouchOutcome): void {
    if (silent(req)) return;
    w.bytes(outcome === 'TOUCHED' ? TextLines.TOUCHED : TextLines.NOT_FOUND);
  },

  flush(w: ResponseWriter, req: FlushRequest): void {
    if (silent(req)) return;
    w.bytes(TextLines.OK);
  },

  version(w: ResponseWriter, _req: RequestBase, version: string): void {
    writeVersion(w, version);
  },

  verbosity(w: ResponseWriter, req: VerbosityRequest): void {
    if (silent(req)) return;
    w.bytes(TextLines.OK);
  },

  noop(w: ResponseWriter): void {
    // The text protocol has no noop; its meta form `mn` is answered by the meta encoder.
    w.bytes(META_MN);
  },

  quit(): void {
    // memcached closes a text connection on quit without a word.
  },

  stats(w: ResponseWriter, req: StatsRequest, entries: Iterable<readonly [string, StatValue]> | undefined): void {
    writeStats(w, req, entries);
  },

  admin(w: ResponseWriter, req: AdminRequest, reply: Buffer): void {
    if (silent(req)) return;
    w.bytes(reply);
  },

  sasl(w: ResponseWriter, _req: SaslRequest): void {
    // SASL exists only in the binary protocol; a text client naming it gets ERROR.
    w.bytes(TextLines.ERROR);
  },

  protocolError(w: ResponseWriter, req: Request, err: ProtocolError): void {
    if (silent(req)) return;
    w.bytes(err.wire);
  },

  serverError(w: ResponseWriter, req: Request, message: string): void {
    if (silent(req)) return;
    writeServerError(w, message);
  },
};
