/**
 * Upsample (torch.nn.Upsample, mode='nearest', integer scale factor) of an NHWC tensor.
 * Formulated as reshape + broadcast multiply by ones: out[b, i, j, c] = x[b, floor(i/s), floor(j/s), c].
 * Its gradient (a sum over the broadcast axes) is right on every backend and batch size, unlike
 * the cpu backend's ResizeNearestNeighborGrad (wrong for batch > 1) and tile (no rank-6 gradient).
 * Status: nearest mode with integer factors only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer } from '../module.js';
import { type Pair, toPair } from './conv.js';

export interface UpsampleOptions {
  scaleFactor: Pair;
  mode?: 'nearest';
}

export function upsampleNearest(x: tf.Tensor4D, scale: [number, number]): tf.Tensor4D {
  const [B, H, W, C] = x.shape as number[];
  const [sh, sw] = scale;
  if (sh === 1 && sw === 1) return tf.clone(x);
  return tf.tidy(() => {
    const x6 = tf.reshape(x, [B, H, 1, W, 1, C]); // [B, H, W, C] -> [B, H, 1, W, 1, C]
    const y6 = tf.mul(x6, tf.ones([1, 1, sh, 1, sw, 1])); // -> [B, H, sh, W, sw, C]
    return tf.reshape(y6, [B, H * sh, W * sw, C]); // -> [B, H*sh, W*sw, C]
  });
}

export class Upsample extends Layer {
  readonly scaleFactor: [number, number];
  readonly mode = 'nearest' as const;

  constructor(opts: UpsampleOptions) {
    super();
    if ((opts.mode ?? 'nearest') !== 'nearest') {
      throw new Error(`Upsample: unknown mode "${opts.mode}"; known: nearest`);
    }
    this.scaleFactor = toPair(opts.scaleFactor, 'Upsample: scaleFactor');
    if (this.scaleFactor.some((s) => s < 1)) throw new Error(`Upsample: scaleFactor must be >= 1, got ${opts.scaleFactor}`);
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    if (x.rank !== 4) throw new Error(`Upsample: expected an NHWC input (rank 4), got shape [${x.shape}]`);
    return upsampleNearest(x as tf.Tensor4D, this.scaleFactor);
  }
}
