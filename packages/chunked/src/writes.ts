// Writes through a ChunkedHandler: set/add/replace/cas, append/prepend, delete and touch. A value of one chunk or
// less goes under the client's key as is; a larger one is written as chunks first and then switched in with a CAS on
// the item read, so the command's add/replace/cas condition and a concurrent writer's switch are both respected.
import { andThen, call, isPromise } from '@cleave/core';
import type {
  DeleteCommand,
  DeleteOutcome,
  ItemView,
  MaybePromise,
  StoreCommand,
  StoreFailure,
  StoreOutcome,
  TouchCommand,
  TouchOutcome,
} from '@cleave/protocol';
import { writeRetriesExhausted } from './errors.js';
import { parseChunkedHeader, type ChunkedHeader } from './header.js';
import { ESCAPE_BYTES, hasMarker, isEscaped, joinedHasMarker, unescape, unescapeOutcome } from './marker.js';
import type { ChunkedReads } from './reads.js';
import { smallVersion, type Version, type Versions } from './versions.js';

function noop(): void {}

export class ChunkedWrites {
  constructor(
    private readonly versions: Versions,
    private readonly reads: ChunkedReads,
  ) {}

  store(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const key = cmd.key;
    const value = cmd.value;
    const settings = this.versions.settings;
    if (settings.tooLarge(key.length, cmd.flags, value.length)) return this.tooLarge(cmd);
    const mode = cmd.mode;
    if (mode === 'append' || mode === 'prepend') return this.concat(cmd, 0);
    if (value.length <= settings.chunkSizeFor(key.length)) return this.storeSmall(cmd);
    return this.storeLarge(cmd);
  }

  /**
   * memcached refuses an item over `-I` and, where the command says so (set,
   * binary Set, every meta ms), drops the item it would have replaced so no
   * stale value outlives the failed write.
   */
  private tooLarge(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    if (cmd.unlinkOnFailure !== true) return 'TOO_LARGE';
    return andThen(this.deleteAttempt({ key: cmd.key, keyBinary: cmd.keyBinary }, 0), () => 'TOO_LARGE' as const);
  }

  private storeSmall(cmd: StoreCommand): MaybePromise<StoreOutcome> {
    const v = smallVersion(cmd.value, cmd.flags);
    const escaped = v.inner !== v.clientValue;
    // add never replaces anything, so it needs no look at the old item.
    if (!this.versions.settings.trackReplaced || cmd.mode === 'add') {
      const r = this.versions.inner.store(escaped ? { ...cmd, value: v.inner } : cmd);
      return escaped ? andThen(r, unescapeOutcome) : r;
    }
    return this.commit(cmd, v, this.versions.readMeta(cmd.key), 0);
  }

  private async storeLarge(cmd: StoreCommand): Promise<StoreOutcome> {
    const versions = this.versions;
    const key = cmd.key;
    let prefetched: MaybePromise<ItemView | undefined>;
    if (cmd.compareCas === undefined && cmd.mode === 'set') {
      // A plain set reads the current item while its chunks are written.
      prefetched = call(() => versions.readMeta(key));
      if (isPromise(prefetched)) prefetched.catch(noop);
    } else {
      // add/replace/cas fail often enough that the check comes before writing megabytes.
      const cur = await (cmd.mode === 'add' ? versions.inner.get({ key }) : versions.readMeta(key));
      if (cmd.compareCas !== undefined) {
        if (cur === undefined) return 'NOT_FOUND';
        if (cur.cas !== cmd.compareCas && cmd.invalidate !== true) return 'EXISTS';
      } else if (cmd.mode === 'add' ? cur !== undefined : cur === undefined) {
        return 'NOT_STORED';
      }
      prefetched = cur;
    }
    const v = await versions.writeChunks(key, cmd.value, cmd.flags, cmd.exptime);
    if (typeof v === 'string') return v;
    return versions.switching(key, v, () => this.commit(cmd, v, prefetched, 0));
  }

  /**
   * Point the client's key at version `v`: the command's add/replace/cas
   * check runs against the item read (`cur`), and the switch itself is a CAS
   * on that item, retried on conflicts where the command allows. Whatever
   * the switch replaced has its chunks deleted; a write that does not switch
   * deletes its own. The switch is the client's command with the version's
   * value, so every typed field of it (keyBinary, newCas, ...) reaches the
   * inner store.
   */
  private commit(cmd: StoreCommand, v: Version, cur: MaybePromise<ItemView | undefined>, attempt: number): MaybePromise<StoreOutcome> {
    const versions = this.versions;
    return andThen(cur, (c) => {
      const compareCas = cmd.compareCas;
      let sc: StoreCommand;
      let retry = true;
      if (compareCas !== undefined) {
        if (c === undefined) return versions.abandon(v, 'NOT_FOUND');
        // The client's CAS decides (the inner store runs memcached's rules, meta I included).
        sc = { ...cmd, mode: 'set', value: v.inner, flags: v.innerFlags };
        retry = false;
      } else if (cmd.mode === 'add') {
        if (c !== undefined) return versions.abandon(v, 'NOT_STORED');
        sc = { ...cmd, value: v.inner, flags: v.innerFlags };
        retry = false;
      } else if (c === undefined) {
        if (cmd.mode === 'replace') return versions.abandon(v, 'NOT_STORED');
        sc = { ...cmd, mode: 'add', value: v.inner, flags: v.innerFlags };
      } else {
        sc = { ...cmd, mode: 'set', value: v.inner, flags: v.innerFlags, compareCas: c.cas };
      }
      return andThen(versions.inner.store(sc), (r) => {
        if (typeof r !== 'string') return versions.stored(v, c, r);
        if (!retry || (r !== 'EXISTS' && r !== 'NOT_FOUND' && r !== 'NOT_STORED')) return versions.abandon(v, r);
        if (attempt >= versions.settings.maxWriteRetries) {
          if (v.header === undefined) versions.abandon(v, r);
          throw writeRetriesExhausted();
        }
        versions.counters.writeRetries++;
        return this.commit(cmd, v, versions.readMeta(sc.key), attempt + 1);
      });
    });
  }

  /**
   * append/prepend. A plain small item whose result stays small is left to
   * the inner store (CAS-guarded, so it cannot land on an item that turned
   * into metadata meanwhile). Anything else is read, joined and written as a
   * new version, switched with a CAS on the item read, and retried on
   * conflicts. The result keeps the old item's flags and exptime.
   */
  private concat(cmd: StoreCommand, attempt: number): MaybePromise<StoreOutcome> {
    const versions = this.versions;
    const settings = versions.settings;
    const key = cmd.key;
    return andThen(versions.readMeta(key), (c): MaybePromise<StoreOutcome> => {
      if (c === undefined) return 'NOT_STORED';
      const cc = cmd.compareCas;
      const clientCas = cc !== undefined && cc !== 0n;
      if (clientCas && cc !== c.cas) return 'EXISTS';
      const data = cmd.value;
      const append = cmd.mode === 'append';
      const cv = c.value;
      const h = hasMarker(cv) ? parseChunkedHeader(cv) : undefined;
      const escaped = h === undefined && isEscaped(cv);
      const oldLength = h !== undefined ? h.length : escaped ? cv.length - ESCAPE_BYTES : cv.length;
      const flags = h !== undefined ? h.flags : c.flags;
      const total = oldLength + data.length;
      // memcached answers NOT_STORED when the joined item cannot be allocated.
      if (settings.tooLarge(key.length, flags, total)) return 'NOT_STORED';
      const retry = (r: StoreOutcome): MaybePromise<StoreOutcome> => {
        if (clientCas) return r === 'NOT_FOUND' ? 'NOT_STORED' : r;
        if (attempt >= settings.maxWriteRetries) throw writeRetriesExhausted();
        versions.counters.writeRetries++;
        return this.concat(cmd, attempt + 1);
      };
      if (
        h === undefined &&
        !escaped &&
        total <= settings.chunkSizeFor(key.length) &&
        !(append ? joinedHasMarker(cv, data) : joinedHasMarker(data, cv))
      ) {
        return andThen(versions.inner.store({ ...cmd, compareCas: c.cas }), (r) =>
          typeof r === 'string' && (r === 'EXISTS' || r === 'NOT_FOUND' || r === 'NOT_STORED') ? retry(r) : r,
        );
      }
      return andThen(this.oldValue(c, h, escaped), (oldItem) => {
        // Gone (its chunks were lost), or replaced while its chunks were read.
        if (oldItem === undefined) return 'NOT_STORED';
        if (oldItem.cas !== c.cas) return retry('EXISTS');
        const old = oldItem.value;
        const joined = Buffer.allocUnsafe(total);
        if (append) {
          old.copy(joined, 0);
          data.copy(joined, old.length);
        } else {
          data.copy(joined, 0);
          old.copy(joined, data.length);
        }
        return this.rewrite(cmd, c, joined, flags, retry);
      });
    });
  }

  /**
   * The client's view of an item read under its key, assembled when chunked
   * (possibly of a newer version, if `c` was replaced meanwhile).
   */
  private oldValue(c: ItemView, h: ChunkedHeader | undefined, escaped: boolean): MaybePromise<ItemView | undefined> {
    if (h === undefined) return escaped ? unescape(c) : c;
    return this.reads.assemble({ key: c.key, noBump: true }, c, h, undefined);
  }

  /** Write `value` as the new version of the item `c`, keeping its exptime; switch with a CAS on `c`. */
  private rewrite(
    cmd: StoreCommand,
    c: ItemView,
    value: Buffer,
    flags: number,
    retry: (r: StoreOutcome) => MaybePromise<StoreOutcome>,
  ): MaybePromise<StoreOutcome> {
    const versions = this.versions;
    const key = cmd.key;
    // ItemView.exptime is absolute (or 0), which memcached takes as is.
    const exptime = c.exptime;
    const small = value.length <= versions.settings.chunkSizeFor(key.length);
    const version: MaybePromise<Version | StoreFailure> = small
      ? smallVersion(value, flags)
      : versions.writeChunks(key, value, flags, exptime);
    return andThen(version, (v) => {
      if (typeof v === 'string') return v;
      const sc: StoreCommand = {
        mode: 'set',
        key,
        keyBinary: cmd.keyBinary,
        value: v.inner,
        flags: v.innerFlags,
        exptime,
        compareCas: c.cas,
        newCas: cmd.newCas,
      };
      const stored = v.header === undefined ? versions.inner.store(sc) : versions.switching(key, v, () => versions.inner.store(sc));
      return andThen(stored, (r) => {
        if (typeof r !== 'string') return versions.stored(v, c, r);
        versions.abandon(v, r);
        if (r === 'EXISTS' || r === 'NOT_FOUND') return retry(r);
        return r;
      });
    });
  }

  /**
   * Delete the item under the key (CAS-guarded on the item read, so chunks
   * of an item written meanwhile are never orphaned), then its chunks. Meta
   * `md I` keeps the item stale: its chunks stay, and take its new exptime.
   */
  delete(cmd: DeleteCommand): MaybePromise<DeleteOutcome> {
    return this.deleteAttempt(cmd, 0);
  }

  private deleteAttempt(cmd: DeleteCommand, attempt: number): MaybePromise<DeleteOutcome> {
    const versions = this.versions;
    return andThen(versions.readMeta(cmd.key), (c) => {
      if (c === undefined) return 'NOT_FOUND';
      const cc = cmd.compareCas;
      return andThen(versions.inner.delete(cc !== undefined ? cmd : { ...cmd, compareCas: c.cas }), (r) => {
        if (r === 'DELETED') {
          if (cmd.invalidate !== true) versions.retire(c);
          else if (cmd.exptime !== undefined) return andThen(versions.touchChunks(c, cmd.exptime), () => r);
          return r;
        }
        if (r === 'EXISTS' && cc === undefined) {
          if (attempt >= versions.settings.maxWriteRetries) throw writeRetriesExhausted();
          versions.counters.writeRetries++;
          return this.deleteAttempt(cmd, attempt + 1);
        }
        return r;
      });
    });
  }

  /** Touch the item under the key (a gat, which tells whether it is chunked), then its chunks. */
  touch(cmd: TouchCommand): MaybePromise<TouchOutcome> {
    const versions = this.versions;
    return andThen(versions.inner.get({ key: cmd.key, keyBinary: cmd.keyBinary, touch: cmd.exptime }), (c) => {
      if (c === undefined) return 'NOT_FOUND';
      return andThen(versions.touchChunks(c, cmd.exptime), () => 'TOUCHED' as const);
    });
  }
}
