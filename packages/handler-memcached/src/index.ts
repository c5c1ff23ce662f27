export { MemcachedHandler, memcachedHandler, type MemcachedHandlerOptions, type BackendAddress } from './handler.js';
