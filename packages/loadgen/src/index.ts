export { runLoad, type LoadResult, type CommandResult, type RunHooks } from './run.js';
export type { LatencySummary } from './latency.js';
export {
  resolveOptions,
  parseArgs,
  loadOptionsSchema,
  OptionsError,
  HELP,
  USAGE,
  WORKLOADS,
  PROTOCOLS,
  type LoadOptions,
  type ResolvedOptions,
  type WorkloadName,
  type ParsedArgs,
} from './options.js';
export { describeRun, formatReport } from './report.js';
export { parseSizeSpec, Sizer, type SizeSpec } from './sizes.js';
export { BinaryReplyParser, BinaryFramingError } from './binary-reply.js';
export { RequestWriter, type ProtocolName } from './templates.js';
export { KeySpace } from './keys.js';
export { ValueSource } from './values.js';
export { Out } from './out.js';
export { Op } from './op.js';
export { Rng } from './rng.js';
export { dump, type ByteDump, type ErrorSample } from './stats.js';
export * from './commands.js';
export { cliMain, type CliIO } from './cli-main.js';
