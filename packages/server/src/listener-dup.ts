import { spawn, type ChildProcess } from 'node:child_process';

/**
 * The helper process: it inherits the listening descriptors (stdio entries
 * 4.., after the ipc channel at 3) and answers each `{ i }` with a
 * duplicate of descriptor i, sent over the channel (SCM_RIGHTS: every send
 * is a new descriptor in the receiver). It exits when its parent goes.
 */
const HELPER = `
const net = require('node:net');
const sockets = [];
process.on('message', (m) => {
  const s = (sockets[m.i] ??= new net.Socket({ fd: 4 + m.i, readable: false, writable: false }));
  process.send({ i: m.i }, s._handle);
});
process.on('disconnect', () => process.exit(0));
`;

/** A raw TCP or Pipe handle, as `net.Server.listen(handle)` takes it. */
export type ListenHandle = object;

/**
 * Duplicates of listening descriptors, one thread's own. Threads cannot
 * share one descriptor: closing it in one thread (to stop accepting) would
 * close it for all, and a second close could hit a reused descriptor
 * number. Node 20 has no reusePort, and a thread cannot dup(2); a child
 * process that inherits the descriptors can send duplicates back over IPC.
 */
export class ListenerDup {
  private readonly child: ChildProcess;
  /** Callers waiting for a duplicate of descriptor i, in request order. */
  private readonly waiting = new Map<number, ((h: ListenHandle) => void)[]>();
  private failed: Error | undefined;

  constructor(fds: readonly number[]) {
    this.child = spawn(process.execPath, ['-e', HELPER], { stdio: ['ignore', 'ignore', 'inherit', 'ipc', ...fds] });
    this.child.on('message', (m: { i: number }, handle: ListenHandle | undefined) => {
      const q = this.waiting.get(m.i);
      const resolve = q?.shift();
      if (resolve && handle) resolve(handle);
    });
    this.child.on('error', (err) => {
      this.failed = err;
    });
  }

  /** A new duplicate of descriptor `i` (the i-th of `fds`), as a handle to listen on. */
  get(i: number): Promise<ListenHandle> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => {
      let q = this.waiting.get(i);
      if (q === undefined) this.waiting.set(i, (q = []));
      q.push(resolve);
      const onExit = () => reject(this.failed ?? new Error('listener helper process exited'));
      this.child.once('exit', onExit);
      q[q.length - 1] = (h) => {
        this.child.off('exit', onExit);
        resolve(h);
      };
      this.child.send({ i });
    });
  }

  /** Stop the helper (its copies of the descriptors close with it). */
  close(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill();
    });
  }
}
