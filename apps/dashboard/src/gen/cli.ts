#!/usr/bin/env node
/**
 * Writes a generated results database (for demos and manual checks of the dashboard):
 * `node apps/dashboard/dist/gen/cli.js --out results/demo.db [--seeds 3] [--epochs 30]`, or `--scale`
 * for the 5,020-trial x 100-epoch database of the scale test.
 */
import * as fs from 'node:fs';
import { Command } from 'commander';
import { generateDb, scaleOptions } from './generate.js';

const program = new Command('ablate-demo-db')
  .description('Write a generated ablation-results database (a realistic stand-in for sweeps)')
  .requiredOption('--out <file>', 'database file to write (must not exist)')
  .option('--seeds <n>', 'seeds per variant', '3')
  .option('--epochs <n>', 'epochs per trial', '30')
  .option('--scale', 'the scale database: 25 modules x 10 positions x 20 seeds + baseline, 100 epochs each')
  .parse();
const o = program.opts<{ out: string; seeds: string; epochs: string; scale?: boolean }>();
if (fs.existsSync(o.out)) {
  console.error(`--out ${o.out}: the file exists; choose a new path`);
  process.exit(2);
}
const t0 = performance.now();
const made = o.scale
  ? [generateDb(o.out, scaleOptions())]
  : [
      generateDb(o.out, {
        sweep: 'attention-positions',
        seeds: Number(o.seeds),
        epochs: Number(o.epochs),
        failed: 2,
        running: 2,
        interrupted: 1,
        failVariants: [['MSDeformAttn', 'pre-head']],
      }),
      // A second sweep sharing the baseline and DAttention trials (same configurations).
      generateDb(o.out, {
        sweep: 'dat-positions',
        modules: ['DAttention'],
        seeds: Number(o.seeds),
        epochs: Number(o.epochs),
        description: 'DAttention at four positions',
      }),
    ];
for (const g of made) console.log(`${g.file}: sweep "${g.sweep}", ${g.trials} trials, ${g.epochRows} epoch rows`);
console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`);
