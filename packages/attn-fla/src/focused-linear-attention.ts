/**
 * FocusedLinearAttention: FLatten Transformer's linear attention with the focusing function
 * (ReLU kernel, learnable per-channel scale, power `focusing_factor` rescaled to the old norm) and a
 * depthwise conv on v (shared by all heads) that restores feature diversity.
 *
 * Paper: Han, Pan, Han, Song, Huang, "FLatten Transformer: Vision Transformer using Focused Linear
 * Attention", ICCV 2023, arXiv 2308.00442.
 * Reference implementation: LeapLabTHU/FLatten-Transformer, `models/flatten_swin.py`, class
 * `FocusedLinearAttention`, in two versions:
 *  - first release e743f01 (what the YOLOv8 blog tutorial «爆改YOLOv8|利用全新的聚焦式线性注意力模块Focused Linear
 *    Attention 改进yolov8(v1)», http://www.chinasem.cn/article/1116077, copied, with a map flatten/unflatten and a
 *    `positional_encoding[:, :N]` slice): `z = 1 / (q . sum_j k_j + 1e-6)` — `normalization: 'sum'`, the default;
 *  - HEAD abdb115 ("fix numerical instability"): `z = 1 / (q . mean_j k_j + 1e-6)`, `x = q (k^T v / N) z`,
 *    i.e. the same with an epsilon N times larger — `normalization: 'mean'`.
 * The other HEAD change (no max-normalisation before the power when focusing_factor > 6) changes nothing
 * mathematically: the power is rescaled to the old norm, which cancels the max; both versions divide by
 * the max there for stability.
 *
 * Status: same maths, PyTorch state-dict names (`positional_encoding`, `scale`, `qkv`, `proj`, `dwc`) and
 * layouts as the official class; golden parity on the blog-variant and official-HEAD cases.
 * Works on NHWC maps [B, H, W, C], tokens row-major (n = h*W + w, as the blog's flatten). Generalisations
 * (equal to the official result wherever the official code runs):
 *  - Non-square maps: official reshapes v to a sqrt(N) x sqrt(N) square for the dwc; here v is reshaped to
 *    the real H x W map (identical for square maps).
 *  - Positional encoding (P = window_size[0] * window_size[1] rows, used as a flat sequence as the official
 *    code does): the token n gets row `n mod P`. For N <= P this is the blog's slice `[:, :N]` (and the
 *    whole table when N = P, the official HEAD case); for N > P, where official fails, the table repeats.
 *  - Dropout (attn_drop, proj_drop) is not implemented (official configs use 0); non-zero values throw.
 *    `qk_scale` is accepted and unused, as in the official class.
 */

import { Conv2d, Layer, Linear } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

export type FlaNormalization = 'sum' | 'mean';

export interface FocusedLinearAttentionOptions {
  /** Height and width of the window the positional encoding is sized for (P = product rows). Default [20, 20] (the blog's). */
  windowSize?: readonly [number, number] | number;
  /** Number of heads (default 8, the blog's). Must divide dim. */
  numHeads?: number;
  /** Bias of the qkv Linear (default true). */
  qkvBias?: boolean;
  /** Exponent of the focusing function (default 3). */
  focusingFactor?: number;
  /** Kernel size of the depthwise conv on v (default 5). */
  kernelSize?: number;
  /** 'sum': first release e743f01 / the blog (default); 'mean': official HEAD abdb115. */
  normalization?: FlaNormalization;
  /** Must be 0 (dropout is not implemented). */
  attnDrop?: number;
  /** Must be 0 (dropout is not implemented). */
  projDrop?: number;
}

export const FLA_NORMALIZATIONS: readonly FlaNormalization[] = ['sum', 'mean'];

export class FocusedLinearAttention extends Layer {
  readonly dim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly windowSize: readonly [number, number];
  readonly focusingFactor: number;
  readonly kernelSize: number;
  readonly normalization: FlaNormalization;
  readonly positionalEncoding: tf.Variable;
  readonly scale: tf.Variable;
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly dwc: Conv2d;

  constructor(dim: number, opts: FocusedLinearAttentionOptions = {}) {
    super();
    const ws = opts.windowSize ?? [20, 20];
    const window: [number, number] = typeof ws === 'number' ? [ws, ws] : [ws[0], ws[1]];
    const numHeads = opts.numHeads ?? 8;
    const f = opts.focusingFactor ?? 3;
    const k = opts.kernelSize ?? 5;
    const norm = opts.normalization ?? 'sum';
    const where = `FocusedLinearAttention(dim=${dim}, num_heads=${numHeads})`;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`${where}: dim must be a positive integer`);
    if (!Number.isInteger(numHeads) || numHeads < 1 || dim % numHeads !== 0) {
      throw new Error(`${where}: num_heads must be a positive integer dividing dim`);
    }
    if (window.some((v) => !Number.isInteger(v) || v < 1))
      throw new Error(`${where}: window_size must be positive integers, got [${window}]`);
    if (!(f > 0) || !Number.isFinite(f)) throw new Error(`${where}: focusing_factor must be a positive number, got ${f}`);
    if (!Number.isInteger(k) || k < 1 || k % 2 === 0) throw new Error(`${where}: kernel_size must be an odd positive integer, got ${k}`);
    if (!FLA_NORMALIZATIONS.includes(norm)) {
      throw new Error(`${where}: unknown normalization "${norm}"; known: ${FLA_NORMALIZATIONS.join(', ')}`);
    }
    if ((opts.attnDrop ?? 0) !== 0 || (opts.projDrop ?? 0) !== 0) {
      throw new Error(`${where}: dropout is not implemented; attn_drop and proj_drop must be 0`);
    }
    this.dim = dim;
    this.numHeads = numHeads;
    this.headDim = dim / numHeads;
    this.windowSize = window;
    this.focusingFactor = f;
    this.kernelSize = k;
    this.normalization = norm;
    const p = window[0] * window[1];
    // Registration order = each version's state-dict order (blog/e743f01-variant: positional_encoding
    // first; HEAD: scale first). Both are zero-initialised, as official.
    if (norm === 'sum') {
      this.positionalEncoding = this.addParameter('positional_encoding', tf.zeros([1, p, dim]));
      this.scale = this.addParameter('scale', tf.zeros([1, 1, dim]));
    } else {
      this.scale = this.addParameter('scale', tf.zeros([1, 1, dim]));
      this.positionalEncoding = this.addParameter('positional_encoding', tf.zeros([1, p, dim]));
    }
    this.qkv = this.addModule('qkv', new Linear(dim, 3 * dim, { bias: opts.qkvBias ?? true }));
    this.proj = this.addModule('proj', new Linear(dim, dim));
    this.dwc = this.addModule('dwc', new Conv2d(this.headDim, this.headDim, k, { padding: Math.floor(k / 2), groups: this.headDim }));
  }

  /** Rows of the positional encoding for N tokens: row n mod P (the slice [:N] when N <= P). [1, N, C]. */
  private positionalRows(n: number): tf.Tensor3D {
    const p = this.positionalEncoding.shape[1] as number;
    if (n === p) return this.positionalEncoding as tf.Tensor3D;
    if (n < p) return tf.slice(this.positionalEncoding, [0, 0, 0], [1, n, this.dim]) as tf.Tensor3D;
    const reps = Math.ceil(n / p);
    // [1, P, C] repeated along the tokens -> [1, reps*P, C] -> first N rows
    const tiled = tf.concat(new Array<tf.Tensor>(reps).fill(this.positionalEncoding), 1);
    return tf.slice(tiled, [0, 0, 0], [1, n, this.dim]) as tf.Tensor3D;
  }

  /** The focusing function on [B, N, C]: x^f rescaled to the norm of x (norms over all C channels). */
  private focus(x: tf.Tensor): tf.Tensor {
    const f = this.focusingFactor;
    // x > 0 here (relu + 1e-6, divided by a softplus), so the norms are > 0
    const norm = (t: tf.Tensor) => tf.sqrt(tf.sum(tf.square(t), -1, true));
    // official (e743f01) divides by the per-token max before a power > 6; the rescale below cancels it
    const base = f > 6 ? tf.div(x, tf.max(x, -1, true)) : x;
    let xf: tf.Tensor;
    if (Number.isInteger(f) && f <= 8) {
      xf = base;
      for (let i = 1; i < f; i++) xf = tf.mul(xf, base);
    } else xf = tf.pow(base, tf.scalar(f));
    return tf.mul(tf.div(xf, norm(xf)), norm(x));
  }

  /**
   * Tokens [B, N, C] of an H x W map (row-major, N = H*W) -> [B, N, C]. This is the official forward on
   * (B_, N, C) windows, with the dwc on the H x W map.
   */
  forwardTokens(x: tf.Tensor, h: number, w: number): tf.Tensor3D {
    if (x.rank !== 3 || x.shape[2] !== this.dim || x.shape[1] !== h * w) {
      throw new Error(`FocusedLinearAttention: expected tokens [B, ${h}*${w}, ${this.dim}], got [${x.shape}]`);
    }
    const [b, n, c] = x.shape as [number, number, number];
    const nh = this.numHeads;
    const d = this.headDim;
    return tf.tidy(() => {
      // [B, N, C] -> [B, N, 3C] -> q, k, v: consecutive thirds of the channels, [B, N, C] each
      const [q0, k0, v] = tf.split(this.qkv.forward(x), 3, 2);
      const kPe = tf.add(k0, this.positionalRows(n));
      const softplusScale = tf.softplus(this.scale);
      const q1 = tf.div(tf.add(tf.relu(q0), 1e-6), softplusScale);
      const k1 = tf.div(tf.add(tf.relu(kPe), 1e-6), softplusScale);
      const qf = this.focus(q1);
      const kf = this.focus(k1);
      // [B, N, C] -> [B, N, heads, d] -> [B, heads, N, d]
      const toHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [b, n, nh, d]), [0, 2, 1, 3]);
      const qh = toHeads(qf);
      const kh = toHeads(kf);
      const vh = toHeads(v);
      // [B, heads, N, d] -> [B, heads, 1, d]: sum (e743f01) or mean (HEAD) of the keys
      const kRed = this.normalization === 'sum' ? tf.sum(kh, 2, true) : tf.mean(kh, 2, true);
      // z = 1 / (q . kRed + 1e-6): [B, heads, N, d] @ [B, heads, d, 1] -> [B, heads, N, 1]
      const z = tf.reciprocal(tf.add(tf.matMul(qh, kRed, false, true), 1e-6));
      // k^T v: [B, heads, d, N] @ [B, heads, N, d] -> [B, heads, d, d] (divided by N in the HEAD form)
      let kv = tf.matMul(kh, vh, true, false);
      if (this.normalization === 'mean') kv = tf.div(kv, n);
      // [B, heads, N, d] @ [B, heads, d, d] -> [B, heads, N, d], times z per token
      const att = tf.mul(tf.matMul(qh, kv), z);
      // dwc on v, one set of weights for all heads: [B, heads, N, d] -> [B*heads, H, W, d]
      const vMap = tf.reshape(vh, [b * nh, h, w, d]);
      // [B*heads, H, W, d] -> [B, heads, N, d]
      const local = tf.reshape(this.dwc.forward(vMap), [b, nh, n, d]);
      // [B, heads, N, d] -> [B, N, heads, d] -> [B, N, C] (channel = head*d + i)
      const merged = tf.reshape(tf.transpose(tf.add(att, local), [0, 2, 1, 3]), [b, n, c]);
      return this.proj.forward(merged) as tf.Tensor3D;
    });
  }

  /** x: NHWC [B, H, W, C] -> [B, H, W, C]. */
  override forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.dim) {
      throw new Error(`FocusedLinearAttention: expected an NHWC input [B, H, W, ${this.dim}], got [${x.shape}]`);
    }
    const [b, h, w, c] = x.shape as [number, number, number, number];
    return tf.tidy(() => {
      // [B, H, W, C] -> [B, H*W, C] (token n = h*W + w) -> attention -> [B, H, W, C]
      const y = this.forwardTokens(tf.reshape(x, [b, h * w, c]), h, w);
      return tf.reshape(y, [b, h, w, c]) as tf.Tensor4D;
    });
  }

  /**
   * FLOPs of one forward pass on an NHWC input shape (2 x MACs, batch included): qkv and proj Linears,
   * the k^T v, q (k^T v) and q . sum(k) matmuls, and the depthwise conv.
   */
  flops(inputShape: readonly number[]): number {
    const [b, h, w] = inputShape;
    const n = b * h * w;
    const c = this.dim;
    const d = this.headDim;
    const macs =
      n * c * 3 * c + // qkv
      n * c * c + // proj
      2 * n * this.numHeads * d * d + // k^T v and q (k^T v)
      n * c + // q . sum(k)
      n * c * this.kernelSize * this.kernelSize; // dwc: B*heads maps of d channels
    return 2 * macs;
  }
}
