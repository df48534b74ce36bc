/**
 * Learning-rate, momentum and accumulation schedule of Ultralytics 8.0.229's trainer
 * (ultralytics/engine/trainer.py `_setup_train`, `_setup_scheduler`, `_do_train`), as pure functions of
 * the global batch index `ni = i + nb * epoch`.
 *
 * - Epoch factor `lf(epoch)`: linear `max(1 - e/epochs, 0) * (1 - lrf) + lrf`, or with `cos_lr`
 *   `one_cycle(1, lrf, epochs)`: `max((1 - cos(e*pi/epochs)) / 2, 0) * (lrf - 1) + 1`. LambdaLR gives
 *   every group `initial_lr * lf(epoch)` during epoch `epoch`.
 * - Warmup over `nw = max(round(warmup_epochs * nb), 100)` batches (`-1`, none, when warmup_epochs is 0);
 *   while `ni <= nw`: accumulate = max(1, round(interp(ni, [0, nw], [1, nbs/batch]))), the bias group's lr
 *   falls from warmup_bias_lr and the others rise from 0 to `initial_lr * lf(epoch)` (np.interp), and an
 *   SGD momentum rises from warmup_momentum to momentum. After warmup: accumulate = max(round(nbs/batch), 1),
 *   lr = initial_lr * lf(epoch), momentum = `momentum` (or, without warmup, the optimizer's initial momentum).
 * Rounding is numpy's (half to even), as `np.interp(...).round()` and Python 3's `round`.
 * Status: exact semantics; no deviations known.
 */

/** numpy.interp for two points (xp[0] < xp[1]), with numpy's evaluation order. */
export function npInterp2(x: number, xp: readonly [number, number], fp: readonly [number, number]): number {
  if (x <= xp[0]) return fp[0];
  if (x >= xp[1]) return fp[1];
  const slope = (fp[1] - fp[0]) / (xp[1] - xp[0]);
  return slope * (x - xp[0]) + fp[0];
}

/** Round half to even (numpy.round / Python 3 round). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  // Math.round rounds .5 up; move exact halves that landed on an odd number down.
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}

/** The epoch factor of the LambdaLR scheduler. */
export function lrLambda(epoch: number, epochs: number, lrf: number, cosLr: boolean): number {
  if (cosLr) return Math.max((1 - Math.cos((epoch * Math.PI) / epochs)) / 2, 0) * (lrf - 1) + 1;
  return Math.max(1 - epoch / epochs, 0) * (1.0 - lrf) + lrf;
}

/** Number of warmup batches: max(round(warmup_epochs * nb), 100), or -1 when warmup_epochs <= 0. */
export function warmupIterations(warmupEpochs: number, nb: number): number {
  return warmupEpochs > 0 ? Math.max(roundHalfEven(warmupEpochs * nb), 100) : -1;
}

/** Accumulation outside warmup: max(round(nbs / batch), 1). */
export function baseAccumulate(nbs: number, batch: number): number {
  return Math.max(roundHalfEven(nbs / batch), 1);
}

export interface ScheduleConfig {
  epochs: number;
  /** Batches per epoch. */
  nb: number;
  batch: number;
  nbs: number;
  lrf: number;
  cosLr: boolean;
  warmupEpochs: number;
  warmupBiasLr: number;
  warmupMomentum: number;
  /** The `momentum` setting (the warmup target of an SGD momentum). */
  momentum: number;
  /** The momentum the optimizer was built with (differs from `momentum` when `optimizer: auto` picks SGD). */
  initialMomentum: number;
  /** initial_lr of each param group, Ultralytics' order: [biases, weights with decay, norm weights]. */
  initialLr: readonly number[];
  /** True for SGD (its groups have a momentum to ramp); Adam's betas are not ramped. */
  hasMomentum: boolean;
}

export interface ScheduleStep {
  /** lr of each param group for this batch. */
  lr: number[];
  /** SGD momentum for this batch (undefined for Adam/AdamW). */
  momentum: number | undefined;
  /** Accumulation: step the optimizer when `ni - lastOptStep >= accumulate`. */
  accumulate: number;
  /** Whether this batch is in warmup. */
  warmup: boolean;
}

/** lr per group, momentum and accumulation for global batch `ni` of epoch `epoch`. */
export function scheduleAt(cfg: ScheduleConfig, ni: number, epoch: number): ScheduleStep {
  const nw = warmupIterations(cfg.warmupEpochs, cfg.nb);
  const lf = lrLambda(epoch, cfg.epochs, cfg.lrf, cfg.cosLr);
  const target = cfg.initialLr.map((l) => l * lf);
  if (ni <= nw) {
    const xi: [number, number] = [0, nw];
    return {
      lr: target.map((t, j) => npInterp2(ni, xi, [j === 0 ? cfg.warmupBiasLr : 0.0, t])),
      momentum: cfg.hasMomentum ? npInterp2(ni, xi, [cfg.warmupMomentum, cfg.momentum]) : undefined,
      accumulate: Math.max(1, roundHalfEven(npInterp2(ni, xi, [1, cfg.nbs / cfg.batch]))),
      warmup: true,
    };
  }
  return {
    lr: target,
    momentum: cfg.hasMomentum ? (nw >= 0 ? cfg.momentum : cfg.initialMomentum) : undefined,
    accumulate: baseAccumulate(cfg.nbs, cfg.batch),
    warmup: false,
  };
}
