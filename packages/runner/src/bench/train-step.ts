/**
 * Time of one YOLOv8n training step on the current backend: forward in train mode, v8DetectionLoss on
 * random targets, backward, SGD update. Batch and image size as given; the median over `steps` timed
 * steps after one warm-up step.
 */
import { Generator, manualSeed, randUniform } from '@ablate/core';
import { buildModel, DetectionLoss } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';

export interface TrainStepResult {
  medianMs: number;
  minMs: number;
  /** Peak bytes of live tensors during one step (tf.profile). */
  peakBytes: number;
  params: number;
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
  const x = randUniform([opts.batch, opts.imgsz, opts.imgsz, 3], 0, 1, g);
  // 3 objects per image, normalised xywh.
  const batchIdx: number[] = [];
  const cls: number[] = [];
  const bboxes: number[][] = [];
  for (let b = 0; b < opts.batch; b++) {
    for (let k = 0; k < 3; k++) {
      batchIdx.push(b);
      cls.push(g.int(nc));
      bboxes.push([g.uniform(0.2, 0.8), g.uniform(0.2, 0.8), g.uniform(0.05, 0.4), g.uniform(0.05, 0.4)]);
    }
  }
  const targets = { batchIdx, cls, bboxes };
  const crit = new DetectionLoss({ nc, strides: model.stride });
  const vars = model.trainableVariables();
  const opt = tf.train.sgd(1e-3);
  model.train();
  const step = () => {
    const cost = opt.minimize(() => crit.compute(model.forward(x) as tf.Tensor4D[], targets).loss, true, vars);
    cost?.dataSync();
    cost?.dispose();
  };
  step();
  const prof = await tf.profile(step);
  const times: number[] = [];
  for (let i = 0; i < opts.steps; i++) {
    const t = performance.now();
    step();
    times.push(performance.now() - t);
  }
  const params = model.numParams();
  opt.dispose();
  x.dispose();
  model.dispose();
  const s = [...times].sort((a, b) => a - b);
  return { medianMs: s[s.length >> 1], minMs: s[0], peakBytes: prof.peakBytes, params };
}
