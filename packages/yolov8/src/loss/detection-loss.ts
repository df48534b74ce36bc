/**
 * YOLOv8 detection loss: Ultralytics 8.0.229 `ultralytics/utils/loss.py` v8DetectionLoss + BboxLoss
 * (CIoU + Distribution Focal Loss, arXiv 2006.04388) with the TaskAlignedAssigner (arXiv 2108.07755).
 *
 * Inputs are the raw Detect maps per level, NHWC [B, H, W, 4*regMax + nc] (box channels side-major
 * l, t, r, b with regMax bins each, then the class logits). One compute():
 *  - downloads each level once; in plain JS (no gradient in the reference either): target
 *    preprocessing (normalised xywh -> padded xyxy pixels), DFL decode + sigmoid of the anchors inside
 *    some GT only, the assigner (assigner.ts), and the box/DFL targets of the foreground anchors;
 *  - differentiable, per level (no concat, no split): BCE-with-logits over all anchors and classes
 *    against the target scores (tf ops softplus(x) - x*t with the closed-form gradient
 *    sigmoid(x) - t; on the cpu backend one fused JS kernel, as its tf kernels are JS loops and its
 *    channel slice a slow generic one); the box logits of the foreground anchors (a gather whose
 *    forward copies the downloaded values and whose gradient is a scatter), then in tf ops with
 *    autograd the DFL expectation, the CIoU box loss and the DFL, each weighted by
 *    target_scores.sum(-1); all three divided by max(target_scores.sum(), 1), times their gains, and
 *    loss = sum * batch.
 * Status: matches the reference on all golden scenarios (loss.golden.test.ts); the only deviation is in
 * the assigner's topk tie case (see assigner.ts), which leaves the loss unchanged.
 */
import { assertSyncReadable } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { type AnchorArrays, makeAnchorArrays } from './anchors.js';
import { type AssignerOutput, TaskAlignedAssigner } from './assigner.js';
import { bboxCiou } from './iou.js';

const f = Math.fround;

export interface DetectionLossOptions {
  /** Number of classes. */
  nc: number;
  /** DFL bins per side (16). */
  regMax?: number;
  /** Stride of each level, in level order (8, 16, 32). */
  strides?: number[];
  /** Gains (Ultralytics hyp box, cls, dfl). */
  box?: number;
  cls?: number;
  dfl?: number;
  /** Assigner settings (Ultralytics v8DetectionLoss: topk 10, alpha 0.5, beta 6). */
  topk?: number;
  alpha?: number;
  beta?: number;
}

/** Ground truth for a batch, Ultralytics style: one row per object. */
export interface DetectionTargets {
  /** Image index of each object, 0..B-1. */
  batchIdx: Int32Array | ArrayLike<number>;
  /** Class of each object, 0..nc-1. */
  cls: ArrayLike<number>;
  /** Normalised (cx, cy, w, h) per object: one 4-array per row, or flat [N*4]. */
  bboxes: ReadonlyArray<ArrayLike<number>> | Float32Array;
}

export interface DetectionLossResult {
  /** sum(box, cls, dfl) * batch: differentiable with respect to the feature maps. */
  loss: tf.Scalar;
  /** [box, cls, dfl] after the gains, not multiplied by the batch size (detached numbers). */
  items: [number, number, number];
  /** max(target_scores.sum(), 1), the divisor of all three terms. */
  targetScoresSum: number;
  /** The assigner's output (pixels) for inspection. */
  assignment: AssignerOutput;
}

/** Padded GT tensors as Ultralytics' v8DetectionLoss.preprocess builds them. */
export interface PaddedTargets {
  /** Largest number of objects in one image (0 when there are none at all). */
  maxBoxes: number;
  /** [B, M] classes (0 in padding slots). */
  gtLabels: Int32Array;
  /** [B, M, 4] xyxy pixels (float32 arithmetic of the reference; zeros in padding slots). */
  gtBboxes: Float32Array;
  /** [B, M] 1 where sum(xyxy) > 0, the reference's test for a real box. */
  maskGt: Uint8Array;
}

/**
 * Targets (normalised xywh rows) -> per-image padded xyxy pixel boxes, rows kept in input order within
 * each image. `imgsz` is [H, W] in pixels.
 */
export function preprocessTargets(targets: DetectionTargets, batch: number, imgsz: readonly [number, number], nc: number): PaddedTargets {
  const { batchIdx, cls, bboxes } = targets;
  const n = batchIdx.length;
  if (cls.length !== n) throw new Error(`DetectionLoss: targets.cls has ${cls.length} rows but targets.batchIdx has ${n}`);
  const flat = bboxes instanceof Float32Array;
  const nBoxes = flat ? bboxes.length / 4 : bboxes.length;
  if (nBoxes !== n) {
    throw new Error(`DetectionLoss: targets.bboxes has ${nBoxes} rows (${flat ? 'flat [N*4]' : 'arrays'}) but targets.batchIdx has ${n}`);
  }
  const box = (i: number, k: number): number =>
    flat ? (bboxes as Float32Array)[4 * i + k] : (bboxes as ReadonlyArray<ArrayLike<number>>)[i][k];
  const counts = new Int32Array(batch);
  for (let i = 0; i < n; i++) {
    const b = batchIdx[i];
    if (!Number.isInteger(b) || b < 0 || b >= batch) {
      throw new Error(`DetectionLoss: targets.batchIdx[${i}] = ${b}; image indices are integers 0..${batch - 1}`);
    }
    const c = cls[i];
    if (!Number.isInteger(c) || c < 0 || c >= nc)
      throw new Error(`DetectionLoss: targets.cls[${i}] = ${c}; classes are integers 0..${nc - 1}`);
    if (!flat && (bboxes as ReadonlyArray<ArrayLike<number>>)[i].length !== 4) {
      throw new Error(
        `DetectionLoss: targets.bboxes[${i}] has ${(bboxes as ReadonlyArray<ArrayLike<number>>)[i].length} values; want 4 (cx, cy, w, h normalised)`,
      );
    }
    for (let k = 0; k < 4; k++) {
      if (!Number.isFinite(box(i, k))) throw new Error(`DetectionLoss: targets.bboxes[${i}] has a non-finite value ${box(i, k)}`);
    }
    counts[b]++;
  }
  let M = 0;
  for (let b = 0; b < batch; b++) M = Math.max(M, counts[b]);
  const gtLabels = new Int32Array(batch * M);
  const gtBboxes = new Float32Array(batch * M * 4);
  const maskGt = new Uint8Array(batch * M);
  const fill = new Int32Array(batch);
  const [H, W] = imgsz;
  const sw = f(W);
  const sh = f(H);
  for (let i = 0; i < n; i++) {
    const b = batchIdx[i];
    const slot = b * M + fill[b]++;
    gtLabels[slot] = cls[i];
    // xywh * [W, H, W, H], then xywh -> xyxy, float32 like the reference.
    const x = f(f(box(i, 0)) * sw);
    const y = f(f(box(i, 1)) * sh);
    const dw = f(f(f(box(i, 2)) * sw) / 2);
    const dh = f(f(f(box(i, 3)) * sh) / 2);
    const o = slot * 4;
    gtBboxes[o] = f(x - dw);
    gtBboxes[o + 1] = f(y - dh);
    gtBboxes[o + 2] = f(x + dw);
    gtBboxes[o + 3] = f(y + dh);
    maskGt[slot] = f(f(f(gtBboxes[o] + gtBboxes[o + 1]) + gtBboxes[o + 2]) + gtBboxes[o + 3]) > 0 ? 1 : 0;
  }
  return { maxBoxes: M, gtLabels, gtBboxes, maskGt };
}

/**
 * Decodes one anchor's raw row in plain JS (as the reference does in float32): DFL expectation of the
 * four sides, xyxy in grid units, times the stride -> pixels into boxOut[bo..bo+3]; sigmoid of the nc
 * logits into scoreOut[so..so+nc-1].
 */
export function decodeAnchorInto(
  raw: ArrayLike<number>,
  rowOffset: number,
  regMax: number,
  nc: number,
  ax: number,
  ay: number,
  stride: number,
  boxOut: Float32Array,
  bo: number,
  scoreOut: Float32Array,
  so: number,
): void {
  const d = [0, 0, 0, 0];
  for (let side = 0; side < 4; side++) {
    const base = rowOffset + side * regMax;
    let mx = -Infinity;
    for (let j = 0; j < regMax; j++) mx = Math.max(mx, raw[base + j]);
    let se = 0;
    let sd = 0;
    for (let j = 0; j < regMax; j++) {
      const e = Math.exp(raw[base + j] - mx);
      se += e;
      sd += e * j;
    }
    d[side] = f(sd / se);
  }
  boxOut[bo] = f(f(ax - d[0]) * stride);
  boxOut[bo + 1] = f(f(ay - d[1]) * stride);
  boxOut[bo + 2] = f(f(ax + d[2]) * stride);
  boxOut[bo + 3] = f(f(ay + d[3]) * stride);
  const lo = rowOffset + 4 * regMax;
  for (let c = 0; c < nc; c++) scoreOut[so + c] = f(1 / (1 + Math.exp(-raw[lo + c])));
}

/**
 * Sum of BCE-with-logits(x, t) over all entries, as tf ops: softplus(x) - x*t (tf's softplus is the
 * stable form); the gradient is the closed form dy * (sigmoid(x) - t). `targets` has x's size.
 */
function bceWithLogitsSum(x: tf.Tensor, targets: Float32Array): tf.Scalar {
  const op = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    const t = tf.tensor(targets, xx.shape, 'float32');
    save([xx, t]);
    const value = tf.sum(tf.sub(tf.softplus(xx), tf.mul(xx, t)));
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(tf.sub(tf.sigmoid(saved[0]), saved[1]), dy)];
    return { value, gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Scalar;
}

/**
 * The same sum for the channels [c0, c0 + nc) of x ([..., C], data = x's values) against targets
 * [..., nc], as one fused kernel in JS: used on the cpu backend, whose kernels are JS loops anyway
 * and whose channel slice is a slow per-element loop. Value in float64; gradient dy * (sigmoid(x) - t)
 * on those channels, 0 on the others.
 */
function bceWithLogitsSumFused(x: tf.Tensor, data: Float32Array, c0: number, nc: number, targets: Float32Array): tf.Scalar {
  const C = x.shape[x.rank - 1];
  const N = x.size / C;
  let sum = 0;
  for (let n = 0; n < N; n++) {
    for (let c = 0; c < nc; c++) {
      const v = data[n * C + c0 + c];
      // max(v, 0) - v*t + log(1 + exp(-|v|))
      sum += Math.max(v, 0) - v * targets[n * nc + c] + Math.log1p(Math.exp(-Math.abs(v)));
    }
  }
  const xShape = x.shape;
  const op = tf.customGrad(((_xx: tf.Tensor) => {
    const gradFunc = (dy: tf.Tensor) => {
      const scale = dy.dataSync()[0]; // dy is the scalar upstream gradient
      const g = new Float32Array(N * C);
      for (let n = 0; n < N; n++) {
        for (let c = 0; c < nc; c++) {
          const v = data[n * C + c0 + c];
          g[n * C + c0 + c] = scale * (1 / (1 + Math.exp(-v)) - targets[n * nc + c]);
        }
      }
      return [tf.tensor(g, xShape, 'float32')];
    };
    return { value: tf.scalar(sum), gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Scalar;
}

/**
 * Elements idx of x (flattened; `data` holds x's values, already downloaded) -> [idx.length], with a
 * scatter gradient (idx must be distinct, which the foreground box channels are). The forward is a
 * plain copy of the downloaded values, which saves the gather kernel.
 */
function gatherFlat(x: tf.Tensor, data: Float32Array, idx: Int32Array): tf.Tensor1D {
  const flatShape = [x.size];
  const xShape = x.shape;
  const vals = new Float32Array(idx.length);
  for (let i = 0; i < idx.length; i++) vals[i] = data[idx[i]];
  const op = tf.customGrad(((_xx: tf.Tensor) => {
    const gradFunc = (dy: tf.Tensor) => [tf.reshape(tf.scatterND(tf.tensor2d(idx, [idx.length, 1], 'int32'), dy, flatShape), xShape)];
    return { value: tf.tensor1d(vals, 'float32'), gradFunc };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x) as tf.Tensor1D;
}

export class DetectionLoss {
  readonly nc: number;
  readonly regMax: number;
  readonly strides: number[];
  readonly gains: { box: number; cls: number; dfl: number };
  readonly assigner: TaskAlignedAssigner;
  private anchorCache: { key: string; anchors: AnchorArrays; pixels: Float32Array } | null = null;

  constructor({
    nc,
    regMax = 16,
    strides = [8, 16, 32],
    box = 7.5,
    cls = 0.5,
    dfl = 1.5,
    topk = 10,
    alpha = 0.5,
    beta = 6,
  }: DetectionLossOptions) {
    if (!Number.isInteger(nc) || nc < 1) throw new Error(`DetectionLoss: nc must be a positive integer, got ${nc}`);
    if (!Number.isInteger(regMax) || regMax < 2) throw new Error(`DetectionLoss: regMax must be an integer >= 2, got ${regMax}`);
    if (strides.length === 0 || !strides.every((s) => s > 0))
      throw new Error(`DetectionLoss: strides must be positive, got ${JSON.stringify(strides)}`);
    this.nc = nc;
    this.regMax = regMax;
    this.strides = [...strides];
    this.gains = { box, cls, dfl };
    this.assigner = new TaskAlignedAssigner({ nc, topk, alpha, beta, eps: 1e-9 });
  }

  /** Number of channels each level must have: 4*regMax + nc. */
  get channels(): number {
    return 4 * this.regMax + this.nc;
  }

  private anchorsFor(sizes: [number, number][]): { anchors: AnchorArrays; pixels: Float32Array } {
    const key = JSON.stringify(sizes);
    if (this.anchorCache?.key === key) return this.anchorCache;
    const anchors = makeAnchorArrays(sizes, this.strides);
    const pixels = new Float32Array(anchors.count * 2);
    for (let a = 0; a < anchors.count; a++) {
      pixels[2 * a] = f(anchors.points[2 * a] * anchors.strides[a]);
      pixels[2 * a + 1] = f(anchors.points[2 * a + 1] * anchors.strides[a]);
    }
    this.anchorCache = { key, anchors, pixels };
    return this.anchorCache;
  }

  /** The padded GT boxes of `targets` (see preprocessTargets) for this loss's nc. */
  preprocess(targets: DetectionTargets, batch: number, imgsz: readonly [number, number]): PaddedTargets {
    return preprocessTargets(targets, batch, imgsz, this.nc);
  }

  private checkFeats(feats: readonly tf.Tensor[]): [number, number][] {
    if (feats.length !== this.strides.length) {
      throw new Error(`DetectionLoss: got ${feats.length} feature maps but ${this.strides.length} strides (${this.strides.join(', ')})`);
    }
    const B = feats[0].shape[0];
    return feats.map((t, i) => {
      if (t.rank !== 4) throw new Error(`DetectionLoss: feature map ${i} must be NHWC rank 4, got shape ${JSON.stringify(t.shape)}`);
      if (t.shape[3] !== this.channels) {
        throw new Error(
          `DetectionLoss: feature map ${i} has ${t.shape[3]} channels; want 4*regMax + nc = ${this.channels} (NHWC [B, H, W, C])`,
        );
      }
      if (t.shape[0] !== B) throw new Error(`DetectionLoss: feature map ${i} has batch ${t.shape[0]}, map 0 has ${B}`);
      if (t.dtype !== 'float32') throw new Error(`DetectionLoss: feature map ${i} has dtype ${t.dtype}; want float32`);
      return [t.shape[1], t.shape[2]] as [number, number];
    });
  }

  /**
   * Loss of raw Detect maps (NHWC, per level) against targets. `imgsz` [H, W] defaults to the first
   * map's size times the first stride. Call inside tf.grad/variableGrads/optimizer.minimize to train.
   */
  compute(feats: tf.Tensor4D[], targets: DetectionTargets, imgsz?: readonly [number, number]): DetectionLossResult {
    assertSyncReadable('DetectionLoss.compute');
    this.checkFeats(feats);
    // Raw maps, downloaded once per level (no gradient needed for the assigner).
    const raw = feats.map((t) => t.dataSync() as Float32Array);
    const r = this.computeFrom(feats, raw, targets, imgsz, true);
    return { loss: r.loss, items: r.items, targetScoresSum: r.targetScoresSum, assignment: r.assignment };
  }

  /**
   * compute() with asynchronous reads (`await data()`): the predictions for the assigner and the
   * detached loss items. Works on every backend, webgpu included (no synchronous GPU read). To train,
   * call it inside `variableGradsAsync` of @ablate/core.
   */
  async computeAsync(feats: tf.Tensor4D[], targets: DetectionTargets, imgsz?: readonly [number, number]): Promise<DetectionLossResult> {
    this.checkFeats(feats);
    const raw = (await Promise.all(feats.map((t) => t.data()))) as Float32Array[];
    const r = this.computeFrom(feats, raw, targets, imgsz, false);
    const itemsTensor = r.itemsTensor as tf.Tensor;
    try {
      const v = await itemsTensor.data();
      return { loss: r.loss, items: [v[0], v[1], v[2]], targetScoresSum: r.targetScoresSum, assignment: r.assignment };
    } finally {
      itemsTensor.dispose();
    }
  }

  /** The loss from the feature maps and their values; items read now (sync) or left as a kept tensor. */
  private computeFrom(
    feats: tf.Tensor4D[],
    raw: Float32Array[],
    targets: DetectionTargets,
    imgsz: readonly [number, number] | undefined,
    readItems: boolean,
  ): DetectionLossResult & { itemsTensor?: tf.Tensor } {
    const sizes = this.checkFeats(feats);
    const B = feats[0].shape[0];
    const R = this.regMax;
    const nc = this.nc;
    const C = this.channels;
    const size: readonly [number, number] = imgsz ?? [sizes[0][0] * this.strides[0], sizes[0][1] * this.strides[0]];
    const gt = preprocessTargets(targets, B, size, nc);
    const { anchors, pixels } = this.anchorsFor(sizes);
    const A = anchors.count;

    // Level of each anchor and its first anchor index.
    const levelStart: number[] = [];
    let acc = 0;
    for (const [h, w] of sizes) {
      levelStart.push(acc);
      acc += h * w;
    }
    const levelOf = new Uint8Array(A);
    sizes.forEach(([h, w], l) => {
      levelOf.fill(l, levelStart[l], levelStart[l] + h * w);
    });
    const L = sizes.length;
    const hw = sizes.map(([h, w]) => h * w);
    // The cpu backend's kernels are JS loops and its channel slice a slow per-element one: there the
    // class BCE is one fused JS kernel (see bceWithLogitsSumFused).
    const fusedBce = tf.getBackend() === 'cpu';

    // Assigner inputs, decoded lazily (only anchors inside some GT are read).
    const pdScores = new Float32Array(B * A * nc);
    const pdBboxes = new Float32Array(B * A * 4);
    // Classes present in each image: the assigner reads only those scores.
    const classesOf: number[][] = Array.from({ length: B }, (_, b) => {
      const set = new Set<number>();
      for (let g = 0; g < gt.maxBoxes; g++) if (gt.maskGt[b * gt.maxBoxes + g]) set.add(gt.gtLabels[b * gt.maxBoxes + g]);
      return [...set];
    });
    const ensureAnchor = (b: number, a: number) => {
      const l = levelOf[a];
      const row = (b * hw[l] + a - levelStart[l]) * C;
      const r = b * A + a;
      decodeAnchorInto(
        raw[l],
        row,
        R,
        0,
        anchors.points[2 * a],
        anchors.points[2 * a + 1],
        anchors.strides[a],
        pdBboxes,
        4 * r,
        pdScores,
        r * nc,
      );
      for (const c of classesOf[b]) pdScores[r * nc + c] = f(1 / (1 + Math.exp(-raw[l][row + 4 * R + c])));
    };
    const asg = this.assigner.assign({
      batch: B,
      anchors: A,
      maxBoxes: gt.maxBoxes,
      pdScores,
      pdBboxes,
      anchorPoints: pixels,
      gtLabels: gt.gtLabels,
      gtBboxes: gt.gtBboxes,
      maskGt: gt.maskGt,
      ensureAnchor,
    });
    const tss = Math.max(f(asg.targetScoresSum), 1);

    // Per-level classification targets, NHWC order ([B, H*W, nc], or [B, H*W, C] with a mask on cpu).
    // Per-level classification targets [B, H*W, nc]; only foreground anchors are non-zero.
    const clsTargets = hw.map((n) => new Float32Array(B * n * nc));
    for (let r = 0; r < B * A; r++) {
      if (!asg.fgMask[r]) continue;
      const b = Math.floor(r / A);
      const a = r - b * A;
      const l = levelOf[a];
      const dst = (b * hw[l] + a - levelStart[l]) * nc;
      for (let c = 0; c < nc; c++) clsTargets[l][dst + c] = asg.targetScores[r * nc + c];
    }

    // Foreground rows, grouped by level; their no-gradient targets in grid units.
    const F = asg.numFg;
    const fgOrder: number[] = []; // global row b*A + a, level-major
    const flatIdx: Int32Array[] = [];
    if (F > 0) {
      for (let l = 0; l < L; l++) {
        const rows: number[] = [];
        for (let b = 0; b < B; b++) {
          for (let i = 0; i < hw[l]; i++) {
            const r = b * A + levelStart[l] + i;
            if (asg.fgMask[r]) {
              rows.push(b * hw[l] + i);
              fgOrder.push(r);
            }
          }
        }
        // Box channels 0..4R-1 of each fg row of this level, in the flattened [B, H, W, C] map.
        const idx = new Int32Array(rows.length * 4 * R);
        rows.forEach((n, k) => {
          for (let j = 0; j < 4 * R; j++) idx[k * 4 * R + j] = n * C + j;
        });
        flatIdx.push(idx);
      }
    }
    const anc = new Float32Array(F * 4); // (ax, ay, ax, ay)
    const tbox = new Float32Array(F * 4); // target xyxy / stride
    const weight = new Float32Array(F); // target_scores.sum(-1)
    const dflW = new Float32Array(F * 4 * R); // CE weights of the two neighbouring bins
    const maxDist = f(R - 1 - 0.01);
    fgOrder.forEach((r, k) => {
      const a = r % A;
      const ax = anchors.points[2 * a];
      const ay = anchors.points[2 * a + 1];
      const s = anchors.strides[a];
      anc[4 * k] = ax;
      anc[4 * k + 1] = ay;
      anc[4 * k + 2] = ax;
      anc[4 * k + 3] = ay;
      for (let j = 0; j < 4; j++) tbox[4 * k + j] = f(asg.targetBboxes[4 * r + j] / s);
      let w = 0;
      for (let c = 0; c < nc; c++) w += asg.targetScores[r * nc + c];
      weight[k] = w;
      // bbox2dist: (ax - x1, ay - y1, x2 - ax, y2 - ay) clamped to [0, regMax - 1 - 0.01].
      const dist = [f(ax - tbox[4 * k]), f(ay - tbox[4 * k + 1]), f(tbox[4 * k + 2] - ax), f(tbox[4 * k + 3] - ay)];
      for (let side = 0; side < 4; side++) {
        const t = Math.min(Math.max(dist[side], 0), maxDist);
        const tl = Math.floor(t);
        const wl = f(tl + 1 - t);
        const o = (k * 4 + side) * R;
        dflW[o + tl] = wl;
        dflW[o + tl + 1] = f(1 - wl);
      }
    });

    let items: [number, number, number] = [0, 0, 0];
    let itemsTensor: tf.Tensor | undefined;
    const loss = tf.tidy(() => {
      // Classification: BCE over all anchors and classes, per level.
      const clsTerms = feats.map((x, l) => {
        if (fusedBce) return bceWithLogitsSumFused(x, raw[l], 4 * R, nc, clsTargets[l]);
        // [B, H, W, C] -> [B, H, W, nc] class logits
        const logits = tf.slice(x, [0, 0, 0, 4 * R], [B, sizes[l][0], sizes[l][1], nc]);
        return bceWithLogitsSum(logits, clsTargets[l]);
      });
      const clsLoss = tf.div(clsTerms.length === 1 ? clsTerms[0] : tf.addN(clsTerms), tss);

      let boxLoss: tf.Tensor = tf.scalar(0);
      let dflLoss: tf.Tensor = tf.scalar(0);
      if (F > 0) {
        // fg box logits: per level [F_l*4R] -> [F*4R] -> [F, 4, R]
        const parts: tf.Tensor[] = [];
        feats.forEach((x, l) => {
          if (flatIdx[l].length > 0) parts.push(gatherFlat(x, raw[l], flatIdx[l]));
        });
        const bins = tf.reshape(parts.length === 1 ? parts[0] : tf.concat(parts, 0), [F, 4, R]);
        const logp = tf.logSoftmax(bins);
        // DFL expectation: softmax [F*4, R] @ [R, 1] -> [F*4, 1] -> [F, 4] (l, t, r, b)
        const proj = tf.reshape(tf.range(0, R, 1, 'float32'), [R, 1]);
        const ltrb = tf.reshape(tf.matMul(tf.reshape(tf.exp(logp), [F * 4, R]), proj), [F, 4]);
        // xyxy = (ax - l, ay - t, ax + r, ay + b) in grid units
        const pred = tf.add(tf.tensor2d(anc, [F, 4]), tf.mul(ltrb, tf.tensor2d([-1, -1, 1, 1], [1, 4])));
        const pcols = tf.split(pred, 4, 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const tcols = tf.split(tf.tensor2d(tbox, [F, 4]), 4, 1) as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        const w = tf.tensor2d(weight, [F, 1]);
        const ciou = bboxCiou(pcols, tcols); // [F, 1]
        boxLoss = tf.div(tf.sum(tf.mul(tf.sub(1, ciou), w)), tss);
        // DFL: -(wl*logp[tl] + wr*logp[tl+1]) per side [F, 4], mean over the sides [F, 1], times the weight
        const ce = tf.neg(tf.sum(tf.mul(logp, tf.tensor3d(dflW, [F, 4, R])), -1));
        dflLoss = tf.div(tf.sum(tf.mul(tf.mean(ce, -1, true), w)), tss);
      }
      const gained = tf.stack([tf.mul(boxLoss, this.gains.box), tf.mul(clsLoss, this.gains.cls), tf.mul(dflLoss, this.gains.dfl)]);
      if (readItems) {
        const v = gained.dataSync();
        items = [v[0], v[1], v[2]];
      } else itemsTensor = tf.keep(gained);
      return tf.mul(tf.sum(gained), B) as tf.Scalar;
    });
    return { loss, items, targetScoresSum: tss, assignment: asg, itemsTensor };
  }
}
