import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ServerCounters } from './stats.js';
import {
  BinaryOpcode,
  BinaryStatus,
  ProtocolError,
  type ErrorRequest,
  type Request,
  type ResponseEncoder,
  type ResponseWriter,
  type SaslRequest,
} from '@cleave/protocol';

/** Users and their passwords: what `parseAuthFile` returns, or a plain object. */
export type AuthUsers = ReadonlyMap<string, string> | Readonly<Record<string, string>>;

/**
 * How clients prove who they are. Either a fixed list of users (passwords
 * are kept only as keyed digests and compared in constant time), or a
 * `verify` function of your own (it must answer synchronously).
 */
export type AuthOptions =
  | { readonly users: AuthUsers; readonly verify?: never }
  | { readonly verify: (username: string, password: string) => boolean; readonly users?: never };

/** A malformed auth file; the message names the line, never its password. */
export class AuthFileError extends Error {
  override readonly name = 'AuthFileError';
  readonly code = 'AUTH_FILE_MALFORMED';
}

/**
 * Reads memcached's `-Y` auth file format: one `username:password` per line.
 * The password is everything after the first colon, up to the end of the
 * line (a trailing `\r` is dropped). Empty lines are skipped. A line without
 * a colon, an empty username or password, a space or NUL in either (memcached's
 * text auth separates them with spaces) or a repeated username is an error.
 */
export function parseAuthFile(text: string | Buffer): Map<string, string> {
  const s = typeof text === 'string' ? text : text.toString('utf8');
  const users = new Map<string, string>();
  const lines = s.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line === '') continue;
    const where = `line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon < 0) throw new AuthFileError(`${where}: expected username:password`);
    const user = line.slice(0, colon);
    const password = line.slice(colon + 1);
    if (user === '') throw new AuthFileError(`${where}: empty username`);
    if (password === '') throw new AuthFileError(`${where}: empty password`);
    if (/[\s\0]/.test(user)) throw new AuthFileError(`${where}: the username contains a space or control character`);
    if (/[ \0]/.test(password)) throw new AuthFileError(`${where}: the password contains a space or NUL, which clients cannot send`);
    if (users.has(user)) throw new AuthFileError(`${where}: username ${JSON.stringify(user)} appears twice`);
    users.set(user, password);
  }
  if (users.size === 0) throw new AuthFileError('no users (expected username:password lines)');
  return users;
}

/**
 * Checks credentials. With a user list, each password is kept as an
 * HMAC-SHA-256 digest under a key drawn at startup; a candidate password is
 * digested the same way and compared with `timingSafeEqual`, so neither its
 * length nor where it differs shows in the time taken. An unknown user is
 * compared against a dummy digest, so it costs the same as a wrong password.
 */
export class Authenticator {
  private readonly key = randomBytes(32);
  private readonly digests = new Map<string, Buffer>();
  private readonly dummy: Buffer;
  private readonly verify?: (username: string, password: string) => boolean;

  constructor(
    options: AuthOptions,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    this.dummy = this.digest(randomBytes(32));
    if (typeof options.verify === 'function') {
      this.verify = options.verify;
      return;
    }
    const users = options.users;
    if (users === undefined || users === null) throw new TypeError('auth needs `users` or `verify`');
    const entries = users instanceof Map ? [...users] : Object.entries(users);
    if (entries.length === 0) throw new TypeError('auth.users is empty: nobody could log in');
    for (const [user, password] of entries) {
      if (typeof user !== 'string' || typeof password !== 'string') throw new TypeError('auth.users maps usernames to password strings');
      // Keyed by the username's bytes (latin1 maps bytes to chars one to one).
      this.digests.set(Buffer.from(user, 'utf8').toString('latin1'), this.digest(Buffer.from(password, 'utf8')));
    }
  }

  private digest(password: Buffer): Buffer {
    return createHmac('sha256', this.key).update(password).digest();
  }

  /** Whether `username` / `password` (raw bytes from the wire) are valid. */
  check(username: Buffer, password: Buffer): boolean {
    if (this.verify !== undefined) {
      try {
        return this.verify(username.toString('utf8'), password.toString('utf8')) === true;
      } catch (err) {
        // A verifier that throws is a server fault; the client is refused.
        this.onError(err);
        return false;
      }
    }
    const stored = this.digests.get(username.toString('latin1'));
    const equal = timingSafeEqual(this.digest(password), stored ?? this.dummy);
    return equal && stored !== undefined;
  }
}

// ---------------------------------------------------------------------------
// Text protocol: memcached's ASCII auth (-Y)
// ---------------------------------------------------------------------------

const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;

/** memcached closes a connection that sends this much without a newline before authenticating. */
const TEXT_AUTH_MAX_LINE = 2048;
/**
 * The auth `set` data block (value and its CRLF) must fit memcached's 16 KiB
 * read buffer: past it memcached closes the connection once the buffer is full.
 */
const TEXT_AUTH_MAX_DATA = 16 * 1024;

const STORED = 'STORED\r\n';
const UNAUTHENTICATED_LINE = 'CLIENT_ERROR unauthenticated\r\n';
const BAD_TERMINATION = 'CLIENT_ERROR bad command line termination\r\n';
const BAD_TOKEN_FORMAT = 'CLIENT_ERROR bad authentication token format\r\n';
const AUTH_FAILURE_LINE = 'CLIENT_ERROR authentication failure\r\n';

/** Splits `b[start, end)` on spaces (runs of spaces count as one), as memcached's tokenizer does. */
function tokens(b: Buffer, start: number, end: number, max: number): Buffer[] {
  const out: Buffer[] = [];
  let p = start;
  while (p < end && out.length < max) {
    while (p < end && b[p] === SPACE) p++;
    if (p === end) break;
    const s = p;
    while (p < end && b[p] !== SPACE) p++;
    out.push(b.subarray(s, p));
  }
  return out;
}

const isCSpace = (c: number | undefined) => c === SPACE || (c !== undefined && c >= 0x09 && c <= 0x0d);

/**
 * memcached's safe_strtoul on the length token: digits (an optional sign),
 * then the end or whitespace. A negative number fails; -1 = not a length.
 */
function lengthToken(t: Buffer): number {
  let p = 0;
  let negative = false;
  if (t[p] === 0x2b || t[p] === 0x2d) negative = t[p++] === 0x2d;
  const digits = p;
  let n = 0;
  while (p < t.length && t[p]! >= 0x30 && t[p]! <= 0x39) {
    // Past the data limit the exact value no longer matters.
    if (n <= Number.MAX_SAFE_INTEGER / 10) n = n * 10 + (t[p]! - 0x30);
    p++;
  }
  if (p === digits) return -1;
  if (p < t.length && !isCSpace(t[p])) return -1;
  if (negative && n !== 0) return -1;
  return n;
}

// ---------------------------------------------------------------------------
// Binary protocol: SASL PLAIN
// ---------------------------------------------------------------------------

/** What memcached built with SASL answers, and the only mechanism cleave offers. */
const MECHANISMS = 'PLAIN';
/** memcached's MAX_SASL_MECH_LEN: a longer mechanism name is EINVAL. */
const MAX_MECHANISM_LENGTH = 32;
const AUTHENTICATED = 'Authenticated';
const AUTH_FAILURE = 'Auth failure.';
const INVALID_ARGUMENTS = 'Invalid arguments';

/** A binary command refused before authentication: memcached answers AUTH_ERROR and closes. */
const UNAUTHENTICATED = new ProtocolError('UNAUTHENTICATED', 'CLIENT_ERROR unauthenticated', BinaryStatus.AUTH_ERROR, true);

/** Binary opcodes memcached serves before authentication. */
function allowedBeforeAuth(opcode: number): boolean {
  return (
    opcode === BinaryOpcode.SASL_LIST_MECHS ||
    opcode === BinaryOpcode.SASL_AUTH ||
    opcode === BinaryOpcode.SASL_STEP ||
    opcode === BinaryOpcode.VERSION
  );
}

/** What the binary gate makes of the next bytes before authentication. */
export interface GateStep {
  /** Where the gate stopped in the chunk. */
  readonly next: number;
  /** Bytes of an allowed packet, for the parser. */
  readonly feed?: Buffer;
  /** A refused command: answer it, then close. */
  readonly refusal?: ErrorRequest;
}

/** The reply decided for a SASL request when it was read (sent when its turn comes). */
interface SaslReply {
  readonly status: number;
  readonly body: string;
}
const LIST_REPLY: SaslReply = { status: BinaryStatus.NO_ERROR, body: MECHANISMS };
const OK_REPLY: SaslReply = { status: BinaryStatus.NO_ERROR, body: AUTHENTICATED };
const CONTINUE_REPLY: SaslReply = { status: BinaryStatus.AUTH_CONTINUE, body: '' };
const FAILURE_REPLY: SaslReply = { status: BinaryStatus.AUTH_ERROR, body: AUTH_FAILURE };
const EINVAL_REPLY: SaslReply = { status: BinaryStatus.EINVAL, body: INVALID_ARGUMENTS };

/** "PLAIN" in any case (mechanism names are case-insensitive). */
function isPlain(m: Buffer): boolean {
  return (
    m.length === 5 &&
    (m[0]! | 0x20) === 0x70 &&
    (m[1]! | 0x20) === 0x6c &&
    (m[2]! | 0x20) === 0x61 &&
    (m[3]! | 0x20) === 0x69 &&
    (m[4]! | 0x20) === 0x6e
  );
}

/**
 * One connection's authentication state.
 *
 * Text: until a client authenticates, memcached understands one thing only,
 * `set <any key> <any flags> <any exptime> <length>` followed by a data block
 * `username password`; every other line (get, version, quit, meta commands...)
 * answers `CLIENT_ERROR unauthenticated` and is dropped. See `feedText`.
 *
 * Binary: SASL PLAIN. Before authentication only SASL list/auth/step and
 * Version are served; any other command answers AUTH_ERROR "Auth failure."
 * and closes the connection, as memcached run with `-S` does.
 */
export class AuthSession {
  authenticated = false;
  /** The text gate asks the connection to close (memcached's limits before auth). */
  mustClose = false;
  /** AUTH PLAIN without data answered "continue": a SASL step may complete it. */
  private awaitingStep = false;
  /** SASL replies decided when read, waiting for their turn to be encoded. */
  private readonly replies: SaslReply[] = [];
  /** Text: bytes of an incomplete line or data block carried to the next read. */
  private pending: Buffer | undefined;
  /** Text: bytes the auth `set`'s data block needs (value + CRLF); -1 while reading a line. */
  private need = -1;
  /** Text: data bytes already skipped of a block too large to accept. */
  private skipped = 0;
  /** Binary gate: the header being read, and how much of it has arrived. */
  private readonly header = Buffer.alloc(24);
  private headerFill = 0;
  /** Binary gate: bytes of an allowed packet still to pass to the parser. */
  private forward = 0;
  /** Binary gate: extras and key bytes to wait for before refusing the packet (-1: none pending). */
  private refuseAfter = -1;
  /** Binary gate: a command was refused; the connection is closing, nothing more is read. */
  private refused = false;

  constructor(
    private readonly auth: Authenticator,
    private readonly counters: Pick<ServerCounters, 'authCmds' | 'authErrors'>,
  ) {}

  /**
   * Feed text bytes read before authentication; replies go to `w`. Returns
   * the bytes that follow a successful auth (possibly empty) for the text
   * parser, or `undefined` while the client is still unauthenticated.
   */
  feedText(chunk: Buffer, w: ResponseWriter): Buffer | undefined {
    let b = chunk;
    if (this.pending !== undefined) {
      // Only a partial line (< 2 KiB) or data block (< 16 KiB) is ever carried over.
      b = Buffer.concat([this.pending, chunk]);
      this.pending = undefined;
    }
    let p = 0;
    for (;;) {
      if (this.need < 0) {
        const nl = b.indexOf(LF, p);
        if (nl < 0) {
          if (b.length - p > TEXT_AUTH_MAX_LINE) {
            // memcached: no newline in 2 KiB is junk; close without a reply.
            this.mustClose = true;
            return undefined;
          }
          if (p < b.length) this.pending = Buffer.from(b.subarray(p));
          return undefined;
        }
        // The \r, if any, stays on the last token: the length parse stops at it.
        const t = tokens(b, p, nl, 6);
        p = nl + 1;
        const size = t.length >= 5 && t[0]!.equals(SET) ? lengthToken(t[4]!) : -1;
        if (size < 0) {
          w.ascii(UNAUTHENTICATED_LINE);
          continue;
        }
        this.need = size + 2;
        this.skipped = 0;
        continue;
      }
      const left = b.length - p;
      if (this.need > TEXT_AUTH_MAX_DATA) {
        // Too large for memcached's read buffer: it waits until that buffer is full, then closes.
        this.skipped += left;
        if (this.skipped >= TEXT_AUTH_MAX_DATA) this.mustClose = true;
        return undefined;
      }
      if (left < this.need) {
        if (left > 0) this.pending = Buffer.from(b.subarray(p));
        return undefined;
      }
      const end = p + this.need;
      this.need = -1;
      const start = p;
      p = end;
      if (b[end - 2] !== CR || b[end - 1] !== LF) {
        w.ascii(BAD_TERMINATION);
        continue;
      }
      const cred = tokens(b, start, end - 2, 2);
      if (cred.length < 2) {
        w.ascii(BAD_TOKEN_FORMAT);
        continue;
      }
      if (this.check(cred[0]!, cred[1]!)) {
        this.authenticated = true;
        w.ascii(STORED);
        return b.subarray(p);
      }
      w.ascii(AUTH_FAILURE_LINE);
    }
  }

  /**
   * Binary bytes read while the connection is not authenticated, taken one
   * packet at a time from `chunk[p..]`: a packet of an allowed command (SASL,
   * Version) passes to the parser whole; any other is refused once its
   * header, extras and key have arrived, before its value, as memcached
   * checks authentication as soon as it has read the key. The connection
   * calls this again after each step (an allowed packet may authenticate it).
   */
  gateBinary(chunk: Buffer, p: number): GateStep {
    const end = chunk.length;
    if (this.refused) return { next: end };
    if (this.forward > 0) {
      const n = Math.min(this.forward, end - p);
      this.forward -= n;
      return { next: p + n, feed: chunk.subarray(p, p + n) };
    }
    const h = this.header;
    if (this.refuseAfter >= 0) {
      const n = Math.min(this.refuseAfter, end - p);
      this.refuseAfter -= n;
      if (this.refuseAfter > 0) return { next: p + n };
      this.refuseAfter = -1;
      this.refused = true;
      return { next: p + n, refusal: this.refusal(h[1]!, h.readUInt32BE(12)) };
    }
    const n = Math.min(24 - this.headerFill, end - p);
    chunk.copy(h, this.headerFill, p, p + n);
    this.headerFill += n;
    if (this.headerFill < 24) return { next: p + n };
    this.headerFill = 0;
    const opcode = h[1]!;
    // A bad magic byte goes to the parser too: it closes the connection without a reply.
    if (h[0] !== 0x80 || allowedBeforeAuth(opcode)) {
      this.forward = h.readUInt32BE(8);
      return { next: p + n, feed: Buffer.from(h) };
    }
    const keyAndExtras = h[4]! + h.readUInt16BE(2);
    if (keyAndExtras > 0) {
      this.refuseAfter = keyAndExtras;
      return { next: p + n };
    }
    this.refused = true;
    return { next: p + n, refusal: this.refusal(opcode, h.readUInt32BE(12)) };
  }

  private refusal(opcode: number, opaque: number): ErrorRequest {
    return { protocol: 'binary', quiet: false, opcode, opaque, cmd: 'error', error: UNAUTHENTICATED };
  }

  /**
   * A binary request read while authentication is on: SASL requests are
   * decided now (in read order), other commands pass once authenticated;
   * before that only Version does, the rest become an AUTH_ERROR that
   * closes the connection.
   */
  admit(req: Request): Request {
    if (req.cmd === 'sasl_list' || req.cmd === 'sasl_auth' || req.cmd === 'sasl_step') {
      this.replies.push(this.decide(req));
      return req;
    }
    // Allowed before auth, including malformed ones (memcached answers those EINVAL).
    if (this.authenticated || allowedBeforeAuth(req.opcode)) return req;
    // Only after a SASL command dropped the authentication within one read: refused when parsed.
    this.refused = true;
    return this.refusal(req.opcode, req.opaque);
  }

  /**
   * memcached (with cyrus SASL) drops a connection's authentication at
   * every SASL command, list included; a successful auth or step restores
   * it. A failed step keeps the exchange open for another step.
   */
  private decide(req: SaslRequest): SaslReply {
    this.authenticated = false;
    if (req.cmd === 'sasl_list') return LIST_REPLY;
    if (req.mechanism.length > MAX_MECHANISM_LENGTH) return EINVAL_REPLY;
    const reply = this.exchange(req);
    // memcached counts an exchange once it ends, in success or failure; "continue" is not counted.
    if (reply !== CONTINUE_REPLY) this.counters.authCmds++;
    if (reply === FAILURE_REPLY) this.counters.authErrors++;
    return reply;
  }

  /** One SASL auth or step of the PLAIN exchange. */
  private exchange(req: SaslRequest): SaslReply {
    if (req.cmd === 'sasl_auth') {
      this.awaitingStep = false;
      if (!isPlain(req.mechanism)) return FAILURE_REPLY;
      if (req.data.length === 0) {
        this.awaitingStep = true;
        return CONTINUE_REPLY;
      }
      return this.plain(req.data) ? OK_REPLY : FAILURE_REPLY;
    }
    if (!this.awaitingStep) return FAILURE_REPLY;
    if (!this.plain(req.data)) return FAILURE_REPLY;
    this.awaitingStep = false;
    return OK_REPLY;
  }

  /** RFC 4616 PLAIN: [authzid] NUL authcid NUL passwd; authzid empty or the same user. */
  private plain(data: Buffer): boolean {
    const a = data.indexOf(0);
    if (a < 0) return false;
    const b = data.indexOf(0, a + 1);
    if (b < 0 || data.indexOf(0, b + 1) >= 0) return false;
    const authzid = data.subarray(0, a);
    const user = data.subarray(a + 1, b);
    const password = data.subarray(b + 1);
    if (user.length === 0 || password.length === 0) return false;
    if (authzid.length > 0 && !authzid.equals(user)) return false;
    const ok = this.auth.check(user, password);
    if (ok) this.authenticated = true;
    return ok;
  }

  /** A password check, counted for `stats` (auth_cmds, auth_errors) as memcached counts them. */
  private check(user: Buffer, password: Buffer): boolean {
    this.counters.authCmds++;
    const ok = this.auth.check(user, password);
    if (!ok) this.counters.authErrors++;
    return ok;
  }

  /** Encode the reply decided for this SASL request (replies leave in request order). */
  encodeSasl(enc: ResponseEncoder, w: ResponseWriter, req: SaslRequest): void {
    const r = this.replies.shift() ?? FAILURE_REPLY;
    if (r.status === BinaryStatus.NO_ERROR) enc.sasl(w, req, true, r.body);
    else enc.serverError(w, req, r.body, r.status);
  }
}

const SET = Buffer.from('set', 'latin1');
