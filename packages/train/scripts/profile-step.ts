/**
 * Where a training step's time goes: data (DataLoader batch with mosaic), forward+loss+backward, gradient
 * accumulation, clipping + optimizer + EMA, validation batch. yolov8n on the synthetic set, wasm.
 *   node ../../node_modules/.pnpm/node_modules/vite-node/vite-node.mjs --config vitest.config.ts \
 *     scripts/profile-step.ts -- --imgsz 128 --batch 16 --steps 6
 */
import * as os from 'node:os';
import { initBackend, manualSeed } from '@ablate/core';
import { DataLoader, syntheticDataset } from '@ablate/data';
import { buildModel, DetectionLoss } from '@ablate/yolov8';
import * as tf from '@tensorflow/tfjs-core';
import {
  batchGradients,
  DEFAULT_TRAIN,
  GradAccumulator,
  type Grads,
  ModelEMA,
  Optimizer,
  optimizerStep,
  paramGroups,
} from '../src/index.js';

const a = process.argv.slice(2).filter((x) => x !== '--');
const opt = (k: string, d: number) => {
  const i = a.indexOf(`--${k}`);
  return i >= 0 ? Number(a[i + 1]) : d;
};

async function main() {
  const imgsz = opt('imgsz', 128);
  const batch = opt('batch', 16);
  const steps = opt('steps', 6);
  await initBackend('wasm', { threads: opt('threads', 1), log: false });
  const data = await syntheticDataset({ train: 256, val: 64, imgsz });
  manualSeed(0);
  const model = buildModel('yolov8n.yaml', { nc: data.nc });
  const loader = new DataLoader(data.train, { batch, imgsz, shuffle: true, seed: 0, augment: DEFAULT_TRAIN.augment });
  const groups = paramGroups(model);
  const vars = groups.flat().map((p) => p.param.variable);
  const o = new Optimizer(groups, { name: 'AdamW', lr: 0.001, momentum: 0.9, weightDecay: 5e-4 });
  const ema = new ModelEMA(model);
  const crit = new DetectionLoss({ nc: data.nc, strides: model.stride });
  const acc = new GradAccumulator();
  const t = { data: 0, grads: 0, acc: 0, step: 0 };
  let n = 0;
  let tp = performance.now();
  model.train();
  for await (const b of loader.epoch(0)) {
    const t0 = performance.now();
    if (n > 0) t.data += t0 - tp;
    const { grads } = await batchGradients(model, crit, vars, b);
    const t1 = performance.now();
    acc.add(grads);
    const t2 = performance.now();
    optimizerStep(o, ema, acc.take() as Grads);
    const t3 = performance.now();
    if (n > 0) {
      t.grads += t1 - t0;
      t.acc += t2 - t1;
      t.step += t3 - t2;
    }
    n++;
    tp = performance.now();
    if (n > steps) break;
  }
  const per = (v: number) => `${(v / steps).toFixed(0)} ms`;
  console.log(
    `batch ${batch} at ${imgsz} px, mean over ${steps} steps after one warm-up: data wait ${per(t.data)}, forward+loss+backward ${per(t.grads)}, ` +
      `accumulate ${per(t.acc)}, clip+optimizer+EMA ${per(t.step)}; load ${os.loadavg()[0].toFixed(2)}`,
  );
  // data preparation alone (no training between batches)
  const td = performance.now();
  let k = 0;
  for await (const _ of loader.epoch(1)) {
    if (++k >= steps) break;
  }
  console.log(`data alone: ${((performance.now() - td) / k).toFixed(0)} ms per batch (mosaic on)`);
  // profile of the forward/backward
  const b0 = await loader.epoch(2)[Symbol.asyncIterator]().next();
  const prof = await tf.profile(async () => {
    const { grads } = await batchGradients(model, crit, vars, b0.value);
    tf.dispose(Object.values(grads));
  });
  const byKernel = new Map<string, number>();
  for (const kk of prof.kernels) byKernel.set(kk.name, (byKernel.get(kk.name) ?? 0) + (kk.kernelTimeMs as number));
  const top = [...byKernel.entries()].sort((x, y) => y[1] - x[1]).slice(0, 15);
  console.log(`kernels: ${prof.kernels.length}; top: ${top.map(([nm, ms]) => `${nm} ${ms.toFixed(0)}`).join(', ')}`);
  o.dispose();
  ema.dispose();
  model.dispose();
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
