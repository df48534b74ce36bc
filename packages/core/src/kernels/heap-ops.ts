/**
 * Small JS loops over the wasm heap used by the convolution-gradient kernels: filter flips, phase
 * (sub-pixel) interleaving, zero-dilation, and a conv with possibly negative padding (cropping).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type Pad4, pad4, type WasmScope } from './wasm-scope.js';

/**
 * Runs a stride-1 Conv2D (or depthwise conv) of `x` whose padding may be negative on some side:
 * negative padding means "drop that many rows/columns of the result", done by padding with 0 on that
 * side and slicing the result.
 */
export function convWithCrop(
  s: WasmScope,
  kind: 'conv' | 'depthwise',
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  top: number,
  bottom: number,
  left: number,
  right: number,
  dilations: [number, number] = [1, 1],
): tf.TensorInfo {
  const clamp: Pad4 = pad4(Math.max(top, 0), Math.max(bottom, 0), Math.max(left, 0), Math.max(right, 0));
  let y = kind === 'conv' ? s.conv2d(x, filter, [1, 1], clamp, dilations) : s.depthwiseConv2d(x, filter, clamp);
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, w, c] = y.shape;
    const ct = Math.max(-top, 0);
    const cl = Math.max(-left, 0);
    const size = [n, h - ct - Math.max(-bottom, 0), w - cl - Math.max(-right, 0), c];
    if (size[1] <= 0 || size[2] <= 0) throw new Error(`convWithCrop: empty result ${JSON.stringify(size)}`);
    y = s.run('Slice', { x: y }, { begin: [0, ct, cl, 0], size });
  }
  return y;
}

/**
 * Sub-filter of a conv filter w [kh,kw,Ci,Co] for one phase of the strided input gradient, flipped
 * and with in/out channels swapped: out[m, n, co, ci] = w[i0 + (Ka-1-m)*sH, j0 + (Kb-1-n)*sW, ci, co],
 * shape [Ka, Kb, Co, Ci]. With i0 = j0 = 0, Ka = kh, Kb = kw, sH = sW = 1 it is the full flip.
 */
export function flippedSubFilter(
  s: WasmScope,
  w: tf.TensorInfo,
  i0: number,
  j0: number,
  Ka: number,
  Kb: number,
  sH: number,
  sW: number,
): tf.TensorInfo {
  const [, kw, ci, co] = w.shape;
  const out = s.alloc([Ka, Kb, co, ci]);
  const src = s.f32(w);
  const dst = s.f32(out);
  const blk = ci * co;
  for (let m = 0; m < Ka; m++) {
    const i = i0 + (Ka - 1 - m) * sH;
    for (let n = 0; n < Kb; n++) {
      const j = j0 + (Kb - 1 - n) * sW;
      const so = (i * kw + j) * blk;
      const dOff = (m * Kb + n) * blk;
      // [ci, co] -> [co, ci]
      for (let a = 0; a < ci; a++) {
        const sa = so + a * co;
        for (let b = 0; b < co; b++) dst[dOff + b * ci + a] = src[sa + b];
      }
    }
  }
  return out;
}

/** Depthwise filter [kh,kw,C,m] flipped spatially and viewed as [kh,kw,C*m,1]. */
export function flippedDepthwiseFilter(s: WasmScope, w: tf.TensorInfo): tf.TensorInfo {
  const [kh, kw, c, m] = w.shape;
  const out = s.alloc([kh, kw, c * m, 1]);
  const src = s.f32(w);
  const dst = s.f32(out);
  const blk = c * m;
  const K = kh * kw;
  for (let p = 0; p < K; p++) dst.set(src.subarray(p * blk, (p + 1) * blk), (K - 1 - p) * blk);
  return out;
}

/** Inserts (s-1) zeros between rows/columns: [N,H,W,C] -> [N,(H-1)*sH+1,(W-1)*sW+1,C]. */
export function zeroDilate(s: WasmScope, x: tf.TensorInfo, sH: number, sW: number): tf.TensorInfo {
  if (sH === 1 && sW === 1) return x;
  const [n, h, w, c] = x.shape;
  const Hd = (h - 1) * sH + 1;
  const Wd = (w - 1) * sW + 1;
  const out = s.alloc([n, Hd, Wd, c], 'float32', true);
  const src = s.f32(x);
  const dst = s.f32(out);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const so = (b * h + y) * w * c;
      const dRow = (b * Hd + y * sH) * Wd * c;
      for (let xx = 0; xx < w; xx++) dst.set(src.subarray(so + xx * c, so + xx * c + c), dRow + xx * sW * c);
    }
  }
  return out;
}

/**
 * Writes phase (a, b) of a strided result into dst: dst[n, a + sH*u, b + sW*v, :] = phase[n, u, v, :],
 * for u < phase rows, v < phase cols. dst is [N,H,W,C]; phase is [N,Qa,Qb,C].
 */
export function scatterPhase(
  dst: Float32Array,
  dstShape: number[],
  phase: Float32Array,
  phaseShape: number[],
  a: number,
  b: number,
  sH: number,
  sW: number,
): void {
  const [N, H, W, C] = dstShape;
  const [, Qa, Qb] = phaseShape;
  for (let n = 0; n < N; n++) {
    for (let u = 0; u < Qa; u++) {
      const y = a + sH * u;
      if (y >= H) break;
      let so = (n * Qa + u) * Qb * C;
      let dOff = ((n * H + y) * W + b) * C;
      const step = sW * C;
      for (let v = 0; v < Qb && b + sW * v < W; v++) {
        if (C >= 16) dst.set(phase.subarray(so, so + C), dOff);
        else for (let k = 0; k < C; k++) dst[dOff + k] = phase[so + k];
        so += C;
        dOff += step;
      }
    }
  }
}
