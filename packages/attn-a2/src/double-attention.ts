/**
 * DoubleAttention: the double-attention block of A²-Nets (gather with second-order attention pooling,
 * then distribute with a per-position softmax over the gathered descriptors).
 *
 * Paper: Chen, Kalantidis, Li, Yan, Feng, "A²-Nets: Double Attention Networks", NeurIPS 2018,
 * arXiv 1810.11579.
 * Reference implementation: nguyenvo09/Double-Attention-Network @ c378693, `double_attention_layer.py`,
 * class `DoubleAttentionLayer` (the code copied by the YOLOv8 blog tutorial
 * «YOLOv8改进 | 注意力机制 | 添加双重注意力机制 DoubleAttention【附代码+小白必备】», CSDN; no link in our copy).
 *
 * Status: same maths, PyTorch state-dict names (`convA`, `convB`, `convV`, `conv_reconstruct`) and layouts
 * as the official class; golden parity on both visible cases. No deviations: the official code runs on
 * every batch size and map size (it needs no square or divisible maps), so no generalisation is needed.
 * `convB.bias` always gets a zero gradient (it shifts every logit of a softmax over positions equally):
 * that is the official maths, not a bug. The default `reconstruct` is false, as in the official class;
 * the YOLOv8 plugin builds it with `reconstruct = true` (c -> c).
 */

import { Conv2d, Layer } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';

export interface DoubleAttentionOptions {
  /** Add the 1x1 conv `conv_reconstruct` (c_m -> inChannels), so the block maps c -> c. Default false (official). */
  reconstruct?: boolean;
}

export class DoubleAttention extends Layer {
  readonly inChannels: number;
  readonly cM: number;
  readonly cN: number;
  readonly reconstruct: boolean;
  readonly convA: Conv2d;
  readonly convB: Conv2d;
  readonly convV: Conv2d;
  readonly convReconstruct: Conv2d | null;

  /**
   * @param inChannels channels of the input map
   * @param cM number of gathered feature channels (rows of the global descriptor G)
   * @param cN number of attention maps / descriptors (columns of G)
   */
  constructor(inChannels: number, cM: number, cN: number, opts: DoubleAttentionOptions = {}) {
    super();
    for (const [name, v] of [
      ['inChannels', inChannels],
      ['c_m', cM],
      ['c_n', cN],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`DoubleAttention: ${name} must be a positive integer, got ${v}`);
    }
    this.inChannels = inChannels;
    this.cM = cM;
    this.cN = cN;
    this.reconstruct = opts.reconstruct ?? false;
    this.convA = this.addModule('convA', new Conv2d(inChannels, cM, 1));
    this.convB = this.addModule('convB', new Conv2d(inChannels, cN, 1));
    this.convV = this.addModule('convV', new Conv2d(inChannels, cN, 1));
    this.convReconstruct = this.reconstruct ? this.addModule('conv_reconstruct', new Conv2d(cM, inChannels, 1)) : null;
  }

  /** Output channels: inChannels with `reconstruct`, else c_m. */
  get outChannels(): number {
    return this.reconstruct ? this.inChannels : this.cM;
  }

  /** x: NHWC [B, H, W, inChannels] -> [B, H, W, outChannels]. */
  override forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(
        `DoubleAttention: expected an NHWC input [B, H, W, ${this.inChannels}], got [${x.shape}] (channels must equal inChannels)`,
      );
    }
    const [b, h, w] = x.shape as [number, number, number, number];
    const n = h * w;
    return tf.tidy(() => {
      // [B, H, W, C] -> [B, H*W, c_m]
      const a = tf.reshape(this.convA.forward(x), [b, n, this.cM]);
      // [B, H, W, C] -> [B, H*W, c_n] -> [B, c_n, H*W]: one attention map per row, softmax over positions
      const maps = tf.softmax(tf.transpose(tf.reshape(this.convB.forward(x), [b, n, this.cN]), [0, 2, 1]));
      // [B, H, W, C] -> [B, H*W, c_n], softmax over the c_n descriptors at each position
      const vecs = tf.softmax(tf.reshape(this.convV.forward(x), [b, n, this.cN]));
      // gather: G^T = maps @ A : [B, c_n, H*W] @ [B, H*W, c_m] -> [B, c_n, c_m]  (official G = A maps^T)
      const gT = tf.matMul(maps, a);
      // distribute: Z^T = vecs @ G^T : [B, H*W, c_n] @ [B, c_n, c_m] -> [B, H*W, c_m]
      const z = tf.matMul(vecs, gT);
      // [B, H*W, c_m] -> [B, H, W, c_m]
      const zMap = tf.reshape(z, [b, h, w, this.cM]) as tf.Tensor4D;
      return (this.convReconstruct ? this.convReconstruct.forward(zMap) : zMap) as tf.Tensor4D;
    });
  }

  /**
   * FLOPs of one forward pass on an NHWC input shape (2 x MACs, batch included): the 1x1 convs and
   * the two matmuls (gather B*c_m*c_n*HW, distribute B*c_m*c_n*HW MACs).
   */
  flops(inputShape: readonly number[]): number {
    const [b, h, w] = inputShape;
    const n = b * h * w;
    let macs = n * this.inChannels * (this.cM + 2 * this.cN);
    if (this.reconstruct) macs += n * this.cM * this.inChannels;
    macs += 2 * n * this.cM * this.cN;
    return 2 * macs;
  }
}
