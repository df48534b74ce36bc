// cocoEvaluate against pycocotools 2.0.11 (fixtures/golden/coco, every case under its tolerance) and
// hand-checked small cases of the rules the port copies.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type CocoEvalInput, cocoEvaluate } from './coco.js';
import { type CocoCase, compareCocoCase, isCocoCase } from './coco-golden.js';

const dir = new URL('../../../fixtures/golden/coco/', import.meta.url);
const cases = fs
  .readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort();

describe('pycocotools reference cases', () => {
  it('has the cases', () => {
    expect(cases).toEqual(expect.arrayContaining(['coco_crowd_5cls.json', 'coco_small_3cls.json', 'coco_ties_maxdets.json']));
  });
  for (const f of cases) {
    it(f, () => {
      const j = JSON.parse(fs.readFileSync(new URL(f, dir), 'utf8'));
      expect(isCocoCase(j)).toBe(true);
      const tol = j.tolerance.abs as number;
      expect(tol).toBeGreaterThan(0);
      const c = compareCocoCase(j as CocoCase);
      console.log(`${f}: ${c.numbers} numbers, worst abs err ${c.worst.toExponential(2)} at ${c.worstAt} (tol ${tol})`);
      expect(c.failures).toEqual([]);
      expect(c.numbers).toBe(12 + j.categories.length);
      expect(c.worst).toBeLessThanOrEqual(tol);
      expect(c.result.stats.AP).toBeCloseTo(j.expected.stats.AP, 6);
    });
  }
});

const img = (id: number) => ({ id, width: 640, height: 480 });
const gt = (image_id: number, bbox: number[], extra: { iscrowd?: number; area?: number; category_id?: number } = {}) => ({
  image_id,
  category_id: extra.category_id ?? 1,
  bbox,
  area: extra.area ?? bbox[2] * bbox[3],
  iscrowd: extra.iscrowd ?? 0,
});
const det = (image_id: number, bbox: number[], score: number, category_id = 1) => ({ image_id, category_id, bbox, score });

describe('rules', () => {
  it('a perfect detector scores 1 everywhere its ranges have ground truth, -1 elsewhere', () => {
    const input: CocoEvalInput = {
      images: [img(1)],
      categories: [{ id: 1 }],
      annotations: [gt(1, [10, 10, 100, 100])],
      detections: [det(1, [10, 10, 100, 100], 0.9)],
    };
    const r = cocoEvaluate(input);
    expect(r.stats.AP).toBeCloseTo(1, 12); // 1 - 2.2e-16: tp / (tp + fp + eps), as pycocotools
    expect(r.stats.AR1).toBe(1);
    expect(r.stats.APl).toBeCloseTo(1, 12);
    expect(r.stats.APs).toBe(-1);
    expect(r.stats.APm).toBe(-1);
    expect(r.perCategoryAp.get(1)).toBeCloseTo(1, 12);
  });
  it('a crowd region absorbs several detections (IoU over the detection area) without TP or FP', () => {
    const input: CocoEvalInput = {
      images: [img(1)],
      categories: [{ id: 1 }],
      annotations: [gt(1, [0, 0, 50, 50]), gt(1, [100, 100, 200, 200], { iscrowd: 1 })],
      detections: [det(1, [120, 120, 20, 20], 0.95), det(1, [150, 150, 20, 20], 0.9), det(1, [0, 0, 50, 50], 0.5)],
    };
    const r = cocoEvaluate(input);
    // Both crowd detections are ignored: the one real box is found at precision 1.
    expect(r.stats.AP).toBeCloseTo(1, 12); // 1 - 2.2e-16: tp / (tp + fp + eps), as pycocotools
    expect(r.stats.AR100).toBe(1);
    // With one detection per image, the top one (crowd, ignored) is all there is: recall 0.
    expect(r.stats.AR1).toBe(0);
  });
  it('a false positive ranked first halves precision at full recall; area comes from the annotation', () => {
    const input: CocoEvalInput = {
      images: [img(1), img(2)],
      categories: [{ id: 1 }, { id: 2 }],
      // a big box whose annotated area says "small" (a segmentation would) counts as small
      annotations: [gt(1, [0, 0, 100, 100], { area: 500 }), gt(2, [0, 0, 40, 40])],
      detections: [det(2, [300, 300, 40, 40], 0.99), det(1, [0, 0, 100, 100], 0.8), det(2, [0, 0, 40, 40], 0.7)],
    };
    const r = cocoEvaluate(input);
    expect(r.stats.APs).toBeCloseTo(1, 12); // small: the medium GT and the FP outside the range are ignored
    // all areas: order FP, TP, TP -> precision envelope 2/3 at every recall point
    expect(r.stats.AP).toBeCloseTo(2 / 3, 12);
    expect(r.perCategoryAp.get(2)).toBe(-1);
  });
  it('clear errors for bad input', () => {
    expect(() =>
      cocoEvaluate({ images: [img(1)], categories: [{ id: 1 }], annotations: [], detections: [det(9, [0, 0, 1, 1], 0.5)] }),
    ).toThrow(/detections\[0\]: image_id 9 is not among the images/);
    expect(() => cocoEvaluate({ images: [img(1)], categories: [{ id: 1 }], annotations: [gt(1, [0, 0, 1])], detections: [] })).toThrow(
      /annotations\[0\]: bbox must be \[x, y, width, height\]/,
    );
  });
});
