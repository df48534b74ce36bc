/**
 * Convolution kernel benchmark on the current tfjs backend: forward (`Conv2D`), input gradient
 * (`Conv2DBackpropInput`) and weight gradient (`Conv2DBackpropFilter`) on YOLOv8n-typical shapes at
 * batch 8. GFLOP/s = 2 * MACs / median time over several runs after warm-up. Plain function (no
 * CLI, no printing); `pnpm bench` formats the rows. Call `initBackend(...)` first.
 */
import * as tf from '@tensorflow/tfjs-core';

export type ConvKernel = 'Conv2D' | 'Conv2DBackpropInput' | 'Conv2DBackpropFilter';
export const CONV_KERNELS: readonly ConvKernel[] = ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];

export interface ConvShape {
  /** Input [N, H, W, Ci]. */
  x: [number, number, number, number];
  k: number;
  stride: number;
  co: number;
}

/** YOLOv8n layers at 128 px (batch 8); padding is PyTorch's k // 2 on every side. */
export const YOLO_CONV_SHAPES: readonly ConvShape[] = [
  { x: [8, 128, 128, 3], k: 3, stride: 2, co: 16 },
  { x: [8, 64, 64, 16], k: 3, stride: 2, co: 32 },
  { x: [8, 32, 32, 16], k: 3, stride: 1, co: 16 },
  { x: [8, 32, 32, 32], k: 3, stride: 2, co: 64 },
  { x: [8, 16, 16, 32], k: 3, stride: 1, co: 32 },
  { x: [8, 16, 16, 64], k: 3, stride: 1, co: 64 },
  { x: [8, 8, 8, 128], k: 3, stride: 1, co: 128 },
  { x: [8, 4, 4, 256], k: 1, stride: 1, co: 256 },
  { x: [8, 32, 32, 32], k: 1, stride: 1, co: 32 },
  { x: [8, 16, 16, 128], k: 1, stride: 1, co: 128 },
  { x: [8, 8, 8, 384], k: 1, stride: 1, co: 128 },
];

export interface BenchConvOptions {
  shapes?: readonly ConvShape[];
  kernels?: readonly ConvKernel[];
  /** Untimed runs first (default 2). */
  warmup?: number;
  /** Timed runs; the median is reported (default 5). */
  runs?: number;
}

export interface Row {
  kernel: ConvKernel;
  /** e.g. "x[8,64,64,16] k3 s2 ->32", or "aggregate" for the per-kernel total. */
  shape: string;
  /** 2 * MACs of one call (for the aggregate: of all shapes). */
  gflop: number;
  /** Median milliseconds per call (aggregate: sum of the medians). */
  ms: number;
  gflops: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function validate(shape: ConvShape): void {
  const ok =
    shape.x.length === 4 &&
    shape.x.every((d) => Number.isInteger(d) && d > 0) &&
    [shape.k, shape.stride, shape.co].every((d) => Number.isInteger(d) && d > 0);
  if (!ok) throw new Error(`benchConvKernels: bad shape ${JSON.stringify(shape)}`);
}

export async function benchConvKernels(opts: BenchConvOptions = {}): Promise<Row[]> {
  const shapes = opts.shapes ?? YOLO_CONV_SHAPES;
  const kernels = opts.kernels ?? CONV_KERNELS;
  const warmup = opts.warmup ?? 2;
  const runs = opts.runs ?? 5;
  for (const k of kernels) {
    if (!CONV_KERNELS.includes(k)) throw new Error(`benchConvKernels: unknown kernel "${k}"; known: ${CONV_KERNELS.join(', ')}`);
  }
  if (runs < 1 || warmup < 0) throw new Error(`benchConvKernels: runs must be >= 1 and warmup >= 0 (got ${runs}, ${warmup})`);
  shapes.forEach(validate);

  const rows: Row[] = [];
  for (const sh of shapes) {
    const [N, , , Ci] = sh.x;
    const p = Math.floor(sh.k / 2);
    const pad: tf.backend_util.ExplicitPadding = [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ];
    const filterShape: [number, number, number, number] = [sh.k, sh.k, Ci, sh.co];
    const info = tf.backend_util.computeConv2DInfo(sh.x, filterShape, sh.stride, 1, pad);
    const dyShape = [N, info.outHeight, info.outWidth, sh.co];
    const gflop = (2 * N * info.outHeight * info.outWidth * sh.co * sh.k * sh.k * Ci) / 1e9;
    const x = tf.randomNormal(sh.x);
    const w = tf.randomNormal(filterShape);
    const dy = tf.randomNormal(dyShape);
    const common = { strides: sh.stride, pad, dataFormat: 'NHWC', dilations: 1 };
    const calls: Record<ConvKernel, () => tf.Tensor> = {
      Conv2D: () => tf.engine().runKernel('Conv2D', { x, filter: w }, common) as tf.Tensor,
      Conv2DBackpropInput: () =>
        tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { ...common, inputShape: sh.x }) as tf.Tensor,
      Conv2DBackpropFilter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { ...common, filterShape }) as tf.Tensor,
    };
    try {
      for (const kernel of kernels) {
        // The Node backends (wasm, cpu, tensorflow) compute inside runKernel, so the call is timed
        // alone (reading the result back would add a copy of the output to the time).
        const once = async (): Promise<number> => {
          const t0 = performance.now();
          const out = calls[kernel]();
          const dt = performance.now() - t0;
          await out.data();
          out.dispose();
          return dt;
        };
        for (let i = 0; i < warmup; i++) await once();
        const times: number[] = [];
        for (let i = 0; i < runs; i++) times.push(await once());
        const ms = median(times);
        rows.push({ kernel, shape: `x[${sh.x}] k${sh.k} s${sh.stride} ->${sh.co}`, gflop, ms, gflops: gflop / (ms / 1e3) });
      }
    } finally {
      x.dispose();
      w.dispose();
      dy.dispose();
    }
  }
  for (const kernel of kernels) {
    const mine = rows.filter((r) => r.kernel === kernel);
    const gflop = mine.reduce((a, r) => a + r.gflop, 0);
    const ms = mine.reduce((a, r) => a + r.ms, 0);
    rows.push({ kernel, shape: 'aggregate', gflop, ms, gflops: gflop / (ms / 1e3) });
  }
  return rows;
}
