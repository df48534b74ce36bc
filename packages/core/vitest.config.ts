import { defineConfig, mergeConfig } from 'vitest/config';
import base from '../../vitest.base.ts';

// native/ holds the install-time setup (plain ES modules) and its tests.
export default mergeConfig(base, defineConfig({ test: { include: ['src/**/*.test.ts', 'native/**/*.test.ts'] } }));
