// What an admin command's reply shows through a ChunkedHandler: a dump of the inner store lists the client's keys
// (plain items and the metadata items of chunked values), not the chunk items, so a tool that dumps keys and then
// reads each one back (memcached-tool dump) gets every value whole, once.

/**
 * A chunk item's key as dump lines show it: `<base>|<16 hex>:<4 hex>`. metadump
 * URL-encodes it (`|` is %7C, `:` is %3A); cachedump and mgdump show it raw.
 */
const CHUNK_LINE =
  /^(?:key=\S*%7C[0-9a-f]{16}%3A[0-9a-f]{4} |ITEM \S*\|[0-9a-f]{16}:[0-9a-f]{4} \[|mg \S*\|[0-9a-f]{16}:[0-9a-f]{4}(?:\r?$| ))/;

/** `reply` without the lines that list chunk items; other replies (one line, no chunk items) unchanged. */
export function withoutChunkItems(reply: Buffer): Buffer {
  const text = reply.toString('latin1');
  let out = '';
  let dropped = false;
  for (let at = 0; at < text.length; ) {
    const nl = text.indexOf('\n', at);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(at, end);
    if (CHUNK_LINE.test(line)) dropped = true;
    else out += line;
    at = end;
  }
  return dropped ? Buffer.from(out, 'latin1') : reply;
}
