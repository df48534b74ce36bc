/**
 * Training kernels for @tensorflow/tfjs-backend-wasm 4.22 and gradients missing from tfjs-core.
 *
 * Stock tfjs-backend-wasm cannot train a conv net: Conv2DBackpropFilter, the depthwise backprops and
 * UnsortedSegmentSum are missing, MaxPoolGrad is wrong (all-negative windows), and the stock
 * Conv2DBackpropInput, transposed BatchMatMul and Transpose are 10x slower than they need to be.
 * `registerWasmTrainingKernels()` adds or replaces (for the `wasm` backend only):
 *
 * | kernel                              | stock 4.22    | here                                        |
 * | ----------------------------------- | ------------- | ------------------------------------------- |
 * | Conv2DBackpropFilter                | missing       | GEMM (1x1) / conv of transposed tensors     |
 * | Conv2DBackpropInput                 | naive loop    | XNNPACK conv, phase split for stride > 1    |
 * | DepthwiseConv2dNativeBackpropInput  | missing       | XNNPACK depthwise conv of dilated dy        |
 * | DepthwiseConv2dNativeBackpropFilter | missing       | JS loop                                     |
 * | UnsortedSegmentSum                  | missing       | JS loop (gradient of tf.gather)             |
 * | MaxPoolGrad                         | wrong         | JS loop                                     |
 * | BatchMatMul                         | slow transp.  | explicit transpose + stock plain matmul     |
 * | Transpose                           | slow          | JS tiled transpose                          |
 *
 * Known gaps (documented, not provided): Einsum (no wasm kernel, no core gradient: use matMul),
 * dilated conv gradients (tfjs-core rejects them on every backend), _FusedMatMul with transposes
 * (not used by the project; tf.fused.matMul is not used in training code).
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import { batchMatMul, transpose } from './batch-matmul.js';
import { conv2DBackpropFilter, conv2DBackpropInput } from './conv2d-grad.js';
import { depthwiseConv2dNativeBackpropFilter, depthwiseConv2dNativeBackpropInput } from './depthwise-grad.js';
import { maxPoolGrad } from './max-pool-grad.js';
import { unsortedSegmentSum } from './unsorted-segment-sum.js';
import { saveStockKernel } from './wasm-scope.js';

export { ADDED_GRADIENTS, registerMissingGradients } from './gradients.js';
export { NODE_KERNELS, registerNodeKernels } from './node-kernels.js';
export { mergeDims, registerWebgpuKernels } from './webgpu-rank.js';

const KERNELS: Record<string, tf.KernelFunc> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  DepthwiseConv2dNativeBackpropInput: depthwiseConv2dNativeBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: depthwiseConv2dNativeBackpropFilter,
  UnsortedSegmentSum: unsortedSegmentSum,
  MaxPoolGrad: maxPoolGrad,
  BatchMatMul: batchMatMul,
  Transpose: transpose,
};

/** Names of the wasm kernels that registerWasmTrainingKernels adds or replaces. */
export const WASM_TRAINING_KERNELS: readonly string[] = Object.keys(KERNELS);

/**
 * Adds/replaces the wasm training kernels (table above). Idempotent; safe before or after
 * `tf.setBackend('wasm')`. It loads @tensorflow/tfjs-backend-wasm itself if needed, so that the
 * package's own registrations can never overwrite these later.
 */
export function registerWasmTrainingKernels(): void {
  createRequire(import.meta.url)('@tensorflow/tfjs-backend-wasm');
  for (const [kernelName, kernelFunc] of Object.entries(KERNELS)) {
    const existing = tf.getKernel(kernelName, 'wasm');
    if (existing?.kernelFunc === kernelFunc) continue;
    if (existing) {
      // keep the stock setupFunc: it binds the C++ function that the stock kernelFunc calls
      saveStockKernel(kernelName, existing.kernelFunc);
      tf.unregisterKernel(kernelName, 'wasm');
    }
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc,
      setupFunc: existing?.setupFunc,
      disposeFunc: existing?.disposeFunc,
    });
  }
}
