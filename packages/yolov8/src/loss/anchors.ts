/**
 * YOLOv8 anchor-free decode helpers: anchor centres per level, the DFL expectation (softmax over the
 * `regMax` bins dotted with 0..regMax-1) and distance -> box conversion.
 *
 * Semantics of Ultralytics 8.0.229 `ultralytics/utils/tal.py` (make_anchors, dist2bbox, bbox2dist)
 * and `nn/modules/block.py` (DFL). Anchors are in grid units: centre (x+0.5, y+0.5), flattened per
 * level (stride order), row-major over (y, x), so an NHWC map reshaped to [B, H*W, C] lines up.
 * Status: tensor and plain-JS versions; no deviations.
 */
import * as tf from '@tensorflow/tfjs-core';

/** A level's spatial size: an NHWC feature map [B, H, W, C] or its [H, W]. */
export type LevelSize = tf.Tensor4D | readonly [number, number];

function levelHW(level: LevelSize, i: number): [number, number] {
  if (level instanceof tf.Tensor) {
    if (level.rank !== 4) throw new Error(`makeAnchors: level ${i} must be an NHWC Tensor4D, got rank ${level.rank}`);
    return [level.shape[1], level.shape[2]];
  }
  if (level.length !== 2 || !level.every((v) => Number.isInteger(v) && v > 0)) {
    throw new Error(`makeAnchors: level ${i} size must be [H, W] positive integers, got ${JSON.stringify(level)}`);
  }
  return [level[0], level[1]];
}

/** Anchor centres (grid units) and per-anchor strides as plain arrays. */
export interface AnchorArrays {
  /** Number of anchors A = sum of H*W over levels. */
  count: number;
  /** [A, 2] (x, y) in grid units of the anchor's level, row-major. */
  points: Float32Array;
  /** [A] stride of each anchor's level. */
  strides: Float32Array;
}

/** Plain-JS `make_anchors`: centres (x + offset, y + offset) per level, row-major over (y, x). */
export function makeAnchorArrays(levels: readonly LevelSize[], strides: readonly number[], offset = 0.5): AnchorArrays {
  if (levels.length !== strides.length) {
    throw new Error(`makeAnchors: ${levels.length} levels but ${strides.length} strides (${JSON.stringify(strides)})`);
  }
  const sizes = levels.map((l, i) => levelHW(l, i));
  const count = sizes.reduce((s, [h, w]) => s + h * w, 0);
  const points = new Float32Array(count * 2);
  const st = new Float32Array(count);
  let k = 0;
  sizes.forEach(([h, w], li) => {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        points[2 * k] = x + offset;
        points[2 * k + 1] = y + offset;
        st[k] = strides[li];
        k++;
      }
    }
  });
  return { count, points, strides: st };
}

/** `make_anchors` as tensors: points [A, 2] (grid units) and strides [A, 1]. The caller disposes them. */
export function makeAnchors(
  levels: readonly LevelSize[],
  strides: readonly number[],
  offset = 0.5,
): { points: tf.Tensor2D; strides: tf.Tensor2D } {
  const a = makeAnchorArrays(levels, strides, offset);
  return { points: tf.tensor2d(a.points, [a.count, 2]), strides: tf.tensor2d(a.strides, [a.count, 1]) };
}

/**
 * DFL expectation: `x` [..., 4*regMax] (side-major l, t, r, b; regMax bins each) -> [..., 4] distances,
 * softmax over the bins then the dot product with 0..regMax-1.
 */
export function dflDecode(x: tf.Tensor, regMax = 16): tf.Tensor {
  const last = x.shape[x.rank - 1];
  if (last !== 4 * regMax) {
    throw new Error(`dflDecode: last axis must be 4*regMax = ${4 * regMax}, got ${last} (shape ${JSON.stringify(x.shape)})`);
  }
  return tf.tidy(() => {
    const proj = tf.reshape(tf.range(0, regMax, 1, 'float32'), [regMax, 1]);
    // [..., 4*R] -> [N*4, R]
    const bins = tf.softmax(tf.reshape(x, [-1, regMax]));
    // [N*4, R] @ [R, 1] -> [N*4, 1] -> [..., 4]
    return tf.reshape(tf.matMul(bins, proj), [...x.shape.slice(0, -1), 4]);
  });
}

/**
 * `dist2bbox`: distances (l, t, r, b) [..., 4] from anchor points [..., 2] (broadcastable) to boxes,
 * xywh (centre, size) when `xywh`, else xyxy. Units are those of the inputs (grid units in the loss).
 */
export function dist2bbox(distance: tf.Tensor, anchorPoints: tf.Tensor, xywh = true): tf.Tensor {
  if (distance.shape[distance.rank - 1] !== 4) {
    throw new Error(`dist2bbox: distance must end in 4 (l, t, r, b), got shape ${JSON.stringify(distance.shape)}`);
  }
  if (anchorPoints.shape[anchorPoints.rank - 1] !== 2) {
    throw new Error(`dist2bbox: anchor points must end in 2 (x, y), got shape ${JSON.stringify(anchorPoints.shape)}`);
  }
  return tf.tidy(() => {
    const [lt, rb] = tf.split(distance, 2, -1);
    const x1y1 = tf.sub(anchorPoints, lt);
    const x2y2 = tf.add(anchorPoints, rb);
    if (!xywh) return tf.concat([x1y1, x2y2], -1);
    const cxy = tf.div(tf.add(x1y1, x2y2), 2);
    const wh = tf.sub(x2y2, x1y1);
    return tf.concat([cxy, wh], -1);
  });
}

/**
 * `bbox2dist` in plain JS (float32 arithmetic): xyxy box -> (l, t, r, b) from anchor (ax, ay), each
 * clamped to [0, maxDist] (the loss uses maxDist = regMax - 1 - 0.01). Writes 4 values at out[o..o+3].
 */
export function bbox2distInto(
  ax: number,
  ay: number,
  x1: number,
  y1: number,
  x2: number,
  y2: number,
  maxDist: number,
  out: Float32Array,
  o: number,
): void {
  const f = Math.fround;
  const clamp = (v: number) => (v < 0 ? 0 : Math.min(v, maxDist));
  out[o] = clamp(f(ax - x1));
  out[o + 1] = clamp(f(ay - y1));
  out[o + 2] = clamp(f(x2 - ax));
  out[o + 3] = clamp(f(y2 - ay));
}
