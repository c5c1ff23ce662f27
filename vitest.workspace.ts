import { fileURLToPath } from 'node:url';
import type { TestProjectConfiguration } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** Tests import sibling packages from their sources, so a change is tested without a rebuild. */
const alias = {
  '@cleave/protocol': here('./packages/protocol/src/index.ts'),
  '@cleave/core': here('./packages/core/src/index.ts'),
  '@cleave/server': here('./packages/server/src/index.ts'),
  '@cleave/tiers': here('./packages/tiers/src/index.ts'),
  '@cleave/handler-inmem': here('./packages/handler-inmem/src/index.ts'),
  '@cleave/handler-lmdb': here('./packages/handler-lmdb/src/index.ts'),
  '@cleave/handler-memcached': here('./packages/handler-memcached/src/index.ts'),
  '@cleave/chunked': here('./packages/chunked/src/index.ts'),
  '@cleave/loadgen': here('./packages/loadgen/src/index.ts'),
  '@cleave/testkit': here('./packages/testkit/src/index.ts'),
  '@cleave/router': here('./packages/router/src/index.ts'),
};

const project = (name: string, dir: string, extra: { testTimeout?: number } = {}): TestProjectConfiguration => ({
  resolve: { alias },
  test: {
    name,
    root: here(dir),
    include: [dir === './examples' ? '*/test/**/*.test.ts' : 'test/**/*.test.ts'],
    testTimeout: extra.testTimeout ?? 20_000,
    hookTimeout: 30_000,
    // Overwrite reused read buffers before each reuse, so a view kept past its request shows at once (server/src/read-buffer.ts).
    env: { CLEAVE_POISON_READ_BUFFERS: '1' },
  },
});

/** One test project per package; vitest.config.ts hands this list to vitest. */
export default [
  project('protocol', './packages/protocol'),
  project('core', './packages/core'),
  project('handler-inmem', './packages/handler-inmem'),
  project('handler-lmdb', './packages/handler-lmdb', { testTimeout: 60_000 }),
  project('tiers', './packages/tiers'),
  project('handler-memcached', './packages/handler-memcached', { testTimeout: 60_000 }),
  project('chunked', './packages/chunked', { testTimeout: 60_000 }),
  project('loadgen', './packages/loadgen', { testTimeout: 60_000 }),
  project('server', './packages/server', { testTimeout: 60_000 }),
  project('testkit', './packages/testkit'),
  project('router', './packages/router', { testTimeout: 60_000 }),
  project('examples', './examples', { testTimeout: 120_000 }),
  project('pack', './scripts/pack', { testTimeout: 120_000 }),
  project('start', './scripts', { testTimeout: 180_000 }),
] satisfies TestProjectConfiguration[];
