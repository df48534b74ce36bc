/**
 * The backend matrix of the parity tests: `testBackends()` lists the backends a test file runs its
 * cases on (cpu, wasm and node by default) that can run here. A backend that cannot (node without
 * TensorFlow's C library) is never dropped silently: the file gets a test named after it, skipped
 * with the reason on a developer's machine and FAILING in CI (`CI` set and not "false"), where the
 * node backend must be set up (`pnpm install` / `pnpm native`).
 */
import { createRequire } from 'node:module';
import { it } from 'vitest';
import { nativeEnv } from '../backend/index.js';

export type TestBackend = 'cpu' | 'wasm' | 'node';
export const ALL_TEST_BACKENDS: readonly TestBackend[] = ['cpu', 'wasm', 'node'];

let nodeReason: string | null | undefined;

/** Why the node backend cannot load here, or null when it can (loads @tensorflow/tfjs-node once). */
export function nodeUnavailable(): string | null {
  if (nodeReason !== undefined) return nodeReason;
  try {
    nativeEnv(undefined);
    createRequire(import.meta.url)('@tensorflow/tfjs-node');
    nodeReason = null;
  } catch (e) {
    nodeReason = String((e as Error).message ?? e).split('\n')[0];
  }
  return nodeReason;
}

export function inCI(): boolean {
  const ci = process.env.CI;
  return ci !== undefined && ci !== '' && ci !== 'false' && ci !== '0';
}

const reported = new Set<string>();

/**
 * The wanted backends that can run here, in the order given. Each one that cannot gets a test in the
 * calling file that says so by name (skipped locally, failing in CI).
 */
export function testBackends(wanted: readonly TestBackend[] = ALL_TEST_BACKENDS): TestBackend[] {
  const out: TestBackend[] = [];
  for (const b of wanted) {
    const reason = b === 'node' ? nodeUnavailable() : null;
    if (reason === null) {
      out.push(b);
      continue;
    }
    if (reported.has(b)) continue;
    reported.add(b);
    const title = `${b} backend is NOT AVAILABLE here, its cases did not run: ${reason} (set it up with \`pnpm native\`)`;
    if (inCI()) {
      it(title, () => {
        throw new Error(`CI needs the ${b} backend: ${reason}`);
      });
    } else {
      it.skip(title, () => {});
    }
  }
  return out;
}
