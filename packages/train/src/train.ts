/**
 * Training as Ultralytics 8.0.229 does it (ultralytics/engine/trainer.py BaseTrainer, models/yolo/detect
 * train.py / val.py, utils/torch_utils.py ModelEMA + EarlyStopping), on tfjs:
 *  - optimizer and param groups: ./optimizer.ts (`auto` choice, SGD Nesterov / Adam / AdamW as torch);
 *    weight decay scaled by batch * accumulate / nbs;
 *  - per batch: lr / momentum / accumulation schedule (./schedule.ts: warmup with the bias-lr ramp, linear or
 *    cosine decay), forward in train mode, DetectionLoss (sum * batch), gradients accumulated until
 *    `ni - last_opt_step >= accumulate`; then clip to global norm 10, optimizer step, EMA update. Gradients
 *    are zeroed at the start of each epoch (a partial accumulation is discarded, as Ultralytics does);
 *  - close_mosaic: mosaic off from epoch `epochs - close_mosaic` on (when that is an epoch of the run);
 *  - every epoch: validation of the EMA weights (eval mode, conf 0.001, iou 0.7, val batch 2 x batch, with
 *    validation losses), fitness 0.1 mAP50 + 0.9 mAP50-95, best fitness as Ultralytics (`not best or
 *    best < fitness`; `best.safetensors` rewritten whenever the epoch's fitness equals the best), early
 *    stopping with `patience` (0: never), `last.safetensors` with everything needed to resume exactly;
 *  - resume: continues after the last completed epoch of `last.safetensors`; the data loader is
 *    deterministic per (seed, epoch), and model, EMA, optimizer state and counters are restored in float32,
 *    so the result equals an uninterrupted run's;
 *  - a NaN / infinite loss throws NonFiniteLossError (epoch and batch, 1-based); an abort signal stops after
 *    the current batch and throws AbortError (`last` keeps the last completed epoch).
 * At the end the model holds the final EMA weights (what Ultralytics' last.pt holds), in eval mode.
 * Status: deviations from Ultralytics: no AMP / multi-GPU / time limit; `imgsz` must be a multiple of 32
 * (Ultralytics rounds up with a warning); a resume never re-runs a partial epoch (Ultralytics neither);
 * the `close_mosaic` quirk of Ultralytics' resume (closing mosaic when close_mosaic > epochs) is not copied.
 */
import * as fs from 'node:fs';
import { variableGradsAsync } from '@ablate/core';
import { type Batch, DataLoader, type DetectionDataset } from '@ablate/data';
import { DetectionLoss, type DetectionModel } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import { CHECKPOINT_FORMAT, type CheckpointState, readLast, restore, saveBest, saveLast } from './checkpoint.js';
import { ModelEMA } from './ema.js';
import { chooseOptimizer, clipFlatGradNorm, type Grads, Optimizer, paramGroups } from './optimizer.js';
import { baseAccumulate, type ScheduleConfig, scheduleAt } from './schedule.js';
import { checkTrainSettings, type TrainSettings, type ValSettings } from './settings.js';
import { AbortError, type EpochReport, NonFiniteLossError, type TrainHooks, type TrainResult } from './types.js';
import { type BatchSource, validateBatches } from './validate.js';

export const MAX_GRAD_NORM = 10.0;

/** Training batches (DataLoader implements it). */
export interface TrainBatchSource extends BatchSource {
  setMosaic(on: boolean): void;
}

export interface TrainOptions {
  checkpointDir: string;
  resume?: boolean;
  hooks?: TrainHooks;
  /** Replaces the data loaders built from `data` (tests, custom pipelines). */
  loaders?: { train: TrainBatchSource; val: BatchSource };
}

/** Sums gradients of successive backward passes (PyTorch's `.grad` accumulation). Owns the tensors added. */
export class GradAccumulator {
  private acc: Grads | null = null;

  get empty(): boolean {
    return this.acc === null;
  }

  /** Adds `grads` (takes ownership: they are disposed or kept). */
  add(grads: Grads): void {
    if (!this.acc) {
      this.acc = grads;
      return;
    }
    const acc = this.acc;
    for (const [k, g] of Object.entries(grads)) {
      const old = acc[k];
      if (old) {
        acc[k] = tf.add(old, g);
        old.dispose();
        g.dispose();
      } else acc[k] = g;
    }
  }

  /** The sums so far (the caller owns them), leaving the accumulator empty. */
  take(): Grads | null {
    const a = this.acc;
    this.acc = null;
    return a;
  }

  /** optimizer.zero_grad(). */
  clear(): void {
    if (this.acc) tf.dispose(Object.values(this.acc));
    this.acc = null;
  }
}

/**
 * Forward + DetectionLoss + backward of one batch: gradients by variable name and the loss items.
 * Reads asynchronously (the assigner's predictions, the items): no pipeline stall, and the webgpu
 * backend, which cannot read synchronously under Node, trains too.
 */
export async function batchGradients(
  model: DetectionModel,
  crit: DetectionLoss,
  vars: tf.Variable[],
  batch: Pick<Batch, 'images' | 'shape' | 'targets'>,
): Promise<{ grads: Grads; items: [number, number, number] }> {
  const x = tf.tensor4d(batch.images, batch.shape);
  let items: [number, number, number] = [0, 0, 0];
  let feats: tf.Tensor4D[] = [];
  try {
    const { value, grads } = await variableGradsAsync(async () => {
      feats = tf.tidy(() => model.forward(x) as tf.Tensor4D[]);
      const r = await crit.computeAsync(feats, batch.targets, [batch.shape[1], batch.shape[2]]);
      items = r.items;
      return r.loss;
    }, vars);
    value.dispose();
    for (const k of Object.keys(grads)) if (!grads[k]) delete grads[k];
    return { grads, items };
  } finally {
    tf.dispose(feats);
    x.dispose();
  }
}

/**
 * Ultralytics' `optimizer_step`: clip the summed gradients to a global L2 norm of MAX_GRAD_NORM, one
 * optimizer step, one EMA update. Takes ownership of `grads` (disposed).
 */
export function optimizerStep(opt: Optimizer, ema: ModelEMA | null, grads: Grads): void {
  const flat = opt.flattenGrads(grads);
  tf.dispose(Object.values(grads));
  const clipped = clipFlatGradNorm(flat, MAX_GRAD_NORM);
  tf.dispose([...flat.grads, clipped.totalNorm]);
  try {
    opt.stepFlat(clipped.grads);
  } finally {
    tf.dispose(clipped.grads.grads);
  }
  ema?.update();
}

/** Mosaic is on for epoch index `e` unless close_mosaic turned it off (Ultralytics: from epoch epochs - close_mosaic). */
export function mosaicOn(e: number, epochs: number, closeMosaic: number): boolean {
  const at = epochs - closeMosaic;
  return !(closeMosaic > 0 && at >= 0 && e >= at);
}

/** EarlyStopping of Ultralytics (epoch 1-based): returns true when training should stop. */
export function earlyStop(st: { bestFitness: number; bestEpoch: number }, epoch: number, fitness: number, patience: number): boolean {
  const p = patience || Number.POSITIVE_INFINITY;
  if (fitness >= st.bestFitness) {
    st.bestEpoch = epoch;
    st.bestFitness = fitness;
  }
  return epoch - st.bestEpoch >= p;
}

function settingsKey(s: TrainSettings, v: ValSettings, nTrain: number, nc: number): string {
  const sort = (o: unknown): unknown =>
    o && typeof o === 'object' && !Array.isArray(o)
      ? Object.fromEntries(
          Object.keys(o as object)
            .sort()
            .map((k) => [k, sort((o as Record<string, unknown>)[k])]),
        )
      : o;
  return JSON.stringify(sort({ settings: s, val: v, nTrain, nc }));
}

function resultOf(epochs: EpochReport[], bestIndex: number, trainSeconds: number, stoppedEarly: boolean): TrainResult {
  if (epochs.length === 0) throw new Error('train: no epoch was completed');
  return { best: epochs[bestIndex], last: epochs[epochs.length - 1], epochs, trainSeconds, stoppedEarly };
}

/**
 * Trains `model` on `data` with Ultralytics' recipe; see the file header. Checkpoints go to
 * `opts.checkpointDir` (created); `resume` continues from its `last.safetensors` when there is one.
 */
export async function train(
  model: DetectionModel,
  data: DetectionDataset,
  settings: TrainSettings,
  val: ValSettings,
  opts: TrainOptions,
): Promise<TrainResult> {
  checkTrainSettings(settings);
  const s = settings;
  const hooks = opts.hooks ?? {};
  const log = hooks.log ?? (() => {});
  if (data.nc !== model.nc) throw new Error(`train: the data set has ${data.nc} classes but the model was built for nc=${model.nc}`);
  fs.mkdirSync(opts.checkpointDir, { recursive: true });

  const trainLoader: TrainBatchSource =
    opts.loaders?.train ?? new DataLoader(data.train, { batch: s.batch, imgsz: s.imgsz, shuffle: true, seed: s.seed, augment: s.augment });
  const valBatch = val.batch ?? s.batch * 2;
  const valLoader: BatchSource =
    opts.loaders?.val ?? new DataLoader(data.val, { batch: valBatch, imgsz: s.imgsz, shuffle: false, seed: s.seed, augment: null });
  const nb = trainLoader.length;
  const nTrain = data.train.length;
  if (nb < 1) throw new Error(`train: the training set yields no batches (${nTrain} images, batch ${s.batch})`);

  // Optimizer (Ultralytics _setup_train / build_optimizer).
  const accumulate0 = baseAccumulate(s.nbs, s.batch);
  const weightDecay = (s.weight_decay * s.batch * accumulate0) / s.nbs;
  const iterations = Math.ceil(nTrain / Math.max(s.batch, s.nbs)) * s.epochs;
  const choice = chooseOptimizer(s.optimizer, s, model.nc, iterations);
  if (choice.auto) log(choice.auto);
  const groups = paramGroups(model);
  const opt = new Optimizer(groups, { name: choice.name, lr: choice.lr, momentum: choice.momentum, weightDecay });
  const ema = new ModelEMA(model);
  const acc = new GradAccumulator();
  const crit = new DetectionLoss({ nc: model.nc, strides: model.stride, box: s.box, cls: s.cls, dfl: s.dfl });
  const vars = groups.flat().map((p) => p.param.variable);
  const sched: ScheduleConfig = {
    epochs: s.epochs,
    nb,
    batch: s.batch,
    nbs: s.nbs,
    lrf: s.lrf,
    cosLr: s.cos_lr,
    warmupEpochs: s.warmup_epochs,
    warmupBiasLr: choice.warmupBiasLr,
    warmupMomentum: s.warmup_momentum,
    momentum: s.momentum,
    initialMomentum: choice.momentum,
    initialLr: [choice.lr, choice.lr, choice.lr],
    hasMomentum: choice.name === 'SGD',
  };
  const key = settingsKey(s, { conf: val.conf, iou: val.iou, batch: valBatch, maxDet: val.maxDet ?? 300 }, nTrain, model.nc);

  let startEpoch = 0;
  let lastOptStep = -1;
  let bestFitness: number | null = null;
  let bestIndex = 0;
  const stopper = { bestFitness: 0, bestEpoch: 0 };
  const epochs: EpochReport[] = [];
  let trainSeconds = 0;
  let stoppedEarly = false;
  let finished = false;

  try {
    if (opts.resume) {
      const ck = readLast(opts.checkpointDir);
      if (ck) {
        if (ck.state.settingsKey !== key) {
          throw new Error(
            `train: ${opts.checkpointDir}/last.safetensors was written with other settings or data; refusing to resume.\n  checkpoint: ${ck.state.settingsKey}\n  this run:   ${key}`,
          );
        }
        restore(ck, model, ema, opt);
        startEpoch = ck.state.epoch;
        lastOptStep = ck.state.lastOptStep;
        bestFitness = ck.state.bestFitness;
        Object.assign(stopper, ck.state.stopper);
        epochs.push(...ck.state.epochs);
        trainSeconds = ck.state.trainSeconds;
        stoppedEarly = ck.state.stoppedEarly;
        bestIndex = bestIndexOf(epochs, bestFitness);
        log(`resuming from ${opts.checkpointDir}/last.safetensors after epoch ${startEpoch} of ${s.epochs}`);
        await hooks.onResume?.([...epochs]);
      }
    }

    const batchTimes = { sum: 0, n: 0 };
    const valTimes = { sum: 0, n: 0 };
    for (let epoch = startEpoch; epoch < s.epochs && !stoppedEarly; epoch++) {
      if (hooks.signal?.aborted) throw new AbortError(epoch + 1, 0, epoch);
      const t0 = performance.now();
      model.train();
      trainLoader.setMosaic(mosaicOn(epoch, s.epochs, s.close_mosaic));
      acc.clear();
      const tloss: [number, number, number] = [0, 0, 0];
      let i = 0;
      for await (const batch of trainLoader.epoch(epoch)) {
        const tb = performance.now();
        const ni = i + nb * epoch;
        const st = scheduleAt(sched, ni, epoch);
        opt.setHyper(st.lr, st.momentum);
        const { grads, items } = await batchGradients(model, crit, vars, batch);
        if (!items.every(Number.isFinite)) {
          tf.dispose(Object.values(grads));
          throw new NonFiniteLossError(epoch + 1, i + 1, items);
        }
        acc.add(grads);
        for (let k = 0; k < 3; k++) tloss[k] = (tloss[k] * i + items[k]) / (i + 1);
        if (ni - lastOptStep >= st.accumulate) {
          optimizerStep(opt, ema, acc.take() as Grads);
          lastOptStep = ni;
        }
        i += 1;
        batchTimes.sum += performance.now() - tb;
        batchTimes.n += 1;
        if (hooks.onBatch) {
          const remainingBatches = (s.epochs - epoch) * nb - i;
          const perVal = valTimes.n ? valTimes.sum / valTimes.n : 0;
          hooks.onBatch({
            epoch: epoch + 1,
            epochs: s.epochs,
            batch: i,
            batches: nb,
            loss: [...tloss],
            etaSeconds: ((batchTimes.sum / batchTimes.n) * remainingBatches + perVal * (s.epochs - epoch)) / 1000,
          });
        }
        if (hooks.signal?.aborted) throw new AbortError(epoch + 1, i, epoch);
      }
      // A partial accumulation would be zeroed at the next epoch start anyway: free it before validating.
      acc.clear();
      const lrs = opt.groups.map((g) => g.lr) as [number, number, number];

      // Validation with the EMA weights.
      const tv = performance.now();
      const res = await ema.withEma(() =>
        validateBatches(model, valLoader, {
          conf: val.conf,
          iou: val.iou,
          maxDet: val.maxDet,
          nc: model.nc,
          names: data.names,
          imgsz: s.imgsz,
          loss: crit,
          coco: true,
        }),
      );
      valTimes.sum += performance.now() - tv;
      valTimes.n += 1;
      const fitness = res.fitness;
      if (!bestFitness || bestFitness < fitness) bestFitness = fitness;
      if (earlyStop(stopper, epoch + 1, fitness, s.patience)) {
        stoppedEarly = epoch + 1 < s.epochs;
        if (stoppedEarly)
          log(`early stop after epoch ${epoch + 1}: no improvement in the last ${s.patience} epochs (best epoch ${stopper.bestEpoch})`);
      }
      const report: EpochReport = {
        epoch: epoch + 1,
        boxLoss: tloss[0],
        clsLoss: tloss[1],
        dflLoss: tloss[2],
        lr: lrs[1],
        lrs,
        precision: res.precision,
        recall: res.recall,
        map50: res.map50,
        map50_95: res.map50_95,
        fitness,
        valLoss: res.loss ?? [0, 0, 0],
        seconds: 0,
      };
      epochs.push(report);
      if (bestFitness === fitness) {
        // COCO evaluation of the epoch best.safetensors holds (pure arithmetic on the collected boxes).
        report.coco = res.coco?.summarize();
        bestIndex = epochs.length - 1;
        await saveBest(opts.checkpointDir, ema, epoch + 1, fitness);
      }
      report.seconds = (performance.now() - t0) / 1000;
      trainSeconds += report.seconds;
      const state: CheckpointState = {
        format: CHECKPOINT_FORMAT,
        epoch: epoch + 1,
        lastOptStep,
        emaUpdates: ema.updates,
        optimizer: opt.hyperState(),
        bestFitness,
        stopper: { ...stopper },
        epochs,
        trainSeconds,
        settingsKey: key,
        stoppedEarly,
      };
      await saveLast(opts.checkpointDir, model, ema, opt, state);
      await hooks.onEpoch?.(report);
    }
    finished = true;
    return resultOf(epochs, bestIndex, trainSeconds, stoppedEarly);
  } finally {
    acc.clear();
    opt.dispose();
    // The model keeps the final EMA weights (Ultralytics' last.pt) after a completed run.
    if (finished) ema.swap();
    ema.dispose();
    model.eval();
  }
}

/** Index of the epoch best.safetensors holds: the last epoch whose fitness equals the best fitness. */
function bestIndexOf(epochs: EpochReport[], bestFitness: number | null): number {
  for (let k = epochs.length - 1; k >= 0; k--) if (epochs[k].fitness === bestFitness) return k;
  return Math.max(epochs.length - 1, 0);
}
