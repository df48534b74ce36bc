/**
 * Detection confusion matrix as Ultralytics 8.0.229 (`ConfusionMatrix`, task 'detect', in
 * ultralytics/utils/metrics.py): (nc+1) x (nc+1), rows = predicted class, columns = true class, the last
 * row/column is background.
 *
 * Status: exact port of `process_batch` including its quirks: detections are filtered with conf > conf
 * (float32), GT and detections pair at IoU > iouThres (float32), each detection keeps its best-IoU GT and
 * then each GT its best-IoU detection; unmatched GT count as (background, gt); unmatched detections count
 * as (det, background) **only if at least one pair matched in the image** (Ultralytics' `if n:`); with
 * no labels nothing is counted. conf 0.001 or null becomes 0.25 as in Ultralytics.
 * Deviation: ties between exactly equal IoUs are broken by a stable sort instead of numpy's quicksort.
 */
import { boxIou, type Detection, type Label } from './match.js';
import { argsortStable, f32 } from './numeric.js';

function sortDescLikeNumpy(rows: [number, number, number][]): [number, number, number][] {
  return argsortStable(rows.map((r) => r[2]))
    .reverse()
    .map((i) => rows[i]);
}

function uniqueFirst(rows: [number, number, number][], col: 0 | 1): [number, number, number][] {
  const first = new Map<number, [number, number, number]>();
  for (const r of rows) if (!first.has(r[col])) first.set(r[col], r);
  return [...first.keys()].sort((a, b) => a - b).map((k) => first.get(k) as [number, number, number]);
}

export class ConfusionMatrix {
  readonly nc: number;
  readonly conf: number;
  readonly iouThres: number;
  /** matrix[predicted][true], (nc+1) x (nc+1); index nc is background. */
  readonly matrix: number[][];

  constructor(nc: number, conf: number | null = 0.25, iouThres = 0.45) {
    if (!Number.isInteger(nc) || nc < 1) throw new Error(`ConfusionMatrix: nc must be a positive integer, got ${nc}`);
    this.nc = nc;
    this.conf = conf === null || conf === 0.001 ? 0.25 : conf;
    this.iouThres = iouThres;
    this.matrix = Array.from({ length: nc + 1 }, () => new Array(nc + 1).fill(0));
  }

  private classIndex(v: number, what: string): number {
    const c = Math.trunc(f32(v));
    if (!(c >= 0 && c < this.nc)) throw new Error(`ConfusionMatrix: ${what} class ${v} is outside 0..${this.nc - 1}`);
    return c;
  }

  /**
   * `process_batch(detections, labels)`: detections [x1, y1, x2, y2, conf, cls] or null (then `labels`
   * may be plain GT classes: every GT is a background FN); labels [cls, x1, y1, x2, y2].
   */
  processBatch(detections: readonly Detection[] | null, labels: readonly Label[] | readonly number[]): void {
    if (detections === null) {
      for (const l of labels) {
        const c = typeof l === 'number' ? l : l[0];
        this.matrix[this.nc][this.classIndex(c, 'GT')] += 1;
      }
      return;
    }
    const rows = labels.map((l, i) => {
      if (typeof l === 'number' || l.length < 5) {
        throw new Error(`ConfusionMatrix.processBatch: label ${i} must be [cls, x1, y1, x2, y2] when detections are given`);
      }
      return l;
    });
    const conf = f32(this.conf);
    const dets = detections.filter((d, i) => {
      if (d.length < 6) throw new Error(`ConfusionMatrix.processBatch: detection ${i} has ${d.length} values; expected 6`);
      return f32(d[4]) > conf;
    });
    const gtClasses = rows.map((l) => this.classIndex(l[0], 'GT'));
    const detClasses = dets.map((d) => this.classIndex(d[5], 'detection'));
    const iou = boxIou(
      rows.map((l) => l.slice(1, 5)),
      dets.map((d) => d.slice(0, 4)),
    );
    const thr = f32(this.iouThres);
    // torch.where(iou > thr): row-major [gt, det, iou].
    let matches: [number, number, number][] = [];
    iou.forEach((row, g) => {
      row.forEach((v, d) => {
        if (v > thr) matches.push([g, d, v]);
      });
    });
    if (matches.length > 1) {
      matches = sortDescLikeNumpy(matches);
      matches = uniqueFirst(matches, 1);
      matches = sortDescLikeNumpy(matches);
      matches = uniqueFirst(matches, 0);
    }
    const n = matches.length > 0;
    gtClasses.forEach((gc, g) => {
      const hit = matches.filter((m) => m[0] === g);
      if (n && hit.length === 1) this.matrix[detClasses[hit[0][1]]][gc] += 1;
      else this.matrix[this.nc][gc] += 1;
    });
    if (n) {
      detClasses.forEach((dc, d) => {
        if (!matches.some((m) => m[1] === d)) this.matrix[dc][this.nc] += 1;
      });
    }
  }

  /** `tp_fp()`: diagonal and row sums minus diagonal, background excluded. */
  tpFp(): { tp: number[]; fp: number[] } {
    const tp = this.matrix.map((row, i) => row[i]);
    const fp = this.matrix.map((row, i) => row.reduce((a, b) => a + b, 0) - tp[i]);
    return { tp: tp.slice(0, this.nc), fp: fp.slice(0, this.nc) };
  }
}
