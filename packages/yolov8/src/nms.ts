/**
 * YOLOv8 non-maximum suppression: Ultralytics 8.0.229 `ultralytics.utils.ops.non_max_suppression` with
 * `torchvision.ops.nms`, in plain JS (no tfjs; pass a tensor's `dataSync()` / `await data()` and shape).
 *
 * Input: the Detect inference output, (B, 4+nc[+nm], A): rows 0-3 = cx, cy, w, h in pixels, then nc class
 * scores (already sigmoided), then optional nm mask coefficients. Output per image: rows
 * [x1, y1, x2, y2, conf, cls, ...mask], descending conf, at most maxDet.
 *
 * Semantics (as Ultralytics, float32 arithmetic mirrored with Math.fround):
 * - a box is a candidate when its max class score > confThres (strict, compared in float32);
 *   multiLabel (only when nc > 1) emits one row per (box, class) with score > confThres, in (box, class)
 *   order; otherwise the first best class;
 * - `classes` keeps only those classes; more than maxNms candidates: the maxNms highest scores are kept;
 * - class-aware NMS by offsetting boxes with cls * maxWh (float32), then one greedy NMS as torchvision:
 *   stable descending score order, float32 areas and IoU, a box is suppressed when IoU > iouThres (the
 *   float32 IoU compared with the float64 threshold), so IoU exactly at the threshold is kept;
 * - the kept list is cut at maxDet. The input is never modified (Ultralytics writes xyxy into it).
 *
 * Status: exact semantics. Deviations: Ultralytics' wall-clock time limit (which drops the remaining
 * images of a batch) is not reproduced; ties of exactly equal scores are ordered by candidate index
 * (torch's argsort leaves them unspecified). Speed: one pass over the scores, a histogram top-k when
 * more than maxNms candidates, one sort of at most maxNms entries, greedy suppression that stops at maxDet
 * and compares only same-class kept boxes when the class offsets provably separate the classes.
 */

export interface NmsOptions {
  /** Candidate threshold on the class score (strict >). Default 0.25. */
  confThres?: number;
  /** Suppression threshold (IoU > iouThres suppresses). Default 0.45 (Ultralytics' argument default). */
  iouThres?: number;
  /** Keep only these class indices. */
  classes?: readonly number[] | null;
  /** Class-agnostic NMS (no class offsets). Default false. */
  agnostic?: boolean;
  /** One row per (box, class) above confThres (validation). Ignored when nc = 1. Default false. */
  multiLabel?: boolean;
  /** Maximum detections per image. Default 300. */
  maxDet?: number;
  /** Maximum candidates entering NMS. Default 30000. */
  maxNms?: number;
  /** Class offset in pixels. Default 7680. */
  maxWh?: number;
  /** Number of classes if the channel axis also holds mask coefficients (default: channels - 4). */
  nc?: number;
}

/** Ultralytics 8.0.229 predict defaults (model.predict: conf 0.25, iou 0.7). */
export const PREDICT_NMS: Readonly<NmsOptions> = Object.freeze({ confThres: 0.25, iouThres: 0.7 });
/** Ultralytics 8.0.229 validation defaults (DetectionValidator: conf 0.001, iou 0.7, multi_label, max_det 300). */
export const VAL_NMS: Readonly<NmsOptions> = Object.freeze({ confThres: 0.001, iouThres: 0.7, multiLabel: true, maxDet: 300 });

/** One output row: [x1, y1, x2, y2, conf, cls, ...mask]. */
export type NmsRow = number[];

const f32 = Math.fround;

/**
 * Greedy NMS exactly as `torchvision.ops.nms` (CPU kernel) for xyxy boxes given as a flat float32 array
 * [n*4]: returns the kept indices in descending score order (ties: lower index first). `limit` stops once
 * that many are kept (the first `limit` of the full result; the rest is not computed).
 * `groups` (optional) lets a box be compared only with kept boxes of the same group; pass it only when
 * boxes of different groups cannot overlap.
 */
export function nmsIndices(
  boxes: Float32Array,
  scores: Float32Array,
  iouThres: number,
  limit = Number.POSITIVE_INFINITY,
  groups?: Int32Array,
  order?: Uint32Array,
): number[] {
  const n = scores.length;
  if (boxes.length !== n * 4) throw new Error(`nmsIndices: ${boxes.length} box values for ${n} scores; expected ${n * 4}`);
  const ord =
    order ??
    sortDesc(
      scores,
      Uint32Array.from({ length: n }, (_, i) => i),
    );
  const areas = new Float32Array(n);
  for (let i = 0; i < n; i++) areas[i] = f32(boxes[4 * i + 2] - boxes[4 * i]) * f32(boxes[4 * i + 3] - boxes[4 * i + 1]);
  const keep: number[] = [];
  // kept boxes per group (or one list when groups is absent)
  const lists = new Map<number, number[]>();
  for (let k = 0; k < ord.length && keep.length < limit; k++) {
    const j = ord[k];
    const g = groups ? groups[j] : 0;
    let list = lists.get(g);
    if (!list) {
      list = [];
      lists.set(g, list);
    }
    const jx1 = boxes[4 * j];
    const jy1 = boxes[4 * j + 1];
    const jx2 = boxes[4 * j + 2];
    const jy2 = boxes[4 * j + 3];
    const ja = areas[j];
    let suppressed = false;
    for (let m = 0; m < list.length; m++) {
      const i = list[m];
      const w = f32(Math.min(boxes[4 * i + 2], jx2) - Math.max(boxes[4 * i], jx1));
      if (w <= 0) continue;
      const h = f32(Math.min(boxes[4 * i + 3], jy2) - Math.max(boxes[4 * i + 1], jy1));
      if (h <= 0) continue;
      const inter = f32(w * h);
      const ovr = f32(inter / f32(f32(areas[i] + ja) - inter));
      if (ovr > iouThres) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) {
      keep.push(j);
      list.push(j);
    }
  }
  return keep;
}

/** Sorts `idx` in place by scores descending, ties by key (default: the index) ascending. */
function sortDesc(scores: Float32Array, idx: Uint32Array, keys?: Int32Array): Uint32Array {
  if (keys) return idx.sort((a, b) => scores[b] - scores[a] || keys[a] - keys[b]);
  return idx.sort((a, b) => scores[b] - scores[a] || a - b);
}

/**
 * Indices (into `scores`, all > 0) of the `k` highest scores, by (score desc, index asc), returned in that
 * order. Histogram over the top 16 bits of the float32 bit patterns (monotone for positive floats), so only
 * about k entries are sorted.
 */
function topK(scores: Float32Array, k: number, keys?: Int32Array): Uint32Array {
  const n = scores.length;
  const bits = new Uint32Array(scores.buffer, scores.byteOffset, n);
  const hist = new Uint32Array(65536);
  for (let i = 0; i < n; i++) hist[bits[i] >>> 16]++;
  let cum = 0;
  let cut = 65535;
  for (; cut > 0; cut--) {
    if (cum + hist[cut] >= k) break;
    cum += hist[cut];
  }
  const above = new Uint32Array(cum);
  const at = new Uint32Array(hist[cut]);
  let nAbove = 0;
  let nAt = 0;
  for (let i = 0; i < n; i++) {
    const b = bits[i] >>> 16;
    if (b > cut) above[nAbove++] = i;
    else if (b === cut) at[nAt++] = i;
  }
  const atSorted = sortDesc(scores, at, keys).subarray(0, k - cum);
  const sel = new Uint32Array(cum + atSorted.length);
  sel.set(above);
  sel.set(atSorted, cum);
  return sortDesc(scores, sel, keys);
}

function resolveInput(
  prediction: ArrayLike<number> | ArrayLike<ArrayLike<ArrayLike<number>>>,
  shape: readonly number[] | undefined,
): { d: Float32Array; B: number; C: number; A: number } {
  const first = prediction.length > 0 ? (prediction as ArrayLike<unknown>)[0] : undefined;
  if (first !== undefined && typeof first === 'object') {
    const nested = prediction as ArrayLike<ArrayLike<ArrayLike<number>>>;
    const B = nested.length;
    const C = nested[0].length;
    const A = C > 0 ? nested[0][0].length : 0;
    for (let b = 0; b < B; b++) {
      if (nested[b].length !== C) throw new Error(`nonMaxSuppression: image ${b} has ${nested[b].length} channels; image 0 has ${C}`);
      for (let c = 0; c < C; c++) {
        if (nested[b][c].length !== A) {
          throw new Error(`nonMaxSuppression: image ${b} channel ${c} has ${nested[b][c].length} anchors; expected ${A}`);
        }
      }
    }
    if (shape && (shape.length !== 3 || shape[0] !== B || shape[1] !== C || shape[2] !== A)) {
      throw new Error(`nonMaxSuppression: shape [${shape}] does not match the nested input [${B}, ${C}, ${A}]`);
    }
    // Copy into float32 (the values Ultralytics' float32 tensor holds).
    const d = new Float32Array(B * C * A);
    for (let b = 0; b < B; b++) for (let c = 0; c < C; c++) d.set(Array.from(nested[b][c]), (b * C + c) * A);
    return { d, B, C, A };
  }
  if (!shape) {
    throw new Error('nonMaxSuppression: a flat input needs its shape [B, 4+nc, A]; alternatives: pass nested [B][4+nc][A] arrays');
  }
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`nonMaxSuppression: shape must be [B, 4+nc, A] (non-negative integers), got [${shape}]`);
  }
  const [B, C, A] = shape;
  const flat = prediction as ArrayLike<number>;
  if (flat.length !== B * C * A) throw new Error(`nonMaxSuppression: ${flat.length} values for shape [${shape}] (${B * C * A} expected)`);
  // Float32Array input is read in place (never written); other arrays are rounded to float32 in a copy.
  return { d: flat instanceof Float32Array ? flat : Float32Array.from(flat), B, C, A };
}

/**
 * `non_max_suppression(prediction, conf_thres, iou_thres, classes, agnostic, multi_label, max_det, nc,
 * max_nms, max_wh)`. Call as `nonMaxSuppression(flatData, [B, 4+nc, A], opts)` (e.g. a tfjs tensor's
 * data and shape) or `nonMaxSuppression(nested[B][4+nc][A], opts)`.
 * Returns, per image, rows [x1, y1, x2, y2, conf, cls, ...mask] by descending conf.
 */
export function nonMaxSuppression(prediction: ArrayLike<number>, shape: readonly number[], opts?: NmsOptions): NmsRow[][];
export function nonMaxSuppression(prediction: ArrayLike<ArrayLike<ArrayLike<number>>>, opts?: NmsOptions): NmsRow[][];
export function nonMaxSuppression(
  prediction: ArrayLike<number> | ArrayLike<ArrayLike<ArrayLike<number>>>,
  shapeOrOpts?: readonly number[] | NmsOptions,
  maybeOpts?: NmsOptions,
): NmsRow[][] {
  const shape = Array.isArray(shapeOrOpts) ? (shapeOrOpts as readonly number[]) : undefined;
  const opts: NmsOptions = (shape ? maybeOpts : (shapeOrOpts as NmsOptions | undefined)) ?? {};
  const {
    confThres = 0.25,
    iouThres = 0.45,
    classes = null,
    agnostic = false,
    multiLabel: multiLabelOpt = false,
    maxDet = 300,
    maxNms = 30000,
    maxWh = 7680,
  } = opts;
  if (!(confThres >= 0 && confThres <= 1))
    throw new Error(`nonMaxSuppression: invalid confThres ${confThres}, valid values are between 0.0 and 1.0`);
  if (!(iouThres >= 0 && iouThres <= 1))
    throw new Error(`nonMaxSuppression: invalid iouThres ${iouThres}, valid values are between 0.0 and 1.0`);
  for (const [name, v] of [
    ['maxDet', maxDet],
    ['maxNms', maxNms],
  ] as const) {
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`nonMaxSuppression: ${name} must be a non-negative integer, got ${v}`);
  }
  const { d, B, C, A } = resolveInput(prediction, shape);
  const nc = opts.nc ?? C - 4;
  const nm = C - 4 - nc;
  if (!(Number.isInteger(nc) && nc >= 1 && nm >= 0)) {
    throw new Error(`nonMaxSuppression: ${C} channels cannot hold 4 box values + nc=${nc} class scores (+ masks)`);
  }
  const multiLabel = multiLabelOpt && nc > 1;
  const conf = f32(confThres);
  const classSet = classes ? new Set(classes) : null;
  const offsetScale = agnostic ? 0 : maxWh;

  const output: NmsRow[][] = [];
  for (let b = 0; b < B; b++) {
    const base = b * C * A;
    const get = (c: number, a: number) => d[base + c * A + a];
    // Best class per anchor (first maximum, as torch.max), scanning the contiguous class rows.
    const best = new Float32Array(A).fill(Number.NEGATIVE_INFINITY);
    const bestJ = new Int32Array(A).fill(-1);
    for (let j = 0; j < nc; j++) {
      const row = base + (4 + j) * A;
      for (let a = 0; a < A; a++) {
        if (d[row + a] > best[a]) {
          best[a] = d[row + a];
          bestJ[a] = j;
        }
      }
    }
    // Candidates (anchor, class, score), collected class by class over contiguous rows; `key` is the
    // position in Ultralytics' (anchor, class) order and breaks ties of equal scores.
    const allowed = (j: number) => !classSet || classSet.has(j);
    let n = 0;
    if (multiLabel) {
      for (let j = 0; j < nc; j++) {
        if (!allowed(j)) continue;
        const row = base + (4 + j) * A;
        for (let a = 0; a < A; a++) if (d[row + a] > conf) n++;
      }
    } else {
      for (let a = 0; a < A; a++) if (best[a] > conf && allowed(bestJ[a])) n++;
    }
    if (n === 0) {
      output.push([]);
      continue;
    }
    const cAnchor = new Int32Array(n);
    const cCls = new Int32Array(n);
    const cKey = new Int32Array(n);
    const scoresAll = new Float32Array(n);
    let m = 0;
    if (multiLabel) {
      for (let j = 0; j < nc; j++) {
        if (!allowed(j)) continue;
        const row = base + (4 + j) * A;
        for (let a = 0; a < A; a++) {
          const sc = d[row + a];
          if (sc > conf) {
            cAnchor[m] = a;
            cCls[m] = j;
            cKey[m] = a * nc + j;
            scoresAll[m++] = sc;
          }
        }
      }
    } else {
      for (let a = 0; a < A; a++) {
        if (best[a] > conf && allowed(bestJ[a])) {
          cAnchor[m] = a;
          cCls[m] = bestJ[a];
          cKey[m] = a;
          scoresAll[m++] = best[a];
        }
      }
    }
    // Order (score desc): the maxNms best when there are more, else all.
    const order =
      n > maxNms
        ? topK(scoresAll, maxNms, cKey)
        : sortDesc(
            scoresAll,
            Uint32Array.from({ length: n }, (_, i) => i),
            cKey,
          );
    n = order.length;
    // Gather the surviving candidates in that order: xyxy (float32), offset boxes, scores, classes.
    const xyxy = new Float32Array(n * 4);
    const boxes = new Float32Array(n * 4);
    const scores = new Float32Array(n);
    const cls = new Int32Array(n);
    const anchors = new Int32Array(n);
    let minX = Infinity;
    let maxX = -Infinity;
    for (let k = 0; k < n; k++) {
      const i = order[k];
      const a = cAnchor[i];
      const cx = get(0, a);
      const cy = get(1, a);
      const dw = f32(get(2, a) / 2);
      const dh = f32(get(3, a) / 2);
      const x1 = f32(cx - dw);
      const y1 = f32(cy - dh);
      const x2 = f32(cx + dw);
      const y2 = f32(cy + dh);
      xyxy[4 * k] = x1;
      xyxy[4 * k + 1] = y1;
      xyxy[4 * k + 2] = x2;
      xyxy[4 * k + 3] = y2;
      const off = f32(cCls[i] * offsetScale);
      boxes[4 * k] = x1 + off; // Float32Array stores round to float32
      boxes[4 * k + 1] = y1 + off;
      boxes[4 * k + 2] = x2 + off;
      boxes[4 * k + 3] = y2 + off;
      minX = Math.min(minX, x1, y1);
      maxX = Math.max(maxX, x2, y2);
      scores[k] = scoresAll[i];
      cls[k] = cCls[i];
      anchors[k] = a;
    }
    // Different classes cannot overlap when every coordinate span fits inside one class offset (margin for
    // float32 rounding of the offset boxes); then each box is compared with same-class kept boxes only.
    const separable = !agnostic && maxX - minX + 1 < maxWh;
    const identity = Uint32Array.from({ length: n }, (_, i) => i);
    const keep = nmsIndices(boxes, scores, iouThres, maxDet, separable ? cls : undefined, identity);
    output.push(
      keep.map((k) => {
        const row: NmsRow = [xyxy[4 * k], xyxy[4 * k + 1], xyxy[4 * k + 2], xyxy[4 * k + 3], scores[k], cls[k]];
        for (let m = 0; m < nm; m++) row.push(get(4 + nc + m, anchors[k]));
        return row;
      }),
    );
  }
  return output;
}
