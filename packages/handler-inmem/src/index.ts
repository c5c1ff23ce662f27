export { InMemoryHandler, ITEM_UPDATE_INTERVAL, MAX_CHUNK, MAX_PAGE_SIZE, type InMemoryHandlerOptions } from './handler.js';
export { META_BYTES, BUCKET_BYTES, LARGE_ITEM_OVERHEAD, largeFootprint } from './footprint.js';
export { absoluteExptime, REALTIME_MAXDELTA } from './exptime.js';
export { parseCounter } from './numeric.js';
