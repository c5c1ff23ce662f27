import { defineConfig } from 'vitest/config';
import projects from './vitest.workspace.js';

// vitest 3.2 reads projects from here; the list itself lives in vitest.workspace.ts.
export default defineConfig({
  test: {
    projects,
    // Tests start real memcached processes and servers; keep the 2-core machine from oversubscribing.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
