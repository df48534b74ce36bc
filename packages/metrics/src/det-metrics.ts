/**
 * Validation-set accumulation as Ultralytics 8.0.229: `DetectionValidator.update_metrics` per image,
 * `get_stats`, `DetMetrics.process` / `Metric` (ultralytics/models/yolo/detect/val.py,
 * ultralytics/utils/metrics.py).
 *
 * Status: exact port of the semantics: an image with no predictions contributes its GT (if any); an image
 * with predictions but no GT contributes its predictions as false positives; an image with neither adds
 * nothing. If no prediction is correct at any threshold, `DetMetrics.process` is skipped and every metric
 * is 0 with `maps` empty (as Ultralytics). Means use numpy's pairwise summation. The confusion matrix is
 * updated as the validator does with plots on (only for images with GT).
 * Deviation: none known beyond those of ./ap.ts and ./match.ts (ties of exactly equal conf / IoU).
 */
import { type ApPerClassResult, apPerClass } from './ap.js';
import { ConfusionMatrix } from './confusion.js';
import { type Detection, IOU_THRESHOLDS, type Label, processBatch } from './match.js';
import { f32, npMean } from './numeric.js';

export interface ClassMetrics {
  /** Class index. */
  cls: number;
  name: string;
  /** GT boxes of this class over the set. */
  nGt: number;
  /** Predictions of this class over the set. */
  nPred: number;
  precision: number;
  recall: number;
  f1: number;
  ap50: number;
  /** Mean AP over the 10 IoU thresholds. */
  ap50_95: number;
  /** AP at each IoU threshold (0.50 .. 0.95). */
  apPerIou: number[];
  /** TP / FP counts at the max-F1 confidence, as Ultralytics derives them (round(R*nGt), ...). */
  tp: number;
  fp: number;
}

export interface DetectionResults {
  /** False when no prediction was correct at any threshold (Ultralytics then skips the computation). */
  processed: boolean;
  /** Images seen by update(). */
  seen: number;
  precision: number;
  recall: number;
  map50: number;
  map75: number;
  map50_95: number;
  /** 0.1 * mAP50 + 0.9 * mAP50-95. */
  fitness: number;
  /** Per class 0..nc-1 the AP50-95; classes without GT get the overall mAP50-95. Empty when not processed. */
  maps: number[];
  /** Classes that have GT (`ap_class_index`); empty when not processed. */
  apClassIndex: number[];
  /** GT count per class 0..nc-1 (`nt_per_class`). */
  ntPerClass: number[];
  /** One entry per class in apClassIndex. */
  perClass: ClassMetrics[];
  /** Index on the 1000-point confidence grid where P/R/F1 were read (-1 when not processed). */
  maxF1Index: number;
  maxF1Conf: number;
  /** Ultralytics' results_dict keys. */
  resultsDict: Record<'metrics/precision(B)' | 'metrics/recall(B)' | 'metrics/mAP50(B)' | 'metrics/mAP50-95(B)' | 'fitness', number>;
  /** Full ap_per_class output (curves included) when processed. */
  raw?: ApPerClassResult;
}

export class DetectionMetrics {
  readonly nc: number;
  readonly names: string[];
  readonly confusionMatrix: ConfusionMatrix;
  readonly iouThresholds: readonly number[];
  private seen = 0;
  private readonly correct: boolean[][] = [];
  private readonly conf: number[] = [];
  private readonly predCls: number[] = [];
  private readonly targetCls: number[] = [];

  /**
   * @param nc number of classes of the data set.
   * @param names class names (default "0", "1", ...).
   * @param opts.conf the validation conf threshold, used only by the confusion matrix (0.001 -> 0.25 as
   *   Ultralytics); opts.iouThresholds default float32 linspace(0.5, 0.95, 10).
   */
  constructor(nc: number, names?: readonly string[], opts: { conf?: number; iouThresholds?: readonly number[] } = {}) {
    if (!Number.isInteger(nc) || nc < 1) throw new Error(`DetectionMetrics: nc must be a positive integer, got ${nc}`);
    if (names && names.length !== nc) throw new Error(`DetectionMetrics: ${names.length} names given for nc=${nc}`);
    this.nc = nc;
    this.names = names ? [...names] : Array.from({ length: nc }, (_, i) => String(i));
    this.confusionMatrix = new ConfusionMatrix(nc, opts.conf ?? 0.001);
    this.iouThresholds = opts.iouThresholds ?? IOU_THRESHOLDS;
    if (this.iouThresholds.length < 6) {
      throw new Error(`DetectionMetrics: ${this.iouThresholds.length} IoU thresholds given; mAP75 needs index 5 (use the 10 defaults)`);
    }
  }

  private checkClass(v: number, what: string): void {
    if (!(Number.isInteger(v) && v >= 0 && v < this.nc)) {
      throw new Error(`DetectionMetrics.update: ${what} class ${v} is not an integer in 0..${this.nc - 1}`);
    }
  }

  /**
   * One image: detections [x1, y1, x2, y2, conf, cls] sorted by descending conf (NMS output order; the
   * matching depends on it), labels [cls, x1, y1, x2, y2], both in the same pixel space.
   * Returns this image's correct matrix.
   */
  update(detections: readonly Detection[], labels: readonly Label[]): boolean[][] {
    detections.forEach((d, i) => {
      if (d.length < 6)
        throw new Error(`DetectionMetrics.update: detection ${i} has ${d.length} values; expected [x1, y1, x2, y2, conf, cls]`);
      this.checkClass(d[5], `detection ${i}`);
    });
    labels.forEach((l, i) => {
      if (l.length < 5) throw new Error(`DetectionMetrics.update: label ${i} has ${l.length} values; expected [cls, x1, y1, x2, y2]`);
      this.checkClass(l[0], `label ${i}`);
    });
    this.seen += 1;
    const nl = labels.length;
    const npr = detections.length;
    if (npr === 0) {
      if (nl) {
        for (const l of labels) this.targetCls.push(l[0]);
        this.confusionMatrix.processBatch(
          null,
          labels.map((l) => l[0]),
        );
      }
      return [];
    }
    let correct: boolean[][] = detections.map(() => new Array(this.iouThresholds.length).fill(false));
    if (nl) {
      correct = processBatch(detections, labels, this.iouThresholds);
      this.confusionMatrix.processBatch(detections, labels);
    }
    detections.forEach((d, i) => {
      this.correct.push(correct[i]);
      this.conf.push(f32(d[4]));
      this.predCls.push(d[5]);
    });
    for (const l of labels) this.targetCls.push(l[0]);
    return correct;
  }

  /**
   * The accumulated statistics (Ultralytics' `stats`: per prediction its correct row, conf and class; the
   * GT classes), e.g. to compute curves even when no prediction was correct. Copies.
   */
  stats(): { correct: boolean[][]; conf: number[]; predCls: number[]; targetCls: number[] } {
    return { correct: this.correct.map((r) => [...r]), conf: [...this.conf], predCls: [...this.predCls], targetCls: [...this.targetCls] };
  }

  /** `get_stats` + `DetMetrics` properties. */
  compute(): DetectionResults {
    const ntPerClass = new Array(this.nc).fill(0);
    for (const c of this.targetCls) ntPerClass[c] += 1;
    const anyCorrect = this.correct.some((row) => row.some(Boolean));
    const zeroDict = {
      'metrics/precision(B)': 0,
      'metrics/recall(B)': 0,
      'metrics/mAP50(B)': 0,
      'metrics/mAP50-95(B)': 0,
      fitness: 0,
    };
    if (!anyCorrect) {
      return {
        processed: false,
        seen: this.seen,
        precision: 0,
        recall: 0,
        map50: 0,
        map75: 0,
        map50_95: 0,
        fitness: 0,
        maps: [],
        apClassIndex: [],
        ntPerClass,
        perClass: [],
        maxF1Index: -1,
        maxF1Conf: Number.NaN,
        resultsDict: zeroDict,
      };
    }
    const res = apPerClass(this.correct, this.conf, this.predCls, this.targetCls);
    const k = res.classes.length;
    const allAp = res.ap.flat();
    const apMean = res.ap.map((row) => npMean(row));
    const mp = k ? npMean(res.p) : 0;
    const mr = k ? npMean(res.r) : 0;
    const map50 = k ? npMean(res.ap.map((row) => row[0])) : 0;
    const map75 = k ? npMean(res.ap.map((row) => row[5])) : 0;
    const map = k ? npMean(allAp) : 0;
    // (w * [mp, mr, map50, map]).sum() with w = [0, 0, 0.1, 0.9], NaN entries dropped (Metric.fitness)
    const fitness = [0 * mp, 0 * mr, 0.1 * map50, 0.9 * map].filter((v) => !Number.isNaN(v)).reduce((a, b) => a + b, 0);
    const maps = new Array(this.nc).fill(0).map((z) => z + map);
    res.classes.forEach((c, i) => {
      maps[c] = apMean[i];
    });
    const perClass: ClassMetrics[] = res.classes.map((c, i) => ({
      cls: c,
      name: this.names[c],
      nGt: res.nt[i],
      nPred: res.nPred[i],
      precision: res.p[i],
      recall: res.r[i],
      f1: res.f1[i],
      ap50: res.ap[i][0],
      ap50_95: apMean[i],
      apPerIou: res.ap[i],
      tp: res.tp[i],
      fp: res.fp[i],
    }));
    return {
      processed: true,
      seen: this.seen,
      precision: mp,
      recall: mr,
      map50,
      map75,
      map50_95: map,
      fitness,
      maps,
      apClassIndex: [...res.classes],
      ntPerClass,
      perClass,
      maxF1Index: res.maxF1Index,
      maxF1Conf: res.maxF1Conf,
      resultsDict: {
        'metrics/precision(B)': mp,
        'metrics/recall(B)': mr,
        'metrics/mAP50(B)': map50,
        'metrics/mAP50-95(B)': map,
        fitness,
      },
      raw: res,
    };
  }

  /** Clears the accumulated statistics and the confusion matrix. */
  reset(): void {
    this.seen = 0;
    this.correct.length = 0;
    this.conf.length = 0;
    this.predCls.length = 0;
    this.targetCls.length = 0;
    for (const row of this.confusionMatrix.matrix) row.fill(0);
  }
}
