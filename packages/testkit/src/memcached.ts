import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForListen } from './ports.js';

export interface MemcachedOptions {
  /** Extra command line arguments (e.g. ['-I', '2m']). */
  args?: string[];
  /** Listen on a unix socket instead of TCP. */
  unixSocket?: boolean;
  /** Memory limit in MiB (`-m`). */
  memoryMb?: number;
  /** Worker threads (`-t`), default 1. */
  threads?: number;
}

/** A real memcached process started for a test; stop it by PID with `stop()`. */
export interface MemcachedProcess {
  readonly pid: number;
  readonly host: string;
  /** TCP port (0 when on a unix socket). */
  readonly port: number;
  /** Unix socket path, when started with `unixSocket`. */
  readonly socketPath?: string;
  readonly child: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves when the process has exited. */
  stop(): Promise<void>;
}

let checked: string | undefined;

/** Path of the memcached binary, or a clear error telling how to install it. */
export function memcachedBinary(): string {
  if (checked) return checked;
  for (const candidate of [process.env.MEMCACHED_BIN, '/usr/bin/memcached', '/usr/local/bin/memcached']) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ['-V'], { encoding: 'utf8' });
    if (r.status === 0) {
      checked = candidate;
      return candidate;
    }
  }
  throw new Error('memcached is not installed: run `apt-get install memcached` (the test command does this itself when run as root)');
}

/** memcached's version as it reports it (e.g. "1.6.18"). */
export function memcachedVersion(): string {
  const r = spawnSync(memcachedBinary(), ['-V'], { encoding: 'utf8' });
  return r.stdout.trim().split(' ')[1] ?? '';
}

const live = new Set<MemcachedProcess>();
process.once('exit', () => {
  for (const p of live) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

/** Start a real memcached on a free port (or a fresh unix socket) and wait until it accepts connections. */
export async function startMemcached(options: MemcachedOptions = {}): Promise<MemcachedProcess> {
  const bin = memcachedBinary();
  const host = '127.0.0.1';
  let port = 0;
  let socketPath: string | undefined;
  let dir: string | undefined;
  const args = ['-U', '0', '-t', String(options.threads ?? 1), '-m', String(options.memoryMb ?? 64)];
  if (options.unixSocket) {
    dir = mkdtempSync(join(tmpdir(), 'cleave-mc-'));
    socketPath = join(dir, 'memcached.sock');
    args.push('-s', socketPath);
  } else {
    port = await freePort();
    args.push('-l', host, '-p', String(port));
  }
  if (process.getuid?.() === 0) args.push('-u', 'root');
  args.push(...(options.args ?? []));
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const proc: MemcachedProcess = {
    pid: child.pid!,
    host,
    port,
    socketPath,
    child,
    async stop() {
      live.delete(proc);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 2000);
        await exited;
        clearTimeout(t);
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(proc);
  try {
    await Promise.race([
      waitForListen(socketPath ? { path: socketPath } : { port, host }),
      exited.then(() => {
        throw new Error(`memcached exited at start: ${stderr}`);
      }),
    ]);
  } catch (e) {
    await proc.stop();
    throw e;
  }
  return proc;
}
