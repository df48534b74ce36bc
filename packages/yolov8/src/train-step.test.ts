// One training step of yolov8n (forward, v8DetectionLoss, backward, SGD) at 64 px, batch 2: it runs on wasm and on
// node, and their loss and gradients match the cpu backend's (same seeded weights and data on all). No timings are asserted.
// 64 px keeps the cpu reference step under vitest's 60 s worker RPC limit (a synchronous step blocks the worker); it still
// covers TensorFlow's oneDNN 1x1 input-gradient bug (SPPF's cv2 on a 2x2 map, see @ablate/core's node kernels).
import { Generator, initBackend, manualSeed, randUniform } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DetectionLoss } from './loss/index.js';
import { buildModel } from './model.js';

const NC = 3;
const TARGETS = {
  batchIdx: [0, 0, 1, 1],
  cls: [0, 2, 1, 0],
  bboxes: [
    [0.3, 0.4, 0.25, 0.3],
    [0.7, 0.6, 0.4, 0.5],
    [0.5, 0.5, 0.6, 0.35],
    [0.2, 0.8, 0.08, 0.1],
  ],
};

interface StepResult {
  loss: number;
  items: number[];
  grads: Map<string, Float32Array>;
  /** loss after one SGD step on the same batch */
  lossAfter: number;
  leaked: number;
}

async function step(backend: 'cpu' | 'wasm' | 'node'): Promise<StepResult> {
  await initBackend(backend, { log: false });
  manualSeed(2024);
  const model = buildModel('yolov8n.yaml', { nc: NC });
  const x = randUniform([2, 64, 64, 3], 0, 1, new Generator(7));
  const crit = new DetectionLoss({ nc: NC, strides: model.stride });
  const named = model.namedParameters().filter(([, p]) => p.trainable);
  const vars = named.map(([, p]) => p.variable);
  const before = tf.memory().numTensors;
  model.train();
  let loss = 0;
  let items: number[] = [];
  const { value, grads } = tf.variableGrads(() => {
    const r = crit.compute(model.forward(x) as tf.Tensor4D[], TARGETS);
    items = r.items;
    return r.loss;
  }, vars);
  loss = value.dataSync()[0];
  const out = new Map<string, Float32Array>();
  for (const [name, p] of named) out.set(name, grads[p.variable.name].dataSync() as Float32Array);
  const opt = tf.train.sgd(0.01);
  opt.applyGradients(grads);
  tf.dispose([value, ...Object.values(grads)]);
  opt.dispose();
  const leaked = tf.memory().numTensors - before;
  const lossAfter = tf.tidy(() => crit.compute(model.forward(x) as tf.Tensor4D[], TARGETS).loss.dataSync()[0]);
  x.dispose();
  model.dispose();
  return { loss, items, grads: out, lossAfter, leaked };
}

let cpuStep: StepResult | undefined;
const cpuReference = async () => {
  cpuStep ??= await step('cpu');
  return cpuStep;
};

describe('training step vs cpu', () => {
  it.each(testBackends(['wasm', 'node']))('yolov8n at 64 px, batch 2, on %s: same loss and gradients as cpu', async (backend) => {
    const cpu = await cpuReference();
    const other = await step(backend);
    expect(cpu.leaked).toBe(0);
    expect(other.leaked).toBe(0);
    expect(Number.isFinite(cpu.loss) && cpu.loss > 0).toBe(true);
    expect(Math.abs(other.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-4);
    for (let i = 0; i < 3; i++) expect(Math.abs(other.items[i] - cpu.items[i])).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.items[i])));
    // every trainable tensor has a gradient; compare per tensor and over all
    expect(other.grads.size).toBe(cpu.grads.size);
    let num = 0;
    let den = 0;
    let worst = 0;
    let worstName = '';
    const zero: string[] = [];
    for (const [name, g] of cpu.grads) {
      const h = other.grads.get(name) as Float32Array;
      expect(h.length, name).toBe(g.length);
      let n = 0;
      let d = 0;
      for (let i = 0; i < g.length; i++) {
        n += (h[i] - g[i]) ** 2;
        d += g[i] ** 2;
      }
      num += n;
      den += d;
      if (d === 0) zero.push(name);
      const rel = Math.sqrt(n) / Math.max(Math.sqrt(d), 1e-12);
      if (d > 1e-20 && rel > worst) {
        worst = rel;
        worstName = name;
      }
    }
    const total = Math.sqrt(num / den);
    console.log(
      `[train step] loss cpu ${cpu.loss.toFixed(6)} ${backend} ${other.loss.toFixed(6)}; grads rel_l2 total ${total.toExponential(2)}, worst tensor ${worstName} ${worst.toExponential(2)}; loss after SGD ${cpu.lossAfter.toFixed(6)} / ${other.lossAfter.toFixed(6)}`,
    );
    // Only box-branch tensors of a level without foreground anchors may have no gradient (box/DFL loss is fg-only).
    console.log(`[train step] tensors with zero gradient: ${zero.length ? zero.join(', ') : 'none'}`);
    expect(zero.every((n) => /^model\.22\.cv2\.\d\./.test(n))).toBe(true);
    expect(zero.length).toBeLessThan(cpu.grads.size / 4);
    expect(total).toBeLessThan(1e-4);
    expect(worst).toBeLessThan(1e-3);
    // the step changed the model in the same way on both backends
    expect(cpu.lossAfter).not.toBe(cpu.loss);
    expect(Math.abs(other.lossAfter - cpu.lossAfter) / cpu.lossAfter).toBeLessThan(1e-3);
  });
});
