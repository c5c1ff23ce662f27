import { spawn } from 'node:child_process';

/**
 * Run libmemcached's memccapable conformance checker against a server:
 * `-a` for the ascii tests, `-b` for the binary ones. Resolves with its exit
 * code and everything it printed (a failing test prints `[fail]`).
 */
export function runMemccapable(port: number, mode: '-a' | '-b', timeoutMs = 60_000): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('memccapable', ['-h', '127.0.0.1', '-p', String(port), '-t', '5', mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}
