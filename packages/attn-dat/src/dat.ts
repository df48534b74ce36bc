/**
 * DAttention: the deformable multi-head attention of DAT.
 *
 * Paper: Xia, Pan, Song, Li, Huang, "Vision Transformer with Deformable Attention", CVPR 2022,
 * arXiv 2201.00520.
 * Reference implementation: LeapLabTHU/DAT @ 32173fc, `models/dat_blocks.py`, class `DAttentionBaseline`,
 * in the configuration of the YOLOv8 blog tutorial «YOLOv8改进 DAT (Vision Transformer with Deformable Attention)»
 * (CSDN column «YOLOv8改进有效涨点专栏», no link in our copy): `DAttentionBaseline(c)` = n_heads 8,
 * n_head_channels c/8, n_groups 1, stride 1, ksize 9, offset_range_factor -1, use_pe and dwc_pe on
 * (LePE: a depthwise 3x3 conv on q added after attention), forward returns y only.
 *
 * Status: same maths and PyTorch state-dict names/layouts as the official class (golden parity on the
 * three visible cases). Deviations / generalisations (equal to the official result wherever the official
 * code runs):
 *  - Offset maps of height or width 1 (Hk = 1 or Wk = 1): the official reference points and offset range
 *    divide by Hk - 1 (= 0). Here the divisor is max(Hk - 1, 1), i.e. a single key row/column sits at the
 *    map centre (normalised 0) and `offset_range_factor` is in units of half the map.
 *  - ksize == stride (padding 0) on a map smaller than ksize: the official conv has no output. Here q is
 *    zero-padded at the bottom/right up to ksize first (one offset row/column).
 *  - Only the dwc_pe position encoding (or none, use_pe = false) is supported: the fixed/log-CPB/rpe-table
 *    variants need a fixed map size and are rejected with an error, as is no_off.
 *  - Dropout (attn_drop, proj_drop) is not implemented (the blog and official configs use 0); non-zero
 *    values are rejected.
 */

import { Conv2d, GELU, gridSample, Layer, LayerNorm } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

/** Options of DAttention; names follow the official constructor (camelCase). */
export interface DAttentionOptions {
  /** Number of heads (default: 8 when channels % 8 == 0, else gcd(channels, 8): see `defaultHeads`). */
  nHeads?: number;
  /** Channels per head (default channels / nHeads). nHeads * nHeadChannels must equal channels. */
  nHeadChannels?: number;
  /** Offset groups (default 1): each group of channels gets its own sampling positions. */
  nGroups?: number;
  /** Stride of the offset network (keys on a map `stride` times coarser). Default 1. */
  stride?: number;
  /** < 0: raw offsets, positions clamped to [-1, 1]; >= 0: tanh-bounded offsets (x factor / (Hk-1)). Default -1. */
  offsetRangeFactor?: number;
  /** LePE position encoding (default true). */
  usePe?: boolean;
  /** Depthwise-conv position encoding (the only supported kind; default true). */
  dwcPe?: boolean;
  /** Kernel size of the offset network's depthwise conv (default 9). */
  ksize?: number;
  /** Not supported (official: freeze offsets at 0 and average-pool); must be false. */
  noOff?: boolean;
  /** Not supported; must be false. */
  fixedPe?: boolean;
  /** Not supported; must be false. */
  logCpb?: boolean;
  /** Must be 0 (dropout is not implemented). */
  attnDrop?: number;
  /** Must be 0 (dropout is not implemented). */
  projDrop?: number;
}

/** Heads for c channels: 8 (the blog's value) when 8 divides c, else the largest of 4, 2, 1 dividing c. */
export function defaultHeads(channels: number): number {
  for (const h of [8, 4, 2, 1]) if (channels % h === 0) return h;
  return 1;
}

/** The official `LayerNormProxy`: LayerNorm over channels of a map (child `norm`). NHWC: last axis. */
class LayerNormProxy extends Layer {
  readonly norm: LayerNorm;
  constructor(dim: number) {
    super();
    this.norm = this.addModule('norm', new LayerNorm(dim, { eps: 1e-5 }));
  }
  override forward(x: tf.Tensor): tf.Tensor {
    return this.norm.forward(x);
  }
}

/** `conv_offset`: depthwise kxk conv (stride) -> LayerNorm -> GELU -> 1x1 conv to 2 (dy, dx), no bias. */
class OffsetNet extends Layer {
  readonly dw: Conv2d;
  readonly ln: LayerNormProxy;
  readonly act: GELU;
  readonly out: Conv2d;
  constructor(channels: number, ksize: number, stride: number) {
    super();
    const pad = ksize !== stride ? Math.floor(ksize / 2) : 0;
    this.dw = this.addModule('0', new Conv2d(channels, channels, ksize, { stride, padding: pad, groups: channels }));
    this.ln = this.addModule('1', new LayerNormProxy(channels));
    this.act = this.addModule('2', new GELU());
    this.out = this.addModule('3', new Conv2d(channels, 2, 1, { bias: false }));
  }
  override get typeName(): string {
    return 'Sequential';
  }
  override forward(x: tf.Tensor): tf.Tensor {
    return this.out.forward(this.act.forward(this.ln.forward(this.dw.forward(x))));
  }
}

/**
 * Deformable attention (DAT), c -> c on NHWC maps. Parameters under the official names:
 * `conv_offset.{0,1.norm,3}.*`, `proj_q`, `proj_k`, `proj_v`, `proj_out`, `rpe_table` (when usePe).
 */
export class DAttention extends Layer {
  readonly channels: number;
  readonly nHeads: number;
  readonly nHeadChannels: number;
  readonly nGroups: number;
  readonly stride: number;
  readonly ksize: number;
  readonly offsetRangeFactor: number;
  readonly usePe: boolean;
  readonly scale: number;
  readonly conv_offset: OffsetNet;
  readonly proj_q: Conv2d;
  readonly proj_k: Conv2d;
  readonly proj_v: Conv2d;
  readonly proj_out: Conv2d;
  readonly rpe_table: Conv2d | null;

  /** Checks the arguments and fills in the defaults (throws naming what is wrong). */
  static validate(
    channels: number,
    opts: DAttentionOptions = {},
  ): { nHeads: number; nHeadChannels: number; nGroups: number; stride: number; ksize: number; offsetRangeFactor: number; usePe: boolean } {
    if (!Number.isInteger(channels) || channels < 1) {
      throw new Error(`DAttention: channels must be a positive integer, got ${channels}`);
    }
    const nHeads = opts.nHeads ?? (opts.nHeadChannels ? channels / opts.nHeadChannels : defaultHeads(channels));
    const nHeadChannels = opts.nHeadChannels ?? channels / nHeads;
    if (
      !Number.isInteger(nHeads) ||
      nHeads < 1 ||
      !Number.isInteger(nHeadChannels) ||
      nHeadChannels < 1 ||
      nHeads * nHeadChannels !== channels
    ) {
      throw new Error(
        `DAttention: nHeads (${opts.nHeads ?? nHeads}) x nHeadChannels (${opts.nHeadChannels ?? nHeadChannels}) must equal channels (${channels}); heads dividing ${channels}: ${divisors(channels).join(', ')}`,
      );
    }
    const nGroups = opts.nGroups ?? 1;
    if (!Number.isInteger(nGroups) || nGroups < 1 || nHeads % nGroups !== 0) {
      throw new Error(`DAttention: nGroups (${nGroups}) must divide nHeads (${nHeads}); known: ${divisors(nHeads).join(', ')}`);
    }
    const stride = opts.stride ?? 1;
    const ksize = opts.ksize ?? 9;
    if (!Number.isInteger(stride) || stride < 1) throw new Error(`DAttention: stride must be a positive integer, got ${stride}`);
    if (!Number.isInteger(ksize) || ksize < 1) throw new Error(`DAttention: ksize must be a positive integer, got ${ksize}`);
    const offsetRangeFactor = opts.offsetRangeFactor ?? -1;
    if (!Number.isFinite(offsetRangeFactor))
      throw new Error(`DAttention: offsetRangeFactor must be a finite number, got ${offsetRangeFactor}`);
    const usePe = opts.usePe ?? true;
    if (opts.noOff) throw new Error('DAttention: noOff = true is not supported; known: noOff = false');
    if (usePe && (opts.dwcPe === false || opts.fixedPe || opts.logCpb)) {
      throw new Error(
        'DAttention: only the depthwise-conv position encoding is supported (dwcPe = true, fixedPe = false, logCpb = false), or usePe = false',
      );
    }
    if ((opts.attnDrop ?? 0) !== 0 || (opts.projDrop ?? 0) !== 0) {
      throw new Error(
        `DAttention: dropout is not implemented; attnDrop and projDrop must be 0, got ${opts.attnDrop ?? 0}, ${opts.projDrop ?? 0}`,
      );
    }
    return { nHeads, nHeadChannels, nGroups, stride, ksize, offsetRangeFactor, usePe };
  }

  constructor(channels: number, opts: DAttentionOptions = {}) {
    super();
    const cfg = DAttention.validate(channels, opts);
    this.channels = channels;
    this.nHeads = cfg.nHeads;
    this.nHeadChannels = cfg.nHeadChannels;
    this.nGroups = cfg.nGroups;
    this.stride = cfg.stride;
    this.ksize = cfg.ksize;
    this.offsetRangeFactor = cfg.offsetRangeFactor;
    this.usePe = cfg.usePe;
    this.scale = cfg.nHeadChannels ** -0.5;
    const { nGroups, stride, ksize, usePe } = cfg;
    const cg = channels / nGroups;
    // Registration order = the official state-dict order.
    this.conv_offset = this.addModule('conv_offset', new OffsetNet(cg, ksize, stride));
    this.proj_q = this.addModule('proj_q', new Conv2d(channels, channels, 1));
    this.proj_k = this.addModule('proj_k', new Conv2d(channels, channels, 1));
    this.proj_v = this.addModule('proj_v', new Conv2d(channels, channels, 1));
    this.proj_out = this.addModule('proj_out', new Conv2d(channels, channels, 1));
    this.rpe_table = usePe ? this.addModule('rpe_table', new Conv2d(channels, channels, 3, { padding: 1, groups: channels })) : null;
  }

  override get typeName(): string {
    return 'DAttention';
  }

  /** Size (Hk, Wk) of the offset / key map for an H x W input. */
  keySize(h: number, w: number): [number, number] {
    const k = this.ksize;
    const s = this.stride;
    const pad = k !== s ? Math.floor(k / 2) : 0;
    const out = (n: number) => Math.floor((Math.max(n + 2 * pad, k) - k) / s) + 1;
    return [out(h), out(w)];
  }

  /**
   * Normalised reference points (y, x) of a Hk x Wk key map, [Hk, Wk, 2]:
   * (i + 0.5) / max(Hk - 1, 1) * 2 - 1 (official: divisor Hk - 1).
   */
  static referencePoints(hk: number, wk: number): tf.Tensor3D {
    const v = new Float32Array(hk * wk * 2);
    const dy = Math.max(hk - 1, 1);
    const dx = Math.max(wk - 1, 1);
    for (let i = 0; i < hk; i++) {
      for (let j = 0; j < wk; j++) {
        v[(i * wk + j) * 2] = ((i + 0.5) / dy) * 2 - 1;
        v[(i * wk + j) * 2 + 1] = ((j + 0.5) / dx) * 2 - 1;
      }
    }
    return tf.tensor3d(v, [hk, wk, 2]);
  }

  /**
   * Forward with the sampling positions: `pos` and `reference` are [B, nGroups, Hk, Wk, 2] (y, x),
   * as the official forward returns them. With `attention`, also the softmax weights `attn`
   * [B, heads, H*W, Hk*Wk] (query position row-major, sampled key row-major).
   */
  forwardWithPos(
    x: tf.Tensor,
    opts: { attention?: boolean } = {},
  ): { y: tf.Tensor4D; pos: tf.Tensor; reference: tf.Tensor; attn?: tf.Tensor } {
    if (x.rank !== 4) throw new Error(`DAttention: expected an NHWC tensor of rank 4, got shape [${x.shape}]`);
    const [B, H, W, C] = x.shape as [number, number, number, number];
    if (C !== this.channels) throw new Error(`DAttention: input has ${C} channels, the module was built for ${this.channels}`);
    const g = this.nGroups;
    const cg = C / g;
    const heads = this.nHeads;
    const hc = this.nHeadChannels;
    return tf.tidy(() => {
      const q = this.proj_q.forward(x) as tf.Tensor4D; // [B, H, W, C]
      // [B, H, W, C] -> [B*g, H, W, Cg] (channel = group * Cg + c)
      const toGroups = (t: tf.Tensor4D): tf.Tensor4D =>
        g === 1 ? t : (tf.reshape(tf.transpose(tf.reshape(t, [B, H, W, g, cg]), [0, 3, 1, 2, 4]), [B * g, H, W, cg]) as tf.Tensor4D);
      let qOff = toGroups(q);
      const k = this.ksize;
      if (k === this.stride && (H < k || W < k)) {
        // Generalisation: pad bottom/right so the unpadded conv has one output row/column.
        qOff = tf.pad(qOff, [
          [0, 0],
          [0, Math.max(k - H, 0)],
          [0, Math.max(k - W, 0)],
          [0, 0],
        ]);
      }
      let offset = this.conv_offset.forward(qOff) as tf.Tensor4D; // [B*g, Hk, Wk, 2] (dy, dx)
      const [, Hk, Wk] = offset.shape;
      const nSample = Hk * Wk;
      const orf = this.offsetRangeFactor;
      if (orf >= 0) {
        const range = tf.tensor1d([1 / Math.max(Hk - 1, 1), 1 / Math.max(Wk - 1, 1)]);
        offset = tf.mul(tf.mul(tf.tanh(offset), range), orf);
      }
      const reference = DAttention.referencePoints(Hk, Wk); // [Hk, Wk, 2]
      let pos: tf.Tensor4D = tf.add(offset, reference); // [B*g, Hk, Wk, 2]
      if (orf < 0) pos = tf.clipByValue(pos, -1, 1);
      const grid = tf.reverse(pos, -1) as tf.Tensor4D; // (y, x) -> (x, y)
      const xg = toGroups(x as tf.Tensor4D); // [B*g, H, W, Cg]
      const sampled = gridSample(xg, grid, { paddingMode: 'zeros', alignCorners: true }); // [B*g, Hk, Wk, Cg]
      // [B*g, Hk, Wk, Cg] -> [B, 1, Ns, C] (channel = group * Cg + c)
      const xs =
        g === 1
          ? tf.reshape(sampled, [B, 1, nSample, C])
          : tf.reshape(tf.transpose(tf.reshape(sampled, [B, g, nSample, cg]), [0, 2, 1, 3]), [B, 1, nSample, C]);
      const kk = this.proj_k.forward(xs); // [B, 1, Ns, C]
      const vv = this.proj_v.forward(xs); // [B, 1, Ns, C]
      // [B, H, W, C] -> [B, H*W, heads, hc] -> [B, heads, H*W, hc] -> [B*heads, H*W, hc]
      const qh = tf.reshape(tf.transpose(tf.reshape(q, [B, H * W, heads, hc]), [0, 2, 1, 3]), [B * heads, H * W, hc]);
      // [B, 1, Ns, C] -> [B, Ns, heads, hc] -> [B, heads, Ns, hc] -> [B*heads, Ns, hc]
      const kh = tf.reshape(tf.transpose(tf.reshape(kk, [B, nSample, heads, hc]), [0, 2, 1, 3]), [B * heads, nSample, hc]);
      const vh = tf.reshape(tf.transpose(tf.reshape(vv, [B, nSample, heads, hc]), [0, 2, 1, 3]), [B * heads, nSample, hc]);
      const logits = tf.mul(tf.matMul(qh, kh, false, true), this.scale); // [B*heads, H*W, Ns]
      const attn = tf.softmax(logits, -1);
      const o = tf.matMul(attn, vh); // [B*heads, H*W, hc]
      // [B*heads, H*W, hc] -> [B, heads, H*W, hc] -> [B, H*W, heads, hc] -> [B, H, W, C]
      let out = tf.reshape(tf.transpose(tf.reshape(o, [B, heads, H * W, hc]), [0, 2, 1, 3]), [B, H, W, C]);
      if (this.rpe_table) out = tf.add(out, this.rpe_table.forward(q));
      const y = this.proj_out.forward(out) as tf.Tensor4D;
      // [B*g, Hk, Wk, 2] -> [B, g, Hk, Wk, 2]
      const posOut = tf.reshape(pos, [B, g, Hk, Wk, 2]);
      // [Hk, Wk, 2] -> [1, 1, Hk, Wk, 2] -> [B, g, Hk, Wk, 2]
      const refOut = tf.broadcastTo(tf.reshape(reference, [1, 1, Hk, Wk, 2]), [B, g, Hk, Wk, 2]);
      // [B*heads, H*W, Ns] -> [B, heads, H*W, Ns]
      if (opts.attention) return { y, pos: posOut, reference: refOut, attn: tf.reshape(attn, [B, heads, H * W, nSample]) };
      return { y, pos: posOut, reference: refOut };
    });
  }

  /** [B, H, W, C] -> [B, H, W, C]. */
  override forward(x: tf.Tensor): tf.Tensor4D {
    const { y, pos, reference } = this.forwardWithPos(x);
    pos.dispose();
    reference.dispose();
    return y;
  }

  /**
   * FLOPs of one forward pass on an NHWC input (2 x MACs of convs and matmuls, Ultralytics' convention;
   * grid sampling, softmax, LayerNorm and GELU are not counted).
   */
  flops(inputShape: number[]): number {
    const [B, H, W, C] = inputShape;
    const [Hk, Wk] = this.keySize(H, W);
    const hw = H * W;
    const ns = Hk * Wk;
    let macs = 0;
    macs += hw * C * C; // proj_q
    macs += ns * C * this.ksize * this.ksize; // conv_offset.0 (depthwise, over all groups)
    macs += ns * C * 2; // conv_offset.3 (Cg -> 2 per group)
    macs += 2 * ns * C * C; // proj_k, proj_v
    macs += 2 * hw * ns * C; // q k^T and attn v over all heads
    if (this.rpe_table) macs += hw * C * 9; // rpe_table (depthwise 3x3)
    macs += hw * C * C; // proj_out
    return 2 * B * macs;
  }
}

function divisors(n: number): number[] {
  const out: number[] = [];
  for (let i = 1; i <= n; i++) if (n % i === 0) out.push(i);
  return out;
}
