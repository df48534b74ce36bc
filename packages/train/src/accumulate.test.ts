// Gradient accumulation: the gradients summed over 2 batches of 4 (GradAccumulator, as PyTorch's `.grad +=`
// across backward passes) equal those of one batch of 8, for a loss that is a sum over images and a model
// without batch statistics (with BatchNorm in train mode or DetectionLoss' per-batch normalisation the two are
// different by construction, in PyTorch too). Then the same through clipping + an SGD step.
import { Generator, initBackend, Linear, Module, randNormal } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { clipGradNorm, type Grads, Optimizer, paramGroups } from './optimizer.js';
import { GradAccumulator } from './train.js';

class Mlp extends Module {
  readonly a: Linear;
  readonly b: Linear;
  constructor() {
    super();
    this.a = this.addModule('a', new Linear(5, 7));
    this.b = this.addModule('b', new Linear(7, 3));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.b.forward(tf.tanh(this.a.forward(x)));
  }
}

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

function gradsOf(m: Mlp, x: tf.Tensor, t: tf.Tensor): Grads {
  const vars = m.trainableVariables();
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(tf.sub(m.forward(x), t))) as tf.Scalar, vars);
  value.dispose();
  return grads;
}

describe('gradient accumulation', () => {
  it('accumulate 2 x batch 4 == batch 8 (gradients, then clipped SGD step)', () => {
    const m = new Mlp();
    const gen = new Generator(9);
    const x = randNormal([8, 5], 0, 1, gen);
    const t = randNormal([8, 3], 0, 1, gen);
    const before = tf.memory().numTensors;

    const full = gradsOf(m, x, t);
    const acc = new GradAccumulator();
    expect(acc.empty).toBe(true);
    for (const k of [0, 4]) {
      const xs = tf.slice(x, [k, 0], [4, 5]);
      const ts = tf.slice(t, [k, 0], [4, 3]);
      acc.add(gradsOf(m, xs, ts));
      tf.dispose([xs, ts]);
    }
    const summed = acc.take() as Grads;
    expect(acc.empty).toBe(true);
    expect(Object.keys(summed).sort()).toEqual(Object.keys(full).sort());
    let worst = 0;
    for (const k of Object.keys(full)) {
      const a = full[k].dataSync();
      const b = summed[k].dataSync();
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(a[i])));
    }
    console.log(`[accumulate] 2 x 4 vs 8: max rel diff of gradients ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);

    // the same clipped SGD step from both gradient sets gives the same weights
    const m2 = new Mlp();
    const sd = m.stateDict();
    m2.loadStateDict(sd);
    tf.dispose([...sd.values()]);
    const names2 = new Map(m2.namedParameters().map(([n, p]) => [n, p.variable.name]));
    const remap: Grads = {};
    for (const [n, p] of m.namedParameters()) remap[names2.get(n) as string] = summed[p.variable.name];
    const o1 = new Optimizer(paramGroups(m), { name: 'SGD', lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const o2 = new Optimizer(paramGroups(m2), { name: 'SGD', lr: 0.1, momentum: 0.9, weightDecay: 1e-3 });
    const c1 = clipGradNorm(full, 1);
    const c2 = clipGradNorm(remap, 1);
    o1.step(c1.grads);
    o2.step(c2.grads);
    const w1 = m.namedParameters().map(([, p]) => Array.from(p.variable.dataSync()));
    const w2 = m2.namedParameters().map(([, p]) => Array.from(p.variable.dataSync()));
    let worstW = 0;
    w1.forEach((w, j) => {
      for (let i = 0; i < w.length; i++) worstW = Math.max(worstW, Math.abs(w[i] - w2[j][i]));
    });
    expect(worstW).toBeLessThan(1e-6);
    tf.dispose([
      ...Object.values(full),
      ...Object.values(summed),
      ...Object.values(c1.grads),
      ...Object.values(c2.grads),
      c1.totalNorm,
      c2.totalNorm,
    ]);
    o1.dispose();
    o2.dispose();
    m2.dispose();

    // clear() drops a partial accumulation (zero_grad at an epoch start)
    acc.add(gradsOf(m, x, t));
    acc.clear();
    expect(acc.empty).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, t]);
    m.dispose();
  });
});
