/**
 * memcached's admin commands on a text connection (`lru_crawler`, `stats
 * cachedump`, `slabs`, `lru`, `cache_memlimit`, `shutdown`), their
 * arguments checked as memcached 1.6.18's proto_text.c checks them, and the
 * HTTP-looking line memcached closes the connection on.
 *
 * Checks that depend on the server's state (the crawler disabled, a slab
 * class that does not exist, shutdown not enabled) are left to whoever
 * answers the `AdminRequest`: memcached makes some of them before looking at
 * the arguments.
 */
import { BinaryStatus, ProtocolError } from '../errors.js';
import type { AdminRequest, Request } from '../model.js';
import { ERR, errorRequest, parseInt32, parseUint32, tokenIs, type TokenSpans } from './meta-parse.js';

const einval = BinaryStatus.EINVAL;
const unknown = BinaryStatus.UNKNOWN_COMMAND;

/** memcached 1.6.18's replies to admin arguments it refuses. */
export const ADMIN_ERR = {
  BAD_COMMAND_LINE: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR bad command line', einval),
  ILLEGAL_SLAB_ID: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR Illegal slab id', einval),
  CRAWLER_SLEEP: new ProtocolError('BAD_FORMAT', 'CLIENT_ERROR sleep must be one second or less', einval),
  LRU_PCTS: new ProtocolError('BAD_FORMAT', 'ERROR hot and warm pcts must not exceed 80', einval),
  LRU_FACTORS: new ProtocolError('BAD_FORMAT', 'ERROR hot/warm age factors must be greater than 0', einval),
  MEMLIMIT_TOO_SMALL: new ProtocolError('BAD_FORMAT', 'MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m', einval),
  MEMLIMIT_MEGABYTES: new ProtocolError('BAD_FORMAT', 'MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes', einval),
  /** memcached closes the connection without a reply. */
  HTTP_REQUEST: new ProtocolError('HTTP_REQUEST', 'ERROR', unknown, true),
} as const;

/** memcached's MAX_NUMBER_OF_SLAB_CLASSES: `stats cachedump` refuses class ids from here on. */
export const MAX_SLAB_CLASSES = 64;

/**
 * memcached counts at most 23 words and a terminator (MAX_TOKENS 24); its
 * argument checks compare that count (`ntokens`).
 */
function ntokens(n: number): number {
  return (n > 23 ? 23 : n) + 1;
}

function word(buf: Buffer, toks: TokenSpans, i: number): string {
  return buf.toString('latin1', toks.start[i]!, toks.end[i]!);
}

function admin(name: string, args: string[], quiet: boolean): AdminRequest {
  return { protocol: 'text', quiet, opcode: 0, opaque: 0, cmd: 'admin', name, args };
}

/** memcached's set_noreply_maybe: the last counted word is `noreply`. */
function noreply(buf: Buffer, toks: TokenSpans, n: number): boolean {
  const i = ntokens(n) - 2;
  return tokenIs(buf, toks.start[i]!, toks.end[i]!, 'noreply');
}

/** memcached's safe_strtod: a C double, then the end of the word or a blank. */
const STRTOD = /^[\t\n\v\f\r ]*([+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan))(?:[\t\n\v\f\r ].*)?$/is;

/** The double, or undefined where safe_strtod refuses the word (`nan` is a double). */
function parseDouble(s: string): number | undefined {
  const m = STRTOD.exec(s);
  if (m === null) return undefined;
  const t = m[1]!.toLowerCase();
  if (t.includes('nan')) return NaN;
  if (t.includes('inf')) return t.startsWith('-') ? -Infinity : Infinity;
  const v = Number(t);
  // ERANGE: overflow, and underflow of a non-zero mantissa, are refused.
  if (!Number.isFinite(v) || (v === 0 && /[1-9]/.test(t.split('e')[0]!))) return undefined;
  return v;
}

/** `lru_crawler <crawl|metadump> <classes>`, `tocrawl <n>`, `sleep <us>`, `enable`, `disable`. */
export function parseLruCrawler(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  const nt = ntokens(n);
  const sub = n >= 2 ? word(buf, toks, 1) : '';
  if (nt === 4 && (sub === 'crawl' || sub === 'metadump')) {
    out.push(admin('lru_crawler', [sub, word(buf, toks, 2)], false));
    return;
  }
  if (nt === 4 && (sub === 'tocrawl' || sub === 'sleep')) {
    const v = parseUint32(buf, toks.start[2]!, toks.end[2]!);
    if (v !== v) out.push(errorRequest('text', ERR.BAD_FORMAT, false));
    else if (sub === 'sleep' && v > 1_000_000) out.push(errorRequest('text', ADMIN_ERR.CRAWLER_SLEEP, false));
    else out.push(admin('lru_crawler', [sub, String(v)], false));
    return;
  }
  if (nt === 3 && (sub === 'enable' || sub === 'disable')) {
    out.push(admin('lru_crawler', [sub], false));
    return;
  }
  out.push(errorRequest('text', ERR.UNKNOWN, false));
}

/** `stats cachedump <class> <limit>`; called when the word after `stats` is `cachedump`. */
export function parseCachedump(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  if (ntokens(n) < 5) {
    out.push(errorRequest('text', ADMIN_ERR.BAD_COMMAND_LINE, false));
    return;
  }
  const id = parseUint32(buf, toks.start[2]!, toks.end[2]!);
  const limit = parseUint32(buf, toks.start[3]!, toks.end[3]!);
  if (id !== id || limit !== limit) out.push(errorRequest('text', ERR.BAD_FORMAT, false));
  else if (id >= MAX_SLAB_CLASSES) out.push(errorRequest('text', ADMIN_ERR.ILLEGAL_SLAB_ID, false));
  else out.push(admin('stats', ['cachedump', String(id), String(limit)], false));
}

/** `slabs reassign <src> <dst>`, `slabs automove <0|1|2>`, `slabs automove ratio <r>`. */
export function parseSlabs(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  const nt = ntokens(n);
  if (nt === 5 && tokenIs(buf, toks.start[1]!, toks.end[1]!, 'reassign')) {
    const src = parseInt32(buf, toks.start[2]!, toks.end[2]!);
    const dst = parseInt32(buf, toks.start[3]!, toks.end[3]!);
    if (src !== src || dst !== dst) out.push(errorRequest('text', ERR.BAD_FORMAT, false));
    else out.push(admin('slabs', ['reassign', String(src), String(dst)], false));
    return;
  }
  if (nt >= 4 && tokenIs(buf, toks.start[1]!, toks.end[1]!, 'automove')) {
    const quiet = noreply(buf, toks, n);
    if (tokenIs(buf, toks.start[2]!, toks.end[2]!, 'ratio')) {
      const ratio = nt < 5 ? undefined : parseDouble(word(buf, toks, 3));
      if (ratio === undefined) out.push(errorRequest('text', ERR.UNKNOWN, quiet));
      else out.push(admin('slabs', ['automove', 'ratio', String(ratio)], quiet));
      return;
    }
    const level = parseUint32(buf, toks.start[2]!, toks.end[2]!);
    if (level !== level) out.push(errorRequest('text', ERR.BAD_FORMAT, quiet));
    else if (level > 2) out.push(errorRequest('text', ERR.UNKNOWN, quiet));
    else out.push(admin('slabs', ['automove', String(level)], quiet));
    return;
  }
  out.push(errorRequest('text', ERR.UNKNOWN, false));
}

/**
 * `lru tune <hot%> <warm%> <hot factor> <warm factor>`, `lru mode
 * <flat|segmented>`, `lru temp_ttl <ttl>`. memcached answers the last two
 * only with its LRU maintainer running, before reading their argument: the
 * handler checks them.
 */
export function parseLru(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  const nt = ntokens(n);
  if (n < 2) {
    out.push(errorRequest('text', ERR.UNKNOWN, false));
    return;
  }
  const quiet = noreply(buf, toks, n);
  const sub = word(buf, toks, 1);
  if (sub === 'tune' && nt >= 7) {
    const hot = parseUint32(buf, toks.start[2]!, toks.end[2]!);
    const warm = parseUint32(buf, toks.start[3]!, toks.end[3]!);
    const hotFactor = parseDouble(word(buf, toks, 4));
    const factor = parseDouble(word(buf, toks, 5));
    if (hot !== hot || warm !== warm || hotFactor === undefined || factor === undefined) {
      out.push(errorRequest('text', ERR.UNKNOWN, quiet));
    } else if ((hot + warm) >>> 0 > 80) {
      out.push(errorRequest('text', ADMIN_ERR.LRU_PCTS, quiet));
    } else if (factor <= 0 || hotFactor <= 0) {
      out.push(errorRequest('text', ADMIN_ERR.LRU_FACTORS, quiet));
    } else {
      out.push(admin('lru', ['tune', String(hot), String(warm), String(hotFactor), String(factor)], quiet));
    }
    return;
  }
  if ((sub === 'mode' || sub === 'temp_ttl') && nt >= 4) {
    out.push(admin('lru', [sub, word(buf, toks, 2)], quiet));
    return;
  }
  out.push(errorRequest('text', ERR.UNKNOWN, quiet));
}

/** `cache_memlimit <megabytes> [noreply]`. */
export function parseMemlimit(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  if (n !== 2 && n !== 3) {
    out.push(errorRequest('text', ERR.UNKNOWN, false));
    return;
  }
  const quiet = noreply(buf, toks, n);
  const mb = parseUint32(buf, toks.start[1]!, toks.end[1]!);
  if (mb !== mb) out.push(errorRequest('text', ERR.UNKNOWN, quiet));
  else if (mb < 8) out.push(errorRequest('text', ADMIN_ERR.MEMLIMIT_TOO_SMALL, quiet));
  else if (mb > 1_000_000_000) out.push(errorRequest('text', ADMIN_ERR.MEMLIMIT_MEGABYTES, quiet));
  else out.push(admin('cache_memlimit', [String(mb)], quiet));
}

/** `shutdown [graceful]`: whether it is enabled, and its mode, are the server's to check. */
export function parseShutdown(buf: Buffer, toks: TokenSpans, n: number, out: Request[]): void {
  const args: string[] = [];
  for (let i = 1; i < ntokens(n) - 1; i++) args.push(word(buf, toks, i));
  out.push(admin('shutdown', args, false));
}

/**
 * Words memcached 1.6.18 dispatches by name after its first-letter groups
 * (g s a c i d t, and two-letter m commands): a line starting with any other
 * word is unknown to it, and closes the connection when it looks like HTTP.
 */
const NAMED = new Set([
  'replace',
  'prepend',
  'bget',
  'flush_all',
  'version',
  'quit',
  'lru_crawler',
  'watch',
  'verbosity',
  'lru',
  'extstore',
  'refresh_certs',
]);

/** 'g' 's' 'a' 'c' 'i' 'd' 't': memcached answers any word starting with these from its own branch. */
const GROUPED = new Set([103, 115, 97, 99, 105, 100, 116]);

/**
 * An unknown command whose last counted word starts with `HTTP/`
 * (`GET / HTTP/1.1`, `PUT /x HTTP/1.0`, `DELETE HTTP/1.1`, `HTTP/1.1`):
 * memcached closes the connection at once, without a reply.
 */
export function looksLikeHttp(buf: Buffer, toks: TokenSpans, n: number): boolean {
  const s0 = toks.start[0]!;
  const len0 = toks.end[0]! - s0;
  const c0 = buf[s0]!;
  if (len0 < 2 || (c0 === 109 && len0 === 2) || GROUPED.has(c0)) return false;
  const last = ntokens(n) - 2;
  const s = toks.start[last]!;
  if (toks.end[last]! - s < 5) return false;
  if (buf[s] !== 72 || buf[s + 1] !== 84 || buf[s + 2] !== 84 || buf[s + 3] !== 80 || buf[s + 4] !== 47) return false;
  return !NAMED.has(buf.toString('latin1', s0, toks.end[0]!));
}
