/**
 * EfficientAttention's picture (the plugin's `inspect`) against an independent float64 computation from
 * the layer's own tensors (state dict, PyTorch layouts, NCHW loops): the AttnConv heads' per-position
 * shares of |gate x depthwise kernel x value| and the global heads' softmax over the pooled tokens
 * spread over their pixels.
 */
import { Generator } from '@ablate/core';
import { randArray, randomizeParams, stateDict64, type T64, useBackend } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { EfficientAttention, efficientAttentionSpec } from './index.js';

const [H, W, C, HEADS] = [5, 6, 16, 4];
const SPLIT = [1, 1, 2];
const KERNELS = [3, 5];
const WINDOW = 2;

/** Per query token, per head (local groups, then global): the expected H*W map. */
function reference(x: Float64Array, sd: Record<string, T64>, queries: number[]): number[][][] {
  const n = H * W;
  const dh = C / HEADS;
  const scal = dh ** -0.5;
  // x is NHWC [1, H, W, C]; the loops below read channel-major copies
  const chw = new Float64Array(C * n);
  for (let p = 0; p < n; p++) for (let c = 0; c < C; c++) chw[c * n + p] = x[p * C + c];
  const conv1x1 = (name: string, src: Float64Array, inC: number, outC: number, npx: number) => {
    const w = sd[`${name}.weight`].data;
    const b = sd[`${name}.bias`].data;
    const out = new Float64Array(outC * npx);
    for (let o = 0; o < outC; o++)
      for (let p = 0; p < npx; p++) {
        let s = b[o];
        for (let i = 0; i < inC; i++) s += w[o * inC + i] * src[i * npx + p];
        out[o * npx + p] = s;
      }
    return out;
  };
  const out: number[][][] = queries.map(() => []);
  KERNELS.forEach((k, gi) => {
    const g = SPLIT[gi];
    const ch = g * dh;
    const r = Math.floor(k / 2);
    const qkv1 = conv1x1(`qkvs.${gi}`, chw, C, 3 * ch, n);
    const dw = sd[`convs.${gi}.weight`].data; // [3ch, 1, k, k]
    const db = sd[`convs.${gi}.bias`].data;
    const dwc = (o: number, i: number, j: number) => {
      let s = db[o];
      for (let u = 0; u < k; u++)
        for (let v = 0; v < k; v++) {
          const ii = i + u - r;
          const jj = j + v - r;
          if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += dw[(o * k + u) * k + v] * qkv1[o * n + ii * W + jj];
        }
      return s;
    };
    // gate at every position: tanh(act(q * k) * scal), act = 1x1 -> SiLU -> 1x1
    const qk = new Float64Array(ch * n);
    for (let c = 0; c < ch; c++)
      for (let p = 0; p < n; p++) qk[c * n + p] = dwc(c, Math.floor(p / W), p % W) * dwc(ch + c, Math.floor(p / W), p % W);
    const a1 = conv1x1(`act_blocks.${gi}.act_block.0`, qk, ch, ch, n).map((v) => v / (1 + Math.exp(-v)));
    const gate = conv1x1(`act_blocks.${gi}.act_block.2`, a1, ch, ch, n).map((v) => Math.tanh(v * scal));
    queries.forEach((q, qi) => {
      const qy = Math.floor(q / W);
      const qx = q % W;
      for (let hh = 0; hh < g; hh++) {
        const m = new Array(n).fill(0);
        for (let u = 0; u < k; u++)
          for (let v = 0; v < k; v++) {
            const ii = qy + u - r;
            const jj = qx + v - r;
            if (ii < 0 || ii >= H || jj < 0 || jj >= W) continue;
            for (let c = hh * dh; c < (hh + 1) * dh; c++) {
              m[ii * W + jj] += Math.abs(gate[c * n + q] * dw[((2 * ch + c) * k + u) * k + v] * qkv1[(2 * ch + c) * n + ii * W + jj]);
            }
          }
        const tot = m.reduce((a, b) => a + b, 0);
        out[qi].push(m.map((t) => t / tot));
      }
    });
  });
  // global heads
  const gh = SPLIT[SPLIT.length - 1];
  const gc = gh * dh;
  const q = conv1x1('global_q', chw, C, gc, n);
  const hp = Math.ceil(H / WINDOW);
  const wp = Math.ceil(W / WINDOW);
  const l = hp * wp;
  const pooled = new Float64Array(C * l);
  const count = (pi: number, pj: number) => Math.min(WINDOW, H - pi * WINDOW) * Math.min(WINDOW, W - pj * WINDOW);
  for (let c = 0; c < C; c++)
    for (let p = 0; p < n; p++) {
      const [i, j] = [Math.floor(p / W), p % W];
      const [pi, pj] = [Math.floor(i / WINDOW), Math.floor(j / WINDOW)];
      pooled[c * l + pi * wp + pj] += chw[c * n + p] / count(pi, pj);
    }
  const kv = conv1x1('global_kv', pooled, C, 2 * gc, l);
  queries.forEach((p, qi) => {
    for (let m = 0; m < gh; m++) {
      const logits = Array.from({ length: l }, (_, t) => {
        let s = 0;
        for (let d = 0; d < dh; d++) s += q[(m * dh + d) * n + p] * kv[(m * dh + d) * l + t];
        return s * scal;
      });
      const mx = Math.max(...logits);
      const e = logits.map((v) => Math.exp(v - mx));
      const z = e.reduce((a, b) => a + b, 0);
      out[qi].push(
        Array.from({ length: n }, (_, pix) => {
          const [pi, pj] = [Math.floor(Math.floor(pix / W) / WINDOW), Math.floor((pix % W) / WINDOW)];
          return e[pi * wp + pj] / z / count(pi, pj);
        }),
      );
    }
  });
  return out;
}

describe('EfficientAttention picture (inspect)', () => {
  it('AttnConv shares of |contribution| and global weights per pixel = a naive float64 computation; no leaks', async () => {
    await useBackend('cpu');
    const m = new EfficientAttention(C, HEADS, SPLIT, KERNELS, { windowSize: WINDOW });
    const gen = new Generator(21);
    randomizeParams(m, gen, 0.5);
    const xa = randArray(H * W * C, gen);
    const x = tf.tensor4d(Float32Array.from(xa), [1, H, W, C]);
    const before = tf.memory().numTensors;
    const pic = efficientAttentionSpec.inspect!(m, x, { maxQueries: 6, maxPoints: 8 });
    expect(tf.memory().numTensors).toBe(before);
    expect(pic.kind).toBe('query-weights');
    expect(pic.mapSize).toEqual([H, W]);
    const queries = pic.queries!.map((q) => Math.round(q.y * H - 0.5) * W + Math.round(q.x * W - 0.5));
    expect(queries.length).toBe(6);
    const want = reference(xa, stateDict64(m), queries);
    pic.queries!.forEach((q, qi) => {
      expect(q.heads.map((h) => h.label)).toEqual([
        'head 0: AttnConv 3x3, share of |contribution|',
        'head 1: AttnConv 5x5, share of |contribution|',
        'head 2: global, softmax over 3x3 pooled tokens',
        'head 3: global, softmax over 3x3 pooled tokens',
      ]);
      q.heads.forEach((h, hi) => {
        expect(h.map!.size).toEqual([H, W]);
        h.map!.values.forEach((v, j) => {
          expect(v, `query ${queries[qi]} head ${hi} position ${j}`).toBeCloseTo(want[qi][hi][j], 5);
        });
        expect(h.map!.values.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      });
      // the local heads are zero outside their window
      const [qy, qx] = [Math.floor(queries[qi] / W), queries[qi] % W];
      q.heads[0].map!.values.forEach((v, j) => {
        if (Math.abs(Math.floor(j / W) - qy) > 1 || Math.abs((j % W) - qx) > 1) expect(v).toBe(0);
      });
    });
    x.dispose();
    m.dispose();
  });

  it('refuses a batch of several images', async () => {
    await useBackend('cpu');
    const m = new EfficientAttention(8, 2, [1, 1], [3], { windowSize: 2 });
    const x = tf.zeros([2, 4, 4, 8]);
    expect(() => efficientAttentionSpec.inspect!(m, x, { maxQueries: 4, maxPoints: 4 })).toThrow(/expects one image/);
    x.dispose();
    m.dispose();
  });
});
