/**
 * The server's part of memcached's admin commands: `shutdown` (refused
 * unless enabled, as memcached without `-A`), and the replies to the
 * others when the handler has no `admin` (or answers `undefined`): those of
 * a memcached without the feature, so a tool gets an answer it understands
 * instead of waiting for an `END` that never comes.
 */
import type { AdminRequest } from '@cleave/protocol';

const line = (s: string) => Buffer.from(s + '\r\n', 'latin1');

const SHUTDOWN_DISABLED = line('ERROR: shutdown not enabled');
const SHUTDOWN_BAD_MODE = line('CLIENT_ERROR invalid shutdown mode');
const ERROR = line('ERROR');
const OK = line('OK');
const CRAWLER_DISABLED = line('CLIENT_ERROR lru crawler disabled');
const CRAWLER_NOT_STARTED = line('ERROR failed to start lru crawler thread');
const CACHEDUMP_DISABLED = line('CLIENT_ERROR stats cachedump not allowed');
const REASSIGN_DISABLED = line('CLIENT_ERROR slab reassignment disabled');
const MEMLIMIT_FAILED = line('MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust');

/** How a `shutdown` request asks the server to stop. */
export type ShutdownMode = 'immediate' | 'graceful';

/**
 * An accepted `shutdown` (enabled, and `shutdown` or `shutdown graceful`):
 * its mode; `undefined` when the request is refused (`shutdownRefusal`).
 */
export function shutdownMode(req: AdminRequest, enabled: boolean): ShutdownMode | undefined {
  if (!enabled) return undefined;
  if (req.args.length === 0) return 'immediate';
  return req.args.length === 1 && req.args[0] === 'graceful' ? 'graceful' : undefined;
}

/** memcached's reply to a `shutdown` it does not carry out. */
export function shutdownRefusal(enabled: boolean): Buffer {
  return enabled ? SHUTDOWN_BAD_MODE : SHUTDOWN_DISABLED;
}

/**
 * The reply to an admin command the handler does not answer: memcached's
 * own when the feature is off (crawler disabled, `-X`, slab reassignment
 * disabled, memory that cannot be adjusted; `ERROR` for settings it cannot
 * take). `lru_crawler disable`, `tocrawl` and `sleep` answer OK as a
 * memcached with its crawler stopped does.
 */
export function adminWithoutHandler(req: AdminRequest): Buffer {
  const sub = req.args[0];
  switch (req.name) {
    case 'lru_crawler':
      if (sub === 'crawl' || sub === 'metadump') return CRAWLER_DISABLED;
      return sub === 'enable' ? CRAWLER_NOT_STARTED : OK;
    case 'stats':
      return CACHEDUMP_DISABLED;
    case 'slabs':
      return sub === 'reassign' ? REASSIGN_DISABLED : ERROR;
    case 'cache_memlimit':
      return MEMLIMIT_FAILED;
    default:
      return ERROR;
  }
}
