/**
 * DoubleAttention's picture (the plugin's `inspect`) against an independent float64 computation from the
 * layer's own tensors: the gather maps = a naive softmax over positions of convB(x), the distribute
 * vectors = a naive softmax over c_n of convV(x) (1x1 convs from the state dict, PyTorch layout), and the
 * per-query effective weights sum_n v_in b_nj.
 */
import { Generator } from '@ablate/core';
import { randArray, randomizeParams, stateDict64, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { DoubleAttention, doubleAttentionSpec } from './index.js';

/** A 1x1 conv (weight [out, in, 1, 1]) at every position of x [N, in]: [N, out]. */
function conv1x1(w: Float64Array, b: Float64Array, x: Float64Array, n: number, inp: number, out: number): Float64Array {
  const y = new Float64Array(n * out);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let c = 0; c < inp; c++) s += w[o * inp + c] * x[i * inp + c];
      y[i * out + o] = s;
    }
  return y;
}

function softmax(v: number[]): number[] {
  const mx = Math.max(...v);
  const e = v.map((t) => Math.exp(t - mx));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((t) => t / z);
}

/** Sum-pools a row-major h x w map by k x k blocks (ceil mode). */
function pool(v: number[], h: number, w: number, k: number): number[] {
  const hp = Math.ceil(h / k);
  const wp = Math.ceil(w / k);
  const out = new Array(hp * wp).fill(0);
  for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[Math.floor(i / k) * wp + Math.floor(j / k)] += v[i * w + j];
  return out;
}

describe('DoubleAttention picture (inspect)', () => {
  for (const [cells, k] of [
    [undefined, 1],
    [12, 2],
  ] as const) {
    it(`gather maps and per-query effective weights = naive softmaxes of convB / convV (maxMapCells ${cells ?? 'default'}); no leaks`, async () => {
      await useBackend('cpu');
      const [H, W, C, cM, cN] = [6, 5, 8, 6, 10];
      const m = new DoubleAttention(C, cM, cN, { reconstruct: true });
      const gen = new Generator(5);
      randomizeParams(m, gen, 0.8);
      const xa = randArray(H * W * C, gen);
      const x = tf.tensor4d(Float32Array.from(xa), [1, H, W, C]);
      const before = tf.memory().numTensors;
      const pic = doubleAttentionSpec.inspect!(m, x, { maxQueries: 9, maxPoints: 4, maxMaps: 4, maxMapCells: cells });
      expect(tf.memory().numTensors).toBe(before);
      expect(pic.kind).toBe('attention-maps');
      expect(pic.mapSize).toEqual([H, W]);

      const sd = stateDict64(m);
      const n = H * W;
      const b = conv1x1(sd['convB.weight'].data, sd['convB.bias'].data, xa, n, C, cN);
      const v = conv1x1(sd['convV.weight'].data, sd['convV.bias'].data, xa, n, C, cN);
      // gather maps: softmax over positions per descriptor
      const maps = Array.from({ length: cN }, (_, c) => softmax(Array.from({ length: n }, (_, i) => b[i * cN + c])));
      // distribute: softmax over descriptors per position
      const vecs = Array.from({ length: n }, (_, i) => softmax(Array.from(v.subarray(i * cN, (i + 1) * cN))));
      const usage = maps.map((_, c) => vecs.reduce((s, row) => s + row[c], 0) / n);
      const order = usage.map((u, c) => [u, c] as const).sort((p, q) => q[0] - p[0]);

      expect(pic.maps?.length).toBe(4);
      pic.maps!.forEach((mp, i) => {
        const c = order[i][1];
        expect(mp.label).toMatch(new RegExp(`^map ${c} \\(${(100 * usage[c]).toFixed(1)}%`));
        expect(mp.size).toEqual([Math.ceil(H / k), Math.ceil(W / k)]);
        const want = pool(maps[c], H, W, k);
        mp.values.forEach((val, j) => {
          expect(val, `map ${c} cell ${j}`).toBeCloseTo(want[j], 5);
        });
        expect(mp.values.reduce((s, t) => s + t, 0)).toBeCloseTo(1, 4);
      });

      expect(pic.queries?.length).toBe(9);
      for (const q of pic.queries!) {
        const i = Math.round(q.y * H - 0.5) * W + Math.round(q.x * W - 0.5);
        const eff = Array.from({ length: n }, (_, j) => vecs[i].reduce((s, vn, c) => s + vn * maps[c][j], 0));
        const want = pool(eff, H, W, k);
        const got = q.heads[0].map!;
        got.values.forEach((val, j) => {
          expect(val, `query ${i} cell ${j}`).toBeCloseTo(want[j], 5);
        });
        expect(got.values.reduce((s, t) => s + t, 0)).toBeCloseTo(1, 4);
      }
      x.dispose();
      m.dispose();
    });
  }

  it('refuses a batch of several images', async () => {
    await useBackend('cpu');
    const m = new DoubleAttention(4, 4, 4, { reconstruct: true });
    const x = tf.zeros([2, 3, 3, 4]);
    expect(() => doubleAttentionSpec.inspect!(m, x, { maxQueries: 4, maxPoints: 4 })).toThrow(/expects one image \[1, H, W, C\]/);
    x.dispose();
    m.dispose();
  });
});
