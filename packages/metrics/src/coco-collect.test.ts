// CocoCollector: validator boxes (xyxy, original pixels) become COCO input as Ultralytics' pred_to_json
// writes it, and its summary is cocoEvaluate's.
import { describe, expect, it } from 'vitest';
import { cocoEvaluate } from './coco.js';
import { CocoCollector } from './coco-collect.js';

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
