// @cleave/router: a pool of memcached servers as one Handler, placing keys as nutcracker (twemproxy) 0.5.0 does.
export { Placement, ringName, ketamaPoints, type PlacementOptions } from './placement.js';
export { KEY_HASHES, type KeyHash } from './hashkit/index.js';
export { HASH_NAMES, DISTRIBUTIONS, type HashName, type Distribution, type RingServer } from './types.js';
export { pool, Pool, PoolCounters, type PoolOptions, type PoolServerOptions } from './pool.js';
export { MemberCounters, isServerFailure, type PoolMember, type MemberState } from './member.js';
