/**
 * Checks DetectionLoss against the Ultralytics 8.0.229 loss reference data
 * (`fixtures/golden/yolov8/loss_n.{json,safetensors}`, case 3 of that folder's README): for every
 * scenario the loss value, the loss items, d(loss)/d(raw maps), the padded targets, the JS decode of the
 * assigner inputs, and the assigner's outputs both from our own pipeline and from the reference's inputs.
 * Used by the package tests and by the runner's `pnpm golden` family; sizes, nc, strides, gains and
 * tolerances all come from the files.
 */
import { type SafeTensor, valueAndGradsAsync } from '@ablate/core';
import * as tf from '@tensorflow/tfjs-core';
import { makeAnchorArrays } from './anchors.js';
import { type AssignerOutput, TaskAlignedAssigner } from './assigner.js';
import { DetectionLoss, decodeAnchorInto } from './detection-loss.js';

export interface LossGoldenRow {
  scenario: string;
  /** What was compared, e.g. `loss_total`, `grad.1`, `fg_mask`, `assigner(ref inputs).target_scores`. */
  key: string;
  /** How `value` is measured. */
  metric: 'rel' | 'rel_l2' | 'max_abs' | 'mismatches';
  value: number;
  tolerance: number;
  pass: boolean;
}

export interface LossGoldenResult {
  rows: LossGoldenRow[];
  pass: boolean;
}

/** True for a JSON sidecar in the loss-case format (recognised from its content). */
export function isLossGoldenCase(json: unknown): boolean {
  const j = json as Record<string, unknown> | null;
  return Boolean(j && j.case === 'loss' && typeof j.file === 'string' && j.scenarios && j.hyp && j.assigner && j.tolerance);
}

function need(tensors: Map<string, SafeTensor>, key: string): SafeTensor {
  const t = tensors.get(key);
  if (!t) throw new Error(`loss golden: tensor "${key}" is missing from the safetensors file`);
  return t;
}

function floats(t: SafeTensor): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  return Float32Array.from(t.data as ArrayLike<number>, Number);
}

function ints(t: SafeTensor): Int32Array {
  if (t.data instanceof BigInt64Array) return Int32Array.from(t.data, (v) => Number(v));
  return Int32Array.from(t.data as ArrayLike<number>);
}

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/** NHWC data [B, H, W, C] -> NCHW order [B, C, H, W]. */
function nhwcToNchw(x: ArrayLike<number>, shape: number[]): Float32Array {
  const [B, H, W, C] = shape;
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++) for (let c = 0; c < C; c++) out[((b * C + c) * H + y) * W + xx] = x[((b * H + y) * W + xx) * C + c];
  return out;
}

/**
 * Compares one assigner output against the reference's target_* tensors: fg_mask exactly; labels and
 * gt indices exactly where fg; boxes and scores by max_abs.
 */
function compareAssignment(
  rows: LossGoldenRow[],
  scenario: string,
  prefix: string,
  asg: AssignerOutput,
  tensors: Map<string, SafeTensor>,
  nc: number,
  tolBoxScore: number,
): void {
  const p = `case.${scenario}.`;
  const fg = ints(need(tensors, `${p}fg_mask`));
  const labels = ints(need(tensors, `${p}target_labels`));
  const gtIdx = ints(need(tensors, `${p}target_gt_idx`));
  const boxes = floats(need(tensors, `${p}target_bboxes`));
  const scores = floats(need(tensors, `${p}target_scores`));
  let fgMis = 0;
  let labMis = 0;
  let idxMis = 0;
  let boxErr = 0;
  let scoreErr = 0;
  for (let r = 0; r < fg.length; r++) {
    if ((asg.fgMask[r] ? 1 : 0) !== (fg[r] ? 1 : 0)) fgMis++;
    for (let c = 0; c < nc; c++) scoreErr = Math.max(scoreErr, Math.abs(asg.targetScores[r * nc + c] - scores[r * nc + c]));
    if (!fg[r] || !asg.fgMask[r]) continue;
    if (asg.targetLabels[r] !== labels[r]) labMis++;
    if (asg.targetGtIdx[r] !== gtIdx[r]) idxMis++;
    for (let k = 0; k < 4; k++) boxErr = Math.max(boxErr, Math.abs(asg.targetBboxes[4 * r + k] - boxes[4 * r + k]));
  }
  const add = (key: string, metric: LossGoldenRow['metric'], value: number, tolerance: number) =>
    rows.push({ scenario, key: `${prefix}${key}`, metric, value, tolerance, pass: value <= tolerance });
  add('fg_mask', 'mismatches', fgMis, 0);
  add('target_labels', 'mismatches', labMis, 0);
  add('target_gt_idx', 'mismatches', idxMis, 0);
  add('target_bboxes', 'max_abs', boxErr, tolBoxScore);
  add('target_scores', 'max_abs', scoreErr, tolBoxScore);
}

/**
 * Runs every scenario of a loss case on the current tf backend. `json` is the parsed sidecar and
 * `tensors` its safetensors content. Disposes everything it creates.
 */
export async function runLossGolden(
  // biome-ignore lint/suspicious/noExplicitAny: free-form reference JSON
  json: any,
  tensors: Map<string, SafeTensor>,
  opts: { scenarios?: string[] } = {},
): Promise<LossGoldenResult> {
  if (!isLossGoldenCase(json))
    throw new Error('loss golden: the JSON is not a loss case (want case "loss", file, scenarios, hyp, assigner, tolerance)');
  const nc: number = json.nc;
  const regMax: number = json.reg_max;
  const strides = Array.from(floats(need(tensors, 'stride')));
  const tol = json.tolerance;
  const relTol: number = tol.loss_total?.rel ?? 1e-4;
  const itemRel: number = tol.loss_items?.rel ?? 1e-4;
  const itemAbs: number = tol.loss_items?.abs ?? 1e-5;
  const gradTol: number = tol['grad.*']?.rel_l2 ?? 1e-3;
  const boxScoreTol: number = tol['target_bboxes/target_scores']?.max_abs ?? 1e-3;
  const loss = new DetectionLoss({
    nc,
    regMax,
    strides,
    box: json.hyp.box,
    cls: json.hyp.cls,
    dfl: json.hyp.dfl,
    topk: json.assigner.topk,
    alpha: json.assigner.alpha,
    beta: json.assigner.beta,
  });
  const refAssigner = new TaskAlignedAssigner({
    nc,
    topk: json.assigner.topk,
    alpha: json.assigner.alpha,
    beta: json.assigner.beta,
    eps: json.assigner.eps,
  });
  const rows: LossGoldenRow[] = [];
  const names: string[] = opts.scenarios ?? Object.keys(json.scenarios);
  for (const s of names) {
    const sc = json.scenarios[s];
    if (!sc) throw new Error(`loss golden: unknown scenario "${s}"; known: ${Object.keys(json.scenarios).join(', ')}`);
    const p = `case.${s}.`;
    const add = (key: string, metric: LossGoldenRow['metric'], value: number, tolerance: number) =>
      rows.push({ scenario: s, key, metric, value, tolerance, pass: value <= tolerance });

    // Raw maps (NCHW in the file) -> NHWC.
    const rawKeys = strides.map((_, l) => (tensors.has(`${p}raw.${l}`) ? `${p}raw.${l}` : `raw.${l}`));
    const rawNchw = rawKeys.map((k) => need(tensors, k));
    const B = rawNchw[0].shape[0];
    const feats = rawNchw.map((r) =>
      tf.tidy(() => {
        // [B, C, H, W] -> [B, H, W, C]
        const t: tf.Tensor = tf.tensor(floats(r), r.shape, 'float32');
        return tf.transpose(t, [0, 2, 3, 1]) as tf.Tensor4D;
      }),
    );

    // Targets: rows [batch_idx, cls, cx, cy, w, h].
    const tg = need(tensors, `${p}targets`);
    const td = floats(tg);
    const n = tg.shape[0];
    const targets = {
      batchIdx: Int32Array.from({ length: n }, (_, i) => td[6 * i]),
      cls: Array.from({ length: n }, (_, i) => td[6 * i + 1]),
      bboxes: Array.from({ length: n }, (_, i) => Array.from(td.subarray(6 * i + 2, 6 * i + 6))),
    };

    let items: number[] = [];
    let asg: AssignerOutput | null = null;
    let tss = 0;
    // Asynchronous reads: the same code runs on every backend, webgpu included.
    const { value, grads } = await valueAndGradsAsync(async () => {
      const r = await loss.computeAsync(feats, targets);
      items = r.items;
      asg = r.assignment;
      tss = r.targetScoresSum;
      return r.loss;
    }, feats);
    const total = (await value.data())[0];
    const gradData: Float32Array[] = [];
    for (const g of grads) gradData.push(nhwcToNchw((await g.data()) as Float32Array, g.shape));
    const gradShapes = grads.map((g) => g.shape);
    value.dispose();
    tf.dispose(grads);
    tf.dispose(feats);

    const refTotal = floats(need(tensors, `${p}loss_total`))[0];
    add('loss_total', 'rel', Math.abs(total - refTotal) / Math.abs(refTotal), relTol);
    const refItems = floats(need(tensors, `${p}loss_items`));
    const itemErr = Math.max(
      ...[0, 1, 2].map((i) => Math.abs(items[i] - refItems[i]) / Math.max(Math.abs(refItems[i]), itemAbs / itemRel)),
    );
    add('loss_items', 'rel', itemErr, itemRel);
    if (typeof sc.target_scores_sum_used === 'number') {
      add('target_scores_sum', 'rel', Math.abs(tss - sc.target_scores_sum_used) / sc.target_scores_sum_used, relTol);
    }
    gradData.forEach((g, l) => {
      const ref = need(tensors, `${p}grad.${l}`);
      const want = [gradShapes[l][0], gradShapes[l][3], gradShapes[l][1], gradShapes[l][2]];
      if (JSON.stringify(want) !== JSON.stringify(ref.shape)) {
        throw new Error(`loss golden: ${s} grad.${l} has shape ${JSON.stringify(want)} (NCHW), reference ${JSON.stringify(ref.shape)}`);
      }
      add(`grad.${l}`, 'rel_l2', relL2(g, floats(ref)), gradTol);
    });

    // Padded targets.
    const gtB = floats(need(tensors, `${p}gt_bboxes`));
    const gtL = floats(need(tensors, `${p}gt_labels`));
    const gtM = ints(need(tensors, `${p}mask_gt`));
    const M = need(tensors, `${p}gt_bboxes`).shape[1];
    const anchorsA = makeAnchorArrays(
      rawNchw.map((r) => [r.shape[2], r.shape[3]] as [number, number]),
      strides,
    );
    const A = anchorsA.count;
    const H0 = rawNchw[0].shape[2] * strides[0];
    const W0 = rawNchw[0].shape[3] * strides[0];
    // Our own padding, compared element-wise.
    const own = loss.preprocess(targets, B, [H0, W0]);
    let padErr = own.maxBoxes === M ? 0 : Number.POSITIVE_INFINITY;
    if (own.maxBoxes === M) {
      for (let i = 0; i < B * M; i++) {
        padErr = Math.max(padErr, Math.abs(own.gtLabels[i] - gtL[i]), Math.abs(own.maskGt[i] - gtM[i]));
        for (let k = 0; k < 4; k++) padErr = Math.max(padErr, Math.abs(own.gtBboxes[4 * i + k] - gtB[4 * i + k]));
      }
    }
    add('gt_bboxes/labels/mask', 'max_abs', padErr, 0);

    // JS decode of every anchor vs the assigner inputs of the reference.
    const refScores = floats(need(tensors, `${p}pd_scores`));
    const refBoxes = floats(need(tensors, `${p}pd_bboxes_pixels`));
    const C = 4 * regMax + nc;
    const raw = new Float32Array(B * A * C);
    {
      // [B, C, H, W] per level -> [B, A, C]
      let a0 = 0;
      for (const r of rawNchw) {
        const [, , H, W] = r.shape;
        const d = floats(r);
        for (let b = 0; b < B; b++)
          for (let c = 0; c < C; c++) for (let i = 0; i < H * W; i++) raw[(b * A + a0 + i) * C + c] = d[(b * C + c) * H * W + i];
        a0 += H * W;
      }
    }
    const myScores = new Float32Array(B * A * nc);
    const myBoxes = new Float32Array(B * A * 4);
    for (let b = 0; b < B; b++)
      for (let a = 0; a < A; a++)
        decodeAnchorInto(
          raw,
          (b * A + a) * C,
          regMax,
          nc,
          anchorsA.points[2 * a],
          anchorsA.points[2 * a + 1],
          anchorsA.strides[a],
          myBoxes,
          (b * A + a) * 4,
          myScores,
          (b * A + a) * nc,
        );
    let decBox = 0;
    let decScore = 0;
    for (let i = 0; i < myBoxes.length; i++) decBox = Math.max(decBox, Math.abs(myBoxes[i] - refBoxes[i]));
    for (let i = 0; i < myScores.length; i++) decScore = Math.max(decScore, Math.abs(myScores[i] - refScores[i]));
    add('decode.pd_bboxes_pixels', 'max_abs', decBox, boxScoreTol);
    add('decode.pd_scores', 'max_abs', decScore, 1e-5);

    // Assigner from our whole pipeline, and from the reference's own inputs.
    if (!asg) throw new Error(`loss golden: ${s}: compute() returned no assignment`);
    compareAssignment(rows, s, '', asg, tensors, nc, boxScoreTol);
    const pix = new Float32Array(A * 2);
    for (let a = 0; a < A; a++) {
      pix[2 * a] = Math.fround(anchorsA.points[2 * a] * anchorsA.strides[a]);
      pix[2 * a + 1] = Math.fround(anchorsA.points[2 * a + 1] * anchorsA.strides[a]);
    }
    const refAsg = refAssigner.assign({
      batch: B,
      anchors: A,
      maxBoxes: M,
      pdScores: refScores,
      pdBboxes: refBoxes,
      anchorPoints: pix,
      gtLabels: Int32Array.from(gtL),
      gtBboxes: gtB,
      maskGt: Uint8Array.from(gtM),
    });
    compareAssignment(rows, s, 'assigner(ref inputs).', refAsg, tensors, nc, boxScoreTol);
  }
  return { rows, pass: rows.every((r) => r.pass) };
}
