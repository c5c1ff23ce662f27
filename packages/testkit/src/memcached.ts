import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
  /** Text-protocol authentication (`-Y`): these users, written to an auth file as `user:password` lines. */
  authUsers?: Record<string, string>;
  /**
   * Binary SASL (`-S`) with the PLAIN mechanism over a sasldb holding these
   * users (made with `saslpasswd2`, from the sasl2-bin package).
   */
  saslUsers?: Record<string, string>;
  /** Serve TLS (`-Z`) with these PEM files; with `ca`, clients must present a certificate it signed. */
  tls?: { cert: string; key: string; ca?: string };
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

/** saslpasswd2 lives in /usr/sbin, which a non-root PATH may lack. */
function saslpasswd2(): string {
  return spawnSync('saslpasswd2', ['-v'], { stdio: 'ignore' }).error === undefined ? 'saslpasswd2' : '/usr/sbin/saslpasswd2';
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
  const env: Record<string, string | undefined> = { ...process.env };
  const workDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'cleave-mc-')));
  if (options.authUsers) {
    const file = join(workDir(), 'auth');
    writeFileSync(
      file,
      Object.entries(options.authUsers)
        .map(([u, p]) => `${u}:${p}\n`)
        .join(''),
    );
    args.push('-Y', file);
  }
  if (options.saslUsers) {
    const db = join(workDir(), 'sasldb2');
    // cyrus reads <SASL_CONF_PATH>/memcached.conf; users live in a sasldb under the host's realm.
    writeFileSync(join(workDir(), 'memcached.conf'), `mech_list: plain\nsasldb_path: ${db}\n`);
    for (const [user, password] of Object.entries(options.saslUsers)) {
      const r = spawnSync(saslpasswd2(), ['-p', '-a', 'memcached', '-c', '-f', db, user], { input: password });
      if (r.status !== 0) {
        rmSync(workDir(), { recursive: true, force: true });
        throw new Error(`saslpasswd2 failed (install sasl2-bin): ${r.stderr?.toString() ?? r.error}`);
      }
    }
    env.SASL_CONF_PATH = workDir();
    args.push('-S');
  }
  if (options.tls) {
    const o = [`ssl_chain_cert=${options.tls.cert}`, `ssl_key=${options.tls.key}`];
    if (options.tls.ca) o.push(`ssl_ca_cert=${options.tls.ca}`, 'ssl_verify_mode=2');
    args.push('-Z', '-o', o.join(','));
  }
  if (options.unixSocket) {
    socketPath = join(workDir(), 'memcached.sock');
    args.push('-s', socketPath);
  } else {
    port = await freePort();
    args.push('-l', host, '-p', String(port));
  }
  if (process.getuid?.() === 0) args.push('-u', 'root');
  args.push(...(options.args ?? []));
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
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
