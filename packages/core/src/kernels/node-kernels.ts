/**
 * Kernels for the `node` backend (@tensorflow/tfjs-node 4.22, tfjs backend name `tensorflow`).
 *
 * tfjs-node hands tfjs's explicit padding (`[[0, 0], [t, b], [l, r], [0, 0]]`, what PyTorch's
 * `padding=k // 2` becomes) to TensorFlow only in its Conv2D forward; every other convolution and
 * pooling kernel rejects it ("TF Backend supports only 'valid' and 'same' padding while padding was
 * EXPLICIT") or sends TensorFlow an op it refuses (DepthwiseConv2dNative: "Invalid TF_Status: 3").
 * `registerNodeKernels()` wraps each of them: pad first (zeros for convolutions, -inf for max
 * pooling, as PyTorch pads), run the stock kernel with 'valid', and for the input gradients slice the
 * padding off again. Inputs without explicit padding go straight to the stock kernel.
 *
 * | kernel                                    | explicit padding                                  |
 * | ----------------------------------------- | ------------------------------------------------- |
 * | Conv2D, FusedConv2D                       | pad x with 0, valid                               |
 * | DepthwiseConv2dNative, FusedDepthwiseConv2D | pad x with 0, valid                             |
 * | Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter | pad x with 0, valid               |
 * | Conv2DBackpropInput, DepthwiseConv2dNativeBackpropInput   | padded input shape, valid, slice  |
 * | Conv2DBackpropInput 1x1, stride 1, unpadded (all paddings) | MatMul (oneDNN bug, below)       |
 * | MaxPool                                   | pad x with -inf, valid                            |
 * | MaxPoolGrad                               | pad x with -inf, valid, slice                     |
 *
 * One more, for correctness rather than padding: TensorFlow 2.21's oneDNN `Conv2DBackpropInput` is
 * wrong for 1x1 convolutions with >= 512 input channels on small maps (N*H*W <= 128: half the
 * elements off by ~50%, found by the full yolov8n training step against cpu at SPPF's cv2, 512 -> 256
 * at 4x4), and kills the process with SIGFPE at 1024 channels on a 1x1 map. A 1x1, stride-1,
 * unpadded, NHWC input gradient is a plain matrix product, so every such call runs as
 * `dy [N*H*W, Cout] x W[Cin, Cout]^T` (MatMul, exact) instead. `scripts/scan_node_conv.mjs` is the
 * scan that found it.
 *
 * Everything else the project needs is either stock tfjs-node or a backend-independent gradient
 * from ./gradients.ts (BatchMatMul's broadcast reduction, StridedSlice, GatherNd, ...).
 */
import * as tf from '@tensorflow/tfjs-core';

type Explicit = tf.backend_util.ExplicitPadding;
const NODE = 'tensorflow';

function isExplicit(pad: unknown): pad is Explicit {
  return Array.isArray(pad);
}

/** The padded shape of a 4-D NHWC (or NCHW: the pad array follows the data format) shape. */
function paddedShape(shape: readonly number[], pad: Explicit): [number, number, number, number] {
  return shape.map((d, i) => d + pad[i][0] + pad[i][1]) as [number, number, number, number];
}

/** The unpadded region of a padded 4-D tensor. */
function unpad(t: tf.Tensor, pad: Explicit, shape: readonly number[]): tf.Tensor {
  return tf.slice(
    t,
    pad.map((p) => p[0]),
    [...shape],
  );
}

const stock = new Map<string, tf.KernelFunc>();
function callStock(kernelName: string, args: Parameters<tf.KernelFunc>[0]): tf.Tensor {
  const f = stock.get(kernelName);
  if (!f) throw new Error(`node kernels: no stock ${kernelName} kernel was saved`);
  return f(args) as tf.Tensor;
}

/** Forward kernels (and filter gradients): the input named `input` is padded with `fill`. */
function padInput(kernelName: string, input: string, fill: number): tf.KernelFunc {
  return (args) => {
    const pad = (args.attrs as { pad?: unknown }).pad;
    if (!isExplicit(pad)) return callStock(kernelName, args);
    const xp = tf.pad(args.inputs[input] as tf.Tensor, pad, fill);
    try {
      return callStock(kernelName, { ...args, inputs: { ...args.inputs, [input]: xp }, attrs: { ...args.attrs, pad: 'valid' } });
    } finally {
      xp.dispose();
    }
  };
}

/** Input gradients of convolutions: run for the padded input shape, then cut the padding away. */
function padInputShape(kernelName: string): tf.KernelFunc {
  return (args) => {
    const attrs = args.attrs as { pad?: unknown; inputShape: number[] };
    const pad = attrs.pad;
    if (!isExplicit(pad)) return callStock(kernelName, args);
    const full = callStock(kernelName, { ...args, attrs: { ...args.attrs, pad: 'valid', inputShape: paddedShape(attrs.inputShape, pad) } });
    try {
      return unpad(full, pad, attrs.inputShape);
    } finally {
      full.dispose();
    }
  };
}

/** MaxPoolGrad: the window maxima are found again in the -inf padded input; the gradient is sliced back. */
const maxPoolGrad: tf.KernelFunc = (args) => {
  const pad = (args.attrs as { pad?: unknown }).pad;
  if (!isExplicit(pad)) return callStock('MaxPoolGrad', args);
  const x = args.inputs.input as tf.Tensor;
  const xp = tf.pad(x, pad, Number.NEGATIVE_INFINITY);
  let full: tf.Tensor | undefined;
  try {
    full = callStock('MaxPoolGrad', { ...args, inputs: { ...args.inputs, input: xp }, attrs: { ...args.attrs, pad: 'valid' } });
    return unpad(full, pad, x.shape);
  } finally {
    xp.dispose();
    full?.dispose();
  }
};

/** Conv2DBackpropInput: 1x1 stride-1 unpadded NHWC as a matrix product (see above), else padded as the others. */
function conv2dBackpropInput(kernelName: string): tf.KernelFunc {
  const padded = padInputShape(kernelName);
  return (args) => {
    const attrs = args.attrs as { pad?: unknown; strides: number | number[]; dataFormat?: string; inputShape: number[] };
    const filter = args.inputs.filter as tf.Tensor4D;
    const dy = args.inputs.dy as tf.Tensor4D;
    const strides = typeof attrs.strides === 'number' ? [attrs.strides, attrs.strides] : attrs.strides;
    const pad = attrs.pad;
    const unpadded = pad === 'valid' || pad === 0 || (isExplicit(pad) && pad.every((p) => p[0] === 0 && p[1] === 0));
    const nhwc = attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC' || attrs.dataFormat === 'channelsLast';
    if (filter.shape[0] !== 1 || filter.shape[1] !== 1 || strides.some((v) => v !== 1) || !unpadded || !nhwc) return padded(args);
    const [n, h, w, cin] = attrs.inputShape;
    const cout = filter.shape[3];
    return tf.tidy(() =>
      // [N, H, W, Cout] -> [N*H*W, Cout] x ([1, 1, Cin, Cout] -> [Cin, Cout])^T -> [N*H*W, Cin] -> [N, H, W, Cin]
      tf.reshape(tf.matMul(tf.reshape(dy, [n * h * w, cout]), tf.reshape(filter, [cin, cout]), false, true), [n, h, w, cin]),
    );
  };
}

const KERNELS: Record<string, (name: string) => tf.KernelFunc> = {
  Conv2D: (n) => padInput(n, 'x', 0),
  FusedConv2D: (n) => padInput(n, 'x', 0),
  DepthwiseConv2dNative: (n) => padInput(n, 'x', 0),
  FusedDepthwiseConv2D: (n) => padInput(n, 'x', 0),
  Conv2DBackpropFilter: (n) => padInput(n, 'x', 0),
  DepthwiseConv2dNativeBackpropFilter: (n) => padInput(n, 'x', 0),
  Conv2DBackpropInput: (n) => conv2dBackpropInput(n),
  DepthwiseConv2dNativeBackpropInput: (n) => padInputShape(n),
  MaxPool: (n) => padInput(n, 'x', Number.NEGATIVE_INFINITY),
  MaxPoolGrad: () => maxPoolGrad,
};

/** Names of the `tensorflow` kernels that registerNodeKernels wraps. */
export const NODE_KERNELS: readonly string[] = Object.keys(KERNELS);

const registered = new Map<string, tf.KernelFunc>();

/** Wraps tfjs-node's kernels (table above). Call after @tensorflow/tfjs-node is loaded; idempotent. */
export function registerNodeKernels(): void {
  for (const [kernelName, make] of Object.entries(KERNELS)) {
    const existing = tf.getKernel(kernelName, NODE);
    if (!existing) throw new Error(`@tensorflow/tfjs-node has no ${kernelName} kernel to wrap`);
    if (registered.get(kernelName) === existing.kernelFunc) continue;
    stock.set(kernelName, existing.kernelFunc);
    const kernelFunc = make(kernelName);
    registered.set(kernelName, kernelFunc);
    tf.unregisterKernel(kernelName, NODE);
    tf.registerKernel({ kernelName, backendName: NODE, kernelFunc, setupFunc: existing.setupFunc, disposeFunc: existing.disposeFunc });
  }
}
