/**
 * The sweep: experiment file -> plan (`plan.ts`: validated experiment, data, trials) -> the one
 * database writer (`writer.ts`) -> a scheduler that runs the trials (`local-pool.ts`: worker processes
 * on this machine; `queue-scheduler.ts`: BullMQ jobs run by `pnpm worker` on any machine) -> summary. Every report of a trial is stored by this process as it arrives.
 * Semantics:
 *  - a trial that is `ok` is skipped (and said so); `failed` is skipped unless `retryFailed`;
 *    `interrupted` resumes from its `last` checkpoint; trials left `running` by a dead process (kill -9)
 *    are repaired to `interrupted` first (`tracker.repairStale()`);
 *  - a failing trial is stored as `failed` with its error and the sweep goes on; exit code 1 at the end
 *    when any trial of the sweep is failed;
 *  - SIGINT/SIGTERM: no new trials; running ones stop after their current batch, save `last` and become
 *    `interrupted`; exit code 130. A second signal kills the workers at once (still `interrupted`).
 *  - `dryRun`: lists the trials with params, GFLOPs and an estimated time; trains nothing and writes nothing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dryRun } from './dry-run.js';
import type { Experiment } from './experiment.js';
import { LocalPool } from './local-pool.js';
import { EXIT, type PlanOptions, planSweep } from './plan.js';
import { BarProgress, PlainProgress, type Progress } from './progress.js';
import { parseRedisUrl } from './queue.js';
import { QueueScheduler } from './queue-scheduler.js';
import { type ResultRow, summaryTable } from './report.js';
import type { Scheduler, SchedulerContext } from './scheduler.js';
import { slurmScript } from './slurm.js';
import type { TrialSpec } from './trials.js';
import { SweepWriter } from './writer.js';

export { EXIT };

export interface SweepOptions extends PlanOptions {
  dryRun?: boolean;
  retryFailed?: boolean;
  /** Progress bars (default: stderr is a TTY). */
  tty?: boolean;
  out?: (line: string) => void;
  err?: (line: string) => void;
  /** The worker entry (default: worker.js beside local-pool.js). */
  workerScript?: string;
  /** Seconds to wait for workers to stop after a signal before killing them (default 120). */
  stopTimeout?: number;
  /** redis://host:port[/db]: trials run as BullMQ jobs by `pnpm worker` processes instead of the local pool. */
  queue?: string;
  /** With `queue`: write an sbatch array script of queue workers here. */
  slurmScript?: string;
  /** `pnpm worker` options written into the SLURM script. */
  slurmWorkerArgs?: string[];
}

export async function runSweep(o: SweepOptions): Promise<number> {
  const out = o.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const err = o.err ?? ((l: string) => process.stderr.write(`${l}\n`));

  if (o.slurmScript && !o.queue) {
    err('--slurm-script needs --queue redis://host:port (its tasks are queue workers)');
    return EXIT.invalid;
  }
  if (o.queue) {
    try {
      parseRedisUrl(o.queue);
    } catch (e) {
      err((e as Error).message);
      return EXIT.invalid;
    }
  }

  // 1-3. Experiment, backend, data, trials.
  const plan = await planSweep(o, err);
  if (typeof plan === 'number') return plan;
  const { exp, trials, workers, threads, backendName, dbFile, showPath } = plan;
  const variants = new Set(trials.map((t) => t.variant)).size;
  err(
    `sweep ${exp.name}: ${trials.length} trials (${variants} variant${variants > 1 ? 's' : ''} x ${exp.seeds.length} seed${exp.seeds.length > 1 ? 's' : ''}), ` +
      `${trials[0]?.config.train.epochs} epochs at ${exp.train.imgsz} px, backend ${backendName} (${threads} thread${threads > 1 ? 's' : ''} per trial), ` +
      `${o.queue ? `queue ${o.queue}` : `${workers} worker${workers > 1 ? 's' : ''}`}, database ${showPath(dbFile)}`,
  );

  if (o.dryRun) return dryRun(plan, out);

  // 4-5. The database: the sweep, its trials, and what runs.
  const writer = new SweepWriter(dbFile);
  try {
    const { todo, done } = writer.prepare(exp, trials, o.retryFailed ?? false, err);

    // 6. Run.
    const progress: Progress = (o.tty ?? process.stderr.isTTY) ? new BarProgress() : new PlainProgress(err);
    progress.plan(trials.length, done);
    const ctx: SchedulerContext = {
      writer,
      exp,
      backend: plan.backend,
      threads,
      workers,
      dbFile,
      progress,
      stopTimeout: o.stopTimeout ?? 120,
    };
    const scheduler: Scheduler = o.queue
      ? new QueueScheduler(ctx, {
          url: o.queue,
          retryFailed: o.retryFailed ?? false,
          onEnqueued: (n) => {
            if (!o.slurmScript || !o.queue) return;
            const file = path.resolve(o.cwd ?? process.cwd(), o.slurmScript);
            const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
            fs.mkdirSync(path.dirname(file), { recursive: true });
            fs.writeFileSync(
              file,
              slurmScript({
                sweep: exp.name,
                queue: o.queue,
                tasks: n,
                repoRoot,
                threads,
                workerArgs: o.slurmWorkerArgs,
                command: process.argv.slice(1).join(' '),
              }),
              { mode: 0o755 },
            );
            progress.log(
              `wrote ${showPath(file)}: ${n} SLURM array task(s) of pnpm worker --once; submit it with sbatch ${showPath(file)}`,
            );
          },
        })
      : new LocalPool(ctx, o.workerScript);
    const onSignal = (sig: NodeJS.Signals) => scheduler.stop(sig);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await scheduler.run(todo);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      progress.stop();
    }

    // 7. Summary.
    const failed = printSummary(writer, exp, trials, showPath(dbFile), out);
    if (scheduler.stopping) return EXIT.interrupted;
    return failed ? EXIT.failed : EXIT.ok;
  } finally {
    writer.close();
  }
}

/** The end-of-sweep summary from the database; returns the number of failed trials. */
function printSummary(writer: SweepWriter, exp: Experiment, trials: TrialSpec[], dbShown: string, out: (l: string) => void): number {
  const variantOf = new Map(trials.map((t) => [t.id, t.variant]));
  const final = writer.trialsOfSweep(exp.name);
  const resultRows: ResultRow[] = final.map((r) => ({ ...r, variant: variantOf.get(r.id) ?? r.id }));
  out('');
  out(`${exp.name}: mean ± std (n) over seeds (ok trials only); Δ = difference from the baseline with its 95% interval`);
  out(summaryTable(resultRows, exp.name));
  const count = (s: string) => final.filter((r) => r.status === s).length;
  const failed = final.filter((r) => r.status === 'failed');
  for (const f of failed) out(`failed: ${f.id} ${variantOf.get(f.id)} seed ${f.seed}: ${f.error}`);
  out(
    `${count('ok')} ok, ${failed.length} failed, ${count('interrupted')} interrupted, ${count('pending') + count('running')} pending; ` +
      `results in ${dbShown} (SELECT * FROM results WHERE sweep = '${exp.name}')`,
  );
  return failed.length;
}
