/**
 * `--slurm-script <out.sh>`: an sbatch job-array script for the sweep's queue. Each array task runs
 * one queue worker for one trial (`pnpm worker --queue ... --once`) and exits; a task that finds the
 * queue empty (others took the trials) exits too. Submit it with `sbatch <out.sh>`; the sweep, still
 * running where it was started, stores the results.
 */

export interface SlurmOptions {
  sweep: string;
  /** redis://host:port[/db], as the compute nodes reach it. */
  queue: string;
  /** Array tasks: the trials queued. */
  tasks: number;
  /** The repository's folder on the compute nodes (where `pnpm worker` runs). */
  repoRoot: string;
  threads: number;
  /** `pnpm worker` options passed on as they are (e.g. --backend tensorflow --checkpoints /shared/ckpt). */
  workerArgs?: string[];
  /** The experiment file and the command, for the header. */
  command?: string;
}

const shq = (s: string) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

export function slurmScript(o: SlurmOptions): string {
  const tasks = Math.max(1, o.tasks);
  const args = ['pnpm', 'worker', '--queue', o.queue, '--once', '--threads', String(o.threads), ...(o.workerArgs ?? [])];
  return [
    '#!/bin/bash',
    `# Queue workers for the ablate sweep "${o.sweep}": one array task per queued trial.`,
    ...(o.command ? [`# Written by: ${o.command}`] : []),
    '# Submit: sbatch this-file.sh   (the sweep that wrote it keeps running and stores the results)',
    '# Each task runs one trial and exits; one whose queue is empty exits at once. Adjust the resources',
    '# to your cluster (a GPU partition: --partition and --gres=gpu:1 with --backend tensorflow).',
    `#SBATCH --job-name=ablate-${o.sweep}`,
    `#SBATCH --array=1-${tasks}`,
    '#SBATCH --ntasks=1',
    `#SBATCH --cpus-per-task=${o.threads}`,
    '#SBATCH --output=ablate-worker-%A_%a.log',
    'set -euo pipefail',
    `cd ${shq(o.repoRoot)}`,
    args.map(shq).join(' '),
    '',
  ].join('\n');
}
