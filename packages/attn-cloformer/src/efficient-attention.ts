/**
 * EfficientAttention: CloFormer's attention block = AttnConv local groups (shared-weight depthwise conv on
 * q, k, v + context-aware tanh gate) and one global group attending to average-pooled keys/values.
 *
 * Paper: Fan, Huang, He, Li, "Rethinking Local Perception in Lightweight Vision Transformer" (CloFormer),
 * arXiv 2303.17803.
 * Reference implementation: qhfan/CloFormer @ 9181f69, `classification/models/blocks.py`, classes
 * `EfficientAttention` and `AttnMap` (the code copied by the YOLOv8 blog tutorial «【YOLOv8改进 - Backbone主干】
 * 清华大学CloFormer AttnConv ...», https://blog.csdn.net/shangyanaf/article/details/139824105).
 *
 * Status: same maths, PyTorch state-dict names (`qkvs.i`, `convs.i`, `act_blocks.i.act_block.{0,2}`,
 * `global_q`, `global_kv`, `proj`) and layouts as the official class; golden parity on the visible cases.
 * Deviations / generalisations (equal to the official result wherever the official code runs):
 *  - Pooling: the official `AvgPool2d(window_size)` + `view(..., h*w // window_size**2)` only runs when H and
 *    W are multiples of window_size. Here the pooling is ceil-mode: the map is cut into window_size x
 *    window_size cells from the top-left, the last row/column of cells may be partial, and every cell is
 *    the mean of the pixels it covers (padding not counted). With divisible H, W this is exactly the
 *    official AvgPool; a window larger than the map gives one global-mean token.
 *  - `windowSize: 'auto'` (an addition, the YOLOv8 plugin's default): per input, window = ceil(max(H, W) / 7),
 *    so the pooled grid is at most 7 x 7 — what the official per-stage windows (8, 4, 2, 1 on the 56, 28,
 *    14, 7 maps of a 224 px input) give. A numeric windowSize is the official fixed window.
 *  - A head group of size 0 among the local groups is skipped with its kernel size (official builds no
 *    modules for it but then indexes the compacted ModuleLists with the uncompacted index, which only
 *    works when the zero groups come last); parameter names are the compacted indices, as official.
 *  - Dropout (attn_drop, proj_drop) is not implemented (official configs use 0); non-zero values throw.
 *  - dim must be divisible by num_heads (official silently builds a proj that cannot take the concat).
 */

import { Conv2d, Layer, type Module, ModuleList, Sequential, SiLU } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

export interface EfficientAttentionOptions {
  /** Pooling window of the global group: a positive integer (official) or 'auto' (see header). Default 7 (official default). */
  windowSize?: number | 'auto';
  /** Must be 0 (dropout is not implemented). */
  attnDrop?: number;
  /** Must be 0 (dropout is not implemented). */
  projDrop?: number;
  /** Bias of the qkv/global/proj 1x1 convs (default true). */
  qkvBias?: boolean;
}

/** Target pooled-grid side of `windowSize: 'auto'`. */
export const AUTO_POOLED_SIDE = 7;

/** `AttnMap`: 1x1 conv -> swish -> 1x1 conv, as a child `act_block` (Sequential: 0 conv, 1 swish, 2 conv). */
export class AttnMap extends Layer {
  readonly actBlock: Sequential;
  constructor(dim: number) {
    super();
    this.actBlock = this.addModule('act_block', new Sequential(new Conv2d(dim, dim, 1), new SiLU(), new Conv2d(dim, dim, 1)));
  }
  override forward(x: tf.Tensor): tf.Tensor {
    return this.actBlock.forward(x);
  }
}

/** Pooling window used for an H x W map. */
export function effectiveWindow(windowSize: number | 'auto', h: number, w: number): number {
  return windowSize === 'auto' ? Math.max(1, Math.ceil(Math.max(h, w) / AUTO_POOLED_SIDE)) : windowSize;
}

/**
 * Ceil-mode average pooling with window = stride = `k` on an NHWC map, each cell averaging only the pixels
 * it covers (equals PyTorch's AvgPool2d(k, k) when k divides H and W). Built from pad/reshape/sum, so its
 * gradient needs no pooling-gradient kernel.
 */
export function ceilAvgPool(x: tf.Tensor4D, k: number): tf.Tensor4D {
  if (k === 1) return x;
  const [b, h, w, c] = x.shape;
  const hp = Math.ceil(h / k);
  const wp = Math.ceil(w / k);
  return tf.tidy(() => {
    const padded =
      hp * k === h && wp * k === w
        ? x
        : tf.pad(x, [
            [0, 0],
            [0, hp * k - h],
            [0, wp * k - w],
            [0, 0],
          ]);
    // [B, Hp*k, Wp*k, C] -> [B, Hp, k, Wp*k*C] -> sum over the k rows -> [B, Hp, Wp*k*C]
    const rows = tf.sum(tf.reshape(padded, [b, hp, k, wp * k * c]), 2);
    // [B, Hp, Wp*k*C] -> [B*Hp, Wp, k, C] -> sum over the k columns -> [B*Hp, Wp, C]
    const cells = tf.sum(tf.reshape(rows, [b * hp, wp, k, c]), 2);
    // number of real pixels in each cell (k*k except in the last partial row/column of cells)
    const inv = new Float32Array(hp * wp);
    for (let i = 0; i < hp; i++) {
      for (let j = 0; j < wp; j++) inv[i * wp + j] = 1 / (Math.min(k, h - i * k) * Math.min(k, w - j * k));
    }
    // [B*Hp, Wp, C] -> [B, Hp, Wp, C], times 1/count [1, Hp, Wp, 1]
    return tf.mul(tf.reshape(cells, [b, hp, wp, c]), tf.tensor4d(inv, [1, hp, wp, 1])) as tf.Tensor4D;
  });
}

export class EfficientAttention extends Layer {
  readonly dim: number;
  readonly numHeads: number;
  readonly dimHead: number;
  readonly scalor: number;
  readonly groupSplit: readonly number[];
  readonly kernelSizes: readonly number[];
  readonly windowSize: number | 'auto';
  /** Local groups that exist (non-zero heads): heads and kernel size, in module-list order. */
  readonly localGroups: readonly { heads: number; kernelSize: number }[];
  readonly globalHeads: number;
  private readonly convList: Conv2d[] = [];
  private readonly actList: AttnMap[] = [];
  private readonly qkvList: Conv2d[] = [];
  readonly globalQ: Conv2d | null = null;
  readonly globalKv: Conv2d | null = null;
  readonly proj: Conv2d;

  /**
   * @param dim channels (in = out)
   * @param numHeads total heads; dim / numHeads channels each
   * @param groupSplit heads per group: one entry per kernel size (local AttnConv groups), then the global group
   * @param kernelSizes depthwise kernel size of each local group
   */
  constructor(
    dim: number,
    numHeads: number,
    groupSplit: readonly number[],
    kernelSizes: readonly number[],
    opts: EfficientAttentionOptions = {},
  ) {
    super();
    const where = `EfficientAttention(dim=${dim}, num_heads=${numHeads}, group_split=[${groupSplit}], kernel_sizes=[${kernelSizes}])`;
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`${where}: dim must be a positive integer`);
    if (!Number.isInteger(numHeads) || numHeads < 1 || dim % numHeads !== 0) {
      throw new Error(`${where}: num_heads must be a positive integer dividing dim`);
    }
    if (groupSplit.some((g) => !Number.isInteger(g) || g < 0)) throw new Error(`${where}: group_split entries must be integers >= 0`);
    if (groupSplit.reduce((a, g) => a + g, 0) !== numHeads) throw new Error(`${where}: sum(group_split) must equal num_heads`);
    if (kernelSizes.length + 1 !== groupSplit.length) throw new Error(`${where}: need len(kernel_sizes) + 1 == len(group_split)`);
    if (kernelSizes.some((k) => !Number.isInteger(k) || k < 1 || k % 2 === 0)) {
      throw new Error(`${where}: kernel sizes must be odd positive integers (padding k//2 keeps the map size)`);
    }
    const ws = opts.windowSize ?? 7;
    if (ws !== 'auto' && (!Number.isInteger(ws) || ws < 1))
      throw new Error(`${where}: windowSize must be a positive integer or 'auto', got ${ws}`);
    if ((opts.attnDrop ?? 0) !== 0 || (opts.projDrop ?? 0) !== 0) {
      throw new Error(`${where}: dropout is not implemented; attn_drop and proj_drop must be 0`);
    }
    const bias = opts.qkvBias ?? true;
    this.dim = dim;
    this.numHeads = numHeads;
    this.dimHead = dim / numHeads;
    this.scalor = this.dimHead ** -0.5;
    this.groupSplit = [...groupSplit];
    this.kernelSizes = [...kernelSizes];
    this.windowSize = ws;
    const dh = this.dimHead;
    const local: { heads: number; kernelSize: number }[] = [];
    kernelSizes.forEach((k, i) => {
      const g = groupSplit[i];
      if (g === 0) return;
      local.push({ heads: g, kernelSize: k });
      const ch = 3 * dh * g;
      this.convList.push(new Conv2d(ch, ch, k, { padding: Math.floor(k / 2), groups: ch }));
      this.actList.push(new AttnMap(dh * g));
      this.qkvList.push(new Conv2d(dim, ch, 1, { bias }));
    });
    this.localGroups = local;
    this.globalHeads = groupSplit[groupSplit.length - 1];
    // Registration order = official state-dict order: global_q, global_kv, convs, act_blocks, qkvs, proj.
    if (this.globalHeads !== 0) {
      this.globalQ = this.addModule('global_q', new Conv2d(dim, this.globalHeads * dh, 1, { bias }));
      this.globalKv = this.addModule('global_kv', new Conv2d(dim, 2 * this.globalHeads * dh, 1, { bias }));
    }
    this.addModule('convs', new ModuleList(this.convList));
    this.addModule('act_blocks', new ModuleList(this.actList));
    this.addModule('qkvs', new ModuleList(this.qkvList));
    this.proj = this.addModule('proj', new Conv2d(dim, dim, 1, { bias }));
  }

  /** AttnConv branch of local group i: [B, H, W, dim] -> [B, H, W, heads_i * dimHead]. */
  private highFreq(x: tf.Tensor4D, i: number): tf.Tensor4D {
    // ch = heads_i * dimHead; [B, H, W, dim] -> [B, H, W, 3*ch] (1x1 qkv, then depthwise k x k on all 3*ch channels)
    const qkv = this.convList[i].forward(this.qkvList[i].forward(x)) as tf.Tensor4D;
    // [B, H, W, 3*ch] -> q, k, v: consecutive thirds of the channels, [B, H, W, ch] each
    const [q, k, v] = tf.split(qkv, 3, 3);
    const attn = tf.tanh(tf.mul(this.actList[i].forward(tf.mul(q, k)), this.scalor));
    return tf.mul(attn, v) as tf.Tensor4D;
  }

  /** Global branch: queries at every pixel, keys/values on the pooled map. [B, H, W, dim] -> [B, H, W, gG*dh]. */
  private lowFreq(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w] = x.shape;
    const m = this.globalHeads;
    const dh = this.dimHead;
    const globalQ = this.globalQ as Conv2d;
    const globalKv = this.globalKv as Conv2d;
    // [B, H, W, m*dh] -> [B, H*W, m, dh] -> [B, m, H*W, dh]
    const q = tf.transpose(tf.reshape(globalQ.forward(x), [b, h * w, m, dh]), [0, 2, 1, 3]);
    const pooled = ceilAvgPool(x, effectiveWindow(this.windowSize, h, w));
    const [, hp, wp] = pooled.shape;
    const l = hp * wp;
    // [B, Hp, Wp, 2*m*dh] -> [B, Hp*Wp, 2, m, dh]; k is the first block, v the second
    const kv = tf.reshape(globalKv.forward(pooled), [b, l, 2 * m * dh]);
    const [kFlat, vFlat] = tf.split(kv, 2, 2);
    // [B, L, m*dh] -> [B, L, m, dh] -> [B, m, L, dh]
    const k = tf.transpose(tf.reshape(kFlat, [b, l, m, dh]), [0, 2, 1, 3]);
    const v = tf.transpose(tf.reshape(vFlat, [b, l, m, dh]), [0, 2, 1, 3]);
    // [B, m, H*W, dh] @ [B, m, dh, L] -> [B, m, H*W, L], softmax over the pooled tokens
    const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), this.scalor));
    // [B, m, H*W, L] @ [B, m, L, dh] -> [B, m, H*W, dh] -> [B, H*W, m, dh] -> [B, H, W, m*dh]
    const res = tf.matMul(attn, v);
    return tf.reshape(tf.transpose(res, [0, 2, 1, 3]), [b, h, w, m * dh]) as tf.Tensor4D;
  }

  /** x: NHWC [B, H, W, dim] -> [B, H, W, dim]. */
  override forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.dim) {
      throw new Error(`EfficientAttention: expected an NHWC input [B, H, W, ${this.dim}], got [${x.shape}]`);
    }
    const x4 = x as tf.Tensor4D;
    return tf.tidy(() => {
      const parts: tf.Tensor4D[] = [];
      for (let i = 0; i < this.localGroups.length; i++) parts.push(this.highFreq(x4, i));
      if (this.globalHeads !== 0) parts.push(this.lowFreq(x4));
      // concat along channels in the order [local_0, local_1, ..., global] -> [B, H, W, dim]
      const cat = parts.length === 1 ? parts[0] : tf.concat(parts, 3);
      return this.proj.forward(cat) as tf.Tensor4D;
    });
  }

  /**
   * FLOPs of one forward pass on an NHWC input shape (2 x MACs, batch included): every conv (1x1 and
   * depthwise), the q.k^T and attn.v matmuls of the global group; elementwise products are not counted.
   */
  flops(inputShape: readonly number[]): number {
    const [b, h, w] = inputShape;
    const n = b * h * w;
    const dh = this.dimHead;
    let macs = n * this.dim * this.dim; // proj
    for (const { heads, kernelSize } of this.localGroups) {
      const ch = 3 * dh * heads;
      macs += n * this.dim * ch; // qkv 1x1
      macs += n * ch * kernelSize * kernelSize; // depthwise mixer
      macs += 2 * n * (dh * heads) ** 2; // AttnMap: two 1x1 convs
    }
    if (this.globalHeads !== 0) {
      const ws = effectiveWindow(this.windowSize, h, w);
      const l = Math.ceil(h / ws) * Math.ceil(w / ws);
      const gc = this.globalHeads * dh;
      macs += n * this.dim * gc; // global_q
      macs += b * l * this.dim * 2 * gc; // global_kv on the pooled map
      macs += 2 * n * l * gc; // q k^T and attn v
    }
    return 2 * macs;
  }
}

/** Type guard used by the plugin. */
export function isEfficientAttention(m: Module): m is EfficientAttention {
  return m instanceof EfficientAttention;
}
