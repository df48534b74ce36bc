#!/usr/bin/env node
/**
 * `pnpm worker --queue redis://host:port[/db]`: runs sweep trials from the BullMQ queue on this machine
 * (see packages/runner/src/sweep/queue-worker.ts); start as many as the machine has GPUs or cores for.
 * Exit codes: 0 (--once: a trial ran or the queue was empty); 2 bad options; 130 stopped by SIGINT/SIGTERM.
 */
import { Command, InvalidArgumentError } from 'commander';
import { parseRedisUrl } from '../sweep/queue.js';
import { runQueueWorker } from '../sweep/queue-worker.js';

const userCwd = process.env.INIT_CWD ?? process.cwd();

const posInt = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
  return n;
};

const program = new Command()
  .name('pnpm worker')
  .description(
    'Run ablation trials from a sweep queue (pnpm sweep <file> --queue redis://...). Results go back to the sweep, which stores them.',
  )
  .requiredOption('--queue <url>', 'the Redis of the sweep: redis://host:port[/db]')
  .option('-b, --backend <name>', "override the trials' backend on this machine (auto, wasm, cpu, node, tensorflow)")
  .option('--threads <n>', 'wasm threads per trial', posInt('--threads'))
  .option('--concurrency <n>', 'trials run at once by this worker (default 1)', posInt('--concurrency'))
  .option('--once', 'run one trial, then exit (exits as well when the queue has nothing waiting): SLURM array tasks')
  .option(
    '--data-root <dir|from=to>',
    "this machine's copy of an Ultralytics data set: the folder holding its data.yaml, or FROM=TO path prefixes",
  )
  .option('--checkpoints <dir>', 'a shared checkpoint folder (NFS): a trial left by a lost worker resumes here from its last epoch')
  .showHelpAfterError()
  .exitOverride((e) => {
    process.exit(e.exitCode === 0 ? 0 : 2);
  })
  .action(
    async (o: {
      queue: string;
      backend?: string;
      threads?: number;
      concurrency?: number;
      once?: boolean;
      dataRoot?: string;
      checkpoints?: string;
    }) => {
      try {
        parseRedisUrl(o.queue);
      } catch (e) {
        console.error((e as Error).message);
        process.exit(2);
      }
      const rel = (p?: string) => (p && !p.includes('=') ? new URL(p, `file://${userCwd}/`).pathname : p);
      const code = await runQueueWorker({ ...o, dataRoot: rel(o.dataRoot), checkpoints: rel(o.checkpoints) });
      process.exit(code);
    },
  );

program.parseAsync(process.argv).catch((e: Error) => {
  console.error(`pnpm worker: ${e.stack ?? e.message}`);
  process.exit(1);
});
