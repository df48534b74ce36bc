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
import { type FlaNormalization, FocusedLinearAttention } from './focused-linear-attention.js';

interface Cfg {
  dim: number;
  heads: number;
  window: [number, number];
  f: number;
  k: number;
  norm: FlaNormalization;
}

/**
 * Naive float64 FocusedLinearAttention on NCHW data (tokens n = i*W + j), from the official maths, with
 * the documented generalisations: positional-encoding row n mod P, dwc on the real H x W map.
 */
function reference(x: Float64Array, [b, c, h, w]: number[], sd: Record<string, T64>, cfg: Cfg): Float64Array {
  const n = h * w;
  const d = c / cfg.heads;
  const p = cfg.window[0] * cfg.window[1];
  const pe = sd.positional_encoding.data;
  const sp = Array.from(sd.scale.data, (s) => Math.log1p(Math.exp(s)));
  const Wqkv = sd['qkv.weight'].data;
  const Bqkv = sd['qkv.bias'].data;
  const Wp = sd['proj.weight'].data;
  const Bp = sd['proj.bias'].data;
  const Wd = sd['dwc.weight'].data;
  const Bd = sd['dwc.bias'].data;
  const k = cfg.k;
  const r = Math.floor(k / 2);
  const y = new Float64Array(b * c * n);
  const focus = (row: Float64Array) => {
    let n0 = 0;
    for (const v of row) n0 += v * v;
    const pw = row.map((v) => v ** cfg.f);
    let n1 = 0;
    for (const v of pw) n1 += v * v;
    return pw.map((v) => (v / Math.sqrt(n1)) * Math.sqrt(n0));
  };
  for (let bi = 0; bi < b; bi++) {
    const Q: Float64Array[] = [];
    const K: Float64Array[] = [];
    const V: Float64Array[] = [];
    for (let t = 0; t < n; t++) {
      const qkv = new Float64Array(3 * c);
      for (let o = 0; o < 3 * c; o++) {
        let s = Bqkv[o];
        for (let i = 0; i < c; i++) s += Wqkv[o * c + i] * x[(bi * c + i) * n + t];
        qkv[o] = s;
      }
      const q = new Float64Array(c);
      const kk = new Float64Array(c);
      for (let i = 0; i < c; i++) {
        q[i] = (Math.max(qkv[i], 0) + 1e-6) / sp[i];
        kk[i] = (Math.max(qkv[c + i] + pe[(t % p) * c + i], 0) + 1e-6) / sp[i];
      }
      Q.push(focus(q));
      K.push(focus(kk));
      V.push(qkv.slice(2 * c));
    }
    const out: Float64Array[] = Array.from({ length: n }, () => new Float64Array(c));
    for (let hd = 0; hd < cfg.heads; hd++) {
      const o = hd * d;
      const ks = new Float64Array(d);
      for (let t = 0; t < n; t++) for (let i = 0; i < d; i++) ks[i] += K[t][o + i] / (cfg.norm === 'mean' ? n : 1);
      const kv = new Float64Array(d * d);
      for (let t = 0; t < n; t++)
        for (let i = 0; i < d; i++)
          for (let e = 0; e < d; e++) kv[i * d + e] += (K[t][o + i] * V[t][o + e]) / (cfg.norm === 'mean' ? n : 1);
      for (let t = 0; t < n; t++) {
        let den = 0;
        for (let i = 0; i < d; i++) den += Q[t][o + i] * ks[i];
        const z = 1 / (den + 1e-6);
        for (let e = 0; e < d; e++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += Q[t][o + i] * kv[i * d + e];
          out[t][o + e] = s * z;
        }
      }
      // dwc on the head's v map, weights shared by the heads
      for (let e = 0; e < d; e++)
        for (let i = 0; i < h; i++)
          for (let j = 0; j < w; j++) {
            let s = Bd[e];
            for (let u = 0; u < k; u++)
              for (let v = 0; v < k; v++) {
                const ii = i + u - r;
                const jj = j + v - r;
                if (ii >= 0 && ii < h && jj >= 0 && jj < w) s += Wd[(e * k + u) * k + v] * V[ii * w + jj][o + e];
              }
            out[i * w + j][o + e] += s;
          }
    }
    for (let t = 0; t < n; t++)
      for (let oc = 0; oc < c; oc++) {
        let s = Bp[oc];
        for (let i = 0; i < c; i++) s += Wp[oc * c + i] * out[t][i];
        y[(bi * c + oc) * n + t] = s;
      }
  }
  return y;
}

const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

const CASES: { name: string; cfg: Cfg; shape: number[] }[] = [
  {
    name: "non-square 5x7 map, window 3x4 (encoding repeated), 'sum'",
    cfg: { dim: 8, heads: 2, window: [3, 4], f: 3, k: 3, norm: 'sum' },
    shape: [2, 8, 5, 7],
  },
  {
    name: "4x6 map, window 8x8 (encoding sliced), 'mean'",
    cfg: { dim: 16, heads: 4, window: [8, 8], f: 3, k: 5, norm: 'mean' },
    shape: [1, 16, 4, 6],
  },
  {
    name: "focusing factor 7 (max-normalised power), 4x4 = window, 'sum'",
    cfg: { dim: 8, heads: 2, window: [4, 4], f: 7, k: 3, norm: 'sum' },
    shape: [1, 8, 4, 4],
  },
  {
    name: "focusing factor 2.5 (pow), 3x2 map, 'mean'",
    cfg: { dim: 8, heads: 4, window: [2, 2], f: 2.5, k: 3, norm: 'mean' },
    shape: [3, 8, 3, 2],
  },
];

for (const backend of testBackends()) {
  describe(`FocusedLinearAttention generalisations vs a float64 reference (${backend})`, () => {
    for (const { name, cfg, shape } of CASES) {
      it(`${name}: forward, directional derivative over x and every parameter, no leaks`, async () => {
        await useBackend(backend);
        const before = tf.memory().numTensors;
        manualSeed(7);
        const m = new FocusedLinearAttention(cfg.dim, {
          numHeads: cfg.heads,
          windowSize: cfg.window,
          focusingFactor: cfg.f,
          kernelSize: cfg.k,
          normalization: cfg.norm,
        });
        const gen = new Generator(31);
        randomizeParams(m, gen, 0.5);
        const sd = stateDict64(m);
        const x64 = randArray(size(shape), gen, -2, 2);
        const cot = randArray(size(shape), gen);
        const xT = tf.tensor(Float32Array.from(x64), shape);
        const y = tf.tidy(() => nchw(m.forward(nhwc(xT))));
        const ref = reference(x64, shape, sd, cfg);
        const got = y.dataSync();
        let err = 0;
        let scale = 0;
        for (let i = 0; i < ref.length; i++) {
          err = Math.max(err, Math.abs(got[i] - ref[i]));
          scale = Math.max(scale, Math.abs(ref[i]));
        }
        expect(y.shape).toEqual(shape);
        y.dispose();

        const dirX = randArray(x64.length, gen);
        const dirP: Record<string, Float64Array> = {};
        for (const [kk, t] of Object.entries(sd)) dirP[kk] = randArray(t.data.length, gen);
        const loss64 = (t: number) => {
          const xx = x64.map((v, i) => v + t * dirX[i]);
          const sdt: Record<string, T64> = {};
          for (const [kk, v] of Object.entries(sd)) sdt[kk] = { shape: v.shape, data: v.data.map((e, i) => e + t * dirP[kk][i]) };
          return reference(xx, shape, sdt, cfg).reduce((a, v, i) => a + v * cot[i], 0);
        };
        const fd = centralDiff(loss64, 1e-6);
        const xv = tf.variable(xT, true);
        const params = m.namedParameters();
        const ad = tf.tidy(() => {
          const cotT = tf.tensor(Float32Array.from(cot), shape);
          const { grads } = tf.variableGrads(
            () => tf.sum(tf.mul(nchw(m.forward(nhwc(xv))), cotT)) as tf.Scalar,
            [xv, ...params.map(([, p]) => p.variable)],
          );
          return directionalFromGrads(grads, xv, dirX, params, dirP);
        });
        const rel = Math.abs(ad - fd) / Math.max(1, Math.abs(fd));
        console.log(
          `FocusedLinearAttention ${backend} ${name}: forward max_abs ${err.toExponential(2)} (max |ref| ${scale.toFixed(3)}); directional derivative fd ${fd.toFixed(6)} vs autodiff ${ad.toFixed(6)} (rel ${rel.toExponential(2)})`,
        );
        expect(err).toBeLessThan(5e-6 * Math.max(1, scale));
        expect(rel).toBeLessThan(2e-4);
        xv.dispose();
        xT.dispose();
        m.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}

describe('FocusedLinearAttention options', () => {
  it("registers parameters in each version's state-dict order and zero-initialises scale and the encoding", async () => {
    await useBackend('cpu');
    const a = new FocusedLinearAttention(16, { numHeads: 4, windowSize: 4 });
    const b = new FocusedLinearAttention(16, { numHeads: 4, windowSize: 4, normalization: 'mean' });
    expect(a.namedTensors().map(([n]) => n)).toEqual([
      'positional_encoding',
      'scale',
      'qkv.weight',
      'qkv.bias',
      'proj.weight',
      'proj.bias',
      'dwc.weight',
      'dwc.bias',
    ]);
    expect(
      b
        .namedTensors()
        .map(([n]) => n)
        .slice(0, 2),
    ).toEqual(['scale', 'positional_encoding']);
    expect(a.positionalEncoding.shape).toEqual([1, 16, 16]);
    expect(Math.max(...a.scale.dataSync(), ...Array.from(a.positionalEncoding.dataSync(), Math.abs))).toBe(0);
    expect(a.dwc.namedTensors().map(([, p]) => p.torchShape)).toEqual([[4, 1, 5, 5], [4]]);
    a.dispose();
    b.dispose();
  });

  it('rejects bad configurations and inputs with the reason', async () => {
    await useBackend('cpu');
    expect(() => new FocusedLinearAttention(30, { numHeads: 8 })).toThrow(/num_heads must be a positive integer dividing dim/);
    expect(() => new FocusedLinearAttention(32, { normalization: 'max' as FlaNormalization })).toThrow(
      /unknown normalization "max"; known: sum, mean/,
    );
    expect(() => new FocusedLinearAttention(32, { kernelSize: 4 })).toThrow(/odd/);
    expect(() => new FocusedLinearAttention(32, { projDrop: 0.1 })).toThrow(/dropout is not implemented/);
    const m = new FocusedLinearAttention(16, { numHeads: 2, windowSize: 4 });
    const x = tf.zeros([1, 4, 4, 8]);
    expect(() => m.forward(x)).toThrow(/\[B, H, W, 16\], got \[1,4,4,8\]/);
    x.dispose();
    m.dispose();
  });

  it('counts FLOPs as 2 x MACs of linears, matmuls and the dwc', async () => {
    await useBackend('cpu');
    const m = new FocusedLinearAttention(32, { numHeads: 4, windowSize: 8 });
    const n = 2 * 6 * 10;
    expect(m.flops([2, 6, 10, 32])).toBe(2 * (n * 32 * 96 + n * 32 * 32 + 2 * n * 4 * 8 * 8 + n * 32 + n * 32 * 25));
    m.dispose();
  });
});
