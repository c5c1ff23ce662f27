export { LmdbHandler } from './handler.js';
export { minimumMaxBytes, type LmdbHandlerOptions } from './options.js';
