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
  isHit,
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
export { detach, worstOf } from './routes/route.js';
export { failover, FailoverRoute, type FailoverOptions, type FailoverErrors } from './routes/failover.js';
export { missFailover, MissFailoverRoute, type MissFailoverOptions } from './routes/miss-failover.js';
export {
  allSync,
  allAsync,
  allMajority,
  allFastest,
  allInitial,
  AllSyncRoute,
  AllAsyncRoute,
  AllMajorityRoute,
  AllFastestRoute,
  AllInitialRoute,
  defaultReply,
  allSyncOver,
} from './routes/all.js';
export { random, RandomRoute } from './routes/random.js';
export { latest, LatestRoute, type LatestOptions } from './routes/latest.js';
export { routingKeyStart, routingKeyEnd, routingKeyHash } from './hashkit/routing-key.js';
export { replicas, ReplicasRoute, type ReplicaRead, type ReplicasOptions } from './routes/replicas.js';
export { warmUp, WarmUpRoute, type WarmUpOptions } from './routes/warm-up.js';
export { shadow, ShadowRoute, type ShadowOptions } from './routes/shadow.js';
export { prefixSelector, operationSelector, PrefixSelectorRoute, OperationSelectorRoute } from './routes/selector.js';
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
export { Reloadable } from './routes/reloadable.js';
