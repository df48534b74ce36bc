/**
 * FocusedLinearAttention's picture (the plugin's `inspect`) against an independent float64 computation
 * from the layer's own tensors (state dict, PyTorch layout): q, k from the qkv Linear, k plus its
 * positional-encoding row, ReLU + 1e-6 over softplus(scale), the focusing power rescaled to the old norm,
 * then w_ij = phi(q_i) . phi(k_j) / (phi(q_i) . K + 1e-6) per head, K the sum (or mean, with w / N) of the keys.
 */
import { Generator } from '@ablate/core';
import { randArray, randomizeParams, stateDict64, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { type FlaNormalization, FocusedLinearAttention, focusedLinearAttentionSpec } from './index.js';

describe('FocusedLinearAttention picture (inspect)', () => {
  for (const normalization of ['sum', 'mean'] as FlaNormalization[]) {
    it(`per-query attention weights per head = the naive focused-kernel weights (${normalization}); no leaks`, async () => {
      await useBackend('cpu');
      const [H, W, C, heads, f] = [3, 4, 8, 2, 3];
      const m = new FocusedLinearAttention(C, { numHeads: heads, windowSize: [2, 3], focusingFactor: f, kernelSize: 3, normalization });
      const gen = new Generator(11);
      randomizeParams(m, gen, 0.6);
      const xa = randArray(H * W * C, gen);
      const x = tf.tensor4d(Float32Array.from(xa), [1, H, W, C]);
      const before = tf.memory().numTensors;
      const pic = focusedLinearAttentionSpec.inspect!(m, x, { maxQueries: 4, maxPoints: 8 });
      expect(tf.memory().numTensors).toBe(before);
      expect(pic.kind).toBe('query-weights');
      expect(pic.mapSize).toEqual([H, W]);
      expect(pic.note).toMatch(/depthwise conv on v is not included/);

      const sd = stateDict64(m);
      const n = H * W;
      const P = 6;
      const wq = sd['qkv.weight'].data; // [3C, C]
      const bq = sd['qkv.bias'].data;
      const pe = sd.positional_encoding.data; // [1, P, C]
      const sp = Array.from(sd.scale.data, (s) => Math.log1p(Math.exp(s))); // softplus
      const focus = (t: number[]) => {
        const norm = (v: number[]) => Math.sqrt(v.reduce((a, b) => a + b * b, 0));
        const p = t.map((v) => v ** f);
        const s = norm(t) / norm(p);
        return p.map((v) => v * s);
      };
      const phiQ: number[][] = [];
      const phiK: number[][] = [];
      for (let i = 0; i < n; i++) {
        const q: number[] = [];
        const k: number[] = [];
        for (let c = 0; c < C; c++) {
          let sq = bq[c];
          let sk = bq[C + c];
          for (let j = 0; j < C; j++) {
            sq += wq[c * C + j] * xa[i * C + j];
            sk += wq[(C + c) * C + j] * xa[i * C + j];
          }
          sk += pe[(i % P) * C + c]; // the table repeats for N > P
          q.push((Math.max(0, sq) + 1e-6) / sp[c]);
          k.push((Math.max(0, sk) + 1e-6) / sp[c]);
        }
        phiQ.push(focus(q));
        phiK.push(focus(k));
      }
      const d = C / heads;
      expect(pic.queries?.length).toBe(4);
      for (const q of pic.queries!) {
        const i = Math.round(q.y * H - 0.5) * W + Math.round(q.x * W - 0.5);
        expect(q.heads.length).toBe(heads);
        for (let h = 0; h < heads; h++) {
          const dot = (a: number[], b: number[]) => a.slice(h * d, (h + 1) * d).reduce((s, v, c) => s + v * b[h * d + c], 0);
          const kSum = Array.from({ length: C }, (_, c) => phiK.reduce((s, k) => s + k[c], 0) / (normalization === 'mean' ? n : 1));
          const z = 1 / (dot(phiQ[i], kSum) + 1e-6);
          const want = phiK.map((k) => (dot(phiQ[i], k) / (normalization === 'mean' ? n : 1)) * z);
          const got = q.heads[h].map!;
          expect(got.size).toEqual([H, W]);
          got.values.forEach((v, j) => {
            expect(v, `query ${i} head ${h} key ${j}`).toBeCloseTo(want[j], 5);
          });
          // they sum to q.K / (q.K + 1e-6): 1 unless the focused query is tiny (the epsilon then matters)
          const qk = dot(phiQ[i], kSum);
          expect(got.values.reduce((a, b) => a + b, 0)).toBeCloseTo(qk / (qk + 1e-6), 4);
        }
      }
      x.dispose();
      m.dispose();
    });
  }

  it('refuses a batch of several images and queries outside the map', async () => {
    await useBackend('cpu');
    const m = new FocusedLinearAttention(8, { numHeads: 2, windowSize: 2 });
    const x = tf.zeros([2, 2, 2, 8]);
    expect(() => focusedLinearAttentionSpec.inspect!(m, x, { maxQueries: 4, maxPoints: 4 })).toThrow(/expects one image/);
    const x1 = tf.zeros([1, 2, 2, 8]);
    expect(() => m.attentionWeights(x1, [4])).toThrow(/query 4 outside 0..3/);
    x.dispose();
    x1.dispose();
    m.dispose();
  });
});
