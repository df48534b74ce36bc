/**
 * `UnsortedSegmentSum` for the wasm backend (missing in tfjs-backend-wasm 4.22; the gradient of
 * `tf.gather` needs it). out[s, ...] = sum over r with ids[r] == s of x[r, ...], where `ids` covers
 * the leading axes of x. Negative ids are dropped (TensorFlow's rule); ids >= numSegments throw.
 */
import * as tf from '@tensorflow/tfjs-core';
import { withScope } from './wasm-scope.js';

export const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const { numSegments } = attrs as unknown as { numSegments: number };
  const idRank = segmentIds.shape.length;
  if (idRank > x.shape.length || segmentIds.shape.some((d, i) => d !== x.shape[i])) {
    throw new Error(`UnsortedSegmentSum (wasm): segmentIds shape [${segmentIds.shape}] must be a prefix of x shape [${x.shape}]`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): dtype ${x.dtype} is not supported; known: float32, int32`);
  }
  const innerShape = x.shape.slice(idRank);
  const inner = tf.util.sizeFromShape(innerShape);
  return withScope(backend, (s) => {
    const out = s.alloc([numSegments, ...innerShape], x.dtype as 'float32' | 'int32', true);
    const xv = s.view(x);
    const iv = s.view(segmentIds);
    const ov = s.view(out);
    for (let r = 0; r < iv.length; r++) {
      const seg = iv[r];
      if (seg < 0) continue;
      if (seg >= numSegments) {
        throw new Error(`UnsortedSegmentSum (wasm): segment id ${seg} at ${r} is >= numSegments ${numSegments}`);
      }
      const o = seg * inner;
      const xo = r * inner;
      for (let k = 0; k < inner; k++) ov[o + k] += xv[xo + k];
    }
    return out;
  });
};
