// Hand-made cases and naive float64 reference loops for the metrics building blocks.
import { describe, expect, it, test } from 'vitest';
import { apPerClass, computeAp, smooth } from './ap.js';
import { ConfusionMatrix } from './confusion.js';
import { DetectionMetrics } from './det-metrics.js';
import { compareMetricsScenario, type MetricsScenario } from './golden.js';
import { boxIou, IOU_THRESHOLDS, matchPredictions, processBatch } from './match.js';
import { linspace, npInterp, npSum, roundHalfEven } from './numeric.js';

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function randomBox(rnd: () => number): number[] {
  const x1 = rnd() * 500;
  const y1 = rnd() * 500;
  return [x1, y1, x1 + 1 + rnd() * 150, y1 + 1 + rnd() * 150];
}

describe('numeric helpers', () => {
  it('linspace matches numpy (i*step, exact endpoint)', () => {
    const x = linspace(0, 1, 101);
    expect(x.length).toBe(101);
    expect(x[0]).toBe(0);
    expect(x[100]).toBe(1);
    expect(x[37]).toBe(37 * 0.01);
    const y = linspace(0, 1, 1000);
    expect(y[185]).toBe(185 * (1 / 999));
    expect(y[999]).toBe(1);
  });
  it('npInterp: left/right, exact hits return the last tie, linear in between', () => {
    const xp = [0, 1, 1, 2];
    const fp = [0, 10, 20, 40];
    const got = Array.from(npInterp([-1, 0, 0.5, 1, 1.5, 2, 3], xp, fp, -5, 99));
    expect(got).toEqual([-5, 0, 5, 20, 30, 40, 99]);
    expect(Array.from(npInterp([-1, 3], xp, fp))).toEqual([0, 40]);
  });
  it('npSum (pairwise) equals the exact sum on integers and stays close on floats', () => {
    const a = Array.from({ length: 300 }, (_, i) => i);
    expect(npSum(a)).toBe((299 * 300) / 2);
    const rnd = lcg(3);
    const b = Array.from({ length: 1000 }, () => rnd());
    const naive = b.reduce((s, v) => s + v, 0);
    expect(Math.abs(npSum(b) - naive)).toBeLessThan(1e-10);
  });
  it('roundHalfEven rounds halves to even like np.round', () => {
    expect([0.5, 1.5, 2.5, 3.4, 3.6, -0.5, -1.5].map(roundHalfEven)).toEqual([0, 2, 2, 3, 4, -0, -2]);
  });
});

describe('boxIou', () => {
  it('agrees with a float64 reference within float32 precision and hits exact values', () => {
    const rnd = lcg(11);
    const a = Array.from({ length: 20 }, () => randomBox(rnd));
    const b = Array.from({ length: 30 }, () => randomBox(rnd));
    // Make some overlap heavily.
    for (let i = 0; i < 10; i++) b[i] = a[i].map((v) => v + (rnd() - 0.5) * 10);
    const got = boxIou(a, b);
    let worst = 0;
    let overlapping = 0;
    for (let i = 0; i < a.length; i++) {
      for (let j = 0; j < b.length; j++) {
        const [ax1, ay1, ax2, ay2] = a[i].map(Math.fround);
        const [bx1, by1, bx2, by2] = b[j].map(Math.fround);
        const iw = Math.max(0, Math.min(ax2, bx2) - Math.max(ax1, bx1));
        const ih = Math.max(0, Math.min(ay2, by2) - Math.max(ay1, by1));
        const inter = iw * ih;
        const ref = inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter + 1e-7);
        if (ref > 0.3) overlapping++;
        worst = Math.max(worst, Math.abs(got[i][j] - ref));
        expect(Math.fround(got[i][j])).toBe(got[i][j]);
      }
    }
    console.log(`boxIou: worst |float32 - float64 ref| = ${worst.toExponential(2)} (${overlapping} pairs with IoU > 0.3)`);
    expect(overlapping).toBeGreaterThan(5);
    expect(worst).toBeLessThan(1e-6);
    // Exactly half: inter 100, union 200 (+1e-7 vanishes in float32).
    expect(boxIou([[0, 0, 10, 10]], [[0, 0, 10, 20]])[0][0]).toBe(0.5);
    // Disjoint and zero-area boxes: 0.
    expect(
      boxIou(
        [[0, 0, 10, 10]],
        [
          [20, 20, 30, 30],
          [5, 5, 5, 9],
        ],
      )[0],
    ).toEqual([0, 0]);
  });
});

describe('matchPredictions / processBatch', () => {
  it('IoU exactly 0.5 is correct at 0.50 only; class mismatch never matches', () => {
    const c = processBatch(
      [
        [0, 0, 10, 20, 0.9, 0],
        [0, 0, 10, 10, 0.8, 1],
      ],
      [[0, 0, 0, 10, 10]],
    );
    expect(c[0]).toEqual([true, false, false, false, false, false, false, false, false, false]);
    expect(c[1]).toEqual(new Array(10).fill(false));
  });
  it('a GT goes to the lowest-index (highest-conf) prediction, not the best IoU (match_order)', () => {
    // IoU of pred 0 = 0.67, pred 1 = 0.90 with the single GT.
    const c = processBatch(
      [
        [100, 100, 200, 167, 0.9, 0],
        [100, 100, 200, 190, 0.8, 0],
      ],
      [[0, 100, 100, 200, 200]],
    );
    expect(c.map((r) => r.map(Number))).toEqual([
      [1, 1, 1, 1, 0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 1, 1, 1, 1, 1, 0],
    ]);
  });
  it('a prediction covering two GTs takes its best-IoU GT; the other GT stays free', () => {
    // pred 0 overlaps GT 0 (IoU 0.8) and GT 1 (IoU 0.6); pred 1 overlaps GT 1 only (IoU 0.55).
    const iou = [
      [0.8, 0],
      [0.6, 0.55],
    ].map((r) => r.map(Math.fround));
    const c = matchPredictions([0, 0], [0, 0], iou);
    expect(c[0].map(Number)).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    expect(c[1].map(Number)).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
  });
  it('thresholds are the float32 linspace(0.5, 0.95, 10)', () => {
    expect(IOU_THRESHOLDS.length).toBe(10);
    IOU_THRESHOLDS.forEach((t, i) => {
      expect(t).toBe(Math.fround(0.5 + 0.05 * i));
    });
  });
  it('rejects malformed rows', () => {
    expect(() => processBatch([[0, 0, 1, 1, 0.5]], [])).toThrow(/expected \[x1, y1, x2, y2, conf, cls\]/);
    expect(() => matchPredictions([0], [0], [[0.5, 0.2]])).toThrow(/expected one per prediction/);
  });
});

/** Naive float64 AP: envelope, then 101 samples by a linear scan, trapezoids summed left to right. */
function naiveAp(recall: number[], precision: number[]): number {
  const mrec = [0, ...recall, 1];
  const mpre = [1, ...precision, 0];
  for (let i = mpre.length - 2; i >= 0; i--) mpre[i] = Math.max(mpre[i], mpre[i + 1]);
  const ys: number[] = [];
  for (let k = 0; k <= 100; k++) {
    const x = k / 100;
    let j = -1;
    for (let m = 0; m < mrec.length; m++) if (mrec[m] <= x) j = m;
    if (j === mrec.length - 1 || mrec[j] === x) ys.push(mpre[j]);
    else ys.push(mpre[j] + ((mpre[j + 1] - mpre[j]) * (x - mrec[j])) / (mrec[j + 1] - mrec[j]));
  }
  let s = 0;
  for (let k = 0; k < 100; k++) s += ((ys[k] + ys[k + 1]) / 2) * 0.01;
  return s;
}

describe('computeAp / apPerClass / smooth', () => {
  it('computeAp: a perfect single detection gives 0.995; random curves agree with a naive reference', () => {
    expect(computeAp([1], [1]).ap).toBeCloseTo(0.995, 14);
    // Recall 0.5 at precision 1, then the (1, 0) sentinel: np.interp ramps linearly -> 0.5 + 0.25.
    expect(computeAp([0.5], [1]).ap).toBeCloseTo(0.75, 14);
    const rnd = lcg(5);
    let worst = 0;
    for (let t = 0; t < 20; t++) {
      const n = 1 + Math.floor(rnd() * 30);
      const nGt = n + Math.floor(rnd() * 5);
      let tp = 0;
      const recall: number[] = [];
      const precision: number[] = [];
      for (let k = 0; k < n; k++) {
        if (rnd() < 0.6 && tp < nGt) tp++;
        recall.push(tp / nGt);
        precision.push(tp / (k + 1));
      }
      worst = Math.max(worst, Math.abs(computeAp(recall, precision).ap - naiveAp(recall, precision)));
    }
    console.log(`computeAp vs naive reference: worst abs err ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-12);
  });
  it('smooth: box filter of 101 taps with edge padding equals a naive window mean', () => {
    const rnd = lcg(9);
    const y = Array.from({ length: 1000 }, () => rnd());
    const s = smooth(y, 0.1);
    expect(s.length).toBe(1000);
    let worst = 0;
    for (let i = 0; i < 1000; i++) {
      let acc = 0;
      for (let k = -50; k <= 50; k++) acc += y[Math.min(999, Math.max(0, i + k))];
      worst = Math.max(worst, Math.abs(s[i] - acc / 101));
    }
    expect(worst).toBeLessThan(1e-12);
  });
  it('apPerClass: ignores predictions of classes without GT, zero for classes without predictions', () => {
    const tp = [
      [1, 1, 1, 1, 1, 1, 1, 1, 1, 1],
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      [1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    ];
    const r = apPerClass(tp, [0.9, 0.8, 0.7], [0, 5, 0], [0, 0, 1]);
    expect(r.classes).toEqual([0, 1]);
    expect(r.nt).toEqual([2, 1]);
    expect(r.nPred).toEqual([2, 0]);
    expect(r.ap[1]).toEqual(new Array(10).fill(0));
    // Class 0 at IoU 0.5: recall 0.5, 1 with precision 1, 1 -> envelope 1 -> 0.995.
    expect(r.ap[0][0]).toBeCloseTo(0.995, 14);
    // At 0.75 only the first is a TP: recall 0.5 precision 1, then recall 0.5 precision 0.5.
    expect(r.ap[0][5]).toBeCloseTo(naiveAp([0.5, 0.5], [1, 0.5]), 14);
    expect(r.p[1]).toBe(0);
    expect(r.r[1]).toBe(0);
  });
});

describe('ConfusionMatrix', () => {
  it('counts matches, class confusions, background FN/FP as Ultralytics', () => {
    const cm = new ConfusionMatrix(3, 0.001); // 0.001 -> 0.25
    expect(cm.conf).toBe(0.25);
    cm.processBatch(
      [
        [0, 0, 10, 10, 0.9, 0], // matches GT 0 (class 0): (0, 0)
        [20, 20, 30, 30, 0.8, 2], // matches GT 1 (class 1): (2, 1)
        [50, 50, 60, 60, 0.7, 1], // no GT: (1, bg)
        [0, 0, 10, 10, 0.2, 1], // below conf 0.25: ignored
      ],
      [
        [0, 0, 0, 10, 10],
        [1, 20, 20, 30, 30],
        [2, 80, 80, 90, 90], // missed: (bg, 2)
      ],
    );
    const m = cm.matrix;
    expect(m[0][0]).toBe(1);
    expect(m[2][1]).toBe(1);
    expect(m[1][3]).toBe(1);
    expect(m[3][2]).toBe(1);
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(4);
    expect(cm.tpFp()).toEqual({ tp: [1, 0, 0], fp: [0, 1, 1] });
  });
  it('quirk: an image without any matched pair counts no FP; null detections count every GT as FN', () => {
    const cm = new ConfusionMatrix(2);
    cm.processBatch([[100, 100, 120, 120, 0.9, 1]], [[0, 0, 0, 10, 10]]);
    expect(cm.matrix).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [1, 0, 0],
    ]);
    cm.processBatch(null, [1, 1]);
    expect(cm.matrix[2]).toEqual([1, 2, 0]);
    expect(() => cm.processBatch(null, [2])).toThrow(/outside 0..1/);
  });
});

describe('DetectionMetrics', () => {
  it('handles images without predictions / labels and validates classes', () => {
    const m = new DetectionMetrics(2, ['cat', 'dog']);
    m.update([], []);
    m.update([], [[1, 0, 0, 10, 10]]);
    m.update([[0, 0, 10, 10, 0.9, 0]], []);
    m.update([[0, 0, 10, 10, 0.8, 0]], [[0, 0, 0, 10, 10]]);
    const r = m.compute();
    expect(r.seen).toBe(4);
    expect(r.ntPerClass).toEqual([1, 1]);
    expect(r.apClassIndex).toEqual([0, 1]);
    expect(r.perClass[0].name).toBe('cat');
    // class 0: FP at 0.9 then TP at 0.8 -> precision 0.5 at recall 1 -> AP = 0.5*0.99 + 0.005*0.5... by the naive reference.
    expect(r.perClass[0].ap50).toBeCloseTo(naiveAp([0, 1], [0, 0.5]), 14);
    expect(r.perClass[1].ap50).toBe(0);
    expect(r.map50).toBeCloseTo((r.perClass[0].ap50 + 0) / 2, 14);
    expect(r.fitness).toBeCloseTo(0.1 * r.map50 + 0.9 * r.map50_95, 14);
    expect(r.maps.length).toBe(2);
    expect(() => m.update([[0, 0, 1, 1, 0.5, 2]], [])).toThrow(/0\.\.1/);
    expect(() => m.update([], [[0.5, 0, 0, 1, 1]])).toThrow(/not an integer/);
    m.reset();
    expect(m.compute().processed).toBe(false);
  });
  it('the golden comparator notices a wrong reference (it is not vacuous)', () => {
    const s: MetricsScenario = {
      nc: 1,
      images: [{ gt: [[0, 10, 10, 50, 50]], preds: [[10, 10, 50, 50, 0.9, 0]], correct: [[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]] }],
      results: {
        processed: true,
        mp: 1,
        mr: 1,
        map50: 0.995,
        map75: 0.995,
        map: 0.995,
        fitness: 0.995,
        nt_per_class: [1],
        maps: [0.995],
        ap_class_index: [0],
        per_class: [],
      },
    };
    const ok = compareMetricsScenario({ ...s, results: { ...s.results, per_class: [] } });
    expect(ok.exactFailures).toEqual(['per_class: 1 classes vs reference 0']);
    expect(ok.worst).toBeLessThan(1e-12);
    const bad = compareMetricsScenario({
      ...s,
      images: [{ ...s.images[0], correct: [[0, 1, 1, 1, 1, 1, 1, 1, 1, 1]] }],
      results: { ...s.results, mp: 0.9 },
    });
    expect(bad.exactFailures.some((f) => f.includes('threshold 0'))).toBe(true);
    expect(bad.worst).toBeCloseTo(0.1, 12);
    expect(bad.worstAt).toBe('mp');
  });
});

describe('apPerClass PR curve (Ultralytics prec_values)', () => {
  test('per class: the precision envelope at IoU 0.5, non-increasing, its area close to AP50', () => {
    const conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2];
    const hit = [1, 0, 1, 1, 0, 1, 0, 1];
    const tp = hit.map((v) => [v === 1, v === 1]);
    const r = apPerClass(tp, conf, new Array(8).fill(0), new Array(6).fill(0));
    const c = r.prCurve[0] as Float64Array;
    expect(c.length).toBe(1000);
    for (let k = 1; k < c.length; k++) expect(c[k]).toBeLessThanOrEqual(c[k - 1]);
    expect(c[0]).toBe(1);
    let area = 0;
    for (let k = 1; k < c.length; k++) area += ((c[k] + c[k - 1]) / 2) * (r.x[k] - r.x[k - 1]);
    expect(Math.abs(area - r.ap[0][0])).toBeLessThan(0.01);
  });

  test('a class with GT but no predictions has no curve (Ultralytics leaves it out)', () => {
    const r = apPerClass([[true]], [0.9], [0], [0, 1]);
    expect(r.prCurve[0]).not.toBeNull();
    expect(r.prCurve[1]).toBeNull();
  });
});
