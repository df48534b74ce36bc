// Shared vitest settings: every package's vitest.config.ts spreads this.
// The `source` export condition makes workspace packages resolve to their TypeScript sources,
// so tests run without a prior build (the build still runs in CI through turbo).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['source', 'import', 'module', 'node', 'default'] },
  ssr: { resolve: { conditions: ['source', 'import', 'node', 'default'], externalConditions: ['node'] } },
  test: {
    include: ['src/**/*.test.ts', '*.test.ts'],
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    testTimeout: 300_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
