export { isPromise, andThen, attempt, call, all } from './maybe.js';
export { KeyLanes } from './key-lanes.js';
export { parseAddress, formatAddress, ADDRESS_FORMS, type Address, type HostPort, type SocketPath } from './address.js';
export { fnv1a32 } from './fnv1a.js';
export { editDistance, nearest } from './suggest.js';
export type { Logger } from './logger.js';
export { KeyLocks, sharedKeyLocks, type SharedKeyLocks } from './key-locks.js';
