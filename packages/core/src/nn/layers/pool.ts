/**
 * MaxPool2d and AvgPool2d (torch.nn) on NHWC tensors with PyTorch's explicit symmetric padding:
 * max pooling pads with -inf (padded cells never win), average pooling pads with zeros and, with
 * countIncludePad (PyTorch's default), divides by k*k; without it, by the number of real cells.
 * Output size floor((H + 2p - k) / s) + 1 (ceil_mode=False).
 * Status: no ceil_mode, no dilation, no return_indices.
 */
import * as tf from '@tensorflow/tfjs-core';
import { Layer } from '../module.js';
import { type Pair, toPair } from './conv.js';

export interface PoolGeometry {
  kernelSize: [number, number];
  stride: [number, number];
  padding: [number, number];
}

function geometry(where: string, kernelSize: Pair, stride: Pair | undefined, padding: Pair): PoolGeometry {
  const k = toPair(kernelSize, `${where}: kernelSize`);
  const s = toPair(stride ?? kernelSize, `${where}: stride`);
  const p = toPair(padding, `${where}: padding`);
  if (k[0] < 1 || k[1] < 1 || s[0] < 1 || s[1] < 1) throw new Error(`${where}: kernelSize and stride must be >= 1, got ${k} and ${s}`);
  if (p[0] < 0 || p[1] < 0 || 2 * p[0] > k[0] || 2 * p[1] > k[1]) {
    throw new Error(`${where}: padding must be >= 0 and at most half the kernel size (as PyTorch), got padding ${p} for kernel ${k}`);
  }
  return { kernelSize: k, stride: s, padding: p };
}

function outSize(where: string, g: PoolGeometry, x: tf.Tensor): [number, number] {
  if (x.rank !== 4) throw new Error(`${where}: expected an NHWC input (rank 4), got shape [${x.shape}]`);
  const [, H, W] = x.shape as number[];
  const ho = Math.floor((H + 2 * g.padding[0] - g.kernelSize[0]) / g.stride[0]) + 1;
  const wo = Math.floor((W + 2 * g.padding[1] - g.kernelSize[1]) / g.stride[1]) + 1;
  if (ho < 1 || wo < 1) throw new Error(`${where}: input [${x.shape}] is smaller than the ${g.kernelSize} window`);
  return [ho, wo];
}

export class MaxPool2d extends Layer {
  readonly geometry: PoolGeometry;

  constructor(kernelSize: Pair, stride?: Pair, padding: Pair = 0) {
    super();
    this.geometry = geometry('MaxPool2d', kernelSize, stride, padding);
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    outSize('MaxPool2d', this.geometry, x);
    const { kernelSize: k, stride: s, padding: p } = this.geometry;
    // tfjs pooling skips padded cells, which is -inf padding.
    const pad: 'valid' | tf.backend_util.ExplicitPadding =
      p[0] === 0 && p[1] === 0
        ? 'valid'
        : [
            [0, 0],
            [p[0], p[0]],
            [p[1], p[1]],
            [0, 0],
          ];
    return tf.maxPool(x as tf.Tensor4D, k, s, pad);
  }
}

export interface AvgPool2dOptions {
  countIncludePad?: boolean;
}

export class AvgPool2d extends Layer {
  readonly geometry: PoolGeometry;
  readonly countIncludePad: boolean;

  constructor(kernelSize: Pair, stride?: Pair, padding: Pair = 0, opts: AvgPool2dOptions = {}) {
    super();
    this.geometry = geometry('AvgPool2d', kernelSize, stride, padding);
    this.countIncludePad = opts.countIncludePad ?? true;
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    const [ho, wo] = outSize('AvgPool2d', this.geometry, x);
    const { kernelSize: k, stride: s, padding: p } = this.geometry;
    if (p[0] === 0 && p[1] === 0) return tf.avgPool(x as tf.Tensor4D, k, s, 'valid');
    return tf.tidy(() => this.paddedAvg(x as tf.Tensor4D, ho, wo));
  }

  private paddedAvg(x: tf.Tensor4D, ho: number, wo: number): tf.Tensor4D {
    const { kernelSize: k, stride: s, padding: p } = this.geometry;
    const xp = tf.pad(x, [
      [0, 0],
      [p[0], p[0]],
      [p[1], p[1]],
      [0, 0],
    ]); // zero padding: [B, H+2ph, W+2pw, C]
    const y = tf.avgPool(xp as tf.Tensor4D, k, s, 'valid'); // divides by k*k
    if (this.countIncludePad) return y;
    // Rescale each window by k*k / (number of real cells in it).
    const [, H, W] = x.shape as number[];
    const covered = (o: number, st: number, kk: number, pp: number, n: number) => Math.min(o * st - pp + kk, n) - Math.max(o * st - pp, 0);
    const f = new Float32Array(ho * wo);
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        f[i * wo + j] = (k[0] * k[1]) / (covered(i, s[0], k[0], p[0], H) * covered(j, s[1], k[1], p[1], W));
      }
    }
    return tf.mul(y, tf.tensor4d(f, [1, ho, wo, 1])) as tf.Tensor4D;
  }
}
