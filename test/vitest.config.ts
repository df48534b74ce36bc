import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../vitest.base.ts';
// End-to-end sweeps train real models (two test files at a time on a 2-core machine): 10 minutes a test.
export default mergeConfig(
  base,
  defineConfig({ test: { include: ['**/*.test.ts'], exclude: ['**/node_modules/**'], testTimeout: 600_000, hookTimeout: 600_000 } }),
);
