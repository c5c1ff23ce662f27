/**
 * Options of a run, validated with zod. The same schema checks what the CLI
 * parsed from argv and what a library caller passes to runLoad().
 */
import { z } from 'zod';
import { minKeyLength } from './keys.js';
import { nearest } from '@cleave/core';
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
const VALUE_SIZE_ALLOWED = 'a size (100), a range (5-20000), a log-uniform range (log:5-20000) or weighted sizes (100:80,4000:20)';

/** argv gives numbers as strings: one that reads as a number becomes that number (`-1` included); anything else fails as not a number. */
const numeric = (v: unknown) => (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v)) ? Number(v) : v);

const whole = (min: number, max: number) => ({
  allowed: `a whole number from ${min} to ${max}`,
  schema: z.preprocess(numeric, z.number().int().min(min).max(max)),
});
const seconds = (max: number) => ({
  allowed: `a number of seconds above 0, at most ${max}`,
  schema: z.preprocess(numeric, z.number().positive().max(max)),
});
const flag = { allowed: 'true or false', schema: z.boolean() };

/** Each option's check, and what it allows in words: the end of every message about it. */
const RULES = {
  workload: { allowed: `one of ${listed(WORKLOADS, 'or')}`, schema: z.enum(WORKLOADS) },
  host: { allowed: 'a host name or IP address', schema: z.string().min(1) },
  port: whole(1, 65535),
  socket: { allowed: 'the path of a unix socket', schema: z.string().min(1) },
  protocol: { allowed: 'text, meta or binary', schema: z.enum(PROTOCOLS) },
  conns: whole(1, 1024),
  depth: whole(1, 65536),
  duration: seconds(24 * 3600),
  requests: { allowed: 'a whole number, 1 or more', schema: z.preprocess(numeric, z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)) },
  keys: whole(1, MAX_KEYS),
  keyLength: whole(3, 250),
  keyPrefix: {
    allowed: 'printable ASCII without spaces, at most 200 bytes',
    schema: z
      .string()
      .max(200)
      .regex(/^[\x21-\x7e]*$/),
  },
  valueSize: { allowed: VALUE_SIZE_ALLOWED, schema: z.union([z.string(), z.number()]) },
  minSize: whole(0, MAX_VALUE_SIZE),
  maxSize: whole(0, MAX_VALUE_SIZE),
  step: whole(1, MAX_VALUE_SIZE),
  ratio: { allowed: 'a number from 0 to 1 (the share of gets)', schema: z.preprocess(numeric, z.number().min(0).max(1)) },
  prepopulate: flag,
  seed: whole(0, 0xffffffff),
  verify: flag,
  timeout: seconds(3600),
  json: flag,
  progress: flag,
} as const;

/** Numbers may come as strings (from argv); everything else must be what it says. */
export const loadOptionsSchema = z
  .object({
    workload: RULES.workload.schema,
    host: RULES.host.schema.default('127.0.0.1'),
    port: RULES.port.schema.default(11211),
    socket: RULES.socket.schema.optional(),
    protocol: RULES.protocol.schema.default('text'),
    conns: RULES.conns.schema.default(4),
    depth: RULES.depth.schema.default(16),
    duration: RULES.duration.schema.optional(),
    requests: RULES.requests.schema.optional(),
    keys: RULES.keys.schema.optional(),
    keyLength: RULES.keyLength.schema.optional(),
    keyPrefix: RULES.keyPrefix.schema.default('cl:'),
    valueSize: RULES.valueSize.schema.optional(),
    minSize: RULES.minSize.schema.optional(),
    maxSize: RULES.maxSize.schema.optional(),
    step: RULES.step.schema.default(1),
    ratio: RULES.ratio.schema.default(0.9),
    prepopulate: RULES.prepopulate.schema.default(true),
    seed: RULES.seed.schema.optional(),
    verify: RULES.verify.schema.optional(),
    timeout: RULES.timeout.schema.default(5),
    json: RULES.json.schema.default(false),
    progress: RULES.progress.schema.default(false),
  })
  .strict();

type OptionName = keyof typeof RULES;
const OPTION_NAMES = Object.keys(RULES) as OptionName[];

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

/** A bad option or argument; the message names it and says what is allowed, one line per problem. */
export class OptionsError extends Error {
  constructor(
    message: string,
    /** The command line lacked or misnamed the workload: show the usage with the message. */
    readonly showUsage = false,
  ) {
    super(message);
    this.name = 'OptionsError';
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** A given value as a message shows it: numbers bare (so `-1` reads as the number it was taken for), text quoted. */
function shown(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return typeof numeric(v) === 'number' ? v.trim() : JSON.stringify(v);
  return v === undefined ? 'nothing' : (JSON.stringify(v) ?? String(v));
}

/** ` (did you mean X?)` when `word` looks like a mistyped candidate. */
function didYouMean(word: string, candidates: readonly string[], prefix = ''): string {
  const near = nearest(word, candidates);
  return near === undefined ? '' : ` (did you mean ${prefix}${near}?)`;
}

/** `a, b and c` (or `a, b or c`) */
function listed(words: readonly string[], conjunction = 'and'): string {
  return words.length < 2 ? words.join('') : `${words.slice(0, -1).join(', ')} ${conjunction} ${words[words.length - 1]}`;
}

function badValue(name: OptionName, value: unknown): string {
  const label = name === 'workload' ? 'the workload' : `--${kebab(name)}`;
  const near =
    typeof value === 'string' && (name === 'workload' || name === 'protocol')
      ? didYouMean(value, name === 'workload' ? WORKLOADS : PROTOCOLS)
      : '';
  return `${label} must be ${RULES[name].allowed}, not ${shown(value)}${near}`;
}

/** Validate options and fill in defaults; throws OptionsError with one line per problem. */
export function resolveOptions(input: LoadOptions): ResolvedOptions {
  const parsed = loadOptionsSchema.safeParse(input);
  if (!parsed.success) {
    const given = input as Record<string, unknown>;
    const lines = new Set<string>();
    // One line per option, in the order of the options (zod reports checks that preprocess later).
    const order = (i: z.core.$ZodIssue) => (i.path.length > 0 ? OPTION_NAMES.indexOf(String(i.path[0]) as OptionName) : -1);
    for (const i of [...parsed.error.issues].sort((a, b) => order(a) - order(b))) {
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) lines.add(`unknown option --${kebab(k)}${didYouMean(kebab(k), OPTION_NAMES.map(kebab), '--')}`);
      } else if (i.path.length > 0 && String(i.path[0]) in RULES) {
        const name = String(i.path[0]) as OptionName;
        lines.add(badValue(name, given[name]));
      } else {
        lines.add(i.message);
      }
    }
    throw new OptionsError([...lines].join('\n'));
  }
  const o = parsed.data;
  const w = o.workload;
  const keys = o.keys ?? DEFAULT_KEYS[w];
  const problems: string[] = [];

  // At most 200 prefix bytes, a family letter and 8 digits: always within memcached's 250-byte keys.
  const minLen = minKeyLength(o.keyPrefix, keys);
  const keyLength = o.keyLength ?? Math.max(16, minLen);
  if (keyLength < minLen)
    problems.push(`--key-length must be at least ${minLen} for ${keys} keys with prefix "${o.keyPrefix}", not ${keyLength}`);

  const valueSizeText = o.valueSize === undefined ? DEFAULT_VALUE_SIZE[w] : String(o.valueSize);
  let valueSize: SizeSpec = { kind: 'fixed', size: 100 };
  try {
    valueSize = parseSizeSpec(valueSizeText);
  } catch (e) {
    problems.push(`${badValue('valueSize', o.valueSize)}: ${(e as Error).message}`);
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
  if (minSize > maxSize) problems.push(`--min-size must be at most --max-size (${maxSize}), not ${minSize}`);
  if ((w === 'setget' || w === 'sizes') && keys < o.conns) {
    problems.push(`--keys must be at least --conns (${o.conns}) for ${w}, which gives every connection keys of its own, not ${keys}`);
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
    seed: o.seed ?? Math.floor(Math.random() * 0xffffffff) >>> 0,
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
const FLAGS = new Set<OptionName>(['verify', 'json', 'prepopulate', 'progress']);
/** Options that take a value. */
const VALUED = new Set<OptionName>(OPTION_NAMES.filter((n) => n !== 'workload' && !FLAGS.has(n)));
/** Every spelling the command line knows, for suggestions. */
const SPELLINGS = [...[...VALUED].map(kebab), ...[...FLAGS].flatMap((f) => [f, `no-${f}`]), 'help', 'version'];

const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
/** `-1`, `-0.5`: a value, not an option. */
const NUMBER = /^-(\d|\.\d)/;

export interface ParsedArgs {
  help: boolean;
  version: boolean;
  options: LoadOptions;
}

/** Parse `cleave-load <workload> [options]`; throws OptionsError on anything it does not know. */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  // --help and --version win wherever they are, over any mistake around them.
  const help = argv.includes('--help') || argv.includes('-h');
  const version = !help && argv.includes('--version');
  if (help || version) return { help, version, options: { workload: 'blast' } };

  const raw: Record<string, unknown> = {};
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-' || NUMBER.test(arg)) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const spelled = arg.slice(0, eq < 0 ? undefined : eq);
    const name = camel(spelled.replace(/^--?/, '')) as OptionName;
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (!spelled.startsWith('--')) {
      throw new OptionsError(`unknown option ${spelled}${didYouMean(kebab(name), SPELLINGS, '--')}`);
    }
    if (FLAGS.has(name)) {
      if (inline !== undefined && inline !== 'true' && inline !== 'false') {
        throw new OptionsError(`${spelled} takes no value (or =true, =false), not ${JSON.stringify(inline)}`);
      }
      raw[name] = inline !== 'false';
      continue;
    }
    const negated = name.startsWith('no') ? (((name[2] ?? '').toLowerCase() + name.slice(3)) as OptionName) : undefined;
    if (negated !== undefined && FLAGS.has(negated)) {
      if (inline !== undefined) throw new OptionsError(`${spelled} takes no value, not ${JSON.stringify(inline)}`);
      raw[negated] = false;
      continue;
    }
    if (!VALUED.has(name)) throw new OptionsError(`unknown option ${spelled}${didYouMean(kebab(name), SPELLINGS, '--')}`);
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // The next word is this option's value unless it is another option (a negative number is a value).
      if (next === undefined || (next.startsWith('-') && next !== '-' && !NUMBER.test(next))) {
        throw new OptionsError(`${spelled} needs a value: ${RULES[name].allowed}`);
      }
      value = next;
      i++;
    }
    if (name in raw) throw new OptionsError(`${spelled} given twice, as ${shown(raw[name])} and ${shown(value)}`);
    raw[name] = value;
  }
  if (positional.length === 0) throw new OptionsError(`no workload given: name one of ${listed(WORKLOADS, 'or')}`, true);
  if (positional.length > 1) throw new OptionsError(`one workload at a time, not ${listed(positional)}`);
  const workload = positional[0]!;
  if (!(WORKLOADS as readonly string[]).includes(workload)) {
    throw new OptionsError(
      `unknown workload ${JSON.stringify(workload)}${didYouMean(workload, WORKLOADS)}; the workloads are ${listed(WORKLOADS)}`,
      true,
    );
  }
  return { help, version, options: { ...raw, workload } as LoadOptions };
}

const WORKLOAD_LINES = `Workloads:
  blast    random mix of every storage command (get gets gat set add replace
           append prepend cas delete incr decr touch); per-command hit/miss latency
  setget   set a key, then get it back and check it byte for byte (5 B - 20 KB)
  sizes    every value size from --min-size to --max-size in --step steps:
           set, get back, check; ends after the largest size
  fill     sets only, walking the key space: set rate (and evictions, from stats)
  mix      gets (--ratio) and sets over the key space, after setting every key once
`;

/** What a command line without (or with a misspelled) workload is shown. */
export const USAGE = `Usage: cleave-load <workload> [options]

${WORKLOAD_LINES}
Main options:
  --host HOST --port PORT | --socket PATH   the server (127.0.0.1:11211)
  --protocol text|meta|binary               (text)
  --conns N --depth N                       connections, requests in flight on each (4, 16)
  --duration SECONDS | --requests N         how long to run (5 s)
  --json                                    one JSON object on stdout

Example: cleave-load mix --port 11211 --duration 10
Every option: cleave-load --help
`;

export const HELP = `cleave-load — load and correctness tool for memcached-compatible servers

Usage: cleave-load <workload> [options]

${WORKLOAD_LINES}
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
  --json                 print one JSON object on stdout (what runs is said on stderr)
  --progress / --no-progress
                         a progress line on stderr every second (default: on when
                         stderr is a terminal)
  -h, --help             this help
  --version              print the version

What runs is said before it starts, on stdout above the report (with --json, on stderr).
Exit status: 0 no errors, 1 errors (or the server could not be reached), 2 bad options.
`;
