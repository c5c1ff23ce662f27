import type { Worker } from 'node:worker_threads';

/** A worker thread's next message; its exit or error before the message fails the wait. */
export function nextMessage(w: Worker): Promise<unknown> {
  return new Promise<unknown>((resolve, reject) => {
    const exit = (code: number) => reject(new Error(`worker exited (${code}) before its message`));
    const fail = (e: Error) => {
      w.off('exit', exit);
      reject(e);
    };
    w.once('error', fail);
    w.once('exit', exit);
    w.once('message', (m) => {
      w.off('error', fail);
      w.off('exit', exit);
      resolve(m);
    });
  });
}
