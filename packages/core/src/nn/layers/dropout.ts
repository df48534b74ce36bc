/**
 * Dropout (torch.nn.Dropout): in train mode zeroes each element with probability p and scales the
 * rest by 1/(1-p); in eval mode the identity. The mask is drawn in JavaScript from a seeded
 * `Generator` (the global one at call time unless one is given), so runs are reproducible on every
 * backend. Status: complete.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defaultGenerator, type Generator } from '../../rng.js';
import { Layer } from '../module.js';

export class Dropout extends Layer {
  readonly p: number;
  private readonly gen: Generator | undefined;

  constructor(p = 0.5, opts: { generator?: Generator } = {}) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout: p must be in [0, 1], got ${p}`);
    this.p = p;
    this.gen = opts.generator;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p === 1) return tf.tidy(() => tf.mul(x, 0));
    const gen = this.gen ?? defaultGenerator();
    const keep = 1 - this.p;
    const mask = new Float32Array(x.size);
    const scale = 1 / keep;
    for (let i = 0; i < mask.length; i++) mask[i] = gen.random() < keep ? scale : 0;
    return tf.tidy(() => tf.mul(x, tf.tensor(mask, x.shape, 'float32')));
  }
}
