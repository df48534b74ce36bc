#!/usr/bin/env node
/**
 * `pnpm sweep <experiment.yaml>`: the ablation-sweep runner. Not built yet: the experiment format,
 * trainer and tracker are the subject of a later issue. Until then this command says so and exits 2.
 */
const file = process.argv[2] ?? 'experiments/dat-positions.yaml';
console.error(
  `pnpm sweep ${file}: the sweep runner is not there yet (data, training, validation and the SQLite tracker come in a later issue).\n` +
    'What works today: `pnpm test`, `pnpm golden` (reference parity) and `pnpm bench` (kernel and training-step speed).',
);
process.exit(2);
