#!/usr/bin/env node
/**
 * `pnpm export <trial> [--db F] [--out DIR] [--format safetensors|yaml]`: a trained variant's model YAML
 * and best weights under PyTorch/Ultralytics names (see ../export/export.ts; README, "Exporting a variant").
 * Exit codes: 0 written; 2 bad options, unknown trial, missing database or weights.
 */
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { EXPORT_FORMATS, ExportError, type ExportFormat, exportTrial } from '../export/export.js';

// pnpm runs scripts from the repo root; resolve the user's relative paths against where they typed them.
const userCwd = process.env.INIT_CWD ?? process.cwd();

const program = new Command()
  .name('pnpm export')
  .description(
    "Write a trial's model YAML and best weights (safetensors, PyTorch/Ultralytics names) to load them back into ablate or Ultralytics.",
  )
  .argument('<trial>', 'trial id (or a unique prefix), as shown by the sweep and the dashboard')
  .option('--db <file>', 'results database', 'results/ablate.db')
  .option('-o, --out <dir>', 'output folder', 'exports')
  .addOption(
    new Option('-f, --format <format>', 'safetensors: YAML and weights; yaml: the YAML only')
      .choices([...EXPORT_FORMATS])
      .default('safetensors'),
  )
  .showHelpAfterError()
  .exitOverride((e) => {
    process.exit(e.exitCode === 0 ? 0 : 2);
  })
  .action((trial: string, o: { db: string; out: string; format: ExportFormat }) => {
    try {
      const r = exportTrial({ db: path.resolve(userCwd, o.db), trial, out: path.resolve(userCwd, o.out), format: o.format });
      for (const f of r.files) process.stdout.write(`${path.relative(userCwd, f) || f}\n`);
      if (r.tensors) process.stderr.write(`trial ${r.trial}: ${r.tensors} tensors (${r.parameters.toLocaleString('en-US')} values)\n`);
    } catch (e) {
      process.stderr.write(`pnpm export: ${(e as Error).message}\n`);
      process.exit(e instanceof ExportError ? 2 : 1);
    }
  });

program.parse(process.argv);
