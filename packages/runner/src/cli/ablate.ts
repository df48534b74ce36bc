#!/usr/bin/env node
/**
 * `node bundle/ablate.mjs <command> [options]`: the single entry of the portable bundle (`pnpm bundle`,
 * scripts/bundle.mjs), also runnable from the build as `node packages/runner/dist/cli/ablate.js <command>`.
 * Commands: sweep, golden, bench, gpu-check (each takes its own CLI's options; `<command> --help`), version.
 * `sweep-worker` is internal (the sweep forks it once per trial).
 *
 * The bundler defines `__ABLATE_BUNDLE__` (commit, package versions, build time); the entry records it
 * with its own location before any command's module is loaded, so that children, fixtures and provenance
 * resolve inside the bundle (see ../self.ts).
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BundleInfo, bundleInfo, setBundleInfo } from '../self.js';

declare const __ABLATE_BUNDLE__: Omit<BundleInfo, 'entry' | 'dir'> | undefined;

const COMMANDS: Record<string, { about: string; load: () => Promise<unknown> }> = {
  sweep: { about: 'run an ablation sweep (experiment YAML) and store the results in SQLite', load: () => import('./sweep.js') },
  golden: { about: 'evaluate the reference cases (fixtures/golden) on a backend', load: () => import('./golden.js') },
  bench: { about: 'speed benchmarks (conv kernels, training step, inference, attention modules)', load: () => import('./bench.js') },
  'gpu-check': {
    about: 'check a GPU machine: backend, golden, YOLOv8n train step and FPS at 640, attention modules, smoke training',
    load: () => import('./gpu-check.js'),
  },
  'sweep-worker': { about: '(internal) one sweep trial, forked by sweep', load: () => import('../sweep/worker.js') },
};

if (typeof __ABLATE_BUNDLE__ !== 'undefined') {
  const entry = fileURLToPath(import.meta.url);
  setBundleInfo({ ...__ABLATE_BUNDLE__, entry, dir: path.dirname(entry) });
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  console.error(`ablate: node ${process.version} is too old; node >= 20 is needed`);
  process.exit(2);
}

const name = process.argv[2];
const usage = () => {
  const w = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  const lines = Object.entries(COMMANDS)
    .filter(([k]) => k !== 'sweep-worker')
    .map(([k, c]) => `  ${k.padEnd(w)}  ${c.about}`);
  return `usage: ablate <command> [options]   (<command> --help for its options)\n\ncommands:\n${lines.join('\n')}\n  ${'version'.padEnd(w)}  where this bundle came from`;
};

if (name === 'version' || name === '--version') {
  const b = bundleInfo();
  console.log(
    b
      ? `ablate bundle built ${b.builtAt} from commit ${b.commit ?? 'unknown'}${b.dirty ? ' (with uncommitted changes)' : ''}; node ${process.version}`
      : `ablate (from the build, not a bundle); node ${process.version}`,
  );
} else if (!name || name === '--help' || name === '-h' || name === 'help') {
  console.log(usage());
  process.exit(name ? 0 : 2);
} else if (!COMMANDS[name]) {
  console.error(
    `ablate: unknown command "${name}"; known: ${Object.keys(COMMANDS)
      .filter((k) => k !== 'sweep-worker')
      .join(', ')}, version`,
  );
  process.exit(2);
} else {
  // The command's CLI parses process.argv as if it had been started on its own.
  process.argv.splice(2, 1);
  await COMMANDS[name].load();
}
