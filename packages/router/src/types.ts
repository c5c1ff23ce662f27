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

/** How keys are spread over servers: nutcracker's `distribution:` values. */
export type Distribution = 'ketama' | 'modula' | 'random';

export const DISTRIBUTIONS: readonly Distribution[] = ['ketama', 'modula', 'random'];

/** A server as placement sees it. */
export interface RingServer {
  /**
   * The name hashed onto the ketama ring. nutcracker's rule: the server's
   * `name` when the config gives one, else `host` when the port is 11211,
   * else `host:port` (a unix socket: its path). See `ringName`.
   */
  readonly name: string;
  /** Relative share of the keys (nutcracker's `:weight`, default 1). */
  readonly weight: number;
}
