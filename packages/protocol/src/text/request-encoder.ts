/**
 * Client side of the text and meta protocols: turn a `Request` back into the
 * bytes a client sends. Used by round-trip tests, load generators and
 * handlers that talk to a memcached backend.
 *
 * `encodeTextRequest` writes classic text commands; `encodeMetaRequest`
 * writes mg/ms/md/ma/me/mn and falls back to the text form for commands that
 * have no meta form (touch, flush_all, version, verbosity, stats, quit,
 * multi-key get). Options a protocol cannot express throw a TypeError rather
 * than being dropped silently.
 */
import type {
  ArithmeticRequest,
  DeleteRequest,
  GetRequest,
  MetaFlags,
  MultiGetRequest,
  Request,
  StoreMode,
  StoreRequest,
} from '../model.js';

/** Collects ASCII strings and byte views, then writes them into one Buffer. */
class Parts {
  private readonly items: Array<string | Buffer> = [];
  private length = 0;

  ascii(s: string): this {
    this.items.push(s);
    this.length += s.length;
    return this;
  }

  bytes(b: Buffer): this {
    this.items.push(b);
    this.length += b.length;
    return this;
  }

  /** ` <token>` */
  token(s: string): this {
    return this.ascii(' ').ascii(s);
  }

  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.length);
    let pos = 0;
    for (const item of this.items) {
      if (typeof item === 'string') pos += out.write(item, pos, 'latin1');
      else pos += item.copy(out, pos);
    }
    return out;
  }
}

function unsupported(what: string): never {
  throw new TypeError(`cannot encode ${what}`);
}

/** Keys travel as one space-separated token: no space, newline or NUL, not empty. */
function checkTextKey(key: Buffer): Buffer {
  if (key.length === 0) unsupported('an empty key');
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c === 32 || c === 10 || c === 0) unsupported('a key containing space, newline or NUL in the text protocol');
  }
  return key;
}

/** A key a meta line can carry as-is (a trailing \r would also be eaten by the line end). */
function metaSafe(key: Buffer): boolean {
  if (key.length === 0) return false;
  for (let i = 0; i < key.length; i++) {
    const c = key[i]!;
    if (c === 32 || c === 10 || c === 0 || c === 13) return false;
  }
  return true;
}

const noreply = (p: Parts, quiet: boolean): Parts => (quiet ? p.token('noreply') : p);

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

/** Encode a request as a classic text protocol command (noop becomes `mn`, `me` stays `me`). */
export function encodeTextRequest(req: Request): Buffer {
  const p = new Parts();
  switch (req.cmd) {
    case 'get':
    case 'me':
      return textGet(p, req);
    case 'mget':
      return textMultiGet(p, req);
    case 'store':
      return textStore(p, req);
    case 'delete':
      return textDelete(p, req);
    case 'incr':
    case 'decr':
      return textArithmetic(p, req);
    case 'touch':
      p.ascii('touch').token('').bytes(checkTextKey(req.key)).token(String(req.exptime));
      return noreply(p, req.quiet).ascii('\r\n').finish();
    case 'flush_all':
      p.ascii('flush_all');
      if (req.delay !== 0) p.token(String(req.delay));
      return noreply(p, req.quiet).ascii('\r\n').finish();
    case 'version':
      return p.ascii('version\r\n').finish();
    case 'quit':
      return p.ascii('quit\r\n').finish();
    case 'noop':
      return p.ascii('mn\r\n').finish();
    case 'verbosity':
      p.ascii('verbosity').token(String(req.level));
      return noreply(p, req.quiet).ascii('\r\n').finish();
    case 'stats':
      p.ascii('stats');
      if (req.group !== '') p.token(req.group);
      return p.ascii('\r\n').finish();
    default:
      return unsupported(`a ${req.cmd} request in the text protocol`);
  }
}

function textGet(p: Parts, req: GetRequest): Buffer {
  if (req.cmd === 'me') {
    const b64 = req.meta?.base64Key === true;
    p.ascii('me ').bytes(b64 ? req.meta!.wireKey : checkTextKey(req.key));
    if (b64) p.token('b');
    return p.ascii('\r\n').finish();
  }
  if (req.vivify !== undefined || req.recache !== undefined || req.noBump) unsupported('meta get options in the text protocol');
  if (req.touch !== undefined) p.ascii(req.withCas ? 'gats' : 'gat').token(String(req.touch));
  else p.ascii(req.withCas ? 'gets' : 'get');
  return p.token('').bytes(checkTextKey(req.key)).ascii('\r\n').finish();
}

function textMultiGet(p: Parts, req: MultiGetRequest): Buffer {
  if (req.touch !== undefined) p.ascii(req.withCas ? 'gats' : 'gat').token(String(req.touch));
  else {
    if (req.keys.length === 0) unsupported('a get without keys');
    p.ascii(req.withCas ? 'gets' : 'get');
  }
  for (const key of req.keys) p.token('').bytes(checkTextKey(key));
  return p.ascii('\r\n').finish();
}

function textStore(p: Parts, req: StoreRequest): Buffer {
  if (req.invalidate || req.newCas !== undefined) unsupported('meta store options in the text protocol');
  const cas = req.compareCas !== undefined;
  if (cas && req.mode !== 'set') unsupported(`a compare-and-swap ${req.mode} in the text protocol`);
  p.ascii(cas ? 'cas' : req.mode)
    .token('')
    .bytes(checkTextKey(req.key))
    .token(String(req.flags >>> 0))
    .token(String(req.exptime))
    .token(String(req.value.length));
  if (cas) p.token(req.compareCas!.toString());
  return noreply(p, req.quiet).ascii('\r\n').bytes(req.value).ascii('\r\n').finish();
}

function textDelete(p: Parts, req: DeleteRequest): Buffer {
  if (req.compareCas !== undefined || req.invalidate || req.exptime !== undefined) unsupported('meta delete options in the text protocol');
  p.ascii('delete').token('').bytes(checkTextKey(req.key));
  return noreply(p, req.quiet).ascii('\r\n').finish();
}

function textArithmetic(p: Parts, req: ArithmeticRequest): Buffer {
  if (req.initial !== undefined || req.compareCas !== undefined || req.newCas !== undefined) {
    unsupported('meta arithmetic options in the text protocol');
  }
  p.ascii(req.incr ? 'incr' : 'decr')
    .token('')
    .bytes(checkTextKey(req.key))
    .token(BigInt.asUintN(64, req.delta).toString());
  return noreply(p, req.quiet).ascii('\r\n').finish();
}

// ---------------------------------------------------------------------------
// Meta
// ---------------------------------------------------------------------------

/**
 * Writes the flag tokens of a meta request: the letters of `meta.ret` in
 * order (with their values taken from the request's typed fields), then any
 * typed field that `ret` did not mention.
 */
class FlagWriter {
  private readonly written = new Set<string>();
  constructor(private readonly p: Parts) {}

  has(letter: string): boolean {
    return this.written.has(letter);
  }

  put(letter: string, value = ''): void {
    this.written.add(letter);
    this.p.token(letter + value);
  }

  /** Emit `ret` in order; `value(letter)` returns the token's value, '' for bare flags, or undefined to drop the letter. */
  ret(meta: MetaFlags | undefined, value: (letter: string) => string | undefined): void {
    if (meta === undefined) return;
    for (let i = 0; i < meta.ret.length; i++) {
      const letter = meta.ret[i]!;
      if (this.written.has(letter)) continue;
      if (letter === 'O') {
        this.written.add('O');
        this.p.ascii(' ');
        if (meta.opaqueToken !== undefined) this.p.bytes(meta.opaqueToken);
        else this.p.ascii('O');
        continue;
      }
      const v = value(letter);
      if (v !== undefined) this.put(letter, v);
    }
  }
}

/** The key token and whether it is base64 (`b`). */
function metaKey(req: { key: Buffer; meta?: MetaFlags }): { wire: Buffer; b64: boolean } {
  const meta = req.meta;
  if (meta?.base64Key) return { wire: meta.wireKey, b64: true };
  if (metaSafe(req.key)) return { wire: req.key, b64: false };
  return { wire: Buffer.from(req.key.toString('base64'), 'latin1'), b64: true };
}

const MODE_LETTER: Record<StoreMode, string> = { set: 'S', add: 'E', append: 'A', prepend: 'P', replace: 'R' };

/** Encode a request as a meta command (commands without a meta form use their text form). */
export function encodeMetaRequest(req: Request): Buffer {
  switch (req.cmd) {
    case 'get':
      return metaGet(req);
    case 'me': {
      const p = new Parts();
      const { wire, b64 } = metaKey(req);
      p.ascii('me ').bytes(wire);
      if (b64) p.token('b');
      return p.ascii('\r\n').finish();
    }
    case 'store':
      return metaStore(req);
    case 'delete':
      return metaDelete(req);
    case 'incr':
    case 'decr':
      return metaArithmetic(req);
    case 'noop':
      return Buffer.from('mn\r\n', 'latin1');
    default:
      return encodeTextRequest(req);
  }
}

function metaGet(req: GetRequest): Buffer {
  const p = new Parts();
  const { wire, b64 } = metaKey(req);
  p.ascii('mg ').bytes(wire);
  const w = new FlagWriter(p);
  const num = (v: number | undefined): string | undefined => (v === undefined ? undefined : String(v));
  w.ret(req.meta, (l) => {
    switch (l) {
      case 'T':
        return num(req.touch);
      case 'N':
        return num(req.vivify);
      case 'R':
        return num(req.recache);
      case 'b':
        return b64 ? '' : undefined;
      case 'q':
        return req.quiet ? '' : undefined;
      case 'u':
        return req.noBump ? '' : undefined;
      default:
        return '';
    }
  });
  if (req.meta === undefined) {
    // A plain get: value and client flags, plus the CAS for gets.
    w.put('v');
    w.put('f');
    if (req.withCas) w.put('c');
  }
  if (b64 && !w.has('b')) w.put('b');
  if (req.touch !== undefined && !w.has('T')) w.put('T', String(req.touch));
  if (req.vivify !== undefined && !w.has('N')) w.put('N', String(req.vivify));
  if (req.recache !== undefined && !w.has('R')) w.put('R', String(req.recache));
  if (req.noBump && !w.has('u')) w.put('u');
  if (req.quiet && !w.has('q')) w.put('q');
  return p.ascii('\r\n').finish();
}

function metaStore(req: StoreRequest): Buffer {
  const p = new Parts();
  const { wire, b64 } = metaKey(req);
  p.ascii('ms ').bytes(wire).token(String(req.value.length));
  const w = new FlagWriter(p);
  w.ret(req.meta, (l) => {
    switch (l) {
      case 'F':
        return String(req.flags >>> 0);
      case 'T':
        return String(req.exptime);
      case 'C':
        return req.compareCas?.toString();
      case 'E':
        return req.newCas?.toString();
      case 'I':
        return req.invalidate ? '' : undefined;
      case 'M':
        return MODE_LETTER[req.mode];
      case 'b':
        return b64 ? '' : undefined;
      case 'q':
        return req.quiet ? '' : undefined;
      default:
        return '';
    }
  });
  if (b64 && !w.has('b')) w.put('b');
  if (req.flags !== 0 && !w.has('F')) w.put('F', String(req.flags >>> 0));
  if (req.exptime !== 0 && !w.has('T')) w.put('T', String(req.exptime));
  if (req.compareCas !== undefined && !w.has('C')) w.put('C', req.compareCas.toString());
  if (req.invalidate && !w.has('I')) w.put('I');
  if (req.newCas !== undefined && !w.has('E')) w.put('E', req.newCas.toString());
  if (req.mode !== 'set' && !w.has('M')) w.put('M', MODE_LETTER[req.mode]);
  if (req.quiet && !w.has('q')) w.put('q');
  return p.ascii('\r\n').bytes(req.value).ascii('\r\n').finish();
}

function metaDelete(req: DeleteRequest): Buffer {
  const p = new Parts();
  const { wire, b64 } = metaKey(req);
  p.ascii('md ').bytes(wire);
  const w = new FlagWriter(p);
  w.ret(req.meta, (l) => {
    switch (l) {
      case 'C':
        return req.compareCas?.toString();
      case 'T':
        // memcached ignores T without I; keep the letter with a harmless value.
        return String(req.exptime ?? 0);
      case 'I':
        return req.invalidate ? '' : undefined;
      case 'b':
        return b64 ? '' : undefined;
      case 'q':
        return req.quiet ? '' : undefined;
      case 'E':
      case 'F':
      case 'N':
      case 'R':
      case 'J':
      case 'D':
      case 'M':
        return undefined;
      default:
        return '';
    }
  });
  if (b64 && !w.has('b')) w.put('b');
  if (req.compareCas !== undefined && !w.has('C')) w.put('C', req.compareCas.toString());
  if (req.invalidate && !w.has('I')) w.put('I');
  if (req.exptime !== undefined && !w.has('T')) w.put('T', String(req.exptime));
  if (req.quiet && !w.has('q')) w.put('q');
  return p.ascii('\r\n').finish();
}

function metaArithmetic(req: ArithmeticRequest): Buffer {
  const p = new Parts();
  const { wire, b64 } = metaKey(req);
  p.ascii('ma ').bytes(wire);
  const w = new FlagWriter(p);
  const vivify = req.initial !== undefined;
  w.ret(req.meta, (l) => {
    switch (l) {
      case 'M':
        return req.incr ? 'I' : 'D';
      case 'D':
        return BigInt.asUintN(64, req.delta).toString();
      case 'N':
        return vivify ? String(req.exptime ?? 0) : undefined;
      case 'J':
        // memcached ignores J without N.
        return (req.initial ?? 0n).toString();
      case 'C':
        return req.compareCas?.toString();
      case 'E':
        return req.newCas?.toString();
      case 'b':
        return b64 ? '' : undefined;
      case 'q':
        return req.quiet ? '' : undefined;
      case 'F':
      case 'R':
      case 'I':
      case 'T':
        return undefined;
      default:
        return '';
    }
  });
  if (b64 && !w.has('b')) w.put('b');
  if (!req.incr && !w.has('M')) w.put('M', 'D');
  if (req.delta !== 1n && !w.has('D')) w.put('D', BigInt.asUintN(64, req.delta).toString());
  if (vivify && !w.has('N')) w.put('N', String(req.exptime ?? 0));
  if (vivify && req.initial !== 0n && !w.has('J')) w.put('J', req.initial!.toString());
  if (req.compareCas !== undefined && !w.has('C')) w.put('C', req.compareCas.toString());
  if (req.newCas !== undefined && !w.has('E')) w.put('E', req.newCas.toString());
  if (req.quiet && !w.has('q')) w.put('q');
  return p.ascii('\r\n').finish();
}
