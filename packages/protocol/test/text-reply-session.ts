/**
 * Test helper: one connection to a real memcached that sends a command
 * followed by `mn` and returns exactly the command's reply bytes (and the
 * replies parsed by TextResponseParser). `mn` always answers `MN`, so
 * commands that answer nothing (noreply, q) are delimited too.
 */
import net from 'node:net';
import { TextResponseParser, type TextReply } from '../src/text/response-parser.js';

export interface Exchange {
  /** The command's reply bytes, `MN\r\n` removed. */
  readonly raw: Buffer;
  /** The command's replies, the MN removed. */
  readonly replies: TextReply[];
}

export class ReplySession {
  private readonly parser = new TextResponseParser({ maxValueSize: 4 * 1024 * 1024 });
  private chunks: Buffer[] = [];
  private replies: TextReply[] = [];
  private wake: (() => void) | undefined;
  private failure: unknown;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      try {
        this.parser.feed(d, this.replies);
      } catch (e) {
        this.failure = e;
      }
      this.wake?.();
    });
    socket.on('close', () => {
      this.failure ??= new Error('connection closed');
      this.wake?.();
    });
  }

  static async open(port: number): Promise<ReplySession> {
    const s = net.connect(port, '127.0.0.1');
    s.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', resolve);
      s.once('error', reject);
    });
    return new ReplySession(s);
  }

  private done(mn: number): boolean {
    let seen = 0;
    for (const r of this.replies) if (r.kind === 'meta' && r.code === 'MN') seen++;
    const last = this.replies[this.replies.length - 1];
    return seen >= mn && last !== undefined && last.kind === 'meta' && last.code === 'MN';
  }

  /**
   * Send `cmd` then `mn\r\n`; resolve with what `cmd` answered. `ownMn` is the
   * number of `mn` commands inside `cmd` itself.
   */
  async send(cmd: Buffer | string, ownMn = 0, timeoutMs = 3000): Promise<Exchange> {
    this.chunks = [];
    this.replies = [];
    const bytes = typeof cmd === 'string' ? Buffer.from(cmd, 'latin1') : cmd;
    this.socket.write(Buffer.concat([bytes, Buffer.from('mn\r\n')]));
    const deadline = Date.now() + timeoutMs;
    while (!this.done(ownMn + 1)) {
      if (this.failure !== undefined) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no MN after ${JSON.stringify(bytes.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const all = Buffer.concat(this.chunks);
    return { raw: all.subarray(0, all.length - 4), replies: this.replies.slice(0, -1) };
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * Compare two reply byte strings, allowing the second-granular numbers that
 * depend on when memcached's clock ticked (meta t/l, me exp/la) to differ by
 * one. Returns undefined when equal, else a description of the difference.
 */
export function diffReplies(actual: Buffer, expected: Buffer): string | undefined {
  if (actual.equals(expected)) return undefined;
  const a = actual.toString('latin1');
  const e = expected.toString('latin1');
  const show = `\n  ours:      ${JSON.stringify(a)}\n  memcached: ${JSON.stringify(e)}`;
  const al = a.split('\r\n');
  const el = e.split('\r\n');
  if (al.length !== el.length) return `line count differs${show}`;
  for (let i = 0; i < al.length; i++) {
    if (al[i] === el[i]) continue;
    const at = al[i]!.split(' ');
    const et = el[i]!.split(' ');
    if (at.length !== et.length) return `line ${i} differs${show}`;
    for (let j = 0; j < at.length; j++) {
      if (at[j] === et[j]) continue;
      const m1 = /^(t|l|exp=|la=)(-?\d+)$/.exec(at[j]!);
      const m2 = /^(t|l|exp=|la=)(-?\d+)$/.exec(et[j]!);
      const clockTick = m1 && m2 && m1[1] === m2[1] && Math.abs(Number(m1[2]) - Number(m2[2])) <= 1 && m1[2] !== '-1' && m2[2] !== '-1';
      if (!clockTick) return `token ${JSON.stringify(at[j])} vs ${JSON.stringify(et[j])}${show}`;
    }
  }
  return undefined;
}
