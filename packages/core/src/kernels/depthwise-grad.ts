/**
 * Depthwise conv gradient kernels for the wasm backend (both missing in tfjs-backend-wasm 4.22).
 * Filter layout [kh, kw, C, m] (m = depth multiplier), dy [N, Ho, Wo, C*m] with channel c*m + k.
 *
 * - `DepthwiseConv2dNativeBackpropInput`: zero-dilate dy (stride > 1, JS), then a stride-1 XNNPACK
 *   depthwise conv with the spatially flipped filter viewed as [kh, kw, C*m, 1] and padding
 *   kh-1-top; for m > 1 the m outputs of each input channel are summed.
 * - `DepthwiseConv2dNativeBackpropFilter`: a JS loop over the wasm heap with float64 accumulators,
 *   dW[i,j,c,k] = sum_{n,y,x} x[n, y*sH-top+i, x*sW-left+j, c] * dy[n, y, x, c*m+k].
 *
 * Dilation > 1 is rejected (tfjs-core's depthwise gradient rejects it too).
 */
import * as tf from '@tensorflow/tfjs-core';
import { convWithCrop, flippedDepthwiseFilter, zeroDilate } from './heap-ops.js';
import { withScope } from './wasm-scope.js';

type DepthwiseGradAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

function convInfo(kernel: string, xShape: number[], filterShape: number[], a: DepthwiseGradAttrs): tf.backend_util.Conv2DInfo {
  const ci = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    true,
  );
  if (ci.dilationHeight !== 1 || ci.dilationWidth !== 1) {
    throw new Error(`${kernel} (wasm): dilations ${JSON.stringify(a.dilations)} are not supported; known: 1`);
  }
  return ci;
}

export const depthwiseConv2dNativeBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as DepthwiseGradAttrs & { inputShape: number[] };
  const ci = convInfo('DepthwiseConv2dNativeBackpropInput', a.inputShape, filter.shape, a);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sH, strideWidth: sW, filterHeight: kh, filterWidth: kw } = ci;
  const m = filter.shape[3];
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  return withScope(backend, (s) => {
    const dyd = zeroDilate(s, dy, sH, sW); // [N, Hd, Wd, C*m]
    const Hd = (Ho - 1) * sH + 1;
    const Wd = (Wo - 1) * sW + 1;
    const wf = flippedDepthwiseFilter(s, filter); // [kh, kw, C*m, 1]
    const r = convWithCrop(s, 'depthwise', dyd, wf, kh - 1 - top, H - Hd + top, kw - 1 - left, W - Wd + left);
    if (m === 1) return r;
    // [N, H, W, C*m] -> [N, H, W, C, m], summed over m
    return s.run('Sum', { x: s.reshape(r, [N, H, W, C, m]) }, { axis: [4], keepDims: false });
  });
};

export const depthwiseConv2dNativeBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as DepthwiseGradAttrs & { filterShape: number[] };
  const ci = convInfo('DepthwiseConv2dNativeBackpropFilter', x.shape, a.filterShape, a);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sH, strideWidth: sW, filterHeight: kh, filterWidth: kw } = ci;
  const m = a.filterShape[3];
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  const Cm = C * m;
  return withScope(backend, (s) => {
    const out = s.alloc([kh, kw, C, m]);
    const xv = s.f32(x);
    const gv = s.f32(dy);
    const acc = new Float64Array(kh * kw * Cm);
    for (let n = 0; n < N; n++) {
      for (let y = 0; y < Ho; y++) {
        for (let i = 0; i < kh; i++) {
          const row = y * sH - top + i;
          if (row < 0 || row >= H) continue;
          for (let xx = 0; xx < Wo; xx++) {
            const g0 = ((n * Ho + y) * Wo + xx) * Cm;
            for (let j = 0; j < kw; j++) {
              const col = xx * sW - left + j;
              if (col < 0 || col >= W) continue;
              const x0 = ((n * H + row) * W + col) * C;
              const a0 = (i * kw + j) * Cm;
              if (m === 1) {
                for (let c = 0; c < C; c++) acc[a0 + c] += xv[x0 + c] * gv[g0 + c];
              } else {
                for (let c = 0; c < C; c++) {
                  const xc = xv[x0 + c];
                  const o = c * m;
                  for (let k = 0; k < m; k++) acc[a0 + o + k] += xc * gv[g0 + o + k];
                }
              }
            }
          }
        }
      }
    }
    s.f32(out).set(acc);
    return out;
  });
};
