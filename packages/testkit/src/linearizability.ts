/**
 * A linearizability-style check of a cache under concurrent load, and the
 * load that records the history it checks.
 *
 * Register keys (set, get, gets + cas): every write stores a value no other
 * write uses, so a read names the write it saw. Each operation carries its
 * invocation time (taken before the request is written) and its response
 * time (taken once the reply is parsed), so its linearization point lies
 * between them. A read r that returned the value of write w is a violation
 * when:
 * - no write on r's key wrote that value, or w was invoked only after r had
 *   answered (a value from nowhere, or from the future);
 * - some other write w' on the key began after w had been acknowledged, and
 *   w' is known to have taken effect before r began: w' was acknowledged
 *   before r began, or another read that returned w' had answered before r
 *   began. Then w < w' < r in every linearization, and r cannot see w (stale).
 * A miss is a violation once any write on the key is known to have taken
 * effect before the read began (the load deletes nothing and fits in memory).
 * The rules are sound (a linearizable history never breaks them) but not
 * complete: they order two writes only when one was acknowledged before the
 * other began, so reads that disagree on the order of two overlapping writes
 * pass.
 *
 * Counter keys: `incr` by 1 from every connection must answer each value
 * from 1 to the number of increments exactly once and end there; gets + cas
 * increment loops must store each value from 1 to the number of successful
 * cas exactly once and end there (a lost update shows as a repeated value).
 */
import { RawClient } from './raw-client.js';

/** One operation on a register key: a write (set or successful cas) or a read (get, gets). */
export interface RegisterOp {
  key: string;
  kind: 'write' | 'read';
  /** The value written, or the value read (undefined: a miss). */
  value: string | undefined;
  /** Invocation time (process.hrtime.bigint()). */
  start: bigint;
  /** Response time; undefined when no reply came (the write may or may not have taken effect). */
  end: bigint | undefined;
  /** Who issued it, for messages. */
  client: number;
}

const NEVER = (1n << 63n) - 1n;

/** Every violation of the register rules above in `history`, as readable sentences (empty: none). */
export function checkRegisterHistory(history: readonly RegisterOp[]): string[] {
  const out: string[] = [];
  const byKey = new Map<string, RegisterOp[]>();
  for (const op of history) {
    const list = byKey.get(op.key);
    if (list) list.push(op);
    else byKey.set(op.key, [op]);
  }
  for (const [key, ops] of byKey) {
    const writes = new Map<string, RegisterOp>();
    for (const op of ops) {
      if (op.kind !== 'write') continue;
      if (op.value === undefined || writes.has(op.value))
        out.push(`${key}: two writes of ${JSON.stringify(op.value)}: values must be unique`);
      else writes.set(op.value, op);
    }
    // When each write is known to have taken effect: its acknowledgement, or the earliest answer of a read that saw it.
    const known = new Map<RegisterOp, bigint>();
    for (const w of writes.values()) known.set(w, w.end ?? NEVER);
    const reads = ops.filter((op) => op.kind === 'read');
    for (const r of reads) {
      const w = r.value === undefined ? undefined : writes.get(r.value);
      if (w !== undefined && r.end !== undefined && r.end < known.get(w)!) known.set(w, r.end);
    }
    // Writes by invocation time, with the least `known` among each write and all that began later.
    const sorted = [...writes.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    const suffixKnown: bigint[] = new Array(sorted.length + 1);
    const suffixWho: (RegisterOp | undefined)[] = new Array(sorted.length + 1);
    suffixKnown[sorted.length] = NEVER;
    for (let i = sorted.length - 1; i >= 0; i--) {
      const k = known.get(sorted[i]!)!;
      const later = suffixKnown[i + 1]!;
      suffixKnown[i] = k < later ? k : later;
      suffixWho[i] = k < later ? sorted[i] : suffixWho[i + 1];
    }
    /** The first write that began strictly after `t`. */
    const firstAfter = (t: bigint): number => {
      let lo = 0;
      let hi = sorted.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sorted[mid]!.start > t) hi = mid;
        else lo = mid + 1;
      }
      return lo;
    };
    for (const r of reads) {
      const at = `${key}: a read by client ${r.client}`;
      if (r.value === undefined) {
        if (suffixKnown[0]! < r.start) {
          out.push(`${at} missed, though ${describe(suffixWho[0]!)} had taken effect before the read began`);
        }
        continue;
      }
      const w = writes.get(r.value);
      if (w === undefined) {
        out.push(`${at} returned ${JSON.stringify(r.value)}, which no write on this key stored`);
        continue;
      }
      if (r.end !== undefined && w.start > r.end) {
        out.push(`${at} returned ${JSON.stringify(r.value)} before its write was sent`);
        continue;
      }
      if (w.end === undefined) continue;
      const i = firstAfter(w.end);
      if (suffixKnown[i]! < r.start) {
        out.push(
          `${at} returned ${JSON.stringify(r.value)} (stale): ${describe(suffixWho[i]!)} began after that write was acknowledged and took effect before the read began`,
        );
      }
    }
  }
  return out;
}

function describe(w: RegisterOp): string {
  return `the write of ${JSON.stringify(w.value)} by client ${w.client}`;
}

/**
 * The counter rules: `answers` are the values the increments (or successful
 * cas) produced, `final` the value read after the load. Each of 1..n must
 * occur exactly once, n = answers.length, and `final` must be n.
 */
export function checkCounter(name: string, answers: readonly bigint[], final: bigint | undefined): string[] {
  const out: string[] = [];
  const n = BigInt(answers.length);
  const seen = new Set<bigint>();
  for (const a of answers) {
    if (a < 1n || a > n) out.push(`${name}: answered ${a}, outside 1..${n}`);
    else if (seen.has(a)) out.push(`${name}: ${a} produced twice (an update was lost)`);
    seen.add(a);
  }
  if (final !== n) out.push(`${name}: ends at ${final}, after ${n} successful updates`);
  return out;
}

export interface ConcurrentLoadOptions {
  port: number;
  host?: string;
  /** Client connections (default 16), each issuing one request at a time. */
  connections?: number;
  /** Register keys (default 8) shared by every connection. */
  keys?: number;
  /** How long the load runs (default 3000 ms). */
  durationMs?: number;
  /** Seeds the choice of operations (default 1). */
  seed?: number;
  /** Prefix of every key (default `lin`), so runs against one server do not meet. */
  prefix?: string;
  /** Called with the connections' local ports once all are open, before the load starts (e.g. to see where they landed). */
  onConnected?: (localPorts: number[]) => Promise<void> | void;
}

export interface ConcurrentLoadResult {
  history: RegisterOp[];
  /** Values `incr` answered, per counter key. */
  increments: Map<string, bigint[]>;
  /** Values successful cas stored, per cas-loop key. */
  casStores: Map<string, bigint[]>;
  /** Values the counter keys hold after the load. */
  finals: Map<string, bigint | undefined>;
  /** Operations by kind, for the test's own floor on how much ran. */
  counts: { sets: number; gets: number; casStored: number; casExists: number; incrs: number };
  /** Every rule broken (empty: the history is linearizable as far as these rules see). */
  violations: string[];
}

/** One connection issuing one request at a time and parsing its reply. */
class Conn {
  constructor(readonly c: RawClient) {}

  private async line(): Promise<string> {
    const ok = await this.c.waitFor((b) => b.indexOf('\r\n') >= 0, 10_000);
    if (!ok) throw new Error(`no reply line (closed: ${this.c.closed})`);
    const b = this.c.received;
    const end = b.indexOf('\r\n');
    return (await this.c.read(end + 2)).toString('latin1', 0, end);
  }

  async simple(req: string): Promise<string> {
    this.c.write(req);
    return this.line();
  }

  /** `gets key`: the value and its cas unique, or undefined on a miss. */
  async gets(key: string): Promise<{ value: string; cas: bigint } | undefined> {
    this.c.write(`gets ${key}\r\n`);
    const l = await this.line();
    if (l === 'END') return undefined;
    const t = l.split(' ');
    if (t[0] !== 'VALUE' || t[1] !== key) throw new Error(`gets ${key}: ${l}`);
    const n = Number(t[3]);
    const data = await this.c.read(n + 2, 10_000);
    const value = data.toString('latin1', 0, n);
    const endLine = await this.line();
    if (endLine !== 'END') throw new Error(`gets ${key}: ${endLine} after the value`);
    return { value, cas: BigInt(t[4]!) };
  }
}

/** A small deterministic generator (xorshift32), so a run's mix of operations is reproducible. */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}

/**
 * Run the mixed load (set, get, gets + cas on register keys; incr and gets +
 * cas increment loops on counter keys) from many connections at once, record
 * every operation's invocation and response times, and check the history.
 * A request that fails or goes unanswered rejects: a correct server answers all.
 */
export async function runConcurrentLoad(options: ConcurrentLoadOptions): Promise<ConcurrentLoadResult> {
  const connections = options.connections ?? 16;
  const keyCount = options.keys ?? 8;
  const prefix = options.prefix ?? 'lin';
  const registers = Array.from({ length: keyCount }, (_, i) => `${prefix}:r${i}`);
  const incrKeys = [`${prefix}:incr0`, `${prefix}:incr1`];
  const casKeys = [`${prefix}:cas0`, `${prefix}:cas1`];
  const target = { port: options.port, host: options.host };
  const conns = await Promise.all(Array.from({ length: connections }, async () => new Conn(await RawClient.connect(target))));
  const history: RegisterOp[] = [];
  const increments = new Map<string, bigint[]>(incrKeys.map((k) => [k, []]));
  const casStores = new Map<string, bigint[]>(casKeys.map((k) => [k, []]));
  const counts = { sets: 0, gets: 0, casStored: 0, casExists: 0, incrs: 0 };
  const now = () => process.hrtime.bigint();
  try {
    await options.onConnected?.(conns.map((c) => c.c.localPort!));
    const setup = conns[0]!;
    for (const k of registers) {
      const l = await setup.simple(`delete ${k}\r\n`);
      if (l !== 'DELETED' && l !== 'NOT_FOUND') throw new Error(`delete ${k}: ${l}`);
    }
    for (const k of [...incrKeys, ...casKeys]) {
      const l = await setup.simple(`set ${k} 0 0 1\r\n0\r\n`);
      if (l !== 'STORED') throw new Error(`set ${k}: ${l}`);
    }
    const stopAt = Date.now() + (options.durationMs ?? 3000);
    await Promise.all(
      conns.map(async (conn, client) => {
        const rnd = random((options.seed ?? 1) * 7919 + client + 1);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
        let seq = 0;
        while (Date.now() < stopAt) {
          const p = rnd();
          if (p < 0.3) {
            const key = pick(registers);
            const value = `c${client}-${seq++}`;
            const start = now();
            const l = await conn.simple(`set ${key} 0 0 ${value.length}\r\n${value}\r\n`);
            if (l !== 'STORED') throw new Error(`set ${key}: ${l}`);
            history.push({ key, kind: 'write', value, start, end: now(), client });
            counts.sets++;
          } else if (p < 0.65) {
            const key = pick(registers);
            const start = now();
            const got = await conn.gets(key);
            history.push({ key, kind: 'read', value: got?.value, start, end: now(), client });
            counts.gets++;
          } else if (p < 0.8) {
            // Read-modify-write of a register: gets, then cas a fresh value against what it read.
            const key = pick(registers);
            let start = now();
            const got = await conn.gets(key);
            history.push({ key, kind: 'read', value: got?.value, start, end: now(), client });
            counts.gets++;
            if (got === undefined) continue;
            const value = `c${client}-${seq++}`;
            start = now();
            const l = await conn.simple(`cas ${key} 0 0 ${value.length} ${got.cas}\r\n${value}\r\n`);
            if (l === 'STORED') {
              history.push({ key, kind: 'write', value, start, end: now(), client });
              counts.casStored++;
            } else if (l === 'EXISTS') counts.casExists++;
            else throw new Error(`cas ${key}: ${l}`);
          } else if (p < 0.9) {
            const key = pick(incrKeys);
            const l = await conn.simple(`incr ${key} 1\r\n`);
            if (!/^\d+$/.test(l)) throw new Error(`incr ${key}: ${l}`);
            increments.get(key)!.push(BigInt(l));
            counts.incrs++;
          } else {
            // One attempt of a cas increment loop.
            const key = pick(casKeys);
            const got = await conn.gets(key);
            if (got === undefined) throw new Error(`gets ${key}: miss`);
            const next = String(BigInt(got.value.trim()) + 1n);
            const l = await conn.simple(`cas ${key} 0 0 ${next.length} ${got.cas}\r\n${next}\r\n`);
            if (l === 'STORED') casStores.get(key)!.push(BigInt(next));
            else if (l !== 'EXISTS') throw new Error(`cas ${key}: ${l}`);
          }
        }
      }),
    );
    const finals = new Map<string, bigint | undefined>();
    for (const k of [...incrKeys, ...casKeys]) {
      const got = await setup.gets(k);
      finals.set(k, got === undefined ? undefined : BigInt(got.value.trim()));
    }
    const violations = checkRegisterHistory(history);
    for (const k of incrKeys) violations.push(...checkCounter(`incr ${k}`, increments.get(k)!, finals.get(k)));
    for (const k of casKeys) violations.push(...checkCounter(`cas loop ${k}`, casStores.get(k)!, finals.get(k)));
    return { history, increments, casStores, finals, counts, violations };
  } finally {
    for (const c of conns) c.c.close();
  }
}
