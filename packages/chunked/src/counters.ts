// ChunkedHandler's counters, as `stats` adds them to the inner store's (`stats reset` zeroes them).
import type { StatsGroup } from '@cleave/protocol';

export class ChunkedCounters {
  /** Values stored as chunks. */
  storesChunked = 0;
  chunkWrites = 0;
  /** Values read from chunks. */
  fetchesChunked = 0;
  chunkReads = 0;
  /** Fetches that found a chunk gone and read the metadata again. */
  readRetries = 0;
  /** Writes that lost a metadata CAS race and tried again. */
  writeRetries = 0;
  /** Replaced or deleted chunked values whose chunks were deleted. */
  versionsRetired = 0;
  /** Writes that did not switch the metadata, whose chunks were deleted. */
  orphanCleanups = 0;
  chunkDeletes = 0;
  /** Values whose chunks were evicted or expired: answered as a miss. */
  lost = 0;
  /** Chunk writes that failed. */
  writeErrors = 0;

  reset(): void {
    this.storesChunked = this.chunkWrites = this.fetchesChunked = this.chunkReads = 0;
    this.readRetries = this.writeRetries = this.versionsRetired = this.orphanCleanups = 0;
    this.chunkDeletes = this.lost = this.writeErrors = 0;
  }

  stats(): StatsGroup {
    return {
      chunked_stores: this.storesChunked,
      chunked_chunk_writes: this.chunkWrites,
      chunked_fetches: this.fetchesChunked,
      chunked_chunk_reads: this.chunkReads,
      chunked_read_retries: this.readRetries,
      chunked_write_retries: this.writeRetries,
      chunked_versions_retired: this.versionsRetired,
      chunked_orphan_cleanups: this.orphanCleanups,
      chunked_chunk_deletes: this.chunkDeletes,
      chunked_lost: this.lost,
      chunked_write_errors: this.writeErrors,
    };
  }
}
