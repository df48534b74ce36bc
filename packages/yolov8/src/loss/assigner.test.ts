// TaskAlignedAssigner against a dense float64 transcription of the reference's tensor program
// (mask_in_gts -> metrics -> topk count tensor -> select_highest_overlaps -> normalisation), plus
// targeted cases. The golden comparison is in loss.golden.test.ts.
import { Generator } from '@ablate/core';
import { describe, expect, it } from 'vitest';
import { makeAnchorArrays } from './anchors.js';
import { TaskAlignedAssigner } from './assigner.js';

const EPS = 1e-7;
function ciou64(a: ArrayLike<number>, b: ArrayLike<number>): number {
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
  const alpha = v / (v - iou + (1 + EPS));
  return iou - (rho2 / (cw * cw + ch * ch + EPS) + v * alpha);
}

interface Inp {
  B: number;
  A: number;
  M: number;
  nc: number;
  pdScores: Float32Array;
  pdBboxes: Float32Array;
  anc: Float32Array;
  gtLabels: Int32Array;
  gtBboxes: Float32Array;
  maskGt: Uint8Array;
}

/** Dense reference: arrays [B][M][A] exactly as the PyTorch code builds them, in float64. */
function reference(p: Inp, topk: number, alpha: number, beta: number) {
  const { B, A, M, nc } = p;
  const fg = new Uint8Array(B * A);
  const gtIdx = new Int32Array(B * A);
  const scores = new Float64Array(B * A * nc);
  for (let b = 0; b < B; b++) {
    const inGt: number[][] = [];
    const ov: number[][] = [];
    const metric: number[][] = [];
    for (let g = 0; g < M; g++) {
      inGt.push([]);
      ov.push([]);
      metric.push([]);
      const gb = p.gtBboxes.subarray((b * M + g) * 4, (b * M + g) * 4 + 4);
      for (let a = 0; a < A; a++) {
        const d = Math.min(p.anc[2 * a] - gb[0], p.anc[2 * a + 1] - gb[1], gb[2] - p.anc[2 * a], gb[3] - p.anc[2 * a + 1]);
        const inside = d > 1e-9 && p.maskGt[b * M + g] ? 1 : 0;
        inGt[g].push(inside);
        const o = inside ? Math.max(ciou64(gb, p.pdBboxes.subarray((b * A + a) * 4, (b * A + a) * 4 + 4)), 0) : 0;
        const s = inside ? p.pdScores[(b * A + a) * nc + p.gtLabels[b * M + g]] : 0;
        ov[g].push(o);
        metric[g].push(s ** alpha * o ** beta);
      }
    }
    // topk over all anchors (metric values here are distinct or zero), count tensor, masks.
    const maskPos: number[][] = [];
    for (let g = 0; g < M; g++) {
      const order = [...Array(A).keys()].sort((i, j) => metric[g][j] - metric[g][i] || i - j);
      const top = new Set(order.slice(0, topk));
      maskPos.push([...Array(A).keys()].map((a) => (top.has(a) && inGt[g][a] && metric[g][a] > 0 ? 1 : 0)));
    }
    for (let a = 0; a < A; a++) {
      let count = 0;
      for (let g = 0; g < M; g++) count += maskPos[g][a];
      if (count > 1) {
        let best = 0;
        for (let g = 1; g < M; g++) if (ov[g][a] > ov[best][a]) best = g;
        for (let g = 0; g < M; g++) maskPos[g][a] = g === best ? 1 : 0;
      }
    }
    const posAlign = maskPos.map((row, g) => Math.max(0, ...row.map((m, a) => m * metric[g][a])));
    const posOv = maskPos.map((row, g) => Math.max(0, ...row.map((m, a) => m * ov[g][a])));
    for (let a = 0; a < A; a++) {
      let gi = -1;
      for (let g = 0; g < M; g++) if (maskPos[g][a] && gi < 0) gi = g;
      if (gi < 0) continue;
      fg[b * A + a] = 1;
      gtIdx[b * A + a] = gi;
      scores[(b * A + a) * nc + p.gtLabels[b * M + gi]] = (metric[gi][a] * posOv[gi]) / (posAlign[gi] + 1e-9);
    }
  }
  return { fg, gtIdx, scores };
}

function randomInput(seed: number, nc: number): Inp {
  const g = new Generator(seed);
  const sizes: [number, number][] = [
    [8, 8],
    [4, 4],
    [2, 2],
  ];
  const an = makeAnchorArrays(sizes, [8, 16, 32]);
  const A = an.count;
  const B = 3;
  const M = 4;
  const anc = new Float32Array(A * 2);
  for (let a = 0; a < A; a++) {
    anc[2 * a] = an.points[2 * a] * an.strides[a];
    anc[2 * a + 1] = an.points[2 * a + 1] * an.strides[a];
  }
  const pdScores = Float32Array.from({ length: B * A * nc }, () => g.uniform(0.01, 0.99));
  const pdBboxes = new Float32Array(B * A * 4);
  for (let r = 0; r < B * A; r++) {
    const a = r % A;
    const s = an.strides[a];
    pdBboxes[4 * r] = anc[2 * a] - g.uniform(0.2, 3) * s;
    pdBboxes[4 * r + 1] = anc[2 * a + 1] - g.uniform(0.2, 3) * s;
    pdBboxes[4 * r + 2] = anc[2 * a] + g.uniform(0.2, 3) * s;
    pdBboxes[4 * r + 3] = anc[2 * a + 1] + g.uniform(0.2, 3) * s;
  }
  const gtLabels = new Int32Array(B * M);
  const gtBboxes = new Float32Array(B * M * 4);
  const maskGt = new Uint8Array(B * M);
  // Image 0: 4 boxes, image 1: 2 boxes (2 padding slots), image 2: none.
  const counts = [4, 2, 0];
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < counts[b]; k++) {
      const i = b * M + k;
      const w = g.uniform(6, 40);
      const h = g.uniform(6, 40);
      const x = g.uniform(0, 64 - w);
      const y = g.uniform(0, 64 - h);
      gtBboxes.set([x, y, x + w, y + h], 4 * i);
      gtLabels[i] = Math.floor(g.uniform(0, nc));
      maskGt[i] = 1;
    }
  }
  return { B, A, M, nc, pdScores, pdBboxes, anc, gtLabels, gtBboxes, maskGt };
}

describe('TaskAlignedAssigner', () => {
  for (const seed of [1, 2, 3, 4]) {
    it(`matches the dense float64 reference (seed ${seed})`, () => {
      const nc = 4;
      const p = randomInput(seed, nc);
      const asg = new TaskAlignedAssigner({ nc, topk: 10, alpha: 0.5, beta: 6 });
      const seen = new Set<string>();
      const out = asg.assign({
        batch: p.B,
        anchors: p.A,
        maxBoxes: p.M,
        pdScores: p.pdScores,
        pdBboxes: p.pdBboxes,
        anchorPoints: p.anc,
        gtLabels: p.gtLabels,
        gtBboxes: p.gtBboxes,
        maskGt: p.maskGt,
        ensureAnchor: (b, a) => {
          const k = `${b},${a}`;
          expect(seen.has(k)).toBe(false); // called once per anchor
          seen.add(k);
        },
      });
      const ref = reference(p, 10, 0.5, 6);
      expect(Array.from(out.fgMask)).toEqual(Array.from(ref.fg));
      let nFg = 0;
      let worst = 0;
      let sum = 0;
      for (let r = 0; r < p.B * p.A; r++) {
        for (let c = 0; c < nc; c++) {
          worst = Math.max(worst, Math.abs(out.targetScores[r * nc + c] - ref.scores[r * nc + c]));
          sum += ref.scores[r * nc + c];
        }
        if (!ref.fg[r]) continue;
        nFg++;
        const b = Math.floor(r / p.A);
        expect(out.targetGtIdx[r]).toBe(ref.gtIdx[r]);
        expect(out.targetLabels[r]).toBe(p.gtLabels[b * p.M + ref.gtIdx[r]]);
        expect(Array.from(out.targetBboxes.subarray(4 * r, 4 * r + 4))).toEqual(
          Array.from(p.gtBboxes.subarray((b * p.M + ref.gtIdx[r]) * 4, (b * p.M + ref.gtIdx[r]) * 4 + 4)),
        );
      }
      expect(nFg).toBeGreaterThan(10);
      expect(out.numFg).toBe(nFg);
      expect(worst).toBeLessThan(1e-5);
      expect(Math.abs(out.targetScoresSum - sum)).toBeLessThan(1e-4);
      // Image 2 has no GT: all background, carrying padding slot 0 (zeros, label 0).
      for (let a = 0; a < p.A; a++) expect(out.fgMask[2 * p.A + a]).toBe(0);
    });
  }

  it('an anchor claimed by two GTs goes to the GT with the higher CIoU', () => {
    // One anchor at (4, 4) px inside two GTs; the prediction equals GT 1.
    const anc = Float32Array.from([4, 4]);
    const gt = Float32Array.from([0, 0, 20, 20, 1, 1, 7, 7]);
    const pd = Float32Array.from([1, 1, 7, 7]);
    const out = new TaskAlignedAssigner({ nc: 2, topk: 10, alpha: 0.5, beta: 6 }).assign({
      batch: 1,
      anchors: 1,
      maxBoxes: 2,
      pdScores: Float32Array.from([0.5, 0.5]),
      pdBboxes: pd,
      anchorPoints: anc,
      gtLabels: Int32Array.from([0, 1]),
      gtBboxes: gt,
      maskGt: Uint8Array.from([1, 1]),
    });
    expect(out.fgMask[0]).toBe(1);
    expect(out.targetGtIdx[0]).toBe(1);
    expect(out.targetLabels[0]).toBe(1);
    // Its only positive: score = align / max_align * max_ciou = ciou(gt1, pred) = 1 (up to eps).
    expect(out.targetScores[1]).toBeCloseTo(1, 5);
    expect(out.targetScores[0]).toBe(0);
  });

  it('candidates must be strictly inside; topk limits the positives per GT', () => {
    const an = makeAnchorArrays([[8, 8]], [8]);
    const anc = Float32Array.from(an.points, (v) => v * 8);
    const A = an.count;
    const pd = new Float32Array(A * 4);
    for (let a = 0; a < A; a++) pd.set([anc[2 * a] - 10, anc[2 * a + 1] - 10, anc[2 * a] + 10, anc[2 * a + 1] + 10], 4 * a);
    const scores = Float32Array.from({ length: A }, (_, a) => 0.3 + a / (4 * A));
    const run = (box: number[], topk: number) =>
      new TaskAlignedAssigner({ nc: 1, topk, alpha: 0.5, beta: 6 }).assign({
        batch: 1,
        anchors: A,
        maxBoxes: 1,
        pdScores: scores,
        pdBboxes: pd,
        anchorPoints: anc,
        gtLabels: Int32Array.from([0]),
        gtBboxes: Float32Array.from(box),
        maskGt: Uint8Array.from([1]),
      });
    // Box edges exactly on anchor centres 4 and 20: only the centres 12 (x and y) are strictly inside.
    expect(run([4, 4, 20, 20], 10).numFg).toBe(1);
    // A large box holds 36 candidates; topk caps the positives.
    expect(run([2, 2, 50, 50], 10).numFg).toBe(10);
    expect(run([2, 2, 50, 50], 3).numFg).toBe(3);
  });

  it('no GT at all: background labels nc and zeros; bad classes are errors', () => {
    const asg = new TaskAlignedAssigner({ nc: 3 });
    const out = asg.assign({
      batch: 2,
      anchors: 2,
      maxBoxes: 0,
      pdScores: new Float32Array(12),
      pdBboxes: new Float32Array(16),
      anchorPoints: new Float32Array(4),
      gtLabels: new Int32Array(0),
      gtBboxes: new Float32Array(0),
      maskGt: new Uint8Array(0),
    });
    expect(Array.from(out.targetLabels)).toEqual([3, 3, 3, 3]);
    expect(out.numFg).toBe(0);
    expect(out.targetScores.every((v) => v === 0)).toBe(true);
    expect(() =>
      asg.assign({
        batch: 1,
        anchors: 1,
        maxBoxes: 1,
        pdScores: new Float32Array(3),
        pdBboxes: new Float32Array(4),
        anchorPoints: new Float32Array(2),
        gtLabels: Int32Array.from([5]),
        gtBboxes: Float32Array.from([0, 0, 1, 1]),
        maskGt: Uint8Array.from([1]),
      }),
    ).toThrow(/class 5; classes are 0..2/);
    expect(() =>
      asg.assign({
        batch: 1,
        anchors: 1,
        maxBoxes: 1,
        pdScores: new Float32Array(2),
        pdBboxes: new Float32Array(4),
        anchorPoints: new Float32Array(2),
        gtLabels: Int32Array.from([0]),
        gtBboxes: Float32Array.from([0, 0, 1, 1]),
        maskGt: Uint8Array.from([1]),
      }),
    ).toThrow(/pdScores must have 3 entries/);
  });
});
