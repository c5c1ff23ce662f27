/**
 * Options of a run, validated with zod. The same schema checks what the CLI
 * parsed from argv and what a library caller passes to runLoad().
 */
import { z } from 'zod';
import { minKeyLength } from './keys.js';
import { MAX_VALUE_SIZE, parseSizeSpec, type SizeSpec } from './sizes.js';

export const WORKLOADS = ['blast', 'setget', 'sizes', 'fill', 'mix'] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const PROTOCOLS = ['text', 'meta', 'binary'] as const;

/** Per-workload defaults for options left out. */
const DEFAULT_VALUE_SIZE: Record<WorkloadName, string> = {
  blast: '10-1000',
  setget: '5-20000',
  sizes: '0-20000',
  fill: '100',
  mix: '100',
};
const DEFAULT_KEYS: Record<WorkloadName, number> = { blast: 10_000, setget: 10_000, sizes: 1_000, fill: 1_000_000, mix: 10_000 };
const MAX_KEYS = 50_000_000;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const positive = z.coerce.number().positive().finite();

/** Numbers may come as strings (from argv); everything else must be what it says. */
export const loadOptionsSchema = z
  .object({
    workload: z.enum(WORKLOADS),
    host: z.string().min(1).default('127.0.0.1'),
    port: int(1, 65535).default(11211),
    socket: z.string().min(1).optional(),
    protocol: z.enum(PROTOCOLS).default('text'),
    conns: int(1, 1024).default(4),
    depth: int(1, 65536).default(16),
    duration: positive.max(24 * 3600).optional(),
    requests: int(1, Number.MAX_SAFE_INTEGER).optional(),
    keys: int(1, MAX_KEYS).optional(),
    keyLength: int(3, 250).optional(),
    keyPrefix: z
      .string()
      .max(200)
      .regex(/^[\x21-\x7e]*$/, 'must be printable ASCII without spaces')
      .default('cl:'),
    valueSize: z.union([z.string(), z.number()]).optional(),
    minSize: int(0, MAX_VALUE_SIZE).optional(),
    maxSize: int(0, MAX_VALUE_SIZE).optional(),
    step: int(1, MAX_VALUE_SIZE).default(1),
    ratio: z.coerce.number().min(0).max(1).default(0.9),
    prepopulate: z.boolean().default(true),
    seed: int(0, 0xffffffff).optional(),
    verify: z.boolean().optional(),
    timeout: positive.max(3600).default(5),
    json: z.boolean().default(false),
    progress: z.boolean().default(false),
  })
  .strict();

export type LoadOptions = z.input<typeof loadOptionsSchema>;

/** Options with every default filled in and the value size parsed. */
export interface ResolvedOptions {
  workload: WorkloadName;
  host: string;
  port: number;
  socket: string | undefined;
  protocol: 'text' | 'meta' | 'binary';
  conns: number;
  depth: number;
  /** Seconds; undefined = until `requests` or the workload ends. */
  duration: number | undefined;
  requests: number | undefined;
  keys: number;
  keyLength: number;
  keyPrefix: string;
  valueSize: SizeSpec;
  valueSizeText: string;
  minSize: number;
  maxSize: number;
  step: number;
  ratio: number;
  prepopulate: boolean;
  seed: number;
  verify: boolean;
  timeout: number;
  json: boolean;
  progress: boolean;
}

export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** Validate options and fill in defaults; throws OptionsError with one line per problem. */
export function resolveOptions(input: LoadOptions): ResolvedOptions {
  const parsed = loadOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const path = i.path.length ? `--${kebab(String(i.path[0]))}` : '';
      if (i.code === 'unrecognized_keys') return `unknown option${i.keys.length > 1 ? 's' : ''}: ${i.keys.map((k) => '--' + kebab(k)).join(', ')}`;
      return path ? `${path}: ${i.message}` : i.message;
    });
    throw new OptionsError(lines.join('\n'));
  }
  const o = parsed.data;
  const w = o.workload;
  const keys = o.keys ?? DEFAULT_KEYS[w];
  const problems: string[] = [];

  const minLen = minKeyLength(o.keyPrefix, keys);
  const keyLength = o.keyLength ?? Math.max(16, minLen);
  if (keyLength < minLen) problems.push(`--key-length: ${keyLength} is too short for ${keys} keys with prefix "${o.keyPrefix}" (at least ${minLen})`);
  if (keyLength > 250) problems.push(`--key-length: keys of ${keyLength} bytes are over memcached's 250-byte limit (shorten --key-prefix)`);

  const valueSizeText = o.valueSize === undefined ? DEFAULT_VALUE_SIZE[w] : String(o.valueSize);
  let valueSize: SizeSpec = { kind: 'fixed', size: 100 };
  try {
    valueSize = parseSizeSpec(valueSizeText);
  } catch (e) {
    problems.push(`--value-size: ${(e as Error).message} (use 100, 5-20000, log:5-20000 or 100:80,4000:20)`);
  }

  let minSize = o.minSize ?? 0;
  let maxSize = o.maxSize ?? 20000;
  if (w === 'sizes' && o.valueSize !== undefined && o.minSize === undefined && o.maxSize === undefined) {
    // `sizes --value-size 0-4096` is the same as --min-size 0 --max-size 4096.
    if (valueSize.kind === 'range' || valueSize.kind === 'log') {
      minSize = valueSize.min;
      maxSize = valueSize.max;
    } else if (valueSize.kind === 'fixed') {
      maxSize = valueSize.size;
    }
  }
  if (minSize > maxSize) problems.push(`--min-size ${minSize} is above --max-size ${maxSize}`);
  if ((w === 'setget' || w === 'sizes') && keys < o.conns) {
    problems.push(`--keys: ${w} gives every connection keys of its own; ${keys} keys are fewer than ${o.conns} connections`);
  }
  if (problems.length) throw new OptionsError(problems.join('\n'));

  const duration = o.duration ?? (o.requests === undefined && w !== 'sizes' ? 5 : undefined);
  return {
    workload: w,
    host: o.host,
    port: o.port,
    socket: o.socket,
    protocol: o.protocol,
    conns: o.conns,
    depth: o.depth,
    duration,
    requests: o.requests,
    keys,
    keyLength,
    keyPrefix: o.keyPrefix,
    valueSize,
    valueSizeText,
    minSize,
    maxSize,
    step: o.step,
    ratio: o.ratio,
    prepopulate: o.prepopulate,
    seed: o.seed ?? (Math.floor(Math.random() * 0xffffffff) >>> 0),
    verify: o.verify ?? (w === 'setget' || w === 'sizes'),
    timeout: o.timeout,
    json: o.json,
    progress: o.progress,
  };
}

// ---------------------------------------------------------------------------
// argv
// ---------------------------------------------------------------------------

/** Boolean options: `--name` sets true, `--no-name` false. */
const FLAGS = new Set(['verify', 'json', 'prepopulate', 'progress']);
/** Options that take a value. */
const VALUED = new Set([
  'host',
  'port',
  'socket',
  'protocol',
  'conns',
  'depth',
  'duration',
  'requests',
  'keys',
  'keyLength',
  'keyPrefix',
  'valueSize',
  'minSize',
  'maxSize',
  'step',
  'ratio',
  'seed',
  'timeout',
]);

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

export interface ParsedArgs {
  help: boolean;
  options: LoadOptions;
}

/** Parse `cleave-load <workload> [options]`; throws OptionsError on anything it does not know. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const raw: Record<string, unknown> = {};
  const positional: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new OptionsError(`unknown option: ${arg}`);
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = camel(arg.slice(2, eq < 0 ? undefined : eq));
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (FLAGS.has(name)) {
      if (inline !== undefined) {
        if (inline !== 'true' && inline !== 'false') throw new OptionsError(`--${kebab(name)} takes no value (or =true/=false), got "${inline}"`);
        raw[name] = inline === 'true';
      } else raw[name] = true;
      continue;
    }
    if (name.startsWith('no') && FLAGS.has(name[2]!.toLowerCase() + name.slice(3)) && inline === undefined) {
      raw[name[2]!.toLowerCase() + name.slice(3)] = false;
      continue;
    }
    if (!VALUED.has(name)) throw new OptionsError(`unknown option: ${arg.slice(0, eq < 0 ? undefined : eq)}`);
    let value = inline;
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new OptionsError(`--${kebab(name)} needs a value`);
    }
    if (name in raw) throw new OptionsError(`--${kebab(name)} given twice`);
    raw[name] = value;
  }
  if (help) return { help, options: { workload: (positional[0] ?? 'blast') as WorkloadName } };
  if (positional.length === 0) throw new OptionsError(`which workload? one of: ${WORKLOADS.join(', ')}`);
  if (positional.length > 1) throw new OptionsError(`one workload at a time (got ${positional.join(', ')})`);
  const workload = positional[0]!;
  if (!(WORKLOADS as readonly string[]).includes(workload)) {
    throw new OptionsError(`unknown workload "${workload}": one of ${WORKLOADS.join(', ')}`);
  }
  return { help, options: { ...raw, workload } as LoadOptions };
}

export const HELP = `cleave-load — load and correctness tool for memcached-compatible servers

Usage: cleave-load <workload> [options]

Workloads:
  blast    random mix of every storage command (get gets gat set add replace
           append prepend cas delete incr decr touch); per-command hit/miss latency
  setget   set a key, then get it back and check it byte for byte (5 B - 20 KB)
  sizes    every value size from --min-size to --max-size in --step steps:
           set, get back, check; ends after the largest size
  fill     sets only, walking the key space: set rate (and evictions, from stats)
  mix      gets (--ratio) and sets over the key space, after setting every key once

Target:
  --host HOST            server host (127.0.0.1)
  --port PORT            server port (11211)
  --socket PATH          unix socket instead of TCP
  --protocol P           text | meta | binary (text)

Load:
  --conns N              connections (4)
  --depth N              requests in flight per connection: the pipeline depth (16)
  --duration SECONDS     run this long (5, unless --requests is given; sizes: until done)
  --requests N           stop after N requests
  --keys N               key space size (blast/setget/mix 10000, sizes 1000, fill 1000000)
  --key-length N         bytes per key (16, or longer when the key space needs it)
  --key-prefix S         key prefix (cl:)
  --value-size SPEC      100 | 5-20000 (uniform) | log:5-20000 (log-uniform)
                         | 100:80,4000:15,20000:5 (weighted)
  --min-size N, --max-size N, --step N
                         sizes: the sizes to walk (0, 20000, 1)
  --ratio F              mix: fraction of gets (0.9)
  --no-prepopulate       mix: skip setting every key first
  --seed N               random seed (printed, so a run can be repeated)

Checking and output:
  --verify / --no-verify check every reply against what memcached must answer
                         (on for setget and sizes); wrong replies are errors and
                         make the exit status 1
  --timeout SECONDS      a connection with no reply for this long is an error (5)
  --json                 print one JSON object on stdout
  --progress / --no-progress
                         live progress line (default: on when stderr is a TTY)
  -h, --help             this help

Exit status: 0 no errors, 1 errors (or the server could not be reached), 2 bad options.
`;
