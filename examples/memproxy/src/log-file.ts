// A log file as memproxy and cleave-twemproxy keep one: appended to (created 0644), written a line at a time
// without blocking on a stream, and reopened by its name on SIGHUP so a file that logrotate moved away is let go.

import { closeSync, openSync, writeSync } from 'node:fs';

export class LogFile {
  private fd: number;

  /** Open `path` for appending. Throws when it cannot be opened. */
  constructor(readonly path: string) {
    this.fd = openSync(path, 'a', 0o644);
  }

  /** Append `text`; a log that cannot be written is no reason to stop serving, so failures are dropped. */
  write(text: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, text);
    } catch {
      // dropped
    }
  }

  /** Close the file and open it again by its name; the error when it cannot be (writes are then dropped). */
  reopen(): Error | undefined {
    this.close();
    try {
      this.fd = openSync(this.path, 'a', 0o644);
      return undefined;
    } catch (e) {
      return e as Error;
    }
  }

  close(): void {
    if (this.fd >= 0) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = -1;
  }
}
