export { listenAndServe, type Server, type BoundAddress } from './server.js';
export {
  DEFAULT_SERVER_LIMITS,
  DEFAULT_VERSION,
  type ListenTarget,
  type ServerLimits,
  type ServerOptions,
} from './options.js';
export type { ServerCounters } from './stats.js';
