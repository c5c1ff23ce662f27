export { L1L2, l1l2, l1l2Batch, type L1L2Options } from './l1-l2.js';
