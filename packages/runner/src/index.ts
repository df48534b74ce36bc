/**
 * @ablate/runner: the sweep (experiment files, trials, workers, tracker), `pnpm golden` and `pnpm bench`,
 * usable from code as well as from the CLIs in `src/cli/`.
 */
export { type AttentionRow, benchAttention, YOLOV8N_640_SIZES } from './bench/attention.js';
export { benchConvKernels, YOLO_CONV_SHAPES } from './bench/kernels.js';
export { benchTrainStep } from './bench/train-step.js';
export { runGolden } from './golden/run.js';
export type { CaseLine, GoldenFamily, GoldenFile } from './golden/types.js';
export { ATTENTION_PLUGINS } from './plugins.js';
export { type Experiment, ExperimentError, loadExperiment, parseExperiment } from './sweep/experiment.js';
export { EXIT, runSweep, type SweepOptions } from './sweep/run.js';
export { expandTrials, type TrialSpec, trialId } from './sweep/trials.js';
