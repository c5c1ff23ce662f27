// One server of a pool: its Handler, its health (consecutive failures, down or ejected, the probe that brings it back) and
// its counters. The pool asks a member for its keys' commands and tells it how each ended.
import { HandlerError, BinaryStatus, absoluteExptime, type Handler, type HandlerErrorCode, type MaybePromise } from '@cleave/protocol';
import { isPromise } from '@cleave/core';

/** A member's health, as the pool routes by it. */
export type MemberState = 'up' | 'down' | 'ejected';

/** Per-server figures (nutcracker's per-server stats). */
export class MemberCounters {
  /** Commands sent to this server (a multi-get's keys count one each). */
  requests = 0;
  /** Commands it answered: hits, misses, NOT_STORED, its own SERVER_ERRORs ... */
  responses = 0;
  /** Commands that failed because the server failed (nutcracker's server_err). */
  errors = 0;
  /** Of those, the server did not answer in time (server_timedout). */
  timeouts = 0;
  /** Of those, the connection closed under them (server_eof). */
  eof = 0;
}

/** What a pool member exposes to stats and to whoever watches the pool. */
export interface PoolMember {
  /** The ketama name. */
  readonly name: string;
  /** How stats and logs name the server. */
  readonly label: string;
  readonly weight: number;
  readonly handler: Handler;
  /**
   * `up`; `down`: failed `serverFailureLimit` times in a row and kept in the
   * ring, its keys fail at once until a probe succeeds; `ejected`: out of
   * the ring (auto_eject_hosts), its keys go to the other servers.
   */
  readonly state: MemberState;
  /** When the server was last taken out of service (ms since the epoch); 0 never. */
  readonly ejectedAt: number;
  readonly counters: MemberCounters;
}

/**
 * Failures that say the server itself is unhealthy: down, refusing, silent,
 * cut off, or speaking garbage. Its own SERVER_ERROR replies, a key it
 * cannot take, or a full queue on our side say nothing of its health.
 */
const SERVER_FAILURES: ReadonlySet<HandlerErrorCode> = new Set<HandlerErrorCode>([
  'BACKEND_UNAVAILABLE',
  'BACKEND_REFUSED',
  'BACKEND_TIMEOUT',
  'BACKEND_CONNECT_TIMEOUT',
  'BACKEND_CLOSED',
  'BACKEND_DESYNC',
]);

/** Whether `err` means the server failed (and counts towards taking it out of service). */
export function isServerFailure(err: unknown): boolean {
  return err instanceof HandlerError && SERVER_FAILURES.has(err.code);
}

/** What a command to a server taken out of service fails with, at once: the same words as a backend that is down. */
export const serverDown = new HandlerError('backend unavailable', 'BACKEND_UNAVAILABLE', BinaryStatus.ETMPFAIL);

/** Health rules a member follows, from the pool's options. */
export interface HealthRules {
  readonly autoEject: boolean;
  readonly failureLimit: number;
  readonly retryTimeoutMs: number;
  readonly probeIntervalMs: number;
}

/** What a member tells its pool. */
export interface MemberEvents {
  /** The member left or rejoined the ring (auto_eject_hosts): rebuild placement. */
  ringChanged(): void;
  /** `n` commands failed because their server did (nutcracker's forward_error). */
  forwardErrors(n: number): void;
  /** A server was ejected (nutcracker's server_ejects). */
  ejected(): void;
  /** A member changed state (out of service, back in). */
  stateChanged(member: PoolMember): void;
}

export class Member implements PoolMember {
  state: MemberState = 'up';
  ejectedAt = 0;
  readonly counters = new MemberCounters();
  /** Server failures since the last answer. */
  private failures = 0;
  private probeTimer: ReturnType<typeof setTimeout> | undefined = undefined;
  private probing = false;
  private closed = false;
  /**
   * flush_all calls this member missed while ejected: the earliest and the
   * latest time (Unix seconds) they took effect; 0 none. It is flushed so
   * before it rejoins, so no item older than a flush the client was told
   * succeeded comes back.
   */
  private missedFlushFirst = 0;
  private missedFlushLast = 0;

  constructor(
    readonly handler: Handler,
    readonly name: string,
    readonly label: string,
    readonly weight: number,
    private readonly rules: HealthRules,
    private readonly events: MemberEvents,
  ) {}

  /** Taking commands: not down (an ejected member gets none: it is out of the ring). */
  get serving(): boolean {
    return this.state === 'up';
  }

  /**
   * A command's outcome, passed through: the server answered. Bound once
   * per member, so an async command costs one `then` and no closure.
   */
  readonly answered = <T>(v: T): T => {
    this.counters.responses++;
    this.failures = 0;
    return v;
  };

  /** A command's outcome as the pool passes it on, counted when it settles. */
  outcome<T>(r: MaybePromise<T>): MaybePromise<T> {
    return isPromise(r) ? r.then(this.answered, this.failed) : this.answered(r);
  }

  /** `n` commands answered at once (a multi-get's keys on this server). */
  answeredMany(n: number): void {
    this.counters.responses += n;
    this.failures = 0;
  }

  /** A command failed: count it against the server when the server failed, and pass the error on. */
  readonly failed = (err: unknown): never => {
    this.fail(err, 1);
    throw err;
  };

  /** `n` commands failed with `err`. */
  fail(err: unknown, n: number): void {
    if (!isServerFailure(err)) {
      // The server answered (with an error of its own), or the failure was ours.
      if (err instanceof HandlerError && err.code === 'BACKEND_ERROR') this.answeredMany(n);
      return;
    }
    const c = this.counters;
    c.errors += n;
    const code = (err as HandlerError).code;
    if (code === 'BACKEND_TIMEOUT' || code === 'BACKEND_CONNECT_TIMEOUT') c.timeouts += n;
    else if (code === 'BACKEND_CLOSED') c.eof += n;
    this.events.forwardErrors(n);
    if (++this.failures >= this.rules.failureLimit && this.state === 'up') this.takeOut();
  }

  /**
   * Out of service after failureLimit failures in a row: ejected from the
   * ring (auto_eject_hosts: its keys move to the other servers) or down (its
   * keys stay and fail at once). Either way a background probe, not a
   * client's request, tells when it is back.
   */
  private takeOut(): void {
    this.ejectedAt = Date.now();
    if (this.rules.autoEject) {
      this.state = 'ejected';
      this.events.ejected();
      this.events.ringChanged();
    } else {
      this.state = 'down';
    }
    this.events.stateChanged(this);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    if (this.closed || this.probeTimer !== undefined) return;
    this.probeTimer = setTimeout(this.probe, this.rules.probeIntervalMs);
    this.probeTimer.unref();
  }

  /**
   * One health check: the handler's `ping` (a `mn` round trip for a
   * memcached). An ejected server rejoins no sooner than server_retry_timeout
   * after it was ejected; a down one as soon as it answers. A handler with
   * no `ping` is taken back when the retry timeout has passed, and live
   * traffic tells again (nutcracker's own rule).
   */
  private readonly probe = (): void => {
    this.probeTimer = undefined;
    if (this.closed || this.state === 'up' || this.probing) return;
    const ping = this.handler.ping;
    if (ping === undefined) {
      if (Date.now() - this.ejectedAt >= this.rules.retryTimeoutMs) this.probed(true);
      else this.scheduleProbe();
      return;
    }
    this.probing = true;
    let r: unknown;
    try {
      r = ping.call(this.handler);
    } catch {
      this.probed(false);
      return;
    }
    if (isPromise(r)) r.then(this.probeOk, this.probeFailed);
    else this.probed(true);
  };

  private readonly probeOk = (): void => this.probed(true);
  private readonly probeFailed = (): void => this.probed(false);

  private probed(ok: boolean): void {
    this.probing = false;
    if (this.closed || this.state === 'up') return;
    if (!ok || (this.state === 'ejected' && Date.now() - this.ejectedAt < this.rules.retryTimeoutMs)) {
      this.scheduleProbe();
      return;
    }
    if (this.missedFlushFirst === 0) {
      this.bringBack();
      return;
    }
    this.probing = true;
    this.catchUp().then(this.caughtUp, this.probeFailed);
  }

  private readonly caughtUp = (): void => {
    this.probing = false;
    if (this.closed || this.state === 'up') return;
    if (this.missedFlushFirst === 0) this.bringBack();
    else this.scheduleProbe();
  };

  /** A flush_all (wire delay form) went to the ring while this member was out of it. */
  missFlush(delay: number): void {
    const now = Math.floor(Date.now() / 1000);
    const at = delay <= 0 ? now : absoluteExptime(delay, now);
    if (this.missedFlushFirst === 0 || at < this.missedFlushFirst) this.missedFlushFirst = at;
    if (at > this.missedFlushLast) this.missedFlushLast = at;
  }

  /**
   * Apply the flush_all calls missed while ejected: one now for those already
   * due, one with the remaining delay for the latest still ahead. Settles
   * when the member has taken them.
   */
  private catchUp(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const first = this.missedFlushFirst;
    const last = this.missedFlushLast;
    const h = this.handler;
    const due = first <= now ? Promise.resolve().then(() => h.flush(0)) : Promise.resolve();
    return due
      .then(() => (last > now ? h.flush(last - now) : undefined))
      .then(() => {
        // Flushes missed while these ran are caught up on the next try.
        if (this.missedFlushFirst === first && this.missedFlushLast === last) this.missedFlushFirst = this.missedFlushLast = 0;
      });
  }

  private bringBack(): void {
    const wasEjected = this.state === 'ejected';
    this.state = 'up';
    this.failures = 0;
    if (wasEjected) this.events.ringChanged();
    this.events.stateChanged(this);
  }

  close(): void {
    this.closed = true;
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }
}
