// memproxy --routes FILE: the file's route tree served behind a Reloadable, and reloaded on SIGHUP or when the
// file changes. A reload reads and checks the whole file first: a mistake leaves the old tree serving and the log
// says why (the file and the path of the mistake); a good file's tree takes new commands at once, the old tree
// finishes what it had, then its pools' probes stop and the servers only it used are closed. Reloads run one at a
// time; a change while one runs is read after it.

import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from '@cleave/core';
import { Reloadable } from '@cleave/router';
import { Backends, buildRoutes, poolChanges, ReloadCounters, type BackendOptions, type RouteTree } from './build.js';
import { readRoutes, RoutesError, type RoutesSpec } from './schema.js';

/** How long a change to the file must rest before it is read (editors write in several steps). */
const SETTLE_MS = 100;

/** Read and check the file; throws RoutesError whose problems each start with `--routes FILE: `. */
export function loadRoutes(file: string): { spec: RoutesSpec; text: string } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new RoutesError([`--routes ${file}: cannot read it: ${err.code === 'ENOENT' ? 'no such file' : err.message}`]);
  }
  try {
    return { spec: readRoutes(text), text };
  } catch (e) {
    if (e instanceof RoutesError) throw new RoutesError(e.problems.map((p) => `--routes ${file}: ${p}`));
    throw e;
  }
}

/** A summary of a tree for the log: "2 pools (A: 3 servers, B: 1 server), root FailoverRoute". */
export function describeRoutes(spec: RoutesSpec): string {
  const pools = [...spec.pools.values()].map((p) => `${p.name}: ${p.servers.length} server${p.servers.length === 1 ? '' : 's'}`);
  return `${pools.length} pool${pools.length === 1 ? '' : 's'} (${pools.join(', ')}), root ${spec.route.type}`;
}

export interface RoutesOptions extends BackendOptions {
  /** How often a pool probes a server out of service, ms. */
  probeIntervalMs?: number;
  logger: Logger;
}

export class RoutesService {
  readonly handler: Reloadable;
  private readonly backends: Backends;
  private tree: RouteTree;
  private spec: RoutesSpec;
  private text: string;
  private watcher: FSWatcher | undefined;
  private settle: NodeJS.Timeout | undefined;
  /** The reload running, and whether another was asked for meanwhile. */
  private running: Promise<void> | undefined;
  private again: string | undefined;
  readonly counters = new ReloadCounters();

  constructor(
    readonly file: string,
    loaded: { spec: RoutesSpec; text: string },
    private readonly options: RoutesOptions,
  ) {
    this.backends = new Backends(options);
    this.spec = loaded.spec;
    this.text = loaded.text;
    this.tree = this.build(loaded.spec);
    this.handler = new Reloadable(this.tree);
    for (const w of loaded.spec.warnings) options.logger.warn({ routes: file }, `--routes ${file}: ${w}`);
  }

  private build(spec: RoutesSpec): RouteTree {
    return buildRoutes(spec, this.backends, {
      logger: this.options.logger,
      reloads: this.counters,
      ...(this.options.probeIntervalMs !== undefined && { probeIntervalMs: this.options.probeIntervalMs }),
    });
  }

  /** The servers' handlers now (for metrics). */
  get servers() {
    return this.backends.handlers;
  }

  /** Reload when the file changes: its directory is watched, since editors replace the file rather than write it. */
  watch(): void {
    const name = basename(this.file);
    try {
      this.watcher = watch(dirname(this.file), (_event, changed) => {
        if (changed !== null && changed !== name) return;
        clearTimeout(this.settle);
        this.settle = setTimeout(() => this.reload('file changed'), SETTLE_MS);
      });
      this.watcher.on('error', (err) =>
        this.options.logger.warn({ err }, `--routes ${this.file}: cannot watch it any more (${err.message}); SIGHUP still reloads it`),
      );
    } catch (e) {
      this.options.logger.warn({}, `--routes ${this.file}: cannot watch it (${(e as Error).message}); SIGHUP reloads it`);
    }
  }

  /** Read the file again and serve its tree; `why` is logged (SIGHUP, file changed). Resolves when done. */
  reload(why: string): Promise<void> {
    if (this.running !== undefined) {
      this.again = why;
      return this.running;
    }
    this.running = this.reloadOnce(why).finally(() => {
      this.running = undefined;
      const next = this.again;
      this.again = undefined;
      if (next !== undefined) void this.reload(next);
    });
    return this.running;
  }

  private async reloadOnce(why: string): Promise<void> {
    const log = this.options.logger;
    let loaded: { spec: RoutesSpec; text: string };
    let next: RouteTree;
    try {
      loaded = loadRoutes(this.file);
      // The text served already (several change events for one write; a SIGHUP after the change was seen): nothing to do.
      if (loaded.text === this.text) {
        if (why !== 'file changed') log.info({ routes: this.file }, `routes not reloaded (${why}): ${this.file} is as already served`);
        return;
      }
      next = this.build(loaded.spec);
    } catch (e) {
      this.counters.reloadFailures++;
      const problems = e instanceof RoutesError ? e.problems : [`--routes ${this.file}: ${(e as Error).message}`];
      log.error({ routes: this.file, problems }, `routes not reloaded (${why}): ${problems.join('; ')}; still serving the previous routes`);
      // Servers the failed tree made and nothing uses are let go.
      await this.backends.retain([this.tree]);
      return;
    }
    for (const w of loaded.spec.warnings) log.warn({ routes: this.file }, `--routes ${this.file}: ${w}`);
    const changes = poolChanges(this.spec, loaded.spec);
    const old = this.tree;
    this.tree = next;
    this.spec = loaded.spec;
    this.text = loaded.text;
    await this.handler.swap(next);
    // The old tree's commands have settled: stop its probes, close the servers only it used.
    await old.close();
    await this.backends.retain([next]);
    this.counters.reloads++;
    const list = (names: string[]) => (names.length === 0 ? 'none' : names.join(', '));
    log.info(
      { routes: this.file, added: changes.added, removed: changes.removed, changed: changes.changed },
      `routes reloaded from ${this.file} (${why}): pools added: ${list(changes.added)}; removed: ${list(changes.removed)}; ` +
        `changed: ${list(changes.changed)}; now ${describeRoutes(loaded.spec)}`,
    );
  }

  /** Stop watching; after the listeners closed (which closed the tree), close every server. */
  async close(): Promise<void> {
    this.watcher?.close();
    clearTimeout(this.settle);
    await this.running;
    await this.handler.close();
    await this.backends.closeAll();
  }
}
