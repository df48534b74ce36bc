import { describe, expect, it } from 'vitest';
import {
  applyHsvGains,
  flipHorizontal,
  flipVertical,
  hsvToRgb,
  invert3,
  letterbox,
  resizeArea,
  resizeBilinear,
  rgbToHsv,
  warp,
} from './image.js';
import { maskBox, randomImage, rectImage } from './test-utils.js';

/** cv2.INTER_LINEAR in float64, straight from its definition. */
function naiveBilinear(src: { data: Uint8Array; width: number; height: number }, w: number, h: number): Float64Array {
  const out = new Float64Array(w * h * 3);
  const at = (x: number, y: number, c: number) => src.data[(y * src.width + x) * 3 + c];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let sx = ((x + 0.5) * src.width) / w - 0.5;
      let sy = ((y + 0.5) * src.height) / h - 0.5;
      sx = Math.min(Math.max(sx, 0), src.width - 1);
      sy = Math.min(Math.max(sy, 0), src.height - 1);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, src.width - 1);
      const y1 = Math.min(y0 + 1, src.height - 1);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < 3; c++) {
        out[(y * w + x) * 3 + c] =
          at(x0, y0, c) * (1 - fx) * (1 - fy) + at(x1, y0, c) * fx * (1 - fy) + at(x0, y1, c) * (1 - fx) * fy + at(x1, y1, c) * fx * fy;
      }
    }
  }
  return out;
}

/** Area average in float64: each output pixel integrates the source over its footprint. */
function naiveArea(src: { data: Uint8Array; width: number; height: number }, w: number, h: number): Float64Array {
  const out = new Float64Array(w * h * 3);
  const kx = src.width / w;
  const ky = src.height / h;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const acc = [0, 0, 0];
      let total = 0;
      for (let sy = 0; sy < src.height; sy++) {
        const oy = Math.max(0, Math.min(sy + 1, (y + 1) * ky) - Math.max(sy, y * ky));
        if (oy <= 0) continue;
        for (let sx = 0; sx < src.width; sx++) {
          const ox = Math.max(0, Math.min(sx + 1, (x + 1) * kx) - Math.max(sx, x * kx));
          if (ox <= 0) continue;
          for (let c = 0; c < 3; c++) acc[c] += src.data[(sy * src.width + sx) * 3 + c] * ox * oy;
          total += ox * oy;
        }
      }
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = acc[c] / total;
    }
  }
  return out;
}

function maxDiff(a: Uint8Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

describe('resize', () => {
  it('bilinear matches the cv2.INTER_LINEAR definition (down, up, anisotropic)', () => {
    const src = randomImage(37, 23, 1);
    for (const [w, h] of [
      [16, 10],
      [80, 51],
      [37, 60],
      [5, 23],
    ]) {
      const out = resizeBilinear(src, w, h);
      expect(out.data.length).toBe(w * h * 3);
      // output is rounded to uint8: at most 0.5 away, plus float32 weight rounding
      expect(maxDiff(out.data, naiveBilinear(src, w, h))).toBeLessThanOrEqual(0.5 + 1e-3);
    }
  });

  it('area resize matches exact footprint averaging (integer and fractional factors)', () => {
    const src = randomImage(40, 30, 2);
    for (const [w, h] of [
      [20, 15],
      [13, 11],
      [40, 7],
    ]) {
      const out = resizeArea(src, w, h);
      expect(maxDiff(out.data, naiveArea(src, w, h))).toBeLessThanOrEqual(0.5 + 1e-3);
    }
  });
});

describe('letterbox', () => {
  it('keeps the aspect ratio, centres the content and pads with 114 (Ultralytics rounding)', () => {
    const src = rectImage(100, 50, [20, 10, 60, 30], 0);
    const lb = letterbox(src, 64);
    expect(lb.ratio).toBeCloseTo(0.64, 12);
    expect(lb.resized).toEqual([64, 32]);
    // dh = 16 -> top = round(16 - 0.1) = 16, left 0
    expect(lb.pad).toEqual([0, 16]);
    const at = (x: number, y: number) => lb.image.data[(y * 64 + x) * 3];
    for (let x = 0; x < 64; x++) {
      expect(at(x, 0)).toBe(114);
      expect(at(x, 15)).toBe(114);
      expect(at(x, 48)).toBe(114);
      expect(at(x, 63)).toBe(114);
    }
    // odd padding: 30 x 100 -> 19 x 64 at 64: dw = 45 / 2 = 22.5 -> left round(22.4) = 22, right 23
    const odd = letterbox(rectImage(30, 100, [0, 0, 30, 100], 0), 64);
    expect(odd.resized).toEqual([19, 64]);
    expect(odd.pad).toEqual([22, 0]);
    expect(maskBox(odd.image, 200)).toEqual([22, 0, 41, 64]);
  });

  it('maps boxes forward and back: original = (letterboxed - pad) / ratio', () => {
    const rect: [number, number, number, number] = [20, 10, 60, 30];
    const lb = letterbox(rectImage(100, 50, rect, 0), 64);
    const box = maskBox(lb.image, 128);
    expect(box).not.toBeNull();
    const b = box as number[];
    const back = [
      (b[0] - lb.pad[0]) / lb.ratio,
      (b[1] - lb.pad[1]) / lb.ratio,
      (b[2] - lb.pad[0]) / lb.ratio,
      (b[3] - lb.pad[1]) / lb.ratio,
    ];
    // one letterboxed pixel is 1 / 0.64 original pixels
    for (let k = 0; k < 4; k++) expect(Math.abs(back[k] - rect[k])).toBeLessThanOrEqual(1 / lb.ratio + 1e-9);
    const fwd = rect.map((v, k) => v * lb.ratio + lb.pad[k % 2]);
    for (let k = 0; k < 4; k++) expect(Math.abs(fwd[k] - b[k])).toBeLessThanOrEqual(1);
  });

  it('never enlarges with scaleup false', () => {
    const lb = letterbox(randomImage(20, 10, 3), 64, { scaleup: false });
    expect(lb.ratio).toBe(1);
    expect(lb.resized).toEqual([20, 10]);
    expect(lb.pad).toEqual([22, 27]);
  });
});

describe('warp', () => {
  it('samples m^-1 (x, y) bilinearly with a 114 border (affine and perspective)', () => {
    const src = randomImage(30, 20, 4);
    const cases: [number[], boolean][] = [
      [[0.9, 0.2, 3.5, -0.15, 1.1, -2.25, 0, 0, 1], false],
      [[1.05, -0.1, 2, 0.08, 0.95, 1.5, 0.002, -0.001, 1], true],
    ];
    for (const [m, persp] of cases) {
      const out = warp(src, m, 34, 26, persp);
      const inv = invert3(m);
      let worst = 0;
      for (let y = 0; y < 26; y++) {
        for (let x = 0; x < 34; x++) {
          const wz = persp ? inv[6] * x + inv[7] * y + inv[8] : 1;
          const sx = (inv[0] * x + inv[1] * y + inv[2]) / wz;
          const sy = (inv[3] * x + inv[4] * y + inv[5]) / wz;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const px = (xx: number, yy: number, c: number) =>
            xx < 0 || yy < 0 || xx >= 30 || yy >= 20 ? 114 : src.data[(yy * 30 + xx) * 3 + c];
          for (let c = 0; c < 3; c++) {
            const fx = sx - x0;
            const fy = sy - y0;
            const v =
              px(x0, y0, c) * (1 - fx) * (1 - fy) +
              px(x0 + 1, y0, c) * fx * (1 - fy) +
              px(x0, y0 + 1, c) * (1 - fx) * fy +
              px(x0 + 1, y0 + 1, c) * fx * fy;
            worst = Math.max(worst, Math.abs(out.data[(y * 34 + x) * 3 + c] - v));
          }
        }
      }
      expect(worst).toBeLessThanOrEqual(0.5 + 1e-6);
    }
    // a checked inverse
    const m = [0.9, 0.2, 3.5, -0.15, 1.1, -2.25, 0.001, 0.002, 1];
    const inv = invert3(m);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        let s = 0;
        for (let k = 0; k < 3; k++) s += m[i * 3 + k] * inv[k * 3 + j];
        expect(s).toBeCloseTo(i === j ? 1 : 0, 12);
      }
    expect(() => invert3([1, 2, 3, 2, 4, 6, 0, 0, 1])).toThrow(/singular matrix/);
  });
});

describe('flips', () => {
  it('mirror pixels and are involutions', () => {
    const src = randomImage(7, 5, 5);
    const h = { ...src, data: src.data.slice() };
    flipHorizontal(h);
    const v = { ...src, data: src.data.slice() };
    flipVertical(v);
    for (let y = 0; y < 5; y++)
      for (let x = 0; x < 7; x++)
        for (let c = 0; c < 3; c++) {
          expect(h.data[(y * 7 + x) * 3 + c]).toBe(src.data[(y * 7 + (6 - x)) * 3 + c]);
          expect(v.data[(y * 7 + x) * 3 + c]).toBe(src.data[((4 - y) * 7 + x) * 3 + c]);
        }
    flipHorizontal(h);
    flipVertical(v);
    expect(h.data).toEqual(src.data);
    expect(v.data).toEqual(src.data);
  });
});

describe('HSV', () => {
  it('RGB -> HSV matches the float definition, scaled as OpenCV 8-bit (H/2, S*255, V)', () => {
    const img = randomImage(64, 64, 6);
    let worstH = 0;
    let worstS = 0;
    for (let p = 0; p < img.data.length; p += 3) {
      const r = img.data[p] / 255;
      const g = img.data[p + 1] / 255;
      const b = img.data[p + 2] / 255;
      const mx = Math.max(r, g, b);
      const mn = Math.min(r, g, b);
      let h = 0;
      if (mx !== mn) {
        if (mx === r) h = ((g - b) / (mx - mn)) * 60;
        else if (mx === g) h = (2 + (b - r) / (mx - mn)) * 60;
        else h = (4 + (r - g) / (mx - mn)) * 60;
      }
      h = (h + 360) % 360;
      const s = mx === 0 ? 0 : (mx - mn) / mx;
      const [H, S, V] = rgbToHsv(img.data[p], img.data[p + 1], img.data[p + 2]);
      expect(V).toBe(Math.round(mx * 255));
      const dh = Math.min(Math.abs(H - h / 2), 180 - Math.abs(H - h / 2));
      worstH = Math.max(worstH, dh);
      worstS = Math.max(worstS, Math.abs(S - s * 255));
      expect(H).toBeGreaterThanOrEqual(0);
      expect(H).toBeLessThan(180);
    }
    expect(worstH).toBeLessThanOrEqual(0.5 + 1e-9);
    expect(worstS).toBeLessThanOrEqual(0.5 + 1e-9);
  });

  it('HSV -> RGB inverts within the 8-bit quantisation, and unit gains change little', () => {
    const img = randomImage(64, 64, 7);
    let worst = 0;
    for (let p = 0; p < img.data.length; p += 3) {
      const [h, s, v] = rgbToHsv(img.data[p], img.data[p + 1], img.data[p + 2]);
      const back = hsvToRgb(h, s, v);
      for (let c = 0; c < 3; c++) worst = Math.max(worst, Math.abs(back[c] - img.data[p + c]));
    }
    // hue is stored in 2-degree steps: a channel can move by up to ~ V * S * 1/60 * 255 ~ 4 levels
    expect(worst).toBeLessThanOrEqual(5);
    const copy = { ...img, data: img.data.slice() };
    applyHsvGains(copy, 1, 1, 1);
    let w2 = 0;
    for (let i = 0; i < copy.data.length; i++) w2 = Math.max(w2, Math.abs(copy.data[i] - img.data[i]));
    expect(w2).toBeLessThanOrEqual(5);
  });

  it('applyHsvGains equals rgbToHsv -> lookup tables -> hsvToRgb per pixel', () => {
    const img = randomImage(32, 32, 9);
    for (const [r0, r1, r2] of [
      [1.015, 1.7, 0.6],
      [0.985, 0.3, 1.4],
    ]) {
      const out = { ...img, data: img.data.slice() };
      applyHsvGains(out, r0, r1, r2);
      for (let p = 0; p < img.data.length; p += 3) {
        const [h, s, v] = rgbToHsv(img.data[p], img.data[p + 1], img.data[p + 2]);
        const want = hsvToRgb(Math.trunc((h * r0) % 180), Math.trunc(Math.min(255, s * r1)), Math.trunc(Math.min(255, v * r2)));
        expect([out.data[p], out.data[p + 1], out.data[p + 2]]).toEqual(want);
      }
    }
  });

  it('gains act on the right channels: s gain 0 gives grey of value V, v gain 0.5 halves V', () => {
    const img = randomImage(16, 16, 8);
    const grey = { ...img, data: img.data.slice() };
    applyHsvGains(grey, 1, 0, 1);
    const half = { ...img, data: img.data.slice() };
    applyHsvGains(half, 1, 1, 0.5);
    for (let p = 0; p < img.data.length; p += 3) {
      const v = Math.max(img.data[p], img.data[p + 1], img.data[p + 2]);
      expect([grey.data[p], grey.data[p + 1], grey.data[p + 2]]).toEqual([v, v, v]);
      expect(Math.max(half.data[p], half.data[p + 1], half.data[p + 2])).toBe(Math.trunc(v * 0.5));
    }
  });
});
