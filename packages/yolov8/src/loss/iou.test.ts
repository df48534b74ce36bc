// CIoU (tf ops and the float32 JS version) against a float64 reference, and its gradient against
// central finite differences of that reference (alpha held constant, as torch.no_grad does).
import { Generator, initBackend } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BoxColumns, bboxCiou, ciouF32 } from './iou.js';

const EPS = 1e-7;

/** float64 CIoU of two xyxy boxes; `alphaFixed` replaces alpha when given. */
function ciou64(a: number[], b: number[], alphaFixed?: number): { ciou: number; alpha: number } {
  const w1 = a[2] - a[0];
  const h1 = a[3] - a[1] + EPS;
  const w2 = b[2] - b[0];
  const h2 = b[3] - b[1] + EPS;
  const inter = Math.max(Math.min(a[2], b[2]) - Math.max(a[0], b[0]), 0) * Math.max(Math.min(a[3], b[3]) - Math.max(a[1], b[1]), 0);
  const union = w1 * h1 + w2 * h2 - inter + EPS;
  const iou = inter / union;
  const cw = Math.max(a[2], b[2]) - Math.min(a[0], b[0]);
  const ch = Math.max(a[3], b[3]) - Math.min(a[1], b[1]);
  const c2 = cw * cw + ch * ch + EPS;
  const rho2 = ((b[0] + b[2] - a[0] - a[2]) ** 2 + (b[1] + b[3] - a[1] - a[3]) ** 2) / 4;
  const v = (4 / Math.PI ** 2) * (Math.atan(w2 / h2) - Math.atan(w1 / h1)) ** 2;
  const alpha = alphaFixed ?? v / (v - iou + (1 + EPS));
  return { ciou: iou - (rho2 / c2 + v * alpha), alpha };
}

function randomBoxes(n: number, g: Generator): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const x = g.uniform(0, 10);
    const y = g.uniform(0, 10);
    out.push([x, y, x + g.uniform(0.3, 6), y + g.uniform(0.3, 6)].map(Math.fround));
  }
  return out;
}

const cols = (boxes: number[][]): BoxColumns => [0, 1, 2, 3].map((k) => tf.tensor1d(boxes.map((b) => b[k]))) as unknown as BoxColumns;

for (const backend of testBackends()) {
  describe(`CIoU (${backend})`, () => {
    beforeAll(async () => {
      await initBackend(backend, { log: false });
    });

    it('bboxCiou matches float64 on random, disjoint and nested boxes', () => {
      const g = new Generator(11);
      const b1 = randomBoxes(64, g);
      const b2 = randomBoxes(64, g);
      b1.push([0, 0, 1, 1], [0, 0, 4, 4]); // disjoint, nested
      b2.push([5, 5, 6, 7], [1, 1, 2, 2]);
      const before = tf.memory().numTensors;
      const c1 = cols(b1);
      const c2 = cols(b2);
      const out = bboxCiou(c1, c2);
      const got = out.dataSync();
      let worst = 0;
      b1.forEach((a, i) => {
        worst = Math.max(worst, Math.abs(got[i] - ciou64(a, b2[i]).ciou));
      });
      expect(worst).toBeLessThan(2e-6);
      tf.dispose([...c1, ...c2, out]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('gradient w.r.t. box 1 equals finite differences with alpha detached', () => {
      const g = new Generator(12);
      // Overlapping pairs (both terms active) plus a disjoint one.
      const b2 = randomBoxes(16, g);
      const b1 = b2.map((b) => b.map((v) => Math.fround(v + g.uniform(-0.8, 0.8))));
      b1.push([0, 0, 1, 1]);
      b2.push([5, 5, 6, 7]);
      const r = b1.map(() => g.uniform(-1, 1));
      const before = tf.memory().numTensors;
      const c2 = cols(b2);
      const rt = tf.tensor1d(r);
      const c1 = cols(b1);
      const grads = tf.grads((x1: tf.Tensor, y1: tf.Tensor, x2: tf.Tensor, y2: tf.Tensor) =>
        tf.sum(tf.mul(bboxCiou([x1, y1, x2, y2], c2), rt)),
      )(c1);
      const got = grads.map((t) => Array.from(t.dataSync()));
      tf.dispose([...grads, ...c1, ...c2, rt]);
      expect(tf.memory().numTensors).toBe(before);
      let num = 0;
      let den = 0;
      const h = 1e-6;
      b1.forEach((a, i) => {
        const alpha = ciou64(a, b2[i]).alpha;
        for (let k = 0; k < 4; k++) {
          const ap = [...a];
          const am = [...a];
          ap[k] += h;
          am[k] -= h;
          const fd = (r[i] * (ciou64(ap, b2[i], alpha).ciou - ciou64(am, b2[i], alpha).ciou)) / (2 * h);
          num += (got[k][i] - fd) ** 2;
          den += fd ** 2;
        }
      });
      expect(Math.sqrt(num / den)).toBeLessThan(1e-4);
    });

    it('ciouF32 (float32 step by step) is within float32 error of float64', () => {
      const g = new Generator(13);
      const b1 = randomBoxes(200, g);
      const b2 = randomBoxes(200, g);
      let worst = 0;
      b1.forEach((a, i) => {
        const got = ciouF32(a[0], a[1], a[2], a[3], b2[i][0], b2[i][1], b2[i][2], b2[i][3]);
        expect(Math.fround(got)).toBe(got);
        worst = Math.max(worst, Math.abs(got - ciou64(a, b2[i]).ciou));
      });
      expect(worst).toBeLessThan(2e-6);
    });
  });
}
