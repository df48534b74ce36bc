// Coverage: every op the project's layers use, forward + tf.grads, on wasm (with the custom kernels)
// against the cpu backend, with random inputs and a random cotangent. A missing kernel or gradient
// fails the test. Exceptions: ResizeNearestNeighbor is compared at batch 1 here (the cpu backend's
// ResizeNearestNeighborGrad is wrong for batch > 1) and against a naive loop at batch 3 below.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import { randomArray, relErr, sizeOf } from './test-utils/reference.js';

interface Spec {
  shape: number[];
  positive?: boolean;
  int?: number; // int32 values in [0, int)
}
interface Case {
  name: string;
  inputs: Spec[];
  f: (...xs: tf.Tensor[]) => tf.Tensor;
  grad: number[]; // which inputs to differentiate
}
const X: Spec = { shape: [2, 8, 8, 4] };
const V = (n = 64, positive = false): Spec => ({ shape: [n], positive });
const t4 = (t: tf.Tensor) => t as tf.Tensor4D;
const P1: tf.backend_util.ExplicitPadding = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

const cases: Case[] = [
  { name: 'conv2d 3x3 s1 same', inputs: [X, { shape: [3, 3, 4, 6] }], f: (x, w) => tf.conv2d(t4(x), t4(w), 1, 'same'), grad: [0, 1] },
  { name: 'conv2d 3x3 s2 pad1', inputs: [X, { shape: [3, 3, 4, 6] }], f: (x, w) => tf.conv2d(t4(x), t4(w), 2, P1), grad: [0, 1] },
  { name: 'conv2d 1x1', inputs: [X, { shape: [1, 1, 4, 6] }], f: (x, w) => tf.conv2d(t4(x), t4(w), 1, 'valid'), grad: [0, 1] },
  {
    name: 'fused.conv2d + bias',
    inputs: [X, { shape: [3, 3, 4, 6] }, { shape: [6] }],
    f: (x, w, b) => tf.fused.conv2d({ x: t4(x), filter: t4(w), strides: 1, pad: 'same', bias: b }),
    grad: [0, 1, 2],
  },
  {
    name: 'depthwiseConv2d 3x3 s2',
    inputs: [X, { shape: [3, 3, 4, 2] }],
    f: (x, w) => tf.depthwiseConv2d(t4(x), t4(w), 2, 'same'),
    grad: [0, 1],
  },
  {
    name: 'conv2dTranspose 2x2 s2',
    inputs: [X, { shape: [2, 2, 6, 4] }],
    f: (x, w) => tf.conv2dTranspose(t4(x), t4(w), [2, 16, 16, 6], 2, 'same'),
    grad: [0, 1],
  },
  {
    name: 'BN train (moments)',
    inputs: [X, { shape: [4], positive: true }, { shape: [4] }],
    f: (x, g, b) => {
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-3))), g), b);
    },
    grad: [0, 1, 2],
  },
  {
    name: 'tf.batchNorm',
    inputs: [X, { shape: [4] }, { shape: [4], positive: true }, { shape: [4] }, { shape: [4], positive: true }],
    f: (x, m, v, o, s) => tf.batchNorm(x, m, v, o, s, 1e-3),
    grad: [0, 3, 4],
  },
  { name: 'SiLU', inputs: [X], f: (x) => tf.mul(x, tf.sigmoid(x)), grad: [0] },
  {
    name: 'tanh / relu / leakyRelu / elu / relu6',
    inputs: [X],
    f: (x) => tf.addN([tf.tanh(x), tf.relu(x), tf.leakyRelu(x, 0.1), tf.elu(x), tf.relu6(x)]),
    grad: [0],
  },
  { name: 'softplus / Mish', inputs: [X], f: (x) => tf.mul(x, tf.tanh(tf.softplus(x))), grad: [0] },
  { name: 'GELU (erf)', inputs: [X], f: (x) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))), grad: [0] },
  { name: 'hardswish / hardsigmoid', inputs: [X], f: (x) => tf.mul(x, tf.div(tf.relu6(tf.add(x, 3)), 6)), grad: [0] },
  { name: 'maxPool 5x5 s1 same (SPPF)', inputs: [X], f: (x) => tf.maxPool(t4(x), 5, 1, 'same'), grad: [0] },
  { name: 'maxPool 2x2 s2', inputs: [X], f: (x) => tf.maxPool(t4(x), 2, 2, 'valid'), grad: [0] },
  { name: 'avgPool 3x3 s2 same', inputs: [X], f: (x) => tf.avgPool(t4(x), 3, 2, 'same'), grad: [0] },
  {
    name: 'global mean / max pool, channel max',
    inputs: [X],
    f: (x) => tf.add(tf.add(tf.mean(x, [1, 2], true), tf.max(x, [1, 2], true)), tf.max(x, 3, true)),
    grad: [0],
  },
  {
    name: 'resizeNearestNeighbor 2x (batch 1)',
    inputs: [{ shape: [1, 5, 7, 3] }],
    f: (x) => tf.image.resizeNearestNeighbor(t4(x), [10, 14]),
    grad: [0],
  },
  { name: 'resizeBilinear 2x', inputs: [X], f: (x) => tf.image.resizeBilinear(t4(x), [16, 16]), grad: [0] },
  {
    name: 'concat / split / slice',
    inputs: [X, X],
    f: (a, b) => {
      const [p, q] = [...tf.split(tf.concat([a, b], 3), 2, 3)];
      return tf.mul(tf.slice(p, [0, 1, 1, 0], [2, 6, 6, 4]), tf.slice(q, [0, 0, 2, 0], [2, 6, 6, 4]));
    },
    grad: [0, 1],
  },
  { name: 'stridedSlice s2', inputs: [X], f: (x) => tf.stridedSlice(x, [0, 0, 0, 0], [2, 8, 8, 4], [1, 2, 2, 1]), grad: [0] },
  { name: 'softmax / logSoftmax', inputs: [{ shape: [8, 16] }], f: (x) => tf.add(tf.softmax(x), tf.logSoftmax(x)), grad: [0] },
  {
    name: 'matMul (all transposes)',
    inputs: [{ shape: [8, 16] }, { shape: [16, 5] }],
    f: (a, b) =>
      tf.addN([
        tf.matMul(a, b),
        tf.matMul(tf.transpose(a), b, true, false),
        tf.matMul(a, tf.transpose(b), false, true),
        tf.matMul(tf.transpose(a), tf.transpose(b), true, true),
      ]),
    grad: [0, 1],
  },
  {
    name: 'batched matMul with broadcast',
    inputs: [{ shape: [3, 8, 16] }, { shape: [1, 16, 5] }],
    f: (a, b) => tf.matMul(a, b),
    grad: [0, 1],
  },
  {
    name: 'self-attention',
    inputs: [{ shape: [2, 16, 8] }, { shape: [2, 16, 8] }, { shape: [2, 16, 8] }],
    f: (q, k, v) => tf.matMul(tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(8))), v),
    grad: [0, 1, 2],
  },
  { name: 'transpose (attention head split)', inputs: [X], f: (x) => tf.transpose(tf.reshape(x, [2, 64, 2, 2]), [0, 2, 1, 3]), grad: [0] },
  {
    name: 'gather axis 0 and 1',
    inputs: [{ shape: [10, 6, 4] }, { shape: [7], int: 6 }],
    f: (x, i) =>
      tf.add(
        tf.gather(x, i, 1),
        tf.pad(tf.slice(tf.transpose(tf.gather(tf.slice(x, [0, 0, 0], [6, 6, 4]), i, 0), [1, 0, 2]), [0, 0, 0], [6, 7, 4]), [
          [0, 4],
          [0, 0],
          [0, 0],
        ]),
      ),
    grad: [0],
  },
  {
    name: 'gatherND / scatterND',
    inputs: [{ shape: [10, 4] }, { shape: [6, 1], int: 10 }],
    f: (x, i) => tf.scatterND(i, tf.gatherND(x, i), [10, 4]),
    grad: [0],
  },
  {
    name: 'pad / mirrorPad',
    inputs: [X],
    f: (x) =>
      tf.add(
        tf.pad(x, [
          [0, 0],
          [1, 1],
          [1, 1],
          [0, 0],
        ]),
        tf.mirrorPad(
          x,
          [
            [0, 0],
            [1, 1],
            [1, 1],
            [0, 0],
          ],
          'reflect',
        ),
      ),
    grad: [0],
  },
  {
    name: 'log / log1p / sqrt / rsqrt / reciprocal / pow',
    inputs: [V(64, true)],
    f: (x) => tf.addN([tf.log(x), tf.log1p(x), tf.sqrt(x), tf.rsqrt(x), tf.reciprocal(x), tf.pow(x, 2.5)]),
    grad: [0],
  },
  { name: 'exp / square / abs / atan', inputs: [V()], f: (x) => tf.addN([tf.exp(x), tf.square(x), tf.abs(x), tf.atan(x)]), grad: [0] },
  {
    name: 'div / atan2 / squaredDifference',
    inputs: [V(), V(64, true)],
    f: (a, b) => tf.addN([tf.div(a, b), tf.atan2(a, b), tf.squaredDifference(a, b)]),
    grad: [0, 1],
  },
  {
    name: 'clip / minimum / maximum',
    inputs: [V(), V()],
    f: (a, b) => tf.addN([tf.clipByValue(a, -0.5, 0.5), tf.minimum(a, b), tf.maximum(a, b)]),
    grad: [0, 1],
  },
  { name: 'where(greater(a, b))', inputs: [V(), V()], f: (a, b) => tf.where(tf.greater(a, b), a, b), grad: [0, 1] },
  {
    name: 'sum / mean / max / min / prod / cumsum',
    inputs: [{ shape: [8, 4], positive: true }],
    f: (x) =>
      tf.addN([
        tf.sum(x, 1),
        tf.mean(x, 1),
        tf.max(x, 1),
        tf.min(x, 1),
        tf.prod(x, 1),
        tf.reshape(tf.slice(tf.cumsum(x, 1), [0, 3], [8, 1]), [8]),
      ]),
    grad: [0],
  },
  {
    name: 'tile / broadcastTo / expandDims / squeeze',
    inputs: [{ shape: [1, 3] }],
    f: (x) => tf.add(tf.tile(x, [4, 1]), tf.broadcastTo(tf.squeeze(tf.expandDims(x, 0), [0]), [4, 3])),
    grad: [0],
  },
  {
    name: 'sigmoid BCE / softmax CE',
    inputs: [{ shape: [8, 16] }, { shape: [8, 16], positive: true }],
    f: (x, y) => tf.add(tf.losses.sigmoidCrossEntropy(tf.clipByValue(y, 0, 1), x), tf.losses.softmaxCrossEntropy(tf.softmax(y), x)),
    grad: [0],
  },
  {
    name: 'layerNorm (moments, last axis)',
    inputs: [{ shape: [2, 16, 32] }],
    f: (x) => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5)));
    },
    grad: [0],
  },
  {
    name: 'DFL softmax . arange',
    inputs: [{ shape: [2, 4, 16, 10] }],
    f: (x) => tf.sum(tf.mul(tf.softmax(tf.transpose(x, [0, 1, 3, 2])), tf.range(0, 16)), -1),
    grad: [0],
  },
  { name: 'topk values', inputs: [{ shape: [4, 30] }], f: (x) => tf.topk(x, 5).values, grad: [0] },
  { name: 'depthToSpace', inputs: [{ shape: [2, 3, 3, 8] }], f: (x) => tf.depthToSpace(t4(x), 2), grad: [0] },
];

function makeInputs(specs: Spec[], seed: number): tf.Tensor[] {
  return specs.map((s, i) => {
    const r = randomArray(sizeOf(s.shape), seed + i);
    if (s.int)
      return tf.tensor(
        Int32Array.from(r, (v) => Math.floor(((v + 1) / 2) * s.int!) % s.int!),
        s.shape,
        'int32',
      );
    return tf.tensor(s.positive ? r.map((v) => Math.abs(v) + 0.1) : r, s.shape);
  });
}

async function runCase(c: Case, backend: 'cpu' | 'wasm'): Promise<Float32Array[]> {
  await initBackend(backend, { log: false });
  return tf.tidy(() => {
    const xs = makeInputs(c.inputs, 100);
    const y = c.f(...xs);
    const w = tf.tensor(randomArray(y.size, 7), y.shape);
    const scalar = (...gs: tf.Tensor[]) => {
      const all = xs.slice();
      c.grad.forEach((gi, k) => {
        all[gi] = gs[k];
      });
      return tf.sum(tf.mul(c.f(...all), w));
    };
    const grads = tf.grads(scalar)(c.grad.map((i) => xs[i]));
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

const worst: { name: string; err: number }[] = [];
beforeAll(async () => {
  await initBackend('wasm', { log: false });
});
afterAll(() => {
  worst.sort((a, b) => b.err - a.err);
  console.log(
    `coverage: ${worst.length} ops, worst relErr ${worst
      .slice(0, 3)
      .map((w) => `${w.name}: ${w.err.toExponential(1)}`)
      .join('; ')}`,
  );
});

test.each(cases)('$name: wasm forward + gradients match cpu', async (c) => {
  const ref = await runCase(c, 'cpu');
  const before = tf.memory().numTensors;
  const got = await runCase(c, 'wasm');
  expect(tf.memory().numTensors).toBe(before);
  expect(got.length).toBe(ref.length);
  const err = Math.max(...got.map((g, i) => relErr(g, ref[i])));
  worst.push({ name: c.name, err });
  expect(err).toBeLessThan(1e-5);
});

test('ResizeNearestNeighborGrad on wasm at batch 3 matches a naive loop (cpu is wrong there)', async () => {
  await initBackend('wasm', { log: false });
  const [N, H, W, C, OH, OW] = [3, 5, 7, 3, 10, 14];
  const dyv = randomArray(N * OH * OW * C, 9);
  const got = tf.tidy(() => {
    const dy = tf.tensor4d(dyv, [N, OH, OW, C]);
    const x = tf.tensor4d(randomArray(N * H * W * C, 8), [N, H, W, C]);
    return tf
      .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.image.resizeNearestNeighbor(t4(a), [OH, OW]), dy)))(x)
      .dataSync();
  });
  // tfjs nearest (alignCorners false, halfPixelCenters false): src = floor(dst * in / out)
  const want = new Float64Array(N * H * W * C);
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < OH; oy++)
      for (let ox = 0; ox < OW; ox++) {
        const sy = Math.min(H - 1, Math.floor((oy * H) / OH));
        const sx = Math.min(W - 1, Math.floor((ox * W) / OW));
        for (let c = 0; c < C; c++) want[((n * H + sy) * W + sx) * C + c] += dyv[((n * OH + oy) * OW + ox) * C + c];
      }
  expect(relErr(got, want)).toBeLessThan(1e-6);
});
