// @cleave/router: a pool of memcached servers as one Handler, placing keys as nutcracker (twemproxy) 0.5.0 does.
export { Placement, ringName, ketamaPoints, type PlacementOptions } from './placement.js';
export { KEY_HASHES, type KeyHash } from './hashkit/index.js';
export { HASH_NAMES, DISTRIBUTIONS, type HashName, type Distribution, type RingServer } from './types.js';
export { pool, Pool, PoolCounters, type PoolOptions, type PoolServerOptions } from './pool.js';
export { MemberCounters, isServerFailure, type PoolMember, type MemberState } from './member.js';
export {
  Route,
  operationOf,
  isWrite,
  failoverKind,
  settle,
  unsettle,
  severity,
  isMiss,
  isHit,
  isError,
  serves,
  MC_OPERATIONS,
  FAILOVER_KINDS,
  DEFAULT_FAILOVER_KINDS,
  type RouteOp,
  type RouteOps,
  type RouteRequest,
  type AnyRequest,
  type AnyOutcome,
  type McOperation,
  type FailoverKind,
  type Settled,
  type KeyHealth,
} from './routes/route.js';
// mcrouter's placement (furc_hash, WeightedCh3, Crc32, ConstShard) and its HashRoute.
export {
  furcHash,
  murmurHash64A,
  spookyHash32,
  FURC_MAX_POOL_SIZE,
  McrouterHash,
  MC_HASH_NAMES,
  type McrouterHashOptions,
} from './hashkit/index.js';
export { NUTCRACKER_DISTRIBUTIONS, type McHashName } from './types.js';
export { hashRoute, HashRoute, type HashRouteOptions } from './routes/hash.js';
