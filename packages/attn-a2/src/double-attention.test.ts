import { Generator, manualSeed } from '@ablate/core';
import {
  centralDiff,
  directionalFromGrads,
  randArray,
  randomizeParams,
  size,
  stateDict64,
  type T64,
  testBackends,
  useBackend,
} from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DoubleAttention } from './double-attention.js';

/** Naive float64 DoubleAttentionLayer on NCHW data, straight from the official maths. */
function reference(
  x: Float64Array,
  [b, c, h, w]: number[],
  sd: Record<string, T64>,
  cm: number,
  cn: number,
  reconstruct: boolean,
): Float64Array {
  const n = h * w;
  const conv1x1 = (name: string, inC: number, outC: number, src: Float64Array, bi: number) => {
    const W = sd[`${name}.weight`].data;
    const B = sd[`${name}.bias`].data;
    const out = new Float64Array(outC * n);
    for (let o = 0; o < outC; o++) {
      for (let p = 0; p < n; p++) {
        let s = B[o];
        for (let i = 0; i < inC; i++) s += W[o * inC + i] * src[(bi * inC + i) * n + p];
        out[o * n + p] = s;
      }
    }
    return out;
  };
  const outC = reconstruct ? c : cm;
  const y = new Float64Array(b * outC * n);
  for (let bi = 0; bi < b; bi++) {
    const A = conv1x1('convA', c, cm, x, bi);
    const Bm = conv1x1('convB', c, cn, x, bi);
    const V = conv1x1('convV', c, cn, x, bi);
    // softmax over positions for each map
    for (let j = 0; j < cn; j++) {
      let mx = -Infinity;
      for (let p = 0; p < n; p++) mx = Math.max(mx, Bm[j * n + p]);
      let s = 0;
      for (let p = 0; p < n; p++) s += Math.exp(Bm[j * n + p] - mx);
      for (let p = 0; p < n; p++) Bm[j * n + p] = Math.exp(Bm[j * n + p] - mx) / s;
    }
    // softmax over the c_n channels at each position
    for (let p = 0; p < n; p++) {
      let mx = -Infinity;
      for (let j = 0; j < cn; j++) mx = Math.max(mx, V[j * n + p]);
      let s = 0;
      for (let j = 0; j < cn; j++) s += Math.exp(V[j * n + p] - mx);
      for (let j = 0; j < cn; j++) V[j * n + p] = Math.exp(V[j * n + p] - mx) / s;
    }
    const G = new Float64Array(cm * cn);
    for (let m = 0; m < cm; m++)
      for (let j = 0; j < cn; j++) {
        let s = 0;
        for (let p = 0; p < n; p++) s += A[m * n + p] * Bm[j * n + p];
        G[m * cn + j] = s;
      }
    const Z = new Float64Array(cm * n);
    for (let m = 0; m < cm; m++)
      for (let p = 0; p < n; p++) {
        let s = 0;
        for (let j = 0; j < cn; j++) s += G[m * cn + j] * V[j * n + p];
        Z[m * n + p] = s;
      }
    if (reconstruct) {
      const R = conv1x1('conv_reconstruct', cm, c, Z, 0);
      y.set(R, bi * c * n);
    } else y.set(Z, bi * cm * n);
  }
  return y;
}

const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

for (const backend of testBackends()) {
  describe(`DoubleAttention (${backend})`, () => {
    for (const reconstruct of [true, false]) {
      it(`matches a float64 reference on a non-square map, reconstruct=${reconstruct}; gradients by central differences; no leaks`, async () => {
        await useBackend(backend);
        const before = tf.memory().numTensors;
        manualSeed(3);
        const [b, c, h, w, cm, cn] = [2, 8, 3, 5, 4, 3];
        const m = new DoubleAttention(c, cm, cn, { reconstruct });
        const gen = new Generator(11);
        randomizeParams(m, gen, 0.6);
        const sd = stateDict64(m);
        const xs = [b, c, h, w];
        const x64 = randArray(size(xs), gen, -2, 2);
        const outC = reconstruct ? c : cm;
        const cot = randArray(b * outC * h * w, gen);
        // forward
        const xT = tf.tensor(Float32Array.from(x64), xs);
        const y = tf.tidy(() => nchw(m.forward(nhwc(xT))));
        const ref = reference(x64, xs, sd, cm, cn, reconstruct);
        const got = y.dataSync();
        let err = 0;
        let scale = 0;
        for (let i = 0; i < ref.length; i++) {
          err = Math.max(err, Math.abs(got[i] - ref[i]));
          scale = Math.max(scale, Math.abs(ref[i]));
        }
        console.log(
          `DoubleAttention ${backend} reconstruct=${reconstruct}: forward max_abs ${err.toExponential(2)} (max |ref| ${scale.toFixed(3)})`,
        );
        expect(y.shape).toEqual([b, outC, h, w]);
        expect(err).toBeLessThan(2e-6 * Math.max(1, scale));
        y.dispose();

        // directional derivative over x and every parameter
        const dirX = randArray(x64.length, gen);
        const dirP: Record<string, Float64Array> = {};
        for (const [k, t] of Object.entries(sd)) dirP[k] = randArray(t.data.length, gen);
        const loss64 = (t: number) => {
          const xx = x64.map((v, i) => v + t * dirX[i]);
          const sdt: Record<string, T64> = {};
          for (const [k, v] of Object.entries(sd)) sdt[k] = { shape: v.shape, data: v.data.map((e, i) => e + t * dirP[k][i]) };
          const yy = reference(xx, xs, sdt, cm, cn, reconstruct);
          return yy.reduce((a, v, i) => a + v * cot[i], 0);
        };
        const fd = centralDiff(loss64);
        const xv = tf.variable(xT, true);
        const params = m.namedParameters();
        const ad = tf.tidy(() => {
          const cotT = tf.tensor(Float32Array.from(cot), [b, outC, h, w]);
          const { grads } = tf.variableGrads(
            () => tf.sum(tf.mul(nchw(m.forward(nhwc(xv))), cotT)) as tf.Scalar,
            [xv, ...params.map(([, p]) => p.variable)],
          );
          return directionalFromGrads(grads, xv, dirX, params, dirP);
        });
        console.log(
          `DoubleAttention ${backend} reconstruct=${reconstruct}: directional derivative fd ${fd.toFixed(6)} vs autodiff ${ad.toFixed(6)}`,
        );
        expect(Math.abs(ad - fd)).toBeLessThan(1e-4 * Math.max(1, Math.abs(fd)));
        xv.dispose();
        xT.dispose();
        m.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}

describe('DoubleAttention options', () => {
  it('counts FLOPs as 2 x MACs of its convs and matmuls', async () => {
    await useBackend('cpu');
    const m = new DoubleAttention(32, 8, 4, { reconstruct: true });
    const n = 2 * 10 * 12;
    const macs = n * 32 * (8 + 4 + 4) + n * 8 * 32 + 2 * n * 8 * 4;
    expect(m.flops([2, 10, 12, 32])).toBe(2 * macs);
    expect(m.numParams()).toBe(32 * 16 + 16 + 8 * 32 + 32);
    m.dispose();
  });

  it('rejects a wrong input and bad sizes, naming the problem', async () => {
    await useBackend('cpu');
    const m = new DoubleAttention(16, 4, 4);
    const x = tf.zeros([1, 4, 4, 8]);
    expect(() => m.forward(x)).toThrow(/\[B, H, W, 16\].*\[1,4,4,8\]/);
    x.dispose();
    m.dispose();
    expect(() => new DoubleAttention(16, 0, 4)).toThrow(/c_m must be a positive integer/);
  });
});
