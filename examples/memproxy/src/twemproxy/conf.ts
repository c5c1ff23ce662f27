// nutcracker.yml read and checked as nutcracker 0.5.0 reads it (its src/nc_conf.c is the specification):
// pools of `key: value` lines with one list (servers), the same keys, defaults, value rules and quirks; every
// problem is reported naming the pool, the key and the value, where nutcracker's own log names only the key.

import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Pair } from 'yaml';
import { NUTCRACKER_DISTRIBUTIONS, HASH_NAMES, ringName, type Distribution, type HashName } from '@cleave/router';

/** Where a pool listens: `host:port`, or a unix socket path with the permissions to give it (`mode`, octal in the file). */
export type ListenAddress = { host: string; port: number } | { path: string; mode?: number };

/** Where a server is: `host:port` or a unix socket path. */
export type ServerAddress = { host: string; port: number } | { path: string };

export interface ConfServer {
  /** The line without its name: `host:port:weight` or `/path:weight` (nutcracker's pname). */
  readonly spec: string;
  readonly address: ServerAddress;
  readonly weight: number;
  /**
   * The name placement hashes and stats show: the name given after the weight; else the host when the port
   * is 11211, else `host:port` as written; a unix socket's is its path followed by a colon, as nutcracker makes it.
   */
  readonly name: string;
}

/** One pool, with nutcracker's defaults filled in. Times are in milliseconds, as nutcracker.yml gives them. */
export interface ConfPool {
  /** The pool's top-level key. */
  readonly name: string;
  /** `listen:` as written. */
  readonly listen: string;
  readonly listenAddress: ListenAddress;
  readonly hash: HashName;
  readonly hashTag?: string;
  readonly distribution: Distribution;
  /** `timeout:`; undefined when not given or 0 (nutcracker then waits for ever). */
  readonly timeoutMs?: number;
  readonly backlog: number;
  /** `client_connections:`; 0 = no limit. */
  readonly clientConnections: number;
  readonly preconnect: boolean;
  readonly tcpkeepalive: boolean;
  readonly redisDb: number;
  readonly autoEjectHosts: boolean;
  readonly serverConnections: number;
  readonly serverRetryTimeoutMs: number;
  readonly serverFailureLimit: number;
  /** In nutcracker's order: sorted by name (shorter first, then bytewise), which modula placement and stats follow. */
  readonly servers: readonly ConfServer[];
}

/** nutcracker 0.5.0's defaults (nc_conf.h). */
export const CONF_DEFAULTS = {
  hash: 'fnv1a_64',
  distribution: 'ketama',
  backlog: 512,
  clientConnections: 0,
  preconnect: false,
  tcpkeepalive: false,
  redisDb: 0,
  autoEjectHosts: false,
  serverConnections: 1,
  serverRetryTimeoutMs: 30_000,
  serverFailureLimit: 2,
} as const;

/** What is wrong with a configuration: one line per problem. */
export class ConfError extends Error {
  override readonly name = 'ConfError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(problems.join('\n'));
  }
}

/** The keys nutcracker 0.5.0 accepts in a pool, in the order its documentation lists them. */
export const POOL_KEYS = [
  'listen',
  'hash',
  'hash_tag',
  'distribution',
  'timeout',
  'backlog',
  'client_connections',
  'redis',
  'tcpkeepalive',
  'redis_auth',
  'redis_db',
  'preconnect',
  'auto_eject_hosts',
  'server_connections',
  'server_retry_timeout',
  'server_failure_limit',
  'servers',
] as const;
type PoolKey = (typeof POOL_KEYS)[number];

/** A pool while its keys are read; `set` holds the keys seen (each may be given once, servers once per line). */
interface Draft {
  name: string;
  set: Set<PoolKey>;
  listen?: string;
  listenAddress?: ListenAddress;
  hash?: HashName;
  hashTag?: string;
  distribution?: Distribution;
  timeout?: number;
  backlog?: number;
  clientConnections?: number;
  redis?: boolean;
  tcpkeepalive?: boolean;
  redisAuth?: string;
  redisDb?: number;
  preconnect?: boolean;
  autoEjectHosts?: boolean;
  serverConnections?: number;
  serverRetryTimeout?: number;
  serverFailureLimit?: number;
  servers: ConfServer[];
  /** Every key written in the pool, refused or not: a refused key is not also reported missing. */
  given: Set<string>;
}

const INT_MAX = 2147483647;

/** nutcracker's nc_atoi: decimal digits only, no sign; -1 when it is not that. Past INT_MAX (where C wraps) it is refused too. */
function atoi(text: string): number {
  if (!/^[0-9]+$/.test(text)) return -1;
  const n = Number(text);
  return n <= INT_MAX ? n : -1;
}

/** strtol(text, NULL, 8) as nutcracker reads a socket's permissions: leading space, a sign, octal digits, the rest ignored. */
function octal(text: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)([0-7]*)/.exec(text)!;
  const n = m[2] === '' ? 0 : parseInt(m[2]!, 8);
  // A negative mode_t wraps to a huge one, which nutcracker refuses like any mode over 0777.
  return m[1] === '-' && n !== 0 ? -1 : n;
}

/** nutcracker's string order (string_compare): shorter first, then bytewise. */
function nameOrder(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length !== y.length ? x.length - y.length : Buffer.compare(x, y);
}

const SERVER_FORMAT = 'is not "hostname:port:weight [name]" or "/path/unix_socket:weight [name]"';

/** A `servers:` line, split from the end as nutcracker does: ` name`, then `:weight`, then (TCP) `:port`. */
function parseServer(line: string): ConfServer | string {
  let rest = line;
  let given: string | undefined;
  const space = rest.lastIndexOf(' ');
  if (space >= 0) {
    given = rest.slice(space + 1);
    rest = rest.slice(0, space);
    if (given === '') return 'has an empty name after the weight';
  }
  const spec = rest;
  const weightColon = rest.lastIndexOf(':');
  if (weightColon < 0) return SERVER_FORMAT;
  const weightText = rest.slice(weightColon + 1);
  rest = rest.slice(0, weightColon);
  const unix = line.startsWith('/');
  let portText = '';
  if (unix) {
    // nutcracker takes one more colon as a port, which a socket line may not have.
    if (rest.includes(':')) return `${SERVER_FORMAT} (a unix socket path may not contain ':')`;
  } else {
    const portColon = rest.lastIndexOf(':');
    if (portColon < 0) return SERVER_FORMAT;
    portText = rest.slice(portColon + 1);
    rest = rest.slice(0, portColon);
  }
  const weight = atoi(weightText);
  if (weight < 0) return `has an invalid weight '${weightText}' (a whole number from 1)`;
  if (weight === 0) return 'has a zero weight (a whole number from 1)';
  if (unix) return { spec, address: { path: rest }, weight, name: ringName(rest, undefined, given) };
  const port = atoi(portText);
  if (port < 1 || port > 65535) return `has an invalid port '${portText}' (1-65535)`;
  if (rest === '') return 'has no hostname before the port';
  // The port as written: nutcracker copies the name from the line.
  return { spec, address: { host: rest, port }, weight, name: ringName(rest, portText, given) };
}

/** `listen:`: `hostname:port` (split at the last colon), or `/socket/path [permissions]` (split at the last space). */
function parseListen(text: string): ListenAddress | string {
  if (text.startsWith('/')) {
    const space = text.lastIndexOf(' ');
    if (space < 0) return { path: text };
    const mode = octal(text.slice(space + 1));
    if (mode < 0 || mode > 0o777) return `has an invalid file permission '${text.slice(space + 1)}' (octal, at most 0777)`;
    const path = text.slice(0, space);
    // Permissions that read as 0 leave the socket as created, as nutcracker does.
    return mode === 0 ? { path } : { path, mode };
  }
  const colon = text.lastIndexOf(':');
  if (colon < 0) return 'is not "hostname:port" or "/path/unix_socket [permissions]"';
  const port = atoi(text.slice(colon + 1));
  if (port < 1 || port > 65535) return `has an invalid port '${text.slice(colon + 1)}' (1-65535)`;
  const host = text.slice(0, colon);
  if (host === '') return 'has no hostname before the port';
  return { host, port };
}

/** Read one `key: value` into the pool; a problem comes back as text (the caller names pool, key and value). */
function setKey(p: Draft, key: PoolKey, value: string): string | undefined {
  if (key === 'servers') {
    const s = parseServer(value);
    if (typeof s === 'string') return s;
    p.servers.push(s);
    return undefined;
  }
  if (p.set.has(key)) return `is a duplicate (${key}: is given more than once)`;
  p.set.add(key);
  const num = (): number | string => {
    const n = atoi(value);
    return n < 0 ? `is not a number (a whole number from 0 to ${INT_MAX})` : n;
  };
  const bool = (): boolean | string => (value === 'true' ? true : value === 'false' ? false : 'is not "true" or "false"');
  let v: number | boolean | string;
  switch (key) {
    case 'listen': {
      const a = parseListen(value);
      if (typeof a === 'string') return a;
      p.listen = value;
      p.listenAddress = a;
      return undefined;
    }
    case 'hash':
      if (!(HASH_NAMES as readonly string[]).includes(value)) return `is not a valid hash (one of ${HASH_NAMES.join(', ')})`;
      p.hash = value as HashName;
      return undefined;
    case 'distribution':
      if (!(NUTCRACKER_DISTRIBUTIONS as readonly string[]).includes(value)) {
        return `is not a valid distribution (one of ${NUTCRACKER_DISTRIBUTIONS.join(', ')})`;
      }
      p.distribution = value as Distribution;
      return undefined;
    case 'hash_tag':
      // Two bytes, as nutcracker counts them: the opening and the closing character.
      if (Buffer.byteLength(value) !== 2) return 'is not a valid hash tag: two characters, e.g. "{}"';
      p.hashTag = value;
      return undefined;
    case 'redis_auth':
      p.redisAuth = value;
      return undefined;
    case 'timeout':
    case 'backlog':
    case 'client_connections':
    case 'redis_db':
    case 'server_connections':
    case 'server_retry_timeout':
    case 'server_failure_limit':
      v = num();
      if (typeof v === 'string') return v;
      if (key === 'timeout') p.timeout = v;
      else if (key === 'backlog') p.backlog = v;
      else if (key === 'client_connections') p.clientConnections = v;
      else if (key === 'redis_db') p.redisDb = v;
      else if (key === 'server_connections') p.serverConnections = v;
      else if (key === 'server_retry_timeout') p.serverRetryTimeout = v;
      else p.serverFailureLimit = v;
      return undefined;
    case 'redis':
    case 'tcpkeepalive':
    case 'preconnect':
    case 'auto_eject_hosts':
      v = bool();
      if (typeof v === 'string') return v;
      if (key === 'redis') p.redis = v;
      else if (key === 'tcpkeepalive') p.tcpkeepalive = v;
      else if (key === 'preconnect') p.preconnect = v;
      else p.autoEjectHosts = v;
      return undefined;
  }
}

/** `'value'` for messages; a value with control characters (a newline from a block scalar) as JSON. */
const quote = (s: string) => (/[\x00-\x1f]/.test(s) ? JSON.stringify(s) : `'${s}'`);

/**
 * Read nutcracker.yml text into pools (sorted by name, as nutcracker orders them), or throw ConfError listing
 * every problem found. `file` names the file in messages. Listen hostnames are not resolved here: see `checkListenHosts`.
 */
export function parseConf(text: string, file: string): ConfPool[] {
  const problems: string[] = [];
  const lines = new LineCounter();
  const at = (offset: number | undefined) => {
    if (offset === undefined) return '';
    const { line, col } = lines.linePos(offset);
    return `line ${line}, column ${col}: `;
  };
  const docs = parseAllDocuments(text, { schema: 'failsafe', uniqueKeys: false, prettyErrors: false, lineCounter: lines });
  if (docs.length !== 1) {
    throw new ConfError(file, [`'${file}' must hold one YAML document (pools, each with its keys); found ${docs.length}`]);
  }
  const doc = docs[0]!;
  for (const e of doc.errors) problems.push(`${at(e.pos[0])}${e.message.split('\n')[0]}`);
  if (problems.length > 0) throw new ConfError(file, problems);
  // nutcracker refuses every token beyond plain block mappings and lists (nc_conf.c, conf_validate_tokens).
  if (doc.directives.docStart === true || doc.directives.docEnd || doc.directives.yaml.explicit) {
    problems.push(`'${file}': document markers (---, ...) and directives (%YAML) are not allowed in nutcracker.yml`);
  }
  if (Object.keys(doc.directives.tags).some((t) => t !== '!!'))
    problems.push(`'${file}': %TAG directives are not allowed in nutcracker.yml`);
  /** Anchors, aliases, tags and flow collections ([...], {...}): refused like nutcracker does. */
  const plain = (node: unknown, where: string): boolean => {
    if (isAlias(node)) {
      problems.push(`${where}: aliases (*name) are not allowed in nutcracker.yml`);
      return false;
    }
    if (isScalar(node) || isMap(node) || isSeq(node)) {
      const bad = [
        node.anchor !== undefined && 'anchors (&name)',
        node.tag !== undefined && 'tags (!tag)',
        (isMap(node) || isSeq(node)) && node.flow === true && 'flow collections ([...], {...})',
      ].filter(Boolean);
      if (bad.length > 0) {
        problems.push(`${where}: ${bad.join(' and ')} are not allowed in nutcracker.yml`);
        return false;
      }
    }
    return true;
  };
  const root = doc.contents;
  if (!isMap(root)) {
    problems.push(`'${file}': the top level must be pool names, each followed by its indented keys`);
    throw new ConfError(file, problems);
  }
  if (!plain(root, `'${file}'`)) throw new ConfError(file, problems);
  const scalarText = (node: unknown): string | undefined => (isScalar(node) ? String(node.value ?? '') : node == null ? '' : undefined);

  const drafts: Draft[] = [];
  for (const poolPair of root.items as Pair[]) {
    const poolName = scalarText(poolPair.key);
    if (poolName === undefined || !plain(poolPair.key, `${at(keyOffset(poolPair))}a pool name`)) {
      if (poolName === undefined) problems.push(`${at(keyOffset(poolPair))}a pool name must be plain text`);
      continue;
    }
    if (poolName === '') {
      problems.push(`${at(keyOffset(poolPair))}a pool has an empty name`);
      continue;
    }
    const pool = `pool ${quote(poolName)}`;
    const body = poolPair.value;
    if (!isMap(body)) {
      problems.push(`${pool}: must be followed by its keys (listen:, servers:, ...), indented, one per line`);
      continue;
    }
    if (!plain(body, pool)) continue;
    const draft: Draft = { name: poolName, set: new Set(), servers: [], given: new Set() };
    drafts.push(draft);
    const lists: string[] = [];
    for (const pair of body.items as Pair[]) {
      const key = scalarText(pair.key);
      if (key === undefined || key === '' || !plain(pair.key, `${pool}: a key`)) {
        if (key === undefined || key === '') problems.push(`${pool}: ${at(keyOffset(pair))}a key must be a plain, non-empty word`);
        continue;
      }
      const where = `${pool}: ${key}`;
      draft.given.add(key);
      if (!plain(pair.value, where)) {
        if (isSeq(pair.value)) lists.push(key);
        continue;
      }
      let values: string[];
      if (isSeq(pair.value)) {
        // nutcracker reads a list under any key as that key given once per item; only one list per pool.
        lists.push(key);
        values = [];
        for (const item of pair.value.items) {
          const t = scalarText(item);
          if (t === undefined || !plain(item, where)) {
            if (t === undefined) problems.push(`${where}: a list item must be one value, not a nested list or mapping`);
            continue;
          }
          if (t === '') problems.push(`${where}: a list item is empty`);
          else values.push(t);
        }
      } else if (isMap(pair.value)) {
        problems.push(`${where}: is nested too deep (nutcracker.yml has two levels: pools, and each pool's keys)`);
        continue;
      } else {
        const t = scalarText(pair.value)!;
        if (t === '') {
          problems.push(`${where}: has no value`);
          continue;
        }
        values = [t];
      }
      if (!(POOL_KEYS as readonly string[]).includes(key)) {
        problems.push(
          `${where}: is unknown (value ${values.map(quote).join(', ')}); nutcracker 0.5.0's pool keys are ${POOL_KEYS.join(', ')}`,
        );
        continue;
      }
      for (const v of values) {
        const problem = setKey(draft, key as PoolKey, v);
        if (problem !== undefined) problems.push(`${where}: ${quote(v)} ${problem}`);
      }
    }
    if (!draft.given.has('servers')) {
      problems.push(`${pool}: servers: is missing: give one '- host:port:weight [name]' or '- /path:weight [name]' line per server`);
    } else if (lists.length === 0) {
      problems.push(`${pool}: servers: must be a list, one '- host:port:weight [name]' or '- /path:weight [name]' line per server`);
    }
    if (lists.length > 1) problems.push(`${pool}: only one key may hold a list (servers:); lists are given under ${lists.join(', ')}`);
  }

  const pools: ConfPool[] = [];
  for (const d of drafts) {
    const pool = `pool ${quote(d.name)}`;
    const before = problems.length;
    if (d.redis === true) {
      problems.push(`${pool}: redis: 'true' is refused: cleave-twemproxy serves memcached pools only (remove redis: or set it to false)`);
    }
    if (!d.given.has('listen')) problems.push(`${pool}: listen: is missing`);
    if (d.serverConnections === 0) problems.push(`${pool}: server_connections: '0' cannot be 0`);
    if (d.redis !== true && d.redisAuth !== undefined) problems.push(`${pool}: redis_auth: is only valid for a redis pool`);
    const names = new Map<string, ConfServer>();
    for (const s of d.servers) {
      const other = names.get(s.name);
      if (other !== undefined) {
        problems.push(
          `${pool}: servers: ${quote(other.spec)} and ${quote(s.spec)} have the same name ${quote(s.name)} ` +
            `(the name after the weight, else the host, with :port unless it is 11211)`,
        );
      }
      names.set(s.name, s);
    }
    if (problems.length > before || d.listenAddress === undefined) continue;
    pools.push({
      name: d.name,
      listen: d.listen!,
      listenAddress: d.listenAddress,
      hash: d.hash ?? CONF_DEFAULTS.hash,
      ...(d.hashTag !== undefined && { hashTag: d.hashTag }),
      distribution: d.distribution ?? CONF_DEFAULTS.distribution,
      ...(d.timeout !== undefined && d.timeout > 0 && { timeoutMs: d.timeout }),
      backlog: d.backlog ?? CONF_DEFAULTS.backlog,
      clientConnections: d.clientConnections ?? CONF_DEFAULTS.clientConnections,
      preconnect: d.preconnect ?? CONF_DEFAULTS.preconnect,
      tcpkeepalive: d.tcpkeepalive ?? CONF_DEFAULTS.tcpkeepalive,
      redisDb: d.redisDb ?? CONF_DEFAULTS.redisDb,
      autoEjectHosts: d.autoEjectHosts ?? CONF_DEFAULTS.autoEjectHosts,
      serverConnections: d.serverConnections ?? CONF_DEFAULTS.serverConnections,
      serverRetryTimeoutMs: d.serverRetryTimeout ?? CONF_DEFAULTS.serverRetryTimeoutMs,
      serverFailureLimit: d.serverFailureLimit ?? CONF_DEFAULTS.serverFailureLimit,
      servers: [...d.servers].sort((a, b) => nameOrder(a.name, b.name)),
    });
  }
  // Across pools: one listen address each (compared as written) and one name each.
  const byListen = new Map<string, string>();
  const seen = new Set<string>();
  for (const d of drafts) {
    if (d.listen !== undefined) {
      const other = byListen.get(d.listen);
      if (other !== undefined) problems.push(`pools ${quote(other)} and ${quote(d.name)}: listen: both listen on ${quote(d.listen)}`);
      else byListen.set(d.listen, d.name);
    }
    if (seen.has(d.name)) problems.push(`pool ${quote(d.name)}: is defined more than once`);
    seen.add(d.name);
  }
  if (drafts.length === 0 && problems.length === 0) problems.push(`'${file}' holds no pools`);
  if (problems.length > 0) throw new ConfError(file, problems);
  return pools.sort((a, b) => nameOrder(a.name, b.name));
}

function keyOffset(pair: Pair): number | undefined {
  const k = pair.key as { range?: [number, number, number] } | null;
  return k?.range?.[0];
}

/** Read and check the file (`parseConf`); a file that cannot be read is a ConfError like nutcracker's "failed to open". */
export function readConf(file: string): ConfPool[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfError(file, [`failed to open configuration '${file}': ${(e as Error).message}`]);
  }
  return parseConf(text, file);
}

/**
 * Resolve every TCP listen hostname, as nutcracker does while reading the file (servers it resolves only when
 * it connects); a name that does not resolve is a problem naming pool, key and value.
 */
export async function checkListenHosts(pools: readonly ConfPool[]): Promise<string[]> {
  const problems = await Promise.all(
    pools.map(async (p) => {
      if (!('host' in p.listenAddress)) return undefined;
      try {
        await lookup(p.listenAddress.host);
        return undefined;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
        return `pool ${quote(p.name)}: listen: ${quote(p.listen)}: host ${quote(p.listenAddress.host)} does not resolve (${code})`;
      }
    }),
  );
  return problems.filter((p): p is string => p !== undefined);
}

/** `readConf` then `checkListenHosts`: the whole check `-t` makes. */
export async function loadConf(file: string): Promise<ConfPool[]> {
  const pools = readConf(file);
  const problems = await checkListenHosts(pools);
  if (problems.length > 0) throw new ConfError(file, problems);
  return pools;
}
