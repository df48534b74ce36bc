/**
 * Schedulers: what runs the trials of a planned sweep. Two implementations share this interface and
 * the same trial code path (`trial-run.ts`): the local process pool (`local-pool.ts`, one forked
 * worker process per trial) and the queue. Either way every report goes through `handleReport` into
 * the one database writer and the progress display.
 */
import type { TrialFinish } from '@ablate/tracker';
import type { Experiment } from './experiment.js';
import { fmt, type Progress } from './progress.js';
import type { FromWorker } from './protocol.js';
import { formatDuration } from './report.js';
import type { TrialSpec } from './trials.js';
import type { SweepWriter, TrialOutcome } from './writer.js';

export interface SchedulerContext {
  writer: SweepWriter;
  exp: Experiment;
  /** Backend as asked for (auto, wasm, ...). */
  backend: string;
  threads: number;
  workers: number;
  dbFile: string;
  progress: Progress;
  /** Seconds to wait for a trial to stop after a signal before killing it. */
  stopTimeout: number;
}

export interface Scheduler {
  /** Runs the trials (plan order); resolves when each has an outcome or the sweep stops. */
  run(todo: TrialSpec[]): Promise<void>;
  /**
   * A signal: the first asks running trials to stop after their current batch (they save `last` and
   * become interrupted), a second kills them at once.
   */
  stop(sig: NodeJS.Signals): void;
  /** Whether stop() was called. */
  readonly stopping: boolean;
}

export const trialLabel = (t: TrialSpec) => `${t.variant} seed ${t.seed}`;

function okLine(t: TrialSpec, f: TrialFinish): string {
  return (
    `trial ${t.id} ${trialLabel(t)}: ok  mAP50 ${fmt(f.map50)} mAP50-95 ${fmt(f.map50_95)} P ${fmt(f.precision)} R ${fmt(f.recall)}  ` +
    `${fmt(f.fps, 1)} FPS (p50 ${fmt(f.latencyP50Ms, 1)} ms)  trained in ${formatDuration(f.trainSeconds ?? Number.NaN)}` +
    (f.coco
      ? `  COCO AP ${cocoFmt(f.coco.stats.AP)} APs/m/l ${[f.coco.stats.APs, f.coco.stats.APm, f.coco.stats.APl].map(cocoFmt).join('/')}`
      : '')
  );
}

/** pycocotools' -1 (no ground truth in that area range) shown as '-'. */
const cocoFmt = (v: number) => (v === -1 ? '-' : fmt(v));

/**
 * Stores a trial's report (the writer) and shows it (progress). Returns the outcome when the report
 * ends the run, with the training results for `trained`.
 */
export function handleReport(
  ctx: Pick<SchedulerContext, 'writer' | 'progress'>,
  t: TrialSpec,
  slot: number,
  m: FromWorker,
  benchOf?: TrialFinish,
): { outcome?: TrialOutcome; finish?: TrialFinish } {
  const { progress } = ctx;
  const label = trialLabel(t);
  const r = ctx.writer.record(t, m, benchOf);
  switch (m.type) {
    case 'started': {
      const tr = m.start.transfer;
      if (tr)
        progress.log(
          `trial ${t.id} ${label}: ${t.config.pretrained?.file}: ${tr.summary}${tr.warning ? `\n  WARNING: ${tr.warning}` : ''}`,
        );
      progress.trialStarted(slot, label, t.config.train.epochs, m.batches);
      break;
    }
    case 'batch':
      progress.batch(slot, m.epoch, m.batch, m.batches, m.loss);
      break;
    case 'epoch':
      if (!m.replayed) progress.epoch(slot, label, m.report, m.epochs);
      break;
    case 'done':
    case 'benched':
      progress.log(okLine(t, r.finish as TrialFinish));
      break;
    case 'trained':
      progress.log(
        `trial ${t.id} ${label}: trained (mAP50 ${fmt(m.finish.map50)}, mAP50-95 ${fmt(m.finish.map50_95)}); its FPS is measured when no trial trains`,
      );
      break;
    case 'failed':
      progress.log(`trial ${t.id} ${label}: FAILED: ${m.error}`);
      break;
    case 'interrupted':
      progress.log(`trial ${t.id} ${label}: interrupted (a re-run resumes it)`);
      break;
  }
  return r;
}
