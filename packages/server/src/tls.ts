import type * as net from 'node:net';
import * as tls from 'node:tls';

/** A PEM document, as text or the bytes of a `.pem` file. */
export type Pem = string | Buffer;

/** What makes a listener speak TLS (`{ port, tls: { cert, key } }`). */
export interface TlsOptions {
  /** The server's certificate (chain), PEM. */
  cert: Pem | Pem[];
  /** The private key of `cert`, PEM. */
  key: Pem;
  /**
   * CA certificate(s), PEM, trusted to sign client certificates. When given,
   * every client must present a certificate one of them signed (like
   * memcached's `ssl_ca_cert` with `ssl_verify_mode=2`), unless
   * `requestCert` is false.
   */
  ca?: Pem | Pem[];
  /** Ask for, and require, a client certificate signed by `ca` (default: true when `ca` is given). */
  requestCert?: boolean;
  /** A client that has not finished the TLS handshake after this many ms is dropped (default 10 000). */
  handshakeTimeoutMs?: number;
  /** Oldest protocol version accepted (default `TLSv1.2`, as memcached's `ssl_min_version`). */
  minVersion?: tls.SecureVersion;
}

export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Node's server options for `o`; throws a TypeError for a contradiction, and whatever Node says of bad PEM. */
export function tlsServerOptions(o: TlsOptions): tls.TlsOptions {
  if (o.cert === undefined || o.key === undefined) throw new TypeError('tls needs both cert and key');
  const requestCert = o.requestCert ?? o.ca !== undefined;
  if (requestCert && o.ca === undefined) throw new TypeError('tls.requestCert needs tls.ca to verify client certificates with');
  const handshakeTimeout = o.handshakeTimeoutMs ?? DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS;
  if (!(handshakeTimeout > 0)) throw new TypeError('tls.handshakeTimeoutMs must be more than 0');
  const options: tls.TlsOptions = {
    cert: o.cert,
    key: o.key,
    requestCert,
    rejectUnauthorized: requestCert,
    handshakeTimeout,
    minVersion: o.minVersion ?? 'TLSv1.2',
  };
  if (o.ca !== undefined) options.ca = o.ca;
  // Fail at startup, not at the first client, when the PEM is bad or the key does not match.
  tls.createSecureContext(options);
  return options;
}

/**
 * A TLS listener. `admit` sees each TCP connection before its handshake (so
 * connections still in their handshake hold a connection slot) and refuses
 * it by returning false; `serve` gets each connection once it is secure.
 */
export function createTlsServer(o: TlsOptions, admit: (raw: net.Socket) => boolean, serve: (socket: tls.TLSSocket) => void): tls.Server {
  // Half-open only once secure. Node's TLS server reports no error for an EOF mid-handshake
  // (a client's FIN before or inside its ClientHello; a reset that lands with its bytes is
  // one too, as libuv reports a hang-up after a partial read as EOF): with allowHalfOpen the
  // socket just sits there, and as handshakeTimeout is an idle timer that the EOF itself
  // restarts, the connection (and its maxConnections slot) would stay until it ran out.
  // Not half-open, the EOF ends our side too and the socket closes at once.
  const server = tls.createServer({ ...tlsServerOptions(o), allowHalfOpen: false, noDelay: true }, (socket) => {
    // A secure connection is half-open, as over plain TCP: a client that ends its side still
    // gets every reply. Set before any 'end' can be emitted: the handshake finishes (and
    // 'secureConnection' fires) while Node decrypts the read that carried it, so data and an
    // EOF behind it come after.
    socket.allowHalfOpen = true;
    serve(socket);
  });
  server.on('connection', (raw: net.Socket) => {
    // No TLS yet to carry memcached's "Too many open connections" line: just drop it.
    if (!admit(raw)) raw.destroy();
  });
  // Plaintext spoken to the TLS port, a refused client certificate, a stalled
  // handshake (handshakeTimeout) or a client gone mid-handshake (reset, or ended
  // and closed: "socket hang up"): the client's problem, never a server fault.
  // Node leaves the socket open on a timeout.
  server.on('tlsClientError', (_err: Error, socket: tls.TLSSocket) => socket.destroy());
  return server;
}
