// memproxy's log: pino, one JSON object a line on stdout (or appended to the --log-file, which SIGHUP reopens so
// a rotated file is let go of); on a terminal, readable lines instead. The library packages get `log.logger` as
// core's Logger and report their backends' changes of state through it.

import pino, { type DestinationStream, type Logger } from 'pino';

/** The levels --log-level takes, quietest last. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const LABEL_WIDTH = 5;
/** Fields every line has, left out of a readable line's key=value tail. */
const BASE_FIELDS = new Set(['level', 'time', 'msg', 'name', 'pid', 'hostname']);

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/**
 * A line as a person reads it on a terminal: `12:04:05.120 INFO  message key=value ...`. A dozen lines of our own
 * rather than pino-pretty: no worker thread, no dependency tree, and the same synchronous write as the JSON lines.
 */
export function readableLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = new Date(typeof o.time === 'string' || typeof o.time === 'number' ? o.time : Date.now());
  const time = `${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}.${pad(t.getMilliseconds(), 3)}`;
  const level = String(o.level ?? '')
    .toUpperCase()
    .padEnd(LABEL_WIDTH);
  let tail = '';
  for (const k in o) {
    if (BASE_FIELDS.has(k)) continue;
    const v = o[k];
    tail += ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`;
  }
  return `${time} ${level} ${String(o.msg ?? '')}${tail}\n`;
}

/** stdout for a terminal: each JSON line rewritten readable. */
const readableStdout: DestinationStream = {
  write(line: string) {
    process.stdout.write(readableLine(line));
  },
};

export interface LogOptions {
  level: LogLevel;
  /** Append to this file (created 0644) instead of stdout. */
  file?: string;
  /** Readable lines instead of JSON (default: when stdout is a terminal and there is no file). */
  readable?: boolean;
  /** The serving thread (--threads) whose log this is: a `thread` field on each of its lines. */
  thread?: number;
}

export class Log {
  readonly logger: Logger;
  private readonly file: ReturnType<typeof pino.destination> | undefined;

  /** Throws when the file cannot be opened. */
  constructor(readonly options: LogOptions) {
    let dest: DestinationStream;
    if (options.file !== undefined) {
      // Synchronous writes: memproxy logs changes of state, not requests, and a line must be in the file when it exits.
      this.file = pino.destination({ dest: options.file, append: true, sync: true, mode: 0o644 });
      dest = this.file;
    } else if (options.readable ?? process.stdout.isTTY === true) {
      dest = readableStdout;
    } else {
      dest = pino.destination({ dest: 1, sync: true });
    }
    const root = pino(
      {
        name: 'memproxy',
        level: options.level,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      dest,
    );
    this.logger = options.thread === undefined ? root : root.child({ thread: options.thread });
  }

  /**
   * A failure to start: in the log, and as a plain line on stderr too, so whoever started memproxy sees why it
   * did not (the log may be a file, or JSON for a collector).
   */
  fatal(fields: Record<string, unknown>, message: string): void {
    this.logger.fatal(fields, message);
    process.stderr.write(`memproxy: ${message}\n`);
  }

  /** Close the file and open it again by its name (after a rotation renamed it); says what it did. */
  reopen(): string {
    if (this.file === undefined) return 'no --log-file to reopen';
    try {
      this.file.reopen();
      return `reopened log file ${this.options.file}`;
    } catch (e) {
      return `could not reopen log file ${this.options.file} (${(e as Error).message}); its lines go to the file it had open until a SIGHUP reopens it`;
    }
  }
}
