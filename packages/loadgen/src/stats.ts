/**
 * Counters of a run: per command hits, misses, errors and latencies, plus a
 * bounded list of error samples with the offending bytes.
 */
import { COMMAND_COUNT, COMMAND_NAMES } from './commands.js';
import { LatencyRecorder } from './latency.js';

/** Bytes shown in a report: hex and printable ASCII ('.' for anything else). */
export interface ByteDump {
  /** Offset of the first byte shown within the whole reply part it comes from. */
  offset: number;
  /** Total length of the reply part. */
  length: number;
  hex: string;
  text: string;
}

export interface ErrorSample {
  /** What went wrong: wrong_value, wrong_key, wrong_opaque, stale_value, unexpected_reply, error_reply, framing, timeout, connection. */
  kind: string;
  command: string;
  key: string;
  /** A sentence saying what was expected and what came. */
  detail: string;
  /** The offending bytes as received. */
  got?: ByteDump;
  /** What a correct server would have sent there. */
  expected?: ByteDump;
}

const MAX_DUMP = 64;

/** Show up to 64 bytes of `b` from `offset` (a little before it when possible). */
export function dump(b: Buffer, around = 0): ByteDump {
  const start = Math.max(0, Math.min(around - 16, b.length - MAX_DUMP));
  const part = b.subarray(start, start + MAX_DUMP);
  let hex = '';
  let text = '';
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    hex += (i === 0 ? '' : ' ') + c.toString(16).padStart(2, '0');
    text += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
  }
  return { offset: start, length: b.length, hex, text };
}

export class CommandStats {
  ops = 0;
  hits = 0;
  misses = 0;
  errors = 0;
  readonly hit = new LatencyRecorder();
  readonly miss = new LatencyRecorder();
}

export class RunStats {
  readonly commands: CommandStats[] = Array.from({ length: COMMAND_COUNT }, () => new CommandStats());
  readonly samples: ErrorSample[] = [];
  readonly errorKinds = new Map<string, number>();
  /** Requests left unanswered when their connection broke. */
  aborted = 0;
  bytesSent = 0;
  bytesReceived = 0;
  /** Socket writes (one per connection per turn) and reads. */
  writes = 0;
  reads = 0;
  reconnects = 0;

  constructor(private readonly maxSamples = 20) {}

  get completed(): number {
    let n = 0;
    for (const c of this.commands) n += c.ops;
    return n;
  }

  get errors(): number {
    let n = 0;
    for (const v of this.errorKinds.values()) n += v;
    return n;
  }

  /** Count an error and keep a sample of it (the first `maxSamples` only). */
  error(sample: ErrorSample): void {
    this.errorKinds.set(sample.kind, (this.errorKinds.get(sample.kind) ?? 0) + 1);
    if (this.samples.length < this.maxSamples) this.samples.push(sample);
  }

  /** Take over another phase's errors (counts and samples). */
  absorbErrors(other: RunStats): void {
    for (const [kind, n] of other.errorKinds) this.errorKinds.set(kind, (this.errorKinds.get(kind) ?? 0) + n);
    for (const s of other.samples) if (this.samples.length < this.maxSamples) this.samples.push(s);
  }

  commandName(cmd: number): string {
    return COMMAND_NAMES[cmd] ?? '?';
  }
}
