// cleave-twemproxy's log: nutcracker's levels (0 emergencies .. 11 periodic chatter, 5 by default), each line
// "[YYYY-MM-DD HH:MM:SS.mmm] message" in local time, to stderr or appended to the -o file, which SIGHUP reopens
// (for log rotation) and SIGTTIN/SIGTTOU make more or less verbose, as nutcracker's do.

import { writeSync } from 'node:fs';
import { LogFile } from '../log-file.js';
import { LOG_MAX, LOG_MIN } from './args.js';

/** nutcracker's log levels (nc_log.h). */
export const LogLevel = {
  EMERG: 0,
  ALERT: 1,
  CRIT: 2,
  ERR: 3,
  WARN: 4,
  NOTICE: 5,
  INFO: 6,
  DEBUG: 7,
  VERB: 8,
  VVERB: 9,
  VVVERB: 10,
  PVERB: 11,
} as const;

const STDERR = 2;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function stamp(d: Date): string {
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

export class Log {
  /** The -o file; stderr without one. */
  private readonly out: LogFile | undefined;
  private level: number;

  /** Open the log: `file` appended to (created 0644), or stderr. Throws when the file cannot be opened. */
  constructor(level: number, file?: string) {
    this.level = Math.max(LOG_MIN, Math.min(level, LOG_MAX));
    if (file !== undefined && file !== '') this.out = new LogFile(file);
  }

  get verbosity(): number {
    return this.level;
  }

  /** Whether a message at `level` would be written (to skip building it). */
  enabled(level: number): boolean {
    return level <= this.level;
  }

  /** Write `message` when the level lets it through. */
  at(level: number, message: string): void {
    if (level <= this.level) this.always(message);
  }

  /** Write `message` whatever the level (nutcracker's loga: start and stop lines, signals). */
  always(message: string): void {
    const line = `[${stamp(new Date())}] ${message}\n`;
    if (this.out !== undefined) {
      this.out.write(line);
      return;
    }
    try {
      writeSync(STDERR, line);
    } catch {
      // A log that cannot be written is not a reason to stop serving.
    }
  }

  error(message: string): void {
    this.at(LogLevel.ERR, message);
  }

  warn(message: string): void {
    this.at(LogLevel.WARN, message);
  }

  notice(message: string): void {
    this.at(LogLevel.NOTICE, message);
  }

  info(message: string): void {
    this.at(LogLevel.INFO, message);
  }

  /** SIGHUP: reopen the file (after a rotation moved it away); stderr stays stderr. */
  reopen(): void {
    const failed = this.out?.reopen();
    if (failed !== undefined) {
      process.stderr.write(`cleave-twemproxy: reopening log file '${this.out!.path}' failed, ignored: ${failed.message}\n`);
    }
  }

  /** SIGTTIN. */
  up(): void {
    if (this.level < LOG_MAX) {
      this.level++;
      this.always(`up log level to ${this.level}`);
    }
  }

  /** SIGTTOU. */
  down(): void {
    if (this.level > LOG_MIN) {
      this.level--;
      this.always(`down log level to ${this.level}`);
    }
  }

  close(): void {
    this.out?.close();
  }
}
