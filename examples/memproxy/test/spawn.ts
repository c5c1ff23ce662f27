import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RawClient } from '@cleave/testkit';
import { afterAll } from 'vitest';

export const MEMPROXY = fileURLToPath(new URL('../dist/memproxy.js', import.meta.url));

export interface Running {
  child: ChildProcess;
  port: number;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM and wait for the exit code. */
  stop(): Promise<number | null>;
}

/** Start the built memproxy with `args`, wait for its startup line, and read the bound port from it. */
export function startMemproxy(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [MEMPROXY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`memproxy did not start: ${out} ${err}`));
    }, 10_000);
    const onEarlyExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`memproxy exited with ${code}: ${err}`));
    };
    child.once('exit', onEarlyExit);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (?:[\d.]+:(\d+)|unix:\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        child.off('exit', onEarlyExit);
        resolve({
          child,
          port: Number(m[1] ?? 0),
          stdout: () => out,
          stderr: () => err,
          async stop() {
            if (child.exitCode === null) child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            const code = await exited;
            clearTimeout(t);
            return code;
          },
        });
      }
    });
  });
}

/** Run memproxy to completion (for --help and bad flags); `as` runs it as another user (the tests run as root). */
export function runMemproxy(
  args: string[],
  as?: { uid: number; gid: number },
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MEMPROXY, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...as });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** memproxy's log: one JSON object a line (pino's), as written to stdout or its --log-file. */
export interface LogLine {
  level: string;
  time: string;
  msg: string;
  [field: string]: unknown;
}

/** The complete lines of a log so far, parsed. */
export function logLines(text: string): LogLine[] {
  return text
    .split('\n')
    .slice(0, -1)
    .map((line) => JSON.parse(line) as LogLine);
}

/** The messages of a log so far. */
export const logMessages = (text: string): string[] => logLines(text).map((l) => l.msg);

/**
 * What a test file starts and must stop: `track(p)` keeps `p` (a memcached, a memproxy) and returns it; after
 * the file's tests every tracked process is stopped, the last started first.
 */
export function stopAfterAll(): <T extends { stop(): Promise<unknown> }>(p: T) => T {
  const started: Array<{ stop(): Promise<unknown> }> = [];
  afterAll(async () => {
    for (const p of started.reverse()) await p.stop();
  });
  return (p) => {
    started.push(p);
    return p;
  };
}

/** Send `bytes` on a new connection and read until the reply ends with `until` (5 s at most). */
export async function ask(target: { port: number } | { path: string }, bytes: string, until: string): Promise<string> {
  const c = await RawClient.connect(target);
  try {
    return (await c.request(bytes, until, 5000)).toString('latin1');
  } finally {
    c.close();
  }
}
