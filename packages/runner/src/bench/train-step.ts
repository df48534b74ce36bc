/**
 * One YOLOv8n training step exactly as a sweep trial runs it (@ablate/train's batchGradients: forward in
 * train mode + v8DetectionLoss + backward; then optimizerStep: clip to global norm 10, AdamW as
 * Ultralytics' `auto` picks for short runs, EMA update), on random images with 3 boxes each. Reports the
 * median and minimum over `steps` timed steps after one warm-up step, the peak memory of live tensors,
 * and the kernels one step dispatches, by kernel name (tf.profile of one step, untimed).
 */
import { Generator, manualSeed, randUniform } from '@ablate/core';
import { batchGradients, type Grads, ModelEMA, Optimizer, optimizerStep, paramGroups } from '@ablate/train';
import { buildModel, DetectionLoss } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';

export interface TrainStepResult {
  medianMs: number;
  minMs: number;
  /** Peak bytes of live tensors during one step (tf.profile). */
  peakBytes: number;
  params: number;
  /** Kernels dispatched by one step. */
  kernels: number;
  /** The same, by kernel name, most frequent first. */
  byKernel: [string, number][];
  note?: string;
}

export async function benchTrainStep(opts: {
  batch: number;
  imgsz: number;
  steps: number;
  nc?: number;
  model?: string;
}): Promise<TrainStepResult> {
  const nc = opts.nc ?? 80;
  manualSeed(0);
  const model = buildModel(opts.model ?? 'yolov8n.yaml', { nc });
  const g = new Generator(1);
  const images = randUniform([opts.batch, opts.imgsz, opts.imgsz, 3], 0, 1, g);
  const batch = {
    images: (await images.data()) as Float32Array,
    shape: [opts.batch, opts.imgsz, opts.imgsz, 3] as [number, number, number, 3],
    targets: { batchIdx: [] as number[], cls: [] as number[], bboxes: [] as number[][] },
  };
  images.dispose();
  // 3 objects per image, normalised xywh.
  for (let b = 0; b < opts.batch; b++) {
    for (let k = 0; k < 3; k++) {
      batch.targets.batchIdx.push(b);
      batch.targets.cls.push(g.int(nc));
      batch.targets.bboxes.push([g.uniform(0.2, 0.8), g.uniform(0.2, 0.8), g.uniform(0.05, 0.4), g.uniform(0.05, 0.4)]);
    }
  }
  const crit = new DetectionLoss({ nc, strides: model.stride });
  const groups = paramGroups(model);
  const vars = groups.flat().map((p) => p.param.variable);
  const opt = new Optimizer(groups, { name: 'AdamW', lr: 1e-3, momentum: 0.9, weightDecay: 5e-4 });
  const ema = new ModelEMA(model);
  model.train();
  const step = async () => {
    const { grads } = await batchGradients(model, crit, vars, batch);
    optimizerStep(opt, ema, grads as Grads);
  };
  try {
    await step();
    const prof = await tf.profile(step);
    const counts = new Map<string, number>();
    for (const k of prof.kernels) counts.set(k.name, (counts.get(k.name) ?? 0) + 1);
    const times: number[] = [];
    for (let i = 0; i < opts.steps; i++) {
      const t = performance.now();
      await step();
      // The step ends when the updated weights are computed (asynchronous backends included).
      await vars[vars.length - 1].data();
      times.push(performance.now() - t);
    }
    const s = [...times].sort((a, b) => a - b);
    return {
      medianMs: s[s.length >> 1],
      minMs: s[0],
      peakBytes: prof.peakBytes,
      params: model.numParams(),
      kernels: prof.kernels.length,
      byKernel: [...counts.entries()].sort((a, b) => b[1] - a[1]),
    };
  } finally {
    opt.dispose();
    ema.dispose();
    model.dispose();
  }
}
