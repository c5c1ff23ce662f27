// Where a backend listens, read from text: "host:port", "[v6]:port", or a unix socket path ("/path", "./path").
// The one parser every command-line flag and handler option that names a backend uses.

/** A TCP address. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** A unix socket. */
export interface SocketPath {
  readonly path: string;
}

export type Address = HostPort | SocketPath;

/** What `parseAddress` accepts, for error messages. */
export const ADDRESS_FORMS = '"host:port", "[ipv6]:port" (port 1-65535), or a unix socket path starting with "/" or "./"';

/** `[v6]:port` or `host:port` (the host without ':' or whitespace). */
const HOST_PORT = /^(?:\[([^\]\s]+)\]|([^:\s[\]]+)):(\d{1,5})$/;

/**
 * Read a backend address. A path is taken as is; a host is taken without
 * brackets (`[::1]:11211` → host `::1`). Throws a TypeError naming `text`
 * (and `what`, e.g. the flag it came from) and the forms allowed.
 */
export function parseAddress(text: string, what = 'address'): Address {
  if (typeof text === 'string') {
    if (text.startsWith('/') || text.startsWith('./')) return { path: text };
    const m = HOST_PORT.exec(text);
    if (m !== null) {
      const port = Number(m[3]);
      if (port >= 1 && port <= 65535) return { host: (m[1] ?? m[2])!, port };
    }
  }
  throw new TypeError(`${what} ${JSON.stringify(text)} is not an address: give ${ADDRESS_FORMS}`);
}

/** An address as text that `parseAddress` reads back (IPv6 hosts in brackets). */
export function formatAddress(a: Address): string {
  if ('path' in a) return a.path;
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
