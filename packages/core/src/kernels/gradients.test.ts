// The gradients added by registerMissingGradients, on wasm, cpu and node, against naive expectations.
// Index-moving ops (StridedSlice, DepthToSpace) get their expected gradient from the forward op run
// on a tensor of flat indices (which element went where), scattered back in plain JS.

import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import { testBackends } from '../testing/index.js';
import { ADDED_GRADIENTS, registerMissingGradients } from './index.js';
import { memoryMark, randomArray, relErr, sizeOf } from './test-utils/reference.js';

const TOL = 1e-6;
let worst = 0;
const track = (e: number) => {
  worst = Math.max(worst, e);
  return e;
};
afterAll(() => console.log(`gradients worst relErr: ${worst.toExponential(2)}`));

/** Expected dx for y = gatherLike(x): dx[pos[i]] += dy[i]. */
function scatterExpected(positions: ArrayLike<number>, dy: ArrayLike<number>, size: number): Float64Array {
  const out = new Float64Array(size);
  for (let i = 0; i < positions.length; i++) out[positions[i]] += dy[i];
  return out;
}

/** Flat positions of x that op(x) picks, via the forward op on x = [0, 1, 2, ...]. */
function positionsOf(shape: number[], op: (x: tf.Tensor) => tf.Tensor): Int32Array {
  return tf.tidy(() => Int32Array.from(op(tf.reshape(tf.range(0, sizeOf(shape), 1, 'float32'), shape)).dataSync()));
}

/** d/dx sum(op(x) * w) for a random w; returns [grad, w]. Disposes x. */
function gradOf(x: tf.Tensor, op: (x: tf.Tensor) => tf.Tensor): [Float32Array, Float32Array] {
  try {
    return tf.tidy(() => {
      const yShape = op(x).shape;
      const w = tf.tensor(randomArray(sizeOf(yShape), 77), yShape);
      const g = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(op(a), w)))(x);
      return [g.dataSync() as Float32Array, w.dataSync() as Float32Array];
    });
  } finally {
    x.dispose();
  }
}

describe.each(testBackends(['wasm', 'cpu', 'node']))('added gradients on %s', (backend) => {
  beforeAll(async () => {
    await initBackend(backend, { log: false });
    registerMissingGradients(); // idempotent
  });

  test('every added gradient is registered', () => {
    for (const k of ADDED_GRADIENTS) expect(tf.getGradient(k), k).toBeDefined();
    for (const k of ['Sum', 'Conv2D', 'Multiply', 'Sigmoid']) expect(tf.getGradient(k), k).toBeDefined(); // core's own
  });

  test('comparisons / logical ops inside a differentiated function (zero gradient through the mask)', () => {
    const av = randomArray(64, 1);
    const bv = randomArray(64, 2);
    const before = memoryMark();
    const [ga, gb] = tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) => {
        const m = tf.logicalOr(
          tf.logicalAnd(tf.greater(a, b), tf.notEqual(a, b)),
          tf.logicalXor(tf.less(a, -0.9), tf.logicalNot(tf.lessEqual(b, 2))),
        );
        const keep = tf.logicalAnd(m, tf.logicalNot(tf.equal(a, 5)));
        const any = tf.cast(tf.any(keep), 'float32');
        const all = tf.cast(tf.all(tf.greater(a, -2)), 'float32');
        return tf.sum(tf.mul(tf.where(keep, a, tf.mul(b, 2)), tf.add(any, all)));
      };
      const g = tf.grads(f)([tf.tensor1d(av), tf.tensor1d(bv)]);
      return [g[0].dataSync(), g[1].dataSync()];
    });
    expect(memoryMark()).toEqual(before);
    const mask = Array.from(av, (a, i) => a > bv[i] || a < -0.9);
    // any = 1, all = 1 -> factor 2
    expect(
      track(
        relErr(
          ga,
          mask.map((m) => (m ? 2 : 0)),
        ),
      ),
    ).toBeLessThan(TOL);
    expect(
      track(
        relErr(
          gb,
          mask.map((m) => (m ? 0 : 4)),
        ),
      ),
    ).toBeLessThan(TOL);
  });

  test('GatherNd (repeated indices) and ScatterNd (w.r.t. updates)', () => {
    const pv = randomArray(5 * 4 * 3, 3);
    const idx = [
      [1, 2],
      [4, 0],
      [1, 2],
      [0, 3],
    ];
    const flatRows = idx.map(([i, j]) => i * 4 + j);
    const before = memoryMark();
    const [g, w] = gradOf(tf.tensor3d(pv, [5, 4, 3]), (p) => tf.gatherND(p, tf.tensor2d(idx, [4, 2], 'int32')));
    const positions = flatRows.flatMap((r) => [r * 3, r * 3 + 1, r * 3 + 2]);
    expect(track(relErr(g, scatterExpected(positions, w, 60)))).toBeLessThan(TOL);
    const [gu, wu] = gradOf(tf.tensor2d(randomArray(12, 4), [4, 3]), (u) => tf.scatterND(tf.tensor2d(idx, [4, 2], 'int32'), u, [5, 4, 3]));
    const wantU = positions.map((p) => wu[p]);
    expect(track(relErr(gu, wantU))).toBeLessThan(TOL);
    expect(memoryMark()).toEqual(before);
  });

  test('TensorScatterUpdate (tensor and updates)', () => {
    const idx = tf.tensor2d([[1], [3]], [2, 1], 'int32');
    const before = memoryMark();
    const [gt, w] = gradOf(tf.tensor2d(randomArray(15, 5), [5, 3]), (t) => tf.tensorScatterUpdate(t, idx, tf.ones([2, 3])));
    const wantT = Array.from(w, (v, i) => (Math.floor(i / 3) === 1 || Math.floor(i / 3) === 3 ? 0 : v));
    expect(track(relErr(gt, wantT))).toBeLessThan(TOL);
    const [gu, wu] = gradOf(tf.tensor2d(randomArray(6, 6), [2, 3]), (u) => tf.tensorScatterUpdate(tf.zeros([5, 3]), idx, u));
    expect(track(relErr(gu, [...wu.slice(3, 6), ...wu.slice(9, 12)]))).toBeLessThan(TOL);
    expect(memoryMark()).toEqual(before);
    idx.dispose();
  });

  test('TopK values', () => {
    const xv = randomArray(3 * 4 * 10, 7);
    const before = memoryMark();
    const [g, w] = gradOf(tf.tensor3d(xv, [3, 4, 10]), (x) => tf.topk(x, 4).values);
    const pos = tf.tidy(() => {
      const { indices } = tf.topk(tf.tensor3d(xv, [3, 4, 10]), 4);
      return Array.from(indices.dataSync(), (v, i) => Math.floor(i / 4) * 10 + v);
    });
    expect(track(relErr(g, scatterExpected(pos, w, xv.length)))).toBeLessThan(TOL);
    expect(memoryMark()).toEqual(before);
  });

  test.each([
    {
      name: 'strides 2, plain',
      shape: [2, 8, 8, 4],
      args: [
        [0, 0, 0, 0],
        [2, 8, 8, 4],
        [1, 2, 2, 1],
      ],
    },
    {
      name: 'negative strides',
      shape: [4, 6, 5],
      args: [
        [3, 0, 4],
        [0, 6, 0],
        [-1, 2, -2],
      ],
    },
    { name: 'shrink axis, unit strides', shape: [4, 6, 5], args: [[1, 0, 1], [3, 6, 2], [1, 1, 1], 0, 0, 0, 0, 4] },
    { name: 'begin/end masks, odd stride', shape: [7, 9], args: [[2, 1], [0, 8], [3, 3], 1, 2] },
    { name: 'ellipsis + new axis', shape: [3, 4, 5], args: [[0, 1], [0, 5], [1, 2], 0, 0, 1, 0] },
  ])('StridedSlice: $name', ({ shape, args }) => {
    const op = (x: tf.Tensor) => (tf.stridedSlice as (...a: unknown[]) => tf.Tensor)(x, ...args);
    const before = memoryMark();
    const [g, w] = gradOf(tf.tensor(randomArray(sizeOf(shape), 8), shape), op);
    expect(track(relErr(g, scatterExpected(positionsOf(shape, op), w, sizeOf(shape))))).toBeLessThan(TOL);
    expect(memoryMark()).toEqual(before);
  });

  test('StridedSlice: shrinkAxisMask with non-unit strides (wrong tfjs forward) throws', () => {
    // tfjs 4.22 returns x[3, 0, 0], x[3, 0, 2], ... here instead of x[3, 0, 1], x[3, 2, 1], ...
    const op = (x: tf.Tensor) => tf.stridedSlice(x, [3, 0, 1], [0, 6, 0], [-1, 2, 1], 0, 0, 0, 0, 4);
    const x = tf.tensor(randomArray(120, 8), [4, 6, 5]);
    expect(() => gradOf(x, op)).toThrow(/shrinkAxisMask/);
  });

  test.each([
    { ta: false, tb: false },
    { ta: true, tb: false },
    { ta: false, tb: true },
    { ta: true, tb: true },
  ])('BatchMatMul with broadcast batch (tA=$ta tB=$tb) vs explicit tile', ({ ta, tb }) => {
    // a [2,3,M,K] (batch 2x3) times b [3,K,N] (missing leading axis) and c [1,1,K,N] (size-1 axes)
    const [M, K, N] = [4, 6, 5];
    const aS = [2, 3, ...(ta ? [K, M] : [M, K])];
    const bS = [3, ...(tb ? [N, K] : [K, N])];
    const cS = [1, 1, ...(tb ? [N, K] : [K, N])];
    const av = randomArray(sizeOf(aS), 31);
    const bv = randomArray(sizeOf(bS), 32);
    const cv = randomArray(sizeOf(cS), 33);
    const wv = randomArray(2 * 3 * M * N, 34);
    const before = memoryMark();
    const [got, want] = tf.tidy(() => {
      const [a, b, c, w] = [tf.tensor(av, aS), tf.tensor(bv, bS), tf.tensor(cv, cS), tf.tensor(wv, [2, 3, M, N])];
      const f1 = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(x, y, ta, tb), tf.matMul(x, z, ta, tb)), w));
      const f2 = (x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
        tf.sum(
          tf.mul(
            tf.add(tf.matMul(x, tf.tile(tf.expandDims(y, 0), [2, 1, 1, 1]), ta, tb), tf.matMul(x, tf.tile(z, [2, 3, 1, 1]), ta, tb)),
            w,
          ),
        );
      const g1 = tf.grads(f1)([a, b, c]);
      const g2 = tf.grads(f2)([a, b, c]);
      for (const [i, t] of g1.entries()) expect(t.shape).toEqual([aS, bS, cS][i]);
      return [g1.map((t) => t.dataSync()), g2.map((t) => t.dataSync())];
    });
    expect(memoryMark()).toEqual(before);
    for (let i = 0; i < 3; i++) expect(track(relErr(got[i], want[i]))).toBeLessThan(TOL);
  });

  test('DepthToSpace (NHWC, block 2)', () => {
    const shape = [2, 3, 4, 8];
    const op = (x: tf.Tensor) => tf.depthToSpace(x as tf.Tensor4D, 2, 'NHWC');
    const before = memoryMark();
    const [g, w] = gradOf(tf.tensor(randomArray(sizeOf(shape), 9), shape), op);
    expect(track(relErr(g, scatterExpected(positionsOf(shape, op), w, sizeOf(shape))))).toBeLessThan(TOL);
    expect(memoryMark()).toEqual(before);
  });
});
