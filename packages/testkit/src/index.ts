export * from './ports.js';
export * from './memcached.js';
export * from './raw-client.js';
export * from './compare.js';
export * from './memccapable.js';
export * from './differential-cases.js';
export * from './slow-relay.js';
export * from './reference-model.js';
