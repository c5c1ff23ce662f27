// @cleave/handler-inmem: the in-memory Handler, its options, the store shared by threads, and the size and counter rules it exports for tests and tools.
export { InMemoryHandler } from './handler.js';
export { sharedStore, type SharedStore } from './shared.js';
export { MAX_CHUNK, MAX_PAGE_SIZE, type InMemoryHandlerOptions } from './options.js';
export { ITEM_UPDATE_INTERVAL } from './lru.js';
export { META_BYTES, BUCKET_BYTES, LARGE_ITEM_OVERHEAD, largeFootprint } from './footprint.js';
export { absoluteExptime, REALTIME_MAXDELTA } from './exptime.js';
export { parseCounter } from '@cleave/protocol';
