/**
 * BatchNorm2d (torch.nn.BatchNorm2d) over the channel axis of an NHWC tensor.
 *
 * Train mode normalises with the batch statistics (fused op `batchNormTrain`, whose gradient is
 * hand-written) and updates the running statistics with PyTorch's momentum (the weight of the new
 * batch): running = (1 - m) * running + m * batch, running_var from the *unbiased* batch variance.
 * Eval mode uses the running statistics. `forwardAct(x, 'silu')` fuses the SiLU of YOLOv8's Conv block.
 * Status: no `num_batches_tracked` buffer (Ultralytics checkpoints omit it from our golden data; a
 * PyTorch state dict that has it must drop it or load with strict=false), no momentum=None
 * (cumulative average), affine and track_running_stats always on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type BatchNormAct, batchNormTrain } from '../../ops/batchnorm.js';
import { Layer } from '../module.js';

export interface BatchNorm2dOptions {
  eps?: number;
  momentum?: number;
}

const ACTS: readonly BatchNormAct[] = ['none', 'silu'];

export class BatchNorm2d extends Layer {
  readonly numFeatures: number;
  eps: number;
  momentum: number;
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(numFeatures: number, opts: BatchNorm2dOptions = {}) {
    super();
    if (!Number.isInteger(numFeatures) || numFeatures < 1) {
      throw new Error(`BatchNorm2d: numFeatures must be a positive integer, got ${numFeatures}`);
    }
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    if (!(this.eps > 0)) throw new Error(`BatchNorm2d: eps must be > 0, got ${this.eps}`);
    if (!(this.momentum >= 0 && this.momentum <= 1)) throw new Error(`BatchNorm2d: momentum must be in [0, 1], got ${this.momentum}`);
    this.weight = this.addParameter('weight', tf.ones([numFeatures]));
    this.bias = this.addParameter('bias', tf.zeros([numFeatures]));
    this.runningMean = this.addBuffer('running_mean', tf.zeros([numFeatures]));
    this.runningVar = this.addBuffer('running_var', tf.ones([numFeatures]));
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    return this.forwardAct(x, 'none');
  }

  /** BatchNorm followed by the activation ('silu': x * sigmoid(x)), fused. */
  forwardAct(x: tf.Tensor, act: BatchNormAct): tf.Tensor4D {
    if (!ACTS.includes(act)) throw new Error(`BatchNorm2d: unknown activation "${act}"; known: ${ACTS.join(', ')}`);
    if (x.rank !== 4 || x.shape[3] !== this.numFeatures) {
      throw new Error(`BatchNorm2d: expected an NHWC input with ${this.numFeatures} channels, got shape [${x.shape}]`);
    }
    if (this.training) {
      const [n, h, w] = x.shape as number[];
      const count = n * h * w;
      if (count < 2) {
        throw new Error(`BatchNorm2d: train mode needs more than 1 value per channel, got input shape [${x.shape}]`);
      }
      const out = batchNormTrain(x as tf.Tensor4D, this.weight as tf.Tensor1D, this.bias as tf.Tensor1D, this.eps, act, {
        mean: this.runningMean,
        variance: this.runningVar,
        momentum: this.momentum,
      });
      out.mean.dispose();
      out.variance.dispose();
      return out.y;
    }
    // Eval: y = x * scale + shift with scale = gamma / sqrt(rv + eps), shift = beta - rm * scale.
    return tf.tidy(() => {
      const scale = tf.mul(this.weight, tf.rsqrt(tf.add(this.runningVar, this.eps))); // [C]
      const shift = tf.sub(this.bias, tf.mul(this.runningMean, scale)); // [C]
      const z = tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
      return act === 'silu' ? (tf.mul(z, tf.sigmoid(z)) as tf.Tensor4D) : z;
    });
  }
}
