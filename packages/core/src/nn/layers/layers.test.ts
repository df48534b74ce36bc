import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend/index.js';
import { Generator, manualSeed } from '../../rng.js';
import { testBackends } from '../../testing/index.js';
import type { Layer } from '../module.js';
import { GELU, Identity, ReLU, Sigmoid, SiLU, Softplus, Tanh } from './activation.js';
import { BatchNorm2d } from './batchnorm.js';
import { ModuleList, Sequential } from './container.js';
import { Conv2d } from './conv.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';
import { LayerNorm, LayerNorm2d } from './norm.js';
import { AvgPool2d, MaxPool2d } from './pool.js';
import {
  type F,
  gelu64,
  layerNorm64,
  linear64,
  pool64,
  relu64,
  sigmoid64,
  silu64,
  softplus64,
  tanh64,
  upsample64,
} from './test-utils/naive-layers.js';
import { erf64, fdGrad, maxAbsErr, maxRelErr, noLeak, randArray, size, tfGrad, toF64, toTensor } from './test-utils/reference.js';
import { Upsample } from './upsample.js';

const worst: Record<string, number> = {};
const note = (k: string, v: number) => {
  worst[k] = Math.max(worst[k] ?? 0, v);
};

/** Forward vs float64 and d/dx sum(f(x)*r) vs central differences of the float64 reference. */
function checkLayer(
  label: string,
  layer: Layer,
  f64: F,
  xd: Float64Array,
  shape: number[],
  outShape: number[],
  gen: Generator,
  tol = { fwd: 2e-6, grad: 1e-4 },
) {
  const x = toTensor(xd, shape);
  noLeak(() => {
    const y = layer.forward(x);
    expect(y.shape).toEqual(outShape);
    const e = maxRelErr(toF64(y), f64(xd));
    note(`${label} fwd`, e);
    expect(e, `${label} forward`).toBeLessThan(tol.fwd);
    if (y !== x) y.dispose();
  });
  const rd = randArray(size(outShape), gen);
  const r = toTensor(rd, outShape);
  const g = noLeak(() => tfGrad((xx) => layer.forward(xx), x, r));
  const ref = fdGrad(f64, xd, rd);
  const e = maxRelErr(g, ref);
  note(`${label} grad`, e);
  expect(e, `${label} gradient`).toBeLessThan(tol.grad);
  tf.dispose([x, r]);
}

describe.each(testBackends())('layers on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { log: false });
  });
  afterAll(() => {
    console.log(
      `[layers ${backend}] worst rel errors: ${Object.entries(worst)
        .map(([k, v]) => `${k} ${v.toExponential(1)}`)
        .join(', ')}`,
    );
    for (const k of Object.keys(worst)) delete worst[k];
  });

  it('the float64 erf reference is right', () => {
    const known: [number, number][] = [
      [0.01, 0.011283415555849618],
      [0.5, 0.5204998778130465],
      [-1.2, -0.9103139782296353],
      [2.5, 0.999593047982555],
      [3, 0.9999779095030014],
      [3.5, 0.9999992569016276],
    ];
    for (const [x, v] of known) expect(Math.abs(erf64(x) - v)).toBeLessThan(1e-13);
  });

  const shape = [2, 3, 4, 5];
  const acts: [string, () => Layer, F, number, number][] = [
    ['SiLU', () => new SiLU(), silu64, -4, 4],
    ['GELU', () => new GELU(), gelu64, -4, 4],
    ['ReLU', () => new ReLU(), relu64, -2, 2],
    ['Sigmoid', () => new Sigmoid(), sigmoid64, -6, 6],
    ['Tanh', () => new Tanh(), tanh64, -3, 3],
    ['Softplus', () => new Softplus(), softplus64, -25, 25],
    ['Identity', () => new Identity(), (x) => Float64Array.from(x), -2, 2],
  ];
  for (const [name, make, f64, lo, hi] of acts) {
    it(`${name}: forward and gradient vs float64`, () => {
      const gen = new Generator(name.length + 100);
      const xd = randArray(size(shape), gen, lo, hi);
      // Keep away from ReLU's kink, where finite differences are undefined.
      if (name === 'ReLU') for (let i = 0; i < xd.length; i++) if (Math.abs(xd[i]) < 1e-3) xd[i] = 0.5;
      checkLayer(name, make(), f64, xd, shape, shape, gen);
    });
  }

  it('Softplus matches PyTorch around the threshold (|x| up to 30)', () => {
    const xs = [-30, -20.5, -1, 0, 1, 19.9, 20, 20.1, 30];
    const x = tf.tensor(xs);
    noLeak(() => {
      const y = new Softplus().forward(x);
      expect(maxRelErr(toF64(y), softplus64(Float64Array.from(xs)), 1e-30)).toBeLessThan(1e-6);
      y.dispose();
    });
    x.dispose();
  });

  const pools: [string, () => Layer, number[], (x: Float64Array, s: number[]) => { y: Float64Array; shape: number[] }][] = [
    ['MaxPool2d(5,1,2) (SPPF)', () => new MaxPool2d(5, 1, 2), [2, 6, 7, 3], (x, s) => pool64(x, s, [5, 5], [1, 1], [2, 2], 'max')],
    ['MaxPool2d(2)', () => new MaxPool2d(2), [2, 7, 6, 3], (x, s) => pool64(x, s, [2, 2], [2, 2], [0, 0], 'max')],
    ['MaxPool2d(3,2,1)', () => new MaxPool2d(3, 2, 1), [1, 7, 8, 2], (x, s) => pool64(x, s, [3, 3], [2, 2], [1, 1], 'max')],
    ['AvgPool2d(2)', () => new AvgPool2d(2), [2, 6, 7, 3], (x, s) => pool64(x, s, [2, 2], [2, 2], [0, 0], 'avg')],
    [
      'AvgPool2d(3,1,1) countIncludePad',
      () => new AvgPool2d(3, 1, 1),
      [1, 5, 6, 2],
      (x, s) => pool64(x, s, [3, 3], [1, 1], [1, 1], 'avg', true),
    ],
    [
      'AvgPool2d(3,2,1) excludePad',
      () => new AvgPool2d(3, 2, 1, { countIncludePad: false }),
      [2, 7, 6, 2],
      (x, s) => pool64(x, s, [3, 3], [2, 2], [1, 1], 'avg', false),
    ],
  ];
  for (const [name, make, shp, ref] of pools) {
    it(`${name}: forward and gradient vs float64 (all-negative windows included)`, () => {
      const gen = new Generator(name.length * 3);
      // Negative values everywhere: max pooling must still pick the max, with -inf padding.
      const xd = randArray(size(shp), gen, -3, -0.5);
      const { shape: outShape } = ref(xd, shp);
      checkLayer(name, make(), (x) => ref(x, shp).y, xd, shp, outShape, gen);
    });
  }

  for (const [B, sh, sw] of [
    [1, 2, 2],
    [3, 2, 2],
    [2, 3, 2],
  ] as const) {
    it(`Upsample nearest x(${sh},${sw}) batch ${B}: forward and gradient vs float64`, () => {
      const gen = new Generator(B * 10 + sh);
      const shp = [B, 3, 4, 2];
      const xd = randArray(size(shp), gen);
      const up = new Upsample({ scaleFactor: sh === sw ? sh : [sh, sw] });
      checkLayer('Upsample', up, (x) => upsample64(x, shp, sh, sw), xd, shp, [B, 3 * sh, 4 * sw, 2], gen);
    });
  }

  it('Linear on rank 2, 3 and 4 inputs: forward, gradients (x, weight, bias) vs float64', () => {
    manualSeed(5);
    const lin = new Linear(6, 4);
    const sd = lin.stateDict();
    const w = toF64(sd.get('weight') as tf.Tensor);
    const b = toF64(sd.get('bias') as tf.Tensor);
    tf.dispose([...sd.values()]);
    const gen = new Generator(9);
    for (const shp of [
      [5, 6],
      [2, 3, 6],
      [2, 2, 3, 6],
    ]) {
      const xd = randArray(size(shp), gen);
      checkLayer('Linear', lin, (x) => linear64(x, 6, 4, w, b), xd, shp, [...shp.slice(0, -1), 4], gen);
    }
    // Weight gradient: d sum(y*r) / dW = r^T x, in torch layout.
    const xd = randArray(15 * 6, gen);
    const rd = randArray(15 * 4, gen);
    const x = toTensor(xd, [3, 5, 6]);
    const r = toTensor(rd, [3, 5, 4]);
    noLeak(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(lin.forward(x), r)) as tf.Scalar, lin.trainableVariables());
      const gw = tf.transpose(grads[lin.weight.name] as tf.Tensor); // [in, out] -> [out, in]
      const dw = new Float64Array(24);
      const db = new Float64Array(4);
      for (let n = 0; n < 15; n++)
        for (let o = 0; o < 4; o++) {
          db[o] += rd[n * 4 + o];
          for (let i = 0; i < 6; i++) dw[o * 6 + i] += rd[n * 4 + o] * xd[n * 6 + i];
        }
      expect(maxRelErr(toF64(gw), dw)).toBeLessThan(1e-5);
      expect(maxRelErr(toF64(grads[(lin.bias as tf.Variable).name] as tf.Tensor), db)).toBeLessThan(1e-5);
      tf.dispose([value, gw, ...Object.values(grads)]);
    });
    tf.dispose([x, r]);
    const noBias = new Linear(3, 2, { bias: false });
    expect(noBias.namedTensors().map(([n, p]) => [n, p.torchShape])).toEqual([['weight', [2, 3]]]);
    expect(() => lin.forward(tf.zeros([2, 5]))).toThrow(/expected the last axis to be 6, got shape \[2,5\]/);
    lin.dispose();
    noBias.dispose();
  });

  it('LayerNorm and LayerNorm2d: forward and gradient vs float64, non-trivial weight and bias', () => {
    const gen = new Generator(77);
    for (const [make, shp] of [
      [() => new LayerNorm(8), [3, 5, 8]],
      [() => new LayerNorm2d(6, { eps: 1e-6 }), [2, 3, 4, 6]],
    ] as const) {
      const ln = make();
      const c = shp[shp.length - 1] as number;
      const wd = randArray(c, gen, 0.5, 1.5);
      const bd = randArray(c, gen, -0.5, 0.5);
      const wt = toTensor(wd, [c]);
      const bt = toTensor(bd, [c]);
      ln.loadStateDict({ weight: wt, bias: bt });
      tf.dispose([wt, bt]);
      const xd = randArray(size([...shp]), gen, -2, 3);
      checkLayer(ln.typeName, ln, (x) => layerNorm64(x, c, wd, bd, ln.eps), xd, [...shp], [...shp], gen, { fwd: 5e-6, grad: 2e-4 });
      ln.dispose();
    }
    const ln2 = new LayerNorm2d(4);
    expect(() => ln2.forward(tf.zeros([2, 4]))).toThrow(/LayerNorm2d: expected an NHWC input \(rank 4\)/);
    expect(() => ln2.forward(tf.zeros([1, 2, 2, 3]))).toThrow(/expected the trailing axes \[4\], got shape \[1,2,2,3\]/);
    ln2.dispose();
  });

  it('BatchNorm2d train: batch statistics, running-stat update by hand, fused SiLU; eval: running statistics', () => {
    const gen = new Generator(123);
    const C = 3;
    const shp = [4, 3, 2, C];
    const bn = new BatchNorm2d(C, { eps: 1e-3, momentum: 0.03 });
    const gw = randArray(C, gen, 0.6, 1.4);
    const gb = randArray(C, gen, -0.2, 0.2);
    const rm0 = randArray(C, gen, -0.5, 0.5);
    const rv0 = randArray(C, gen, 0.5, 2);
    const sdIn = {
      weight: toTensor(gw, [C]),
      bias: toTensor(gb, [C]),
      running_mean: toTensor(rm0, [C]),
      running_var: toTensor(rv0, [C]),
    };
    bn.loadStateDict(sdIn);
    tf.dispose(Object.values(sdIn));
    const xd = randArray(size(shp), gen, -1, 4);
    const x = toTensor(xd, shp);
    const n = size(shp) / C;
    const mean = new Float64Array(C);
    const vb = new Float64Array(C);
    for (let i = 0; i < xd.length; i++) mean[i % C] += xd[i] / n;
    for (let i = 0; i < xd.length; i++) vb[i % C] += (xd[i] - mean[i % C]) ** 2 / n;
    const norm = (st: { m: ArrayLike<number>; v: ArrayLike<number> }, silu: boolean) =>
      xd.map((v, i) => {
        const c = i % C;
        const z = ((v - st.m[c]) / Math.sqrt(st.v[c] + 1e-3)) * gw[c] + gb[c];
        return silu ? z / (1 + Math.exp(-z)) : z;
      });

    bn.train();
    noLeak(() => {
      const y = bn.forwardAct(x, 'silu');
      expect(maxRelErr(toF64(y), norm({ m: mean, v: vb }, true))).toBeLessThan(2e-6);
      y.dispose();
    });
    // running = (1 - m) running + m batch, with the unbiased variance.
    const rm1 = rm0.map((v, c) => 0.97 * v + 0.03 * mean[c]);
    const rv1 = rv0.map((v, c) => 0.97 * v + 0.03 * vb[c] * (n / (n - 1)));
    expect(maxRelErr(toF64(bn.runningMean), rm1)).toBeLessThan(1e-6);
    expect(maxRelErr(toF64(bn.runningVar), rv1)).toBeLessThan(1e-6);
    // A second step, under a gradient tape, also updates them and leaks nothing.
    noLeak(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(bn.forward(x)) as tf.Scalar, bn.trainableVariables());
      tf.dispose([value, ...Object.values(grads)]);
    });
    const rm2 = rm1.map((v, c) => 0.97 * v + 0.03 * mean[c]);
    const rv2 = rv1.map((v, c) => 0.97 * v + 0.03 * vb[c] * (n / (n - 1)));
    expect(maxRelErr(toF64(bn.runningMean), rm2)).toBeLessThan(1e-6);
    expect(maxRelErr(toF64(bn.runningVar), rv2)).toBeLessThan(1e-6);

    bn.eval();
    noLeak(() => {
      for (const silu of [false, true]) {
        const y = bn.forwardAct(x, silu ? 'silu' : 'none');
        expect(maxRelErr(toF64(y), norm({ m: rm2, v: rv2 }, silu))).toBeLessThan(2e-6);
        y.dispose();
      }
    });
    // Eval does not touch the running statistics.
    expect(maxRelErr(toF64(bn.runningMean), rm2)).toBeLessThan(1e-6);
    // Eval-mode gradient (frozen statistics) vs finite differences.
    const rd = randArray(size(shp), gen);
    const r = toTensor(rd, shp);
    const g = noLeak(() => tfGrad((xx) => bn.forward(xx), x, r));
    const ref = fdGrad(
      (xx) => {
        const out = new Float64Array(xx.length);
        for (let i = 0; i < xx.length; i++) {
          const c = i % C;
          out[i] = ((xx[i] - rm2[c]) / Math.sqrt(rv2[c] + 1e-3)) * gw[c] + gb[c];
        }
        return out;
      },
      xd,
      rd,
    );
    expect(maxRelErr(g, ref)).toBeLessThan(1e-4);
    expect(() => bn.forwardAct(x, 'relu' as 'silu')).toThrow(/unknown activation "relu"; known: none, silu/);
    expect(() => bn.forward(tf.zeros([1, 2, 2, 4]))).toThrow(/expected an NHWC input with 3 channels/);
    bn.train();
    expect(() => bn.forward(tf.zeros([1, 1, 1, 3]))).toThrow(/more than 1 value per channel/);
    tf.dispose([x, r]);
    bn.dispose();
  });
});

describe('modules (cpu)', () => {
  beforeAll(async () => {
    await initBackend('cpu', { log: false });
  });

  it('Dropout: identity in eval, seeded mask with 1/(1-p) scaling in train, gradient through the mask', () => {
    const x = tf.ones([4, 50]);
    const d = new Dropout(0.3, { generator: new Generator(1) });
    d.eval();
    expect(d.forward(x)).toBe(x);
    d.train();
    const before = tf.memory().numTensors;
    const y1 = d.forward(x);
    expect(tf.memory().numTensors).toBe(before + 1); // only the output
    const v = y1.dataSync();
    const kept = Array.from(v).filter((e) => e !== 0);
    expect(kept.every((e) => Math.abs(e - 1 / 0.7) < 1e-6)).toBe(true);
    expect(kept.length).toBeGreaterThan(100);
    expect(kept.length).toBeLessThan(180);
    // Same generator seed -> same mask; the generator advances between calls.
    const d2 = new Dropout(0.3, { generator: new Generator(1) });
    const y2 = d2.forward(x);
    expect(Array.from(y2.dataSync())).toEqual(Array.from(v));
    const y3 = d2.forward(x);
    expect(Array.from(y3.dataSync())).not.toEqual(Array.from(v));
    // Global generator: manualSeed reproduces.
    const dg = new Dropout(0.5);
    manualSeed(8);
    const a = dg.forward(x);
    manualSeed(8);
    const b = dg.forward(x);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    // The gradient is the mask.
    const d3 = new Dropout(0.3, { generator: new Generator(1) });
    const g = tf.grad((xx: tf.Tensor) => tf.sum(d3.forward(xx)))(x);
    expect(Array.from(g.dataSync())).toEqual(Array.from(v));
    const all = new Dropout(1);
    const z = all.forward(x);
    expect(Array.from(z.dataSync()).every((e) => e === 0)).toBe(true);
    expect(() => new Dropout(1.5)).toThrow(/p must be in \[0, 1\]/);
    tf.dispose([x, y1, y2, y3, a, b, g, z]);
  });

  it('Sequential: names 0,1,..., forward chains, numParams, train/eval propagate', () => {
    manualSeed(1);
    const seq = new Sequential(new Conv2d(3, 4, 3, { padding: 1, bias: false }), new BatchNorm2d(4), new SiLU(), new Conv2d(4, 2, 1));
    expect(seq.namedTensors().map(([n]) => n)).toEqual([
      '0.weight',
      '1.weight',
      '1.bias',
      '1.running_mean',
      '1.running_var',
      '3.weight',
      '3.bias',
    ]);
    expect(seq.numParams()).toBe(4 * 3 * 9 + 4 + 4 + 2 * 4 + 2);
    expect(seq.length).toBe(4);
    expect(seq.get(-1)).toBeInstanceOf(Conv2d);
    seq.eval();
    expect(seq.get(1).training).toBe(false);
    const x = tf.randomUniform([1, 5, 5, 3]);
    const before = tf.memory().numTensors;
    const y = seq.forward(x);
    expect(tf.memory().numTensors).toBe(before + 1); // only the output
    const manual = tf.tidy(() => {
      let t: tf.Tensor = x;
      for (const m of seq) t = m.forward(t);
      return t;
    });
    expect(maxAbsErr(toF64(y), toF64(manual))).toBe(0);
    expect(y.shape).toEqual([1, 5, 5, 2]);
    seq.train();
    expect(seq.get(1).training).toBe(true);
    tf.dispose([x, y, manual]);
    seq.dispose();
  });

  it('ModuleList: indexed children, names, numParams', () => {
    manualSeed(2);
    const ml = new ModuleList([new Linear(2, 3), new Linear(3, 1, { bias: false })]);
    expect(ml.namedTensors().map(([n, p]) => [n, p.torchShape])).toEqual([
      ['0.weight', [3, 2]],
      ['0.bias', [3]],
      ['1.weight', [1, 3]],
    ]);
    expect(ml.numParams()).toBe(6 + 3 + 3);
    expect(ml.length).toBe(2);
    expect(() => ml.get(5)).toThrow(/index 5 out of range \(length 2\)/);
    expect(ml.map((m) => m.numParams())).toEqual([9, 3]);
    ml.dispose();
  });

  it('state dict: save -> load into a fresh module (other seed) -> identical; PyTorch layouts', () => {
    manualSeed(10);
    const make = () =>
      new Sequential(
        new Conv2d(4, 8, 3, { stride: 2, padding: 1 }),
        new BatchNorm2d(8),
        new Conv2d(8, 16, 3, { groups: 8, padding: 1 }),
        new Conv2d(16, 8, 3, { groups: 2, bias: false }),
        new LayerNorm2d(8),
      );
    const a = make();
    // Make the BN buffers non-trivial.
    a.train();
    const xin = tf.randomUniform([2, 8, 8, 4]);
    tf.dispose(a.forward(xin));
    manualSeed(11);
    const b = make();
    const sd = a.stateDict();
    // PyTorch layouts
    expect(sd.get('0.weight')?.shape).toEqual([8, 4, 3, 3]);
    expect(sd.get('2.weight')?.shape).toEqual([16, 1, 3, 3]);
    expect(sd.get('3.weight')?.shape).toEqual([8, 8, 3, 3]);
    // Layout check against the internal HWIO tensor: torch[o, i, h, w] = internal[h, w, i, o].
    const wi = (a.get(0) as Conv2d).weight.arraySync() as number[][][][];
    const wt = sd.get('0.weight')?.arraySync() as number[][][][];
    expect(wt[5]?.[2]?.[1]?.[0]).toBe(wi[1]?.[0]?.[2]?.[5]);
    const res = b.loadStateDict(sd);
    expect(res.loaded.length).toBe(sd.size);
    const sd2 = b.stateDict();
    expect([...sd2.keys()]).toEqual([...sd.keys()]);
    for (const [k, t] of sd) expect(Array.from(sd2.get(k)?.dataSync() ?? []), k).toEqual(Array.from(t.dataSync()));
    a.eval();
    b.eval();
    const ya = a.forward(xin);
    const yb = b.forward(xin);
    expect(maxAbsErr(toF64(ya), toF64(yb))).toBe(0);
    tf.dispose([xin, ya, yb, ...sd.values(), ...sd2.values()]);
    a.dispose();
    b.dispose();
  });

  it('loadStateDict strict: missing, unexpected and shape errors name every problem', () => {
    const m = new Sequential(new Conv2d(2, 3, 3), new BatchNorm2d(3));
    const sd = m.stateDict();
    const missing = new Map(sd);
    missing.delete('1.running_var');
    expect(() => m.loadStateDict(missing)).toThrow(/missing: 1\.running_var/);
    const extra = new Map(sd);
    const t = tf.zeros([3]);
    extra.set('1.num_batches_tracked', t);
    expect(() => m.loadStateDict(extra)).toThrow(/unexpected: 1\.num_batches_tracked/);
    const wrong = new Map(sd);
    const w = tf.zeros([3, 2, 1, 1]);
    wrong.set('0.weight', w);
    expect(() => m.loadStateDict(wrong)).toThrow(/shape of 0\.weight: got \[3,2,1,1\], expected \[3,2,3,3\]/);
    // Non-strict loads what matches and reports the rest.
    const r = m.loadStateDict(extra, { strict: false });
    expect(r.unexpected).toEqual(['1.num_batches_tracked']);
    expect(r.loaded.length).toBe(sd.size);
    tf.dispose([t, w, ...sd.values()]);
    m.dispose();
  });

  it('same seed -> same weights for every parametrised layer', () => {
    const build = () => new Sequential(new Conv2d(3, 4, 3), new Conv2d(4, 8, 3, { groups: 4 }), new Linear(8, 5));
    manualSeed(99);
    const a = build();
    manualSeed(99);
    const b = build();
    for (const [[na, pa], [nb, pb]] of a.namedTensors().map((e, i) => [e, b.namedTensors()[i]] as const)) {
      expect(na).toBe(nb);
      expect(Array.from(pa.variable.dataSync())).toEqual(Array.from(pb?.variable.dataSync() ?? []));
    }
    a.dispose();
    b.dispose();
  });
});
