// memproxy's own lines (listening, signals, failures): on stdout and stderr, or appended to the --log-file,
// which SIGHUP reopens so a rotated file is let go of.

import { closeSync, openSync, writeSync } from 'node:fs';

export class Log {
  private fd: number | undefined;

  /** Log to `file` (appended to, created 0644), or to stdout/stderr. Throws when the file cannot be opened. */
  constructor(readonly file?: string) {
    if (file !== undefined) this.fd = openSync(file, 'a', 0o644);
  }

  /** What memproxy does: stdout, or a line of the file. */
  info(line: string): void {
    this.write(process.stdout, line);
  }

  /** What went wrong: stderr, or a line of the file. */
  error(line: string): void {
    this.write(process.stderr, line);
  }

  /** A failure to start: in the file, and on stderr too, so whoever started memproxy sees why it did not. */
  fatal(line: string): void {
    this.error(line);
    if (this.fd !== undefined) process.stderr.write(line + '\n');
  }

  /** Close the file and open it again by its name (after a rotation renamed it); says what it did. */
  reopen(): string {
    if (this.file === undefined) return 'no --log-file to reopen';
    if (this.fd !== undefined) closeSync(this.fd);
    try {
      this.fd = openSync(this.file, 'a', 0o644);
      return `reopened log file ${this.file}`;
    } catch (e) {
      this.fd = undefined;
      return `could not reopen log file ${this.file} (${(e as Error).message}); logging to stdout and stderr`;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(stream: NodeJS.WriteStream, line: string): void {
    if (this.fd === undefined) {
      stream.write(line + '\n');
      return;
    }
    try {
      writeSync(this.fd, `${new Date().toISOString()} ${line}\n`);
    } catch {
      // A log that cannot be written is no reason to stop serving.
    }
  }
}
