// The names a pool is configured with, as nutcracker (twemproxy 0.5.0) spells them in nutcracker.yml.

/** Key hashes: nutcracker's `hash:` values. */
export type HashName =
  | 'one_at_a_time'
  | 'md5'
  | 'crc16'
  | 'crc32'
  | 'crc32a'
  | 'fnv1_64'
  | 'fnv1a_64'
  | 'fnv1_32'
  | 'fnv1a_32'
  | 'hsieh'
  | 'murmur'
  | 'jenkins';

export const HASH_NAMES: readonly HashName[] = [
  'one_at_a_time',
  'md5',
  'crc16',
  'crc32',
  'crc32a',
  'fnv1_64',
  'fnv1a_64',
  'fnv1_32',
  'fnv1a_32',
  'hsieh',
  'murmur',
  'jenkins',
];

/**
 * How keys are spread over servers: nutcracker's `distribution:` values, and mcrouter's placement (`ch3`:
 * furc_hash over the servers in the config's order; `weighted_ch3`: the same with a weight in [0, 1] a server).
 */
export type Distribution = 'ketama' | 'modula' | 'random' | 'ch3' | 'weighted_ch3';

export const DISTRIBUTIONS: readonly Distribution[] = ['ketama', 'modula', 'random', 'ch3', 'weighted_ch3'];

/** The distributions nutcracker.yml knows. */
export const NUTCRACKER_DISTRIBUTIONS: readonly Distribution[] = ['ketama', 'modula', 'random'];

/** mcrouter's hash functions, as its HashRoute's `hash_func` names them. */
export type McHashName = 'Ch3' | 'WeightedCh3' | 'Crc32' | 'ConstShard';

/** A server as placement sees it. */
export interface RingServer {
  /**
   * The name hashed onto the ketama ring. nutcracker's rule: the server's
   * `name` when the config gives one, else `host` when the port is 11211,
   * else `host:port` (a unix socket: its path). See `ringName`.
   */
  readonly name: string;
  /** Relative share of the keys (nutcracker's `:weight`, default 1); for `weighted_ch3`, mcrouter's weight in [0, 1]. */
  readonly weight: number;
}
