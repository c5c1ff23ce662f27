import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sleep } from './checked-load.js';
import { memcachedBinary } from './memcached.js';
import { waitForListen } from './ports.js';

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/**
 * SIGSTOP `pid` and resolve once the kernel shows it stopped (`T` in
 * `/proc/PID/stat`): a request sent before that may still be answered.
 */
export async function stopProcess(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const state = () => readFileSync(`/proc/${pid}/stat`, 'latin1').replace(/^.*\) /s, '')[0];
  const deadline = Date.now() + 2000;
  while (state() !== 'T' && Date.now() < deadline) await sleep(1);
  if (state() !== 'T') throw new Error(`process ${pid} did not stop within 2 s of SIGSTOP`);
}

/**
 * A real memcached on a fixed TCP port or unix socket path, controlled by
 * PID, so fault tests can stop, continue, kill and start it again on the
 * same address. Processes still running when the test process exits are killed.
 */
export class FixedMemcached {
  child: ChildProcess | undefined;
  constructor(readonly target: { port: number; host?: string } | { path: string }) {}

  get pid(): number {
    return this.child!.pid!;
  }

  get alive(): boolean {
    const c = this.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Start (again) on the target address; resolves once it accepts connections. */
  async start(): Promise<void> {
    const args = ['-U', '0', '-t', '1', '-m', '64'];
    if ('path' in this.target) args.push('-s', this.target.path);
    else args.push('-l', '127.0.0.1', '-p', String(this.target.port));
    if (process.getuid?.() === 0) args.push('-u', 'root');
    const child = spawn(memcachedBinary(), args, { stdio: 'ignore' });
    this.child = child;
    children.add(child);
    child.once('exit', () => children.delete(child));
    await waitForListen('path' in this.target ? { path: this.target.path } : { port: this.target.port, host: '127.0.0.1' });
  }

  /** Send `sig`; for SIGSTOP, return once the kernel shows the process stopped. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    if (sig === 'SIGSTOP') return stopProcess(this.pid);
    process.kill(this.pid, sig);
  }

  /** SIGSTOP, returning once the process is stopped. */
  pause(): Promise<void> {
    return this.signal('SIGSTOP');
  }

  /** SIGCONT. */
  resume(): void {
    process.kill(this.pid, 'SIGCONT');
  }

  /** Send `sig` (SIGKILL by default) and wait for the exit; a process that ignores it is killed after 3 s. */
  async kill(sig: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || !this.alive) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGCONT');
    child.kill(sig);
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
