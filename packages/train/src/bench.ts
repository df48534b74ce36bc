/**
 * Inference speed as Ultralytics measures it: batch-1 eval-mode forward of the fused model (BatchNorm
 * folded into the convs, Ultralytics' `model.fuse()`; @ablate/yolov8's fuseModel, undone afterwards), the
 * Detect decode included, NMS and data loading excluded (Ultralytics reports NMS as its own
 * "postprocess" time), on one fixed input tensor; `warmup` untimed runs, then `runs` timed runs, each ending when the output
 * is downloaded (so asynchronous backends are timed to completion). Reports the median FPS over the runs
 * and the latency percentiles p50 / p90 (numpy's linear interpolation).
 */
import { Generator, randUniform } from '@ablate/core';
import { type DetectionModel, type DetectOutput, fuseModel } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';

export interface BenchResult {
  fps: number;
  p50Ms: number;
  p90Ms: number;
  runs: number;
  /** BatchNorm folded into the convs while timed. */
  fused: boolean;
  /** NMS inside the timed region (never, here: see the header). */
  nms: boolean;
}

/** numpy.percentile with linear interpolation (q in 0..100) of unsorted values. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error('percentile: no values');
  const s = [...values].sort((a, b) => a - b);
  const pos = ((s.length - 1) * q) / 100;
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, s.length - 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

export async function benchFps(
  model: DetectionModel,
  imgsz: number | [number, number],
  opts: { warmup?: number; runs?: number; fuse?: boolean } = {},
): Promise<BenchResult> {
  const warmup = opts.warmup ?? 10;
  const runs = opts.runs ?? 50;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`benchFps: warmup must be an integer >= 0, got ${warmup}`);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`benchFps: runs must be an integer >= 1, got ${runs}`);
  const [h, w] = typeof imgsz === 'number' ? [imgsz, imgsz] : imgsz;
  const x = randUniform([1, h, w, model.ch], 0, 1, new Generator(0));
  const wasTraining = model.training;
  model.eval();
  const fusion = opts.fuse === false ? null : fuseModel(model);
  const once = async (): Promise<number> => {
    const t0 = performance.now();
    const out = model.forward(x) as DetectOutput;
    await out.inference.data();
    const t = performance.now() - t0;
    tf.dispose([out.inference, ...out.raw]);
    return t;
  };
  try {
    for (let i = 0; i < warmup; i++) await once();
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) ms.push(await once());
    return {
      fps: percentile(
        ms.map((m) => 1000 / m),
        50,
      ),
      p50Ms: percentile(ms, 50),
      p90Ms: percentile(ms, 90),
      runs,
      fused: fusion !== null && fusion.fused > 0,
      nms: false,
    };
  } finally {
    fusion?.undo();
    x.dispose();
    model.train(wasTraining);
  }
}
