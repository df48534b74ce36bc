// MaxPoolGrad (including the all-negative-window case that the stock wasm kernel gets wrong),
// UnsortedSegmentSum, BatchMatMul (4 transpose combos, broadcast batch) and Transpose (every rank
// 1..6, size-1 axes, float32/int32/bool) on wasm against naive loops.
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../backend/index.js';
import { registerWasmTrainingKernels } from './index.js';
import { memoryMark, randomArray, refMaxPoolGrad, relErr, runKernelValues, sizeOf } from './test-utils/reference.js';
import { transposeArray } from './transpose.js';

const TOL = 1e-5;
const worst: Record<string, number> = {};
function track(key: string, e: number): number {
  worst[key] = Math.max(worst[key] ?? 0, e);
  return e;
}
afterAll(() => {
  console.log(`misc kernels worst relErr: ${JSON.stringify(worst)}`);
});

/** SPPF-like input: SiLU outputs are >= -0.28; here every value is negative. */
function allNegativeCase() {
  const xShape: [number, number, number, number] = [2, 6, 5, 3];
  const x = randomArray(sizeOf(xShape), 21).map((v) => -0.05 - 0.2 * Math.abs(v));
  return { xShape, x };
}

function maxPoolGradValues(xShape: [number, number, number, number], x: Float32Array, k: number, s: number, pad: 'same' | 'valid') {
  const ci = tf.backend_util.computePool2DInfo(xShape, k, s, 1, pad);
  const dy = randomArray(sizeOf(ci.outShape), 22);
  const got = tf.tidy(() => {
    const xt = tf.tensor4d(x, xShape);
    const dyt = tf.tensor(dy, ci.outShape);
    const out = tf.maxPool(xt, k, s, pad);
    return tf.engine().runKernel('MaxPoolGrad', { dy: dyt, input: xt, output: out }, { filterSize: k, strides: s, pad }) as tf.Tensor;
  });
  const values = got.dataSync();
  got.dispose();
  return { values, want: refMaxPoolGrad(xShape, k, s, pad, x, dy) };
}

describe('MaxPoolGrad', () => {
  test('the stock wasm kernel drops the gradient of all-negative windows; the custom one does not', async () => {
    // This file's first test: the custom kernels are not registered yet.
    await import('@tensorflow/tfjs-backend-wasm');
    expect(await tf.setBackend('wasm')).toBe(true);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined(); // really the stock registry
    const { xShape, x } = allNegativeCase();
    const stock = maxPoolGradValues(xShape, x, 5, 1, 'same');
    const stockErr = relErr(stock.values, stock.want);
    console.log(`stock wasm MaxPoolGrad on all-negative windows: relErr ${stockErr.toExponential(2)}`);
    expect(stockErr).toBeGreaterThan(0.5); // stock: wrong
    await initBackend('wasm', { log: false }); // registers the custom kernels
    const fixed = maxPoolGradValues(xShape, x, 5, 1, 'same');
    expect(track('MaxPoolGrad', relErr(fixed.values, fixed.want))).toBeLessThan(TOL);
    expect(Math.max(...fixed.values.map(Math.abs))).toBeGreaterThan(0);
  });
});

describe('MaxPoolGrad (custom)', () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: false });
  });

  test.each([
    { k: 5, s: 1, pad: 'same' as const },
    { k: 3, s: 2, pad: 'same' as const },
    { k: 2, s: 2, pad: 'valid' as const },
    { k: 3, s: 1, pad: 'valid' as const },
    { k: 3, s: 2, pad: 'valid' as const },
  ])('k$k s$s $pad, mixed signs and ties, via tf.grad', ({ k, s, pad }) => {
    const xShape: [number, number, number, number] = [2, 7, 9, 4];
    // rounded values -> many ties inside windows (first maximum wins)
    const x = randomArray(sizeOf(xShape), 23).map((v) => Math.round(v * 4) / 4);
    const ci = tf.backend_util.computePool2DInfo(xShape, k, s, 1, pad);
    const dyv = randomArray(sizeOf(ci.outShape), 24);
    const before = memoryMark();
    const got = tf.tidy(() => {
      const dy = tf.tensor(dyv, ci.outShape);
      return tf
        .grad((a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, pad), dy)))(tf.tensor4d(x, xShape))
        .dataSync();
    });
    expect(memoryMark()).toEqual(before);
    expect(track('MaxPoolGrad', relErr(got, refMaxPoolGrad(xShape, k, s, pad, x, dyv)))).toBeLessThan(TOL);
  });
});

describe('kernels after initBackend', () => {
  beforeAll(async () => {
    await initBackend('wasm', { log: false });
    registerWasmTrainingKernels(); // idempotent: a second call changes nothing
  });

  test('UnsortedSegmentSum: 1-D and 2-D ids, negative ids dropped, empty segments zero', () => {
    for (const [xShape, idShape, nSeg] of [
      [[50, 7], [50], 9],
      [[6, 5, 3], [6, 5], 4],
      [[40], [40], 13],
    ] as [number[], number[], number][]) {
      const x = randomArray(sizeOf(xShape), 31);
      const n = sizeOf(idShape);
      const ids = Int32Array.from({ length: n }, (_, i) => ((i * 7) % (nSeg + 1)) - 1); // includes -1
      const inner = sizeOf(xShape) / n;
      const want = new Float64Array(nSeg * inner);
      for (let r = 0; r < n; r++) if (ids[r] >= 0) for (let k = 0; k < inner; k++) want[ids[r] * inner + k] += x[r * inner + k];
      const before = memoryMark();
      const got = runKernelValues(
        'UnsortedSegmentSum',
        { x: { data: x, shape: xShape }, segmentIds: { data: ids, shape: idShape, dtype: 'int32' } },
        { numSegments: nSeg },
      );
      expect(memoryMark()).toEqual(before);
      expect(got.shape).toEqual([nSeg, ...xShape.slice(idShape.length)]);
      expect(track('UnsortedSegmentSum', relErr(got.values, want))).toBeLessThan(TOL);
    }
  });

  test('UnsortedSegmentSum: id >= numSegments throws', () => {
    expect(() =>
      runKernelValues(
        'UnsortedSegmentSum',
        { x: { data: randomArray(4, 1), shape: [4] }, segmentIds: { data: Int32Array.from([0, 1, 5, 1]), shape: [4], dtype: 'int32' } },
        { numSegments: 3 },
      ),
    ).toThrow(/segment id 5/);
  });

  test('tf.gather gradient (uses UnsortedSegmentSum) with repeated indices', () => {
    const xv = randomArray(10 * 4, 32);
    const idx = [3, 1, 3, 9, 0, 3];
    const dyv = randomArray(idx.length * 4, 33);
    const before = memoryMark();
    const got = tf.tidy(() => {
      const dy = tf.tensor2d(dyv, [idx.length, 4]);
      const f = (a: tf.Tensor) => tf.sum(tf.mul(tf.gather(a, tf.tensor1d(idx, 'int32')), dy));
      return tf
        .grad(f)(tf.tensor2d(xv, [10, 4]))
        .dataSync();
    });
    expect(memoryMark()).toEqual(before);
    const want = new Float64Array(40);
    idx.forEach((r, i) => {
      for (let k = 0; k < 4; k++) want[r * 4 + k] += dyv[i * 4 + k];
    });
    expect(track('gatherGrad', relErr(got, want))).toBeLessThan(TOL);
  });

  describe('BatchMatMul', () => {
    const combos = [
      { ta: false, tb: false },
      { ta: true, tb: false },
      { ta: false, tb: true },
      { ta: true, tb: true },
    ];
    test.each(combos)('transposeA=$ta transposeB=$tb, broadcast batch and plain batch', ({ ta, tb }) => {
      for (const [batchA, batchB, M, K, N] of [
        [[3], [1], 8, 16, 5],
        [[2, 3], [2, 3], 7, 9, 11],
        [[1], [4], 33, 17, 20],
      ] as [number[], number[], number, number, number][]) {
        const aShape = [...batchA, ...(ta ? [K, M] : [M, K])];
        const bShape = [...batchB, ...(tb ? [N, K] : [K, N])];
        const a = randomArray(sizeOf(aShape), 41);
        const b = randomArray(sizeOf(bShape), 42);
        const batch = batchA.map((d, i) => Math.max(d, batchB[i]));
        const nb = sizeOf(batch);
        const want = new Float64Array(nb * M * N);
        const aB = sizeOf(batchA) === 1 ? 0 : M * K;
        const bB = sizeOf(batchB) === 1 ? 0 : K * N;
        for (let q = 0; q < nb; q++)
          for (let i = 0; i < M; i++)
            for (let j = 0; j < N; j++) {
              let acc = 0;
              for (let k = 0; k < K; k++) {
                const av = a[q * aB + (ta ? k * M + i : i * K + k)];
                const bv = b[q * bB + (tb ? j * K + k : k * N + j)];
                acc += av * bv;
              }
              want[(q * M + i) * N + j] = acc;
            }
        const before = memoryMark();
        const got = runKernelValues(
          'BatchMatMul',
          { a: { data: a, shape: aShape }, b: { data: b, shape: bShape } },
          { transposeA: ta, transposeB: tb },
        );
        expect(memoryMark()).toEqual(before);
        expect(got.shape).toEqual([...batch, M, N]);
        expect(track('BatchMatMul', relErr(got.values, want))).toBeLessThan(TOL);
      }
    });
  });

  describe('Transpose', () => {
    function naiveTranspose(src: ArrayLike<number>, shape: number[], perm: number[]): Float64Array {
      const r = shape.length;
      const outShape = perm.map((p) => shape[p]);
      const inStr = shape.map((_, i) => sizeOf(shape.slice(i + 1)));
      const out = new Float64Array(sizeOf(shape));
      const idx = new Array<number>(r).fill(0);
      for (let o = 0; o < out.length; o++) {
        let s = 0;
        for (let k = 0; k < r; k++) s += idx[k] * inStr[perm[k]];
        out[o] = src[s];
        for (let k = r - 1; k >= 0; k--) {
          if (++idx[k] < outShape[k]) break;
          idx[k] = 0;
        }
      }
      return out;
    }
    function randomPerm(r: number, seed: number): number[] {
      const p = [...Array(r).keys()];
      const rnd = randomArray(r, seed);
      for (let i = r - 1; i > 0; i--) {
        const j = Math.floor(((rnd[i] + 1) / 2) * (i + 1));
        [p[i], p[j]] = [p[j], p[i]];
      }
      return p;
    }

    test('transposeArray: every permutation of rank <= 4, random ones of rank 5-6, size-1 axes', () => {
      const shapes = [[7], [5, 37], [3, 1, 20], [2, 3, 17, 5], [4, 1, 33, 2], [19, 18, 3, 1], [2, 3, 1, 4, 5], [2, 1, 3, 4, 2, 3]];
      let n = 0;
      for (const shape of shapes) {
        const r = shape.length;
        const perms: number[][] = [];
        if (r <= 4) {
          const rec = (pre: number[]) => {
            if (pre.length === r) perms.push(pre);
            else for (let i = 0; i < r; i++) if (!pre.includes(i)) rec([...pre, i]);
          };
          rec([]);
        } else for (let t = 0; t < 30; t++) perms.push(randomPerm(r, 100 + t));
        const src = randomArray(sizeOf(shape), 51);
        for (const perm of perms) {
          const dst = new Float32Array(src.length);
          transposeArray(src, shape, perm, dst);
          expect(Array.from(dst)).toEqual(Array.from(naiveTranspose(src, shape, perm)).map(Math.fround));
          n++;
        }
      }
      expect(n).toBeGreaterThan(100);
    });

    test('Transpose kernel: float32, int32 and bool tensors, large tiles', () => {
      for (const [shape, perm] of [
        [
          [8, 64, 50],
          [0, 2, 1],
        ],
        [
          [2, 16, 16, 24],
          [0, 3, 1, 2],
        ],
        [
          [2, 16, 16, 24],
          [3, 1, 2, 0],
        ],
        [
          [3, 4, 5, 6, 7],
          [4, 0, 3, 1, 2],
        ],
      ] as [number[], number[]][]) {
        const v = randomArray(sizeOf(shape), 61);
        const want = naiveTranspose(v, shape, perm);
        const before = memoryMark();
        for (const dtype of ['float32', 'int32', 'bool'] as const) {
          const data = dtype === 'float32' ? v : Int32Array.from(v, (q) => (dtype === 'bool' ? (q > 0 ? 1 : 0) : Math.round(q * 100)));
          const x = tf.tensor(data, shape, dtype);
          const y = tf.transpose(x, perm);
          const wantD = dtype === 'float32' ? Array.from(want, Math.fround) : Array.from(naiveTranspose(data, shape, perm));
          expect(y.dtype).toBe(dtype);
          expect(y.shape).toEqual(perm.map((p) => shape[p]));
          expect(Array.from(y.dataSync())).toEqual(wantD);
          x.dispose();
          y.dispose();
        }
        expect(memoryMark()).toEqual(before);
      }
    });
  });
});
