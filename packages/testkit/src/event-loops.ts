/**
 * Which thread of a server process serves each of a client's connections,
 * read from outside the process (Linux /proc): every event loop (libuv's,
 * libevent's) has an epoll instance of its own, and a connection's socket is
 * registered in the epoll of the one loop, so of the one thread, serving it.
 * Two connections in different epoll instances are served by different
 * threads. No cooperation from the server is needed, so it proves the spread
 * of a cleave server and of a memcached -t N alike.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The server-side socket inodes of TCP connections to `serverPort` from each of `clientPorts`. */
function serverSockets(pid: number, serverPort: number, clientPorts: readonly number[]): Map<number, number> {
  const wanted = new Set(clientPorts);
  const out = new Map<number, number>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = Number.parseInt(f[1]!.split(':')[1]!, 16);
      const remote = Number.parseInt(f[2]!.split(':')[1]!, 16);
      if (local === serverPort && wanted.has(remote)) out.set(remote, Number(f[9]));
    }
  }
  return out;
}

/** Each epoll instance of the process (by its fd) and the inodes registered in it. */
function epolls(pid: number): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let link: string;
    let info: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link !== 'anon_inode:[eventpoll]') continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'latin1');
    } catch {
      continue; // closed meanwhile
    }
    const inodes = new Set<number>();
    for (const m of info.matchAll(/^tfd:.*\bino:([0-9a-f]+)/gm)) inodes.add(Number.parseInt(m[1]!, 16));
    out.set(Number(fd), inodes);
  }
  return out;
}

/**
 * For each of `clientPorts` (local ports of connections to `serverPort` on
 * process `pid`), the event loop serving it, named by its epoll fd: waits
 * until every connection is registered in exactly one loop (a server adds a
 * socket once it starts reading it), and throws if that does not happen
 * within `timeoutMs`.
 */
export async function servingLoops(
  pid: number,
  serverPort: number,
  clientPorts: readonly number[],
  timeoutMs = 5000,
): Promise<Map<number, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const sockets = serverSockets(pid, serverPort, clientPorts);
    const loops = epolls(pid);
    const out = new Map<number, number>();
    for (const port of clientPorts) {
      const inode = sockets.get(port);
      if (inode === undefined) break;
      const holders = [...loops].filter(([, inodes]) => inodes.has(inode)).map(([fd]) => fd);
      if (holders.length !== 1) break;
      out.set(port, holders[0]!);
    }
    if (out.size === clientPorts.length) return out;
    if (Date.now() > deadline) {
      throw new Error(
        `connections from ports ${clientPorts.join(', ')} are not each in one event loop of process ${pid} after ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How many connections each serving loop has, largest first. */
export function loopShares(loops: Map<number, number>): number[] {
  const count = new Map<number, number>();
  for (const l of loops.values()) count.set(l, (count.get(l) ?? 0) + 1);
  return [...count.values()].sort((a, b) => b - a);
}
