import { Generator } from '@ablate/core';
import { describe, expect, it } from 'vitest';
import {
  boxCandidates,
  type Instances,
  labelsToBoxes,
  letterboxInstances,
  loadResized,
  mosaic4,
  randomAffineMatrix,
  randomFlip,
  randomHsv,
  randomPerspective,
  transformBoxes,
} from './augment.js';
import { maskBox, randomImage, rectImage } from './test-utils.js';

/** Applies the 3x3 matrix to one point. */
function apply(m: ArrayLike<number>, x: number, y: number, persp: boolean): [number, number] {
  const w = persp ? m[6] * x + m[7] * y + m[8] : 1;
  return [(m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w];
}

describe('box transform', () => {
  it('equals the bounds of densely sampled transformed box edges (affine and perspective)', () => {
    const g = new Generator(11);
    let worst = 0;
    for (const persp of [false, true]) {
      for (let t = 0; t < 20; t++) {
        const { M } = randomAffineMatrix(
          g,
          { degrees: 30, translate: 0.2, scale: 0.5, shear: 10, perspective: persp ? 0.001 : 0 },
          128,
          96,
          [128, 96],
        );
        const boxes = new Float64Array([g.uniform(0, 60), g.uniform(0, 40), g.uniform(70, 128), g.uniform(50, 96)]);
        const out = transformBoxes(boxes, M, persp);
        let x0 = Infinity;
        let y0 = Infinity;
        let x1 = -Infinity;
        let y1 = -Infinity;
        for (let k = 0; k <= 200; k++) {
          const f = k / 200;
          const pts: [number, number][] = [
            [boxes[0] + f * (boxes[2] - boxes[0]), boxes[1]],
            [boxes[0] + f * (boxes[2] - boxes[0]), boxes[3]],
            [boxes[0], boxes[1] + f * (boxes[3] - boxes[1])],
            [boxes[2], boxes[1] + f * (boxes[3] - boxes[1])],
          ];
          for (const [px, py] of pts) {
            const [qx, qy] = apply(M, px, py, persp);
            x0 = Math.min(x0, qx);
            y0 = Math.min(y0, qy);
            x1 = Math.max(x1, qx);
            y1 = Math.max(y1, qy);
          }
        }
        for (const [a, b] of [
          [out[0], x0],
          [out[1], y0],
          [out[2], x1],
          [out[3], y1],
        ])
          worst = Math.max(worst, Math.abs(a - b));
      }
    }
    expect(worst).toBeLessThan(1e-9);
  });

  it('the matrix is T @ S @ R @ P @ C: the image centre goes to the translation point', () => {
    const g = new Generator(3);
    const { M, scale } = randomAffineMatrix(g, { degrees: 0, translate: 0, scale: 0.5, shear: 0, perspective: 0 }, 100, 80, [60, 40]);
    const [cx, cy] = apply(M, 50, 40, false);
    expect(cx).toBeCloseTo(30, 9);
    expect(cy).toBeCloseTo(20, 9);
    // pure scaling about the centre
    const [px] = apply(M, 60, 40, false);
    expect(px - cx).toBeCloseTo(10 * scale, 9);
  });
});

describe('randomPerspective', () => {
  it('moves boxes with the image: warped rectangle mask vs transformed label box', () => {
    let worst = 0;
    let kept = 0;
    for (let seed = 0; seed < 12; seed++) {
      const g = new Generator(100 + seed);
      const rect: [number, number, number, number] = [30 + g.int(20), 25 + g.int(20), 70 + g.int(20), 60 + g.int(20)];
      const inst: Instances = { img: rectImage(128, 128, rect, 0), boxes: Float64Array.from(rect), cls: [2] };
      const persp = seed % 3 === 0 ? 0.0005 : 0;
      const out = randomPerspective(inst, { degrees: 20, translate: 0.1, scale: 0.4, shear: 5, perspective: persp }, 0, g);
      expect(out.img.width).toBe(128);
      // a 114 border is grey < 128 in the first channel; the rectangle is 255
      const mb = maskBox(out.img, 160);
      if (out.cls.length === 0) continue;
      kept++;
      expect(out.cls).toEqual([2]);
      expect(mb).not.toBeNull();
      const b = mb as number[];
      // pixel-centre (OpenCV) vs continuous-box conventions differ by half a pixel, interpolation by one more
      for (let k = 0; k < 4; k++) worst = Math.max(worst, Math.abs(out.boxes[k] - b[k]));
    }
    expect(kept).toBeGreaterThan(6);
    expect(worst).toBeLessThanOrEqual(2);
  });

  it('mosaic border: output is the input minus imgsz on each side, boxes clipped into it', () => {
    const g = new Generator(5);
    const inst: Instances = { img: randomImage(128, 128, 1), boxes: new Float64Array([0, 0, 128, 128, 60, 60, 70, 70]), cls: [0, 1] };
    const out = randomPerspective(inst, { degrees: 0, translate: 0.1, scale: 0.5, shear: 0, perspective: 0 }, -32, g);
    expect([out.img.width, out.img.height]).toEqual([64, 64]);
    for (const v of out.boxes) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(64);
    }
  });

  it('box_candidates: wh > 2 px, area ratio > 0.1, aspect ratio < 100', () => {
    const before = [0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 300, 10, 0, 0, 10, 10];
    const after = [0, 0, 5, 5, 0, 0, 2, 50, 0, 0, 3, 3, 0, 0, 300, 2.5, 0, 0, 3.2, 3.2];
    expect(boxCandidates(before, after, 0)).toBe(true);
    expect(boxCandidates(before, after, 1)).toBe(false); // w = 2 is not > 2
    expect(boxCandidates(before, after, 2)).toBe(false); // area 9/100 < 0.1
    expect(boxCandidates(before, after, 3)).toBe(false); // aspect 120
    expect(boxCandidates(before, after, 4)).toBe(true); // 10.24/100 > 0.1
  });
});

describe('mosaic4', () => {
  it('places each tile at its quadrant of the centre and keeps label bookkeeping', () => {
    const s = 64;
    const sizes = [
      [64, 48],
      [40, 64],
      [64, 64],
      [30, 20],
    ];
    const tiles: Instances[] = sizes.map(([w, h], i) => ({
      img: randomImage(w, h, 20 + i),
      // one box per tile in the middle, one at the far corner that may get cut off
      boxes: new Float64Array([w * 0.25, h * 0.25, w * 0.75, h * 0.75, 0, 0, 4, 4]),
      cls: [i, 10 + i],
    }));
    for (const [xc, yc] of [
      [64, 64],
      [40, 90],
      [95, 33],
    ]) {
      const m = mosaic4(tiles, s, xc, yc);
      expect([m.img.width, m.img.height]).toEqual([128, 128]);
      // tile i's top-left corner in the canvas: 0 ends at (xc, yc), 1 starts at xc and ends at yc, ...
      const offs = sizes.map(([w, h], i) => [i % 2 === 0 ? xc - w : xc, i < 2 ? yc - h : yc]);
      for (let y = 0; y < 128; y++) {
        for (let x = 0; x < 128; x++) {
          const q = (y < yc ? 0 : 2) + (x < xc ? 0 : 1);
          const [ox, oy] = offs[q];
          const [w, h] = sizes[q];
          const tx = x - ox;
          const ty = y - oy;
          const inside = tx >= 0 && ty >= 0 && tx < w && ty < h;
          for (let c = 0; c < 3; c++) {
            const want = inside ? tiles[q].img.data[(ty * w + tx) * 3 + c] : 114;
            if (m.img.data[(y * 128 + x) * 3 + c] !== want) throw new Error(`pixel (${x}, ${y}) of mosaic (${xc}, ${yc}) is wrong`);
          }
        }
      }
      // expected boxes: shifted by the tile offset, clipped to the canvas, zero-area dropped
      const want: number[][] = [];
      tiles.forEach((t, i) => {
        for (let k = 0; k < 2; k++) {
          const b = [
            t.boxes[k * 4] + offs[i][0],
            t.boxes[k * 4 + 1] + offs[i][1],
            t.boxes[k * 4 + 2] + offs[i][0],
            t.boxes[k * 4 + 3] + offs[i][1],
          ].map((v) => Math.min(128, Math.max(0, v)));
          if (b[2] > b[0] && b[3] > b[1]) want.push([t.cls[k], ...b]);
        }
      });
      const got = m.cls.map((c, i) => [c, ...Array.from(m.boxes.subarray(i * 4, i * 4 + 4))]);
      expect(got).toEqual(want);
    }
  });

  it('rejects a wrong tile count', () => {
    expect(() => mosaic4([], 64, 64, 64)).toThrow(/needs 4 images, got 0/);
  });
});

describe('load / letterbox / flips / hsv', () => {
  it('loadResized scales the longer side to imgsz and boxes with it', () => {
    const img = randomImage(200, 100, 9);
    const inst = loadResized(img, [{ cls: 1, x: 0.5, y: 0.5, w: 0.2, h: 0.4 }], 64);
    expect([inst.img.width, inst.img.height]).toEqual([64, 32]);
    expect(Array.from(inst.boxes)).toEqual([25.6, 9.6, 38.4, 22.4].map((v) => expect.closeTo(v, 9)));
    const lb = letterboxInstances(inst, 64);
    expect(lb.pad).toEqual([0, 16]);
    expect(lb.inst.boxes[1]).toBeCloseTo(25.6, 9);
  });

  it('flips move boxes with the pixels', () => {
    for (const dir of ['horizontal', 'vertical'] as const) {
      const rect: [number, number, number, number] = [5, 10, 20, 40];
      const inst: Instances = {
        img: rectImage(64, 48, rect, 0),
        ...labelsToBoxes([{ cls: 0, x: 12.5 / 64, y: 25 / 48, w: 15 / 64, h: 30 / 48 }], 64, 48),
      };
      randomFlip(inst, dir, 1, new Generator(0));
      expect(Array.from(inst.boxes)).toEqual((maskBox(inst.img) as number[]).map((v) => expect.closeTo(v, 9)));
      const same: Instances = { img: rectImage(64, 48, rect, 0), boxes: Float64Array.from(rect), cls: [0] };
      randomFlip(same, dir, 0, new Generator(0));
      expect(Array.from(same.boxes)).toEqual(rect);
    }
  });

  it('randomHsv with zero gains leaves the image unchanged but still draws its numbers', () => {
    const img = randomImage(8, 8, 10);
    const copy = { ...img, data: img.data.slice() };
    const g = new Generator(1);
    randomHsv(copy, { hsv_h: 0, hsv_s: 0, hsv_v: 0 }, g);
    expect(copy.data).toEqual(img.data);
    const ref = new Generator(1);
    ref.random();
    ref.random();
    ref.random();
    expect(g.random()).toBe(ref.random());
  });
});
