/**
 * Linear (torch.nn.Linear) on the last axis of an input of any rank >= 1.
 * Weight internal [in, out] (PyTorch (out, in), toTorch [1, 0]); init U(-1/sqrt(in), 1/sqrt(in)) for
 * weight and bias, as PyTorch. Status: complete.
 */
import * as tf from '@tensorflow/tfjs-core';
import { kaimingUniform } from '../../rng.js';
import { Layer } from '../module.js';

export interface LinearOptions {
  bias?: boolean;
}

export class Linear extends Layer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** [in, out]. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(inFeatures: number, outFeatures: number, opts: LinearOptions = {}) {
    super();
    for (const [n, v] of [
      ['inFeatures', inFeatures],
      ['outFeatures', outFeatures],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Linear: ${n} must be a positive integer, got ${v}`);
    }
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    this.weight = this.addParameter('weight', kaimingUniform([inFeatures, outFeatures], inFeatures), { toTorch: [1, 0] });
    this.bias = opts.bias === false ? null : this.addParameter('bias', kaimingUniform([outFeatures], inFeatures));
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new Error(`Linear: expected the last axis to be ${this.inFeatures}, got shape [${x.shape}]`);
    }
    const lead = x.shape.slice(0, -1);
    return tf.tidy(() => {
      const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, this.inFeatures]); // [..., in] -> [prod(...), in]
      let y: tf.Tensor = tf.matMul(x2 as tf.Tensor2D, this.weight as tf.Tensor2D); // -> [prod(...), out]
      if (this.bias) y = tf.add(y, this.bias);
      return x.rank === 2 ? y : tf.reshape(y, [...lead, this.outFeatures]); // -> [..., out]
    });
  }

  /** 2 x MACs for an input of the given shape. */
  flops(inputShape: number[]): number {
    return 2 * (inputShape.reduce((a, b) => a * b, 1) / this.inFeatures) * this.inFeatures * this.outFeatures;
  }
}
