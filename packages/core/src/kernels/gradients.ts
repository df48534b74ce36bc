/**
 * Gradients for autodiff, registered by `registerMissingGradients()`.
 *
 * 1. tfjs-core's own gradients. tfjs-core's CommonJS bundle (what Node loads) registers none: the
 *    gradient configs exist only in its ESM sources (which Node cannot load: extensionless imports)
 *    and in the @tensorflow/tfjs union bundle (a dependency of this package), which shares tfjs-core's
 *    global registries. So the union bundle is loaded when `Sum` has no gradient.
 * 2. Gradients that tfjs-core 4.22 lacks on every backend (only where none is registered, so this
 *    never overrides a core gradient):
 *
 * - comparisons and logical ops (Greater, Less, LessEqual, Equal, NotEqual, LogicalAnd, LogicalOr,
 *   LogicalXor, LogicalNot, All, Any): zero gradients, so that for example
 *   `tf.where(tf.greater(a, b), a, b)` can sit inside a differentiated function;
 * - GatherNd (params: scatter-add of dy), ScatterNd (updates: gather of dy), TensorScatterUpdate,
 *   TopK (values: scatter of dy to the chosen positions), StridedSlice (any strides, masks, negative
 *   strides; it throws for shrinkAxisMask with non-unit strides, whose tfjs 4.22 forward is wrong on
 *   cpu and wasm alike), DepthToSpace (NHWC).
 * 3. One replacement: BatchMatMul. tfjs-core's gradient does not reduce over broadcast batch axes
 *    (a [3,8,16] x b [1,16,5] gives db of shape [3,16,5] and the tape throws); this one sums them.
 *
 * Not provided: Einsum. It has no gradient in tfjs-core and no kernel on the wasm backend; project
 * code must not use `tf.einsum` (write it with matMul / mul+sum instead).
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

/** The gradients this module adds (where tfjs-core has none). */
export const ADDED_GRADIENTS: readonly string[] = [
  'Greater',
  'Less',
  'LessEqual',
  'Equal',
  'NotEqual',
  'LogicalAnd',
  'LogicalOr',
  'LogicalXor',
  'LogicalNot',
  'All',
  'Any',
  'GatherNd',
  'ScatterNd',
  'TensorScatterUpdate',
  'TopK',
  'StridedSlice',
  'DepthToSpace',
];

function register(config: tf.GradConfig): void {
  if (tf.getGradient(config.kernelName)) return; // core (or an earlier call) has one
  tf.registerGradient(config);
}

/** Flat int32 indices [size] -> positions [size, 1] for scatterND into a flat tensor. */
function scatterFlat(flatIndices: tf.Tensor, values: tf.Tensor, size: number): tf.Tensor {
  return tf.scatterND(tf.reshape(flatIndices, [-1, 1]), tf.reshape(values, [-1]), [size]);
}

// Gradients must be float32 (the tape checks), also for bool/int32 inputs: tf.zeros, not zerosLike.
function registerZeroGradients(): void {
  for (const kernelName of ['Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor']) {
    register({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => ({ a: () => tf.zeros(saved[0].shape), b: () => tf.zeros(saved[1].shape) }),
    });
  }
  for (const kernelName of ['LogicalNot', 'All', 'Any']) {
    register({ kernelName, inputsToSave: ['x'], gradFunc: (_dy, saved) => ({ x: () => tf.zeros(saved[0].shape) }) });
  }
}

function registerIndexingGradients(): void {
  // GatherNd: y[r, ...] = params[indices[r], ...]  =>  dparams = scatter-add of dy at indices.
  // (scatterND sums duplicate indices, which is what the gradient needs.)
  register({
    kernelName: 'GatherNd',
    inputsToSave: ['params', 'indices'],
    gradFunc: (dy, saved) => {
      const [params, indices] = saved;
      return {
        params: () => tf.scatterND(indices, dy as tf.Tensor, params.shape),
        indices: () => tf.zeros(indices.shape),
      };
    },
  });
  // ScatterNd: y = scatter(indices, updates)  =>  dupdates = gather(dy, indices).
  register({
    kernelName: 'ScatterNd',
    inputsToSave: ['indices'],
    gradFunc: (dy, saved) => {
      const [indices] = saved;
      return { updates: () => tf.gatherND(dy as tf.Tensor, indices), indices: () => tf.zeros(indices.shape) };
    },
  });
  // TensorScatterUpdate: y = tensor with y[indices] = updates.
  register({
    kernelName: 'TensorScatterUpdate',
    inputsToSave: ['tensor', 'indices', 'updates'],
    gradFunc: (dy, saved) => {
      const [, indices, updates] = saved;
      const g = dy as tf.Tensor;
      return {
        tensor: () => tf.mul(g, tf.tensorScatterUpdate(tf.onesLike(g), indices, tf.zerosLike(updates))),
        indices: () => tf.zeros(indices.shape),
        updates: () => tf.gatherND(g, indices),
      };
    },
  });
  // TopK: values[r, k] = x[r, indices[r, k]]  =>  dx = scatter of dvalues (indices are distinct per row).
  register({
    kernelName: 'TopK',
    inputsToSave: ['x'],
    outputsToSave: [false, true],
    gradFunc: (dys, saved) => {
      const [x, indices] = saved;
      const dy = Array.isArray(dys) ? dys[0] : dys;
      return {
        x: () =>
          tf.tidy(() => {
            const n = x.shape[x.shape.length - 1];
            const k = indices.shape[indices.shape.length - 1];
            const rows = x.size / n;
            // [rows, k] + row offsets [rows, 1] -> flat positions in x
            const base = tf.reshape(tf.range(0, rows * n, n, 'int32'), [rows, 1]);
            const flat = tf.add(tf.reshape(indices, [rows, k]), base);
            return tf.reshape(scatterFlat(flat, dy, x.size), x.shape);
          }),
      };
    },
  });
  // StridedSlice: dx = scatter of dy to the selected positions of x.
  register({
    kernelName: 'StridedSlice',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      return {
        x: () =>
          tf.tidy(() => {
            const a = attrs as unknown as StridedSliceAttrs;
            const info = sliceInfo(x.shape, a);
            if (!info.isIdentity && !info.isSimpleSlice && info.finalShapeSparse.length !== x.rank) {
              // tfjs 4.22's forward (cpu and wasm) indexes x with too few coordinates in this case
              // (non-unit strides together with shrinkAxisMask), so it returns wrong elements.
              throw new Error(
                'StridedSlice gradient: tfjs 4.22 computes the forward of a strided slice with ' +
                  'shrinkAxisMask and non-unit strides wrongly; use tf.slice/tf.stridedSlice without ' +
                  'shrinkAxisMask followed by tf.squeeze instead',
              );
            }
            const flat = stridedSlicePositions(x.shape, a);
            return tf.reshape(scatterFlat(tf.tensor1d(flat, 'int32'), dy as tf.Tensor, x.size), x.shape);
          }),
      };
    },
  });
  // DepthToSpace (NHWC): y[n, h*bs+i, w*bs+j, c] = x[n, h, w, (i*bs+j)*C + c].
  register({
    kernelName: 'DepthToSpace',
    gradFunc: (dy, _saved, attrs) => {
      const { blockSize: bs, dataFormat } = attrs as unknown as { blockSize: number; dataFormat: string };
      if (dataFormat !== 'NHWC') {
        throw new Error(`DepthToSpace gradient: dataFormat "${dataFormat}" is not supported; known: NHWC`);
      }
      const g = dy as tf.Tensor4D;
      const [n, hb, wb, c] = g.shape;
      const h = hb / bs;
      const w = wb / bs;
      return {
        x: () =>
          tf.tidy(() => {
            // [N, H*bs, W*bs, C] -> [N, H, bs, W, bs, C]
            const r = tf.reshape(g, [n, h, bs, w, bs, c]);
            // [N, H, bs(i), W, bs(j), C] -> [N, H, W, bs(i), bs(j), C] -> [N, H, W, bs*bs*C]
            return tf.reshape(tf.transpose(r, [0, 1, 3, 2, 4, 5]), [n, h, w, bs * bs * c]);
          }),
      };
    },
  });
}

type StridedSliceAttrs = {
  begin: number[];
  end: number[];
  strides: number[];
  beginMask: number;
  endMask: number;
  ellipsisMask: number;
  newAxisMask: number;
  shrinkAxisMask: number;
};

function sliceInfo(xShape: number[], a: StridedSliceAttrs) {
  return tf.slice_util.sliceInfo(
    xShape,
    a.begin,
    a.end,
    a.strides,
    a.beginMask,
    a.endMask,
    a.ellipsisMask,
    a.newAxisMask,
    a.shrinkAxisMask,
  );
}

/** Flat positions in x (row-major) of the elements a StridedSlice selects (TF semantics), in output order. */
export function stridedSlicePositions(xShape: number[], a: StridedSliceAttrs): Int32Array {
  const info = sliceInfo(xShape, a);
  const r = xShape.length;
  const b = info.begin;
  const st = info.strides;
  const cnt = xShape.map((_, d) => Math.max(0, Math.ceil((info.end[d] - b[d]) / st[d])));
  const xStride = xShape.map((_, d) => xShape.slice(d + 1).reduce((p, q) => p * q, 1));
  const total = cnt.reduce((p, q) => p * q, 1);
  const out = new Int32Array(total);
  const idx = new Array<number>(r).fill(0);
  for (let t = 0; t < total; t++) {
    let o = 0;
    for (let d = 0; d < r; d++) o += (b[d] + idx[d] * st[d]) * xStride[d];
    out[t] = o;
    for (let d = r - 1; d >= 0; d--) {
      if (++idx[d] < cnt[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Loads tfjs-core's stock gradient configs (see the header) unless they are registered already:
 * the `@tensorflow/tfjs` union bundle (a dependency of this package) registers them into the same
 * tfjs-core instance.
 */
export function registerCoreGradients(): void {
  if (tf.getGradient('Sum') && tf.getGradient('Conv2D')) return;
  createRequire(import.meta.url)('@tensorflow/tfjs');
  if (!tf.getGradient('Sum')) {
    throw new Error(
      '@tensorflow/tfjs loaded but registered no gradient into @tensorflow/tfjs-core: are two copies of tfjs-core installed?',
    );
  }
}

/** Sums `g` over the leading axes where `shape` (right-aligned) is 1 or missing, and reshapes to it. */
function reduceToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank - 2; i++) if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

function registerBatchMatMulGradient(): void {
  tf.registerGradient({
    kernelName: 'BatchMatMul',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const g = dy as tf.Tensor;
      const mm = (x: tf.Tensor, y: tf.Tensor, tx: boolean, ty: boolean) => tf.matMul(x, y, tx, ty);
      let da: () => tf.Tensor;
      let db: () => tf.Tensor;
      if (!transposeA && !transposeB) {
        da = () => mm(g, b, false, true);
        db = () => mm(a, g, true, false);
      } else if (!transposeA && transposeB) {
        da = () => mm(g, b, false, false);
        db = () => mm(g, a, true, false);
      } else if (transposeA && !transposeB) {
        da = () => mm(b, g, false, true);
        db = () => mm(a, g, false, false);
      } else {
        da = () => mm(b, g, true, true);
        db = () => mm(g, a, true, true);
      }
      return { a: () => reduceToShape(da(), a.shape), b: () => reduceToShape(db(), b.shape) };
    },
  });
}

let registered = false;

/**
 * Registers tfjs-core's own gradients (if absent) and those listed in {@link ADDED_GRADIENTS}
 * (idempotent; all backends).
 */
export function registerMissingGradients(): void {
  if (registered) return;
  registerCoreGradients();
  registerBatchMatMulGradient();
  registerZeroGradients();
  registerIndexingGradients();
  registered = true;
}
