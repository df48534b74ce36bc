// Optimizer updates against hand computations in float64 (PyTorch's SGD-Nesterov, Adam and AdamW rules with
// Ultralytics' three param groups), the `auto` choice, gradient clipping, state round trip and leaks.
import { BatchNorm2d, Conv2d, Generator, initBackend, LayerNorm, Linear, Module } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  chooseOptimizer,
  clipFlatGradNorm,
  clipGradNorm,
  type Grads,
  lrFit,
  Optimizer,
  type OptimizerName,
  paramGroups,
} from './optimizer.js';

class Net extends Module {
  constructor() {
    super();
    this.addModule('conv', new Conv2d(2, 3, 3));
    this.addModule('bn', new BatchNorm2d(3));
    this.addModule('fc', new Linear(3, 2));
    this.addModule('norm', new LayerNorm(2));
  }
}

beforeAll(async () => {
  await initBackend('cpu', { log: false });
});

/** Random gradients for every trainable parameter, by variable name, plus float64 copies by param name. */
function randomGrads(net: Module, gen: Generator, scale = 1): { grads: Grads; ref: Map<string, Float64Array> } {
  const grads: Grads = {};
  const ref = new Map<string, Float64Array>();
  for (const [name, p] of net.namedParameters()) {
    const v = new Float32Array(p.size).map(() => gen.normal(0, scale));
    grads[p.variable.name] = tf.tensor(v, p.shape);
    ref.set(name, Float64Array.from(v));
  }
  return { grads, ref };
}

function snapshot(net: Module): Map<string, Float64Array> {
  return new Map(net.namedParameters().map(([n, p]) => [n, Float64Array.from(p.variable.dataSync())]));
}

function maxRelErr(net: Module, ref: Map<string, Float64Array>): number {
  let worst = 0;
  for (const [n, p] of net.namedParameters()) {
    const got = p.variable.dataSync();
    const want = ref.get(n) as Float64Array;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / Math.max(1e-3, Math.abs(want[i])));
  }
  return worst;
}

/** The naive reference of one optimizer over three steps with changing lr / momentum. */
function reference(
  name: OptimizerName,
  net: Module,
  steps: { lr: number[]; momentum: number; grads: Map<string, Float64Array> }[],
  wd: number,
) {
  const groups = paramGroups(net).map((g) => g.map((p) => p.name));
  const p = snapshot(net);
  const s1 = new Map<string, Float64Array>();
  const s2 = new Map<string, Float64Array>();
  const b1 = 0.9;
  const b2 = 0.999;
  steps.forEach((st, k) => {
    const t = k + 1;
    groups.forEach((names, j) => {
      const lr = st.lr[j];
      const decay = j === 1 ? wd : 0;
      for (const n of names) {
        const w = p.get(n) as Float64Array;
        const g = st.grads.get(n) as Float64Array;
        if (!s1.has(n)) {
          s1.set(n, new Float64Array(w.length));
          s2.set(n, new Float64Array(w.length));
        }
        const m = s1.get(n) as Float64Array;
        const v = s2.get(n) as Float64Array;
        for (let i = 0; i < w.length; i++) {
          if (name === 'SGD') {
            const d = g[i] + decay * w[i];
            m[i] = st.momentum * m[i] + d;
            w[i] -= lr * (d + st.momentum * m[i]);
          } else {
            let gi = g[i];
            if (name === 'AdamW') w[i] *= 1 - lr * decay;
            else gi += decay * w[i];
            m[i] = b1 * m[i] + (1 - b1) * gi;
            v[i] = b2 * v[i] + (1 - b2) * gi * gi;
            const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + 1e-8;
            w[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
          }
        }
      }
    });
  });
  return p;
}

describe('param groups', () => {
  it('biases / weights with decay / norm weights, in Ultralytics order', () => {
    const net = new Net();
    const g = paramGroups(net).map((x) => x.map((p) => p.name));
    expect(g[0]).toEqual(['conv.bias', 'bn.bias', 'fc.bias', 'norm.bias']);
    expect(g[1]).toEqual(['conv.weight', 'fc.weight']);
    expect(g[2]).toEqual(['bn.weight', 'norm.weight']);
    net.dispose();
  });
});

describe('optimizer choice', () => {
  it("'auto': AdamW with the lr fit up to 10000 iterations, else SGD 0.01; warmup_bias_lr 0", () => {
    const s = { lr0: 0.01, momentum: 0.937, warmup_bias_lr: 0.1 };
    expect(lrFit(3)).toBe(0.001429); // round(0.01 / 7, 6)
    expect(lrFit(80)).toBe(0.000119); // round(0.01 / 84, 6)
    const a = chooseOptimizer('auto', s, 3, 10000);
    expect([a.name, a.lr, a.momentum, a.warmupBiasLr]).toEqual(['AdamW', 0.001429, 0.9, 0]);
    const b = chooseOptimizer('auto', s, 3, 10001);
    expect([b.name, b.lr, b.momentum, b.warmupBiasLr]).toEqual(['SGD', 0.01, 0.9, 0]);
    const c = chooseOptimizer('SGD', s, 3, 5);
    expect([c.name, c.lr, c.momentum, c.warmupBiasLr, c.auto]).toEqual(['SGD', 0.01, 0.937, 0.1, undefined]);
    expect(() => chooseOptimizer('RMSprop' as OptimizerName, s, 3, 5)).toThrow(
      /Unknown optimizer "RMSprop"; known: auto, SGD, Adam, AdamW/,
    );
  });
});

describe('updates vs float64 hand computation (3 steps, changing lr and momentum)', () => {
  for (const name of ['SGD', 'Adam', 'AdamW'] as OptimizerName[]) {
    it(name, () => {
      const net = new Net();
      const before = tf.memory().numTensors;
      const wd = 0.05; // large, so that a wrong group assignment shows
      const opt = new Optimizer(paramGroups(net), { name, lr: 0.01, momentum: name === 'SGD' ? 0.8 : 0.9, weightDecay: wd });
      const gen = new Generator(11);
      const steps = [
        { lr: [0.1, 0.0, 0.0], momentum: 0.8 },
        { lr: [0.05, 0.02, 0.02], momentum: 0.85 },
        { lr: [0.01, 0.01, 0.01], momentum: 0.937 },
      ].map((st) => ({ ...st, ...randomGrads(net, gen) }));
      const want = reference(
        name,
        net,
        steps.map((st) => ({ lr: st.lr, momentum: name === 'SGD' ? st.momentum : 0.9, grads: st.ref })),
        wd,
      );
      for (const st of steps) {
        opt.setHyper(st.lr, name === 'SGD' ? st.momentum : undefined);
        opt.step(st.grads);
        tf.dispose(Object.values(st.grads));
      }
      const err = maxRelErr(net, want);
      console.log(`[optimizer] ${name}: max rel error vs float64 after 3 steps ${err.toExponential(2)}`);
      expect(err).toBeLessThan(2e-5);
      expect(opt.stepCount).toBe(3);
      opt.dispose();
      expect(tf.memory().numTensors).toBe(before);
      net.dispose();
    });
  }

  it('state round trip: a restored optimizer continues identically', () => {
    const a = new Net();
    const b = new Net();
    const copy = () => {
      const sd = a.stateDict();
      b.loadStateDict(sd);
      tf.dispose([...sd.values()]);
    };
    copy();
    const optA = new Optimizer(paramGroups(a), { name: 'SGD', lr: 0.01, momentum: 0.9, weightDecay: 0.01 });
    const gen = new Generator(3);
    // two steps on A
    const g1 = randomGrads(a, gen);
    optA.step(g1.grads);
    tf.dispose(Object.values(g1.grads));
    copy();
    const optB = new Optimizer(paramGroups(b), { name: 'SGD', lr: 0.5, momentum: 0.1, weightDecay: 0.01 });
    const st = optA.stateTensors();
    optB.loadState(optA.hyperState(), (n) => st.get(n));
    tf.dispose([...st.values()]);
    // same gradients on both
    const g2 = randomGrads(a, gen);
    const g2b: Grads = {};
    const pa = a.namedParameters();
    const pb = b.namedParameters();
    pa.forEach(([, p], i) => {
      g2b[pb[i][1].variable.name] = tf.clone(g2.grads[p.variable.name]);
    });
    optA.step(g2.grads);
    optB.step(g2b);
    tf.dispose([...Object.values(g2.grads), ...Object.values(g2b)]);
    expect(optB.stepCount).toBe(2);
    pa.forEach(([n, p], i) => {
      expect(Array.from(pb[i][1].variable.dataSync()), n).toEqual(Array.from(p.variable.dataSync()));
    });
    optA.dispose();
    optB.dispose();
    a.dispose();
    b.dispose();
  });
});

describe('gradient clipping (clip_grad_norm_, max_norm 10)', () => {
  it('scales by max_norm / (norm + 1e-6) when above, leaves gradients unchanged below', () => {
    const before = tf.memory().numTensors;
    const a = new Float32Array([3, 4, 0, 12]); // norm 13
    const b = new Float32Array([0]);
    const grads: Grads = { a: tf.tensor(a, [2, 2]), b: tf.tensor(b) };
    const big = clipGradNorm(grads, 10);
    expect(big.totalNorm.dataSync()[0]).toBeCloseTo(13, 5);
    const coef = 10 / (13 + 1e-6);
    const got = big.grads.a.dataSync();
    for (let i = 0; i < a.length; i++) expect(Math.abs(got[i] - a[i] * coef)).toBeLessThan(1e-6);
    const small = clipGradNorm(grads, 100);
    const got2 = small.grads.a.dataSync();
    expect(Array.from(got2)).toEqual(Array.from(a)); // coef clamped to 1
    // norm of every tensor together: sqrt(13^2 + 5^2)
    const c: Grads = { a: grads.a, c: tf.tensor([3, 4]) };
    const both = clipGradNorm(c, 1);
    expect(both.totalNorm.dataSync()[0]).toBeCloseTo(Math.sqrt(169 + 25), 4);
    tf.dispose([...Object.values(grads), c.c, big.totalNorm, ...Object.values(big.grads), small.totalNorm, ...Object.values(small.grads)]);
    tf.dispose([both.totalNorm, ...Object.values(both.grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('flat updates', () => {
  it('a parameter without a gradient keeps its value and gets no state (torch skips p.grad None)', () => {
    const net = new Net();
    const before = tf.memory().numTensors;
    const opt = new Optimizer(paramGroups(net), { name: 'AdamW', lr: 0.01, momentum: 0.9, weightDecay: 0.1 });
    const gen = new Generator(5);
    const { grads } = randomGrads(net, gen);
    const [skipName, skip] = net.namedParameters().find(([n]) => n === 'conv.weight') as [string, { variable: tf.Variable }];
    const kept = Array.from(skip.variable.dataSync());
    const others = net.namedParameters().filter(([n]) => n !== skipName);
    const old = others.map(([, p]) => Array.from(p.variable.dataSync()));
    grads[skip.variable.name].dispose();
    delete grads[skip.variable.name];
    opt.step(grads);
    expect(Array.from(skip.variable.dataSync())).toEqual(kept);
    others.forEach(([n, p], i) => {
      expect(Array.from(p.variable.dataSync()), n).not.toEqual(old[i]);
    });
    const st = opt.stateTensors();
    expect(st.has(`${skipName}.exp_avg`)).toBe(false);
    expect(st.has('conv.bias.exp_avg')).toBe(true);
    tf.dispose([...st.values(), ...Object.values(grads)]);
    opt.dispose();
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });

  it('clipFlatGradNorm equals clipGradNorm on the same gradients', () => {
    const net = new Net();
    const opt = new Optimizer(paramGroups(net), { name: 'SGD', lr: 0.01, momentum: 0.9, weightDecay: 0 });
    const { grads } = randomGrads(net, new Generator(6), 10);
    const ref = clipGradNorm(grads, 1);
    const fg = opt.flattenGrads(grads);
    const flat = clipFlatGradNorm(fg, 1);
    expect(flat.totalNorm.dataSync()[0]).toBeCloseTo(ref.totalNorm.dataSync()[0], 4);
    const refFlat = opt.flattenGrads(ref.grads);
    refFlat.grads.forEach((g, j) => {
      const a = g.dataSync();
      const b = flat.grads.grads[j].dataSync();
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i] - b[i])).toBeLessThan(1e-6 * Math.max(1, Math.abs(a[i])));
    });
    tf.dispose([...Object.values(grads), ...Object.values(ref.grads), ref.totalNorm, ...fg.grads, ...flat.grads.grads, flat.totalNorm]);
    tf.dispose(refFlat.grads);
    opt.dispose();
    net.dispose();
  });
});
