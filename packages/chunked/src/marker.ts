// The 3-byte marker that sets a chunked value's metadata item apart from a plain value, the escape that keeps a
// small value beginning with those bytes from being read as metadata, and the client's view of an inner item.
import type { ItemView, StoreOutcome } from '@cleave/protocol';

/**
 * Marker C7 4C 56. 0xC7 is neither a digit nor whitespace, so incr/decr on
 * a metadata item answers NON_NUMERIC, as memcached does for any item over
 * slab_chunk_max.
 */
export const MARK0 = 0xc7;
export const MARK1 = 0x4c;
export const MARK2 = 0x56;

/** Kind byte (after the marker) of an escaped small value. Kinds 1 and 2 are metadata (header.ts). */
const KIND_ESCAPED = 3;
/** Marker + kind, in front of an escaped value. */
export const ESCAPE_BYTES = 4;

export function hasMarker(v: Buffer): boolean {
  return v.length >= 3 && v[0] === MARK0 && v[1] === MARK1 && v[2] === MARK2;
}

/** Whether `a` followed by `b` begins with the marker (a prepend/append result), without joining them. */
export function joinedHasMarker(a: Buffer, b: Buffer): boolean {
  const al = a.length;
  if (al + b.length < 3) return false;
  const at = (i: number): number => (i < al ? a[i]! : b[i - al]!);
  return at(0) === MARK0 && at(1) === MARK1 && at(2) === MARK2;
}

/** A small value that begins with the marker, as stored: marker + kind 3 + the value. */
export function escape(value: Buffer): Buffer {
  const v = Buffer.allocUnsafe(ESCAPE_BYTES + value.length);
  v[0] = MARK0;
  v[1] = MARK1;
  v[2] = MARK2;
  v[3] = KIND_ESCAPED;
  value.copy(v, ESCAPE_BYTES);
  return v;
}

export function isEscaped(v: Buffer): boolean {
  return v.length >= ESCAPE_BYTES && v[3] === KIND_ESCAPED && hasMarker(v);
}

/** An inner item that carries the marker but is no chunked metadata: an escaped small value, or someone else's bytes (served as stored). */
export function unescape(it: ItemView): ItemView {
  return isEscaped(it.value) ? viewOf(it, it.value.subarray(ESCAPE_BYTES), it.flags) : it;
}

export function unescapeOutcome(r: StoreOutcome): StoreOutcome {
  return typeof r === 'string' ? r : unescape(r);
}

/** A client-facing view of an inner item with another value and flags (its CAS, exptime and meta facts are the item's). */
export function viewOf(it: ItemView, value: Buffer, flags: number): ItemView {
  return {
    key: it.key,
    value,
    flags,
    cas: it.cas,
    exptime: it.exptime,
    lastAccess: it.lastAccess,
    fetched: it.fetched,
    stale: it.stale,
    win: it.win,
    tokenSent: it.tokenSent,
    keyBinary: it.keyBinary,
    previousExptime: it.previousExptime,
    created: it.created,
  };
}
