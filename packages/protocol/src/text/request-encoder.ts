/**
 * Client side of the text and meta protocols: turn a `Request` back into the
 * bytes a client sends it as. Used by round-trip tests and load generators
 * (which encode each kind of request once, as a template).
 *
 * `encodeTextRequest` writes classic text commands; `encodeMetaRequest`
 * writes mg/ms/md/ma/me/mn with protocol's meta request writers
 * (meta/request-encoder.ts, which a client of memcached uses directly),
 * keeping the client's flags in their order, and falls back to the text form
 * for commands that have no meta form (touch, flush_all, version, verbosity,
 * stats, quit, multi-key get). Options a protocol cannot express throw a
 * TypeError rather than being dropped silently.
 */
import type { ArithmeticRequest, DeleteRequest, GetRequest, MultiGetRequest, Request, StoreRequest } from '../model.js';
import {
  MetaFlagOrder,
  MetaKeyForm,
  metaKeyForm,
  writeMetaArithmetic,
  writeMetaDebug,
  writeMetaDelete,
  writeMetaGet,
  writeMetaNoop,
  writeMetaStore,
} from '../meta/request-encoder.js';
import { SlabWriter } from '../writer.js';

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
    case 'admin':
      p.ascii(req.name);
      for (const a of req.args) p.token(a);
      return noreply(p, req.quiet).ascii('\r\n').finish();
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

const scratch = new SlabWriter({ slabSize: 4096 });

/** What one of the meta writers wrote, as one Buffer of its own. */
function written(write: (w: SlabWriter) => void): Buffer {
  write(scratch);
  return Buffer.concat(scratch.take());
}

/** Whether the key goes base64: the client sent it so, or it cannot travel raw. */
function base64Key(req: { key: Buffer; keyBinary?: boolean; meta?: { base64Key?: boolean } }): boolean {
  const form = metaKeyForm(req.key, req.keyBinary === true || req.meta?.base64Key === true);
  if (form === MetaKeyForm.INVALID) unsupported('an empty key, or one over 250 bytes once base64-encoded, in the meta protocol');
  return form === MetaKeyForm.BASE64;
}

/**
 * The client's flags in their order, then a flag for each typed field they
 * leave out that differs from memcached's default (`more`: letter and
 * whether the request needs it, in line order).
 */
function flagOrder(ret: string, more: ReadonlyArray<readonly [string, boolean]>): MetaFlagOrder {
  let letters = ret;
  for (const [letter, needed] of more) if (needed && ret.indexOf(letter) < 0) letters += letter;
  return new MetaFlagOrder(letters, true);
}

/** Encode a request as a meta command (commands without a meta form use their text form). */
export function encodeMetaRequest(req: Request): Buffer {
  switch (req.cmd) {
    case 'get':
      return metaGet(req);
    case 'me': {
      const b64 = base64Key(req);
      return written((w) => writeMetaDebug(w, req.key, b64));
    }
    case 'store':
      return metaStore(req);
    case 'delete':
      return metaDelete(req);
    case 'incr':
    case 'decr':
      return metaArithmetic(req);
    case 'noop':
      return written(writeMetaNoop);
    default:
      return encodeTextRequest(req);
  }
}

function metaGet(req: GetRequest): Buffer {
  const b64 = base64Key(req);
  // A get that did not come as mg asks for what a text get shows: value and client flags, and the CAS for gets.
  const ret = req.meta?.ret ?? (req.withCas ? 'vfc' : 'vf');
  const flags = flagOrder(ret, [
    ['b', b64],
    // T before N: memcached applies them in order, and `vivify` is the exptime a created item ends with.
    ['T', req.touch !== undefined],
    ['N', req.vivify !== undefined],
    ['R', req.recache !== undefined],
    ['u', req.noBump === true],
    ['q', req.quiet],
  ]);
  // The client's own N: with its flags in their order, memcached resolves T and N as it did for the client.
  const asSent = req.meta?.vivifyAsSent;
  const cmd = asSent === undefined ? req : { ...req, vivify: asSent };
  return written((w) => writeMetaGet(w, cmd, b64, flags, req.meta?.opaqueToken));
}

function metaStore(req: StoreRequest): Buffer {
  const b64 = base64Key(req);
  const flags = flagOrder(req.meta?.ret ?? '', [
    ['b', b64],
    ['F', req.flags !== 0],
    ['T', req.exptime !== 0],
    ['C', req.compareCas !== undefined],
    ['I', req.invalidate === true],
    ['E', req.newCas !== undefined],
    ['M', req.mode !== 'set'],
    ['q', req.quiet],
  ]);
  return written((w) => writeMetaStore(w, req, b64, flags, req.meta?.opaqueToken));
}

function metaDelete(req: DeleteRequest): Buffer {
  const b64 = base64Key(req);
  const flags = flagOrder(req.meta?.ret ?? '', [
    ['b', b64],
    ['C', req.compareCas !== undefined],
    ['I', req.invalidate === true],
    ['T', req.exptime !== undefined],
    ['q', req.quiet],
  ]);
  return written((w) => writeMetaDelete(w, req, b64, flags, req.meta?.opaqueToken));
}

function metaArithmetic(req: ArithmeticRequest): Buffer {
  const b64 = base64Key(req);
  const vivify = req.initial !== undefined;
  const flags = flagOrder(req.meta?.ret ?? '', [
    ['b', b64],
    ['M', !req.incr],
    ['D', req.delta !== 1n],
    // T before N: the created counter ends with N's exptime, as `exptime` says.
    ['T', req.touch !== undefined],
    ['N', vivify],
    ['J', vivify && req.initial !== 0n],
    ['C', req.compareCas !== undefined],
    ['E', req.newCas !== undefined],
    ['q', req.quiet],
  ]);
  const asSent = req.meta?.vivifyAsSent;
  const cmd = asSent === undefined ? req : { ...req, exptime: asSent };
  return written((w) => writeMetaArithmetic(w, cmd, b64, flags, req.meta?.opaqueToken));
}
