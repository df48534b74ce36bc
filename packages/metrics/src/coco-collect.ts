/**
 * COCO evaluation of a validation run: collects, image by image, the ground truth and the predictions
 * that the Ultralytics validator scores (boxes in the original image's pixels, after `scale_boxes`) as
 * COCO images / annotations / detections, then runs `cocoEvaluate`, i.e. what Ultralytics'
 * `save_json=True` + `eval_json` do with pycocotools on COCO itself
 * (ultralytics/models/yolo/detect/val.py `pred_to_json`: xyxy -> [x, y, w, h] rounded to 3 decimals,
 * score rounded to 5, category = class + 1 here).
 *
 * Areas: YOLO labels carry no segmentation, so a ground truth's COCO `area` is its box area in original
 * pixels (w * h); COCO's own annotations use the mask area, which is smaller for most objects, so
 * APs/APm/APl here are "by box area". Every box is iscrowd 0.
 * Status: exact port of the bookkeeping; rounding is JS `toFixed` (half away from zero on exact binary
 * ties, where Python's `round` goes to even: at most 0.001 px on such ties).
 */
import { type CocoAnnotation, type CocoDetection, type CocoEvalInput, type CocoImage, type CocoStats, cocoEvaluate } from './coco.js';

/** What a trial stores: the 12 summarize() numbers (-1 where no ground truth) and AP@[.50:.95] per class. */
export interface CocoSummary {
  stats: CocoStats;
  /** One entry per class 0..nc-1: AP@[.50:.95] (area all, 100 dets), -1 without ground truth; nGt its ground-truth boxes. */
  perClass: { cls: number; name: string; ap: number; nGt: number }[];
  images: number;
  annotations: number;
  detections: number;
}

const round = (x: number, d: number) => Number(x.toFixed(d));

export class CocoCollector {
  readonly nc: number;
  readonly names: string[];
  private readonly images: CocoImage[] = [];
  private readonly annotations: CocoAnnotation[] = [];
  private readonly detections: CocoDetection[] = [];

  constructor(nc: number, names?: readonly string[]) {
    this.nc = nc;
    this.names = Array.from({ length: nc }, (_, i) => names?.[i] ?? String(i));
  }

  /**
   * One image: `labels` [cls, x1, y1, x2, y2] and `preds` [x1, y1, x2, y2, conf, cls], both in the
   * original image's pixels; `width` / `height` of the original image.
   */
  add(width: number, height: number, labels: readonly (readonly number[])[], preds: readonly (readonly number[])[]): void {
    const id = this.images.length + 1;
    this.images.push({ id, width, height });
    for (const [cls, x1, y1, x2, y2] of labels) {
      const w = x2 - x1;
      const h = y2 - y1;
      this.annotations.push({
        id: this.annotations.length + 1,
        image_id: id,
        category_id: cls + 1,
        bbox: [x1, y1, w, h],
        area: w * h,
        iscrowd: 0,
      });
    }
    for (const [x1, y1, x2, y2, conf, cls] of preds) {
      this.detections.push({
        image_id: id,
        category_id: cls + 1,
        bbox: [round(x1, 3), round(y1, 3), round(x2 - x1, 3), round(y2 - y1, 3)],
        score: round(conf, 5),
      });
    }
  }

  input(): CocoEvalInput {
    const categories = this.names.map((name, i) => ({ id: i + 1, name }));
    return { images: this.images, annotations: this.annotations, categories, detections: this.detections };
  }

  summarize(): CocoSummary {
    const r = cocoEvaluate(this.input());
    const nGt = new Array<number>(this.nc).fill(0);
    for (const a of this.annotations) nGt[a.category_id - 1] += 1;
    return {
      stats: r.stats,
      perClass: this.names.map((name, cls) => ({ cls, name, ap: r.perCategoryAp.get(cls + 1) ?? -1, nGt: nGt[cls] })),
      images: this.images.length,
      annotations: this.annotations.length,
      detections: this.detections.length,
    };
  }
}
