/**
 * The one database writer of a sweep. Whatever runs the trials (the local process pool, queue
 * workers on other machines), only the sweep process writes SQLite, through this class: the sweep and
 * its trials are registered, what needs work is chosen, and every report of a trial is stored as it
 * arrives (so the dashboard is live).
 */
import { pidAlive, Tracker, type TrialFinish, type TrialRow } from '@ablate/tracker';
import type { Experiment } from './experiment.js';
import { fmt } from './progress.js';
import type { FromWorker } from './protocol.js';
import type { TrialSpec } from './trials.js';

/** How a run of a trial ended; `trained`: training done, its FPS still to be measured. */
export type TrialOutcome = 'ok' | 'failed' | 'interrupted' | 'trained';

export interface Prepared {
  /** The trials that need work, in plan order. */
  todo: TrialSpec[];
  /** Trials that count as finished already (ok, failed and not retried, running elsewhere). */
  done: number;
  rows: Map<string, TrialRow>;
}

export class SweepWriter {
  readonly tracker: Tracker;
  constructor(dbFile: string) {
    this.tracker = new Tracker(dbFile);
  }

  /**
   * Repairs trials left running by dead processes, stores the sweep and its trials, and chooses what
   * runs: `ok` is skipped; `failed` is skipped unless `retryFailed` (then reset); a trial running in
   * another live process is skipped; the rest (new, interrupted) runs.
   */
  prepare(exp: Experiment, trials: TrialSpec[], retryFailed: boolean, err: (line: string) => void): Prepared {
    const { tracker } = this;
    const repaired = tracker.repairStale();
    if (repaired.length)
      err(
        `repaired ${repaired.length} trial${repaired.length > 1 ? 's' : ''} left running by a process that ended (${repaired.join(', ')}): they resume`,
      );
    tracker.upsertSweep({ name: exp.name, description: exp.description ?? undefined, experimentFile: exp.file, config: exp.raw });
    const ids = trials.map((t) => t.id);
    const unlinked = tracker.unlinkOtherTrials(exp.name, ids);
    if (unlinked)
      err(
        `${unlinked} trial${unlinked > 1 ? 's' : ''} of an earlier version of this sweep no longer match the file: unlinked from it (kept in the trials table)`,
      );
    const rows = new Map<string, TrialRow>();
    for (const t of trials) {
      rows.set(
        t.id,
        tracker.addTrial(
          exp.name,
          {
            id: t.id,
            module: t.module,
            position: t.position,
            moduleArgs: t.moduleArgs ?? undefined,
            seed: t.seed,
            config: t.config,
            modelYaml: t.modelYaml,
            epochsPlanned: t.config.train.epochs,
            imgsz: t.config.train.imgsz,
            pretrained: t.config.pretrained ?? null,
          },
          t.ordinal,
        ),
      );
    }

    const todo: TrialSpec[] = [];
    let done = 0;
    for (const t of trials) {
      const r = rows.get(t.id) as TrialRow;
      const tag = `trial ${t.id} ${t.variant} seed ${t.seed}`;
      if (r.status === 'ok') {
        err(`${tag}: already done (mAP50 ${fmt(r.map50)}, mAP50-95 ${fmt(r.map50_95)}, ${fmt(r.fps, 1)} FPS): skipped`);
        done++;
      } else if (r.status === 'failed' && !retryFailed) {
        err(`${tag}: failed before (${r.error}): skipped; --retry-failed runs it again`);
        done++;
      } else if (r.status === 'running' && r.pid !== null && r.pid !== process.pid && pidAlive(r.pid)) {
        err(`${tag}: running in another process (pid ${r.pid}): skipped`);
        done++;
      } else {
        if (r.status === 'failed') tracker.resetTrial(t.id);
        todo.push(t);
      }
    }
    if (!todo.length) {
      const nOk = trials.filter((t) => rows.get(t.id)?.status === 'ok').length;
      err(
        nOk === trials.length
          ? `nothing to train: all ${trials.length} trials of ${exp.name} are already done`
          : `nothing to train: ${nOk} of ${trials.length} trials of ${exp.name} are done, the others failed (--retry-failed runs them again) or run elsewhere`,
      );
    }
    return { todo, done, rows };
  }

  getTrial(id: string): TrialRow | undefined {
    return this.tracker.getTrial(id);
  }

  /** A run of the trial begins: a fresh start forgets the epochs of an earlier attempt. */
  begin(t: TrialSpec, fresh: boolean): void {
    if (fresh) this.tracker.clearEpochs(t.id);
    this.tracker.markRunning(t.id, { pid: process.pid, modelYaml: t.modelYaml });
  }

  /**
   * Stores one report of a trial's run. Returns the outcome when the report ends the run.
   * `benchOf`: for a `benched` report, the stored training results it completes.
   */
  record(t: TrialSpec, m: FromWorker, benchOf?: TrialFinish): { outcome?: TrialOutcome; finish?: TrialFinish } {
    const { tracker } = this;
    switch (m.type) {
      case 'started':
        tracker.markRunning(t.id, { ...m.start, pid: process.pid });
        return {};
      case 'epoch': {
        const { valLoss, ...rest } = m.report;
        tracker.recordEpoch(t.id, {
          ...rest,
          epoch: m.report.epoch - 1,
          valBoxLoss: valLoss?.[0] ?? null,
          valClsLoss: valLoss?.[1] ?? null,
          valDflLoss: valLoss?.[2] ?? null,
        });
        return {};
      }
      case 'done':
        tracker.finishTrial(t.id, m.finish);
        return { outcome: 'ok', finish: m.finish };
      case 'trained':
        return { outcome: 'trained', finish: m.finish };
      case 'benched': {
        const f: TrialFinish = {
          ...benchOf,
          fps: m.fps,
          latencyP50Ms: m.p50Ms,
          latencyP90Ms: m.p90Ms,
          fpsFused: m.fused,
          fpsNms: m.nms,
        };
        tracker.finishTrial(t.id, f);
        return { outcome: 'ok', finish: f };
      }
      case 'failed':
        tracker.failTrial(t.id, m.error);
        return { outcome: 'failed' };
      case 'interrupted':
        tracker.interruptTrial(t.id, m.reason);
        return { outcome: 'interrupted' };
      default:
        return {};
    }
  }

  fail(id: string, error: string): void {
    this.tracker.failTrial(id, error);
  }

  interrupt(id: string, reason: string): void {
    this.tracker.interruptTrial(id, reason);
  }

  trialsOfSweep(sweep: string): TrialRow[] {
    return this.tracker.trialsOfSweep(sweep);
  }

  close(): void {
    this.tracker.close();
  }
}
