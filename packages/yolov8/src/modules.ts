/**
 * YOLOv8's building blocks, NHWC inside, Ultralytics 8.0.229 names and semantics outside
 * (`ultralytics/nn/modules/{conv,block,head}.py`): Conv, Bottleneck, C2f, SPPF, Concat, DFL, Detect.
 *
 * Status: same parameters, names and forward as Ultralytics, with these deliberate differences:
 *  - activations are NHWC (Concat's dimension 1 = channels maps to axis 3);
 *  - SiLU is fused into the BatchNorm (`forwardAct`) instead of a shared `nn.SiLU` module; the
 *    summary adds the one shared SiLU back when counting modules as `len(list(model.modules()))`;
 *  - Bottleneck and C2f take an optional inner module (`attn`) placed in the residual branch:
 *    `x + attn(cv2(cv1(x)))` (without the shortcut: `attn(cv2(cv1(x)))`), child name `attn`.
 * Every module can `profile(inputShapes)`: output shape and FLOPs (2 x conv MACs, as Ultralytics'
 * thop count), used by the summary and for the strides.
 */
import { BatchNorm2d, Conv2d, Layer, MaxPool2d, Module, ModuleList, Sequential } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { dist2bbox, makeAnchors } from './loss/index.js';

/** Output shape(s) and FLOPs of a forward pass, for NHWC input shapes. */
export interface Profile {
  out: number[];
  flops: number;
}

export interface Profilable {
  profile(inShapes: number[][]): Profile;
}

export function isProfilable(m: unknown): m is Profilable {
  return typeof (m as Profilable)?.profile === 'function';
}

/** A module with one NHWC tensor in and out. */
export interface TensorLayer extends Module {
  forward(x: tf.Tensor): tf.Tensor;
}

/** Ultralytics' autopad: 'same' padding for stride 1, k // 2 (symmetric) for odd k. */
export function autopad(k: number, p: number | null | undefined, d = 1): number {
  const ke = d > 1 ? d * (k - 1) + 1 : k;
  return p ?? Math.floor(ke / 2);
}

function convProfile(conv: Conv2d, inShape: number[]): Profile {
  const [b, h, w] = inShape;
  const [ho, wo] = conv.outputSize(h, w);
  return { out: [b, ho, wo, conv.outChannels], flops: conv.flops(inShape) };
}

function expectChannels(where: string, x: tf.Tensor, c: number): void {
  if (x.rank !== 4 || x.shape[3] !== c) throw new Error(`${where}: expected an NHWC input with ${c} channels, got shape [${x.shape}]`);
}

/** Conv2d (no bias, symmetric padding) + BatchNorm2d (eps 1e-3, momentum 0.03) + SiLU. Args as Ultralytics: (c1, c2, k=1, s=1, p=None, g=1, d=1, act=True). */
export class Conv extends Layer implements Profilable {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly act: boolean;

  constructor(c1: number, c2: number, k = 1, s = 1, p: number | null = null, g = 1, d = 1, act = true) {
    super();
    this.conv = this.addModule(
      'conv',
      new Conv2d(c1, c2, k, { stride: s, padding: autopad(k, p, d), groups: g, dilation: d, bias: false }),
    );
    this.bn = this.addModule('bn', new BatchNorm2d(c2, { eps: 1e-3, momentum: 0.03 }));
    this.act = act;
  }

  /** BatchNorm folded into the conv (`fuse()`): used in eval mode while set. */
  private fused: { weight: tf.Tensor4D; bias: tf.Tensor1D } | null = null;

  forward(x: tf.Tensor): tf.Tensor {
    if (this.fused && !this.training) {
      const f = this.fused;
      return tf.tidy(() => {
        const z = this.conv.forwardWith(x, f.weight, f.bias);
        return this.act ? tf.mul(z, tf.sigmoid(z)) : z;
      });
    }
    return this.bn.forwardAct(this.conv.forward(x), this.act ? 'silu' : 'none');
  }

  /**
   * Ultralytics' `fuse_conv_and_bn`: folds the BatchNorm's running statistics into the conv,
   * W' = W * s and b' = beta - mean * s per output channel with s = gamma / sqrt(var + eps), so eval mode
   * runs one conv with bias (+ SiLU). Unlike Ultralytics the parameters stay as they are (the folded
   * copies are extra tensors): `unfuse()` drops them; train mode ignores them. Call again after the
   * weights change.
   */
  fuse(): void {
    this.unfuse();
    this.fused = tf.tidy(() => {
      const s = tf.mul(this.bn.weight, tf.rsqrt(tf.add(this.bn.runningVar, this.bn.eps))); // [C_out]
      // HWIO [kh, kw, in/groups, C_out] * [C_out]: per output channel
      const weight = tf.mul(this.conv.weight, s) as tf.Tensor4D;
      let bias = tf.sub(this.bn.bias, tf.mul(this.bn.runningMean, s));
      if (this.conv.bias) bias = tf.add(bias, tf.mul(this.conv.bias, s));
      return { weight: tf.keep(weight), bias: tf.keep(bias) as tf.Tensor1D };
    });
  }

  unfuse(): void {
    if (this.fused) tf.dispose([this.fused.weight, this.fused.bias]);
    this.fused = null;
  }

  get isFused(): boolean {
    return this.fused !== null;
  }

  profile([s]: number[][]): Profile {
    return convProfile(this.conv, s);
  }
}

/**
 * Ultralytics' `model.fuse()` for inference: folds the BatchNorm of every Conv block of `model` (YOLOv8's
 * own and any inside plugins) into its conv. Returns the number of Conv blocks fused and an `undo`
 * that drops the folded copies (the model's parameters are never changed).
 */
export function fuseModel(model: Module): { fused: number; undo: () => void } {
  const convs = model
    .namedModules()
    .map(([, m]) => m)
    .filter((m): m is Conv => m instanceof Conv);
  for (const c of convs) c.fuse();
  return {
    fused: convs.length,
    undo: () => {
      for (const c of convs) c.unfuse();
    },
  };
}

/** FLOPs functions of plugin specs, by module instance (set by the builder). */
export type FlopsFn = (module: Module, inputShapes: number[][]) => number;
const specFlops = new WeakMap<Module, FlopsFn>();

/** Records a spec's `flops` for a module built from it. */
export function setModuleFlops(m: Module, f: FlopsFn): void {
  specFlops.set(m, f);
}

/**
 * Profiles any module: its own profile(), else its spec's flops (output keeps the input's spatial
 * size), else its Conv2d descendants at the input's spatial size.
 */
export function profileModule(m: Module, inShapes: number[][], outChannels?: number): Profile {
  if (isProfilable(m)) return m.profile(inShapes);
  const s = inShapes[0];
  const f = specFlops.get(m);
  if (f) return { out: [s[0], s[1], s[2], outChannels ?? s[3]], flops: f(m, inShapes) };
  let flops = 0;
  for (const [, c] of m.namedModules()) {
    if (c instanceof Conv2d) flops += c.flops([s[0], s[1], s[2], c.inChannels]);
  }
  return { out: [s[0], s[1], s[2], outChannels ?? s[3]], flops };
}

/** Standard bottleneck: cv1 (k[0]) -> cv2 (k[1]) [-> attn], plus the input when shortcut and c1 == c2. */
export class Bottleneck extends Layer implements Profilable {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly attn: TensorLayer | null;
  readonly add: boolean;

  constructor(c1: number, c2: number, shortcut = true, g = 1, k: [number, number] = [3, 3], e = 0.5, attn: TensorLayer | null = null) {
    super();
    const c = Math.trunc(c2 * e);
    this.cv1 = this.addModule('cv1', new Conv(c1, c, k[0], 1));
    this.cv2 = this.addModule('cv2', new Conv(c, c2, k[1], 1, null, g));
    this.attn = attn ? this.addModule('attn', attn) : null;
    this.add = shortcut && c1 === c2;
  }

  forward(x: tf.Tensor): tf.Tensor {
    let y = this.cv2.forward(this.cv1.forward(x));
    if (this.attn) y = this.attn.forward(y);
    return this.add ? tf.add(x, y) : y;
  }

  profile([s]: number[][]): Profile {
    const a = this.cv1.profile([s]);
    const b = this.cv2.profile([a.out]);
    const c = this.attn ? profileModule(this.attn, [b.out]) : { out: b.out, flops: 0 };
    return { out: c.out, flops: a.flops + b.flops + c.flops };
  }
}

/** CSP bottleneck with 2 convolutions: cv1 -> split in 2 -> n Bottlenecks on the last part -> concat all -> cv2. */
export class C2f extends Layer implements Profilable {
  readonly c: number;
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: ModuleList;
  private readonly blocks: Bottleneck[];

  /** `makeAttn` builds the inner module of each Bottleneck (channels = this.c). */
  constructor(c1: number, c2: number, n = 1, shortcut = false, g = 1, e = 0.5, makeAttn?: () => TensorLayer) {
    super();
    this.c = Math.trunc(c2 * e);
    this.cv1 = this.addModule('cv1', new Conv(c1, 2 * this.c, 1, 1));
    this.cv2 = this.addModule('cv2', new Conv((2 + n) * this.c, c2, 1));
    this.blocks = Array.from({ length: n }, () => new Bottleneck(this.c, this.c, shortcut, g, [3, 3], 1.0, makeAttn ? makeAttn() : null));
    this.m = this.addModule('m', new ModuleList(this.blocks));
  }

  forward(x: tf.Tensor): tf.Tensor {
    // [B, H, W, 2c] -> 2 x [B, H, W, c] (chunk along channels). Copied: the array tf.split returns is
    // the op's output list on the gradient tape, and pushing into it would corrupt the gradient.
    const y = [...tf.split(this.cv1.forward(x), 2, 3)];
    for (const b of this.blocks) y.push(b.forward(y[y.length - 1]));
    // (2 + n) x [B, H, W, c] -> [B, H, W, (2 + n) c]
    return this.cv2.forward(tf.concat(y, 3));
  }

  profile([s]: number[][]): Profile {
    const a = this.cv1.profile([s]);
    let flops = a.flops;
    let cur = [a.out[0], a.out[1], a.out[2], this.c];
    for (const b of this.blocks) {
      const p = b.profile([cur]);
      flops += p.flops;
      cur = p.out;
    }
    const o = this.cv2.profile([[a.out[0], a.out[1], a.out[2], (2 + this.blocks.length) * this.c]]);
    return { out: o.out, flops: flops + o.flops };
  }
}

/** Spatial Pyramid Pooling - Fast: cv1, three chained k x k max-pools (stride 1), concat, cv2. */
export class SPPF extends Layer implements Profilable {
  readonly cv1: Conv;
  readonly cv2: Conv;
  readonly m: MaxPool2d;

  constructor(c1: number, c2: number, k = 5) {
    super();
    const c = Math.floor(c1 / 2);
    this.cv1 = this.addModule('cv1', new Conv(c1, c, 1, 1));
    this.cv2 = this.addModule('cv2', new Conv(c * 4, c2, 1, 1));
    this.m = this.addModule('m', new MaxPool2d(k, 1, Math.floor(k / 2)));
  }

  forward(x: tf.Tensor): tf.Tensor {
    const y = [this.cv1.forward(x)];
    for (let i = 0; i < 3; i++) y.push(this.m.forward(y[y.length - 1]));
    // 4 x [B, H, W, c] -> [B, H, W, 4c]
    return this.cv2.forward(tf.concat(y, 3));
  }

  profile([s]: number[][]): Profile {
    const a = this.cv1.profile([s]);
    const o = this.cv2.profile([[a.out[0], a.out[1], a.out[2], a.out[3] * 4]]);
    return { out: o.out, flops: a.flops + o.flops };
  }
}

/** Concatenates a list of tensors along the channel dimension (PyTorch dimension 1 = NHWC axis 3). */
export class Concat extends Module implements Profilable {
  readonly d: number;

  constructor(dimension = 1) {
    super();
    if (dimension !== 1) throw new Error(`Concat: only dimension 1 (channels) is supported, got ${dimension}`);
    this.d = dimension;
  }

  forward(xs: tf.Tensor[]): tf.Tensor {
    const [b, h, w] = xs[0].shape;
    for (const x of xs) {
      if (x.rank !== 4 || x.shape[0] !== b || x.shape[1] !== h || x.shape[2] !== w) {
        throw new Error(`Concat: inputs must share batch and spatial size, got ${xs.map((t) => `[${t.shape}]`).join(', ')}`);
      }
    }
    // k x [B, H, W, Ci] -> [B, H, W, sum Ci]
    return tf.concat(xs, 3);
  }

  profile(inShapes: number[][]): Profile {
    const s = inShapes[0];
    return { out: [s[0], s[1], s[2], inShapes.reduce((a, t) => a + t[3], 0)], flops: 0 };
  }
}

/** The DFL conv: a fixed (not trainable) 1x1 conv c1 -> 1 with weights 0..c1-1. PyTorch name `conv.weight` (1, c1, 1, 1). */
class DflConv extends Module {
  readonly weight: tf.Variable;
  constructor(c1: number) {
    super();
    // [c1] -> HWIO [1, 1, c1, 1]; PyTorch (1, c1, 1, 1) through toTorch [3, 2, 0, 1]
    const w = tf.tidy(() => tf.reshape(tf.range(0, c1, 1, 'float32'), [1, 1, c1, 1]));
    this.weight = this.addParameter('weight', w, { toTorch: [3, 2, 0, 1], trainable: false });
  }
  override get typeName(): string {
    return 'Conv2d';
  }
}

/** Distribution Focal Loss integral: softmax over c1 bins per side, expectation with the fixed conv weights. */
export class DFL extends Module {
  readonly c1: number;
  readonly conv: DflConv;

  constructor(c1 = 16) {
    super();
    this.c1 = c1;
    this.conv = this.addModule('conv', new DflConv(c1));
  }

  /** [B, A, 4*c1] (side-major l, t, r, b) -> [B, A, 4]. */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const [b, a] = x.shape;
      // [B, A, 4*c1] -> [B*A*4, c1]
      const p = tf.softmax(tf.reshape(x, [b * a * 4, this.c1]));
      // [B*A*4, c1] @ [c1, 1] -> [B*A*4, 1] -> [B, A, 4]  (weight HWIO [1, 1, c1, 1] -> [c1, 1])
      return tf.reshape(tf.matMul(p, tf.reshape(this.conv.weight, [this.c1, 1])), [b, a, 4]);
    });
  }
}

export interface DetectOutput {
  /** [B, 4 + nc, A]: boxes xywh in input pixels, then sigmoid class scores (Ultralytics' layout). */
  inference: tf.Tensor3D;
  /** Raw maps per level, NHWC [B, H, W, 4*regMax + nc]. */
  raw: tf.Tensor4D[];
}

/** YOLOv8 detection head: per level a box branch (cv2) and a class branch (cv3), DFL decode in eval mode. */
export class Detect extends Module implements Profilable {
  readonly nc: number;
  readonly nl: number;
  readonly regMax = 16;
  readonly no: number;
  readonly c2: number;
  readonly c3: number;
  readonly ch: number[];
  /** Strides per level; set by the model after its stride probe. */
  stride: number[] = [];
  readonly cv2: ModuleList;
  readonly cv3: ModuleList;
  readonly dfl: DFL;
  private readonly box: Sequential[];
  private readonly cls: Sequential[];

  constructor(nc = 80, ch: number[] = []) {
    super();
    this.nc = nc;
    this.nl = ch.length;
    this.ch = [...ch];
    this.no = nc + this.regMax * 4;
    this.c2 = Math.max(16, Math.floor(ch[0] / 4), this.regMax * 4);
    this.c3 = Math.max(ch[0], Math.min(nc, 100));
    this.box = ch.map(
      (x) => new Sequential(new Conv(x, this.c2, 3), new Conv(this.c2, this.c2, 3), new Conv2d(this.c2, 4 * this.regMax, 1)),
    );
    this.cls = ch.map((x) => new Sequential(new Conv(x, this.c3, 3), new Conv(this.c3, this.c3, 3), new Conv2d(this.c3, nc, 1)));
    this.cv2 = this.addModule('cv2', new ModuleList(this.box));
    this.cv3 = this.addModule('cv3', new ModuleList(this.cls));
    this.dfl = this.addModule('dfl', new DFL(this.regMax));
  }

  /** Ultralytics' bias_init: box bias 1.0, class bias log(5 / nc / (640 / s)^2), per level. */
  biasInit(): void {
    if (this.stride.length !== this.nl)
      throw new Error(`Detect.biasInit: strides ${JSON.stringify(this.stride)} do not match ${this.nl} levels`);
    for (let i = 0; i < this.nl; i++) {
      const bConv = lastConv(this.box[i]);
      const cConv = lastConv(this.cls[i]);
      bConv.bias?.assign(tf.fill([4 * this.regMax], 1.0));
      cConv.bias?.assign(tf.fill([this.nc], Math.log(5 / this.nc / (640 / this.stride[i]) ** 2)));
    }
  }

  /** Raw maps per level: concat(box, cls) on channels -> [B, H, W, 4*regMax + nc]. */
  forwardRaw(xs: tf.Tensor[]): tf.Tensor4D[] {
    if (xs.length !== this.nl) throw new Error(`Detect: expected ${this.nl} inputs, got ${xs.length}`);
    return xs.map((x, i) => {
      expectChannels(`Detect level ${i}`, x, this.ch[i]);
      return tf.concat([this.box[i].forward(x), this.cls[i].forward(x)], 3) as tf.Tensor4D;
    });
  }

  /** Decodes raw maps: [B, 4 + nc, A], boxes xywh in pixels and sigmoid scores. */
  decode(raw: tf.Tensor4D[]): tf.Tensor3D {
    if (this.stride.length !== this.nl) throw new Error('Detect.decode: strides are not set (build the model with buildModel)');
    return tf.tidy(() => {
      const b = raw[0].shape[0];
      // per level [B, H, W, no] -> [B, H*W, no]; concat -> [B, A, no]
      const cat = tf.concat(
        raw.map((r) => tf.reshape(r, [b, r.shape[1] * r.shape[2], this.no])),
        1,
      );
      const a = cat.shape[1];
      const [box, cls] = tf.split(cat, [4 * this.regMax, this.nc], 2);
      const anchors = makeAnchors(raw, this.stride, 0.5);
      // [B, A, 4] ltrb (grid units) -> xywh (grid units) -> pixels ([A, 1] strides broadcast)
      const dbox = tf.mul(dist2bbox(this.dfl.forward(box), anchors.points, true), anchors.strides);
      // [B, A, 4 + nc] -> [B, 4 + nc, A]
      const y = tf.transpose(tf.concat([dbox, tf.sigmoid(cls)], 2), [0, 2, 1]) as tf.Tensor3D;
      if (y.shape[2] !== a) throw new Error('Detect.decode: anchor count mismatch');
      return y;
    });
  }

  /** Train mode: the raw maps. Eval mode: `{ inference, raw }`. */
  forward(xs: tf.Tensor[]): tf.Tensor4D[] | DetectOutput {
    const raw = this.forwardRaw(xs);
    if (this.training) return raw;
    return { inference: this.decode(raw), raw };
  }

  profile(inShapes: number[][]): Profile {
    let flops = 0;
    const outs: number[][] = [];
    inShapes.forEach((s, i) => {
      let hw = s;
      for (const seq of [this.box[i], this.cls[i]]) {
        let cur = s;
        for (const [, m] of seq.namedChildren()) {
          const p = m instanceof Conv ? m.profile([cur]) : convProfile(m as Conv2d, cur);
          flops += p.flops;
          cur = p.out;
        }
        hw = cur;
      }
      outs.push([hw[0], hw[1], hw[2], this.no]);
    });
    // out: one entry per level, flattened as [B, H, W, no] x nl
    return { out: outs.flat(), flops };
  }

  /** Output shapes per level from a profile's flattened `out`. */
  static levelShapes(out: number[]): number[][] {
    const r: number[][] = [];
    for (let i = 0; i < out.length; i += 4) r.push(out.slice(i, i + 4));
    return r;
  }
}

function lastConv(seq: Sequential): Conv2d {
  const kids = seq.namedChildren();
  const c = kids[kids.length - 1][1];
  if (!(c instanceof Conv2d)) throw new Error('Detect: the last module of a branch must be a Conv2d');
  return c;
}
