/**
 * Inference speed: batch-1 eval-mode forward (the Detect decode included, NMS and data loading excluded)
 * on one fixed input tensor; `warmup` untimed runs, then `runs` timed runs, each ending when the output
 * is downloaded (so asynchronous backends are timed to completion). Reports the median FPS over the runs
 * and the latency percentiles p50 / p90 (numpy's linear interpolation).
 */
import { Generator, randUniform } from '@ablate/core';
import type { DetectionModel, DetectOutput } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';

export interface BenchResult {
  fps: number;
  p50Ms: number;
  p90Ms: number;
  runs: number;
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
  opts: { warmup?: number; runs?: number } = {},
): Promise<BenchResult> {
  const warmup = opts.warmup ?? 10;
  const runs = opts.runs ?? 50;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new Error(`benchFps: warmup must be an integer >= 0, got ${warmup}`);
  if (!(Number.isInteger(runs) && runs >= 1)) throw new Error(`benchFps: runs must be an integer >= 1, got ${runs}`);
  const [h, w] = typeof imgsz === 'number' ? [imgsz, imgsz] : imgsz;
  const x = randUniform([1, h, w, model.ch], 0, 1, new Generator(0));
  const wasTraining = model.training;
  model.eval();
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
    };
  } finally {
    x.dispose();
    model.train(wasTraining);
  }
}
