/**
 * Ultralytics 8.0.229's training augmentations (ultralytics/data/augment.py), on HWC RGB uint8 images
 * with boxes as pixel xyxy: load_image's resize, LetterBox, Mosaic (4 images on a 2*imgsz canvas),
 * RandomPerspective (the affine/perspective matrix M = T @ S @ R @ P @ C, box corners transformed,
 * clipped, then the box_candidates filter), RandomHSV (lookup tables in OpenCV HSV space) and
 * RandomFlip, composed as v8_transforms does: Mosaic -> RandomPerspective (LetterBox when no mosaic)
 * -> RandomHSV -> flip up-down -> flip left-right.
 *
 * Status: random numbers come from the core Generator (not Python's `random`), so values differ from
 * Ultralytics run for run while following the same distributions; the mosaic's three extra images are
 * drawn from the whole split (Ultralytics draws them from a buffer of recently loaded images); MixUp,
 * CopyPaste and Albumentations (off or absent in the default detection recipe) are not implemented.
 */
import type { Generator } from '@ablate/core';
import {
  applyHsvGains,
  flipHorizontal,
  flipVertical,
  type Image,
  letterbox,
  PAD_VALUE,
  resizeArea,
  resizeBilinear,
  warp,
} from './image.js';
import type { AugmentConfig, Label } from './types.js';

/** An image with its boxes (pixel xyxy, 4 numbers per box) and class ids. */
export interface Instances {
  img: Image;
  boxes: Float64Array;
  cls: number[];
}

/** Normalised centre xywh labels -> pixel xyxy boxes of a width x height image. */
export function labelsToBoxes(labels: Label[], width: number, height: number): { boxes: Float64Array; cls: number[] } {
  const boxes = new Float64Array(labels.length * 4);
  labels.forEach((l, i) => {
    boxes[i * 4] = (l.x - l.w / 2) * width;
    boxes[i * 4 + 1] = (l.y - l.h / 2) * height;
    boxes[i * 4 + 2] = (l.x + l.w / 2) * width;
    boxes[i * 4 + 3] = (l.y + l.h / 2) * height;
  });
  return { boxes, cls: labels.map((l) => l.cls) };
}

/**
 * Ultralytics' load_image: scale so the longer side is `imgsz` (bilinear, or area when shrinking
 * with `area`), new size min(round(side * r), imgsz). Boxes follow.
 */
export function loadResized(img: Image, labels: Label[], imgsz: number, interp: 'linear' | 'area' = 'linear'): Instances {
  const r = imgsz / Math.max(img.width, img.height);
  let out = img;
  if (r !== 1) {
    const w = Math.min(imgsz, Math.max(1, Math.round(img.width * r)));
    const h = Math.min(imgsz, Math.max(1, Math.round(img.height * r)));
    out = interp === 'area' && r < 1 ? resizeArea(img, w, h) : resizeBilinear(img, w, h);
  }
  const { boxes, cls } = labelsToBoxes(labels, out.width, out.height);
  return { img: out, boxes, cls };
}

/** LetterBox to size x size of an Instances (boxes scaled and shifted by the integer pad). */
export function letterboxInstances(
  inst: Instances,
  size: number,
  scaleup = true,
): { inst: Instances; ratio: number; pad: [number, number] } {
  const lb = letterbox(inst.img, size, { scaleup });
  const sx = lb.resized[0] / inst.img.width;
  const sy = lb.resized[1] / inst.img.height;
  const boxes = new Float64Array(inst.boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    boxes[i] = inst.boxes[i] * sx + lb.pad[0];
    boxes[i + 1] = inst.boxes[i + 1] * sy + lb.pad[1];
    boxes[i + 2] = inst.boxes[i + 2] * sx + lb.pad[0];
    boxes[i + 3] = inst.boxes[i + 3] * sy + lb.pad[1];
  }
  return { inst: { img: lb.image, boxes, cls: inst.cls.slice() }, ratio: lb.ratio, pad: lb.pad };
}

/** Clips boxes to [0, w] x [0, h] and drops those of zero area (Instances.clip + remove_zero_area_boxes). */
export function clipBoxes(boxes: Float64Array, cls: number[], w: number, h: number): { boxes: Float64Array; cls: number[] } {
  const keep: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < cls.length; i++) {
    const x0 = Math.min(w, Math.max(0, boxes[i * 4]));
    const y0 = Math.min(h, Math.max(0, boxes[i * 4 + 1]));
    const x1 = Math.min(w, Math.max(0, boxes[i * 4 + 2]));
    const y1 = Math.min(h, Math.max(0, boxes[i * 4 + 3]));
    if (x1 - x0 > 0 && y1 - y0 > 0) {
      out.push(x0, y0, x1, y1);
      keep.push(cls[i]);
    }
  }
  return { boxes: Float64Array.from(out), cls: keep };
}

/**
 * Ultralytics' _mosaic4: four images (already load_image-resized to at most s) around the centre
 * (xc, yc) of a 2s x 2s canvas filled with 114; boxes shifted by each tile's offset, clipped to the
 * canvas, zero-area boxes dropped.
 */
export function mosaic4(tiles: Instances[], s: number, xc: number, yc: number): Instances {
  if (tiles.length !== 4) throw new Error(`mosaic4: needs 4 images, got ${tiles.length}`);
  const S = 2 * s;
  const canvas = new Uint8Array(S * S * 3).fill(PAD_VALUE);
  const boxes: number[] = [];
  const cls: number[] = [];
  tiles.forEach((t, i) => {
    const w = t.img.width;
    const h = t.img.height;
    let x1a: number;
    let y1a: number;
    let x2a: number;
    let y2a: number;
    let x1b: number;
    let y1b: number;
    let x2b: number;
    let y2b: number;
    if (i === 0) {
      // top left
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), Math.max(yc - h, 0), xc, yc];
      [x1b, y1b, x2b, y2b] = [w - (x2a - x1a), h - (y2a - y1a), w, h];
    } else if (i === 1) {
      // top right
      [x1a, y1a, x2a, y2a] = [xc, Math.max(yc - h, 0), Math.min(xc + w, S), yc];
      [x1b, y1b, x2b, y2b] = [0, h - (y2a - y1a), Math.min(w, x2a - x1a), h];
    } else if (i === 2) {
      // bottom left
      [x1a, y1a, x2a, y2a] = [Math.max(xc - w, 0), yc, xc, Math.min(S, yc + h)];
      [x1b, y1b, x2b, y2b] = [w - (x2a - x1a), 0, w, Math.min(y2a - y1a, h)];
    } else {
      // bottom right
      [x1a, y1a, x2a, y2a] = [xc, yc, Math.min(xc + w, S), Math.min(S, yc + h)];
      [x1b, y1b, x2b, y2b] = [0, 0, Math.min(w, x2a - x1a), Math.min(y2a - y1a, h)];
    }
    const cw = Math.min(x2a - x1a, x2b - x1b);
    const ch = Math.min(y2a - y1a, y2b - y1b);
    for (let y = 0; y < ch; y++) {
      const src = ((y1b + y) * w + x1b) * 3;
      canvas.set(t.img.data.subarray(src, src + cw * 3), ((y1a + y) * S + x1a) * 3);
    }
    const padw = x1a - x1b;
    const padh = y1a - y1b;
    for (let k = 0; k < t.cls.length; k++) {
      boxes.push(t.boxes[k * 4] + padw, t.boxes[k * 4 + 1] + padh, t.boxes[k * 4 + 2] + padw, t.boxes[k * 4 + 3] + padh);
      cls.push(t.cls[k]);
    }
  });
  const clipped = clipBoxes(Float64Array.from(boxes), cls, S, S);
  return { img: { data: canvas, width: S, height: S }, boxes: clipped.boxes, cls: clipped.cls };
}

/** Row-major 3x3 product a @ b. */
export function matmul3(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const o = new Float64Array(9);
  for (let i = 0; i < 3; i++)
    for (let j = 0; j < 3; j++) o[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
  return o;
}

/**
 * RandomPerspective.affine_transform's matrix for an input of width x height and output `size`
 * [w, h]: M = T @ S @ R @ P @ C, drawing (in this order) perspective x, y, angle, scale, shear x, y,
 * translate x, y. Returns M and the drawn scale.
 */
export function randomAffineMatrix(
  rng: Generator,
  cfg: Pick<AugmentConfig, 'degrees' | 'translate' | 'scale' | 'shear' | 'perspective'>,
  width: number,
  height: number,
  size: [number, number],
): { M: Float64Array; scale: number } {
  const C = [1, 0, -width / 2, 0, 1, -height / 2, 0, 0, 1];
  const P = [1, 0, 0, 0, 1, 0, rng.uniform(-cfg.perspective, cfg.perspective), rng.uniform(-cfg.perspective, cfg.perspective), 1];
  const a = (rng.uniform(-cfg.degrees, cfg.degrees) * Math.PI) / 180;
  const s = rng.uniform(1 - cfg.scale, 1 + cfg.scale);
  // cv2.getRotationMatrix2D(center=(0, 0), angle=a, scale=s)
  const R = [s * Math.cos(a), s * Math.sin(a), 0, -s * Math.sin(a), s * Math.cos(a), 0, 0, 0, 1];
  const S = [
    1,
    Math.tan((rng.uniform(-cfg.shear, cfg.shear) * Math.PI) / 180),
    0,
    Math.tan((rng.uniform(-cfg.shear, cfg.shear) * Math.PI) / 180),
    1,
    0,
    0,
    0,
    1,
  ];
  const T = [
    1,
    0,
    rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * size[0],
    0,
    1,
    rng.uniform(0.5 - cfg.translate, 0.5 + cfg.translate) * size[1],
    0,
    0,
    1,
  ];
  const M = matmul3(T, matmul3(S, matmul3(R, matmul3(P, C))));
  return { M, scale: s };
}

/** RandomPerspective.apply_bboxes: transforms the 4 corners of each box and takes their bounds. */
export function transformBoxes(boxes: Float64Array, M: ArrayLike<number>, perspective: boolean): Float64Array {
  const out = new Float64Array(boxes.length);
  for (let i = 0; i < boxes.length; i += 4) {
    const xs = [boxes[i], boxes[i + 2], boxes[i], boxes[i + 2]];
    const ys = [boxes[i + 1], boxes[i + 3], boxes[i + 3], boxes[i + 1]];
    let x0 = Number.POSITIVE_INFINITY;
    let y0 = Number.POSITIVE_INFINITY;
    let x1 = Number.NEGATIVE_INFINITY;
    let y1 = Number.NEGATIVE_INFINITY;
    for (let k = 0; k < 4; k++) {
      let x = M[0] * xs[k] + M[1] * ys[k] + M[2];
      let y = M[3] * xs[k] + M[4] * ys[k] + M[5];
      if (perspective) {
        const w = M[6] * xs[k] + M[7] * ys[k] + M[8];
        x /= w;
        y /= w;
      }
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
    out[i] = x0;
    out[i + 1] = y0;
    out[i + 2] = x1;
    out[i + 3] = y1;
  }
  return out;
}

/**
 * Ultralytics' box_candidates: keep a box whose transformed size is > wh_thr px on both sides, whose
 * area is > area_thr of the original (scaled) box, and whose aspect ratio is < ar_thr.
 */
export function boxCandidates(
  before: ArrayLike<number>,
  after: ArrayLike<number>,
  i: number,
  whThr = 2,
  arThr = 100,
  areaThr = 0.1,
  eps = 1e-16,
): boolean {
  const w1 = before[i * 4 + 2] - before[i * 4];
  const h1 = before[i * 4 + 3] - before[i * 4 + 1];
  const w2 = after[i * 4 + 2] - after[i * 4];
  const h2 = after[i * 4 + 3] - after[i * 4 + 1];
  const ar = Math.max(w2 / (h2 + eps), h2 / (w2 + eps));
  return w2 > whThr && h2 > whThr && (w2 * h2) / (w1 * h1 + eps) > areaThr && ar < arThr;
}

/**
 * RandomPerspective.__call__: warps the image to `size` = input + 2 * border (border is -imgsz/2 after a
 * mosaic, 0 otherwise), transforms, clips and filters the boxes.
 */
export function randomPerspective(
  inst: Instances,
  cfg: Pick<AugmentConfig, 'degrees' | 'translate' | 'scale' | 'shear' | 'perspective'>,
  border: number,
  rng: Generator,
): Instances {
  const size: [number, number] = [inst.img.width + border * 2, inst.img.height + border * 2];
  const { M, scale } = randomAffineMatrix(rng, cfg, inst.img.width, inst.img.height, size);
  let identity = true;
  for (let k = 0; k < 9; k++) if (M[k] !== (k % 4 === 0 ? 1 : 0)) identity = false;
  const img =
    border !== 0 || !identity ? warp(inst.img, M, size[0], size[1], cfg.perspective !== 0) : { ...inst.img, data: inst.img.data.slice() };
  const moved = transformBoxes(inst.boxes, M, cfg.perspective !== 0);
  // clip to the output (Instances.clip), compare with the original boxes scaled by the drawn scale
  const n = inst.cls.length;
  const boxes: number[] = [];
  const cls: number[] = [];
  const scaled = inst.boxes.map((v) => v * scale);
  for (let i = 0; i < n; i++) {
    moved[i * 4] = Math.min(size[0], Math.max(0, moved[i * 4]));
    moved[i * 4 + 1] = Math.min(size[1], Math.max(0, moved[i * 4 + 1]));
    moved[i * 4 + 2] = Math.min(size[0], Math.max(0, moved[i * 4 + 2]));
    moved[i * 4 + 3] = Math.min(size[1], Math.max(0, moved[i * 4 + 3]));
    if (boxCandidates(scaled, moved, i)) {
      boxes.push(moved[i * 4], moved[i * 4 + 1], moved[i * 4 + 2], moved[i * 4 + 3]);
      cls.push(inst.cls[i]);
    }
  }
  return { img, boxes: Float64Array.from(boxes), cls };
}

/** RandomHSV: gains r = U(-1, 1) * [h, s, v] + 1 (three draws, always made), applied in place. */
export function randomHsv(img: Image, cfg: Pick<AugmentConfig, 'hsv_h' | 'hsv_s' | 'hsv_v'>, rng: Generator): void {
  const r0 = rng.uniform(-1, 1) * cfg.hsv_h + 1;
  const r1 = rng.uniform(-1, 1) * cfg.hsv_s + 1;
  const r2 = rng.uniform(-1, 1) * cfg.hsv_v + 1;
  if (cfg.hsv_h || cfg.hsv_s || cfg.hsv_v) applyHsvGains(img, r0, r1, r2);
}

/** RandomFlip: with probability p mirror the image and boxes (one draw, always made). In place. */
export function randomFlip(inst: Instances, direction: 'horizontal' | 'vertical', p: number, rng: Generator): void {
  const flip = rng.random() < p;
  if (!flip) return;
  const { width, height } = inst.img;
  const b = inst.boxes;
  if (direction === 'horizontal') {
    flipHorizontal(inst.img);
    for (let i = 0; i < b.length; i += 4) {
      const x0 = b[i];
      b[i] = width - b[i + 2];
      b[i + 2] = width - x0;
    }
  } else {
    flipVertical(inst.img);
    for (let i = 0; i < b.length; i += 4) {
      const y0 = b[i + 1];
      b[i + 1] = height - b[i + 3];
      b[i + 3] = height - y0;
    }
  }
}
