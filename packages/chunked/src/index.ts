export { ChunkedHandler, chunked } from './handler.js';
export { type ChunkedHandlerOptions, DEFAULT_CHUNK_ITEM_SIZE, DEFAULT_MAX_ITEM_SIZE } from './options.js';
export {
  type ChunkedHeader,
  CHUNKED_HEADER_BYTES,
  CHUNK_KEY_SUFFIX_BYTES,
  parseChunkedHeader,
  chunkKeysOf,
  chunkExptime,
} from './header.js';
export type { ChunkedErrorCode } from './errors.js';
