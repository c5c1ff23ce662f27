import type { ProtocolError } from './errors.js';
import type { StatValue } from './handler.js';
import type {
  AdminRequest,
  ArithmeticOutcome,
  ArithmeticRequest,
  DeleteOutcome,
  DeleteRequest,
  FlushRequest,
  GetRequest,
  ItemView,
  MultiGetRequest,
  Request,
  RequestBase,
  SaslRequest,
  StatsRequest,
  StoreOutcome,
  StoreRequest,
  TouchOutcome,
  TouchRequest,
  VerbosityRequest,
} from './model.js';
import type { ResponseWriter } from './writer.js';

/** Limits a parser enforces; defaults are memcached 1.6's. */
export interface ParserLimits {
  /** Longest key in bytes (memcached: 250). */
  maxKeyLength: number;
  /** Largest item value in bytes (memcached `-I`, default 1 MiB). */
  maxItemSize: number;
  /**
   * Longest text command line other than a retrieval (memcached closes the
   * connection when 2048 bytes arrive without a newline).
   */
  maxLineLength: number;
  /** Longest retrieval (get/gets/gat/gats) line: bounds a multi-get's key list. */
  maxMultiGetLineLength: number;
  /** Most keys in one multi-get line. */
  maxKeysPerGet: number;
}

export const DEFAULT_LIMITS: Readonly<ParserLimits> = Object.freeze({
  maxKeyLength: 250,
  maxItemSize: 1024 * 1024,
  maxLineLength: 2048,
  maxMultiGetLineLength: 1024 * 1024,
  maxKeysPerGet: 100_000,
});

/**
 * An incremental request parser for one connection. Feed it chunks of any
 * size; it appends every complete request to `out` and keeps only the
 * unfinished tail (copying nothing it has already consumed).
 */
export interface RequestParser {
  /**
   * Consume `chunk`, appending complete requests to `out`. A malformed
   * request that leaves the stream in sync becomes an `ErrorRequest` in
   * order; one that does not is thrown as a fatal `ProtocolError` after the
   * requests before it have been appended.
   */
  feed(chunk: Buffer, out: Request[]): void;
  /** Bytes held for an incomplete request. */
  readonly buffered: number;
  /**
   * Stop referencing the chunks fed so far where that is cheap (an unfinished
   * line is copied). Returns false while views of them must stay (a request
   * waiting for its data block holds its key): until then the caller must not
   * overwrite those chunks. A caller that reuses its read buffer asks this
   * before each reuse.
   */
  release(): boolean;
}

/**
 * Turns outcomes into reply bytes for one protocol. Every method appends to
 * the writer (or nothing, for quiet requests that succeeded).
 */
export interface ResponseEncoder {
  /** Single-key retrieval (text get with one key, binary Get and GAT families, meta mg/me). */
  get(w: ResponseWriter, req: GetRequest, item: ItemView | undefined): void;
  /** One hit of a text multi-key retrieval. */
  mgetItem(w: ResponseWriter, req: MultiGetRequest, item: ItemView): void;
  /** The END after a text multi-key retrieval. */
  mgetEnd(w: ResponseWriter, req: MultiGetRequest): void;
  store(w: ResponseWriter, req: StoreRequest, outcome: StoreOutcome): void;
  delete(w: ResponseWriter, req: DeleteRequest, outcome: DeleteOutcome): void;
  arithmetic(w: ResponseWriter, req: ArithmeticRequest, outcome: ArithmeticOutcome): void;
  touch(w: ResponseWriter, req: TouchRequest, outcome: TouchOutcome): void;
  flush(w: ResponseWriter, req: FlushRequest): void;
  version(w: ResponseWriter, req: RequestBase, version: string): void;
  verbosity(w: ResponseWriter, req: VerbosityRequest): void;
  /** Binary Noop, meta mn. */
  noop(w: ResponseWriter, req: RequestBase): void;
  /** Binary Quit (non-quiet) answers before closing; text quit answers nothing. */
  quit(w: ResponseWriter, req: RequestBase): void;
  /** `stats` and its groups; `entries` undefined = unknown group. */
  stats(w: ResponseWriter, req: StatsRequest, entries: Iterable<readonly [string, StatValue]> | undefined): void;
  /** An admin command's whole reply, as its handler (or the server) wrote it; nothing when quiet. */
  admin(w: ResponseWriter, req: AdminRequest, reply: Buffer): void;
  /** SASL requests: `mechanisms` lists what is offered ('' when auth is off). */
  sasl(w: ResponseWriter, req: SaslRequest, ok: boolean, payload: string): void;
  /** A request the parser rejected but could resynchronise after. */
  protocolError(w: ResponseWriter, req: Request, err: ProtocolError): void;
  /** A handler failure: `SERVER_ERROR <message>` or the binary status. */
  serverError(w: ResponseWriter, req: Request, message: string, status: number): void;
}
