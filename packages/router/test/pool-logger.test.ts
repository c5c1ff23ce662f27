/**
 * The pool's logger option: a server taken out of service (ejected or down) and brought back is reported once per
 * change, however many commands fail or probes run meanwhile.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '@cleave/core';
import { InMemoryHandler } from '@cleave/handler-inmem';
import { BinaryStatus, HandlerError, type GetCommand, type Handler, type ItemView } from '@cleave/protocol';
import { pool, type Pool } from '../src/index.js';

const k = (s: string) => Buffer.from(s);
const down = new HandlerError('backend unavailable', 'BACKEND_CLOSED', BinaryStatus.ETMPFAIL);

/** In-memory storage whose gets and pings fail while `failing`. */
class Switchable extends InMemoryHandler implements Handler {
  failing = false;
  pings = 0;
  constructor() {
    super({ maxBytes: 8 << 20 });
  }
  override get(cmd: GetCommand): ItemView | undefined {
    if (this.failing) throw down;
    return super.get(cmd);
  }
  ping(): Promise<void> {
    this.pings++;
    return this.failing ? Promise.reject(down) : Promise.resolve();
  }
}

const pools: Pool[] = [];
afterEach(async () => {
  for (const p of pools.splice(0)) await p.close();
});

async function until(what: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

function recorder() {
  const lines: string[] = [];
  const fields: Array<Record<string, unknown>> = [];
  const at = (level: string) => (f: Record<string, unknown>, message: string) => {
    lines.push(`${level} ${message}`);
    fields.push(f);
  };
  const logger: Logger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { logger, lines, fields };
}

describe('pool logger', () => {
  for (const autoEjectHosts of [true, false]) {
    it(`auto_eject_hosts ${autoEjectHosts}: out of service once, back once`, async () => {
      const { logger, lines, fields } = recorder();
      const servers = [new Switchable(), new Switchable()];
      const p = pool({
        name: 'alpha',
        servers: servers.map((handler, i) => ({ handler, name: `s${i}`, label: `cache${i}:11211` })),
        serverFailureLimit: 2,
        serverRetryTimeoutMs: 30,
        probeIntervalMs: 10,
        autoEjectHosts,
        logger,
      });
      pools.push(p);
      let key = k('k0');
      for (let i = 0; p.serverFor(key)?.name !== 's0'; i++) key = k(`k${i}`);
      servers[0]!.failing = true;
      for (let i = 0; i < 2; i++) expect(() => p.get({ key })).toThrow(down);
      const state = autoEjectHosts ? 'ejected' : 'down';
      expect(p.members[0]!.state).toBe(state);
      // Commands and probes while it is out add nothing.
      for (let i = 0; i < 5; i++) {
        try {
          await p.get({ key });
        } catch {
          // down: fails at once
        }
      }
      await until(() => servers[0]!.pings >= 3);
      expect(lines).toEqual([
        autoEjectHosts
          ? 'warn server ejected from the ring (its keys go to the other servers)'
          : 'warn server down (its keys fail until it answers)',
      ]);
      expect(fields[0]).toEqual({ pool: 'alpha', server: 'cache0:11211' });
      servers[0]!.failing = false;
      await until(() => p.members[0]!.state === 'up');
      expect(lines).toHaveLength(2);
      expect(lines[1]).toBe('info server back in service');
      expect(fields[1]).toMatchObject({ pool: 'alpha', server: 'cache0:11211' });
      expect(fields[1]!.outMs).toBeGreaterThanOrEqual(0);
    });
  }
});
