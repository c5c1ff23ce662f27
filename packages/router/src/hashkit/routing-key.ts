/**
 * mcrouter's routing key: what its routes hash and match prefixes against. A key `/region/cluster/rest` is routed by
 * `rest` (the prefix names a cluster in mcrouter), and a key with a `|#|` hash stop by the part before it, so
 * `user:1|#|a` and `user:1|#|b` go where `user:1` goes.
 */
import { spookyHash32 } from './spooky.js';

const SLASH = 0x2f;
const BAR = 0x7c;
const HASH = 0x23;

/** Where the routing key starts: after a `/region/cluster/` prefix, else 0. */
export function routingKeyStart(key: Uint8Array): number {
  if (key.length === 0 || key[0] !== SLASH) return 0;
  const second = key.indexOf(SLASH, 1);
  if (second < 0) return 0;
  const third = key.indexOf(SLASH, second + 1);
  return third < 0 ? 0 : third + 1;
}

/** Where the routing key ends: at the first `|#|` after `start`, else the key's end. */
export function routingKeyEnd(key: Uint8Array, start: number): number {
  for (let i = key.indexOf(BAR, start); i >= 0 && i + 2 < key.length; i = key.indexOf(BAR, i + 1)) {
    if (key[i + 1] === HASH && key[i + 2] === BAR) return i;
  }
  return key.length;
}

/** mcrouter's `routingKeyHash`: SpookyHashV2's 32-bit hash (seed 0) of the routing key. */
export function routingKeyHash(key: Uint8Array): number {
  const start = routingKeyStart(key);
  return spookyHash32(key, start, routingKeyEnd(key, start), 0);
}
