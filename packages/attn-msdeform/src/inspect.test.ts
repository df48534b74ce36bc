/**
 * MSDeformAttn's picture (the plugin's `inspect`) against an independent float64 computation from the
 * layer's own tensors: offsets = sampling_offsets(query) read from the state dict (PyTorch layout),
 * locations = pixel-centre reference + offsets / (W, H), weights = a naive softmax of
 * attention_weights(query) per head.
 */
import { Generator, type Module } from '@ablate/core';
import { randArray, randomizeParams, stateDict64, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { MSDeformAttn2d, msDeformAttnSpec, sinePositionEmbedding } from './index.js';

/** y = W x + b for a PyTorch Linear weight [out, in] (row-major) and input x [in]. */
function linear(w: Float64Array, b: Float64Array, x: ArrayLike<number>, out: number, inp: number): Float64Array {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b[o];
    for (let i = 0; i < inp; i++) s += w[o * inp + i] * x[i];
    y[o] = s;
  }
  return y;
}

describe('MSDeformAttn picture (inspect)', () => {
  for (const posEmbed of [true, false]) {
    it(`sampling points and weights = reference + sampling_offsets(query), softmax(attention_weights(query)) (posEmbed ${posEmbed}); no leaks`, async () => {
      await useBackend('cpu');
      const [H, W, C, M, P] = [5, 7, 16, 4, 3];
      const m = new MSDeformAttn2d(C, { nHeads: M, nPoints: P, posEmbed });
      const gen = new Generator(3);
      randomizeParams(m, gen, 0.5);
      const xa = randArray(H * W * C, gen);
      const x = tf.tensor4d(Float32Array.from(xa), [1, H, W, C]);
      const before = tf.memory().numTensors;
      const pic = msDeformAttnSpec.inspect!(m as Module, x, { maxQueries: 6, maxPoints: P });
      expect(tf.memory().numTensors).toBe(before);
      expect(pic.kind).toBe('sampling-points');
      expect(pic.mapSize).toEqual([H, W]);
      expect(pic.queries?.length).toBe(6);

      const sd = stateDict64(m);
      const pe = sinePositionEmbedding(H, W, C);
      const pos = pe.dataSync();
      pe.dispose();
      for (const q of pic.queries ?? []) {
        // the query is a pixel centre
        const qx = q.x * W - 0.5;
        const qy = q.y * H - 0.5;
        expect(Number.isInteger(Math.round(qx * 1e6) / 1e6)).toBe(true);
        const t = Math.round(qy) * W + Math.round(qx);
        const query = new Float64Array(C);
        for (let c = 0; c < C; c++) query[c] = xa[t * C + c] + (posEmbed ? pos[t * C + c] : 0);
        const off = linear(sd['sampling_offsets.weight'].data, sd['sampling_offsets.bias'].data, query, M * P * 2, C);
        const logits = linear(sd['attention_weights.weight'].data, sd['attention_weights.bias'].data, query, M * P, C);
        expect(q.heads.length).toBe(M);
        for (let h = 0; h < M; h++) {
          const l = logits.slice(h * P, (h + 1) * P);
          const mx = Math.max(...l);
          const e = Array.from(l, (v) => Math.exp(v - mx));
          const z = e.reduce((a, b) => a + b, 0);
          const want = e.map((v, p) => [
            (Math.round(qx) + 0.5) / W + off[(h * P + p) * 2] / W,
            (Math.round(qy) + 0.5) / H + off[(h * P + p) * 2 + 1] / H,
            v / z,
          ]);
          want.sort((a, b) => b[2] - a[2]);
          const got = q.heads[h].points ?? [];
          expect(got.length).toBe(P);
          got.forEach((g, i) => {
            expect(g[0], `query ${t} head ${h} point ${i} x`).toBeCloseTo(want[i][0], 4);
            expect(g[1], `query ${t} head ${h} point ${i} y`).toBeCloseTo(want[i][1], 4);
            expect(g[2], `query ${t} head ${h} point ${i} weight`).toBeCloseTo(want[i][2], 5);
          });
        }
      }
      x.dispose();
      m.dispose();
    });
  }

  it('refuses another module and a batch of several images', async () => {
    await useBackend('cpu');
    const m = new MSDeformAttn2d(8, { nHeads: 2, nPoints: 2 });
    const x = tf.zeros([2, 3, 3, 8]);
    expect(() => msDeformAttnSpec.inspect!(m, x, { maxQueries: 4, maxPoints: 4 })).toThrow(/expects one image \[1, H, W, C\]/);
    x.dispose();
    m.dispose();
  });
});
