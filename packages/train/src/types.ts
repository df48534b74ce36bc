import type { CocoSummary } from '@ablate/metrics';

/**
 * Reports, hooks and errors of @ablate/train (the issue-5 design contract, plus `valLoss`, `lrs` and
 * `onResume`).
 */

export interface EpochReport {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training losses of the epoch (after the gains, per image as Ultralytics' tloss). */
  boxLoss: number;
  clsLoss: number;
  dflLoss: number;
  /** lr of the weights group (Ultralytics' lr/pg1) at the epoch's last batch. */
  lr: number;
  /** lr of the three groups [biases, weights, norm weights] (lr/pg0..pg2) at the epoch's last batch. */
  lrs: [number, number, number];
  precision: number;
  recall: number;
  map50: number;
  map50_95: number;
  /** 0.1 * mAP50 + 0.9 * mAP50-95. */
  fitness: number;
  /** Validation losses [box, cls, dfl] of the EMA model. */
  valLoss: [number, number, number];
  /**
   * COCO evaluation (pycocotools' numbers, boxes in original pixels) of this epoch's validation; computed
   * for every epoch that becomes the best, so `TrainResult.best.coco` is the best epoch's.
   */
  coco?: CocoSummary;
  /** Wall time of the epoch: training, validation and checkpointing. */
  seconds: number;
}

export interface BatchProgress {
  /** 1-based. */
  epoch: number;
  epochs: number;
  /** 1-based. */
  batch: number;
  batches: number;
  /** Running mean [box, cls, dfl] of the epoch so far. */
  loss: [number, number, number];
  /** Estimated seconds until training ends (from the mean batch time of this run). */
  etaSeconds: number;
}

export interface TrainHooks {
  onBatch?(p: BatchProgress): void;
  /** Called after the epoch's `last` checkpoint is written; awaited before training goes on. */
  onEpoch?(r: EpochReport): void | Promise<void>;
  /** On resume, before training goes on: the epochs already completed (from the checkpoint). */
  onResume?(epochs: EpochReport[]): void | Promise<void>;
  /** Abort: training stops after the current batch and throws AbortError; `last` holds the last completed epoch. */
  signal?: AbortSignal;
  /** One-line messages (optimizer choice, resume, early stop). */
  log?(line: string): void;
}

export interface TrainResult {
  best: EpochReport;
  last: EpochReport;
  epochs: EpochReport[];
  /** Sum of the epochs' seconds (over resumes too). */
  trainSeconds: number;
  stoppedEarly: boolean;
}

/** The loss became NaN or infinite. `epoch` and `batch` are 1-based. */
export class NonFiniteLossError extends Error {
  readonly epoch: number;
  readonly batch: number;
  readonly items: [number, number, number];
  constructor(epoch: number, batch: number, items: [number, number, number]) {
    const bad = items.some(Number.isNaN) ? 'NaN' : 'infinite';
    super(
      `loss is ${bad} at epoch ${epoch}, batch ${batch} (box ${items[0]}, cls ${items[1]}, dfl ${items[2]}); ` +
        'training of this trial stopped (try a lower lr0, or check the data and the inserted module)',
    );
    this.name = 'NonFiniteLossError';
    this.epoch = epoch;
    this.batch = batch;
    this.items = items;
  }
}

/** Training was aborted through `hooks.signal`. `epoch` / `batch` (1-based; batch 0: before the epoch began) is where it stopped. */
export class AbortError extends Error {
  readonly epoch: number;
  readonly batch: number;
  /** Completed epochs saved in `last.safetensors` (0: none). */
  readonly savedEpochs: number;
  constructor(epoch: number, batch: number, savedEpochs: number) {
    const where = batch === 0 ? `before epoch ${epoch}` : `at epoch ${epoch}, batch ${batch}`;
    super(`training aborted ${where}; last.safetensors holds ${savedEpochs} completed epoch(s)`);
    this.name = 'AbortError';
    this.epoch = epoch;
    this.batch = batch;
    this.savedEpochs = savedEpochs;
  }
}
