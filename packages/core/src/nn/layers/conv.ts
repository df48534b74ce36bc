/**
 * Conv2d with PyTorch's semantics (torch.nn.Conv2d) on NHWC activations.
 *
 * - Padding is explicit and symmetric (`padding=1` pads one row/column on every side), never TF's
 *   'same' (which pads a stride-2 3x3 conv (0, 1) where PyTorch pads (1, 1)). `'same'` means PyTorch's
 *   padding='same' (stride 1 only; an even total padding splits left = total/2, right = the rest).
 * - groups: 1 (tf.conv2d), == inChannels (tf.depthwiseConv2d, any depth multiplier), or any divisor
 *   (one conv per group, concatenated).
 * - dilation > 1: tfjs has no gradient for dilated convs, so under a gradient tape a stride-1 dilated
 *   conv runs as space-to-batch (d*d phase images, undilated 'valid' conv, interleave back) and a
 *   strided dilated conv with a zero-inserted kernel; outside a tape the native dilated kernel runs.
 *
 * Weight layout: internal HWIO `[kh, kw, in/groups, out]` for every `groups` (PyTorch
 * `(out, in/groups, kh, kw)`, toTorch [3, 2, 0, 1]). For depthwise convs this is `[kh, kw, 1, C*mult]`,
 * reshaped (free) to tfjs's `[kh, kw, C, mult]` in forward; PyTorch's out channel `c*mult + m` is
 * tfjs's depthwise output channel `c*mult + m`, so the order matches.
 * Init as PyTorch: weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in/groups*kh*kw.
 * Status: complete for 2-D convs (no padding_mode other than zeros, no transposed conv).
 */
import * as tf from '@tensorflow/tfjs-core';
import { kaimingUniform } from '../../rng.js';
import { Layer } from '../module.js';

export type Pair = number | [number, number];
export type Conv2dPadding = number | [number, number] | 'same' | 'valid';

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Conv2dPadding;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}

/** Explicit per-side padding [top, bottom, left, right]. */
export type Pads4 = [number, number, number, number];

export function toPair(v: Pair, what: string): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!Array.isArray(p) || p.length !== 2 || p.some((n) => !Number.isInteger(n))) {
    throw new Error(`${what} must be an integer or a pair of integers, got ${JSON.stringify(v)}`);
  }
  return p;
}

function isRecording(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/**
 * A 2-D convolution of an NHWC tensor with an HWIO kernel (`[kh, kw, in/groups, out]`), PyTorch
 * semantics (explicit pads, groups, dilation), differentiable in x and w (and bias) on every path.
 */
export function conv2dNHWC(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor1D | null,
  stride: [number, number],
  pads: Pads4,
  dilation: [number, number],
  groups: number,
): tf.Tensor4D {
  const cinG = w.shape[2];
  const cin = x.shape[3];
  if (cin !== cinG * groups) {
    throw new Error(`conv2d: input has ${cin} channels, the weight expects ${cinG * groups} (${cinG} x groups ${groups})`);
  }
  const [dh, dw] = dilation;
  if (dh === 1 && dw === 1) return convDirect(x, w, bias, stride, pads, [1, 1], groups);
  if (!isRecording() && stride[0] === 1 && stride[1] === 1) return convDirect(x, w, bias, stride, pads, dilation, groups);
  if (stride[0] === 1 && stride[1] === 1) return convSpaceToBatch(x, w, bias, pads, dilation, groups);
  // Strided and dilated: a zero-inserted kernel of size (k-1)*d+1.
  return convDirect(x, dilateKernel(w, dilation), bias, stride, pads, [1, 1], groups);
}

function explicit(p: Pads4): tf.backend_util.ExplicitPadding {
  return [
    [0, 0],
    [p[0], p[1]],
    [p[2], p[3]],
    [0, 0],
  ];
}

/** Undilated or native-dilated conv with explicit padding: conv2d, depthwise, or per-group. */
function convDirect(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor1D | null,
  stride: [number, number],
  pads: Pads4,
  dilation: [number, number],
  groups: number,
): tf.Tensor4D {
  const [kh, kw, cinG, cout] = w.shape;
  const cin = x.shape[3];
  const pad = pads.every((p) => p === 0) ? 'valid' : explicit(pads);
  if (groups === 1) {
    return tf.fused.conv2d({ x, filter: w, strides: stride, pad, dataFormat: 'NHWC', dilations: dilation, bias: bias ?? undefined });
  }
  if (groups === cin && cinG === 1) {
    const mult = cout / cin;
    const wd = tf.reshape(w, [kh, kw, cin, mult]); // [kh, kw, 1, C*mult] -> [kh, kw, C, mult]
    return tf.fused.depthwiseConv2d({
      x,
      filter: wd as tf.Tensor4D,
      strides: stride,
      // The fused op's declared type omits explicit padding, which it supports (conv_util).
      pad: pad as 'valid',
      dataFormat: 'NHWC',
      dilations: dilation,
      bias: bias ?? undefined,
    });
  }
  // Copy the split arrays: the tape owns the arrays tf.split returns.
  const xs = [...tf.split(x, groups, 3)];
  const ws = [...tf.split(w, groups, 3)];
  const ys = xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, ws[g] as tf.Tensor4D, stride, pad, 'NHWC', dilation));
  const y = tf.concat(ys, 3) as tf.Tensor4D; // groups x [B, Ho, Wo, out/groups] -> [B, Ho, Wo, out]
  return bias ? tf.add(y, bias) : y;
}

/**
 * Kernel with d-1 zeros between taps: [kh, kw, I, O] -> [(kh-1)*dh+1, (kw-1)*dw+1, I, O].
 * Only rank <= 4 ops (pad/slice/transpose/reshape), all with gradients on every backend.
 */
export function dilateKernel(w: tf.Tensor4D, dilation: [number, number]): tf.Tensor4D {
  const [kh, kw, ci, co] = w.shape;
  const [dh, dw] = dilation;
  return tf.tidy(() => {
    let t: tf.Tensor = w;
    if (dh > 1) {
      t = tf.reshape(t, [kh, 1, kw * ci * co]); // [kh, kw, I, O] -> [kh, 1, kw*I*O]
      t = tf.pad(t, [
        [0, 0],
        [0, dh - 1],
        [0, 0],
      ]); // -> [kh, dh, kw*I*O]
      t = tf.reshape(t, [kh * dh, kw * ci * co]); // -> [kh*dh, kw*I*O]
      t = tf.slice(t, [0, 0], [(kh - 1) * dh + 1, kw * ci * co]); // -> [KH, kw*I*O]
    }
    const KH = (kh - 1) * dh + 1;
    if (dw > 1) {
      t = tf.reshape(t, [KH, kw, ci * co]); // -> [KH, kw, I*O]
      t = tf.transpose(t, [1, 0, 2]); // -> [kw, KH, I*O]
      t = tf.reshape(t, [kw, 1, KH * ci * co]); // -> [kw, 1, KH*I*O]
      t = tf.pad(t, [
        [0, 0],
        [0, dw - 1],
        [0, 0],
      ]); // -> [kw, dw, KH*I*O]
      t = tf.reshape(t, [kw * dw, KH * ci * co]); // -> [kw*dw, KH*I*O]
      const KW = (kw - 1) * dw + 1;
      t = tf.slice(t, [0, 0], [KW, KH * ci * co]); // -> [KW, KH*I*O]
      t = tf.reshape(t, [KW, KH, ci * co]); // -> [KW, KH, I*O]
      t = tf.transpose(t, [1, 0, 2]); // -> [KH, KW, I*O]
      return tf.reshape(t, [KH, KW, ci, co]) as tf.Tensor4D; // -> [KH, KW, I, O]
    }
    return tf.reshape(t, [KH, kw, ci, co]) as tf.Tensor4D;
  });
}

/**
 * Stride-1 dilated conv as space-to-batch: out[i] = sum_k xpad[i + d*k]; with i = d*q + r this is an
 * undilated conv over the phase image s_r[j] = xpad[d*j + r]. Only rank-4 transposes.
 */
function convSpaceToBatch(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  bias: tf.Tensor1D | null,
  pads: Pads4,
  dilation: [number, number],
  groups: number,
): tf.Tensor4D {
  const [B, H, W, C] = x.shape;
  const [kh, kw, , O] = w.shape;
  const [dh, dw] = dilation;
  const Hp = H + pads[0] + pads[1];
  const Wp = W + pads[2] + pads[3];
  const Ho = Hp - dh * (kh - 1);
  const Wo = Wp - dw * (kw - 1);
  if (Ho < 1 || Wo < 1) {
    throw new Error(`conv2d: input [${x.shape}] is too small for a dilated ${kh}x${kw} kernel (dilation ${dilation})`);
  }
  const Hq = Math.ceil(Hp / dh);
  const Wq = Math.ceil(Wp / dw);
  const xp = tf.pad(x, [
    [0, 0],
    [pads[0], pads[1] + Hq * dh - Hp],
    [pads[2], pads[3] + Wq * dw - Wp],
    [0, 0],
  ]); // [B, Hq*dh, Wq*dw, C]
  let t: tf.Tensor = tf.reshape(xp, [B, Hq, dh, Wq * dw * C]); // -> [B, Hq, rh, Wq*dw*C]
  t = tf.transpose(t, [2, 0, 1, 3]); // -> [rh, B, Hq, Wq*dw*C]
  t = tf.reshape(t, [dh * B * Hq, Wq, dw, C]); // -> [(rh,b,qh), Wq, rw, C]
  t = tf.transpose(t, [2, 0, 1, 3]); // -> [rw, (rh,b,qh), Wq, C]
  t = tf.reshape(t, [dw * dh * B, Hq, Wq, C]); // -> [(rw,rh,b), Hq, Wq, C]
  const yq = convDirect(t as tf.Tensor4D, w, null, [1, 1], [0, 0, 0, 0], [1, 1], groups);
  const Hoq = Hq - (kh - 1);
  const Woq = Wq - (kw - 1);
  let u: tf.Tensor = tf.reshape(yq, [dw, dh * B * Hoq, Woq, O]); // [(rw,rh,b), Hoq, Woq, O] -> [rw, (rh,b,qh), Woq, O]
  u = tf.transpose(u, [1, 2, 0, 3]); // -> [(rh,b,qh), Woq, rw, O]
  u = tf.reshape(u, [dh, B * Hoq, Woq * dw * O]); // -> [rh, (b,qh), Woq*rw*O]
  u = tf.transpose(u, [1, 0, 2]); // -> [(b,qh), rh, Woq*rw*O]
  u = tf.reshape(u, [B, Hoq * dh, Woq * dw, O]); // -> [B, qh*dh+rh, qw*dw+rw, O]
  let y = tf.slice(u, [0, 0, 0, 0], [B, Ho, Wo, O]) as tf.Tensor4D; // crop the phase padding
  if (bias) y = tf.add(y, bias);
  return y;
}

/** Resolves PyTorch padding to explicit [top, bottom, left, right]. */
export function resolvePadding(
  padding: Conv2dPadding,
  kernel: [number, number],
  stride: [number, number],
  dilation: [number, number],
  where = 'Conv2d',
): Pads4 {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) {
      throw new Error(`${where}: padding='same' is only supported for stride 1 (as in PyTorch), got stride ${stride}; use a number`);
    }
    const th = dilation[0] * (kernel[0] - 1);
    const tw = dilation[1] * (kernel[1] - 1);
    return [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  }
  if (typeof padding === 'string') {
    throw new Error(`${where}: unknown padding "${padding}"; known: a number, [ph, pw], 'same', 'valid'`);
  }
  const [ph, pw] = toPair(padding, `${where}: padding`);
  if (ph < 0 || pw < 0) throw new Error(`${where}: padding must be >= 0, got ${padding}`);
  return [ph, ph, pw, pw];
}

export class Conv2d extends Layer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: Pads4;
  readonly dilation: [number, number];
  readonly groups: number;
  /** HWIO [kh, kw, in/groups, out]. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(inChannels: number, outChannels: number, kernelSize: Pair, opts: Conv2dOptions = {}) {
    super();
    const groups = opts.groups ?? 1;
    for (const [n, v] of [
      ['inChannels', inChannels],
      ['outChannels', outChannels],
      ['groups', groups],
    ] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`Conv2d: ${n} must be a positive integer, got ${v}`);
    }
    if (inChannels % groups || outChannels % groups) {
      throw new Error(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.groups = groups;
    this.kernelSize = toPair(kernelSize, 'Conv2d: kernelSize');
    this.stride = toPair(opts.stride ?? 1, 'Conv2d: stride');
    this.dilation = toPair(opts.dilation ?? 1, 'Conv2d: dilation');
    for (const [n, v] of [
      ['kernelSize', this.kernelSize],
      ['stride', this.stride],
      ['dilation', this.dilation],
    ] as const) {
      if (v[0] < 1 || v[1] < 1) throw new Error(`Conv2d: ${n} must be >= 1, got ${v}`);
    }
    this.padding = resolvePadding(opts.padding ?? 0, this.kernelSize, this.stride, this.dilation);
    const [kh, kw] = this.kernelSize;
    const fanIn = (inChannels / groups) * kh * kw;
    this.weight = this.addParameter('weight', kaimingUniform([kh, kw, inChannels / groups, outChannels], fanIn), {
      toTorch: [3, 2, 0, 1],
    });
    this.bias = opts.bias === false ? null : this.addParameter('bias', kaimingUniform([outChannels], fanIn));
  }

  /** Output spatial size for an input of height h and width w. */
  outputSize(h: number, w: number): [number, number] {
    const [kh, kw] = this.kernelSize;
    const [dh, dw] = this.dilation;
    const [sh, sw] = this.stride;
    const [pt, pb, pl, pr] = this.padding;
    return [Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1, Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1];
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    return this.forwardWith(x, this.weight as tf.Tensor4D, this.bias as tf.Tensor1D | null);
  }

  /**
   * This conv (stride, padding, dilation, groups) with another weight (HWIO, this conv's shape) and bias:
   * used to run BatchNorm-folded weights (YOLOv8's `fuse()`) without replacing the parameters.
   */
  forwardWith(x: tf.Tensor, weight: tf.Tensor4D, bias: tf.Tensor1D | null): tf.Tensor4D {
    if (x.rank !== 4 || x.shape[3] !== this.inChannels) {
      throw new Error(`Conv2d: expected an NHWC input with ${this.inChannels} channels, got shape [${x.shape}]`);
    }
    if (weight.shape.some((d, i) => d !== this.weight.shape[i]) || (bias && bias.shape[0] !== this.outChannels)) {
      throw new Error(
        `Conv2d.forwardWith: weight [${weight.shape}] / bias [${bias?.shape}] must be [${this.weight.shape}] / [${this.outChannels}]`,
      );
    }
    const [, h, w] = x.shape as number[];
    const [ho, wo] = this.outputSize(h, w);
    if (ho < 1 || wo < 1) throw new Error(`Conv2d: input [${x.shape}] is too small for this conv (output ${ho}x${wo})`);
    return tf.tidy(() => conv2dNHWC(x as tf.Tensor4D, weight, bias, this.stride, this.padding, this.dilation, this.groups));
  }

  /** 2 x MACs of one forward pass for an NHWC input shape: numel(out) * in/groups * kh * kw * 2 (bias not counted). */
  flops(inputShape: number[]): number {
    const [b, h, w] = inputShape as [number, number, number];
    const [ho, wo] = this.outputSize(h, w);
    return 2 * b * ho * wo * this.outChannels * (this.inChannels / this.groups) * this.kernelSize[0] * this.kernelSize[1];
  }
}
