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
import { ceilAvgPool, EfficientAttention, effectiveWindow } from './efficient-attention.js';

interface Cfg {
  dim: number;
  heads: number;
  split: number[];
  kernels: number[];
  window: number | 'auto';
}

/**
 * Naive float64 CloFormer EfficientAttention on NCHW data, from the official maths, with the documented
 * generalisation: ceil-mode pooling whose partial cells average only the pixels they cover.
 */
function reference(x: Float64Array, [b, c, h, w]: number[], sd: Record<string, T64>, cfg: Cfg): Float64Array {
  const n = h * w;
  const dh = cfg.dim / cfg.heads;
  const scal = dh ** -0.5;
  const conv1x1 = (name: string, src: Float64Array, inC: number, outC: number, npx: number) => {
    const W = sd[`${name}.weight`].data;
    const B = sd[`${name}.bias`]?.data;
    const out = new Float64Array(outC * npx);
    for (let o = 0; o < outC; o++)
      for (let p = 0; p < npx; p++) {
        let s = B ? B[o] : 0;
        for (let i = 0; i < inC; i++) s += W[o * inC + i] * src[i * npx + p];
        out[o * npx + p] = s;
      }
    return out;
  };
  const dw = (name: string, src: Float64Array, ch: number, k: number) => {
    const W = sd[`${name}.weight`].data;
    const B = sd[`${name}.bias`].data;
    const out = new Float64Array(ch * n);
    const r = Math.floor(k / 2);
    for (let o = 0; o < ch; o++)
      for (let i = 0; i < h; i++)
        for (let j = 0; j < w; j++) {
          let s = B[o];
          for (let u = 0; u < k; u++)
            for (let v = 0; v < k; v++) {
              const ii = i + u - r;
              const jj = j + v - r;
              if (ii >= 0 && ii < h && jj >= 0 && jj < w) s += W[(o * k + u) * k + v] * src[o * n + ii * w + jj];
            }
          out[o * n + i * w + j] = s;
        }
    return out;
  };
  const y = new Float64Array(b * c * n);
  for (let bi = 0; bi < b; bi++) {
    const xb = x.subarray(bi * c * n, (bi + 1) * c * n);
    const parts: Float64Array[] = [];
    let gi = 0;
    cfg.kernels.forEach((k, i) => {
      const g = cfg.split[i];
      if (g === 0) return;
      const ch = g * dh;
      const qkv = dw(`convs.${gi}`, conv1x1(`qkvs.${gi}`, xb, c, 3 * ch, n), 3 * ch, k);
      const qk = new Float64Array(ch * n);
      for (let t = 0; t < ch * n; t++) qk[t] = qkv[t] * qkv[ch * n + t];
      const a1 = conv1x1(`act_blocks.${gi}.act_block.0`, qk, ch, ch, n).map((v) => v / (1 + Math.exp(-v)));
      const a2 = conv1x1(`act_blocks.${gi}.act_block.2`, a1, ch, ch, n);
      parts.push(a2.map((v, t) => Math.tanh(v * scal) * qkv[2 * ch * n + t]));
      gi++;
    });
    const gh = cfg.split[cfg.split.length - 1];
    if (gh > 0) {
      const gc = gh * dh;
      const q = conv1x1('global_q', xb, c, gc, n);
      const ws = effectiveWindow(cfg.window, h, w);
      const hp = Math.ceil(h / ws);
      const wp = Math.ceil(w / ws);
      const l = hp * wp;
      const pooled = new Float64Array(c * l);
      for (let ch = 0; ch < c; ch++)
        for (let pi = 0; pi < hp; pi++)
          for (let pj = 0; pj < wp; pj++) {
            let s = 0;
            let cnt = 0;
            for (let i = pi * ws; i < Math.min(h, (pi + 1) * ws); i++)
              for (let j = pj * ws; j < Math.min(w, (pj + 1) * ws); j++) {
                s += xb[ch * n + i * w + j];
                cnt++;
              }
            pooled[ch * l + pi * wp + pj] = s / cnt;
          }
      const kv = conv1x1('global_kv', pooled, c, 2 * gc, l);
      const out = new Float64Array(gc * n);
      for (let m = 0; m < gh; m++)
        for (let p = 0; p < n; p++) {
          const logits = new Float64Array(l);
          let mx = -Infinity;
          for (let t = 0; t < l; t++) {
            let s = 0;
            for (let d = 0; d < dh; d++) s += q[(m * dh + d) * n + p] * kv[(m * dh + d) * l + t];
            logits[t] = s * scal;
            mx = Math.max(mx, logits[t]);
          }
          let z = 0;
          for (let t = 0; t < l; t++) z += Math.exp(logits[t] - mx);
          for (let d = 0; d < dh; d++) {
            let s = 0;
            for (let t = 0; t < l; t++) s += (Math.exp(logits[t] - mx) / z) * kv[(gc + m * dh + d) * l + t];
            out[(m * dh + d) * n + p] = s;
          }
        }
      parts.push(out);
    }
    const cat = new Float64Array(c * n);
    let off = 0;
    for (const p of parts) {
      cat.set(p, off);
      off += p.length;
    }
    y.set(conv1x1('proj', cat, c, c, n), bi * c * n);
  }
  return y;
}

const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 3, 1, 2]);
const nhwc = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

const CASES: { name: string; cfg: Cfg; shape: number[] }[] = [
  {
    name: 'window 3 on a 7x5 map (partial cells)',
    cfg: { dim: 16, heads: 4, split: [1, 1, 2], kernels: [3, 5], window: 3 },
    shape: [2, 16, 7, 5],
  },
  {
    name: "window 'auto' on 16x9 (window 3, 6x3 cells)",
    cfg: { dim: 16, heads: 2, split: [1, 1], kernels: [3], window: 'auto' },
    shape: [1, 16, 16, 9],
  },
  {
    name: 'window 8 larger than a 3x5 map (one token)',
    cfg: { dim: 8, heads: 2, split: [1, 1], kernels: [5], window: 8 },
    shape: [3, 8, 3, 5],
  },
  {
    name: 'an empty first local group (compacted)',
    cfg: { dim: 12, heads: 3, split: [0, 2, 1], kernels: [3, 5], window: 2 },
    shape: [1, 12, 4, 6],
  },
  { name: 'no global group', cfg: { dim: 8, heads: 2, split: [2, 0], kernels: [3], window: 2 }, shape: [2, 8, 5, 3] },
];

for (const backend of testBackends()) {
  describe(`EfficientAttention generalisations vs a float64 reference (${backend})`, () => {
    for (const { name, cfg, shape } of CASES) {
      it(`${name}: forward, directional derivative over x and every parameter, no leaks`, async () => {
        await useBackend(backend);
        const before = tf.memory().numTensors;
        manualSeed(5);
        const m = new EfficientAttention(cfg.dim, cfg.heads, cfg.split, cfg.kernels, { windowSize: cfg.window });
        const gen = new Generator(21);
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
        for (const [k, t] of Object.entries(sd)) dirP[k] = randArray(t.data.length, gen);
        const loss64 = (t: number) => {
          const xx = x64.map((v, i) => v + t * dirX[i]);
          const sdt: Record<string, T64> = {};
          for (const [k, v] of Object.entries(sd)) sdt[k] = { shape: v.shape, data: v.data.map((e, i) => e + t * dirP[k][i]) };
          return reference(xx, shape, sdt, cfg).reduce((a, v, i) => a + v * cot[i], 0);
        };
        const fd = centralDiff(loss64);
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
          `EfficientAttention ${backend} ${name}: forward max_abs ${err.toExponential(2)} (max |ref| ${scale.toFixed(3)}); directional derivative fd ${fd.toFixed(6)} vs autodiff ${ad.toFixed(6)} (rel ${rel.toExponential(2)})`,
        );
        expect(err).toBeLessThan(2e-6 * Math.max(1, scale));
        expect(rel).toBeLessThan(1e-4);
        xv.dispose();
        xT.dispose();
        m.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  });
}

describe('ceilAvgPool', () => {
  it('equals the plain average pool when the window divides the map, and averages partial cells over their pixels', async () => {
    await useBackend('cpu');
    const before = tf.memory().numTensors;
    const gen = new Generator(2);
    const x = tf.tensor(Float32Array.from(randArray(2 * 6 * 4 * 3, gen)), [2, 6, 4, 3]) as tf.Tensor4D;
    const a = ceilAvgPool(x, 2);
    const b = tf.avgPool(x, 2, 2, 'valid');
    expect(a.shape).toEqual([2, 3, 2, 3]);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))));
    expect(diff.dataSync()[0]).toBeLessThan(1e-6);
    diff.dispose();
    const c = ceilAvgPool(x, 4); // 6x4 -> 2x1 cells: rows 0-3 (16 px), rows 4-5 (8 px)
    const xs = x.arraySync();
    const cs = c.arraySync();
    expect(c.shape).toEqual([2, 2, 1, 3]);
    for (let ch = 0; ch < 3; ch++) {
      let s = 0;
      for (let i = 4; i < 6; i++) for (let j = 0; j < 4; j++) s += xs[1][i][j][ch];
      expect(cs[1][1][0][ch]).toBeCloseTo(s / 8, 6);
    }
    for (const t of [x, a, b, c]) t.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("'auto' windows reproduce the official per-stage windows at 224 px", () => {
    expect([56, 28, 14, 7].map((s) => effectiveWindow('auto', s, s))).toEqual([8, 4, 2, 1]);
    expect(effectiveWindow('auto', 80, 80)).toBe(12);
    expect(effectiveWindow('auto', 2, 2)).toBe(1);
    expect(effectiveWindow(4, 2, 2)).toBe(4);
  });
});

describe('EfficientAttention constructor and FLOPs', () => {
  it('names parameters as the official state dict', async () => {
    await useBackend('cpu');
    const m = new EfficientAttention(32, 4, [1, 1, 2], [3, 5], { windowSize: 2 });
    expect(m.stateDict().size).toBe(22);
    const names = m.namedTensors().map(([n]) => n);
    expect(names.slice(0, 6)).toEqual([
      'global_q.weight',
      'global_q.bias',
      'global_kv.weight',
      'global_kv.bias',
      'convs.0.weight',
      'convs.0.bias',
    ]);
    expect(names).toContain('act_blocks.1.act_block.2.bias');
    expect(names.slice(-2)).toEqual(['proj.weight', 'proj.bias']);
    for (const t of m.stateDict().values()) t.dispose();
    m.dispose();
  });

  it('rejects inconsistent configurations with the reason', () => {
    expect(() => new EfficientAttention(32, 4, [2, 2], [3, 5])).toThrow(/len\(kernel_sizes\) \+ 1 == len\(group_split\)/);
    expect(() => new EfficientAttention(32, 4, [1, 2], [3])).toThrow(/sum\(group_split\) must equal num_heads/);
    expect(() => new EfficientAttention(30, 4, [2, 2], [3])).toThrow(/num_heads must be a positive integer dividing dim/);
    expect(() => new EfficientAttention(32, 4, [2, 2], [4])).toThrow(/odd/);
    expect(() => new EfficientAttention(32, 4, [2, 2], [3], { attnDrop: 0.1 })).toThrow(/dropout is not implemented/);
  });

  it('counts FLOPs as 2 x MACs of convs and matmuls', async () => {
    await useBackend('cpu');
    const m = new EfficientAttention(32, 4, [2, 2], [5], { windowSize: 4 });
    const [b, h, w] = [1, 10, 12];
    const n = b * h * w;
    const l = 3 * 3;
    const macs = n * 32 * 32 + n * 32 * 48 + n * 48 * 25 + 2 * n * 16 * 16 + n * 32 * 16 + l * 32 * 32 + 2 * n * l * 16;
    expect(m.flops([b, h, w, 32])).toBe(2 * macs);
    m.dispose();
  });
});
