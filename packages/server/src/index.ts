export { listenAndServe, type Server, type BoundAddress } from './server.js';
export {
  DEFAULT_SERVER_LIMITS,
  DEFAULT_VERSION,
  type HandlerFactory,
  type HandlerModule,
  type ListenTarget,
  type ServerLimits,
  type ServerOptions,
  type ThreadInfo,
} from './options.js';
export type { ServerCounters } from './stats.js';
export { ServerMetrics, COMMAND_KINDS, LATENCY_BUCKETS } from './metrics.js';
export type { ShutdownMode } from './admin.js';
export { parseAuthFile, AuthFileError, type AuthOptions, type AuthUsers } from './auth.js';
export { DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, type TlsOptions, type Pem } from './tls.js';
