/**
 * How the runner's CLIs start themselves in a child process, from the build or from the portable bundle.
 * From the build (`packages/runner/dist`): `node dist/cli/bench.js ...`, `node dist/sweep/worker.js`. From the
 * bundle that `pnpm bundle` writes (one file, `bundle/ablate.mjs`): `node bundle/ablate.mjs bench ...`,
 * `node bundle/ablate.mjs sweep-worker`. The bundle's entry (cli/ablate.ts) records where it lives before
 * any CLI module is loaded; everything else asks here.
 */
import * as path from 'node:path';

/** What the bundle's entry records: its file, its folder, and the code it was built from. */
export interface BundleInfo {
  /** `bundle/ablate.mjs`. */
  entry: string;
  /** `bundle/`: fixtures and native libraries live under it. */
  dir: string;
  /** The git commit the bundle was built from and whether the tree had uncommitted changes. */
  commit: string | null;
  dirty: boolean | null;
  /** Versions of the workspace packages and tfjs packages bundled. */
  packages: Record<string, string>;
  /** When `pnpm bundle` ran (ISO time). */
  builtAt: string;
}

const KEY = Symbol.for('ablate.bundle');

/** Called once by the bundle's entry. */
export function setBundleInfo(info: BundleInfo): void {
  (globalThis as Record<symbol, unknown>)[KEY] = info;
}

/** The running bundle, or undefined when running from the build. */
export function bundleInfo(): BundleInfo | undefined {
  return (globalThis as Record<symbol, unknown>)[KEY] as BundleInfo | undefined;
}

/** The runner's entry points that start in a child process of their own. */
export type ChildEntry = 'bench' | 'gpu-check' | 'sweep-worker';

/**
 * The script and leading arguments that start `entry` in a child: `[script, ...args]` to pass to
 * spawn/fork. `built` is the entry's file in the build (what the caller resolves from its own URL).
 */
export function childCommand(entry: ChildEntry, built: string): { script: string; args: string[] } {
  const b = bundleInfo();
  return b ? { script: b.entry, args: [entry] } : { script: built, args: [] };
}

/** The repo's `fixtures/golden` (from the build) or the bundle's copy. */
export function goldenFixturesDir(repoRoot: string): string {
  const b = bundleInfo();
  return path.join(b ? b.dir : repoRoot, 'fixtures', 'golden');
}
