/**
 * Test helpers for the kernel tests: seeded random data, error measures, a leak guard that also
 * sees intermediate wasm buffers, and naive float64 reference loops for conv / depthwise / pooling.
 * Used by the *.test.ts files only.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Deterministic uniform numbers in [-1, 1) (LCG). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** max |got - want| / max |want| (1 when want is all zero, to keep it a relative measure). */
export function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`relErr: lengths ${got.length} vs ${want.length}`);
  let num = 0;
  let den = 0;
  for (let i = 0; i < got.length; i++) {
    num = Math.max(num, Math.abs(got[i] - want[i]));
    den = Math.max(den, Math.abs(want[i]));
  }
  if (Number.isNaN(num)) return Number.POSITIVE_INFINITY;
  return num / (den || 1);
}

/** Counts engine tensors and backend data ids (the latter also sees leaked kernel intermediates). */
export function memoryMark(): { tensors: number; dataIds: number } {
  return { tensors: tf.memory().numTensors, dataIds: tf.engine().backend.numDataIds() };
}

/** Runs one kernel through the engine and returns its output values (float64 copy), leak-free. */
export function runKernelValues(
  name: string,
  inputs: Record<string, { data: Float32Array | Int32Array; shape: number[]; dtype?: tf.DataType }>,
  attrs: Record<string, unknown>,
): { values: Float64Array; shape: number[] } {
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.data, v.shape, v.dtype ?? 'float32');
  const out = tf.engine().runKernel(name, ts, attrs as tf.NamedAttrMap) as tf.Tensor;
  const values = Float64Array.from(out.dataSync());
  const shape = out.shape;
  out.dispose();
  for (const t of Object.values(ts)) t.dispose();
  return { values, shape };
}

export interface ConvGeom {
  N: number;
  H: number;
  W: number;
  Ci: number;
  Ho: number;
  Wo: number;
  kh: number;
  kw: number;
  sH: number;
  sW: number;
  top: number;
  left: number;
  /** out channels (conv) or depth multiplier (depthwise) */
  Co: number;
}

export function convGeom(
  xShape: [number, number, number, number],
  filterShape: [number, number, number, number],
  strides: number,
  pad: tf.backend_util.ExplicitPadding | 'same' | 'valid' | number,
  depthwise = false,
): ConvGeom {
  const ci = tf.backend_util.computeConv2DInfo(xShape, filterShape, strides, 1, pad, undefined, depthwise);
  return {
    N: ci.batchSize,
    H: ci.inHeight,
    W: ci.inWidth,
    Ci: ci.inChannels,
    Ho: ci.outHeight,
    Wo: ci.outWidth,
    kh: ci.filterHeight,
    kw: ci.filterWidth,
    sH: ci.strideHeight,
    sW: ci.strideWidth,
    top: ci.padInfo.top,
    left: ci.padInfo.left,
    Co: filterShape[3],
  };
}

/**
 * Visits every (output position, tap) pair of a conv: cb(xIndexBase, yIndexBase, tapIndex) with the
 * flat NHWC offsets of x[n, row, col, 0] and y[n, oy, ox, 0] and the tap index i*kw + j.
 */
function forEachTap(g: ConvGeom, yChannels: number, cb: (xb: number, yb: number, tap: number) => void): void {
  for (let n = 0; n < g.N; n++)
    for (let oy = 0; oy < g.Ho; oy++)
      for (let ox = 0; ox < g.Wo; ox++)
        for (let i = 0; i < g.kh; i++) {
          const row = oy * g.sH - g.top + i;
          if (row < 0 || row >= g.H) continue;
          for (let j = 0; j < g.kw; j++) {
            const col = ox * g.sW - g.left + j;
            if (col < 0 || col >= g.W) continue;
            cb(((n * g.H + row) * g.W + col) * g.Ci, ((n * g.Ho + oy) * g.Wo + ox) * yChannels, i * g.kw + j);
          }
        }
}

/** Naive conv2d forward (HWIO filter). */
export function refConv2d(g: ConvGeom, x: Float32Array, w: Float32Array): Float64Array {
  const y = new Float64Array(g.N * g.Ho * g.Wo * g.Co);
  forEachTap(g, g.Co, (xb, yb, tap) => {
    for (let c = 0; c < g.Ci; c++) {
      const xv = x[xb + c];
      const wb = (tap * g.Ci + c) * g.Co;
      for (let o = 0; o < g.Co; o++) y[yb + o] += xv * w[wb + o];
    }
  });
  return y;
}

/** Naive conv2d weight gradient: dW[i,j,c,o] = sum x[.., c] dy[.., o]. */
export function refConv2dFilterGrad(g: ConvGeom, x: Float32Array, dy: Float32Array): Float64Array {
  const dw = new Float64Array(g.kh * g.kw * g.Ci * g.Co);
  forEachTap(g, g.Co, (xb, yb, tap) => {
    for (let c = 0; c < g.Ci; c++) {
      const xv = x[xb + c];
      const wb = (tap * g.Ci + c) * g.Co;
      for (let o = 0; o < g.Co; o++) dw[wb + o] += xv * dy[yb + o];
    }
  });
  return dw;
}

/** Naive conv2d input gradient: dx[.., c] = sum_o w[i,j,c,o] dy[.., o]. */
export function refConv2dInputGrad(g: ConvGeom, w: Float32Array, dy: Float32Array): Float64Array {
  const dx = new Float64Array(g.N * g.H * g.W * g.Ci);
  forEachTap(g, g.Co, (xb, yb, tap) => {
    for (let c = 0; c < g.Ci; c++) {
      const wb = (tap * g.Ci + c) * g.Co;
      let acc = 0;
      for (let o = 0; o < g.Co; o++) acc += w[wb + o] * dy[yb + o];
      dx[xb + c] += acc;
    }
  });
  return dx;
}

/** Naive depthwise weight gradient (filter [kh,kw,C,m], dy channel c*m+k). */
export function refDepthwiseFilterGrad(g: ConvGeom, x: Float32Array, dy: Float32Array): Float64Array {
  const m = g.Co;
  const dw = new Float64Array(g.kh * g.kw * g.Ci * m);
  forEachTap(g, g.Ci * m, (xb, yb, tap) => {
    for (let c = 0; c < g.Ci; c++) for (let k = 0; k < m; k++) dw[(tap * g.Ci + c) * m + k] += x[xb + c] * dy[yb + c * m + k];
  });
  return dw;
}

/** Naive depthwise input gradient. */
export function refDepthwiseInputGrad(g: ConvGeom, w: Float32Array, dy: Float32Array): Float64Array {
  const m = g.Co;
  const dx = new Float64Array(g.N * g.H * g.W * g.Ci);
  forEachTap(g, g.Ci * m, (xb, yb, tap) => {
    for (let c = 0; c < g.Ci; c++) for (let k = 0; k < m; k++) dx[xb + c] += w[(tap * g.Ci + c) * m + k] * dy[yb + c * m + k];
  });
  return dx;
}

/** Naive max-pool gradient: each window's dy goes to its first maximal element. */
export function refMaxPoolGrad(
  xShape: [number, number, number, number],
  filterSize: number,
  strides: number,
  pad: 'same' | 'valid' | number,
  x: Float32Array,
  dy: Float32Array,
): Float64Array {
  const ci = tf.backend_util.computePool2DInfo(xShape, filterSize, strides, 1, pad);
  const [N, H, W, C] = xShape;
  const dx = new Float64Array(x.length);
  for (let n = 0; n < N; n++)
    for (let oy = 0; oy < ci.outHeight; oy++)
      for (let ox = 0; ox < ci.outWidth; ox++)
        for (let c = 0; c < C; c++) {
          let best = Number.NEGATIVE_INFINITY;
          let bi = -1;
          for (let i = 0; i < ci.filterHeight; i++)
            for (let j = 0; j < ci.filterWidth; j++) {
              const r = oy * ci.strideHeight - ci.padInfo.top + i;
              const q = ox * ci.strideWidth - ci.padInfo.left + j;
              if (r < 0 || r >= H || q < 0 || q >= W) continue;
              const idx = ((n * H + r) * W + q) * C + c;
              if (bi < 0 || x[idx] > best) {
                best = x[idx];
                bi = idx;
              }
            }
          if (bi >= 0) dx[bi] += dy[((n * ci.outHeight + oy) * ci.outWidth + ox) * C + c];
        }
  return dx;
}
