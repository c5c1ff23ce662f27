import net from 'node:net';
import { TextResponseParser, type TextReply } from '@cleave/protocol';
import type { Target } from './engine.js';

/**
 * The server's general stats (`stats` over the text protocol), or undefined
 * when it does not answer them in time. Used for eviction counts.
 */
export function fetchStats(target: Target, timeoutMs = 2000): Promise<Map<string, string> | undefined> {
  return new Promise((resolve) => {
    const socket = 'path' in target ? net.connect({ path: target.path }) : net.connect({ host: target.host, port: target.port });
    const parser = new TextResponseParser();
    const replies: TextReply[] = [];
    const stats = new Map<string, string>();
    let done = false;
    const finish = (v: Map<string, string> | undefined) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    socket.on('connect', () => socket.write('stats\r\n'));
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('data', (chunk: Buffer) => {
      try {
        parser.feed(chunk, replies);
      } catch {
        finish(undefined);
        return;
      }
      for (const r of replies) {
        if (r.kind === 'stat') stats.set(r.name, r.value);
        else if (r.kind === 'end') return finish(stats);
        else return finish(undefined);
      }
      replies.length = 0;
    });
  });
}
