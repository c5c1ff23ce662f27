// ChunkedHandler's options, checked once, and the sizes that follow from them: how many value bytes a key's chunk
// item takes, and what `stats settings` reports.
import { ITEM_HEADER_BYTES, SLAB_CHUNK_MAX, itemTooLarge, type StatsGroup } from '@cleave/protocol';
import { CHUNK_KEY_SUFFIX_BYTES, HASHED_BASE_BYTES, MAX_CHUNKS, hashesKey } from './header.js';

export interface ChunkedHandlerOptions {
  /**
   * Value bytes per chunk item. Default: computed per key so that a full chunk
   * item occupies exactly `chunkItemSize` bytes in memcached.
   */
  chunkSize?: number;
  /**
   * memcached's size of a full chunk item (48-byte item header + key + NUL +
   * value + CRLF + 8-byte CAS). Default 524288: memcached 1.6's largest slab
   * class (slab_chunk_max), the biggest item it stores without splitting it
   * itself, two to a 1 MiB page with no waste.
   */
  chunkItemSize?: number;
  /**
   * Largest item accepted, counted as memcached counts `-I` (59 + key + value,
   * +4 with non-zero flags). Default 16 MiB.
   */
  maxItemSize?: number;
  /** Longest key the inner store takes (memcached: 250). */
  maxKeyLength?: number;
  /** Metadata re-reads a fetch makes when concurrent writes keep replacing the value it reads (default 16). */
  maxReadRetries?: number;
  /** Metadata CAS conflicts a write retries before giving up with an error (default 64). */
  maxWriteRetries?: number;
  /**
   * Read the key before storing a small value so that the chunks of a large
   * value it replaces are deleted at once (default true). With false, small
   * set/replace/cas go straight to the inner store in one round trip and such
   * chunks are left to expire or be evicted.
   */
  trackReplacedChunks?: boolean;
}

/** memcached 1.6's slab_chunk_max with the default `-I 1m`: its largest slab class. */
export const DEFAULT_CHUNK_ITEM_SIZE = SLAB_CHUNK_MAX;
export const DEFAULT_MAX_ITEM_SIZE = 16 * 1024 * 1024;

function positiveInteger(name: string, v: number | undefined, dflt: number, min = 1): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    throw new RangeError(`ChunkedHandler: ${name} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/** The options in force, with defaults filled in; the constructor throws a RangeError for options that cannot work. */
export class ChunkedSettings {
  readonly maxItemSize: number;
  readonly maxKeyLength: number;
  readonly chunkItemSize: number;
  readonly fixedChunkSize: number | undefined;
  readonly maxReadRetries: number;
  readonly maxWriteRetries: number;
  readonly trackReplaced: boolean;

  constructor(options: ChunkedHandlerOptions) {
    this.maxItemSize = positiveInteger('maxItemSize', options.maxItemSize, DEFAULT_MAX_ITEM_SIZE);
    if (this.maxItemSize > 0xffffffff) throw new RangeError('ChunkedHandler: maxItemSize must fit 32 bits');
    this.maxKeyLength = positiveInteger('maxKeyLength', options.maxKeyLength, 250, HASHED_BASE_BYTES + CHUNK_KEY_SUFFIX_BYTES);
    this.chunkItemSize = positiveInteger('chunkItemSize', options.chunkItemSize, DEFAULT_CHUNK_ITEM_SIZE);
    this.fixedChunkSize = options.chunkSize === undefined ? undefined : positiveInteger('chunkSize', options.chunkSize, 0);
    this.maxReadRetries = positiveInteger('maxReadRetries', options.maxReadRetries, 16, 0);
    this.maxWriteRetries = positiveInteger('maxWriteRetries', options.maxWriteRetries, 64, 0);
    this.trackReplaced = options.trackReplacedChunks ?? true;
    // The smallest chunk any key gets bounds the chunk count (4 hex digits of index).
    const smallest = this.fixedChunkSize ?? this.chunkItemSize - ITEM_HEADER_BYTES - this.maxKeyLength;
    if (smallest < 1) {
      throw new RangeError(
        `ChunkedHandler: chunkItemSize ${this.chunkItemSize} leaves no room for a value after a ${this.maxKeyLength}-byte key`,
      );
    }
    if (Math.ceil(this.maxItemSize / smallest) > MAX_CHUNKS) {
      throw new RangeError(
        `ChunkedHandler: maxItemSize ${this.maxItemSize} would need more than ${MAX_CHUNKS} chunks of ${smallest} bytes`,
      );
    }
  }

  /**
   * Value bytes per chunk for a key: the fixed `chunkSize`, or what fills a
   * `chunkItemSize` memcached item once the chunk key and item overhead are
   * counted (chunk items carry flags 0, so no 4-byte flags field).
   */
  chunkSizeFor(keyLength: number): number {
    if (this.fixedChunkSize !== undefined) return this.fixedChunkSize;
    const base = hashesKey(keyLength, this.maxKeyLength) ? HASHED_BASE_BYTES : keyLength;
    return this.chunkItemSize - ITEM_HEADER_BYTES - base - CHUNK_KEY_SUFFIX_BYTES;
  }

  /** An item of this size is over `maxItemSize`, counted as memcached counts `-I`. */
  tooLarge(keyLength: number, flags: number, valueLength: number): boolean {
    return itemTooLarge(keyLength, flags, valueLength, this.maxItemSize);
  }

  /**
   * What `stats settings` adds to the inner store's settings. `item_size_max`
   * is this handler's limit, not the inner store's: the largest item a client
   * of the composed handler can store.
   */
  stats(): StatsGroup {
    return {
      item_size_max: this.maxItemSize,
      chunked_item_size_max: this.maxItemSize,
      chunked_chunk_item_size: this.chunkItemSize,
      chunked_chunk_size: this.fixedChunkSize ?? 'auto',
      chunked_track_replaced: this.trackReplaced ? 'yes' : 'no',
    };
  }
}
