// memproxy's own lines (listening, signals, failures): on stdout and stderr, or appended to the --log-file,
// which SIGHUP reopens so a rotated file is let go of.

import { LogFile } from './log-file.js';

export class Log {
  private readonly out: LogFile | undefined;

  /** Log to `file`, or to stdout/stderr. Throws when the file cannot be opened. */
  constructor(readonly file?: string) {
    if (file !== undefined) this.out = new LogFile(file);
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
    if (this.out !== undefined) process.stderr.write(line + '\n');
  }

  /** Close the file and open it again by its name (after a rotation renamed it); says what it did. */
  reopen(): string {
    if (this.out === undefined) return 'no --log-file to reopen';
    const failed = this.out.reopen();
    if (failed === undefined) return `reopened log file ${this.file}`;
    return `could not reopen log file ${this.file} (${failed.message}); its lines are dropped until a SIGHUP reopens it`;
  }

  close(): void {
    this.out?.close();
  }

  private write(stream: NodeJS.WriteStream, line: string): void {
    if (this.out === undefined) stream.write(line + '\n');
    else this.out.write(`${new Date().toISOString()} ${line}\n`);
  }
}
