/**
 * @ablate/train: training and validation as Ultralytics 8.0.229 does them (optimizer choice and param
 * groups, SGD Nesterov / Adam / AdamW, warmup and lr schedules, accumulation to nbs 64, gradient clipping,
 * EMA, close_mosaic, early stopping, best/last safetensors checkpoints, exact resume) and the FPS benchmark.
 */

export {
  ARTEFACT_IMAGES,
  ARTEFACTS_DIR,
  ARTEFACTS_FILE,
  ARTEFACTS_FORMAT,
  type ArtefactCurve,
  type ArtefactOptions,
  type Artefacts,
  labelStats,
  loadBest,
  type ModuleArtefact,
  readArtefacts,
  writeArtefacts,
} from './artefacts.js';
export { type BenchResult, benchFps, percentile } from './bench.js';
export { BEST, CHECKPOINT_FORMAT, type CheckpointState, LAST, type LoadedCheckpoint, readLast } from './checkpoint.js';
export { emaDecay, ModelEMA } from './ema.js';
export { FlatLayout } from './flat.js';
export {
  chooseOptimizer,
  clipFlatGradNorm,
  clipGradNorm,
  type FlatGrads,
  type Grads,
  type GroupState,
  isNormModule,
  lrFit,
  type NamedParam,
  OPTIMIZER_NAMES,
  Optimizer,
  type OptimizerChoice,
  type OptimizerName,
  type OptimizerOptions,
  paramGroups,
} from './optimizer.js';
export {
  baseAccumulate,
  lrLambda,
  npInterp2,
  roundHalfEven,
  type ScheduleConfig,
  type ScheduleStep,
  scheduleAt,
  warmupIterations,
} from './schedule.js';
export { checkTrainSettings, DEFAULT_TRAIN, DEFAULT_VAL, type TrainSettings, type ValSettings } from './settings.js';
export {
  batchGradients,
  earlyStop,
  GradAccumulator,
  MAX_GRAD_NORM,
  mosaicOn,
  optimizerStep,
  type TrainBatchSource,
  type TrainOptions,
  train,
} from './train.js';
export { AbortError, type BatchProgress, type EpochReport, NonFiniteLossError, type TrainHooks, type TrainResult } from './types.js';
export {
  type BatchSource,
  unletterbox,
  type ValImage,
  type ValidateOptions,
  type ValidationResult,
  validate,
  validateBatches,
} from './validate.js';
