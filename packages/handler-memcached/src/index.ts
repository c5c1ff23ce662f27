export { MemcachedHandler, memcachedHandler, type MemcachedHandlerOptions, type BackendAddress } from './handler.js';
export { Errors as MemcachedErrors, backendError } from './errors.js';
