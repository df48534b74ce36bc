/**
 * Kernels for @tensorflow/tfjs-backend-webgpu 4.22 where its stock ones fail on rank >= 5 tensors
 * (which DAT's offsets and MSDeformAttn's sampling produce through broadcastTo and pad):
 * - `Tile` falls back to the CPU through a synchronous read (`OffscreenCanvas is not defined` under Node);
 * - `PadV2` builds a WGSL shader with a `vec5` type that does not exist (invalid pipeline, zeros out).
 *
 * Both keep the stock kernel and call it on a rank <= 4 view: a padded / tiled dimension merges with the
 * unmodified dimensions that follow it (padding p on [a, b] along a equals padding p*b on the flat
 * [a*b]; tiling r times along a equals tiling the flat [a*b] r times), and leading unmodified dimensions
 * merge together. Reshapes on webgpu are views (no copy). When the view is still rank >= 5 (more than
 * 4 modified dimensions), the error says so.
 */
import * as tf from '@tensorflow/tfjs-core';

type Backend = { disposeData(dataId: unknown): void };

/** Groups dims: a new group at dim 0 and at each modified dim; returns group sizes and the first dim of each. */
export function mergeDims(shape: readonly number[], modified: readonly boolean[]): { sizes: number[]; heads: number[] } {
  const sizes: number[] = [];
  const heads: number[] = [];
  shape.forEach((d, i) => {
    if (i === 0 || modified[i]) {
      sizes.push(d);
      heads.push(i);
    } else sizes[sizes.length - 1] *= d;
  });
  return { sizes, heads };
}

function reshapeInfo(x: tf.TensorInfo, shape: number[], backend: Backend): tf.TensorInfo {
  const k = tf.getKernel('Reshape', 'webgpu');
  if (!k) throw new Error('webgpu: no Reshape kernel');
  return k.kernelFunc({ inputs: { x }, backend: backend as never, attrs: { shape } }) as tf.TensorInfo;
}

function viaLowRank(
  name: string,
  stock: tf.KernelFunc,
  x: tf.TensorInfo,
  backend: Backend,
  modified: boolean[],
  attrsFor: (sizes: number[], heads: number[]) => tf.NamedAttrMap,
  outShape: number[],
): tf.TensorInfo {
  const { sizes, heads } = mergeDims(x.shape, modified);
  if (sizes.length > 4)
    throw new Error(`webgpu ${name}: rank ${x.shape.length} with ${sizes.length} modified dimensions is not supported (at most 4)`);
  const x2 = reshapeInfo(x, sizes, backend);
  const y2 = stock({ inputs: { x: x2 }, backend: backend as never, attrs: attrsFor(sizes, heads) }) as tf.TensorInfo;
  const y = reshapeInfo(y2, outShape, backend);
  backend.disposeData(x2.dataId);
  backend.disposeData(y2.dataId);
  return y;
}

let registered = false;

/** Registers the rank >= 5 Tile and PadV2 for the webgpu backend (idempotent; after the backend package loaded). */
export function registerWebgpuKernels(): void {
  if (registered) return;
  const tile = tf.getKernel('Tile', 'webgpu');
  const pad = tf.getKernel('PadV2', 'webgpu');
  if (!tile || !pad) throw new Error('registerWebgpuKernels: @tensorflow/tfjs-backend-webgpu is not loaded');
  const stockTile = tile.kernelFunc;
  const stockPad = pad.kernelFunc;
  tf.unregisterKernel('Tile', 'webgpu');
  tf.registerKernel({
    kernelName: 'Tile',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const reps = args.attrs?.reps as number[];
      if (x.shape.length < 5 || x.dtype === 'string') return stockTile(args);
      const out = x.shape.map((d, i) => d * reps[i]);
      return viaLowRank(
        'Tile',
        stockTile,
        x,
        args.backend as Backend,
        reps.map((r) => r !== 1),
        (_s, heads) => ({ reps: heads.map((h) => reps[h]) }),
        out,
      );
    },
  });
  tf.unregisterKernel('PadV2', 'webgpu');
  tf.registerKernel({
    kernelName: 'PadV2',
    backendName: 'webgpu',
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const paddings = args.attrs?.paddings as [number, number][];
      if (x.shape.length < 5) return stockPad(args);
      const out = x.shape.map((d, i) => d + paddings[i][0] + paddings[i][1]);
      return viaLowRank(
        'PadV2',
        stockPad,
        x,
        args.backend as Backend,
        paddings.map(([a, b]) => a !== 0 || b !== 0),
        (sizes, heads) => ({
          constantValue: args.attrs?.constantValue ?? 0,
          // the group of head h spans sizes[g] / shape[h] trailing elements per index of dim h
          paddings: heads.map((h, g) => {
            const inner = sizes[g] / x.shape[h];
            return [paddings[h][0] * inner, paddings[h][1] * inner];
          }),
        }),
        out,
      );
    },
  });
  registered = true;
}
