/**
 * Validation matching as Ultralytics 8.0.229 computes it:
 * `box_iou` (ultralytics/utils/metrics.py, computed in torch float32),
 * `DetectionValidator._process_batch` (ultralytics/models/yolo/detect/val.py) and
 * `BaseValidator.match_predictions` (ultralytics/engine/validator.py, the non-scipy path).
 *
 * Status: exact port of the semantics. Every arithmetic step of the IoU is rounded to float32 (Math.fround
 * after each op reproduces float32 arithmetic exactly), so decisions at the float32 thresholds agree.
 * Deviation: numpy's unstable quicksort on exactly equal IoUs is replaced by a stable sort (equal IoUs
 * are ordered as numpy's insertion sort orders small arrays: ascending, stable, then reversed).
 */
import { argsortStable, f32 } from './numeric.js';

/** xyxy box. */
export type Box = readonly [number, number, number, number] | readonly number[];
/** A detection row as NMS returns it: [x1, y1, x2, y2, conf, cls]. */
export type Detection = readonly number[];
/** A ground-truth row: [cls, x1, y1, x2, y2]. */
export type Label = readonly number[];

/** float32 values of torch.linspace(0.5, 0.95, 10) (DetectionValidator.iouv). */
export const IOU_THRESHOLDS: readonly number[] = Object.freeze([0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95].map((v) => f32(v)));

const EPS32 = f32(1e-7);

/**
 * `box_iou(box1, box2)`: IoU of every pair of xyxy boxes, [a.length][b.length], in torch float32
 * arithmetic: inter / (area1 + area2 - inter + 1e-7) with inter = clamp(min(x2) - max(x1), 0) * clamp(...).
 */
export function boxIou(a: readonly Box[], b: readonly Box[]): number[][] {
  const bb = b.map((r, j) => {
    if (r.length < 4) throw new Error(`boxIou: box b[${j}] has ${r.length} values; expected [x1, y1, x2, y2]`);
    const x1 = f32(r[0]);
    const y1 = f32(r[1]);
    const x2 = f32(r[2]);
    const y2 = f32(r[3]);
    return [x1, y1, x2, y2, f32(f32(x2 - x1) * f32(y2 - y1))];
  });
  return a.map((r, i) => {
    if (r.length < 4) throw new Error(`boxIou: box a[${i}] has ${r.length} values; expected [x1, y1, x2, y2]`);
    const ax1 = f32(r[0]);
    const ay1 = f32(r[1]);
    const ax2 = f32(r[2]);
    const ay2 = f32(r[3]);
    const areaA = f32(f32(ax2 - ax1) * f32(ay2 - ay1));
    return bb.map(([bx1, by1, bx2, by2, areaB]) => {
      const w = Math.max(f32(Math.min(ax2, bx2) - Math.max(ax1, bx1)), 0);
      const h = Math.max(f32(Math.min(ay2, by2) - Math.max(ay1, by1)), 0);
      const inter = f32(w * h);
      return f32(inter / f32(f32(f32(areaA + areaB) - inter) + EPS32));
    });
  });
}

/** Rows sorted by key descending the way `a[key.argsort()[::-1]]` orders them (ties: later row first). */
function sortDescLikeNumpy<T>(rows: T[], key: (r: T) => number): T[] {
  const order = argsortStable(rows.map(key));
  return order.reverse().map((i) => rows[i]);
}

/** `rows[np.unique(col, return_index=True)[1]]`: the first row of each distinct value, by value ascending. */
function uniqueFirst<T>(rows: T[], col: (r: T) => number): T[] {
  const first = new Map<number, T>();
  for (const r of rows) if (!first.has(col(r))) first.set(col(r), r);
  return [...first.keys()].sort((x, y) => x - y).map((k) => first.get(k) as T);
}

/**
 * `match_predictions(pred_classes, true_classes, iou)`: iou is [nGt][nPred] (as box_iou(gt, pred)).
 * For each threshold: class-mismatched pairs get IoU 0; pairs with IoU >= thr sorted by IoU descending;
 * each prediction keeps its best GT, then each GT keeps the prediction with the lowest index.
 * Returns correct[nPred][nThresholds] as booleans.
 */
export function matchPredictions(
  predClasses: ArrayLike<number>,
  gtClasses: ArrayLike<number>,
  iou: readonly (readonly number[])[] | readonly ArrayLike<number>[],
  thresholds: readonly number[] = IOU_THRESHOLDS,
): boolean[][] {
  const nPred = predClasses.length;
  const nGt = gtClasses.length;
  if (iou.length !== nGt) throw new Error(`matchPredictions: iou has ${iou.length} rows; expected one per GT (${nGt})`);
  const masked: number[][] = [];
  for (let g = 0; g < nGt; g++) {
    if (iou[g].length !== nPred) {
      throw new Error(`matchPredictions: iou row ${g} has ${iou[g].length} values; expected one per prediction (${nPred})`);
    }
    const row: number[] = new Array(nPred);
    for (let p = 0; p < nPred; p++) row[p] = f32(gtClasses[g]) === f32(predClasses[p]) ? f32(iou[g][p]) : 0;
    masked.push(row);
  }
  const correct: boolean[][] = Array.from({ length: nPred }, () => new Array(thresholds.length).fill(false));
  thresholds.forEach((thrRaw, t) => {
    const thr = f32(thrRaw);
    // np.nonzero(iou >= thr): row-major pairs [gt, pred].
    let matches: [number, number][] = [];
    for (let g = 0; g < nGt; g++) for (let p = 0; p < nPred; p++) if (masked[g][p] >= thr) matches.push([g, p]);
    if (matches.length > 1) {
      matches = sortDescLikeNumpy(matches, ([g, p]) => masked[g][p]);
      matches = uniqueFirst(matches, (m) => m[1]);
      matches = uniqueFirst(matches, (m) => m[0]);
    }
    for (const [, p] of matches) correct[p][t] = true;
  });
  return correct;
}

/**
 * `DetectionValidator._process_batch(detections, labels)`: detections [x1, y1, x2, y2, conf, cls],
 * labels [cls, x1, y1, x2, y2], both in the same pixel space. Returns correct[nDet][10].
 */
export function processBatch(
  detections: readonly Detection[],
  labels: readonly Label[],
  thresholds: readonly number[] = IOU_THRESHOLDS,
): boolean[][] {
  detections.forEach((d, i) => {
    if (d.length < 6) throw new Error(`processBatch: detection ${i} has ${d.length} values; expected [x1, y1, x2, y2, conf, cls]`);
  });
  labels.forEach((l, i) => {
    if (l.length < 5) throw new Error(`processBatch: label ${i} has ${l.length} values; expected [cls, x1, y1, x2, y2]`);
  });
  const iou = boxIou(
    labels.map((l) => l.slice(1, 5)),
    detections.map((d) => d.slice(0, 4)),
  );
  return matchPredictions(
    detections.map((d) => d[5]),
    labels.map((l) => l[0]),
    iou,
    thresholds,
  );
}
