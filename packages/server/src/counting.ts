/**
 * memcached 1.6.18's command counters, counted by the server from each
 * request and its outcome, whatever handler answered (proto_text.c,
 * proto_bin.c, memcached.c's do_store_item and do_add_delta):
 *
 * - get/gets, binary Get*, mg: cmd_get and get_hits/get_misses; a created
 *   (mg N) item is a hit. gat/gats and binary GAT/Touch count cmd_touch and
 *   touch_hits/touch_misses instead; an mg with T counts a hit as a touch and
 *   a miss as a get. `me` counts cmd_meta only.
 * - stores: cmd_set unless refused for size or memory; a CAS set/replace
 *   (text cas, binary Set/Replace with CAS, ms C) cas_hits, cas_badval
 *   (EXISTS) or cas_misses (NOT_FOUND).
 * - delete: delete_hits or delete_misses (an md CAS mismatch is a miss, a
 *   binary one neither); md I, which only marks the item stale, neither.
 * - incr/decr: hits when applied, misses when not found; a counter created
 *   from an initial value neither.
 * - touch: cmd_touch and touch_hits/touch_misses; flush_all: cmd_flush.
 * - a text or meta store the parser refused as larger than the item size
 *   limit: store_too_large (added to the handler's own).
 * - a store whose data block does not end in \r\n: cmd_set (memcached
 *   counts it before it looks at the block's end).
 *
 * With `stats detail on`, gets, sets and deletes of text and binary requests
 * (not meta ones, as memcached) are counted per key prefix too.
 */
import type { ItemView, MultiGetRequest, Request } from '@cleave/protocol';
import type { PrefixStats } from './detail.js';
import type { ServerCounters } from './stats.js';

export function countReply(c: ServerCounters, d: PrefixStats, req: Request, outcome: unknown): void {
  switch (req.cmd) {
    case 'get': {
      const hit = outcome !== undefined;
      if (req.touch !== undefined && (req.tokens !== true || hit)) {
        c.cmdTouch++;
        if (hit) c.touchHits++;
        else c.touchMisses++;
      } else {
        c.cmdGet++;
        if (hit) c.getHits++;
        else c.getMisses++;
      }
      if (d.enabled && req.protocol !== 'meta') d.recordGet(req.key, hit);
      return;
    }
    case 'me':
      c.cmdMeta++;
      return;
    case 'mget':
      countItems(c, d, req, outcome as (ItemView | undefined)[], 0);
      return;
    case 'store': {
      if (d.enabled && req.protocol !== 'meta') d.recordSet(req.key);
      if (outcome === 'TOO_LARGE' || outcome === 'OUT_OF_MEMORY') return;
      c.cmdSet++;
      if (req.compareCas !== undefined && (req.mode === 'set' || req.mode === 'replace')) {
        if (outcome === 'NOT_FOUND') c.casMisses++;
        else if (outcome === 'EXISTS') c.casBadval++;
        else if (typeof outcome === 'object') c.casHits++;
      }
      return;
    }
    case 'delete':
      if (d.enabled && req.protocol !== 'meta') d.recordDelete(req.key);
      if (outcome === 'DELETED') {
        if (req.invalidate !== true) c.deleteHits++;
      } else if (outcome === 'NOT_FOUND' || req.protocol !== 'binary') {
        c.deleteMisses++;
      }
      return;
    case 'incr':
    case 'decr': {
      const incr = req.cmd === 'incr';
      if (outcome === 'NOT_FOUND') {
        if (req.initial !== undefined) return;
        if (incr) c.incrMisses++;
        else c.decrMisses++;
      } else if (typeof outcome === 'object' && (outcome as ItemView).created !== true) {
        if (incr) c.incrHits++;
        else c.decrHits++;
      }
      return;
    }
    case 'touch':
      c.cmdTouch++;
      if (outcome === 'TOUCHED') c.touchHits++;
      else c.touchMisses++;
      return;
    case 'flush_all':
      c.cmdFlush++;
      return;
    case 'error':
      // memcached counts the set when its item was allocated, before it finds the data block's end wrong.
      if (req.error.code === 'BAD_DATA_CHUNK') c.cmdSet++;
      // A store the parser refused for its size never reached the handler (memcached's binary protocol counts none).
      else if (req.error.code === 'TOO_LARGE' && req.protocol !== 'binary') c.storeTooLarge++;
      return;
    default:
      return;
  }
}

/** A text multi-get's keys from `start`, one count per key answered in `items` (one slice, or all). */
export function countItems(c: ServerCounters, d: PrefixStats, req: MultiGetRequest, items: (ItemView | undefined)[], start: number): void {
  const touch = req.touch !== undefined;
  let hits = 0;
  for (let i = 0; i < items.length; i++) {
    const hit = items[i] !== undefined;
    if (hit) hits++;
    if (d.enabled) d.recordGet(req.keys[start + i]!, hit);
  }
  const misses = items.length - hits;
  if (touch) {
    c.cmdTouch += items.length;
    c.touchHits += hits;
    c.touchMisses += misses;
  } else {
    c.cmdGet += items.length;
    c.getHits += hits;
    c.getMisses += misses;
  }
}
