// Anchors, DFL expectation and dist2bbox against plain float64 loops.
import { Generator, initBackend } from '@ablate/core';
import { testBackends } from '@ablate/core/testing';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { bbox2distInto, dflDecode, dist2bbox, makeAnchorArrays, makeAnchors } from './anchors.js';

const rand = (n: number, g: Generator, lo: number, hi: number) => Float32Array.from({ length: n }, () => g.uniform(lo, hi));
const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

for (const backend of testBackends()) {
  describe(`anchors and decode (${backend})`, () => {
    beforeAll(async () => {
      await initBackend(backend, { log: false });
    });

    it('makeAnchorArrays: centres x+0.5, y+0.5, row-major per level, strides per level', () => {
      const a = makeAnchorArrays(
        [
          [2, 3],
          [1, 2],
        ],
        [8, 16],
      );
      expect(a.count).toBe(8);
      expect(Array.from(a.points)).toEqual([0.5, 0.5, 1.5, 0.5, 2.5, 0.5, 0.5, 1.5, 1.5, 1.5, 2.5, 1.5, 0.5, 0.5, 1.5, 0.5]);
      expect(Array.from(a.strides)).toEqual([8, 8, 8, 8, 8, 8, 16, 16]);
      // Sizes may also come from NHWC maps.
      const x = tf.zeros([1, 2, 3, 5]) as tf.Tensor4D;
      expect(Array.from(makeAnchorArrays([x], [8]).points)).toEqual(Array.from(a.points.subarray(0, 12)));
      x.dispose();
      expect(() => makeAnchorArrays([[2, 2]], [8, 16])).toThrow(/1 levels but 2 strides/);
      expect(() => makeAnchorArrays([[2, 0]], [8])).toThrow(/positive integers/);
    });

    it('makeAnchors gives the same values as tensors [A, 2] and [A, 1]', () => {
      const before = tf.memory().numTensors;
      const sizes: [number, number][] = [
        [4, 4],
        [2, 2],
      ];
      const t = makeAnchors(sizes, [8, 16]);
      const a = makeAnchorArrays(sizes, [8, 16]);
      expect(t.points.shape).toEqual([20, 2]);
      expect(t.strides.shape).toEqual([20, 1]);
      expect(Array.from(t.points.dataSync())).toEqual(Array.from(a.points));
      expect(Array.from(t.strides.dataSync())).toEqual(Array.from(a.strides));
      tf.dispose([t.points, t.strides]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('dflDecode = softmax over 16 bins dotted with 0..15, per side', () => {
      const g = new Generator(3);
      const shape = [2, 5, 64];
      const x = rand(2 * 5 * 64, g, -4, 4);
      const before = tf.memory().numTensors;
      const xt = tf.tensor(x, shape);
      const out = dflDecode(xt);
      expect(out.shape).toEqual([2, 5, 4]);
      const got = out.dataSync();
      const ref = new Float64Array(2 * 5 * 4);
      for (let n = 0; n < 10; n++) {
        for (let s = 0; s < 4; s++) {
          const o = n * 64 + s * 16;
          let mx = -Infinity;
          for (let j = 0; j < 16; j++) mx = Math.max(mx, x[o + j]);
          let se = 0;
          let sd = 0;
          for (let j = 0; j < 16; j++) {
            se += Math.exp(x[o + j] - mx);
            sd += j * Math.exp(x[o + j] - mx);
          }
          ref[n * 4 + s] = sd / se;
        }
      }
      expect(maxAbs(got, ref)).toBeLessThan(2e-5);
      tf.dispose([xt, out]);
      expect(tf.memory().numTensors).toBe(before);
      const bad = tf.zeros([2, 60]);
      expect(() => dflDecode(bad)).toThrow(/4\*regMax = 64/);
      bad.dispose();
    });

    it('dist2bbox: xyxy and xywh from (l, t, r, b) and anchor points', () => {
      const g = new Generator(4);
      const n = 7;
      const d = rand(n * 4, g, 0, 6);
      const p = rand(n * 2, g, 0, 10);
      const before = tf.memory().numTensors;
      const dt = tf.tensor2d(d, [n, 4]);
      const pt = tf.tensor2d(p, [n, 2]);
      const xyxy = dist2bbox(dt, pt, false);
      const xywh = dist2bbox(dt, pt, true);
      const refXyxy: number[] = [];
      const refXywh: number[] = [];
      for (let i = 0; i < n; i++) {
        const [l, t, r, b] = [d[4 * i], d[4 * i + 1], d[4 * i + 2], d[4 * i + 3]];
        const [x, y] = [p[2 * i], p[2 * i + 1]];
        refXyxy.push(x - l, y - t, x + r, y + b);
        refXywh.push((x - l + x + r) / 2, (y - t + y + b) / 2, l + r, t + b);
      }
      expect(maxAbs(xyxy.dataSync(), refXyxy)).toBeLessThan(1e-5);
      expect(maxAbs(xywh.dataSync(), refXywh)).toBeLessThan(1e-5);
      tf.dispose([dt, pt, xyxy, xywh]);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('bbox2distInto clamps to [0, maxDist]', () => {
      const out = new Float32Array(4);
      bbox2distInto(5.5, 5.5, 2, 7, 30, 6, Math.fround(14.99), out, 0);
      expect(Array.from(out)).toEqual([3.5, 0, Math.fround(14.99), 0.5]);
    });
  });
}
