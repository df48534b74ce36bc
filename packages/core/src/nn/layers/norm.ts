/**
 * LayerNorm (torch.nn.LayerNorm) over the trailing axes, and LayerNorm2d: the channel LayerNorm of
 * an NHWC map (normalise over C at every pixel; in NCHW codebases this is the "LayerNorm2d" /
 * channels_first LayerNorm that permutes to channels-last). Biased variance, eps inside the sqrt,
 * weight 1 and bias 0 at init, parameter names `weight` and `bias` as PyTorch.
 * Status: elementwise_affine always on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer } from '../module.js';

export interface LayerNormOptions {
  eps?: number;
}

export class LayerNorm extends Layer {
  readonly normalizedShape: number[];
  readonly eps: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(normalizedShape: number | number[], opts: LayerNormOptions = {}) {
    super();
    const shape = typeof normalizedShape === 'number' ? [normalizedShape] : [...normalizedShape];
    if (shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(`${this.typeName}: normalizedShape must be positive integers, got ${JSON.stringify(normalizedShape)}`);
    }
    this.normalizedShape = shape;
    this.eps = opts.eps ?? 1e-5;
    if (!(this.eps > 0)) throw new Error(`${this.typeName}: eps must be > 0, got ${this.eps}`);
    this.weight = this.addParameter('weight', tf.ones(shape));
    this.bias = this.addParameter('bias', tf.zeros(shape));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const k = this.normalizedShape.length;
    const tail = x.shape.slice(x.rank - k);
    if (x.rank < k || tail.some((d, i) => d !== this.normalizedShape[i])) {
      throw new Error(`${this.typeName}: expected the trailing axes [${this.normalizedShape}], got shape [${x.shape}]`);
    }
    const axes = Array.from({ length: k }, (_, i) => x.rank - k + i);
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, axes, true);
      const xhat = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(xhat, this.weight), this.bias);
    });
  }
}

/** LayerNorm over the channels of an NHWC map [B, H, W, C] (same parameters: weight, bias of [C]). */
export class LayerNorm2d extends LayerNorm {
  constructor(channels: number, opts: LayerNormOptions = {}) {
    super(channels, opts);
  }

  override forward(x: tf.Tensor): tf.Tensor {
    if (x.rank !== 4) throw new Error(`LayerNorm2d: expected an NHWC input (rank 4), got shape [${x.shape}]`);
    return super.forward(x);
  }
}
