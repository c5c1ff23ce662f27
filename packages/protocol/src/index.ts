export * from './model.js';
export * from './errors.js';
export * from './handler.js';
export * from './codec.js';
export { SlabWriter, ResponseWriter } from './writer.js';
export { bufferView, Viewer } from './bytes.js';
export { base64Length, putBase64, decodeBase64Key } from './base64.js';
export { BinaryParser } from './binary/parser.js';
export { binaryEncoder } from './binary/encoder.js';
export { encodeBinaryRequest } from './binary/request-encoder.js';
export {
  BinaryOpcode,
  BinaryHeader,
  BinaryExtras,
  BinaryExtrasField,
  BinaryErrorText,
  BINARY_REQUEST_MAGIC,
  BINARY_RESPONSE_MAGIC,
  BINARY_HEADER_LENGTH,
  NO_CREATE_EXPIRATION,
  isQuietOpcode,
  returnsKey,
} from './binary/constants.js';
export { TextParser, type TextParserOptions } from './text/parser.js';
export { encodeTextRequest, encodeMetaRequest } from './text/request-encoder.js';
export {
  MetaFlagOrder,
  MetaKeyForm,
  META_KEY_MAX_LENGTH,
  metaKeyForm,
  writeMetaGet,
  writeMetaTouch,
  writeMetaStore,
  writeMetaDelete,
  writeMetaArithmetic,
  writeMetaDebug,
  writeMetaNoop,
  type MetaOpaque,
} from './meta/request-encoder.js';
export { textEncoder } from './text/encoder.js';
export { metaEncoder, createMetaEncoder, type MetaEncoderOptions } from './meta/encoder.js';
export {
  TextResponseParser,
  type TextResponseParserOptions,
  type TextReply,
  type ValueReply,
  type EndReply,
  type StatusReply,
  type NumberReply,
  type VersionReply,
  type StatReply,
  type ErrorReply,
  type MetaReply,
  type MetaDebugReply,
  type LineReply,
  type TextStatus,
  type MetaCode,
} from './text/response-parser.js';
export {
  ITEM_HEADER_BYTES,
  ITEM_FLAGS_BYTES,
  SLAB_CHUNK_MAX,
  memcachedItemSize,
  itemTooLarge,
  slabClassFor,
} from './item-size.js';
export { absoluteExptime, remainingExptime, isExpired, EXPIRED_EXPTIME, REALTIME_MAXDELTA } from './exptime.js';
export { Item, withReplyFacts } from './item.js';
export { StoreCounters, storeStats } from './store-stats.js';
export { ItemState, keyBits, winsToken, vivifiedBits, invalidatedState, storesStale, staleStoreBits } from './item-state.js';
export { parseCounter, applyDelta, writeLatin1 } from './counter.js';
export { FlushRule } from './flush.js';
