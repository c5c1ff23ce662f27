export { L1Only, l1Only } from './l1-only.js';
