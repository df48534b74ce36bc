// The node backend's wrapped kernels (explicit padding) against the cpu backend: forward and every
// gradient of conv2d / depthwise / max pooling at the paddings and strides YOLOv8 and the attention
// modules use, plus the gradients the project registers for all backends; no leaked tensors.
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { Generator } from '../rng.js';
import { randArray, size, testBackends, useBackend } from '../testing/index.js';

type Pad = 'valid' | 'same' | tf.backend_util.ExplicitPadding;
const P = (t: number, b: number, l: number, r: number): Pad => [
  [0, 0],
  [t, b],
  [l, r],
  [0, 0],
];

interface Case {
  name: string;
  x: [number, number, number, number];
  w?: [number, number, number, number];
  f: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor;
}

const CASES: Case[] = [
  { name: 'conv2d 3x3 s1 pad 1', x: [2, 9, 7, 5], w: [3, 3, 5, 6], f: (x, w) => tf.conv2d(x, w, 1, P(1, 1, 1, 1)) },
  { name: 'conv2d 3x3 s2 pad 1', x: [2, 9, 8, 5], w: [3, 3, 5, 6], f: (x, w) => tf.conv2d(x, w, 2, P(1, 1, 1, 1)) },
  { name: 'conv2d 5x3 s1 pad (2,1) asymmetric', x: [1, 8, 6, 3], w: [5, 3, 3, 4], f: (x, w) => tf.conv2d(x, w, 1, P(2, 1, 1, 0)) },
  {
    name: 'fused conv2d + bias 3x3 s2 pad 1',
    x: [2, 8, 8, 4],
    w: [3, 3, 4, 6],
    f: (x, w) => tf.fused.conv2d({ x, filter: w, strides: 2, pad: P(1, 1, 1, 1) as 'valid', bias: tf.div(tf.range(0, 6), 10) }),
  },
  { name: 'depthwise 3x3 s1 pad 1', x: [2, 7, 9, 4], w: [3, 3, 4, 1], f: (x, w) => tf.depthwiseConv2d(x, w, 1, P(1, 1, 1, 1)) },
  { name: 'depthwise 5x5 s2 pad 2', x: [1, 10, 9, 3], w: [5, 5, 3, 2], f: (x, w) => tf.depthwiseConv2d(x, w, 2, P(2, 2, 2, 2)) },
  {
    name: 'fused depthwise 7x7 s1 pad 3',
    x: [1, 9, 9, 4],
    w: [7, 7, 4, 1],
    f: (x, w) => tf.fused.depthwiseConv2d({ x, filter: w, strides: 1, pad: P(3, 3, 3, 3) as 'valid' }),
  },
  { name: 'maxPool 5x5 s1 pad 2 (SPPF)', x: [2, 8, 8, 3], f: (x) => tf.maxPool(x, 5, 1, P(2, 2, 2, 2)) },
  { name: 'maxPool 3x3 s2 pad 1', x: [1, 9, 8, 3], f: (x) => tf.maxPool(x, 3, 2, P(1, 1, 1, 1)) },
  { name: 'maxPool 2x2 s2 valid', x: [1, 8, 8, 3], f: (x) => tf.maxPool(x, 2, 2, 'valid') },
  { name: 'conv2d 3x3 same', x: [1, 8, 8, 3], w: [3, 3, 3, 4], f: (x, w) => tf.conv2d(x, w, 1, 'same') },
  // TensorFlow 2.21's oneDNN Conv2DBackpropInput was wrong here (SPPF's cv2 at 128 px) and died of SIGFPE on
  // the 1x1 map; the node kernels run these input gradients as a MatMul.
  {
    name: 'conv2d 1x1 512 -> 256 on a 4x4 map (oneDNN bug)',
    x: [2, 4, 4, 512],
    w: [1, 1, 512, 256],
    f: (x, w) => tf.conv2d(x, w, 1, 'valid'),
  },
  {
    name: 'conv2d 1x1 1024 -> 256 on a 1x1 map (oneDNN SIGFPE)',
    x: [1, 1, 1, 1024],
    w: [1, 1, 1024, 256],
    f: (x, w) => tf.conv2d(x, w, 1, P(0, 0, 0, 0)),
  },
  {
    name: 'batch matMul with a broadcast batch axis',
    x: [1, 3, 8, 16],
    w: [1, 1, 16, 5],
    f: (x, w) => tf.matMul(tf.reshape(x, [3, 8, 16]), tf.reshape(w, [1, 16, 5])),
  },
];

/** Forward and gradients (x, w) of sum(f(x, w) * r) for a fixed random r, as plain arrays. */
function run(c: Case): Float32Array[] {
  const g = new Generator(7);
  const x = tf.tensor(Float32Array.from(randArray(size(c.x), g)), c.x) as tf.Tensor4D;
  const w = c.w ? (tf.tensor(Float32Array.from(randArray(size(c.w), g)), c.w) as tf.Tensor4D) : null;
  const y0 = tf.tidy(() => c.f(x, w as tf.Tensor4D));
  const r = tf.tensor(Float32Array.from(randArray(size(y0.shape), g)), y0.shape);
  const loss = (a: tf.Tensor, b?: tf.Tensor) => tf.sum(tf.mul(c.f(a as tf.Tensor4D, b as tf.Tensor4D), r)) as tf.Scalar;
  const grads = w ? tf.grads((a, b) => loss(a, b))([x, w]) : [tf.grad((a) => loss(a))(x)];
  const out = [y0, ...grads].map((t) => t.dataSync() as Float32Array);
  tf.dispose([x, w, y0, r, ...grads].filter((t): t is tf.Tensor => t !== null));
  return out;
}

describe('node kernels: explicit padding and gradients against the cpu backend', () => {
  for (const backend of testBackends(['node'])) {
    for (const c of CASES) {
      it(`${c.name} on ${backend}: forward and gradients match cpu; no leaks`, async () => {
        await useBackend('cpu');
        const want = run(c);
        await useBackend(backend);
        const before = tf.memory().numTensors;
        const got = run(c);
        expect(tf.memory().numTensors).toBe(before);
        expect(got.length).toBe(want.length);
        for (let k = 0; k < got.length; k++) {
          expect(got[k].length).toBe(want[k].length);
          let worst = 0;
          for (let i = 0; i < got[k].length; i++) worst = Math.max(worst, Math.abs(got[k][i] - want[k][i]) / (1 + Math.abs(want[k][i])));
          expect(worst, `${['forward', 'dx', 'dw'][k]} max rel diff`).toBeLessThan(1e-5);
        }
      });
    }
  }
});
