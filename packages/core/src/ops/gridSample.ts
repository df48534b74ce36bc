/**
 * gridSample: PyTorch's `torch.nn.functional.grid_sample` (2-D, bilinear) for NHWC tensors, with
 * PyTorch's gradients with respect to both the input and the grid.
 *
 * Semantics follow ATen's grid sampler (aten/src/ATen/native/GridSampler.h and the 2-D CPU kernel):
 * the same unnormalisation, the same corner weights, out-of-range corners treated the same way, and
 * the same gradient conventions at integer coordinates and at the border (see the JSDoc of
 * `gridSample`). Written from those semantics; no code copied.
 *
 * Two implementations, both `tf.customGrad` with explicit gradient formulas, same results:
 * - 'js' (default on the cpu and wasm backends): plain loops over the data read with dataSync (a
 *   local copy there). [8,16,16,256] input with an [8,16,16,2] grid: ~4 ms forward, ~9 ms forward +
 *   backward on wasm (measured on the shared 2-core machine under load).
 * - 'ops' (default elsewhere, e.g. a GPU backend): gathers the four corners from the input viewed as
 *   [N*H*W, C]; the input gradient scatters the weighted cotangent back with `tf.scatterND` (which
 *   sums duplicate indices on cpu, wasm and the native backend), so no gather gradient
 *   (UnsortedSegmentSum) is needed. ~40x slower than 'js' on wasm, whose GatherV2 kernel is slow.
 *
 * Status: modes 'bilinear' only ('nearest'/'bicubic' throw); padding 'zeros' and 'border' only
 * ('reflection' throws). No second-order gradients. A non-finite grid value (NaN; +-Inf with
 * 'zeros') gives NaN in that point's output row (PyTorch's CPU kernels differ among themselves
 * there); gradients from such points are unspecified.
 */
import * as tf from '@tensorflow/tfjs-core';

export const GRID_SAMPLE_MODES = ['bilinear'] as const;
export const GRID_SAMPLE_PADDING_MODES = ['zeros', 'border'] as const;
export type GridSampleMode = (typeof GRID_SAMPLE_MODES)[number];
export type GridSamplePaddingMode = (typeof GRID_SAMPLE_PADDING_MODES)[number];
export const GRID_SAMPLE_IMPLEMENTATIONS = ['auto', 'js', 'ops'] as const;
export type GridSampleImplementation = (typeof GRID_SAMPLE_IMPLEMENTATIONS)[number];
/** Backends whose tensor data is in this process's memory, where the 'js' implementation is used. */
const JS_BACKENDS = ['cpu', 'wasm'];

export interface GridSampleOptions {
  /** Interpolation; only 'bilinear' (PyTorch's default). */
  mode?: GridSampleMode;
  /** What corners outside the map read: 'zeros' (default, as PyTorch) or 'border'. */
  paddingMode?: GridSamplePaddingMode;
  /** PyTorch's `align_corners` (default false, as PyTorch). */
  alignCorners?: boolean;
  /**
   * 'js': loops over the tensors' data (read synchronously), fastest on the cpu and wasm backends
   * (tfjs's wasm GatherV2 is slow); 'ops': tf ops (gather, scatterND), for backends whose data lives
   * elsewhere (GPU). 'auto' (default): 'js' on cpu and wasm, 'ops' otherwise. Same results.
   */
  implementation?: GridSampleImplementation;
}

/** Per-point sampling geometry, all [P, 1] with P = N * Ho * Wo (idx: [P] int32 each). */
interface Geometry {
  /** Flat row of each corner in the input viewed as [N*H*W, C]: nw, ne, sw, se (clamped to the map). */
  idx: [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
  /** x weights of the left / right column, zeroed where that column lies outside the map. */
  ax0: tf.Tensor;
  ax1: tf.Tensor;
  /** y weights of the top / bottom row, zeroed where that row lies outside the map. */
  ay0: tf.Tensor;
  ay1: tf.Tensor;
  /** 1 where the left / right column (top / bottom row) is inside the map, else 0. */
  vx0: tf.Tensor;
  vx1: tf.Tensor;
  vy0: tf.Tensor;
  vy1: tf.Tensor;
  /** d(pixel coordinate)/d(grid coordinate): unnormalisation scale times the border-clip gradient. */
  multX: tf.Tensor;
  multY: tf.Tensor;
}

/** Pixel coordinate from a normalised one, in PyTorch's float32 operation order. */
function unnormalize(coord: tf.Tensor, size: number, alignCorners: boolean): tf.Tensor {
  // align: ((c + 1) / 2) * (size - 1); else ((c + 1) * size - 1) / 2. Halving is exact, so * 0.5 == / 2.
  return alignCorners ? tf.mul(tf.mul(tf.add(coord, 1), 0.5), size - 1) : tf.mul(tf.sub(tf.mul(tf.add(coord, 1), size), 1), 0.5);
}

/**
 * One axis: returns the clamped integer positions of the two neighbouring pixels, their weights
 * (zeroed when outside the map), their validity masks and the coordinate gradient multiplier.
 */
function axisGeometry(
  coord: tf.Tensor,
  size: number,
  padding: GridSamplePaddingMode,
  alignCorners: boolean,
): { i0: tf.Tensor; i1: tf.Tensor; a0: tf.Tensor; a1: tf.Tensor; v0: tf.Tensor; v1: tf.Tensor; mult: tf.Tensor } {
  let pix = unnormalize(coord, size, alignCorners);
  const scale = alignCorners ? (size - 1) / 2 : size / 2;
  let mult: tf.Tensor;
  if (padding === 'border') {
    // clip_coordinates_set_grad: the gradient is 1 strictly inside (0, size-1) and 0 on or past the
    // border (PyTorch counts the border itself as out of bounds for the gradient).
    const inside = tf.logicalAnd(tf.greater(pix, 0), tf.less(pix, size - 1));
    mult = tf.mul(tf.cast(inside, 'float32'), scale);
    // wasm's ClipByValue maps NaN to a bound; keep NaN as NaN (as the cpu backend and 'js' do).
    pix = tf.where(tf.isNaN(pix), pix, tf.clipByValue(pix, 0, size - 1));
  } else {
    mult = tf.fill(pix.shape, scale);
  }
  const f0 = tf.floor(pix);
  const f1 = tf.add(f0, 1);
  // PyTorch's weights: left = (x_right - x), right = (x - x_left).
  const w0 = tf.sub(f1, pix);
  const w1 = tf.sub(pix, f0);
  // Validity from float comparisons (no int32 overflow for far-away points); NaN compares false.
  const c0 = tf.clipByValue(f0, 0, size - 1);
  const c1 = tf.clipByValue(f1, 0, size - 1);
  const v0 = tf.cast(tf.equal(f0, c0), 'float32');
  const v1 = tf.cast(tf.equal(f1, c1), 'float32');
  // A NaN coordinate stays NaN through TensorFlow's (node's) clip and casts to INT_MIN, which its gather
  // rejects: gather row 0 instead; the NaN weights still make that point's output NaN.
  const index = (c: tf.Tensor) => tf.cast(tf.where(tf.isNaN(c), tf.zerosLike(c), c), 'int32');
  return {
    i0: index(c0),
    i1: index(c1),
    a0: tf.mul(w0, v0),
    a1: tf.mul(w1, v1),
    v0,
    v1,
    mult,
  };
}

function geometry(grid: tf.Tensor4D, H: number, W: number, padding: GridSamplePaddingMode, alignCorners: boolean): Geometry {
  return tf.tidy(() => {
    const [N, Ho, Wo] = grid.shape;
    const P = N * Ho * Wo;
    const g = tf.reshape(grid, [P, 2]); // [N, Ho, Wo, 2] -> [P, 2], last axis (x, y)
    const [gx, gy] = tf.split(g, 2, 1); // [P, 2] -> 2 x [P, 1]
    const x = axisGeometry(gx, W, padding, alignCorners);
    const y = axisGeometry(gy, H, padding, alignCorners);
    // Row offset of each point's batch image in the [N*H*W, C] view.
    const baseData = new Int32Array(P);
    const per = Ho * Wo;
    for (let p = 0; p < P; p++) baseData[p] = Math.floor(p / per) * H * W;
    const base = tf.tensor2d(baseData, [P, 1], 'int32');
    const width = tf.scalar(W, 'int32'); // an int32 scalar keeps the index arithmetic in int32
    const row0 = tf.add(base, tf.mul(y.i0, width));
    const row1 = tf.add(base, tf.mul(y.i1, width));
    const flat = (t: tf.Tensor): tf.Tensor => tf.reshape(t, [P]); // [P, 1] -> [P]
    const geo: Geometry = {
      idx: [flat(tf.add(row0, x.i0)), flat(tf.add(row0, x.i1)), flat(tf.add(row1, x.i0)), flat(tf.add(row1, x.i1))],
      ax0: x.a0,
      ax1: x.a1,
      ay0: y.a0,
      ay1: y.a1,
      vx0: x.v0,
      vx1: x.v1,
      vy0: y.v0,
      vy1: y.v1,
      multX: x.mult,
      multY: y.mult,
    };
    return geo as unknown as tf.TensorContainer;
  }) as unknown as Geometry;
}

/** Corner weights nw, ne, sw, se ([P, 1] each; zero for corners outside the map). */
function cornerWeights(geo: Geometry): [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor] {
  return [tf.mul(geo.ax0, geo.ay0), tf.mul(geo.ax1, geo.ay0), tf.mul(geo.ax0, geo.ay1), tf.mul(geo.ax1, geo.ay1)];
}

function disposeGeometry(geo: Geometry): void {
  tf.dispose([...geo.idx, geo.ax0, geo.ax1, geo.ay0, geo.ay1, geo.vx0, geo.vx1, geo.vy0, geo.vy1, geo.multX, geo.multY]);
}

function checkOptions(opts: GridSampleOptions): {
  padding: GridSamplePaddingMode;
  alignCorners: boolean;
  implementation: GridSampleImplementation;
} {
  const mode = opts.mode ?? 'bilinear';
  if (!(GRID_SAMPLE_MODES as readonly string[]).includes(mode)) {
    throw new Error(`gridSample: unsupported mode "${mode}"; supported: ${GRID_SAMPLE_MODES.join(', ')}`);
  }
  const padding = opts.paddingMode ?? 'zeros';
  if (!(GRID_SAMPLE_PADDING_MODES as readonly string[]).includes(padding)) {
    throw new Error(`gridSample: unsupported paddingMode "${padding}"; supported: ${GRID_SAMPLE_PADDING_MODES.join(', ')}`);
  }
  const alignCorners = opts.alignCorners ?? false;
  if (typeof alignCorners !== 'boolean') {
    throw new Error(`gridSample: alignCorners must be true or false, got ${String(alignCorners)}`);
  }
  const implementation = opts.implementation ?? 'auto';
  if (!(GRID_SAMPLE_IMPLEMENTATIONS as readonly string[]).includes(implementation)) {
    throw new Error(`gridSample: unknown implementation "${implementation}"; known: ${GRID_SAMPLE_IMPLEMENTATIONS.join(', ')}`);
  }
  return { padding, alignCorners, implementation };
}

function checkTensors(input: tf.Tensor4D, grid: tf.Tensor4D): void {
  if (input.rank !== 4) {
    throw new Error(`gridSample: input must be rank 4 [N, H, W, C] (NHWC), got shape [${input.shape}]`);
  }
  if (grid.rank !== 4 || grid.shape[3] !== 2) {
    throw new Error(`gridSample: grid must be [N, Ho, Wo, 2] with last axis (x, y), got shape [${grid.shape}]`);
  }
  if (input.shape[0] !== grid.shape[0]) {
    throw new Error(`gridSample: batch sizes differ: input [${input.shape}] vs grid [${grid.shape}]`);
  }
  if (input.shape[1] < 1 || input.shape[2] < 1) {
    throw new Error(`gridSample: input must have non-empty spatial dimensions, got shape [${input.shape}]`);
  }
  if (input.dtype !== 'float32' || grid.dtype !== 'float32') {
    throw new Error(`gridSample: input and grid must be float32, got ${input.dtype} and ${grid.dtype}`);
  }
}

/** One axis of one point: pixel of the lower neighbour, the two weights, d(pixel)/d(coordinate). */
interface Axis {
  i0: number;
  w0: number;
  w1: number;
  mult: number;
}

function jsAxis(coord: number, size: number, border: boolean, alignCorners: boolean, out: Axis): void {
  const f = Math.fround;
  // Unnormalise in float32, in PyTorch's operation order, so floor() agrees with PyTorch's float32 op.
  let pix = alignCorners ? f(f(f(coord + 1) * 0.5) * (size - 1)) : f(f(f(f(coord + 1) * size) - 1) * 0.5);
  let mult = alignCorners ? (size - 1) / 2 : size / 2;
  if (border) {
    // clip_coordinates_set_grad: gradient 0 on and beyond the border.
    if (!(pix > 0 && pix < size - 1)) mult = 0;
    pix = Math.min(Math.max(pix, 0), size - 1);
  }
  const i0 = Math.floor(pix);
  out.i0 = i0;
  out.w0 = i0 + 1 - pix;
  out.w1 = pix - i0;
  out.mult = mult;
}

/**
 * Corner table of one point: for k = nw, ne, sw, se, the row offset into the NHWC data (or -1 when
 * the corner is outside the map), the bilinear weight, and d(weight)/d(px), d(weight)/d(py).
 * Returns false when a coordinate is not finite (NaN, or +-Inf with 'zeros' padding).
 */
function jsCorners(
  gd: ArrayLike<number>,
  p: number,
  n: number,
  H: number,
  W: number,
  C: number,
  border: boolean,
  alignCorners: boolean,
  ax: Axis,
  ay: Axis,
  off: Int32Array,
  w: Float64Array,
  dwx: Float64Array,
  dwy: Float64Array,
): boolean {
  jsAxis(gd[2 * p], W, border, alignCorners, ax);
  jsAxis(gd[2 * p + 1], H, border, alignCorners, ay);
  if (!Number.isFinite(ax.i0) || !Number.isFinite(ay.i0)) return false;
  for (let k = 0; k < 4; k++) {
    const a = k & 1; // 0: left column, 1: right column
    const b = k >> 1; // 0: top row, 1: bottom row
    const xi = ax.i0 + a;
    const yi = ay.i0 + b;
    off[k] = xi >= 0 && xi < W && yi >= 0 && yi < H ? ((n * H + yi) * W + xi) * C : -1;
    const wx = a ? ax.w1 : ax.w0;
    const wy = b ? ay.w1 : ay.w0;
    w[k] = wx * wy;
    dwx[k] = (a ? 1 : -1) * wy;
    dwy[k] = (b ? 1 : -1) * wx;
  }
  return true;
}

/**
 * The 'js' implementation: plain loops over the data, read synchronously (on cpu and wasm this is a
 * local copy). Output and grid gradient accumulate in float64 and are rounded once; the input
 * gradient accumulates in float32 (few terms per pixel; saves a large float64 buffer).
 */
function gridSampleJs(input: tf.Tensor4D, grid: tf.Tensor4D, padding: GridSamplePaddingMode, alignCorners: boolean): tf.Tensor4D {
  const [N, H, W, C] = input.shape;
  const [, Ho, Wo] = grid.shape;
  const Q = Ho * Wo;
  const border = padding === 'border';
  const ax: Axis = { i0: 0, w0: 0, w1: 0, mult: 0 };
  const ay: Axis = { i0: 0, w0: 0, w1: 0, mult: 0 };
  const off = new Int32Array(4);
  const w = new Float64Array(4);
  const dwx = new Float64Array(4);
  const dwy = new Float64Array(4);

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, g]);
    const xd = x.dataSync() as Float32Array;
    const gd = g.dataSync() as Float32Array;
    const out = new Float32Array(N * Q * C);
    const acc = new Float64Array(C);
    for (let n = 0; n < N; n++) {
      for (let q = 0; q < Q; q++) {
        const p = n * Q + q;
        if (!jsCorners(gd, p, n, H, W, C, border, alignCorners, ax, ay, off, w, dwx, dwy)) {
          out.fill(Number.NaN, p * C, (p + 1) * C);
          continue;
        }
        acc.fill(0);
        for (let k = 0; k < 4; k++) {
          const o = off[k];
          if (o < 0) continue;
          const wk = w[k];
          for (let c = 0; c < C; c++) acc[c] += wk * xd[o + c];
        }
        out.set(acc, p * C); // [N, Ho, Wo, C] row p
      }
    }
    const value = tf.tensor4d(out, [N, Ho, Wo, C]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
      const [xs, gs] = saved;
      const xv = xs.dataSync() as Float32Array;
      const gv = gs.dataSync() as Float32Array;
      const dyd = dy.dataSync() as Float32Array;
      const dIn = new Float32Array(N * H * W * C);
      const dGrid = new Float32Array(N * Q * 2);
      for (let n = 0; n < N; n++) {
        for (let q = 0; q < Q; q++) {
          const p = n * Q + q;
          if (!jsCorners(gv, p, n, H, W, C, border, alignCorners, ax, ay, off, w, dwx, dwy)) {
            dGrid[2 * p] = Number.NaN;
            dGrid[2 * p + 1] = Number.NaN;
            continue;
          }
          const d = p * C;
          let gx = 0;
          let gy = 0;
          for (let k = 0; k < 4; k++) {
            const o = off[k];
            if (o < 0) continue; // outside corners read 0: no input gradient, no slope term
            const wk = w[k];
            let s = 0; // <corner value, cotangent>
            for (let c = 0; c < C; c++) {
              const gc = dyd[d + c];
              dIn[o + c] += wk * gc;
              s += xv[o + c] * gc;
            }
            gx += s * dwx[k];
            gy += s * dwy[k];
          }
          dGrid[2 * p] = gx * ax.mult;
          dGrid[2 * p + 1] = gy * ay.mult;
        }
      }
      return [tf.tensor4d(dIn, [N, H, W, C]), tf.tensor4d(dGrid, [N, Ho, Wo, 2])];
    };
    return { value, gradFunc };
  });
  return op(input, grid) as tf.Tensor4D;
}

/** The tf-ops implementation (any backend; gathers and scatterND). */
function gridSampleOps(input: tf.Tensor4D, grid: tf.Tensor4D, padding: GridSamplePaddingMode, alignCorners: boolean): tf.Tensor4D {
  const [N, H, W, C] = input.shape;
  const [, Ho, Wo] = grid.shape;
  const P = N * Ho * Wo;

  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, g, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, g]);
    const value = tf.tidy(() => {
      const geo = geometry(g as tf.Tensor4D, H, W, padding, alignCorners);
      const rows = tf.reshape(x, [N * H * W, C]); // [N, H, W, C] -> [N*H*W, C]
      const w = cornerWeights(geo);
      const terms = geo.idx.map((idx, k) => tf.mul(tf.gather(rows, idx), w[k])); // 4 x [P, C]
      disposeGeometry(geo);
      return tf.reshape(tf.addN(terms), [N, Ho, Wo, C]); // [P, C] -> [N, Ho, Wo, C]
    });
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] =>
      tf.tidy(() => {
        const [xs, gs] = saved;
        const geo = geometry(gs as tf.Tensor4D, H, W, padding, alignCorners);
        const rows = tf.reshape(xs, [N * H * W, C]); // [N, H, W, C] -> [N*H*W, C]
        const dyr = tf.reshape(dy, [P, C]); // [N, Ho, Wo, C] -> [P, C]

        // Input: scatter-add weight * cotangent into each corner's row (scatterND sums duplicates).
        const w = cornerWeights(geo);
        const updates = tf.concat(
          w.map((wk) => tf.mul(dyr, wk)),
          0,
        ); // 4 x [P, C] -> [4P, C]
        const indices = tf.reshape(tf.concat(geo.idx, 0), [4 * P, 1]); // 4 x [P] -> [4P, 1]
        const dInput = tf.reshape(tf.scatterND(indices, updates, [N * H * W, C]), [N, H, W, C]); // -> NHWC

        // Grid: s_k = <corner value, cotangent> over channels, zero for corners outside the map.
        const [snw, sne, ssw, sse] = geo.idx.map((idx) => tf.sum(tf.mul(tf.gather(rows, idx), dyr), 1, true)); // [P, 1]
        // d out/d px = ay0 * (v_ne - v_nw) + ay1 * (v_se - v_sw), with outside corners reading 0.
        const dpx = tf.add(
          tf.mul(geo.ay0, tf.sub(tf.mul(sne, geo.vx1), tf.mul(snw, geo.vx0))),
          tf.mul(geo.ay1, tf.sub(tf.mul(sse, geo.vx1), tf.mul(ssw, geo.vx0))),
        );
        // d out/d py = ax0 * (v_sw - v_nw) + ax1 * (v_se - v_ne).
        const dpy = tf.add(
          tf.mul(geo.ax0, tf.sub(tf.mul(ssw, geo.vy1), tf.mul(snw, geo.vy0))),
          tf.mul(geo.ax1, tf.sub(tf.mul(sse, geo.vy1), tf.mul(sne, geo.vy0))),
        );
        const dGrid = tf.reshape(tf.concat([tf.mul(dpx, geo.multX), tf.mul(dpy, geo.multY)], 1), [N, Ho, Wo, 2]); // [P, 2] -> [N, Ho, Wo, 2]
        disposeGeometry(geo);
        return [dInput, dGrid];
      });
    return { value, gradFunc };
  });
  return op(input, grid) as tf.Tensor4D;
}

/**
 * Samples `input` at the normalised positions in `grid` with bilinear interpolation: PyTorch's
 * `F.grid_sample(input, grid, mode='bilinear', padding_mode, align_corners)`, but NHWC.
 *
 * Shapes: `input` [N, H, W, C] (PyTorch's is [N, C, H, W]); `grid` [N, Ho, Wo, 2] whose last axis is
 * (x, y), normalised so that -1 / +1 are the left / right (top / bottom) edges; output [N, Ho, Wo, C].
 * Both must be float32.
 *
 * For each output point, with x, y from the grid:
 * - Unnormalise (float32, in this order): `alignCorners` true: `px = ((x + 1) / 2) * (W - 1)`
 *   (-1 and +1 are the centres of the corner pixels); false (default): `px = ((x + 1) * W - 1) / 2`
 *   (-1 and +1 are the outer edges of the corner pixels). Same for y with H.
 * - `paddingMode: 'border'`: `px` is clipped to [0, W - 1] (py to [0, H - 1]) before interpolation.
 * - Bilinear: `x0 = floor(px)`, `x1 = x0 + 1`, weights `(x1 - px)` and `(px - x0)` (same for y);
 *   `out = sum over the 4 corners of wx * wy * input[n, yi, xi, :]`, where a corner outside
 *   [0, H-1] x [0, W-1] contributes 0 (both padding modes: after border clipping only the zero-weight
 *   corner at px = W - 1 can fall outside).
 *
 * Gradients (PyTorch's conventions):
 * - input: each corner's weight times the output cotangent, summed into that pixel; nothing for
 *   corners outside the map.
 * - grid: d out / d px uses the same corners and the same floor, i.e. at an integer px the slope is
 *   taken towards the right neighbour (value(x0 + 1) - value(x0)), with an outside neighbour reading 0
 *   (so at px = W - 1 exactly the slope is -value(W - 1)). Multiplied by the unnormalisation scale
 *   ((W - 1) / 2 or W / 2). 'border': the gradient is 0 where px was clipped **and on the border
 *   itself** (px <= 0 or px >= W - 1), as ATen's clip_coordinates_set_grad.
 *
 * @param input [N, H, W, C] float32
 * @param grid [N, Ho, Wo, 2] float32, last axis (x, y) in [-1, 1] (values outside are allowed)
 * @param opts mode 'bilinear' (only), paddingMode 'zeros' (default) | 'border', alignCorners (default
 *   false), implementation 'auto' (default) | 'js' | 'ops' (speed only, see GridSampleOptions)
 * @returns [N, Ho, Wo, C]
 */
export function gridSample(input: tf.Tensor4D, grid: tf.Tensor4D, opts: GridSampleOptions = {}): tf.Tensor4D {
  const { padding, alignCorners, implementation } = checkOptions(opts);
  checkTensors(input, grid);
  const useJs = implementation === 'js' || (implementation === 'auto' && JS_BACKENDS.includes(tf.getBackend()));
  return useJs ? gridSampleJs(input, grid, padding, alignCorners) : gridSampleOps(input, grid, padding, alignCorners);
}
