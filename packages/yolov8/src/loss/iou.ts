/**
 * Complete IoU (CIoU) of xyxy boxes, as Ultralytics 8.0.229 `utils/metrics.py` bbox_iou(xywh=False,
 * CIoU=True, eps=1e-7): eps added to both heights and to the union and the enclosing diagonal,
 * intersection sides clamped at 0, and the aspect term's alpha computed without gradient.
 *
 * Two versions: `ciouF32` in plain JS, rounding every step to float32 in torch's evaluation order (the
 * assigner's arithmetic), and `bboxCiou` in tf ops with gradients (the box loss).
 * Status: no deviations. At exact ties of min/max, torch splits the gradient between both arguments,
 * tfjs gives it all to one side (only matters when a predicted edge equals a target edge bit for bit).
 */
import * as tf from '@tensorflow/tfjs-core';

const f = Math.fround;
const EPS = f(1e-7);
const ONE_PLUS_EPS = f(1 + 1e-7);
const FOUR_OVER_PI2 = f(4 / Math.PI ** 2);

/**
 * CIoU of box 1 (a1..a4 = x1, y1, x2, y2) and box 2 (b1..b4), float32 step by step, in the operand
 * order of Ultralytics' bbox_iou (box 1 first). Not clamped.
 */
export function ciouF32(ax1: number, ay1: number, ax2: number, ay2: number, bx1: number, by1: number, bx2: number, by2: number): number {
  const w1 = f(ax2 - ax1);
  const h1 = f(f(ay2 - ay1) + EPS);
  const w2 = f(bx2 - bx1);
  const h2 = f(f(by2 - by1) + EPS);
  const iw = f(Math.min(ax2, bx2) - Math.max(ax1, bx1));
  const ih = f(Math.min(ay2, by2) - Math.max(ay1, by1));
  const inter = f(Math.max(iw, 0) * Math.max(ih, 0));
  const union = f(f(f(f(w1 * h1) + f(w2 * h2)) - inter) + EPS);
  const iou = f(inter / union);
  const cw = f(Math.max(ax2, bx2) - Math.min(ax1, bx1));
  const ch = f(Math.max(ay2, by2) - Math.min(ay1, by1));
  const c2 = f(f(f(cw * cw) + f(ch * ch)) + EPS);
  const dx = f(f(f(bx1 + bx2) - ax1) - ax2);
  const dy = f(f(f(by1 + by2) - ay1) - ay2);
  const rho2 = f(f(f(dx * dx) + f(dy * dy)) / 4);
  const da = f(f(Math.atan(f(w2 / h2))) - f(Math.atan(f(w1 / h1))));
  const v = f(FOUR_OVER_PI2 * f(da * da));
  const alpha = f(v / f(f(v - iou) + ONE_PLUS_EPS));
  return f(iou - f(f(rho2 / c2) + f(v * alpha)));
}

/** v / (v - iou + (1 + eps)) whose gradient is zero for both inputs (a detached computation). */
const ciouAlphaNoGrad = tf.customGrad(((v: tf.Tensor, iou: tf.Tensor) => ({
  value: tf.div(v, tf.add(tf.sub(v, iou), ONE_PLUS_EPS)),
  // v, iou and the result share one shape, so dy gives the shape of both zero gradients.
  gradFunc: (dy: tf.Tensor) => [tf.zerosLike(dy), tf.zerosLike(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as (v: tf.Tensor, iou: tf.Tensor) => tf.Tensor;

/** Boxes as four column tensors of the same shape (x1, y1, x2, y2). */
export type BoxColumns = [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];

/**
 * CIoU of box 1 and box 2 in tf ops (differentiable; alpha is computed without gradient).
 * Each box is given as four same-shape column tensors; the result has that shape.
 */
export function bboxCiou(box1: BoxColumns, box2: BoxColumns): tf.Tensor {
  return tf.tidy(() => {
    const [ax1, ay1, ax2, ay2] = box1;
    const [bx1, by1, bx2, by2] = box2;
    const w1 = tf.sub(ax2, ax1);
    const h1 = tf.add(tf.sub(ay2, ay1), EPS);
    const w2 = tf.sub(bx2, bx1);
    const h2 = tf.add(tf.sub(by2, by1), EPS);
    const iw = tf.maximum(tf.sub(tf.minimum(ax2, bx2), tf.maximum(ax1, bx1)), 0);
    const ih = tf.maximum(tf.sub(tf.minimum(ay2, by2), tf.maximum(ay1, by1)), 0);
    const inter = tf.mul(iw, ih);
    const union = tf.add(tf.sub(tf.add(tf.mul(w1, h1), tf.mul(w2, h2)), inter), EPS);
    const iou = tf.div(inter, union);
    const cw = tf.sub(tf.maximum(ax2, bx2), tf.minimum(ax1, bx1));
    const ch = tf.sub(tf.maximum(ay2, by2), tf.minimum(ay1, by1));
    const c2 = tf.add(tf.add(tf.square(cw), tf.square(ch)), EPS);
    const dx = tf.sub(tf.sub(tf.add(bx1, bx2), ax1), ax2);
    const dy = tf.sub(tf.sub(tf.add(by1, by2), ay1), ay2);
    const rho2 = tf.div(tf.add(tf.square(dx), tf.square(dy)), 4);
    const v = tf.mul(FOUR_OVER_PI2, tf.square(tf.sub(tf.atan(tf.div(w2, h2)), tf.atan(tf.div(w1, h1)))));
    // alpha = v / (v - iou + (1 + eps)), without gradient (torch.no_grad in the reference).
    const alpha = ciouAlphaNoGrad(v, iou);
    return tf.sub(iou, tf.add(tf.div(rho2, c2), tf.mul(v, alpha)));
  });
}
