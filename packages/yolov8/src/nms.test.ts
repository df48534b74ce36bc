// NMS against fixtures/golden/yolov8/nms.json (+ nms.safetensors), Ultralytics 8.0.229, and against a
// naive reference (plain loops, float64 IoU, full torchvision-style suppression) on random inputs.
import * as fs from 'node:fs';
import { readSafetensors } from '@ablate/core';
import { describe, expect, it } from 'vitest';
import { nmsIndices, nonMaxSuppression, PREDICT_NMS, VAL_NMS } from './nms.js';

const dir = new URL('../../../fixtures/golden/yolov8/', import.meta.url);
const spec = JSON.parse(fs.readFileSync(new URL('nms.json', dir), 'utf8'));
const st = readSafetensors(new Uint8Array(fs.readFileSync(new URL(spec.file, dir))));

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface RefOpts {
  confThres: number;
  iouThres: number;
  multiLabel: boolean;
  agnostic: boolean;
  maxDet: number;
  classes?: number[];
  maxNms?: number;
}

/** Naive reference: every candidate, one full sort, full O(n^2) suppression in float64, then max_det. */
function naiveNms(data: ArrayLike<number>, [B, C, A]: number[], o: RefOpts): number[][][] {
  const nc = C - 4;
  const at = (b: number, c: number, a: number) => data[(b * C + c) * A + a];
  const out: number[][][] = [];
  for (let b = 0; b < B; b++) {
    let cand: { box: number[]; score: number; cls: number; idx: number }[] = [];
    for (let a = 0; a < A; a++) {
      const [cx, cy, w, h] = [0, 1, 2, 3].map((c) => at(b, c, a));
      const box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2];
      const sc = Array.from({ length: nc }, (_, j) => at(b, 4 + j, a));
      if (o.multiLabel && nc > 1) {
        sc.forEach((s, j) => {
          if (s > o.confThres) cand.push({ box, score: s, cls: j, idx: cand.length });
        });
      } else {
        const best = sc.indexOf(Math.max(...sc));
        if (sc[best] > o.confThres) cand.push({ box, score: sc[best], cls: best, idx: cand.length });
      }
    }
    if (o.classes) cand = cand.filter((c) => o.classes?.includes(c.cls));
    cand.sort((p, q) => q.score - p.score || p.idx - q.idx);
    if (o.maxNms !== undefined) cand = cand.slice(0, o.maxNms);
    const suppressed = new Array(cand.length).fill(false);
    const keep: typeof cand = [];
    for (let i = 0; i < cand.length; i++) {
      if (suppressed[i]) continue;
      keep.push(cand[i]);
      for (let j = i + 1; j < cand.length; j++) {
        if (suppressed[j] || (!o.agnostic && cand[j].cls !== cand[i].cls)) continue;
        const p = cand[i].box;
        const q = cand[j].box;
        const iw = Math.max(0, Math.min(p[2], q[2]) - Math.max(p[0], q[0]));
        const ih = Math.max(0, Math.min(p[3], q[3]) - Math.max(p[1], q[1]));
        const inter = iw * ih;
        const iou = inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter);
        if (iou > o.iouThres) suppressed[j] = true;
      }
    }
    out.push(keep.slice(0, o.maxDet).map((c) => [...c.box, c.score, c.cls]));
  }
  return out;
}

function compareRows(got: number[][], want: number[][]): { boxErr: number; confErr: number; clsMismatch: number } {
  let boxErr = 0;
  let confErr = 0;
  let clsMismatch = 0;
  want.forEach((w, r) => {
    const g = got[r];
    for (let k = 0; k < 4; k++) boxErr = Math.max(boxErr, Math.abs(g[k] - w[k]));
    confErr = Math.max(confErr, Math.abs(g[4] - w[4]));
    if (g[5] !== w[5]) clsMismatch++;
  });
  return { boxErr, confErr, clsMismatch };
}

describe('nonMaxSuppression vs Ultralytics (nms.json)', () => {
  const input = st.tensors.get(spec.input.key);
  if (!input) throw new Error(`nms.safetensors has no "${spec.input.key}"`);
  const data = input.data as Float32Array;
  for (const [name, cfg] of Object.entries(spec.configs as Record<string, Record<string, unknown>>)) {
    it(`config ${name}`, () => {
      const before = Float32Array.from(data);
      const out = nonMaxSuppression(data, input.shape, {
        confThres: cfg.conf_thres as number,
        iouThres: cfg.iou_thres as number,
        multiLabel: cfg.multi_label as boolean,
        agnostic: cfg.agnostic as boolean,
        maxDet: cfg.max_det as number,
      });
      expect(data).toEqual(before); // input untouched
      const kept = cfg.kept as number[][][];
      expect(out.map((o) => o.length)).toEqual(cfg.kept_per_image);
      let boxErr = 0;
      let confErr = 0;
      kept.forEach((want, img) => {
        // The safetensors copy of the same output agrees with the JSON.
        const stOut = st.tensors.get(`out.${name}.${img}`);
        expect(stOut?.shape).toEqual([want.length, 6]);
        const c = compareRows(out[img], want);
        expect(c.clsMismatch).toBe(0);
        boxErr = Math.max(boxErr, c.boxErr);
        confErr = Math.max(confErr, c.confErr);
        // Rows come out by descending conf.
        for (let r = 1; r < out[img].length; r++) expect(out[img][r][4]).toBeLessThanOrEqual(out[img][r - 1][4]);
      });
      console.log(
        `nms/${name}: kept ${out.map((o) => o.length)}, worst box err ${boxErr.toExponential(2)} px, conf err ${confErr.toExponential(2)}`,
      );
      expect(boxErr).toBeLessThanOrEqual(spec.tolerance.boxes.max_abs);
      expect(confErr).toBeLessThanOrEqual(spec.tolerance.conf.max_abs);
    });
  }
  it('nested [B][C][A] input gives the same result as flat data + shape', () => {
    const [B, C, A] = input.shape;
    const nested = Array.from({ length: B }, (_, b) =>
      Array.from({ length: C }, (_, c) => Array.from(data.subarray((b * C + c) * A, (b * C + c + 1) * A))),
    );
    expect(nonMaxSuppression(nested, VAL_NMS)).toEqual(nonMaxSuppression(data, input.shape, VAL_NMS));
  });
});

describe('nonMaxSuppression vs a naive reference', () => {
  function randomPrediction(seed: number, B: number, nc: number, A: number, scoreScale = 1): Float32Array {
    const rnd = lcg(seed);
    const C = 4 + nc;
    const d = new Float32Array(B * C * A);
    for (let b = 0; b < B; b++) {
      // clustered boxes so that suppression happens a lot
      const centres = Array.from({ length: 12 }, () => [rnd() * 600, rnd() * 600, 20 + rnd() * 150, 20 + rnd() * 150]);
      for (let a = 0; a < A; a++) {
        const [cx, cy, w, h] = centres[Math.floor(rnd() * centres.length)];
        const v = [cx + (rnd() - 0.5) * 30, cy + (rnd() - 0.5) * 30, w * (0.8 + 0.4 * rnd()), h * (0.8 + 0.4 * rnd())];
        for (let c = 0; c < 4; c++) d[(b * C + c) * A + a] = v[c];
        for (let j = 0; j < nc; j++) d[(b * C + 4 + j) * A + a] = rnd() ** 3 * scoreScale;
      }
    }
    return d;
  }
  const cases: [string, RefOpts & { maxNms?: number }][] = [
    ['predict', { confThres: 0.25, iouThres: 0.7, multiLabel: false, agnostic: false, maxDet: 300 }],
    ['val multi-label', { confThres: 0.001, iouThres: 0.7, multiLabel: true, agnostic: false, maxDet: 300 }],
    ['agnostic iou 0.45', { confThres: 0.1, iouThres: 0.45, multiLabel: false, agnostic: true, maxDet: 300 }],
    ['classes filter, max_det 7', { confThres: 0.05, iouThres: 0.5, multiLabel: true, agnostic: false, maxDet: 7, classes: [1, 3] }],
    ['max_nms 50', { confThres: 0.001, iouThres: 0.6, multiLabel: true, agnostic: false, maxDet: 300, maxNms: 50 }],
  ];
  for (const [name, o] of cases) {
    it(name, () => {
      const shape = [2, 4 + 4, 400];
      const data = randomPrediction(name.length * 7 + 1, shape[0], 4, shape[2]);
      const got = nonMaxSuppression(data, shape, o);
      const want = naiveNms(data, shape, o);
      expect(got.map((g) => g.length)).toEqual(want.map((w) => w.length));
      expect(want.reduce((s, w) => s + w.length, 0)).toBeGreaterThan(2);
      let boxErr = 0;
      got.forEach((g, i) => {
        const c = compareRows(g, want[i]);
        expect(c.clsMismatch).toBe(0);
        expect(c.confErr).toBe(0);
        boxErr = Math.max(boxErr, c.boxErr);
      });
      expect(boxErr).toBeLessThan(1e-3);
    });
  }
  it('multi_label is ignored for nc = 1; an empty image gives []', () => {
    const shape = [2, 5, 50];
    const data = randomPrediction(3, 2, 1, 50);
    for (let a = 0; a < 50; a++) data[(1 * 5 + 4) * 50 + a] = 0.1; // image 1: nothing above 0.25
    const a = nonMaxSuppression(data, shape, { multiLabel: true });
    const b = nonMaxSuppression(data, shape, { multiLabel: false });
    expect(a).toEqual(b);
    expect(a[1]).toEqual([]);
    expect(a[0].length).toBeGreaterThan(0);
  });
  it('large val-style inputs: 8400x80 timed (printed), 2000x80 (> max_nms candidates) equals the reference', () => {
    const big = randomPrediction(99, 1, 80, 8400, 0.9);
    const t0 = performance.now();
    const gotBig = nonMaxSuppression(big, [1, 84, 8400], VAL_NMS);
    const ms = performance.now() - t0;
    const nCand = big.subarray(4 * 8400).filter((s) => s > 0.001).length;
    console.log(`nms 8400x80 val: ${nCand} candidates > 0.001, kept ${gotBig[0].length}, ${ms.toFixed(0)} ms`);
    expect(gotBig[0].length).toBe(300);
    const shape = [1, 84, 2000];
    const data = randomPrediction(98, 1, 80, 2000, 0.9);
    // max_nms 3000 so that the O(n^2) reference stays cheap; > 100k candidates go through the top-k cut.
    const got = nonMaxSuppression(data, shape, { ...VAL_NMS, maxNms: 3000 });
    const want = naiveNms(data, shape, { ...(VAL_NMS as RefOpts), agnostic: false, maxNms: 3000 });
    expect(data.subarray(4 * 2000).filter((s) => s > 0.001).length).toBeGreaterThan(100000);
    expect(got[0].length).toBe(want[0].length);
    const c = compareRows(got[0], want[0]);
    expect(c.clsMismatch).toBe(0);
    expect(c.confErr).toBe(0);
    expect(c.boxErr).toBeLessThan(1e-3);
  });
});

describe('nmsIndices (torchvision.ops.nms)', () => {
  it('keeps IoU exactly at the threshold, suppresses above, zero-area boxes never suppress', () => {
    // Boxes 0 and 1: inter 100, union 200 -> IoU 0.5 exactly; box 2 inside box 0 with IoU 0.81.
    const boxes = Float32Array.from([0, 0, 10, 10, 0, 0, 10, 20, 0, 0, 9, 9, 3, 3, 3, 8]);
    const scores = Float32Array.from([0.9, 0.8, 0.7, 0.95]);
    expect(nmsIndices(boxes, scores, 0.5)).toEqual([3, 0, 1]);
    expect(nmsIndices(boxes, scores, 0.49)).toEqual([3, 0]);
    expect(nmsIndices(boxes, scores, 0.85)).toEqual([3, 0, 1, 2]);
    expect(nmsIndices(boxes, scores, 0.5, 2)).toEqual([3, 0]);
  });
});

describe('presets and input checks', () => {
  it('presets are the Ultralytics 8.0.229 defaults', () => {
    expect(PREDICT_NMS).toEqual({ confThres: 0.25, iouThres: 0.7 });
    expect(VAL_NMS).toEqual({ confThres: 0.001, iouThres: 0.7, multiLabel: true, maxDet: 300 });
  });
  it('rejects bad shapes, data lengths and thresholds', () => {
    const d = new Float32Array(2 * 7 * 3);
    expect(() => nonMaxSuppression(d, [2, 7, 4])).toThrow(/values for shape/);
    expect(() => nonMaxSuppression(d, [2, 21])).toThrow(/\[B, 4\+nc, A\]/);
    expect(() => nonMaxSuppression(d, [2, 7, 3], { confThres: 1.5 })).toThrow(/confThres/);
    expect(() => nonMaxSuppression(d, [2, 7, 3], { iouThres: -0.1 })).toThrow(/iouThres/);
    expect(() => nonMaxSuppression(new Float32Array(8), [2, 4, 1])).toThrow(/channels/);
    expect(() => nonMaxSuppression(d as unknown as number[][][])).toThrow(/needs its shape/);
  });
});
