/**
 * Conv2D gradient kernels for the wasm backend, built on the stock XNNPACK Conv2D / BatchMatMul.
 *
 * - `Conv2DBackpropFilter` (missing in tfjs-backend-wasm 4.22):
 *   * kh*kw*Ci <= 32 (the RGB stem): JS im2col^T and one GEMM.
 *   * 1x1, stride 1, no padding: one GEMM. dW = x^T dy with x viewed as [M, Ci] (M = N*H*W); the
 *     operand with fewer channels is transposed (JS) so the transpose is as small as possible.
 *   * otherwise the "conv of transposed tensors" form: with xp the padded input,
 *     dW[i,j,ci,co] = sum_{n,y,x} xp[n, y*sH+i, x*sW+j, ci] * dy[n,y,x,co]
 *                  = conv2d(input = xp^T [Ci,Hp,Wp,N], filter = dy^T [Ho,Wo,N,Co], dilation = stride),
 *     the result [Ci,kh,kw,Co] transposed to [kh,kw,Ci,Co]. The padding is the conv's own (explicit,
 *     asymmetric) padding, so xp is never materialised.
 * - `Conv2DBackpropInput` (the stock one is a naive C++ loop at 1.6-3 GFLOP/s):
 *   * stride 1: conv2d(dy, flipped channel-swapped filter) with padding kh-1-top (etc.).
 *   * stride s > 1: phase (sub-pixel) decomposition: output rows a + s*u of phase a depend only on
 *     the filter taps i = (a+top) mod s + m*s, so each of the s*s phases is one stride-1 conv with a
 *     sub-filter and no multiplications by inserted zeros; the phases are interleaved in JS.
 *
 * Layouts are tfjs's: NHWC activations, HWIO filters. Only dilation 1 (tfjs-core's conv2d gradient
 * rejects dilation > 1 before reaching these kernels).
 */
import * as tf from '@tensorflow/tfjs-core';
import { convWithCrop, flippedSubFilter, scatterPhase } from './heap-ops.js';
import { withScope } from './wasm-scope.js';

type Conv2DBackpropFilterAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
};
type Conv2DBackpropInputAttrs = Omit<Conv2DBackpropFilterAttrs, 'filterShape'> & {
  inputShape: [number, number, number, number];
};

function checkFormat(kernel: string, dataFormat: string | undefined): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`${kernel} (wasm): dataFormat "${dataFormat}" is not supported; known: NHWC`);
  }
}

/**
 * Up to this many filter rows (kh*kw*Ci) the weight gradient uses a JS im2col + one GEMM; above it,
 * the conv of transposed tensors. Measured (1 thread, busy 2-core box): RGB stem [8,128,128,3] 3x3 s2
 * ->16 went from 18.2 ms (conv form, a GEMM with only 27 rows) to 7.4 ms; layers with Ci >= 16 are
 * faster with the conv form.
 */
const IM2COL_MAX_ROWS = 32;

/** colT[(i*kw + j)*Ci + c, (n*Ho + y)*Wo + x] = x[n, y*sH - top + i, x*sW - left + j, c] (0 outside). */
function fillIm2colT(
  colT: Float32Array,
  xv: Float32Array,
  N: number,
  H: number,
  W: number,
  Ci: number,
  Ho: number,
  Wo: number,
  kh: number,
  kw: number,
  sH: number,
  sW: number,
  top: number,
  left: number,
): void {
  const M = N * Ho * Wo;
  for (let n = 0; n < N; n++)
    for (let y = 0; y < Ho; y++)
      for (let i = 0; i < kh; i++) {
        const row = y * sH - top + i;
        if (row < 0 || row >= H) continue;
        const m0 = (n * Ho + y) * Wo;
        for (let j = 0; j < kw; j++) {
          const r0 = (i * kw + j) * Ci;
          for (let xx = 0; xx < Wo; xx++) {
            const col = xx * sW - left + j;
            if (col < 0 || col >= W) continue;
            const src = ((n * H + row) * W + col) * Ci;
            const m = m0 + xx;
            for (let c = 0; c < Ci; c++) colT[(r0 + c) * M + m] = xv[src + c];
          }
        }
      }
}

export const conv2DBackpropFilter: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  checkFormat('Conv2DBackpropFilter', a.dataFormat);
  const ci = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: N, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sH, strideWidth: sW, filterHeight: kh, filterWidth: kw } = ci;
  const { inChannels: Ci, outChannels: Co } = ci;
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;
  // padded-input rows/cols that the conv touches: -top .. (Ho-1)*sH + kh - 1 - top
  const bottom = (Ho - 1) * sH + kh - H - top;
  const right = (Wo - 1) * sW + kw - W - left;

  return withScope(backend, (s) => {
    if (kh === 1 && kw === 1 && sH === 1 && sW === 1 && top === 0 && left === 0 && bottom === 0 && right === 0) {
      const M = N * H * W;
      if (Ci <= Co) {
        // [N, H, W, Ci] -> [M, Ci] -> [Ci, M]
        const xT = s.transpose(s.reshape(x, [M, Ci]), [1, 0]);
        // [1, Ci, M] x [1, M, Co] -> [1, Ci, Co]
        const r = s.matMul(s.reshape(xT, [1, Ci, M]), s.reshape(dy, [1, M, Co]));
        return s.reshape(r, [1, 1, Ci, Co]);
      }
      // dW^T = dy^T x: [N, H, W, Co] -> [M, Co] -> [Co, M]
      const dyT = s.transpose(s.reshape(dy, [M, Co]), [1, 0]);
      // [1, Co, M] x [1, M, Ci] -> [1, Co, Ci]
      const r = s.matMul(s.reshape(dyT, [1, Co, M]), s.reshape(x, [1, M, Ci]));
      // [Co, Ci] -> [Ci, Co] -> [1, 1, Ci, Co]
      return s.reshape(s.transpose(s.reshape(r, [Co, Ci]), [1, 0]), [1, 1, Ci, Co]);
    }
    if (kh * kw * Ci <= IM2COL_MAX_ROWS) {
      // Few filter rows (e.g. the RGB stem): the conv form would be a GEMM with tiny M; build
      // col^T [kh*kw*Ci, M] in JS instead and run one GEMM col^T dy -> [kh*kw*Ci, Co].
      const M = N * Ho * Wo;
      const R = kh * kw * Ci;
      const colT = s.alloc([1, R, M], 'float32', true);
      fillIm2colT(s.f32(colT), s.f32(x), N, H, W, Ci, Ho, Wo, kh, kw, sH, sW, top, left);
      // [1, R, M] x [1, M, Co] -> [1, R, Co] = [kh, kw, Ci, Co]
      return s.reshape(s.matMul(colT, s.reshape(dy, [1, M, Co])), [kh, kw, Ci, Co]);
    }
    // Rows/cols past the last one the conv touches (negative bottom/right padding) are cropped.
    let xc = x;
    if (bottom < 0 || right < 0) {
      xc = s.run('Slice', { x }, { begin: [0, 0, 0, 0], size: [N, H + Math.min(bottom, 0), W + Math.min(right, 0), Ci] });
    }
    // [N, H', W', Ci] -> [Ci, H', W', N]
    const xT = s.transpose(xc, [3, 1, 2, 0]);
    // [N, Ho, Wo, Co] -> [Ho, Wo, N, Co]
    const dyT = s.transpose(dy, [1, 2, 0, 3]);
    const r = convWithCrop(s, 'conv', xT, dyT, top, Math.max(bottom, 0), left, Math.max(right, 0), [sH, sW]);
    if (r.shape[1] !== kh || r.shape[2] !== kw) {
      throw new Error(`Conv2DBackpropFilter (wasm): internal shape ${JSON.stringify(r.shape)}, expected [${Ci},${kh},${kw},${Co}]`);
    }
    // [Ci, kh, kw, Co] -> [kh, kw, Ci, Co]
    return s.transpose(r, [1, 2, 0, 3]);
  });
};

export const conv2DBackpropInput: tf.KernelFunc = ({ inputs, backend, attrs }) => {
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = attrs as unknown as Conv2DBackpropInputAttrs;
  checkFormat('Conv2DBackpropInput', a.dataFormat);
  const ci = tf.backend_util.computeConv2DInfo(
    a.inputShape,
    filter.shape as [number, number, number, number],
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: Ci, outHeight: Ho, outWidth: Wo } = ci;
  const { strideHeight: sH, strideWidth: sW, filterHeight: kh, filterWidth: kw } = ci;
  const top = ci.padInfo.top;
  const left = ci.padInfo.left;

  return withScope(backend, (s) => {
    if (sH === 1 && sW === 1) {
      // dx[p] = sum_i dy[p + top - i] w[i]: a conv of dy with the flipped filter, padding kh-1-top.
      const wT = flippedSubFilter(s, filter, 0, 0, kh, kw, 1, 1); // [kh, kw, Co, Ci]
      return convWithCrop(s, 'conv', dy, wT, kh - 1 - top, H - Ho + top, kw - 1 - left, W - Wo + left);
    }
    // Phase (a, b): rows a + sH*u (u < Qa), cols b + sW*v (v < Qb); taps i = i0 + m*sH (m < Ka).
    // dx[a + sH*u] = sum_m dy[u + ca - m] w[i0 + m*sH], with i0 = (a+top) % sH, ca = floor((a+top)/sH).
    const dx = s.alloc([N, H, W, Ci], 'float32', true);
    const phases: { a: number; b: number; t: tf.TensorInfo }[] = [];
    for (let pa = 0; pa < Math.min(sH, H); pa++) {
      const i0 = (pa + top) % sH;
      const ca = Math.floor((pa + top) / sH);
      const Ka = i0 < kh ? Math.ceil((kh - i0) / sH) : 0;
      const Qa = Math.ceil((H - pa) / sH);
      for (let pb = 0; pb < Math.min(sW, W); pb++) {
        const j0 = (pb + left) % sW;
        const cb = Math.floor((pb + left) / sW);
        const Kb = j0 < kw ? Math.ceil((kw - j0) / sW) : 0;
        const Qb = Math.ceil((W - pb) / sW);
        if (Ka === 0 || Kb === 0) continue; // no taps: this phase of dx stays zero
        const wSub = flippedSubFilter(s, filter, i0, j0, Ka, Kb, sH, sW); // [Ka, Kb, Co, Ci]
        // flipped: dy[u + ca - (Ka-1) + m'] -> top padding Ka-1-ca, output rows Qa
        const t = convWithCrop(s, 'conv', dy, wSub, Ka - 1 - ca, Qa - Ho + ca, Kb - 1 - cb, Qb - Wo + cb);
        phases.push({ a: pa, b: pb, t });
      }
    }
    // views only after the last allocation (heap growth detaches views)
    const dst = s.f32(dx);
    for (const p of phases) scatterPhase(dst, dx.shape, s.f32(p.t), p.t.shape, p.a, p.b, sH, sW);
    return dx;
  });
};
