/** Float64 reference forwards of the small layers (NHWC). */
import { erf64 } from './reference.js';

export type F = (x: Float64Array) => Float64Array;
export const mapF =
  (fn: (v: number) => number): F =>
  (x) =>
    x.map(fn);

export const silu64 = mapF((v) => v / (1 + Math.exp(-v)));
export const gelu64 = mapF((v) => 0.5 * v * (1 + erf64(v / Math.SQRT2)));
export const relu64 = mapF((v) => Math.max(v, 0));
export const sigmoid64 = mapF((v) => 1 / (1 + Math.exp(-v)));
export const tanh64 = mapF(Math.tanh);
/** PyTorch: x > 20 ? x : log1p(exp(x)). */
export const softplus64 = mapF((v) => (v > 20 ? v : Math.log1p(Math.exp(v))));

/** Pooling over NHWC with explicit symmetric padding. */
export function pool64(
  x: Float64Array,
  [B, H, W, C]: number[],
  k: [number, number],
  s: [number, number],
  p: [number, number],
  mode: 'max' | 'avg',
  countIncludePad = true,
): { y: Float64Array; shape: number[] } {
  const Ho = Math.floor((H + 2 * p[0] - k[0]) / s[0]) + 1;
  const Wo = Math.floor((W + 2 * p[1] - k[1]) / s[1]) + 1;
  const y = new Float64Array(B * Ho * Wo * C);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < Ho; i++)
      for (let j = 0; j < Wo; j++)
        for (let c = 0; c < C; c++) {
          let acc = mode === 'max' ? -Infinity : 0;
          let n = 0;
          for (let a = 0; a < k[0]; a++)
            for (let d = 0; d < k[1]; d++) {
              const ih = i * s[0] - p[0] + a;
              const iw = j * s[1] - p[1] + d;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
              const v = x[((b * H + ih) * W + iw) * C + c];
              if (mode === 'max') acc = Math.max(acc, v);
              else acc += v;
              n++;
            }
          y[((b * Ho + i) * Wo + j) * C + c] = mode === 'max' ? acc : acc / (countIncludePad ? k[0] * k[1] : n);
        }
  return { y, shape: [B, Ho, Wo, C] };
}

export function upsample64(x: Float64Array, [B, H, W, C]: number[], sh: number, sw: number): Float64Array {
  const y = new Float64Array(B * H * sh * W * sw * C);
  for (let b = 0; b < B; b++)
    for (let i = 0; i < H * sh; i++)
      for (let j = 0; j < W * sw; j++)
        for (let c = 0; c < C; c++)
          y[((b * H * sh + i) * W * sw + j) * C + c] = x[((b * H + Math.floor(i / sh)) * W + Math.floor(j / sw)) * C + c];
  return y;
}

/** LayerNorm over the last axis of length n. */
export function layerNorm64(x: Float64Array, n: number, w: Float64Array, b: Float64Array, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    let m = 0;
    for (let i = 0; i < n; i++) m += x[r * n + i] / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[r * n + i] - m) ** 2 / n;
    for (let i = 0; i < n; i++) y[r * n + i] = ((x[r * n + i] - m) / Math.sqrt(v + eps)) * w[i] + b[i];
  }
  return y;
}

/** y = x W^T + b with torch layout W (out, in). */
export function linear64(x: Float64Array, inF: number, outF: number, w: Float64Array, b: Float64Array | null): Float64Array {
  const rows = x.length / inF;
  const y = new Float64Array(rows * outF);
  for (let r = 0; r < rows; r++)
    for (let o = 0; o < outF; o++) {
      let acc = b ? b[o] : 0;
      for (let i = 0; i < inF; i++) acc += x[r * inF + i] * w[o * inF + i];
      y[r * outF + o] = acc;
    }
  return y;
}
