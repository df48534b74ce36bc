/**
 * `BatchMatMul` and `Transpose` for the wasm backend.
 *
 * - The stock `BatchMatMul` runs ~1.3 GFLOP/s when transposeA or transposeB is set, against 10-40
 *   for the plain case, and the gradient of every matMul uses the transposed variants. This wrapper
 *   transposes the operand(s) explicitly (JS, see transpose.ts) and calls the stock plain kernel
 *   (which also handles broadcast batch dimensions).
 * - The stock `Transpose` is slow whenever the last axis moves (~70 M elements/s); the JS one
 *   (transpose.ts) reaches ~800 M elements/s. Attention modules transpose a lot.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { isHeapDType, stockKernel, withScope } from './wasm-scope.js';

function swapLastTwo(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

export const batchMatMul: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
  if (!transposeA && !transposeB) return stockKernel('BatchMatMul')({ inputs, backend, attrs });
  return withScope(backend, (s) => {
    // [..., r, c] -> [..., c, r]
    const a2 = transposeA ? s.transpose(a, swapLastTwo(a.shape.length)) : a;
    const b2 = transposeB ? s.transpose(b, swapLastTwo(b.shape.length)) : b;
    return s.matMul(a2, b2);
  });
};

export const transpose: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  const { perm } = attrs as unknown as { perm: number[] };
  if (!isHeapDType(x.dtype)) return stockKernel('Transpose')({ inputs, backend, attrs });
  return withScope(backend, (s) => s.transpose(x, perm));
};
