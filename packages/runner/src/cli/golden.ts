#!/usr/bin/env node
/**
 * `pnpm golden [paths...] [--backend wasm,cpu] [--verbose]`: evaluates every reference case found
 * (default: the repo's fixtures/golden) and prints one line per case, then `N passed, M failed`.
 * Exit code 1 when any case failed; a case file of a known family that cannot be evaluated (unknown key,
 * missing tensor, no evaluator, unparsable JSON) is a failure. Only JSON of an unknown layout is SKIPPED.
 */
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BACKEND_NAMES, type BackendName } from '@ablate/core';
import { Command } from 'commander';
import { formatTotals } from '../golden/format.js';
import { runGolden } from '../golden/run.js';
import { goldenFixturesDir } from '../self.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
// pnpm runs scripts from the repo root; resolve the user's relative paths against where they typed them.
const userCwd = process.env.INIT_CWD ?? process.cwd();

const program = new Command()
  .name('pnpm golden')
  .description('Evaluate reference cases (format of fixtures/golden/*/README.md) against this implementation.')
  .argument('[paths...]', 'case folders or files (.json or .safetensors)', [])
  .option('-b, --backend <names>', `comma-separated backends to run on (${BACKEND_NAMES.filter((b) => b !== 'auto').join(', ')})`, 'wasm')
  .option('-v, --verbose', 'print every tensor comparison')
  .action(async (paths: string[], o: { backend: string; verbose?: boolean }) => {
    const backends = o.backend.split(',').map((s) => s.trim()) as BackendName[];
    for (const b of backends) {
      if (!BACKEND_NAMES.includes(b)) {
        console.error(`golden: unknown backend "${b}"; known: ${BACKEND_NAMES.join(', ')}`);
        process.exit(2);
      }
    }
    const targets = paths.length ? paths.map((p) => path.resolve(userCwd, p)) : [goldenFixturesDir(repoRoot)];
    const lines = await runGolden(targets, { backends, verbose: o.verbose, onLine: (l) => console.log(l) });
    for (const l of formatTotals(lines)) console.log(l);
    process.exit(lines.some((l) => l.status === 'FAIL') ? 1 : 0);
  });

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(e.message);
  process.exit(2);
});
