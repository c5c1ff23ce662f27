export { InMemoryHandler, ITEM_UPDATE_INTERVAL, type InMemoryHandlerOptions } from './handler.js';
export {
  itemFootprint,
  bufferFootprint,
  ITEM_BASE_BYTES,
  ON_HEAP_BUFFER_BYTES,
  OFF_HEAP_BUFFER_BYTES,
  ON_HEAP_BUFFER_MAX,
} from './footprint.js';
export { absoluteExptime, REALTIME_MAXDELTA } from './exptime.js';
export { parseCounter } from './numeric.js';
