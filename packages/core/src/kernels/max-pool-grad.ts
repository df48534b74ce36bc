/**
 * `MaxPoolGrad` for the wasm backend. The stock kernel of tfjs-backend-wasm 4.22 is wrong: it starts
 * its running maximum at `numeric_limits<float>::min()` (the smallest *positive* float), so a window
 * whose values are all negative routes its gradient nowhere. SPPF's max-pools after SiLU (whose
 * outputs are often negative) hit this. This JS version gives each window's gradient to its first
 * maximal element (as the cpu backend does), accumulating where windows overlap.
 */
import * as tf from '@tensorflow/tfjs-core';
import { withScope } from './wasm-scope.js';

type MaxPoolGradAttrs = {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

export const maxPoolGrad: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs as { dy: tf.TensorInfo; input: tf.TensorInfo };
  const a = attrs as unknown as MaxPoolGradAttrs;
  const ci = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    a.filterSize,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sH, strideWidth: sW, effectiveFilterHeight: fh, effectiveFilterWidth: fw } = ci;
  const { dilationHeight: dH, dilationWidth: dW } = ci;
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  return withScope(backend, (s) => {
    const dx = s.alloc(input.shape, 'float32', true);
    const xv = s.f32(input);
    const gv = s.f32(dy);
    const ov = s.f32(dx);
    const best = new Float32Array(C);
    const bestIdx = new Int32Array(C);
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < Ho; oy++) {
        const y0 = oy * sH - top;
        for (let ox = 0; ox < Wo; ox++) {
          const x0 = ox * sW - left;
          bestIdx.fill(-1);
          for (let ky = 0; ky < fh; ky += dH) {
            const yy = y0 + ky;
            if (yy < 0 || yy >= H) continue;
            for (let kx = 0; kx < fw; kx += dW) {
              const xx = x0 + kx;
              if (xx < 0 || xx >= W) continue;
              const base = ((n * H + yy) * W + xx) * C;
              for (let c = 0; c < C; c++) {
                const v = xv[base + c];
                if (bestIdx[c] < 0 || v > best[c]) {
                  best[c] = v;
                  bestIdx[c] = base + c;
                }
              }
            }
          }
          const g = ((n * Ho + oy) * Wo + ox) * C;
          for (let c = 0; c < C; c++) if (bestIdx[c] >= 0) ov[bestIdx[c]] += gv[g + c];
        }
      }
    }
    return dx;
  });
};
