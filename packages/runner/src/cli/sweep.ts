#!/usr/bin/env node
/**
 * `pnpm sweep <experiment.yaml> [options]`: runs an ablation sweep (see packages/runner/src/sweep/run.ts)
 * and stores every result in SQLite (the `results` view of @ablate/tracker).
 * Exit codes: 0 all trials ok; 1 a trial failed; 2 invalid experiment file or options (nothing ran);
 * 130 stopped by SIGINT/SIGTERM (the running trials are `interrupted`; the same command resumes them).
 * With --queue redis://..., the trials run on `pnpm worker` processes (src/cli/worker.ts) on any machine.
 */
import { BACKEND_NAMES } from '@ablate/core';
import { Command, InvalidArgumentError } from 'commander';
import { runSweep } from '../sweep/run.js';

// pnpm runs scripts from the repo root; resolve the user's relative paths against where they typed them.
const userCwd = process.env.INIT_CWD ?? process.cwd();

const posInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const program = new Command()
  .name('pnpm sweep')
  .description(
    'Run an ablation sweep: every variant (baseline, module x position) x seed is trained, validated, benchmarked and stored in SQLite.',
  )
  .argument('<experiment>', 'experiment file (YAML), e.g. experiments/dat-positions.yaml')
  .option('--dry-run', 'list the trials with params, GFLOPs and estimated time; train nothing')
  .option('-w, --workers <n>', "trials run in parallel, each in its own process (default: the file's `workers`, 1)", posInt('--workers'))
  .option('--db <file>', "results database (default: the file's `db`, results/ablate.db)")
  .option('-b, --backend <name>', `override the backend (${BACKEND_NAMES.join(', ')})`)
  .option('--epochs <n>', 'override train.epochs (changes the trial ids)', posInt('--epochs'))
  .option('--threads <n>', "wasm threads per trial (default: the file's `threads`, 1)", posInt('--threads'))
  .option(
    '--pretrained <file>',
    "start every variant from this checkpoint of the base model (.safetensors or Ultralytics .pt; `none`: from scratch); replaces the file's `pretrained`",
  )
  .option('--retry-failed', 'run failed trials again')
  .option('--no-progress', 'plain log lines instead of progress bars')
  .option('--queue <url>', 'run the trials as BullMQ jobs on Redis (redis://host:port[/db]) for `pnpm worker` processes on any machine')
  .option('--slurm-script <file>', 'with --queue: write an sbatch array script whose tasks each run `pnpm worker --queue ... --once`')
  .showHelpAfterError()
  .exitOverride((e) => {
    process.exit(e.exitCode === 0 ? 0 : 2);
  })
  .action(
    async (
      file: string,
      o: {
        dryRun?: boolean;
        workers?: number;
        db?: string;
        backend?: string;
        epochs?: number;
        threads?: number;
        pretrained?: string;
        retryFailed?: boolean;
        progress: boolean;
        queue?: string;
        slurmScript?: string;
      },
    ) => {
      const code = await runSweep({
        file,
        cwd: userCwd,
        dryRun: o.dryRun,
        workers: o.workers,
        db: o.db,
        backend: o.backend,
        epochs: o.epochs,
        threads: o.threads,
        pretrained: o.pretrained,
        retryFailed: o.retryFailed,
        tty: o.progress ? undefined : false,
        queue: o.queue,
        slurmScript: o.slurmScript,
      });
      process.exit(code);
    },
  );

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`pnpm sweep: ${e.stack ?? e.message}`);
  process.exit(1);
});
