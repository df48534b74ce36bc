// DetectionLoss on random maps against an independent float64 implementation of the loss (given the
// assignment, which assigner.test.ts and the golden test check), its gradient against central finite
// differences of that implementation, edge cases, input errors and leaks; on cpu and wasm.
import { Generator, initBackend } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeAnchorArrays } from './anchors.js';
import type { AssignerOutput } from './assigner.js';
import { DetectionLoss, type DetectionTargets } from './detection-loss.js';

const NC = 5;
const R = 16;
const C = 4 * R + NC;
const B = 2;
const SIZES: [number, number][] = [
  [8, 8],
  [4, 4],
  [2, 2],
];
const STRIDES = [8, 16, 32];
const EPS = 1e-7;

function ciou64(a: number[], b: number[], alphaFixed?: number): { ciou: number; alpha: number } {
  const w1 = a[2] - a[0];
  const h1 = a[3] - a[1] + EPS;
  const w2 = b[2] - b[0];
  const h2 = b[3] - b[1] + EPS;
  const inter = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0) * Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const iou = inter / (w1 * h1 + w2 * h2 - inter + EPS);
  const cw = Math.max(a[2], b[2]) - Math.min(a[0], b[0]);
  const ch = Math.max(a[3], b[3]) - Math.min(a[1], b[1]);
  const rho2 = ((b[0] + b[2] - a[0] - a[2]) ** 2 + (b[1] + b[3] - a[1] - a[3]) ** 2) / 4;
  const v = (4 / Math.PI ** 2) * (Math.atan(w2 / h2) - Math.atan(w1 / h1)) ** 2;
  const alpha = alphaFixed ?? v / (v - iou + (1 + EPS));
  return { ciou: iou - (rho2 / (cw * cw + ch * ch + EPS) + v * alpha), alpha };
}

/** Random NHWC maps, flattened per level. */
function randomMaps(g: Generator): Float64Array[] {
  return SIZES.map(([h, w]) => {
    const d = new Float64Array(B * h * w * C);
    for (let i = 0; i < d.length; i++) d[i] = Math.fround(i % C < 4 * R ? g.uniform(-2, 2) : g.uniform(-5, 1));
    return d;
  });
}

const TARGETS: DetectionTargets = {
  batchIdx: [0, 0, 1, 0],
  cls: [1, 4, 0, 2],
  bboxes: [
    [0.3, 0.35, 0.4, 0.5],
    [0.7, 0.6, 0.35, 0.3],
    [0.5, 0.5, 0.8, 0.7],
    [0.62, 0.66, 0.3, 0.35],
  ],
};

/**
 * Independent float64 loss from NHWC maps given an assignment (target boxes in pixels), with the CIoU
 * alpha of each fg anchor optionally fixed (finite differences of the detached-alpha loss).
 */
function naiveLoss(maps: Float64Array[], asg: AssignerOutput, alphas?: number[]): { total: number; items: number[]; alphas: number[] } {
  const an = makeAnchorArrays(SIZES, STRIDES);
  const A = an.count;
  let tss = 0;
  for (const v of asg.targetScores) tss += v;
  tss = Math.max(tss, 1);
  const row = (b: number, a: number): [Float64Array, number] => {
    let l = 0;
    let start = 0;
    while (a >= start + SIZES[l][0] * SIZES[l][1]) {
      start += SIZES[l][0] * SIZES[l][1];
      l++;
    }
    return [maps[l], (b * SIZES[l][0] * SIZES[l][1] + a - start) * C];
  };
  let cls = 0;
  let box = 0;
  let dfl = 0;
  const outAlphas: number[] = [];
  let k = 0;
  for (let b = 0; b < B; b++) {
    for (let a = 0; a < A; a++) {
      const [d, o] = row(b, a);
      const r = b * A + a;
      for (let c = 0; c < NC; c++) {
        const x = d[o + 4 * R + c];
        const t = asg.targetScores[r * NC + c];
        cls += Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
      }
      if (!asg.fgMask[r]) continue;
      let w = 0;
      for (let c = 0; c < NC; c++) w += asg.targetScores[r * NC + c];
      const s = an.strides[a];
      const ax = an.points[2 * a];
      const ay = an.points[2 * a + 1];
      const tb = [0, 1, 2, 3].map((j) => asg.targetBboxes[4 * r + j] / s);
      const tdist = [ax - tb[0], ay - tb[1], tb[2] - ax, tb[3] - ay].map((v) => Math.min(Math.max(v, 0), R - 1 - 0.01));
      const dist: number[] = [];
      let ce = 0;
      for (let side = 0; side < 4; side++) {
        const base = o + side * R;
        let mx = -Infinity;
        for (let j = 0; j < R; j++) mx = Math.max(mx, d[base + j]);
        let se = 0;
        let sd = 0;
        for (let j = 0; j < R; j++) {
          se += Math.exp(d[base + j] - mx);
          sd += j * Math.exp(d[base + j] - mx);
        }
        dist.push(sd / se);
        const lse = mx + Math.log(se);
        const tl = Math.floor(tdist[side]);
        const wl = tl + 1 - tdist[side];
        ce += (wl * (lse - d[base + tl]) + (1 - wl) * (lse - d[base + tl + 1])) / 4;
      }
      const pred = [ax - dist[0], ay - dist[1], ax + dist[2], ay + dist[3]];
      const ci = ciou64(pred, tb, alphas?.[k]);
      outAlphas.push(ci.alpha);
      box += (1 - ci.ciou) * w;
      dfl += ce * w;
      k++;
    }
  }
  const items = [(7.5 * box) / tss, (0.5 * cls) / tss, (1.5 * dfl) / tss];
  return { total: (items[0] + items[1] + items[2]) * B, items, alphas: outAlphas };
}

const toFeats = (maps: Float64Array[]) => maps.map((d, l) => tf.tensor4d(Float32Array.from(d), [B, SIZES[l][0], SIZES[l][1], C]));

for (const backend of testBackends()) {
  describe(`DetectionLoss (${backend})`, () => {
    beforeAll(async () => {
      await initBackend(backend, { log: false });
    });

    it('loss, items and gradients equal a float64 implementation and its finite differences', () => {
      const g = new Generator(21);
      const maps = randomMaps(g);
      const loss = new DetectionLoss({ nc: NC });
      const feats = toFeats(maps);
      const before = tf.memory().numTensors;
      let asg: AssignerOutput | null = null;
      let items: number[] = [];
      const { value, grads } = tf.valueAndGrads((...fs: tf.Tensor[]) => {
        const r = loss.compute(fs as tf.Tensor4D[], TARGETS);
        asg = r.assignment;
        items = r.items;
        return r.loss;
      })(feats);
      const total = value.dataSync()[0];
      const gdata = grads.map((t) => Float64Array.from(t.dataSync()));
      tf.dispose([value, ...grads]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(feats);
      const a = asg as unknown as AssignerOutput;
      expect(a.numFg).toBeGreaterThan(10);

      const ref = naiveLoss(maps, a);
      expect(Math.abs(total - ref.total) / ref.total).toBeLessThan(1e-5);
      for (let i = 0; i < 3; i++) expect(Math.abs(items[i] - ref.items[i]) / ref.items[i]).toBeLessThan(1e-5);

      // Finite differences at box channels of fg anchors, class channels of fg and bg anchors, and
      // box channels of a bg anchor (gradient 0).
      const an = makeAnchorArrays(SIZES, STRIDES);
      const coords: [number, number][] = [];
      const fgRows: number[] = [];
      const bgRows: number[] = [];
      for (let r = 0; r < B * an.count; r++) (a.fgMask[r] ? fgRows : bgRows).push(r);
      const locate = (r: number): [number, number] => {
        const b = Math.floor(r / an.count);
        let aa = r % an.count;
        let l = 0;
        while (aa >= SIZES[l][0] * SIZES[l][1]) {
          aa -= SIZES[l][0] * SIZES[l][1];
          l++;
        }
        return [l, (b * SIZES[l][0] * SIZES[l][1] + aa) * C];
      };
      for (const r of fgRows.filter((_, i) => i % 3 === 0)) {
        const [l, o] = locate(r);
        for (const ch of [2, 21, 37, 60, 4 * R, 4 * R + 3]) coords.push([l, o + ch]);
      }
      for (const r of bgRows.filter((_, i) => i % 37 === 0)) {
        const [l, o] = locate(r);
        coords.push([l, o + 4 * R + 1], [l, o + 5]);
      }
      let num = 0;
      let den = 0;
      const h = 1e-4;
      for (const [l, i] of coords) {
        const orig = maps[l][i];
        maps[l][i] = orig + h;
        const up = naiveLoss(maps, a, ref.alphas).total;
        maps[l][i] = orig - h;
        const dn = naiveLoss(maps, a, ref.alphas).total;
        maps[l][i] = orig;
        const fd = (up - dn) / (2 * h);
        num += (gdata[l][i] - fd) ** 2;
        den += fd ** 2;
      }
      expect(coords.length).toBeGreaterThan(40);
      expect(Math.sqrt(num / den)).toBeLessThan(1e-3);
    });

    it('no targets: box = dfl = 0, cls = sum BCE(x, 0); gradient only on class channels', () => {
      const g = new Generator(22);
      const maps = randomMaps(g);
      const feats = toFeats(maps);
      const loss = new DetectionLoss({ nc: NC });
      const before = tf.memory().numTensors;
      let items: number[] = [];
      const { value, grads } = tf.valueAndGrads((...fs: tf.Tensor[]) => {
        const r = loss.compute(fs as tf.Tensor4D[], { batchIdx: [], cls: [], bboxes: [] });
        items = r.items;
        expect(r.assignment.numFg).toBe(0);
        return r.loss;
      })(feats);
      let bce = 0;
      for (const d of maps)
        for (let i = 0; i < d.length; i++) if (i % C >= 4 * R) bce += Math.max(d[i], 0) + Math.log1p(Math.exp(-Math.abs(d[i])));
      expect(items[0]).toBe(0);
      expect(items[2]).toBe(0);
      expect(Math.abs(items[1] - 0.5 * bce) / (0.5 * bce)).toBeLessThan(1e-5);
      expect(Math.abs(value.dataSync()[0] - 0.5 * bce * B) / (0.5 * bce * B)).toBeLessThan(1e-5);
      grads.forEach((t, l) => {
        const gd = t.dataSync();
        for (let i = 0; i < gd.length; i++) {
          const want = i % C < 4 * R ? 0 : 0.5 * B * (1 / (1 + Math.exp(-maps[l][i])));
          expect(Math.abs(gd[i] - want)).toBeLessThan(1e-6);
        }
      });
      tf.dispose([value, ...grads]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(feats);
    });

    it('compute without a gradient tape leaks nothing; flat bboxes and imgsz give the same loss', () => {
      const g = new Generator(23);
      const feats = toFeats(randomMaps(g));
      const loss = new DetectionLoss({ nc: NC });
      const before = tf.memory().numTensors;
      const a = loss.compute(feats, TARGETS);
      const flat = loss.compute(feats, { ...TARGETS, bboxes: Float32Array.from((TARGETS.bboxes as number[][]).flat()) }, [64, 64]);
      expect(flat.items).toEqual(a.items);
      expect(flat.loss.dataSync()[0]).toBe(a.loss.dataSync()[0]);
      // A different image size rescales the GT boxes and changes the loss.
      const other = loss.compute(feats, TARGETS, [96, 96]);
      expect(other.items[0]).not.toBe(a.items[0]);
      tf.dispose([a.loss, flat.loss, other.loss]);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(feats);
    });

    it('rejects bad inputs with messages that say what was wrong', () => {
      const g = new Generator(24);
      const feats = toFeats(randomMaps(g));
      const loss = new DetectionLoss({ nc: NC });
      const before = tf.memory().numTensors;
      expect(() => loss.compute(feats.slice(0, 2), TARGETS)).toThrow(/got 2 feature maps but 3 strides/);
      expect(() => new DetectionLoss({ nc: 4 }).compute(feats, TARGETS)).toThrow(/69 channels; want 4\*regMax \+ nc = 68/);
      expect(() => loss.compute(feats, { ...TARGETS, batchIdx: [0, 0, 2, 0] })).toThrow(
        /batchIdx\[2\] = 2; image indices are integers 0..1/,
      );
      expect(() => loss.compute(feats, { ...TARGETS, cls: [1, 5, 0, 2] })).toThrow(/cls\[1\] = 5; classes are integers 0..4/);
      expect(() => loss.compute(feats, { ...TARGETS, cls: [1, 4, 0] })).toThrow(/cls has 3 rows but targets.batchIdx has 4/);
      expect(() =>
        loss.compute(feats, {
          ...TARGETS,
          bboxes: [
            [0.5, 0.5, 0.1],
            [0.1, 0.1, 0.1, 0.1],
            [0.1, 0.1, 0.1, 0.1],
            [0.1, 0.1, 0.1, 0.1],
          ],
        }),
      ).toThrow(/bboxes\[0\] has 3 values; want 4/);
      expect(() => new DetectionLoss({ nc: 0 })).toThrow(/nc must be a positive integer/);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(feats);
    });
  });
}
