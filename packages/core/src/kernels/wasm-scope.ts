/**
 * Plumbing for kernels of the `wasm` backend written in TypeScript: access to the stock
 * (XNNPACK-backed) kernels, and a scope that tracks intermediate tensors and frees them.
 *
 * Custom kernels compose the stock kernels at kernel level (no tape, no engine bookkeeping) or loop
 * over the wasm heap in JS. Gotcha: `backend.typedArrayFromHeap(t)` returns a view of the wasm
 * heap, and the heap can grow (which detaches every earlier view) whenever memory is allocated, for
 * example by `makeOutput` or by any stock kernel. Take views only after the last allocation.
 */

import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import * as tf from '@tensorflow/tfjs-core';
import { type NumericArray, transposeArray } from './transpose.js';

export type { BackendWasm };

type KernelFunc = tf.KernelConfig['kernelFunc'];

/** Stock wasm kernels that were replaced, saved before replacing them (kernel name -> function). */
const stock = new Map<string, KernelFunc>();

/** Records the stock kernel `name` (once), so that replacements can still call it. */
export function saveStockKernel(name: string, fn: KernelFunc): void {
  if (!stock.has(name)) stock.set(name, fn);
}

/** The stock (original) wasm kernel function `name`. */
export function stockKernel(name: string): KernelFunc {
  const saved = stock.get(name);
  if (saved) return saved;
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel "${name}" is not registered (is @tensorflow/tfjs-backend-wasm loaded?)`);
  return k.kernelFunc;
}

function single(out: tf.TensorInfo | tf.TensorInfo[], name: string): tf.TensorInfo {
  if (Array.isArray(out)) throw new Error(`wasm kernel "${name}" returned several outputs; expected one`);
  return out;
}

/** Dtypes stored as plain typed arrays on the wasm heap. */
export type HeapDType = 'float32' | 'int32' | 'bool';

export function isHeapDType(d: tf.DataType): d is HeapDType {
  return d === 'float32' || d === 'int32' || d === 'bool';
}

export type Pad4 = [[number, number], [number, number], [number, number], [number, number]];

/** Tracks the intermediate tensors of one kernel call and frees them (see {@link withScope}). */
export class WasmScope {
  private readonly temps: tf.TensorInfo[] = [];

  constructor(readonly backend: BackendWasm) {}

  /** Remembers `t` as an intermediate to free at the end. */
  track(t: tf.TensorInfo): tf.TensorInfo {
    this.temps.push(t);
    return t;
  }

  /** Runs the stock wasm kernel `name`. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): tf.TensorInfo {
    return this.track(single(stockKernel(name)({ inputs, attrs, backend: this.backend }), name));
  }

  /** A new heap tensor (uninitialised unless `zero`). */
  alloc(shape: number[], dtype: HeapDType = 'float32', zero = false): tf.TensorInfo {
    const t = this.track(this.backend.makeOutput(shape, dtype));
    if (zero) this.view(t).fill(0);
    return t;
  }

  /** Heap view of `t`. Valid only until the next allocation. */
  view(t: tf.TensorInfo): NumericArray {
    return this.backend.typedArrayFromHeap(t) as NumericArray;
  }

  f32(t: tf.TensorInfo): Float32Array {
    if (t.dtype !== 'float32') throw new Error(`expected a float32 tensor, got ${t.dtype}`);
    return this.backend.typedArrayFromHeap(t) as Float32Array;
  }

  /** Same data, new shape (shares the heap buffer; no copy). */
  reshape(x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
    if (tf.util.sizeFromShape(shape) !== tf.util.sizeFromShape(x.shape)) {
      throw new Error(`reshape: cannot view shape [${x.shape}] as [${shape}]`);
    }
    this.backend.incRef(x.dataId);
    return this.track({ dataId: x.dataId, shape, dtype: x.dtype });
  }

  /** JS transpose (see transpose.ts); much faster than the stock wasm Transpose for most perms. */
  transpose(x: tf.TensorInfo, perm: number[]): tf.TensorInfo {
    if (!isHeapDType(x.dtype)) throw new Error(`transpose: dtype ${x.dtype} is not supported; known: float32, int32, bool`);
    const out = this.alloc(
      perm.map((p) => x.shape[p]),
      x.dtype,
    );
    transposeArray(this.view(x), x.shape, perm, this.view(out));
    return out;
  }

  /** Stock XNNPACK Conv2D (NHWC, HWIO filter) with explicit (possibly asymmetric) padding. */
  conv2d(
    x: tf.TensorInfo,
    filter: tf.TensorInfo,
    strides: [number, number],
    pad: Pad4 | 'valid',
    dilations: [number, number] = [1, 1],
  ): tf.TensorInfo {
    return this.run('Conv2D', { x, filter }, { strides, pad, dataFormat: 'NHWC', dilations });
  }

  /** Stock XNNPACK depthwise conv (filter [kh,kw,C,mult]) with explicit padding. */
  depthwiseConv2d(x: tf.TensorInfo, filter: tf.TensorInfo, pad: Pad4 | 'valid'): tf.TensorInfo {
    return this.run('DepthwiseConv2dNative', { x, filter }, { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1] });
  }

  /** Plain (non-transposed) stock BatchMatMul. */
  matMul(a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
    return this.run('BatchMatMul', { a, b }, { transposeA: false, transposeB: false });
  }

  /**
   * Frees every intermediate except `result`. If `result` is one of the kernel's inputs (not made
   * in this scope) it gets an extra reference, as a kernel output must own its data.
   */
  finish(result: tf.TensorInfo): tf.TensorInfo {
    let owned = false;
    for (const t of this.temps) {
      if (t === result) owned = true;
      else this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
    if (!owned) this.backend.incRef(result.dataId);
    return result;
  }

  /** Frees every intermediate (error path). */
  abort(): void {
    for (const t of this.temps) this.backend.disposeData(t.dataId);
    this.temps.length = 0;
  }
}

/** Runs `body` with a fresh scope; frees all intermediates but the result, also when `body` throws. */
export function withScope(backend: object, body: (s: WasmScope) => tf.TensorInfo): tf.TensorInfo {
  const s = new WasmScope(backend as unknown as BackendWasm);
  let result: tf.TensorInfo;
  try {
    result = body(s);
  } catch (e) {
    s.abort();
    throw e;
  }
  return s.finish(result);
}

/** Explicit padding in the 4-D form the conv kernels accept. */
export function pad4(top: number, bottom: number, left: number, right: number): Pad4 {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}
