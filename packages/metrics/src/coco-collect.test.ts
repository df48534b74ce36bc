// CocoCollector: validator boxes (xyxy, original pixels) become COCO input as Ultralytics' pred_to_json
// writes it, and its summary is cocoEvaluate's.
import { describe, expect, it } from 'vitest';
import { cocoEvaluate } from './coco.js';
import { CocoCollector } from './coco-collect.js';
import { DetectionMetrics } from './det-metrics.js';

describe('CocoCollector', () => {
  it('converts boxes, rounds as pred_to_json, numbers categories from 1, areas are box areas', () => {
    const c = new CocoCollector(2, ['circle', 'square']);
    c.add(640, 480, [[1, 10, 20, 110, 70]], [[10.00049, 20.1234, 110.5, 70, 0.1234567, 1]]);
    c.add(320, 320, [], [[0, 0, 5, 5, 0.5, 0]]);
    const inp = c.input();
    expect(inp.images).toEqual([
      { id: 1, width: 640, height: 480 },
      { id: 2, width: 320, height: 320 },
    ]);
    expect(inp.annotations).toEqual([{ id: 1, image_id: 1, category_id: 2, bbox: [10, 20, 100, 50], area: 5000, iscrowd: 0 }]);
    expect(inp.detections[0]).toEqual({ image_id: 1, category_id: 2, bbox: [10, 20.123, 100.5, 49.877], score: 0.12346 });
    expect(inp.categories).toEqual([
      { id: 1, name: 'circle' },
      { id: 2, name: 'square' },
    ]);
    const s = c.summarize();
    const r = cocoEvaluate(inp);
    expect(s.stats).toEqual(r.stats);
    expect(s.perClass).toEqual([
      { cls: 0, name: 'circle', ap: -1, nGt: 0 },
      { cls: 1, name: 'square', ap: r.perCategoryAp.get(2), nGt: 1 },
    ]);
    expect(s.stats.APm).toBeGreaterThan(0.5); // a 100x50 box matched at IoU ~0.99
    expect(s.stats.APs).toBe(-1);
    expect([s.images, s.annotations, s.detections]).toEqual([2, 1, 2]);
  });
});

/**
 * The 2-epoch smoke sweep (experiments/smoke.yaml) stores identical COCO numbers for the baseline and the
 * DAttention trial (AP 0.0014026, APl 0.0028053, AR100 0.0083333) while their mAP50 differ (0.0190 vs
 * 0.0203). Re-validating both trials' best.safetensors and running pycocotools 2.0.11 on the dumped input
 * gave the stored numbers: it is not a mix-up of trials, epochs or boxes. After 2 epochs at lr ~5e-5 both
 * models still output their initial prior: on every one of the 8 validation images (160 x 160) a
 * whole-image "square" box, [0, 0, 160, 160] after clipping, at a confidence that differs between images
 * only after the 5th decimal (0.00618 / 0.00621 once rounded, as Ultralytics' pred_to_json rounds). Its
 * only true positive is the large square of image 6 (IoU 0.532: a match at IoU 0.50 only). pycocotools
 * ranks equal scores in image order, so in both trials the match is the 6th of 8 ranked boxes: precision
 * 1/6 at recall 1/6 of the 6 squares, whatever the tiny differences; Ultralytics' mAP ranks the full
 * float32 confidences, where the two models order the 8 boxes differently.
 * Reproduced here: two "trials" with the same boxes whose confidences differ below the 5th decimal
 * (pycocotools 2.0.11 on this input: AP 0.001402640264, AP50 0.01402640264, APl 0.016666666667, AR100 0.008333333333).
 */
describe('the smoke sweep case: equal COCO numbers, different mAP50', () => {
  // image i (1-based) -> its squares (cls 1), [x1, y1, x2, y2] (6, as in the smoke set); circles are never detected
  const squares: Record<number, number[][]> = {
    1: [
      [10, 10, 40, 40],
      [100, 100, 150, 150],
    ],
    2: [[20, 30, 60, 90]],
    4: [[5, 5, 30, 25]],
    6: [[56, 0, 160, 131]], // IoU 0.532 with the whole image
    8: [[90, 10, 150, 70]],
  };
  const circle = [0, 0, 140, 10, 150]; // one small circle per image
  const run = (conf: (image: number) => number) => {
    const c = new CocoCollector(2, ['circle', 'square']);
    const m = new DetectionMetrics(2, ['circle', 'square']);
    for (let i = 1; i <= 8; i++) {
      const labels = [...(squares[i] ?? []).map((b) => [1, ...b]), circle];
      const preds = [[0, 0, 160, 160, conf(i), 1]];
      c.add(160, 160, labels, preds);
      m.update(preds, labels);
    }
    return { coco: c.summarize(), map50: m.compute().map50 };
  };
  it('ties after rounding rank in image order: the same COCO numbers whichever image scores highest', () => {
    // trial A: image 6's box has the highest confidence; trial B: the lowest (all 0.00618 to 5 decimals)
    const a = run((i) => 0.00618 + (i === 6 ? 4e-7 : i * 1e-8));
    const b = run((i) => 0.00618 + (i === 6 ? 0 : 1e-7 + i * 1e-8));
    expect(a.coco.stats).toEqual(b.coco.stats);
    // square: precision 1/6 from recall 0 to 1/6 (17 of the 101 recall points) at IoU 0.50 only; circle: 0
    expect(a.coco.stats.AP50).toBeCloseTo(((17 / 101) * (1 / 6)) / 2, 15);
    expect(a.coco.stats.AP).toBeCloseTo(((17 / 101) * (1 / 6)) / 2 / 10, 15);
    expect(a.coco.stats.AR100).toBeCloseTo(1 / 6 / 2 / 10, 15);
    // area large: one square (image 6), no circle; all 101 recall points at precision 1/6, IoU 0.50 only
    expect(a.coco.stats.APl).toBeCloseTo(1 / 6 / 10, 15);
    // Ultralytics' mAP50 sees the full confidences: the match ranks 1st in A, 8th in B
    expect(a.map50).toBeGreaterThan(b.map50);
  });
});
