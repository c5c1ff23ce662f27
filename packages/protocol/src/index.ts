export * from './model.js';
export * from './errors.js';
export * from './handler.js';
export * from './codec.js';
export { ResponseWriter } from './writer.js';
